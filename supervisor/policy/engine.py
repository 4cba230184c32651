"""Project -> who writes which ``firehose_cursor`` row, and the findings (pure: no I/O).

For every active service the engine finds its implementation profile, the process(es) each
container runs (PM2 instances), evaluates the profile's values against each process's
environment, and lists the enabled writers with their cursor names. Rules in
:mod:`supervisor.policy.rules` turn that into findings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from supervisor.compose.model import EnvValue, Location, Project, Service
from supervisor.policy.commands import DockerfileCommand, Pm2Plan, effective_argv, parse_dockerfile, pm2_plan
from supervisor.policy.dockerfile import read_image_config
from supervisor.policy.errors import ExtensionError
from supervisor.policy.expressions import Context, StartFailure, format_value
from supervisor.policy.findings import Finding, rule
from supervisor.policy.launch import Launch, follow_launch
from supervisor.policy.managers import ProcessManager
from supervisor.policy.profiles import Catalog, Profile, WriterSpec
from supervisor.policy.variants import VariantChoice, choose_variant, match_program
from supervisor.secrets import redact, secret_values
from supervisor.verdicts import Verdicts, schema_violation

__all__ = [
    "DEFAULT_RELAY_WINDOW_HOURS",
    "FAILED",
    "Detection",
    "TraceStep",
    "Unit",
    "Writer",
    "ServiceDecision",
    "Evaluation",
    "detect",
    "evaluate_project",
    "service_location",
    "key_location",
]

DEFAULT_RELAY_WINDOW_HOURS = 72.0
DEFAULT_NETWORK_EVENTS_PER_SECOND = 500.0  # the live network's average in 2025-2026


class _Failed:
    """The result of a value whose parse failed (the program does not start)."""

    def __repr__(self) -> str:
        return "<failed>"

    def __bool__(self) -> bool:
        return False


FAILED = _Failed()


@dataclasses.dataclass(frozen=True)
class Detection:
    """Which profile a service runs and why."""

    profile: Optional[Profile]
    clue: str  # "x-supervisor.implementation", or the clue that matched
    explicit: bool = False
    unknown_name: Optional[str] = None  # x-supervisor names a profile we do not have
    guessed: bool = False  # from clues (names, patterns), not from the program the chain reaches


@dataclasses.dataclass
class TraceStep:
    """One computed value: the implementation's code, the result and the variables it read."""

    name: str
    source: str
    result: Any
    reads: list[str]

    def render(self) -> str:
        return f"{self.name} = {self.source} -> {'fails' if self.result is FAILED else format_value(self.result)}"


@dataclasses.dataclass
class Unit:
    """A group of identical processes of one service: its replicas x some PM2 instances."""

    service: str
    label: str  # "" for a plain container, "instance 0", "instances 1..3"
    replicas: int
    instances: int
    env: dict[str, Optional[str]]
    synthetic: dict[str, str]  # variables set by the process manager -> why
    values: dict[str, Any]
    trace: list[TraceStep]
    failures: list[StartFailure]
    enabled: dict[str, bool]  # writer role -> runs
    cursors: dict[str, Optional[str]]  # writer role -> cursor name

    @property
    def count(self) -> int:
        return self.replicas * self.instances

    @property
    def started(self) -> bool:
        return not self.failures

    @property
    def title(self) -> str:
        return f"{self.service} {self.label}".strip()

    def value(self, name: Optional[str]) -> Any:
        """The value called ``name``; None when there is none (or no name: a profile without that value)."""
        return self.values.get(name) if name is not None else None


@dataclasses.dataclass
class Writer:
    """An enabled writer of one cursor row, running in ``count`` processes at once."""

    service: str
    unit: Unit
    spec: WriterSpec
    cursor: str
    count: int


@dataclasses.dataclass
class ServiceDecision:
    """Everything the engine decided about one service."""

    name: str
    service: Service
    detection: Detection
    argv: list[str]
    pm2: Optional[Pm2Plan]
    units: list[Unit]
    extension: dict[str, Any]
    launch: Launch = dataclasses.field(default_factory=Launch)
    variant: VariantChoice = dataclasses.field(default_factory=lambda: VariantChoice(None, ""))
    not_started: Optional[str] = None  # why no process of this service runs

    @property
    def profile(self) -> Optional[Profile]:
        return self.detection.profile


