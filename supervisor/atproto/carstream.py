"""A push parser of CAR v1 streams: feed the bytes as they arrive, take complete blocks out.

The framing (header length, section lengths, CIDs) is read by the same functions as the
whole-file reader in :mod:`supervisor.atproto.car`; this module only keeps the unread tail of
the stream between calls. Every block is checked against its CID as it arrives: CIDv1 with the
dag-cbor or raw codec and a sha2-256 digest, anything else refused. Memory is bounded by the
largest section allowed (``max_block_bytes``) plus the chunk being fed.
"""

from __future__ import annotations

import hashlib
from typing import cast

from supervisor.atproto.car import MAX_HEADER, decode_header, header_bounds, section_at
from supervisor.atproto.cid import CID, DAG_CBOR, RAW, SHA2_256, link_problem
from supervisor.atproto.errors import CarError

__all__ = ["CarReader", "DEFAULT_MAX_BLOCK_BYTES"]

DEFAULT_MAX_BLOCK_BYTES = 2 * 1024 * 1024  #: largest section accepted by default (atproto caps records near 1 MB)

_new_cid = bytes.__new__
_sha256 = hashlib.sha256


class CarReader:
    """Push parser of a CARv1 stream: feed bytes as they arrive, take complete blocks out.

    ``feed`` returns the ``(cid, block)`` sections completed by the bytes given, in stream order,
    each block verified against its CID; a malformed stream raises :class:`CarError` naming the
    byte offset in the stream. ``close`` says whether the stream ended cleanly.
    """

    def __init__(self, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> None:
        if max_block_bytes < 37:
            raise ValueError(f"max_block_bytes must be at least 37, not {max_block_bytes}")
        self.max_block_bytes = max_block_bytes
        self._buffer = bytearray()
        self._base = 0  # stream offset of self._buffer[0]
        self._need = 1  # bytes the buffer must hold before parsing is worth trying again
        self._roots: list[CID] | None = None
        self._closed = False
        self.block_count = 0

    @property
    def roots(self) -> list[CID]:
        """The header's roots; :class:`CarError` before the header has been read."""
        if self._roots is None:
            raise CarError("the CAR header has not been read yet", self._base)
        return list(self._roots)

    @property
    def header_read(self) -> bool:
        """Whether the header has been read (``roots`` is then available)."""
        return self._roots is not None

    @property
    def offset(self) -> int:
        """Bytes of the stream fed so far."""
        return self._base + len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[CID, bytes]]:
        """Add the next bytes of the stream; return the sections they complete."""
        if self._closed:
            raise CarError("data fed to a closed CAR reader", self.offset)
        buffer = self._buffer
        buffer += data
        if len(buffer) < self._need:
            return []
        pos = 0
        if self._roots is None:
            bounds = header_bounds(cast(bytes, buffer), 0)  # the parsers only index and slice
            if bounds is None:
                self._need = _header_need(buffer)
                return []
            start, stop = bounds
            self._roots = decode_header(bytes(buffer[start:stop]), self._base + start)
            pos = stop
        out: list[tuple[CID, bytes]] = []
        end = len(buffer)
        limit = self.max_block_bytes
        need = 1
        while pos < end:
            try:
                found = section_at(cast(bytes, buffer), pos, limit)
            except CarError as exc:
                raise CarError(exc.reason, self._base + (exc.offset or 0)) from None
            if found is None:
                need = _section_need(buffer, pos) - pos
                break
            body, cid_end, stop = found
            cid = _new_cid(CID, buffer[body:cid_end])
            block = bytes(buffer[cid_end:stop])
            _verify(cid, block, self._base + pos)
            out.append((cid, block))
            pos = stop
        if pos:
            del buffer[:pos]
            self._base += pos
        self._need = need
        self.block_count += len(out)
        return out

    def close(self) -> None:
        """End of the stream: :class:`CarError` if it ended inside the header or a section."""
        self._closed = True
        if self._roots is None:
            if not self._buffer and not self._base:
                raise CarError("the CAR stream is empty (no header)", 0)
            raise CarError("the CAR stream ended inside its header", self.offset)
        if self._buffer:
            raise CarError(
                f"the CAR stream ended inside a section ({len(self._buffer)} bytes of it received)", self._base
            )


def _verify(cid: CID, block: bytes, offset: int) -> None:
    if cid[0] == 1 and cid[2] == SHA2_256 and cid[3] == 32 and len(cid) == 36 and cid[1] in (DAG_CBOR, RAW):
        if _sha256(block).digest() != cid[4:]:
            raise CarError(f"block does not match its CID {cid}", offset)
        return
    problem = link_problem(cid)
    if problem:
        raise CarError(f"section CID {cid}: {problem}", offset)
    if not cid.verify(block):
        raise CarError(f"block does not match its CID {cid}", offset)


def _header_need(buffer: bytearray) -> int:
    if buffer and buffer[0] < 0x80:
        return 1 + buffer[0]
    if len(buffer) >= 2 and buffer[0] >= 0x80 and buffer[1] < 0x80:
        return 2 + min(((buffer[0] & 0x7F) | (buffer[1] << 7)), MAX_HEADER)
    return len(buffer) + 1


def _section_need(buffer: bytearray, pos: int) -> int:
    """How long the buffer must be before the section at ``pos`` can be complete."""
    tail = len(buffer) - pos
    if tail >= 1 and buffer[pos] < 0x80:
        return pos + 1 + buffer[pos]
    if tail >= 2 and buffer[pos + 1] < 0x80:
        return pos + 2 + ((buffer[pos] & 0x7F) | (buffer[pos + 1] << 7))
    if tail >= 3 and buffer[pos + 1] >= 0x80 and buffer[pos + 2] < 0x80:
        return pos + 3 + ((buffer[pos] & 0x7F) | ((buffer[pos + 1] & 0x7F) << 7) | (buffer[pos + 2] << 14))
    return len(buffer) + 1
