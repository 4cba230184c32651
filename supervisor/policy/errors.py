"""The policy layer's exceptions: one hierarchy users can catch at any level."""

from __future__ import annotations

from supervisor.errors import PolicyError
from supervisor.policy.findings import UNREADABLE_SOURCE

__all__ = ["PolicyError", "ProfileError", "ExtensionError", "SourceError"]


class ProfileError(PolicyError):
    """An implementation profile that does not match ``schemas/profile.schema.json``."""


class ExtensionError(PolicyError):
    """A malformed ``x-supervisor`` block in a compose file."""


class SourceError(PolicyError):
    """A file of a build context that is refused: not a regular file, or too large."""

    code = UNREADABLE_SOURCE
