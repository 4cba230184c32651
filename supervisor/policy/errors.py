"""The policy layer's exceptions: one hierarchy users can catch at any level."""

from __future__ import annotations

from supervisor.compose.model import LocatedError

__all__ = ["PolicyError", "ProfileError", "ExtensionError", "SourceError"]


class PolicyError(LocatedError):
    """Unusable policy input (exit code 2); the message says what is wrong and where."""

    code = "SV010"  # the finding ``validate`` reports it as


class ProfileError(PolicyError):
    """An implementation profile that does not match ``schemas/profile.schema.json``."""


class ExtensionError(PolicyError):
    """A malformed ``x-supervisor`` block in a compose file."""


class SourceError(PolicyError):
    """A file of a build context that is refused: not a regular file, or too large."""

    code = "SV013"
