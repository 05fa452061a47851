"""Who may publish: bearer tokens for producers, HMAC signatures with a timestamp for webhooks.

The API calls `Tokens.check` on ``/events`` and ``/telemetry`` and `verify_signature` on the
webhooks, before anything is parsed. Every comparison is constant-time; every failure is an
`AuthError` (HTTP 401) saying what was wrong, never which secret was close.

Signature schemes (both HMAC-SHA256 over ``"<timestamp>.<raw body>"``, hex digests):

- ``pos``: ``X-Acme-Timestamp: <unix seconds>`` and ``X-Acme-Signature: v1=<hex>``;
- ``payments`` (Stripe-style): ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

from pydantic import SecretStr

Scheme = Literal["pos", "payments"]
POS_TIMESTAMP: Final = "x-acme-timestamp"
POS_SIGNATURE: Final = "x-acme-signature"
PAYMENTS_SIGNATURE: Final = "stripe-signature"
UNIX_SECONDS: Final = re.compile(r"[0-9]{1,12}")
HEX_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")


class AuthError(Exception):
    """The request is not authenticated (HTTP 401); ``field`` names the header at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Tokens:
    """The accepted bearer tokens, kept as SHA-256 digests."""

    def __init__(self, tokens: Iterable[SecretStr]) -> None:
        self._digests = [_digest(t.get_secret_value()) for t in tokens]

    def check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("send 'Authorization: Bearer <token>'", field="authorization")
        presented = _digest(token.strip())
        matched = False
        for digest in self._digests:  # no early exit: time does not depend on which matched
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            raise AuthError("the bearer token is not valid", field="authorization")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` (senders and tests use it too)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    scheme: Scheme,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[SecretStr],
    now: float,
    tolerance: int,
) -> int:
    """Raise `AuthError` unless a ``v1`` signature matches a secret within the tolerance;
    return the signed timestamp. Anything malformed (a signature that is not 64 hex digits,
    characters outside ASCII) is a failed check like a wrong one, never an error."""
    field = POS_SIGNATURE if scheme == "pos" else PAYMENTS_SIGNATURE
    timestamp, signatures = _parts(scheme, headers)
    if abs(now - timestamp) > tolerance:
        raise AuthError(
            f"signed timestamp {timestamp} is more than {tolerance} s from now",
            field=POS_TIMESTAMP if scheme == "pos" else field,
        )
    candidates = [s.lower().encode() for s in signatures if HEX_SHA256.fullmatch(s)]
    if not candidates:
        raise AuthError("a v1 signature is 64 hexadecimal digits", field=field)
    expected = [sign(s.get_secret_value(), timestamp, body).encode() for s in secrets]
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise AuthError("no signature matches the body", field=field)
    return timestamp


def _parts(scheme: Scheme, headers: Mapping[str, str]) -> tuple[int, list[str]]:
    if scheme == "pos":
        raw_time = headers.get(POS_TIMESTAMP)
        pairs = _pairs(headers.get(POS_SIGNATURE), field=POS_SIGNATURE)
        where = POS_TIMESTAMP
    else:
        pairs = _pairs(headers.get(PAYMENTS_SIGNATURE), field=PAYMENTS_SIGNATURE)
        raw_time = next((v for k, v in pairs if k == "t"), None)
        where = PAYMENTS_SIGNATURE
    if raw_time is None or not UNIX_SECONDS.fullmatch(raw_time.strip()):  # ASCII digits only
        raise AuthError("a signed unix timestamp (seconds) is required", field=where)
    signatures = [v for k, v in pairs if k == "v1"]
    if not signatures:
        raise AuthError("a 'v1=<hex>' signature is required", field=where)
    return int(raw_time.strip()), signatures


def _pairs(header: str | None, *, field: str) -> list[tuple[str, str]]:
    if not header:
        raise AuthError(f"the {field} header is required", field=field)
    pairs = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()