@dataclasses.dataclass
class Evaluation:
    """The result of :func:`evaluate_project`."""

    project: Project
    services: dict[str, ServiceDecision]
    writers: list[Writer]
    findings: list[Finding]
    window_hours: float
    root: Optional[str] = None
    profiles: Mapping[str, Profile] = dataclasses.field(default_factory=dict)
    network_events_per_second: float = DEFAULT_NETWORK_EVENTS_PER_SECOND
    managers: Mapping[str, ProcessManager] = dataclasses.field(default_factory=dict)

    def writers_on(self, cursor: str) -> list[Writer]:
        return [w for w in self.writers if w.cursor == cursor]


def key_location(project: Project, *path: str) -> Optional[Location]:
    """The location of a key, trying the path and then its parents."""
    keys = tuple(path)
    while keys:
        loc = project.locations.get(keys)
        if loc is not None:
            return loc
        keys = keys[:-1]
    return None


def service_location(project: Project, name: str) -> Optional[Location]:
    service = project.services.get(name)
    if service is not None and service.location is not None:
        return service.location
    return key_location(project, "services", name)


# --- x-supervisor ---------------------------------------------------------------------------


def _check_extension(
    block: Any,
    kind: str,
    where: Optional[Location],
    label: str,
    schema: Mapping[str, Any],
    verdicts: Optional[Verdicts],
) -> dict[str, Any]:
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ExtensionError(f"{label}: x-supervisor must be a mapping", where)
    ignore = block.get("ignore")
    if ignore is not None:
        if not isinstance(ignore, Mapping):
            raise ExtensionError(f"{label}: x-supervisor.ignore must map a finding code to a reason", where)
        for code, reason in ignore.items():
            found = rule(str(code))
            if found is None:
                from supervisor.policy.rules import registry

                known = ", ".join(f"{r.code} ({r.name})" for r in registry().values())
                raise ExtensionError(
                    f"{label}: x-supervisor.ignore: unknown finding code {code!r}; known: {known}", where
                )
            if not found.suppressible:
                raise ExtensionError(f"{label}: x-supervisor.ignore: {found.code} cannot be ignored", where)
            if not isinstance(reason, str) or not reason.strip():
                raise ExtensionError(f"{label}: x-supervisor.ignore.{code} needs a reason (a non-empty string)", where)

    def validator() -> Any:
        import jsonschema  # lazily: only when a block exists and was not seen valid before

        return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})

    error = schema_violation(validator, dict(block), schema=schema, definition=kind, verdicts=verdicts)
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        raise ExtensionError(f"{label}: x-supervisor{'.' + path if path else ''}: {error.message}", where)
    return dict(block)


# --- detection ------------------------------------------------------------------------------

# Strongest clue first: what runs, then what it is built from, then names people give things.
_FIELD_ORDER = ("command", "dockerfile", "image", "build", "environment", "service")


def _fields(
    config: Mapping[str, Any], argv: list[str], dockerfile_text: Optional[str], name: str = ""
) -> dict[str, str]:
    build = config.get("build")
    build_text = ""
    if isinstance(build, Mapping):
        build_text = " ".join(str(build.get(k) or "") for k in ("context", "dockerfile")).strip()
    elif isinstance(build, str):
        build_text = build
    return {
        "command": " ".join(argv),
        "dockerfile": dockerfile_text or "",
        "image": str(config.get("image") or ""),
        "build": build_text,
        # the names of the variables set for the container, one per line
        "environment": "\n".join(sorted(str(k) for k in (config.get("environment") or {}))),
        "service": name,
    }


