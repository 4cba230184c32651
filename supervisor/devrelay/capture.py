"""Capture files as relay input and output.

A capture is a sequence of ``[u32 little-endian length][frame bytes]`` records
(:mod:`supervisor.atproto.capture_io`). Loading keeps each frame's original bytes for
serving and decodes it with :func:`supervisor.atproto.frames.decode_frame` to learn its
``seq`` and ``time`` (for the cursor rules) and its operations and records (for the state).
"""

from __future__ import annotations

import os
from typing import IO, Iterable, Iterator, Optional

from supervisor.atproto import capture_io, frames
from supervisor.atproto.errors import AtprotoError
from supervisor.devrelay.errors import CaptureFileError
from supervisor.devrelay.events import ACCOUNT, COMMIT, IDENTITY, Event, parse_time

__all__ = ["load_capture", "event_from_frame", "write_capture", "iter_frames"]


_SEQUENCED = (frames.Commit, frames.Identity, frames.Account, frames.Sync)  # the frames with a ``seq``


def event_from_frame(frame: bytes) -> Optional[Event]:
    """The sequenced event in ``frame``, or ``None`` for frames without one (info, errors).

    Raises :class:`~supervisor.atproto.errors.FrameError` when the frame is malformed.
    """
    decoded = frames.decode_frame(frame, records=True)
    seq = getattr(decoded, "seq", None)
    if not isinstance(seq, int) or not isinstance(decoded, _SEQUENCED):
        return None
    try:
        time_us = parse_time(decoded.time)
    except (ValueError, TypeError):
        time_us = 0
    data = bytes(frame)
    if isinstance(decoded, frames.Commit):
        ops = tuple((op.action, op.path, op.cid, op.record) for op in decoded.ops)
        return Event(COMMIT, seq, time_us, decoded.did, rev=decoded.rev, since=decoded.since, ops=ops, frame=data)
    if isinstance(decoded, frames.Identity):
        return Event(IDENTITY, seq, time_us, decoded.did, handle=decoded.handle, frame=data)
    if isinstance(decoded, frames.Account):
        return Event(ACCOUNT, seq, time_us, decoded.did, active=decoded.active, status=decoded.status, frame=data)
    # Other sequenced kinds (#sync) are served as they are and change no records.
    return Event(decoded.type.lstrip("#"), seq, time_us, decoded.did, frame=data)


def load_capture(path: str | os.PathLike[str]) -> list[Event]:
    """Every sequenced event of the capture file at ``path``, in file order.

    Raises :class:`CaptureFileError` naming the file, the frame number and its byte offset
    for an unreadable file, a malformed frame, or sequence numbers that do not increase.
    """
    events: list[Event] = []
    last_seq = 0
    last_time = 0
    number = 0
    try:
        with open(path, "rb") as fileobj:
            for number, (offset, frame) in enumerate(capture_io.iter_capture(fileobj), start=1):
                try:
                    event = event_from_frame(frame)
                except AtprotoError as exc:
                    raise CaptureFileError(f"{path}: frame {number} (byte {offset}): {exc}") from exc
                if event is None:
                    continue
                if event.seq <= last_seq:
                    raise CaptureFileError(
                        f"{path}: frame {number} (byte {offset}): seq {event.seq} does not increase (after {last_seq})"
                    )
                if event.time_us == 0:
                    event.time_us = last_time  # an unreadable time never moves the window
                last_seq, last_time = event.seq, event.time_us
                events.append(event)
    except OSError as exc:
        raise CaptureFileError(f"{path}: {exc.strerror or exc}") from exc
    except AtprotoError as exc:  # from iter_capture: a truncated record
        raise CaptureFileError(f"{path}: after frame {number}: {exc}") from exc
    return events


def write_capture(fileobj: IO[bytes], events: Iterable[Event]) -> int:
    """Write the frames of ``events`` to ``fileobj``; returns how many were written."""
    count = 0
    for event in events:
        capture_io.write_capture_frame(fileobj, event.encoded())
        count += 1
    return count


def iter_frames(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The raw frames of a capture file, in order."""
    with open(path, "rb") as fileobj:
        for _offset, frame in capture_io.iter_capture(fileobj):
            yield frame
