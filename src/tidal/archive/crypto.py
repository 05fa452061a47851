"""Client-side encryption of stored objects: AES-256-GCM with a key from a file.

The key file (a Secret mounted by the operator) holds 32 raw bytes or their base64. Each object
is ``b"TENC1" + nonce(12) + ciphertext+tag`` with the object's key as associated data, so an
object copied under another key fails to decrypt. Called by `tidal.archive.store`.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tidal.archive.errors import CorruptSegment, InvalidArgument

MAGIC: Final = b"TENC1"
NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32


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
    """AES-256-GCM bound to object keys."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidArgument("an AES-256-GCM key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, data: bytes, *, object_key: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, object_key.encode("utf-8"))

    def open(self, data: bytes, *, object_key: str) -> bytes:
        if not data.startswith(MAGIC):
            raise CorruptSegment(f"{object_key}: not encrypted by tidal")
        nonce = data[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        body = data[len(MAGIC) + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, object_key.encode("utf-8"))
        except InvalidTag as exc:
            raise CorruptSegment(f"{object_key}: decryption failed (wrong key?)") from exc
