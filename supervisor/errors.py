"""The tool's exception hierarchy: catch :class:`SupervisorError` for every error it raises on purpose.

::

    SupervisorError
    ├── LocatedError            an error about a place in the user's files: "file:line:col: message"
    │   ├── ComposeError        unusable compose input (TemplateError, DotenvError)      exit 2
    │   ├── PolicyError         unusable policy input (ProfileError, ExtensionError)     exit 2
    │   └── RuntimeFailure      launching or inspecting a project failed (exit_code)     exit 1 or 2
    ├── AtprotoError            wire formats: DecodeError, CarError, VerificationError, ...
    ├── WorkerError             the worker: ConfigError, StoreError, RelayError
    └── DevRelayError           the development relay: ConfigError, CaptureFileError, XrpcError

Each package re-exports its branch (``supervisor.compose.model.ComposeError`` is
``supervisor.errors.ComposeError``), so a caller may catch at any level from either place.
:class:`Location` is here because every located error carries one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

__all__ = ["Location", "SupervisorError", "LocatedError", "ComposeError", "PolicyError", "RuntimeFailure"]


@dataclasses.dataclass(frozen=True)
class Location:
    """A place in a file: 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column}


class SupervisorError(Exception):
    """Base of every error the tool raises on purpose (anything else is a bug)."""


class LocatedError(SupervisorError):
    """An error about a place in the user's files: ``str()`` gives ``file:line:column: message``."""

    def __init__(self, message: str, location: Optional[Location] = None):
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is not None:
            return f"{self.location}: {self.message}"
        return self.message


class ComposeError(LocatedError):
    """Unusable compose input: the message names the place and what is wrong (exit code 2)."""


class PolicyError(LocatedError):
    """Unusable policy input (exit code 2); the message says what is wrong and where."""

    code = "SV010"  # the finding ``validate`` reports it as (supervisor.policy.findings.INVALID_EXTENSION)


class RuntimeFailure(LocatedError):
    """Launching or inspecting the project failed; ``exit_code`` is the contract."""

    exit_code = 1
