"""The planner: a Project and what the Engine already runs -> the actions of ``up`` (pure).

Nothing here talks to Docker.  The driver (:mod:`supervisor.runtime.engine`) observes the
Engine into an :class:`Observed` record, asks :func:`plan_up` what to do, and carries the
resulting :class:`Plan` out.  So the rules ("an unchanged running container is left
alone", "a changed one is recreated", "dependencies start first") are tested as plain data.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

from supervisor.compose.model import Project
from supervisor.runtime import spec as S
from supervisor.runtime.errors import DependencyCycle, ImageMissing, InvalidSpec

__all__ = [
    "CONDITIONS",
    "ObservedContainer",
    "Observed",
    "Dependency",
    "ContainerStep",
    "ServicePlan",
    "BuildStep",
    "Plan",
    "dependencies",
    "dependents",
    "start_order",
    "select_services",
    "plan_builds",
    "plan_up",
    "plan_down",
    "DownPlan",
]

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@dataclasses.dataclass(frozen=True)
class ObservedContainer:
    """A container of the project as the Engine reports it."""

    id: str
    name: str
    service: str
    number: int
    config_hash: str
    image_id: str
    state: str  # created, running, paused, restarting, exited, dead
    health: Optional[str] = None  # starting, healthy, unhealthy, or None without a health check
    exit_code: int = 0
    depends_on: tuple[str, ...] = ()  # services named by its com.docker.compose.depends_on label
    #: that label in long form (condition, restart), for a project known only by its containers
    dependencies: tuple["Dependency", ...] = ()


@dataclasses.dataclass
class Observed:
    """What the Engine holds for one project."""

    containers: list[ObservedContainer] = dataclasses.field(default_factory=list)
    networks: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # name -> labels
    volumes: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # name -> labels
    images: dict[str, str] = dataclasses.field(default_factory=dict)  # reference -> image id


@dataclasses.dataclass(frozen=True)
class Dependency:
    """One ``depends_on`` entry in its long form."""

    service: str
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@dataclasses.dataclass
class ContainerStep:
    """What happens to one container: ``create``, ``recreate``, ``start`` or ``keep``."""

    action: str
    spec: S.ContainerSpec
    existing: Optional[ObservedContainer] = None
    reason: str = ""

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.action} {self.spec.name}{why}"


@dataclasses.dataclass
class ServicePlan:
    """A service's containers and the conditions to meet before they start."""

    service: str
    depends_on: list[Dependency]
    steps: list[ContainerStep]
    remove: list[ObservedContainer] = dataclasses.field(default_factory=list)  # scaled down


@dataclasses.dataclass
class BuildStep:
    """An image to build before containers are created."""

    service: str
    image: str
    context: str
    dockerfile: str
    args: dict[str, str]
    target: Optional[str] = None
    reason: str = ""


@dataclasses.dataclass
class Plan:
    """The ordered actions of one ``up``."""

    project: str
    networks: list[dict[str, Any]]  # bodies of networks to create
    volumes: list[dict[str, Any]]  # bodies of volumes to create
    services: list[ServicePlan]  # in a valid start order
    orphans: list[ObservedContainer]
    remove_orphans: bool
    warnings: list[str]

    def actions(self) -> list[str]:
        """A flat, human-readable list of what will happen, in order."""
        out = [f"create network {n['Name']}" for n in self.networks]
        out += [f"create volume {v['Name']}" for v in self.volumes]
        if self.remove_orphans:
            out += [f"remove orphan {c.name}" for c in self.orphans]
        for svc in self.services:
            out += [f"remove {c.name} (scaled down)" for c in svc.remove]
            out += [step.describe() for step in svc.steps]
        return out

    def service(self, name: str) -> ServicePlan:
        """The plan of one service."""
        for svc in self.services:
            if svc.service == name:
                return svc
        raise KeyError(name)


def label_dependencies(label: str) -> tuple[Dependency, ...]:
    """A ``com.docker.compose.depends_on`` label (``db:service_healthy:true,cache:service_started:false``)
    in long form, as compose reads it back when it works from the containers alone."""
    out = []
    for entry in label.split(","):
        if not entry:
            continue
        service, _, rest = entry.partition(":")
        condition, _, restart = rest.partition(":")
        out.append(Dependency(service, condition or "service_started", restart=restart == "true"))
    return tuple(out)


def dependencies(project: Project, service: str) -> list[Dependency]:
    """A service's ``depends_on`` in long form, as written (list form means service_started)."""
    config = project.config["services"][service]
    deps = config.get("depends_on") or {}
    if isinstance(deps, list):
        deps = {d: {} for d in deps}
    out = []
    for name, entry in deps.items():
        entry = entry or {}
        condition = entry.get("condition") or "service_started"
        if condition not in CONDITIONS:
            raise InvalidSpec(
                f"service {service}: depends_on.{name}.condition {condition!r} is not one of {', '.join(CONDITIONS)}",
                project.locations.get(("services", service, "depends_on")),
            )
        out.append(Dependency(name, condition, bool(entry.get("required", True)), bool(entry.get("restart"))))
    return out


