"""Why a service ends up with a value: every layer Docker Compose considered, then the decision."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

from supervisor.compose.model import EnvValue, Location
from supervisor.policy.engine import Evaluation
from supervisor.policy.errors import PolicyError
from supervisor.policy.provenance import describe_origin, describe_value, relative_location
from supervisor.secrets import mask_text, mask_value, redact, secret_values

__all__ = ["Layer", "Explanation", "explain"]


@dataclasses.dataclass
class Layer:
    """One place a value could come from, lowest precedence first."""

    kind: str  # dotenv | shell | env_file | environment | template-default | pm2
    location: Optional[Location]
    value: Optional[str]
    raw: Optional[str]
    status: str  # winner | overridden | used by the template | not used | ...

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "location": self.location.to_json() if self.location else None,
            "value": self.value,
            "raw": self.raw,
            "status": self.status,
        }


@dataclasses.dataclass
class Explanation:
    """The answer of ``supervisor explain SERVICE VARIABLE``."""

    service: str
    variable: str
    layers: list[Layer]
    winner: str
    overrode: list[str]
    implementation: Optional[str]
    detected_by: str
    decisions: list[dict[str, Any]]
    findings: list[str]
    chain: list[dict[str, str]] = dataclasses.field(default_factory=list)
    program: Optional[str] = None
    process_count: int = 1
    process_count_origin: str = ""
    variant: Optional[str] = None
    variant_title: str = ""
    variant_chosen_by: str = ""
    markers: list[str] = dataclasses.field(default_factory=list)
    not_started: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "chain": self.chain,
            "process_count": self.process_count,
            "process_count_origin": self.process_count_origin,
            "variant": self.variant,
            "variant_title": self.variant_title,
            "variant_chosen_by": self.variant_chosen_by,
            "markers": self.markers,
            "not_started": self.not_started,
            "service": self.service,
            "variable": self.variable,
            "layers": [layer.to_json() for layer in self.layers],
            "winner": self.winner,
            "overrode": self.overrode,
            "implementation": self.implementation,
            "detected_by": self.detected_by,
            "decisions": self.decisions,
            "findings": self.findings,
        }


def _rel(loc: Optional[Location], root: Optional[str]) -> Optional[Location]:
    return relative_location(loc, root) if loc is not None else None


def _record_layer(record: EnvValue, status: str, root: Optional[str], name: str) -> Layer:
    return Layer(
        record.origin.kind,
        _rel(record.origin.location, root),
        mask_value(name, record.value),
        mask_text(record.raw) if record.raw is not None else None,
        status,
    )


def explain(
    evaluation: Evaluation,
    service: str,
    variable: str = "BACKFILL_DAYS",
    *,
    dotenv: Sequence[tuple[str, Location]] = (),
) -> Explanation:
    """Explain ``variable`` in ``service``; ``dotenv`` lists the ``.env`` entries of that name (read by the caller)."""
    project = evaluation.project
    if service not in project.services:
        raise PolicyError(f"no service {service!r}; services: {', '.join(project.services) or '(none)'}")
    root = evaluation.root
    record = project.services[service].environment.get(variable)
    layers: list[Layer] = []
    project_value = project.environment.get(variable)
    used_by_template = record is not None and (
        any(s.variable == variable and not s.used_default for s in record.substitutions)
        or (record.origin.kind in ("shell", "dotenv") and record.name == variable)
    )
    for value, loc in dotenv:
        shell_wins = project_value is not None and project_value[1].kind == "shell"
        status = (
            "overridden by the shell"
            if shell_wins
            else (
                "used through the compose file"
                if used_by_template
                else "project environment; not passed to the container"
            )
        )
        layers.append(Layer("dotenv", _rel(loc, root), mask_value(variable, value), None, status))
    if project_value is not None and project_value[1].kind == "shell":
        layers.append(
            Layer(
                "shell",
                None,
                mask_value(variable, project_value[0]),
                None,
                "used through the compose file"
                if used_by_template
                else "project environment; not passed to the container",
            )
        )
    overrode: list[str] = []
    if record is not None:
        for earlier in record.overridden:
            layers.append(_record_layer(earlier, "overridden", root, variable))
            overrode.append(describe_value(variable, earlier, root, shown=mask_value(variable, earlier.value)))
        layers.append(_record_layer(record, "winner", root, variable))
        for sub in record.substitutions:
            if sub.used_default:
                layers.append(
                    Layer(
                        "template-default",
                        _rel(record.origin.location, root),
                        mask_value(variable, record.value),
                        record.raw,
                        f"{sub.variable} is {'unset' if sub.value is None else 'set'}: the template's default/alternative applies",
                    )
                )
            elif sub.variable != variable:
                layers.append(
                    Layer(
                        sub.origin.kind,
                        _rel(sub.origin.location, root),
                        mask_value(sub.variable, sub.value),
                        None,
                        f"{sub.variable} from {describe_origin(sub.origin, root)} fills {record.raw}",
                    )
                )
        winner = describe_value(variable, record, root, shown=mask_value(variable, record.value))
    else:
        winner = f"{variable} is not in {service}'s environment: the program's default applies"
    decision = evaluation.services[service]
    decisions: list[dict[str, Any]] = []
    for unit in decision.units:
        synthetic = unit.synthetic.get(variable)
        decisions.append(
            {
                "group": unit.label or "container",
                "replicas": unit.replicas,
                "instances": unit.instances,
                "value": mask_value(variable, unit.env.get(variable)),
                "value_note": synthetic or "",
                "trace": [step.render() for step in unit.trace],
                "failures": [str(f) for f in unit.failures],
                "writers": [
                    {"role": role, "enabled": on, "cursor": unit.cursors.get(role)} for role, on in unit.enabled.items()
                ],
            }
        )
    findings = [
        f"{f.code} {f.severity}: {f.message}" + (f" [suppressed: {f.suppressed}]" if f.suppressed else "")
        for f in evaluation.findings
        if service in f.services
    ]
    secrets = secret_values(project)
    layers = [dataclasses.replace(layer, value=redact(layer.value, secrets)) for layer in layers]
    from supervisor.policy.audit import program_text

    choice = decision.variant
    count = sum(u.count for u in decision.units) if decision.units else decision.launch.instances
    origin = decision.launch.instances_origin if decision.launch.manager is not None else ""
    explanation = Explanation(
        service,
        variable,
        layers,
        redact(winner, secrets),
        redact(overrode, secrets),
        decision.profile.name if decision.profile else None,
        decision.detection.clue + (" (a guess)" if decision.detection.guessed else ""),
        redact(decisions, secrets),
        redact(findings, secrets),
        chain=redact([s.to_json() for s in decision.launch.steps], secrets),
        program=program_text(decision),
        process_count=count,
        process_count_origin=origin,
        variant=choice.variant.name if choice.variant else None,
        variant_title=choice.variant.title if choice.variant else "",
        variant_chosen_by=choice.how,
        markers=[r.render() for r in choice.markers] + list(choice.missing),
        not_started=decision.not_started,
    )
    # every field: the program's arguments, a variant or a marker can repeat a secret too
    return dataclasses.replace(
        explanation,
        **{field.name: redact(getattr(explanation, field.name), secrets) for field in dataclasses.fields(explanation)},
    )
