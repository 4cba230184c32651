"""Findings: what the policy found, with a stable code, a severity, a fix and a location."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, Literal, Optional, get_args

from supervisor.compose.model import Location

__all__ = [
    "Rule",
    "RULES",
    "rule",
    "Finding",
    "Severity",
    "SEVERITIES",
    "COMPOSE_ERROR",
    "INVALID_EXTENSION",
    "UNREADABLE_SOURCE",
    "UNSUPPRESSIBLE",
    "input_finding",
    "exit_code",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

#: The findings that stand for unusable input, not for a decision about the project.
COMPOSE_ERROR: Final = "SV000"
INVALID_EXTENSION: Final = "SV010"
UNREADABLE_SOURCE: Final = "SV013"
#: The codes an ``x-supervisor`` ``ignore`` entry cannot silence: the only place that says so.
UNSUPPRESSIBLE: Final = frozenset({COMPOSE_ERROR, INVALID_EXTENSION, UNREADABLE_SOURCE})


@dataclasses.dataclass(frozen=True)
class Rule:
    """A finding code and what it is about (also the SARIF rule metadata).

    Each rule lives in a module of :mod:`supervisor.policy.rules` with its check; the registry
    there lists them in order.
    """

    code: str
    name: str
    severity: Severity  # the default severity
    summary: str
    help: str
    exit_code: int = 1  # the exit code an unsuppressed error finding of this rule gives

    @property
    def suppressible(self) -> bool:
        """Whether an x-supervisor ignore entry may silence it (see :data:`UNSUPPRESSIBLE`)."""
        return self.code not in UNSUPPRESSIBLE


def _registry() -> dict[str, Rule]:
    from supervisor.policy.rules import registry

    return registry()


if TYPE_CHECKING:  # at run time RULES comes from the module __getattr__ below
    RULES: dict[str, Rule]


def __getattr__(name: str) -> Any:
    # RULES is read from the rule modules on first use (they import the engine, which imports this module)
    if name == "RULES":
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rule(code_or_name: str) -> Optional[Rule]:
    """The rule for a code (``SV001``) or a name (``cursor-collision``)."""
    rules = _registry()
    found = rules.get(code_or_name.upper())
    if found is not None:
        return found
    return next((r for r in rules.values() if r.name == code_or_name.lower()), None)


@dataclasses.dataclass
class Finding:
    """One finding. ``location`` points at the deciding value; ``related`` at the others involved."""

    code: str
    severity: Severity
    message: str
    location: Optional[Location] = None
    related: list[tuple[Location, str]] = dataclasses.field(default_factory=list)
    services: list[str] = dataclasses.field(default_factory=list)
    suppressed: Optional[str] = None  # the reason, when an x-supervisor ignore entry applies

    @property
    def name(self) -> str:
        found = _registry().get(self.code)
        return found.name if found is not None else "policy"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "location": self.location.to_json() if self.location else None,
            "related": [{**loc.to_json(), "message": msg} for loc, msg in self.related],
            "services": list(self.services),
            "suppressed": self.suppressed is not None,
            "suppression_reason": self.suppressed,
        }


def input_finding(exc: BaseException, code: Optional[str] = None) -> Finding:
    """The error finding of unusable input: a compose error (:data:`COMPOSE_ERROR`), or a policy error
    under its own code (``exc.code``: :data:`INVALID_EXTENSION`, :data:`UNREADABLE_SOURCE`)."""
    location: Optional[Location] = getattr(exc, "location", None)
    message = getattr(exc, "message", None) or str(exc)
    return Finding(code or str(getattr(exc, "code", COMPOSE_ERROR)), "error", message, location)


def exit_code(findings: list[Finding], *, strict: bool = False) -> int:
    """0 clean, 1 when an unsuppressed error (or warning with ``strict``) remains, 2 for unusable input."""
    active = [f for f in findings if f.suppressed is None]
    rules = _registry()
    if any(rules[f.code].exit_code == 2 for f in active if f.code in rules):
        return 2
    if any(f.severity == "error" for f in active):
        return 1
    if strict and any(f.severity == "warning" for f in active):
        return 1
    return 0
