"""CAR v1 archives: a varint-prefixed DAG-CBOR header ``{version: 1, roots: [...]}`` and then
varint-length-prefixed sections, each a binary CID followed by the block bytes.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from supervisor.atproto import dagcbor
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import CarError, DecodeError
from supervisor.atproto.varint import MAX_VARINT_BYTES, decode_varint, encode_varint

__all__ = [
    "read_car",
    "iter_car",
    "write_car",
    "read_header",
    "header_bounds",
    "decode_header",
    "section_at",
    "index_car",
    "find_blocks",
    "MAX_HEADER",
    "MAX_BLOCK",
]

MAX_HEADER = 64 * 1024  #: largest CAR header we accept, in bytes
MAX_BLOCK = 8 * 1024 * 1024  #: largest section we accept, in bytes


# The canonical header of a CAR with one CIDv1/sha2-256 root, as every repository slice and
# export has: {"roots": [tag42(0x00 + 36-byte CID)], "version": 1}, 58 bytes after its length.
_ONE_ROOT_PREFIX = b"\x3a\xa2eroots\x81\xd8\x2aX\x25\x00"
_ONE_ROOT_SUFFIX = b"gversion\x01"


def header_bounds(data: bytes | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """``(start, end)`` of the CAR header's DAG-CBOR at ``pos``, or None when more bytes are needed.

    Shared by the whole-file reader and the push parser (:mod:`supervisor.atproto.carstream`).
    """
    varint = _varint_at(data, pos, "CAR header length")
    if varint is None:
        return None
    size, start = varint
    if size == 0:
        raise CarError("CAR header is empty", pos)
    if size > MAX_HEADER:
        raise CarError(f"CAR header of {size} bytes exceeds {MAX_HEADER}", pos)
    if start + size > len(data):
        return None
    return start, start + size


def decode_header(raw: bytes, offset: int = 0) -> list[CID]:
    """The roots of a CAR header, given its DAG-CBOR bytes (which start at ``offset`` in the file)."""
    try:
        header = dagcbor.decode(raw)
    except DecodeError as exc:
        raise CarError(f"CAR header: {exc.reason}", offset + (exc.offset or 0)) from None
    if type(header) is not dict:
        raise CarError("CAR header is not a map", offset)
    if header.get("version") != 1 or type(header.get("version")) is not int:
        raise CarError(f"unsupported CAR version {header.get('version')!r} (expected 1)", offset)
    roots = header.get("roots")
    if type(roots) is not list or not all(type(root) is CID for root in roots):
        raise CarError("CAR header 'roots' must be a list of CID links", offset)
    return roots


def read_header(data: bytes) -> tuple[list[CID], int]:
    """Parse the CAR header; return the roots and the offset of the first section."""
    if (
        data[:14] == _ONE_ROOT_PREFIX
        and data[50:59] == _ONE_ROOT_SUFFIX
        and data[14] == 1
        and data[15] < 0x80
        and data[16] == 0x12
        and data[17] == 32
    ):
        return [_new_cid(CID, data[14:50])], 59
    if not data:
        raise CarError("CAR header length: truncated varint", 0)
    bounds = header_bounds(data, 0)
    if bounds is None:
        raise CarError("truncated CAR header", 0)
    start, stop = bounds
    return decode_header(data[start:stop], start), stop


_new_cid = bytes.__new__


def _varint_at(data: bytes | memoryview, pos: int, what: str) -> tuple[int, int] | None:
    """The varint at ``pos`` and the offset after it; None when ``data`` ends inside it."""
    end = len(data)
    if pos >= end:
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    stop = min(end, pos + MAX_VARINT_BYTES)
    for index in range(pos + 1, stop):
        if data[index] < 0x80:
            break
    else:
        if stop - pos < MAX_VARINT_BYTES:
            return None
    try:
        return decode_varint(data, pos)
    except DecodeError as exc:
        raise CarError(f"{what}: {exc.reason}", pos) from None


def section_at(data: bytes | memoryview, pos: int, max_block: int = MAX_BLOCK) -> tuple[int, int, int] | None:
    """The section at ``pos``: ``(cid_start, cid_end, end)`` (its block is ``data[cid_end:end]``),
    or None when ``data`` ends inside it. Malformed lengths and CIDs raise :class:`CarError`.

    Shared by the whole-file reader and the push parser (:mod:`supervisor.atproto.carstream`).
    """
    first = data[pos] if pos < len(data) else 0x80
    if first < 0x80:
        size = first
        body = pos + 1
    else:
        varint = _varint_at(data, pos, "CAR section length")
        if varint is None:
            return None
        size, body = varint
    if size > max_block:
        raise CarError(f"CAR section of {size} bytes exceeds {max_block}", pos)
    stop = body + size
    if stop > len(data):
        return None
    # Fast path for the usual CIDv1 / one-byte codec / sha2-256 prefix.
    if size >= 36 and data[body] == 1 and data[body + 1] < 0x80 and data[body + 2] == 0x12 and data[body + 3] == 32:
        return body, body + 36, stop
    try:
        _cid, cid_end = CID.read(data, body)
    except DecodeError as exc:
        raise CarError(f"CAR section CID: {exc.reason}", body) from None
    if cid_end > stop:
        raise CarError("CAR section shorter than its CID", pos)
    return body, cid_end, stop


def _sections(data: bytes, pos: int) -> Iterator[tuple[bytes, int, int, int]]:
    """Yield ``(cid_bytes, block_start, block_end, section_start)`` for each section."""
    end = len(data)
    while pos < end:
        # Fast path: a one- or two-byte length and the usual 36-byte CIDv1 sha2-256 prefix; anything
        # else (longer lengths, other CIDs, damage) goes through section_at.
        size = data[pos]
        if size < 0x80:
            body = pos + 1
        elif pos + 1 < end and 0 < data[pos + 1] < 0x80:
            size = (size & 0x7F) | (data[pos + 1] << 7)
            body = pos + 2
        else:
            body = end
        stop = body + size
        if (
            stop <= end
            and size >= 36
            and data[body] == 1
            and data[body + 1] < 0x80
            and data[body + 2] == 0x12
            and data[body + 3] == 32
        ):
            yield data[body : body + 36], body + 36, stop, pos
            pos = stop
            continue
        found = section_at(data, pos)
        if found is None:
            raise CarError("truncated CAR section", pos)
        body, cid_end, stop = found
        yield data[body:cid_end], cid_end, stop, pos
        pos = stop


def iter_car(data: bytes) -> Iterator[tuple[CID, bytes]]:
    """Yield every ``(cid, block)`` section of a CAR file in file order."""
    data = bytes(data)
    _roots, pos = read_header(data)
    for cid_bytes, start, stop, _section in _sections(data, pos):
        yield CID.from_bytes(cid_bytes), data[start:stop]


def read_car(data: bytes, *, verify: bool = False) -> tuple[list[CID], dict[CID, bytes]]:
    """Read a whole CAR file: its roots and a mapping of CID to block bytes.

    With ``verify``, every block must hash to its CID. Duplicate blocks are tolerated.
    """
    data = bytes(data)
    roots, pos = read_header(data)
    blocks: dict[CID, bytes] = {}
    for cid_bytes, start, stop, section in _sections(data, pos):
        cid = CID.from_bytes(cid_bytes)
        block = data[start:stop]
        if verify and not cid.verify(block):
            raise CarError(f"block does not match its CID {cid}", section)
        blocks[cid] = block
    return roots, blocks


def index_car(data: bytes) -> tuple[list[CID], dict[bytes, tuple[int, int]]]:
    """Roots and a map of binary CID to ``(start, end)`` of its block, without copying blocks.

    This is the cheap path for frames: only the blocks a consumer asks for get sliced and
    decoded. Keys are plain bytes; a :class:`CID` looks them up directly (it is bytes).
    """
    roots, pos = read_header(data)
    index: dict[bytes, tuple[int, int]] = {}
    end = len(data)
    while pos < end:
        size = data[pos]
        # Fast path: a one- or two-byte length and the usual 36-byte CIDv1 sha2-256 prefix.
        if size < 0x80:
            body = pos + 1
        elif pos + 1 < end and data[pos + 1] < 0x80 and data[pos + 1]:
            size = (size & 0x7F) | (data[pos + 1] << 7)
            body = pos + 2
        else:
            break  # longer lengths: let the general parser below handle the rest
        stop = body + size
        if (
            stop > end
            or size < 36
            or data[body] != 1
            or data[body + 1] >= 0x80
            or data[body + 2] != 0x12
            or data[body + 3] != 32
        ):
            break
        index[data[body : body + 36]] = (body + 36, stop)
        pos = stop
    if pos < end:
        for cid_bytes, start, stop, _section in _sections(data, pos):
            index[cid_bytes] = (start, stop)
    return roots, index


def find_blocks(data: bytes, wanted: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
    """``(start, end)`` of the blocks whose binary CIDs are in ``wanted``; absent ones are left out.

    Walks the section headers only as far as needed and allocates nothing per section, which
    is what a firehose consumer wants: one or two records out of a handful of blocks.
    """
    _roots, pos = read_header(data)
    found: dict[bytes, tuple[int, int]] = {}
    remaining = len(wanted)
    end = len(data)
    startswith = data.startswith
    while pos < end and remaining:
        size = data[pos]
        if size < 0x80:
            body = pos + 1
        elif pos + 1 < end and data[pos + 1] < 0x80 and data[pos + 1]:
            size = (size & 0x7F) | (data[pos + 1] << 7)
            body = pos + 2
        else:
            break
        stop = body + size
        if (
            stop > end
            or size < 36
            or data[body] != 1
            or data[body + 1] >= 0x80
            or data[body + 2] != 0x12
            or data[body + 3] != 32
        ):
            break
        for cid in wanted:
            if startswith(cid, body) and cid not in found:
                found[cid] = (body + 36, stop)
                remaining -= 1
        pos = stop
    if pos < end and remaining:
        for cid_bytes, start, stop, _section in _sections(data, pos):
            if cid_bytes in wanted and cid_bytes not in found:
                found[cid_bytes] = (start, stop)
    return found


def write_car(roots: list[CID], blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    """Serialise a CAR v1 file with the given roots and blocks (in the given order)."""
    header = dagcbor.encode({"version": 1, "roots": list(roots)})
    parts = [encode_varint(len(header)), header]
    for cid, block in blocks:
        raw = bytes(cid)
        parts.append(encode_varint(len(raw) + len(block)))
        parts.append(raw)
        parts.append(block)
    return b"".join(parts)
