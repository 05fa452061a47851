"""Client-side encryption of stored objects: AES-256-GCM with keys from files, rotatable.

A key file (a Secret mounted by the operator) holds 32 raw bytes or their base64; its *key id*
is the first 16 hex digits of the key's sha256. Each object is written as ``b"TENC2" +
len(key id) (1 byte) + key id + nonce(12) + ciphertext+tag`` under the current key, with the
object's key as associated data, so an object copied under another key fails to decrypt. A
`Cipher` holds the current key and a keyring of earlier ones: an object names the key it needs,
so after a rotation old backups stay readable while new ones use the new key. Objects of the
first format (``b"TENC1" + nonce + ...``, no key id) are tried with every key. Called by
`tidal_data.store`; the manifest records the writing key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tidal_data.errors import CorruptSegment, InvalidArgument

MAGIC_V1: Final = b"TENC1"
MAGIC: Final = b"TENC2"
NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32
KEY_ID_HEX: Final = 16


def key_id(key: bytes) -> str:
    """The id a key is known by in objects and manifests (no secret: a hash prefix)."""
    return hashlib.sha256(key).hexdigest()[:KEY_ID_HEX]


def load_key(path: Path) -> bytes:
    """The 32-byte key in ``path`` (raw, or base64 text)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the encryption key {path}: {exc}") from exc
    if len(raw) == KEY_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error:
        decoded = b""
    if len(decoded) != KEY_BYTES:
        raise InvalidArgument(f"{path}: the key must be 32 bytes or their base64")
    return decoded


class Cipher:
    """AES-256-GCM bound to object keys: writes with ``key``, reads with it or ``previous``."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        for candidate in (key, *previous):
            if len(candidate) != KEY_BYTES:
                raise InvalidArgument("an AES-256-GCM key is 32 bytes")
        self.key_id = key_id(key)
        self._aead = AESGCM(key)
        self._ring = {key_id(k): AESGCM(k) for k in (*previous, key)}

    def seal(self, data: bytes, *, object_key: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        ident = self.key_id.encode("ascii")
        sealed = self._aead.encrypt(nonce, data, object_key.encode("utf-8"))
        return MAGIC + bytes([len(ident)]) + ident + nonce + sealed

    def open(self, data: bytes, *, object_key: str) -> bytes:
        if data.startswith(MAGIC_V1):
            return self._open_any(data[len(MAGIC_V1) :], object_key)
        if not data.startswith(MAGIC):
            raise CorruptSegment(f"{object_key}: not encrypted by tidal")
        size = data[len(MAGIC)] if len(data) > len(MAGIC) else 0
        start = len(MAGIC) + 1
        ident = data[start : start + size].decode("ascii", "replace")
        aead = self._ring.get(ident)
        if aead is None:
            raise CorruptSegment(
                f"{object_key}: encrypted with key {ident}, which is not in the keyring "
                f"(have {', '.join(sorted(self._ring))})"
            )
        return self._open(aead, data[start + size :], object_key)

    def _open_any(self, body: bytes, object_key: str) -> bytes:
        for aead in self._ring.values():
            try:
                return self._open(aead, body, object_key)
            except CorruptSegment:
                continue
        raise CorruptSegment(f"{object_key}: decryption failed (wrong key?)")

    @staticmethod
    def _open(aead: AESGCM, body: bytes, object_key: str) -> bytes:
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, object_key.encode("utf-8"))
        except InvalidTag as exc:
            raise CorruptSegment(f"{object_key}: decryption failed (wrong key?)") from exc