def detect(
    service: Service,
    profiles: Mapping[str, Profile],
    *,
    argv: list[str],
    dockerfile_text: Optional[str] = None,
    extension: Optional[Mapping[str, Any]] = None,
) -> Detection:
    """Which profile a service runs: ``x-supervisor.implementation``, else the strongest clue."""
    declared = (extension or {}).get("implementation")
    if declared is not None:
        profile = profiles.get(str(declared))
        if profile is None:
            return Detection(None, "x-supervisor.implementation", True, unknown_name=str(declared))
        return Detection(profile, "x-supervisor.implementation", True)
    fields = _fields(service.config, argv, dockerfile_text, service.name)
    for field in _FIELD_ORDER:
        text = fields[field]
        if not text:
            continue
        matches = [(p, c) for p in profiles.values() for c in p.detect if c.field == field and c.pattern.search(text)]
        matches.sort(key=lambda match: -match[1].priority)  # stable: profile order breaks ties
        if matches:
            profile, clue = matches[0]
            others = sorted({p.name for p, _ in matches} - {profile.name})
            note = f" (also matches {', '.join(others)}: declare x-supervisor.implementation)" if others else ""
            return Detection(profile, clue.clue + note, guessed=True)
    return Detection(None, "no clue matched")


# --- evaluation -----------------------------------------------------------------------------


def _instance_groups(plan: Optional[Pm2Plan]) -> list[tuple[int, int, str]]:
    """(index, how many processes, label): PM2 instances 1..N-1 differ only by their index."""
    if plan is None or not plan.used:
        return [(0, 1, "")]
    if plan.instances <= 1:
        return [(0, 1, "instance 0")]
    rest = (
        "instances 1.. (one per CPU)"
        if plan.cpu_dependent
        else ("instance 1" if plan.instances == 2 else f"instances 1..{plan.instances - 1}")
    )
    return [(0, 1, "instance 0"), (1, plan.instances - 1, rest)]


def _manager_environment(
    env: dict[str, Optional[str]], index: int, manager: ProcessManager
) -> tuple[dict[str, Optional[str]], dict[str, str]]:
    """The environment a process manager gives instance ``index`` (described in process-managers.json).

    PM2 copies the container environment into each instance but drops a non-empty ``pm_id``
    and assigns its own; the ``NODE_APP_INSTANCE`` it injects is overwritten by one set in the
    container environment.
    """
    out = dict(env)
    synthetic: dict[str, str] = {}
    for variable in manager.per_instance:
        current = env.get(variable.name)
        if variable.environment_overrides:
            if current is None:
                out[variable.name] = str(index)
                synthetic[variable.name] = f"assigned by {manager.name.upper()} to instance {index}"
        elif current is None or current != "":
            out[variable.name] = str(index)
            synthetic[variable.name] = f"assigned by {manager.name.upper()} to instance {index}" + (
                f"; the environment's {variable.name} is ignored" if current else ""
            )
    return out, synthetic


def _evaluate_unit(
    profile: Profile,
    service: str,
    label: str,
    replicas: int,
    instances: int,
    env: dict[str, Optional[str]],
    synthetic: dict[str, str],
) -> Unit:
    ctx = Context(env)
    trace: list[TraceStep] = []
    failures: list[StartFailure] = []
    for name, source, expr in profile.values:
        try:
            result = ctx.compute(name, expr)
        except StartFailure as failure:
            failures.append(failure)
            result = FAILED
            ctx.values[name] = FAILED
        trace.append(TraceStep(name, source, result, ctx.value_reads.get(name, [])))
    enabled: dict[str, bool] = {}
    cursors: dict[str, Optional[str]] = {}
    for spec in profile.writers:
        on = not failures and ctx.values.get(spec.enabled) is True
        enabled[spec.role] = on
        cursor = ctx.values.get(spec.cursor) if spec.cursor else None
        cursors[spec.role] = cursor if isinstance(cursor, str) else None
    return Unit(
        service, label, replicas, instances, env, synthetic, dict(ctx.values), trace, failures, enabled, cursors
    )


def _replicas(service: Service) -> int:
    try:
        return max(0, service.replicas)
    except (TypeError, ValueError):
        return 1


def _show(loc: Optional[Location], root: Optional[str]) -> str:
    from supervisor.policy.provenance import show_location

    return show_location(loc, root) if loc is not None else ""


