"""Capture files: a sequence of ``[u32 little-endian length][frame bytes]`` records.

Frames are stored verbatim as received from the WebSocket, so a capture replays exactly.
"""

from __future__ import annotations

import struct
from typing import IO, Iterator

from supervisor.atproto.errors import CaptureError

__all__ = ["iter_capture", "iter_capture_frames", "write_capture_frame", "MAX_CAPTURE_FRAME"]

#: A length beyond this is treated as corruption rather than allocated.
MAX_CAPTURE_FRAME = 64 * 1024 * 1024
_LENGTH = struct.Struct("<I")


def iter_capture_frames(fileobj: IO[bytes]) -> Iterator[bytes]:
    """Yield just the frames of a capture, in order (see :func:`iter_capture`)."""
    for _offset, frame in iter_capture(fileobj):
        yield frame


def iter_capture(fileobj: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, frame)`` for each record; ``offset`` is where its length prefix starts.

    Raises :class:`CaptureError` on a truncated record or an impossible length.
    """
    offset = 0
    read = fileobj.read
    while True:
        prefix = read(4)
        if not prefix:
            return
        if len(prefix) < 4:
            raise CaptureError(f"truncated capture: {len(prefix)}-byte length prefix", offset)
        (length,) = _LENGTH.unpack(prefix)
        if length > MAX_CAPTURE_FRAME:
            raise CaptureError(f"capture record length {length} exceeds {MAX_CAPTURE_FRAME}", offset)
        frame = read(length)
        if len(frame) < length:
            raise CaptureError(f"truncated capture: frame of {length} bytes has only {len(frame)}", offset)
        yield offset, frame
        offset += 4 + length


def write_capture_frame(fileobj: IO[bytes], frame: bytes) -> None:
    """Append one frame to a capture."""
    if len(frame) > MAX_CAPTURE_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes exceeds {MAX_CAPTURE_FRAME}")
    # One write: a Ctrl-C between the prefix and the frame would leave a truncated record.
    fileobj.write(_LENGTH.pack(len(frame)) + frame)
