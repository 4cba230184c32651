"""The rules: an :class:`~supervisor.policy.engine.Evaluation` in, findings out (pure)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from supervisor.compose.model import EnvValue, Location
from supervisor.policy.engine import Evaluation, ServiceDecision, Unit, Writer, key_location, service_location
from supervisor.policy.findings import Finding, rule
from supervisor.policy.provenance import describe_value, show_location, value_location
from supervisor.secrets import mask_value

__all__ = ["run_rules", "describe_unit_value", "unit_value_location"]


def describe_unit_value(evaluation: Evaluation, unit: Unit, variable: str) -> str:
    """``BACKFILL_DAYS=7 from shell via ${BACKFILL_DAYS:-0} at docker-compose.yml:12:9`` for one process group."""
    record = evaluation.project.services[unit.service].environment.get(variable)
    value = unit.env.get(variable)
    return describe_value(variable, record, evaluation.root, value=value,
                          synthetic=unit.synthetic.get(variable, ""),
                          shown=mask_value(variable, value) if value is not None else None)


def unit_value_location(evaluation: Evaluation, service: str, variable: str) -> Optional[Location]:
    record = evaluation.project.services[service].environment.get(variable)
    return value_location(record) or service_location(evaluation.project, service)


def _where(evaluation: Evaluation, service: str, variable: str) -> str:
    record = evaluation.project.services[service].environment.get(variable)
    loc = value_location(record)
    return f" ({show_location(loc, evaluation.root)})" if loc else ""


def _enabling(evaluation: Evaluation, writer: Writer) -> str:
    """The values that turned a writer on, each with where it came from."""
    reads: list[str] = []
    source = "always"
    for step in writer.unit.trace:
        if step.name == writer.spec.enabled:
            reads, source = step.reads, step.source
    return "; ".join(describe_unit_value(evaluation, writer.unit, v) for v in reads) or source


def _writer_title(writer: Writer) -> str:
    many = f" x{writer.count}" if writer.count > 1 else ""
    parts = [writer.unit.title]
    if writer.unit.replicas > 1:
        parts.append(f"({writer.unit.replicas} replicas)")
    return f"{' '.join(parts)}{many} [{writer.spec.title}]"


def _fixes(evaluation: Evaluation, writers: list[Writer]) -> list[str]:
    fixes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for writer in writers:
        decision = evaluation.services[writer.service]
        if decision.pm2 is not None and decision.pm2.used and writer.unit.instances > 1 \
                and "NODE_APP_INSTANCE" not in writer.unit.synthetic:
            fixes.append(f"remove NODE_APP_INSTANCE from {writer.service}'s environment"
                         f"{_where(evaluation, writer.service, 'NODE_APP_INSTANCE')} so PM2 numbers its instances")
        key = (writer.service, writer.spec.role)
        if key in seen:
            continue
        seen.add(key)
        for variable, value in writer.spec.disable:
            fixes.append(f"set {variable}={value} on {writer.service}{_where(evaluation, writer.service, variable)}")
        if writer.spec.rename:
            fixes.append(f"set {writer.spec.rename} to another name on {writer.service} "
                         f"(for example {writer.cursor}_{writer.service.replace('-', '_')})")
        if writer.unit.replicas > 1:
            fixes.append(f"run one replica of {writer.service}")
    return list(dict.fromkeys(fixes))


def _collisions(evaluation: Evaluation, covered: set[int]) -> list[Finding]:
    findings = []
    by_cursor: dict[str, list[Writer]] = {}
    for writer in evaluation.writers:
        by_cursor.setdefault(writer.cursor, []).append(writer)
    for cursor, writers in by_cursor.items():
        total = sum(w.count for w in writers)
        if total <= 1 or all(id(w) in covered for w in writers):
            continue
        parts = [f"{_writer_title(w)} with {_enabling(evaluation, w)}" for w in writers]
        fixes = _fixes(evaluation, writers)
        message = (f'{total} writers share the firehose_cursor row "{cursor}" and overwrite each other: '
                   + " | ".join(parts)
                   + (". Fix: " + "; or ".join(fixes) if fixes else "."))
        first = writers[0]
        location = unit_value_location(evaluation, first.service, _deciding_variable(first))
        related = [(loc, f"{_writer_title(w)} writes \"{cursor}\"") for w in writers[1:]
                   if (loc := unit_value_location(evaluation, w.service, _deciding_variable(w))) is not None]
        findings.append(Finding("SV001", "error", message, location, related,
                                sorted({w.service for w in writers})))
    return findings


def _deciding_variable(writer: Writer) -> str:
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


def _several_primaries(evaluation: Evaluation) -> tuple[list[Finding], set[int]]:
    findings: list[Finding] = []
    covered: set[int] = set()
    groups: dict[str, list[tuple[ServiceDecision, Unit]]] = {}
    for decision in evaluation.services.values():
        profile = decision.profile
        if profile is None or profile.unique_primary is None:
            continue
        for unit in decision.units:
            if unit.started and unit.count > 0 and unit.values.get(profile.primary) is True:
                groups.setdefault(profile.name, []).append((decision, unit))
    for name, members in groups.items():
        total = sum(u.count for _, u in members)
        if total <= 1:
            continue
        profile = members[0][0].profile
        assert profile is not None
        variable = profile.unique_primary or "WORKER_ID"
        backfilling = [w for w in evaluation.writers if w.spec.role == "backfill"
                       and any(w.unit is u for _, u in members)]
        who = " and ".join(
            f"{d.name} ({u.replicas} replicas, {describe_unit_value(evaluation, u, variable)})" if u.replicas > 1
            else f"{d.name} ({describe_unit_value(evaluation, u, variable)})" for d, u in members)
        fix = "; or ".join(
            [f"run one replica of {d.name}" for d, u in members if u.replicas > 1]
            + [f"give each worker its own {variable} (one service per worker: {variable}=0, 1, 2...)"])
        first = members[0][0].name
        location = (key_location(evaluation.project, "services", first, "deploy")
                    if members[0][1].replicas > 1 else None) or unit_value_location(evaluation, first, variable)
        services = sorted({d.name for d, _ in members})
        per_row: dict[str, int] = {}
        for w in backfilling:
            per_row[w.cursor] = per_row.get(w.cursor, 0) + w.count
        if sum(per_row.values()) > 1 and all(n == 1 for n in per_row.values()):
            # Each primary backfills on its own row: no cursor is overwritten, the work is done twice.
            quoted = ", ".join(f'"{c}"' for c in sorted(per_row))
            message = (f"{total} containers are the primary {profile.title}: {who}. Each runs its own backfill "
                       f"(firehose_cursor rows {quoted}), so no cursor is overwritten, but the history is "
                       f"replayed {len(per_row)} times. Fix: {fix}")
            findings.append(Finding("SV002", "warning", message, location, [], services))
        elif sum(per_row.values()) > 1:
            backfilling = [w for w in backfilling if per_row[w.cursor] > 1]
            quoted = ", ".join(f'"{c}"' for c in sorted({w.cursor for w in backfilling}))
            days = "; ".join(_enabling(evaluation, w) for w in backfilling[:1])
            message = (f"{total} containers are the primary {profile.title}: {who}. Each runs the backfill "
                       f"({days}) on the firehose_cursor row {quoted}, overwriting the others. Fix: {fix}; "
                       f"or set BACKFILL_DAYS=0{_where(evaluation, first, 'BACKFILL_DAYS')}")
            findings.append(Finding("SV002", "error", message, location, [], services))
            covered.update(id(w) for w in backfilling)
        else:
            message = (f"{total} containers are the primary {profile.title}: {who}. Their backfill is off now, "
                       f"but as soon as BACKFILL_DAYS is set they would all backfill on one cursor row. Fix: {fix}")
            findings.append(Finding("SV002", "warning", message, location, [], services))
    return findings, covered


def _start_failures(evaluation: Evaluation) -> list[Finding]:
    findings = []
    for decision in evaluation.services.values():
        profile = decision.profile
        if profile is None:
            continue
        seen: set[str] = set()
        for unit in decision.units:
            if unit.count == 0:
                continue
            for failure in unit.failures:
                if failure.variable in seen:
                    continue
                seen.add(failure.variable)
                effect = profile.start_failure.get(failure.kind) or (
                    "the program would crash at start" if failure.kind == "crash" else "the program refuses to start")
                shown = mask_value(failure.variable, failure.text) if failure.text is not None else None
                text = "unset" if shown is None else f'"{shown}"'
                record = decision.service.environment.get(failure.variable)
                came = ""
                if record is not None and record.substitutions:
                    came = f" [{describe_unit_value(evaluation, unit, failure.variable)}]"
                message = (f"{failure.variable} is {text} on {decision.name}: {effect} ({failure.reason})"
                           f"{'; ' + failure.advice if failure.advice else ''}{came}")
                findings.append(Finding("SV003", "error", message,
                                        unit_value_location(evaluation, decision.name, failure.variable),
                                        [], [decision.name]))
    return findings


def _misleading(evaluation: Evaluation) -> list[Finding]:
    from supervisor.policy.expressions import Context, evaluate

    findings = []
    for decision in evaluation.services.values():
        profile = decision.profile
        if profile is None:
            continue
        for spec in profile.misleading:
            for unit in decision.units:
                if not unit.started or not unit.enabled.get(spec.while_writer):
                    continue
                if not evaluate(spec.when, Context(unit.env, dict(unit.values))):
                    continue
                value = unit.env.get(spec.variable)
                message = spec.message.format(service=decision.name, variable=spec.variable, value=value)
                writer = next((w for w in evaluation.writers if w.unit is unit and w.spec.role == spec.while_writer), None)
                if writer is not None:
                    message += f" (the backfill runs: {_enabling(evaluation, writer)})"
                findings.append(Finding("SV004", "warning", message,
                                        unit_value_location(evaluation, decision.name, spec.variable),
                                        [], [decision.name]))
                break
    return findings


def _relay_window(evaluation: Evaluation) -> list[Finding]:
    findings = []
    window = evaluation.window_hours
    seen: set[str] = set()
    for writer in evaluation.writers:
        if writer.spec.role != "backfill" or writer.spec.source != "relay-replay" or writer.service in seen:
            continue
        profile = evaluation.services[writer.service].profile
        assert profile is not None
        days = writer.unit.values.get(profile.days_value)
        if not isinstance(days, int):
            continue
        shown = describe_unit_value(evaluation, writer.unit, profile.days_variable)
        hours = f"{window:g} hours"
        if days in profile.all_history:
            message = (f"{shown} asks {writer.service} for all history, but its {writer.spec.title} can only replay "
                       f"what the relay keeps ({hours}): it will cover the window only. Set BACKFILL_DAYS to at most "
                       f"{int(window // 24)} to say what you get, or import older history another way")
        elif days * 24 > window:
            message = (f"{shown} reaches {days * 24} hours back, but the relay replays only {hours}: "
                       f"{writer.service}'s {writer.spec.title} can only replay, so it will cover the last {hours}. "
                       f"Set BACKFILL_DAYS to at most {int(window // 24)}, or import older history another way")
        else:
            continue
        seen.add(writer.service)
        findings.append(Finding("SV005", "warning", message,
                                unit_value_location(evaluation, writer.service, profile.days_variable),
                                [], [writer.service]))
    return findings


def _unused_days(evaluation: Evaluation) -> list[Finding]:
    if any(w.spec.role == "backfill" for w in evaluation.writers):
        return []
    findings = []
    for decision in evaluation.services.values():
        profile = decision.profile
        if profile is None:
            continue
        record = decision.service.environment.get(profile.days_variable)
        if record is None or record.value is None:
            continue
        for unit in decision.units:
            if not unit.started:
                break
            days = unit.values.get(profile.days_value)
            if not isinstance(days, int) or days == 0:
                break
            primary = unit.values.get(profile.primary) is True
            backfill = profile.writer("backfill")
            if unit.count == 0:
                why = f"{decision.name} runs no container (replicas: 0)"
            elif not primary:
                why = (f"{unit.title} is not the primary worker ({profile.value_source(profile.primary)} is false: "
                       + "; ".join(describe_unit_value(evaluation, unit, v)
                                   for s in unit.trace if s.name == profile.primary for v in s.reads) + ")")
            else:
                source = profile.value_source(backfill.enabled) if backfill else "the backfill condition"
                why = f"{source} is false for {days}"
            message = (f"{describe_unit_value(evaluation, unit, profile.days_variable)} but no service will backfill: {why}")
            findings.append(Finding("SV006", "info", message, value_location(record) or decision.service.location,
                                    [], [decision.name]))
            break
    return findings


def _passes_through(record: EnvValue, variable: str) -> bool:
    if any(s.variable == variable for s in record.substitutions):
        return True
    return record.name == variable and record.origin.kind in ("shell", "dotenv")


def _shell_unused(evaluation: Evaluation) -> list[Finding]:
    project = evaluation.project
    readers: dict[str, list[ServiceDecision]] = {}
    for decision in evaluation.services.values():
        if decision.profile is not None:
            for variable in decision.profile.variables:
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
                fates.append(f"{decision.name} uses {describe_value(variable, record, evaluation.root, shown=mask_value(variable, record.value))}")
                loc = value_location(record)
                if loc is not None:
                    related.append((loc, f"{decision.name} sets {variable} here"))
        message = (f"{variable}={shown} from {source} reaches no service: " + "; ".join(fates)
                   + f". Values written in a compose file beat the shell; to pass it, write {variable}=${{{variable}:-0}}"
                     f" or a bare `- {variable}` entry")
        location = origin.location if origin.kind == "dotenv" else (related[0][0] if related else None)
        findings.append(Finding("SV007", "info", message, location, related[1:] if location is not None and origin.kind != "dotenv" else related,
                                sorted({d.name for d in decisions})))
    return findings


def _unknown(evaluation: Evaluation, profiles_known: list[str]) -> list[Finding]:
    findings = []
    known = ", ".join(profiles_known)
    for decision in evaluation.services.values():
        detection = decision.detection
        if detection.unknown_name is not None:
            findings.append(Finding(
                "SV008", "warning",
                f"{decision.name}: x-supervisor.implementation {detection.unknown_name!r} is not a known implementation "
                f"(known: {known}); its backfill is not checked",
                key_location(evaluation.project, "services", decision.name, "x-supervisor") or decision.service.location,
                [], [decision.name]))
            continue
        if detection.profile is None and "BACKFILL_DAYS" in decision.service.environment:
            record = decision.service.environment["BACKFILL_DAYS"]
            findings.append(Finding(
                "SV008", "warning",
                f"{decision.name} sets BACKFILL_DAYS but matches no implementation profile (command, Dockerfile, "
                f"image, build context, variable names and service name gave no clue), so whether it backfills is not checked: declare "
                f"x-supervisor: {{implementation: NAME}} with one of {known}",
                value_location(record) or decision.service.location, [], [decision.name]))
    return findings


def _pm2_pm_id(evaluation: Evaluation) -> list[Finding]:
    findings = []
    for decision in evaluation.services.values():
        record = decision.service.environment.get("pm_id")
        if decision.pm2 is None or not decision.pm2.used or record is None or not record.value:
            continue
        primary = decision.units[0] if decision.units else None
        runs = ""
        if primary is not None and primary.enabled.get("backfill"):
            writer = next((w for w in evaluation.writers if w.unit is primary and w.spec.role == "backfill"), None)
            runs = f"; its backfill runs ({_enabling(evaluation, writer)})" if writer else "; its backfill runs"
        message = (f"pm_id={record.value} on {decision.name} has no effect: PM2 gives its instances pm_id 0.."
                   f"{max(decision.pm2.instances - 1, 0)} and ignores a pm_id from the environment, so instance 0 "
                   f"is still the primary{runs}. Set BACKFILL_DAYS=0 on {decision.name} to keep the TypeScript backfill off")
        findings.append(Finding("SV009", "warning", message, value_location(record) or decision.service.location,
                                [], [decision.name]))
    return findings


def _suppress(findings: list[Finding], evaluation: Evaluation, top: Mapping[str, Any]) -> None:
    def reason_in(block: Mapping[str, Any], finding: Finding) -> Optional[str]:
        for key, reason in (block.get("ignore") or {}).items():
            found = rule(str(key))
            if found is not None and found.code == finding.code:
                return str(reason)
        return None

    for finding in findings:
        if finding.code in ("SV000", "SV010"):
            continue
        reason = reason_in(top, finding)
        if reason is None:
            for service in finding.services:
                decision = evaluation.services.get(service)
                if decision is not None:
                    reason = reason_in(decision.extension, finding)
                    if reason is not None:
                        break
        finding.suppressed = reason


_ORDER = {"error": 0, "warning": 1, "info": 2}


def run_rules(evaluation: Evaluation, top: Mapping[str, Any]) -> list[Finding]:
    """Every finding for an evaluation, most severe first, with suppressions applied."""
    primaries, covered = _several_primaries(evaluation)
    findings = (_collisions(evaluation, covered) + primaries + _start_failures(evaluation) + _misleading(evaluation)
                + _relay_window(evaluation) + _pm2_pm_id(evaluation) + _unknown(evaluation, sorted(evaluation.profiles))
                + _unused_days(evaluation) + _shell_unused(evaluation))
    _suppress(findings, evaluation, top)
    findings.sort(key=lambda f: (_ORDER[f.severity], f.code))
    return findings