def _launch(
    project: Project,
    name: str,
    service: Service,
    build: Any,
    text: Optional[str],
    root: Optional[str],
    managers: Mapping[str, ProcessManager],
) -> Launch:
    """Follow the service's start-up chain from the compose file into its build context."""
    image = None
    if text:
        image = read_image_config(text, getattr(build, "target", None))
    where: dict[str, str] = {
        key: _show(key_location(project, "services", name, key), root)
        for key in ("entrypoint", "command")
        if key in service.config
    }
    return follow_launch(
        service.config,
        image,
        build.files if build is not None else {},
        label=build.label if build is not None else "",
        dockerfile=build.dockerfile if build is not None else "Dockerfile",
        compose_where=where,
        managers=managers,
        environment={k: v.value for k, v in service.environment.items()},
    )


def _detect_program(
    service: Service,
    profiles: Mapping[str, Profile],
    launch: Launch,
    files: Mapping[str, str],
    label: str,
    argv: list[str],
    text: Optional[str],
    extension: Mapping[str, Any],
) -> Detection:
    """x-supervisor.implementation, else the program the chain reaches, else today's clues (a guess)."""
    if extension.get("implementation") is None and launch.followed:
        found = match_program(launch, profiles, files, label)
        if found is not None:
            return Detection(found[0], found[1])
    return detect(service, profiles, argv=argv, dockerfile_text=text, extension=extension)


def _has_sources(profile: Profile, files: Mapping[str, str], detection: Detection) -> bool:
    """Whether the build context holds the program's own sources (so markers can choose a variant)."""
    if detection.clue.startswith("start-up chain reaches"):
        return True
    names = {m.file for v in profile.variants for m in v.markers}
    for name in names:
        try:
            if files.get(name) is not None:
                return True
        except (KeyError, OSError):
            continue
    return False


def _container_environment(service: Service, launch: Launch) -> tuple[dict[str, Optional[str]], dict[str, str]]:
    """The image's ENV defaults, under the compose environment, under assignments in the start command."""
    env: dict[str, Optional[str]] = {k: v.value for k, v in service.environment.items()}
    notes: dict[str, str] = {}
    for variable, value, where in launch.image_env:
        if env.get(variable) is None:
            env[variable] = value
            notes[variable] = f"image default: ENV {variable}={value} at {where}"
    for variable, value, where in launch.env:
        env[variable] = value
        notes[variable] = f"set by the start command at {where}"
    return env, notes


_BLOCKING = ("service_healthy", "service_completed_successfully")


def _propagate_not_started(project: Project, decisions: dict[str, ServiceDecision]) -> None:
    """A service that waits for the health of one that never starts never starts either."""
    changed = True
    while changed:
        changed = False
        for name, decision in decisions.items():
            if decision.not_started:
                continue
            depends = decision.service.config.get("depends_on")
            if not isinstance(depends, Mapping):
                continue
            for other, spec in depends.items():
                condition = spec.get("condition", "service_started") if isinstance(spec, Mapping) else "service_started"
                blocked = decisions.get(str(other))
                if blocked is not None and blocked.not_started and condition in _BLOCKING:
                    decision.not_started = f"waits for {other} ({condition}), which never starts"
                    changed = True
                    break


