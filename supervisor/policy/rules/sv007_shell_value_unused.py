"""SV007 shell-value-unused: a variable from the shell or .env that a program reads reaches no service."""

from __future__ import annotations

from supervisor.compose.model import EnvValue
from supervisor.policy.engine import Evaluation, ServiceDecision
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.provenance import describe_value, show_location, value_location
from supervisor.policy.rules.common import variables_that_matter
from supervisor.secrets import mask_value

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV007",
    "shell-value-unused",
    "info",
    "A variable set in the shell or .env reaches no service.",
    "Compose passes the shell to a container only through ${VAR} in a compose file or a bare `- VAR` entry; a literal value in the compose file wins.",
)


def _passes_through(record: EnvValue, variable: str) -> bool:
    if any(s.variable == variable for s in record.substitutions):
        return True
    return record.name == variable and record.origin.kind in ("shell", "dotenv")


def check(evaluation: Evaluation) -> list[Finding]:
    project = evaluation.project
    readers: dict[str, list[ServiceDecision]] = {}
    for decision in evaluation.services.values():
        if decision.profile is not None:
            for variable in variables_that_matter(decision):
                readers.setdefault(variable, []).append(decision)
    findings = []
    for variable, decisions in readers.items():
        entry = project.environment.get(variable)
        if entry is None:
            continue
        value, origin = entry
        if origin.kind not in ("shell", "dotenv"):
            continue
        if any(_passes_through(r, variable) for s in project.services.values() for r in s.environment.values()):
            continue
        declared = [d.service.environment[variable].value for d in decisions if variable in d.service.environment]
        if declared and all(v == value for v in declared):
            continue  # the containers get the same value anyway
        shown = mask_value(variable, value)
        source = "the shell" if origin.kind == "shell" else show_location(origin.location, evaluation.root) or ".env"
        fates = []
        related = []
        for decision in decisions:
            record = decision.service.environment.get(variable)
            if record is None:
                fates.append(f"{decision.name} has no {variable} entry (its default applies)")
            else:
                fates.append(
                    f"{decision.name} uses {describe_value(variable, record, evaluation.root, shown=mask_value(variable, record.value))}"
                )
                loc = value_location(record)
                if loc is not None:
                    related.append((loc, f"{decision.name} sets {variable} here"))
        message = (
            f"{variable}={shown} from {source} reaches no service: "
            + "; ".join(fates)
            + f". Values written in a compose file beat the shell; to pass it, write {variable}=${{{variable}:-0}}"
            f" or a bare `- {variable}` entry"
        )
        location = origin.location if origin.kind == "dotenv" else (related[0][0] if related else None)
        findings.append(
            Finding(
                "SV007",
                "info",
                message,
                location,
                related[1:] if location is not None and origin.kind != "dotenv" else related,
                sorted({d.name for d in decisions}),
            )
        )
    return findings
