"""Content identifiers (CIDs): binary and multibase string forms, hashing and verification.

atproto uses CIDv1 with the ``dag-cbor`` (0x71) or ``raw`` (0x55) codec and a sha2-256
multihash, printed in multibase base32 lower case (``b...``). CIDv0 strings (``Qm...``,
base58btc, implicitly dag-pb + sha2-256) are accepted when parsing, for reading old data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Callable

from supervisor.atproto.errors import DecodeError
from supervisor.atproto.varint import decode_varint, encode_varint

__all__ = ["CID", "DAG_CBOR", "RAW", "DAG_PB", "SHA2_256", "link_problem"]

DAG_CBOR = 0x71
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
_B32_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")
# Longest digest we accept: generous for any hash function, and it bounds allocation.
_MAX_DIGEST = 128
_MAX_TEXT = 512


def _b32_decode(text: str) -> bytes:
    if not _B32_ALPHABET.issuperset(text):
        raise DecodeError("CID: invalid base32 character")
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"CID: invalid base32: {exc}") from None


def _b32_encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _b58_decode(text: str) -> bytes:
    num = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise DecodeError(f"CID: invalid base58 character {char!r}")
        num = num * 58 + digit
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def _b58_encode(data: bytes) -> str:
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


def link_problem(cid: "CID") -> str:
    """Why ``cid`` is not a CID the atproto data model allows in a link ("" when it is).

    Links are CIDv1 with the dag-cbor (records, tree nodes, commits) or raw (blobs) codec and a
    32-byte sha2-256 digest; CIDv0, other hashes and short digests are refused.
    """
    version, codec, hash_code, digest = cid._fields()
    if version != 1:
        return f"CIDv{version} is not allowed (links are CIDv1)"
    if hash_code != SHA2_256:
        return f"hash 0x{hash_code:x} is not allowed (links use sha2-256)"
    if len(digest) != 32:
        return f"a sha2-256 digest has 32 bytes, not {len(digest)}"
    if codec not in (DAG_CBOR, RAW):
        return f"codec 0x{codec:x} is not allowed (links are dag-cbor or raw)"
    return ""


class CID(bytes):
    """An immutable content identifier: its binary form, with multibase text and parsing.

    A ``CID`` is a :class:`bytes` subclass holding the binary CID, so it is hashable and
    ordered by its bytes at C speed (frames carry many of them). ``str(cid)`` is the
    multibase base32 form; ``bytes(cid)`` the plain binary form.
    """

    __slots__ = ()

    def __new__(cls, version: int, codec: int, digest: bytes, hash_code: int = SHA2_256) -> "CID":
        if version == 0:
            if codec != DAG_PB or hash_code != SHA2_256 or len(digest) != 32:
                raise DecodeError("CIDv0 must be dag-pb with a 32-byte sha2-256 digest")
            raw = bytes((SHA2_256, 32)) + bytes(digest)
        elif version == 1:
            raw = b"\x01" + encode_varint(codec) + encode_varint(hash_code) + encode_varint(len(digest)) + bytes(digest)
        else:
            raise DecodeError(f"unsupported CID version {version}")
        return bytes.__new__(cls, raw)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> "CID":
        """Parse a multibase base32 (``b...``) CIDv1 or a base58btc CIDv0 (``Qm...``) string."""
        if not isinstance(text, str):
            raise DecodeError(f"CID: expected a string, got {type(text).__name__}")
        if len(text) > _MAX_TEXT:
            raise DecodeError(f"CID: string longer than {_MAX_TEXT} characters")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(_b58_decode(text))
        if not text.startswith("b"):
            raise DecodeError(f"CID: unsupported multibase prefix {text[:1]!r} (expected 'b', base32)")
        cid = cls.from_bytes(_b32_decode(text[1:]))
        if cid.version != 1:
            raise DecodeError("CID: a multibase CID must be CIDv1")
        return cid

    @classmethod
    def from_bytes(cls, data: bytes) -> "CID":
        """Read a binary CID that occupies all of ``data``."""
        cid, end = cls.read(data, 0)
        if end != len(data):
            raise DecodeError(f"CID: {len(data) - end} trailing bytes", end)
        return cid

    @classmethod
    def read(cls, data: bytes | memoryview, offset: int = 0) -> tuple["CID", int]:
        """Read a binary CID that starts at ``offset``; return it and the offset after it."""
        end = len(data)
        # Fast path: CIDv1, one-byte codec, sha2-256 -- nearly every CID in atproto.
        if (
            offset + 36 <= end
            and data[offset] == 1
            and data[offset + 1] < 0x80
            and data[offset + 2] == SHA2_256
            and data[offset + 3] == 32
        ):
            return bytes.__new__(CID, data[offset : offset + 36]), offset + 36
        if offset + 2 <= end and data[offset] == SHA2_256 and data[offset + 1] == 32:
            if offset + 34 > end:
                raise DecodeError("CID: truncated CIDv0 digest", offset)
            return bytes.__new__(CID, data[offset : offset + 34]), offset + 34
        version, pos = decode_varint(data, offset)
        if version != 1:
            raise DecodeError(f"CID: unsupported version {version}", offset)
        _codec, pos = decode_varint(data, pos)
        _hash_code, pos = decode_varint(data, pos)
        size, pos = decode_varint(data, pos)
        if size > _MAX_DIGEST:
            raise DecodeError(f"CID: digest length {size} exceeds {_MAX_DIGEST}", offset)
        if pos + size > end:
            raise DecodeError("CID: truncated digest", offset)
        return bytes.__new__(CID, data[offset : pos + size]), pos + size

    @classmethod
    def for_block(cls, data: bytes, codec: int = DAG_CBOR) -> "CID":
        """The CIDv1 (sha2-256) of a block of bytes."""
        return bytes.__new__(CID, b"\x01" + encode_varint(codec) + b"\x12\x20" + hashlib.sha256(data).digest())

    # -- fields (decoded on demand: most CIDs are only hashed and compared) ------------

    def _fields(self) -> tuple[int, int, int, bytes]:
        raw = bytes(self)
        if raw[0] == SHA2_256 and len(raw) == 34:
            return 0, DAG_PB, SHA2_256, raw[2:]
        _version, pos = decode_varint(raw, 0)
        codec, pos = decode_varint(raw, pos)
        hash_code, pos = decode_varint(raw, pos)
        _size, pos = decode_varint(raw, pos)
        return 1, codec, hash_code, raw[pos:]

    @property
    def version(self) -> int:
        """0 or 1."""
        return self._fields()[0]

    @property
    def codec(self) -> int:
        """The multicodec of the linked data (0x71 dag-cbor, 0x55 raw, 0x70 dag-pb)."""
        return self._fields()[1]

    @property
    def hash_code(self) -> int:
        """The multihash function code (0x12 for sha2-256)."""
        return self._fields()[2]

    @property
    def digest(self) -> bytes:
        """The hash digest."""
        return self._fields()[3]

    # -- behaviour ----------------------------------------------------------------------

    def verify(self, data: bytes) -> bool:
        """Whether ``data`` hashes to this CID's digest (sha2-256 only; others are False)."""
        _version, _codec, hash_code, digest = self._fields()
        if hash_code != SHA2_256:
            return False
        return hashlib.sha256(data).digest() == digest

    def __bytes__(self) -> bytes:
        return bytes.__getitem__(self, slice(None))

    def __str__(self) -> str:
        raw = bytes(self)
        if raw[0] == SHA2_256 and len(raw) == 34:
            return _b58_encode(raw)
        return "b" + _b32_encode(raw)

    def __repr__(self) -> str:
        return f"CID({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple[Callable[[bytes], "CID"], tuple[bytes]]:
        return (CID.from_bytes, (bytes(self),))

    def __copy__(self) -> "CID":
        return self

    def __deepcopy__(self, memo: Any) -> "CID":
        return self
