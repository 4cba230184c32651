"""One exception hierarchy for everything in :mod:`supervisor.atproto`.

Catch :class:`AtprotoError` to handle any failure of this package, or a subclass to be
more specific. Malformed input always raises :class:`DecodeError` (or a subclass), whose
message names what was wrong and at which byte offset.
"""

from __future__ import annotations

__all__ = [
    "AtprotoError",
    "DecodeError",
    "EncodeError",
    "CarError",
    "MSTError",
    "MissingBlockError",
    "FrameError",
    "CaptureError",
]


class AtprotoError(Exception):
    """Base class of every error raised by this package."""


class DecodeError(AtprotoError, ValueError):
    """Malformed input: the message says what and, where known, at which byte offset."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        self.reason = message
        if offset is not None:
            message = f"{message} (at byte {offset})"
        super().__init__(message)


class EncodeError(AtprotoError, ValueError):
    """A value that the atproto data model cannot represent (a float, a non-string key...)."""


class CarError(DecodeError):
    """A malformed CAR file."""


class MSTError(DecodeError):
    """A malformed Merkle Search Tree (bad node, bad key order, wrong key depth...)."""


class MissingBlockError(MSTError):
    """A block that a structure links to is not present."""


class FrameError(DecodeError):
    """A malformed event-stream frame (header or body)."""


class CaptureError(DecodeError):
    """A capture file that cannot be read further (truncated, or an impossible length)."""
