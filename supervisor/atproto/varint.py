"""Unsigned LEB128 varints as used by multiformats (CIDs, multihashes, CAR sections)."""

from __future__ import annotations

from supervisor.atproto.errors import DecodeError

__all__ = ["encode_varint", "decode_varint", "MAX_VARINT_BYTES"]

# multiformats caps varints at 9 bytes (63 bits of payload).
MAX_VARINT_BYTES = 9


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as a minimal unsigned varint."""
    if value < 0 or value >= 1 << 63:
        raise ValueError(f"varint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Read a minimal unsigned varint at ``offset``; return ``(value, offset_after)``."""
    end = len(data)
    if offset >= end:
        raise DecodeError("truncated varint", offset)
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    value = 0
    shift = 0
    pos = offset
    while True:
        if pos >= end:
            raise DecodeError("truncated varint", offset)
        if pos - offset >= MAX_VARINT_BYTES:
            raise DecodeError("varint longer than 9 bytes", offset)
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            if byte == 0 and pos - offset > 1:
                raise DecodeError("non-minimal varint", offset)
            return value, pos
        shift += 7
