"""The segment format: archived Kafka records, framed, then compressed (zstd, gzip or none).

A segment holds consecutive records of one topic partition (a dead-letter segment: of one
partition, one time slice and one event type). Layout, all integers big-endian::

    b"TSEG1\n"  then per record:
    offset:i64 timestamp_ms:i64 key_len:i32 value_len:i32 header_count:u16
    key value (a length of -1 is None) then per header: name_len:u16 name value_len:i32 value

and the whole is compressed. Pure; the archiver encodes, restore and the DLQ commands decode.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Literal, NamedTuple

import zstandard

from tidal_data.errors import CorruptSegment

Compression = Literal["zstd", "gzip", "none"]
COMPRESSIONS: Final[tuple[Compression, ...]] = ("zstd", "gzip", "none")
EXTENSIONS: Final[dict[Compression, str]] = {"zstd": ".zst", "gzip": ".gz", "none": ""}
MAGIC: Final = b"TSEG1\n"
_RECORD: Final = struct.Struct(">qqiiH")
_NAME: Final = struct.Struct(">H")
_VALUE: Final = struct.Struct(">i")
ZSTD_LEVEL: Final = 3


class Record(NamedTuple):
    """One archived Kafka record (aiokafka's ``ConsumerRecord`` has the same attributes)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def encode(records: Iterable[Any]) -> bytes:
    """Frame ``records`` (uncompressed); anything with `Record`'s attributes will do."""
    out = bytearray(MAGIC)
    pack, pack_value = _RECORD.pack, _VALUE.pack
    names: dict[str, bytes] = {}  # header name -> its length and bytes, built once
    for r in records:
        key, value, headers = r.key, r.value, r.headers
        out += pack(
            r.offset,
            r.timestamp,
            -1 if key is None else len(key),
            -1 if value is None else len(value),
            len(headers),
        )
        if key:
            out += key
        if value:
            out += value
        for name, data in headers:
            prefix = names.get(name)
            if prefix is None:
                raw = name.encode("utf-8")
                prefix = names[name] = _NAME.pack(len(raw)) + raw
            out += prefix
            out += pack_value(len(data))
            out += data
    return bytes(out)


def decode(data: bytes) -> Iterator[Record]:
    """The records of an uncompressed segment, in order."""
    if not data.startswith(MAGIC):
        raise CorruptSegment("not a tidal segment (bad magic)")
    pos, size = len(MAGIC), len(data)
    unpack, unpack_name, unpack_value = _RECORD.unpack_from, _NAME.unpack_from, _VALUE.unpack_from
    fixed, name_size, value_size = _RECORD.size, _NAME.size, _VALUE.size
    names: dict[bytes, str] = {}
    try:
        while pos < size:
            offset, timestamp, key_len, value_len, count = unpack(data, pos)
            pos += fixed
            key = None if key_len < 0 else data[pos : pos + key_len]
            pos += max(key_len, 0)
            value = None if value_len < 0 else data[pos : pos + value_len]
            pos += max(value_len, 0)
            headers = []
            for _ in range(count):
                (name_len,) = unpack_name(data, pos)
                pos += name_size
                raw_name = data[pos : pos + name_len]
                pos += name_len
                (data_len,) = unpack_value(data, pos)
                pos += value_size
                name = names.get(raw_name)
                if name is None:
                    name = names[raw_name] = raw_name.decode("utf-8")
                headers.append((name, data[pos : pos + data_len]))
                pos += data_len
            if pos > size:
                raise CorruptSegment("segment ends inside a record")
            yield Record(offset, timestamp, key, value, tuple(headers))
    except (struct.error, UnicodeDecodeError) as exc:
        raise CorruptSegment(f"segment truncated or damaged: {exc}") from exc


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    return data


def decompress(data: bytes, compression: Compression) -> bytes:
    try:
        if compression == "zstd":
            return zstandard.ZstdDecompressor().decompress(data)
        if compression == "gzip":
            return gzip.decompress(data)
    except (zstandard.ZstdError, OSError, EOFError) as exc:
        raise CorruptSegment(f"cannot decompress ({compression}): {exc}") from exc
    return data


def pack(records: Sequence[Record], compression: Compression) -> bytes:
    """Records -> the bytes of a segment object (before any client-side encryption)."""
    return compress(encode(records), compression)


def unpack(data: bytes, compression: Compression) -> list[Record]:
    return list(decode(decompress(data, compression)))
