"""Secrets kept out of what tidal prints: `redact_url` for URLs that may carry credentials.

Settings hold secrets as ``SecretStr``; a URL given on the command line or read from the
environment (``--redis-url``, ``K_SINK``) may still carry a password (``redis://user:pw@host``,
``?password=``). The CLI's banners and errors, and the HTTP sink's errors (which the gateway
passes on to clients), print URLs through `redact_url`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK: Final = "***"
SECRET_PARAMETERS: Final = frozenset({"password", "pass", "pwd", "secret", "token", "key"})


def redact_url(url: str) -> str:
    """``url`` with its password and any secret query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return MASK  # not a URL we can take apart: show none of it
    netloc = parts.netloc
    if has_password:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username or ''}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if k.lower() in SECRET_PARAMETERS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrub(text: str, url: str) -> str:
    """``text`` (an error message that may quote ``url`` in any form) without ``url``'s
    password and secret query values."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password or ""]
    except ValueError:
        return text.replace(url, MASK)
    secrets += [v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_PARAMETERS]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
