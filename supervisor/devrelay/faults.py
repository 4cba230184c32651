"""Fault injection: what a connection does after its n-th event.

Counts are per connection and count sequenced events only (not info, error or malformed
frames), so a consumer that reconnects with its cursor keeps making progress.
"""

from __future__ import annotations

import dataclasses

from supervisor.atproto import dagcbor, frames
from supervisor.devrelay.errors import ConfigError

__all__ = ["Faults", "FaultActions", "malformed_frame", "MALFORMED_KINDS"]

#: The malformed frames sent in turn: each is rejected by a conforming frame decoder.
MALFORMED_KINDS = ("truncated-body", "header-only", "trailing-bytes")


@dataclasses.dataclass(frozen=True)
class FaultActions:
    """What to do after one event: send a malformed frame, stall, then maybe drop."""

    malformed: bool = False
    stall_seconds: float = 0.0
    drop: bool = False

    def __bool__(self) -> bool:
        return self.malformed or self.stall_seconds > 0 or self.drop


@dataclasses.dataclass(frozen=True)
class Faults:
    """Fault settings; 0 disables each kind."""

    drop_every: int = 0
    stall_every: int = 0
    stall_seconds: float = 0.0
    malformed_every: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for negative settings."""
        for name in ("drop_every", "stall_every", "malformed_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} cannot be negative")
        if not 0 <= self.stall_seconds < float("inf"):
            raise ConfigError(f"stall-seconds must be a finite number of seconds, not {self.stall_seconds}")
        if self.stall_every and not self.stall_seconds:
            raise ConfigError("stall-every needs a positive stall-seconds")

    @property
    def enabled(self) -> bool:
        """Whether any fault is configured."""
        return bool(self.drop_every or self.stall_every or self.malformed_every)

    def after(self, sent: int) -> FaultActions:
        """The faults due after a connection has sent its ``sent``-th event (1-based)."""
        return FaultActions(
            malformed=bool(self.malformed_every) and sent % self.malformed_every == 0,
            stall_seconds=self.stall_seconds if self.stall_every and sent % self.stall_every == 0 else 0.0,
            drop=bool(self.drop_every) and sent % self.drop_every == 0,
        )


def malformed_frame(number: int) -> bytes:
    """The ``number``-th malformed frame (0-based), cycling through :data:`MALFORMED_KINDS`."""
    kind = MALFORMED_KINDS[number % len(MALFORMED_KINDS)]
    header = dagcbor.encode({"op": 1, "t": "#commit"})
    if kind == "truncated-body":
        # A map announcing eleven entries, then nothing: the body ends mid-value.
        return header + b"\xab\x63seq"
    if kind == "header-only":
        return header
    return frames.encode_info("Malformed", "this frame has trailing bytes") + b"\x00"
