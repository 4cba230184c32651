"""One exception hierarchy for :mod:`supervisor.devrelay`.

Catch :class:`DevRelayError` for any failure of the relay, or a subclass to be more specific.
"""

from __future__ import annotations

from supervisor.errors import SupervisorError

__all__ = ["DevRelayError", "ConfigError", "CaptureFileError", "XrpcError"]


class DevRelayError(SupervisorError):
    """Base class of every error raised by the development relay."""


class ConfigError(DevRelayError, ValueError):
    """An unusable relay or network setting (a negative count, an unknown option value...)."""


class CaptureFileError(DevRelayError):
    """A capture file that cannot be served; the message names the file and the frame."""


class XrpcError(DevRelayError):
    """An XRPC request error: HTTP ``status``, error ``name`` and a human ``message``."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The standard XRPC error body."""
        return {"error": self.name, "message": self.message}
