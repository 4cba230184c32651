"""The policy layer's exceptions: one hierarchy users can catch at any level."""

from __future__ import annotations

from supervisor.errors import PolicyError

__all__ = ["PolicyError", "ProfileError", "ExtensionError"]


class ProfileError(PolicyError):
    """An implementation profile that does not match ``schemas/profile.schema.json``."""


class ExtensionError(PolicyError):
    """A malformed ``x-supervisor`` block in a compose file."""
