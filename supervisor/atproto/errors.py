"""One exception hierarchy for everything in :mod:`supervisor.atproto`.

Catch :class:`AtprotoError` to handle any failure of this package, or a subclass to be
more specific. Malformed input always raises :class:`DecodeError` (or a subclass), whose
message names what was wrong and at which byte offset. Well-formed data that fails a
check (a signature, an MST proof, a revision chain) raises :class:`VerificationError`,
whose ``reason`` is a short stable code (``signature_high_s``, ``proof_prev_data``...).
"""

from __future__ import annotations

from supervisor.errors import SupervisorError

__all__ = [
    "AtprotoError",
    "DecodeError",
    "EncodeError",
    "CarError",
    "MSTError",
    "MissingBlockError",
    "FrameError",
    "CaptureError",
    "KeyFormatError",
    "DidDocumentError",
    "NoAtprotoKeyError",
    "NoPdsEndpointError",
    "VerificationError",
    "SignatureError",
    "ProofError",
    "IncompleteProofError",
    "ChainError",
]


class AtprotoError(SupervisorError):
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


class KeyFormatError(DecodeError):
    """A malformed public or private key (``did:key``, multibase, point encoding)."""


class DidDocumentError(DecodeError):
    """A DID document that lacks, or has a malformed, atproto key or PDS service."""


class NoAtprotoKeyError(DidDocumentError):
    """A DID document without an ``#atproto`` verification method."""


class NoPdsEndpointError(DidDocumentError):
    """A DID document without an ``#atproto_pds`` service endpoint."""


class VerificationError(AtprotoError):
    """Well-formed data that fails a check; ``reason`` is a short stable code for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class SignatureError(VerificationError):
    """A signature that is malformed, high-S, or does not verify under the key."""


class ProofError(VerificationError):
    """A commit whose operations and blocks do not prove the step from ``prevData`` to ``data``."""


class IncompleteProofError(ProofError):
    """A block needed to invert a commit's operations is not among its blocks."""


class ChainError(VerificationError):
    """A revision that does not follow the one held (stale, a gap in ``since``, in the future)."""