def _active_dependencies(project: Project, service: str) -> list[Dependency]:
    out = []
    for dep in dependencies(project, service):
        if dep.service in project.services:
            out.append(dep)
        elif dep.required:
            raise InvalidSpec(
                f"service {service} depends on undefined service {dep.service}",
                project.locations.get(("services", service, "depends_on")),
            )
        # required: false and absent (another profile): compose skips it, so do we.
    return out


def start_order(project: Project, services: Optional[Sequence[str]] = None) -> list[str]:
    """Services in dependency order (dependencies first; ties by name), or :class:`DependencyCycle`."""
    names = sorted(services if services is not None else project.services)
    wanted = set(names)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :] + [name]
            raise DependencyCycle("depends_on forms a cycle: " + " -> ".join(cycle))
        state[name] = 1
        for dep in sorted(_active_dependencies(project, name), key=lambda d: d.service):
            if dep.service in wanted:
                visit(dep.service, path + [name])
        state[name] = 2
        order.append(name)

    for name in names:
        visit(name, [])
    return order


def select_services(project: Project, requested: Sequence[str] = (), *, with_deps: bool = True) -> list[str]:
    """The services ``up SERVICE...`` acts on: the requested ones plus their dependencies."""
    if not requested:
        return start_order(project)
    unknown = [s for s in requested if s not in project.services]
    if unknown:
        raise InvalidSpec(f"no such service: {', '.join(unknown)}")
    chosen: set[str] = set()

    def add(name: str) -> None:
        if name in chosen:
            return
        chosen.add(name)
        if with_deps:
            for dep in _active_dependencies(project, name):
                add(dep.service)

    for name in requested:
        add(name)
    return start_order(project, sorted(chosen))


def plan_builds(
    project: Project, services: Sequence[str], images: dict[str, str], *, build: bool = False, no_build: bool = False
) -> list[BuildStep]:
    """Images to build: missing ones for ``build:`` services, or all of them with ``--build``.

    A service without ``build:`` whose image is absent raises :class:`ImageMissing` only when
    ``pull`` is impossible; that is the driver's call, so it is not decided here.
    """
    steps: list[BuildStep] = []
    seen: set[str] = set()
    for name in services:
        config = project.config["services"][name]
        spec_build = config.get("build")
        image = S.image_ref(project.name, name, config)
        if not spec_build or image in seen:
            continue
        present = image in images
        if no_build:
            if not present:
                raise ImageMissing(f"service {name}: image {image} is missing and --no-build was given")
            continue
        if present and not build:
            continue
        if isinstance(spec_build, str):
            spec_build = {"context": spec_build}
        seen.add(image)
        steps.append(
            BuildStep(
                service=name,
                image=image,
                context=str(spec_build.get("context") or "."),
                dockerfile=str(spec_build.get("dockerfile") or "Dockerfile"),
                args={str(k): str(v) for k, v in (spec_build.get("args") or {}).items() if v is not None},
                target=spec_build.get("target"),
                reason="--build" if present else "image missing",
            )
        )
    return steps


def _step_for(
    existing: Optional[ObservedContainer],
    spec: S.ContainerSpec,
    image_id: Optional[str],
    force_recreate: bool,
    no_recreate: bool,
) -> ContainerStep:
    if existing is None:
        return ContainerStep("create", spec)
    changed = ""
    if existing.config_hash != spec.config_hash:
        changed = "configuration changed"
    elif image_id and existing.image_id and existing.image_id != image_id:
        changed = "image changed"
    elif force_recreate:
        changed = "--force-recreate"
    if changed and not no_recreate:
        return ContainerStep("recreate", spec, existing, changed)
    if existing.state in ("running", "restarting"):
        return ContainerStep("keep", spec, existing, "running, unchanged")
    if existing.state == "paused":
        return ContainerStep("start", spec, existing, "paused")
    return ContainerStep("start", spec, existing, f"was {existing.state}")