def evaluate_project(
    project: Project,
    *,
    catalog: Catalog,
    dockerfiles: Optional[Mapping[str, str]] = None,
    root: Optional[str] = None,
    contexts: Optional[Mapping[str, Any]] = None,
    verdicts: Optional[Verdicts] = None,
) -> Evaluation:
    """Decide every service's writers and produce the findings (no I/O: everything read comes in).

    ``catalog`` holds the profiles, process managers and ``x-supervisor`` schema
    (:func:`supervisor.policy.sources.builtin_catalog` reads the shipped ones); ``verdicts``
    remembers ``x-supervisor`` blocks found valid (None: each is checked).

    ``contexts`` maps a service name to its build context (:class:`supervisor.policy.sources.BuildContext`,
    read by the caller): label, Dockerfile name and text, target and files.
    ``dockerfiles`` maps a service name to its Dockerfile text (when no context is given);
    ``root`` is the folder locations in messages are shown relative to.
    Raises :class:`~supervisor.policy.errors.ExtensionError` for a malformed ``x-supervisor`` block.
    """
    from supervisor.policy import rules  # rules use the types above

    profiles = catalog.profiles
    dockerfiles = dockerfiles or {}
    contexts = contexts or {}
    top = _check_extension(
        project.extensions.get("x-supervisor"),
        "project",
        key_location(project, "x-supervisor"),
        "x-supervisor",
        catalog.extension_schema,
        verdicts,
    )
    window = float(top.get("relay_window_hours", DEFAULT_RELAY_WINDOW_HOURS))
    decisions: dict[str, ServiceDecision] = {}
    writers: list[Writer] = []
    for name, service in project.services.items():
        ext_block = service.extensions.get("x-supervisor")
        if ext_block is None:
            ext_block = service.config.get("x-supervisor") if isinstance(service.config, Mapping) else None
        extension = _check_extension(
            ext_block,
            "service",
            key_location(project, "services", name, "x-supervisor") or service.location,
            f"service {name}",
            catalog.extension_schema,
            verdicts,
        )
        build = contexts.get(name)
        text = build.dockerfile_text if build is not None else dockerfiles.get(name)
        argv = effective_argv(
            service.config, parse_dockerfile(text, getattr(build, "target", None)) if text else DockerfileCommand()
        )
        launch = _launch(project, name, service, build, text, root, catalog.managers)
        files = build.files if build is not None else {}
        label = build.label if build is not None else ""
        detection = _detect_program(service, profiles, launch, files, label, argv, text, extension)
        profile = detection.profile
        choice = VariantChoice(None, "")
        if profile is not None and (
            extension.get("variant") is not None or (build is not None and _has_sources(profile, files, detection))
        ):
            # without the program's sources there is nothing to tell the version: the base model applies
            choice = choose_variant(profile, files, declared=extension.get("variant"), label=label)
            if choice.variant is not None:
                profile = profile.with_variant(choice.variant)
                detection = dataclasses.replace(detection, profile=profile)
        units: list[Unit] = []
        plan: Optional[Pm2Plan] = None
        if profile is not None:
            env, notes = _container_environment(service, launch)
            if launch.manager is not None:
                plan = Pm2Plan(True, launch.instances, launch.cpu_dependent, launch.instances_origin)
            elif profile.process_manager == "pm2" and not launch.followed:
                plan = pm2_plan(argv)
            replicas = _replicas(service)
            for index, count, label_ in _instance_groups(plan):
                if plan is not None and plan.used:
                    unit_env, synthetic = _manager_environment(env, index, launch.manager or catalog.managers["pm2"])
                    synthetic = {**notes, **synthetic}
                else:
                    unit_env, synthetic = env, dict(notes)
                unit = _evaluate_unit(profile, name, label_, replicas, count, unit_env, synthetic)
                units.append(unit)
        decisions[name] = ServiceDecision(
            name, service, detection, argv, plan, units, extension, launch, choice, launch.cannot_start
        )
    _propagate_not_started(project, decisions)
    for name, decision in decisions.items():
        if decision.profile is None or decision.not_started:
            continue
        for unit in decision.units:
            if not unit.started or unit.count == 0:
                continue
            for spec in decision.profile.writers:
                cursor = unit.cursors.get(spec.role)
                if unit.enabled.get(spec.role) and cursor is not None:
                    writers.append(Writer(name, unit, spec, cursor, unit.count))
    evaluation = Evaluation(
        project,
        decisions,
        writers,
        [],
        window,
        root,
        profiles,
        float(top.get("network_events_per_second", DEFAULT_NETWORK_EVENTS_PER_SECOND)),
        catalog.managers,
    )
    evaluation.findings = _redact_findings(rules.run_rules(evaluation, top), secret_values(project))
    return evaluation


def _redact_findings(findings: list[Finding], secrets: frozenset[str]) -> list[Finding]:
    """Findings quote values; hide those that templates took from secret variables."""
    if not secrets:
        return findings
    return [
        dataclasses.replace(
            f, message=redact(f.message, secrets), related=[(loc, redact(note, secrets)) for loc, note in f.related]
        )
        for f in findings
    ]


def env_record(evaluation: Evaluation, service: str, variable: str) -> Optional[EnvValue]:
    """The resolved environment record of ``variable`` in ``service`` (None when not declared)."""
    svc = evaluation.project.services.get(service)
    return svc.environment.get(variable) if svc is not None else None
