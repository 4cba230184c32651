"""Helpers the rules share: how a process group's values and writers are described and located (pure)."""

from __future__ import annotations

from typing import Iterator, Optional

from supervisor.compose.model import Location
from supervisor.policy.engine import Evaluation, ServiceDecision, Unit, Writer, service_location
from supervisor.policy.profiles import Profile
from supervisor.policy.provenance import describe_value, show_location, value_location
from supervisor.secrets import mask_value

__all__ = [
    "profiled_services",
    "started_units",
    "describe_unit_value",
    "unit_value_location",
    "where",
    "enabling",
    "writer_title",
    "fixes",
    "deciding_variable",
    "variables_that_matter",
]


def profiled_services(evaluation: Evaluation) -> Iterator[tuple[ServiceDecision, Profile]]:
    """Each service that matched an implementation profile, with that profile (in the project's order)."""
    for decision in evaluation.services.values():
        if decision.profile is not None:
            yield decision, decision.profile


def started_units(decision: ServiceDecision) -> Iterator[Unit]:
    """The service's process groups whose program starts (no start failure)."""
    return (unit for unit in decision.units if unit.started)


def describe_unit_value(evaluation: Evaluation, unit: Unit, variable: str) -> str:
    """``BACKFILL_DAYS=7 from shell via ${BACKFILL_DAYS:-0} at docker-compose.yml:12:9`` for one process group."""
    record = evaluation.project.services[unit.service].environment.get(variable)
    value = unit.env.get(variable)
    return describe_value(
        variable,
        record,
        evaluation.root,
        value=value,
        synthetic=unit.synthetic.get(variable, ""),
        shown=mask_value(variable, value) if value is not None else None,
    )


def unit_value_location(evaluation: Evaluation, service: str, variable: str) -> Optional[Location]:
    record = evaluation.project.services[service].environment.get(variable)
    return value_location(record) or service_location(evaluation.project, service)


def where(evaluation: Evaluation, service: str, variable: str) -> str:
    record = evaluation.project.services[service].environment.get(variable)
    loc = value_location(record)
    return f" ({show_location(loc, evaluation.root)})" if loc else ""


def enabling(evaluation: Evaluation, writer: Writer) -> str:
    """The values that turned a writer on, each with where it came from."""
    reads: list[str] = []
    source = "always"
    for step in writer.unit.trace:
        if step.name == writer.spec.enabled:
            reads, source = step.reads, step.source
    return "; ".join(describe_unit_value(evaluation, writer.unit, v) for v in reads) or source


def writer_title(writer: Writer, evaluation: Optional[Evaluation] = None) -> str:
    """``app instances 1..31 x31 (docker-entrypoint.sh:31: -i 32) [TypeScript backfill]``."""
    many = f" x{writer.count}" if writer.count > 1 else ""
    parts = [writer.unit.title]
    if writer.unit.replicas > 1:
        parts.append(f"({writer.unit.replicas} replicas)")
    origin = ""
    if evaluation is not None and writer.unit.label.startswith("instances"):
        launch = evaluation.services[writer.service].launch
        if launch.instances_origin:
            origin = f" ({launch.instances_origin})"
    return f"{' '.join(parts)}{many}{origin} [{writer.spec.title}]"


def fixes(evaluation: Evaluation, writers: list[Writer]) -> list[str]:
    """What to change so that these writers no longer share a row, from the profiles and process managers."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for writer in writers:
        decision = evaluation.services[writer.service]
        manager = decision.launch.manager or (
            evaluation.managers.get("pm2") if decision.pm2 and decision.pm2.used else None
        )
        if manager is not None and writer.unit.instances > 1:
            for per_instance in manager.per_instance:
                # a value from the environment that replaces the manager's makes every instance alike
                if per_instance.environment_overrides and per_instance.name not in writer.unit.synthetic:
                    out.append(
                        f"remove {per_instance.name} from {writer.service}'s environment"
                        f"{where(evaluation, writer.service, per_instance.name)} so {manager.name.upper()} numbers its instances"
                    )
        key = (writer.service, writer.spec.role)
        if key in seen:
            continue
        seen.add(key)
        for variable, value in writer.spec.disable:
            out.append(f"set {variable}={value} on {writer.service}{where(evaluation, writer.service, variable)}")
        if writer.spec.rename:
            out.append(
                f"set {writer.spec.rename} to another name on {writer.service} "
                f"(for example {writer.cursor}_{writer.service.replace('-', '_')})"
            )
        if writer.unit.replicas > 1:
            out.append(f"run one replica of {writer.service}")
    return list(dict.fromkeys(out))


def deciding_variable(writer: Writer) -> str:
    """The variable to point at for a writer: the first one it read that the service declares."""
    record_names = writer.unit.env
    for step in writer.unit.trace:
        if step.name == writer.spec.enabled:
            declared = [v for v in step.reads if v not in writer.unit.synthetic and record_names.get(v) is not None]
            for preferred in writer.spec.disable:
                if preferred[0] in declared:
                    return preferred[0]
            if declared:
                return declared[-1]
    return writer.spec.disable[0][0] if writer.spec.disable else ""


def _can_fail(expr: object) -> bool:
    if isinstance(expr, dict):
        return any(k in expr for k in ("python_int", "require", "check")) or any(_can_fail(v) for v in expr.values())
    if isinstance(expr, list):
        return any(_can_fail(v) for v in expr)
    return False


def variables_that_matter(decision: ServiceDecision) -> list[str]:
    """The variables that can change what a service writes or whether it starts, per its profile (and variant).

    Those read by a writer's switch or cursor name (unless the variant fixes the switch to a
    constant), by a value whose parse can stop the program, and the profile's misleading ones.
    """
    profile = decision.profile
    if profile is None:
        return []
    exprs = {name: expr for name, _, expr in profile.values}
    wanted = {name for name, expr in exprs.items() if _can_fail(expr)}
    for spec in profile.writers:
        if not isinstance(exprs.get(spec.enabled), bool):
            wanted.add(spec.enabled)
            if spec.cursor:
                wanted.add(spec.cursor)
    names: list[str] = []
    for unit in decision.units:
        for step in unit.trace:
            if step.name in wanted:
                names.extend(step.reads)
    names.extend(m.variable for m in profile.misleading)
    names.extend(w.rename for w in profile.writers if w.rename)
    return list(dict.fromkeys(names))