def plan_up(
    project: Project,
    observed: Observed,
    services: Sequence[str] = (),
    *,
    force_recreate: bool = False,
    no_recreate: bool = False,
    remove_orphans: bool = False,
    with_deps: bool = True,
    api_version: str = "1.41",
) -> Plan:
    """What ``up [SERVICE...]`` does to reach the project from the observed state."""
    selected = select_services(project, services, with_deps=with_deps)
    warnings: list[str] = []

    used_networks: list[str] = []
    used_volumes: list[str] = []
    for name in selected:
        for key, _, _ in S.service_networks(project, name):
            if key not in used_networks:
                used_networks.append(key)
        for vol in project.config["services"][name].get("volumes") or []:
            if isinstance(vol, dict) and (vol.get("type") or "volume") == "volume" and vol.get("source"):
                if vol["source"] not in used_volumes:
                    used_volumes.append(vol["source"])

    networks = []
    for key in used_networks:
        entry = (project.config.get("networks") or {}).get(key) or {}
        if entry.get("external"):
            continue
        body = S.network_body(project, key)
        if body["Name"] not in observed.networks:
            networks.append(body)
    volumes = []
    for key in used_volumes:
        entry = (project.config.get("volumes") or {}).get(key)
        if entry is None:
            raise InvalidSpec(f"a service uses volume {key!r}, which is not declared under top-level volumes")
        if entry.get("external"):
            continue
        body = S.volume_body(project, key)
        if body["Name"] not in observed.volumes:
            volumes.append(body)

    by_service: dict[str, list[ObservedContainer]] = {}
    for container in observed.containers:
        by_service.setdefault(container.service, []).append(container)

    plans = []
    kept: dict[str, str] = {}  # service -> id of its first container, when up leaves that one in place
    for name in selected:
        svc = project.services[name]
        existing = {c.number: c for c in by_service.get(name, [])}
        image_id = observed.images.get(S.image_ref(project.name, name, project.config["services"][name]))
        # compose hashes a service:X reference as X's container id: a recreated X changes it
        references = {ref: kept[ref] for ref in S.referenced_services(svc.config) if ref in kept}
        steps = []
        for number in range(1, svc.replicas + 1):
            spec = S.container_spec(
                project, name, number, api_version=api_version, image_id=image_id, references=references
            )
            if number == 1:
                warnings.extend(spec.warnings)
            steps.append(_step_for(existing.get(number), spec, image_id, force_recreate, no_recreate))
        if steps and steps[0].action in ("keep", "start") and steps[0].existing is not None:
            kept[name] = steps[0].existing.id
        extra = sorted((c for n, c in existing.items() if n > svc.replicas), key=lambda c: c.number)
        plans.append(ServicePlan(name, _active_dependencies(project, name), steps, extra))

    known = set(project.services) | set(project.disabled_services)
    orphans = sorted((c for c in observed.containers if c.service not in known), key=lambda c: c.name)
    if orphans and not remove_orphans:
        names = ", ".join(sorted({c.service for c in orphans}))
        warnings.append(
            f"found orphan containers of services not in the project ({names}); "
            "run with --remove-orphans to remove them"
        )
    return Plan(project.name, networks, volumes, plans, orphans, remove_orphans, warnings)


@dataclasses.dataclass
class DownPlan:
    """What ``down`` removes, in order: containers (dependents first), then networks and volumes."""

    containers: list[ObservedContainer]
    networks: list[str]
    volumes: list[str]
    # service -> the services to stop before it (its dependents); services not named wait for nothing
    after: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def actions(self) -> list[str]:
        """A flat, human-readable list of what will happen, in order."""
        return (
            [f"stop and remove {c.name}" for c in self.containers]
            + [f"remove network {n}" for n in self.networks]
            + [f"remove volume {v}" for v in self.volumes]
        )


def dependents(project: Project, services: set[str]) -> dict[str, list[str]]:
    """Among ``services``: service -> the ones that depend on it (what stops first, in ``down``)."""
    out: dict[str, list[str]] = {name: [] for name in sorted(services)}
    for name in sorted(services):
        if name not in project.services:
            continue
        for dep in dependencies(project, name):
            if dep.service in out and name not in out[dep.service]:
                out[dep.service].append(name)
    return out


def plan_down(
    project_name: str,
    observed: Observed,
    *,
    project: Optional[Project] = None,
    volumes: bool = False,
    remove_orphans: bool = False,
    services: Sequence[str] = (),
) -> DownPlan:
    """What ``down [-v] [--remove-orphans] [SERVICE...]`` removes.

    Without a loaded project (``down -p NAME`` with no files) everything labelled with the
    project goes, as compose does; with one, containers of unknown services are kept unless
    ``remove_orphans``. Named ``services``: their containers go, as compose removes them: with
    files only those, without files also the services that depend on them (their
    ``depends_on`` labels, transitively); the networks and volumes are still tried, and stay
    while a container uses them.
    """
    containers = list(observed.containers)
    if services:
        chosen = set(services)
        grow = project is None
        while grow:
            grow = False
            for c in containers:
                if c.service not in chosen and chosen & set(c.depends_on):
                    chosen.add(c.service)
                    grow = True
        containers = [c for c in containers if c.service in chosen]
    if project is not None and not remove_orphans:
        known = set(project.services) | set(project.disabled_services)
        containers = [c for c in containers if c.service in known]
    rank: dict[str, int] = {}
    if project is not None:
        try:
            order = start_order(project)
            rank = {name: i for i, name in enumerate(order)}
        except InvalidSpec:
            rank = {}
    # Dependents stop before what they depend on: reverse start order.
    containers.sort(key=lambda c: (-rank.get(c.service, len(rank)), c.service, c.number))
    present = {c.service for c in containers}
    if project is not None:
        after = dependents(project, present)
    else:  # down -p NAME without files: the containers' labels say what depends on what, as for compose
        after = {name: [] for name in sorted(present)}
        for c in containers:
            for dep in c.depends_on:
                if dep in after and c.service not in after[dep] and dep != c.service:
                    after[dep].append(c.service)
    nets = sorted(
        name for name, lab in observed.networks.items() if lab.get("com.docker.compose.project") == project_name
    )
    vols = (
        sorted(name for name, lab in observed.volumes.items() if lab.get("com.docker.compose.project") == project_name)
        if volumes
        else []
    )
    return DownPlan(containers, nets, vols, after)
