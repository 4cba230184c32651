"""The policy layer's exceptions: one hierarchy users can catch at any level."""

from __future__ import annotations

from typing import Optional

from supervisor.compose.model import Location

__all__ = ["PolicyError", "ProfileError", "ExtensionError"]


class PolicyError(Exception):
    """Unusable policy input (exit code 2); the message says what is wrong and where."""

    def __init__(self, message: str, location: Optional[Location] = None):
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is not None:
            return f"{self.location}: {self.message}"
        return self.message


class ProfileError(PolicyError):
    """An implementation profile that does not match ``schemas/profile.schema.json``."""


class ExtensionError(PolicyError):
    """A malformed ``x-supervisor`` block in a compose file."""
