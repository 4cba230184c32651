"""The outcome of a verification: valid, or failed with a stable reason code.

Checks that a consumer runs on every event (signatures, MST proofs, revision order) return a
:class:`Verdict` instead of raising, so a caller can count failures by ``reason`` without a
``try`` around each step. The raising form of each check raises a
:class:`~supervisor.atproto.errors.VerificationError` carrying the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisor.atproto.errors import VerificationError

__all__ = ["Verdict", "VALID", "failed", "from_error"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``reason`` is None when valid; otherwise a short code such as ``signature_high_s``."""

    reason: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.reason is None

    def __bool__(self) -> bool:
        return self.reason is None

    def raise_for_failure(self, error: type[VerificationError] = VerificationError) -> None:
        """Raise ``error(reason, detail)`` when the check failed."""
        if self.reason is not None:
            raise error(self.reason, self.detail)


VALID = Verdict()  #: the verdict of a passed check


def failed(reason: str, detail: str = "") -> Verdict:
    """A failed verdict."""
    return Verdict(reason, detail)


def from_error(exc: VerificationError) -> Verdict:
    """The verdict that a raised verification error stands for."""
    return Verdict(exc.reason, exc.message)
