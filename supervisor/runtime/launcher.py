"""Carry a plan out on the Engine: build, create, start in dependency order, wait, stop, remove.

This module sequences Engine calls and waits; it decides nothing that
:mod:`supervisor.runtime.plan` could decide from data.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
from typing import Callable, Optional, Sequence

from supervisor.compose.model import Project
from supervisor.runtime import labels as L
from supervisor.runtime import plan as P
from supervisor.runtime import spec as S
from supervisor.runtime.engine import Engine, observed_container
from supervisor.runtime.errors import EngineFailure, HealthFailed, RuntimeFailure, StartFailed
from supervisor.runtime.health import WorkerHealth, is_worker_service, parse_worker_health, summarise_docker_health
from supervisor.runtime.progress import Progress

__all__ = [
    "UpOptions",
    "UpResult",
    "prepare_images",
    "apply_plan",
    "wait_for_services",
    "worker_health",
    "wait_for_worker",
    "stop_containers",
    "run_down",
    "in_dependency_order",
    "restart_services",
    "failure_report",
    "WORKER_HEALTH_COMMAND",
]

#: compose's state for a network or volume that ``down`` leaves because a container still uses it
IN_USE = "Resource is still in use"
POLL = 0.2  # seconds between Engine polls while waiting for a state
WORKER_HEALTH_COMMAND = ["supervisor", "worker", "healthcheck", "--json"]


@dataclasses.dataclass
class UpOptions:
    """The options of ``up`` that shape what happens (not how it is shown)."""

    services: tuple[str, ...] = ()
    detach: bool = False
    wait: bool = False
    wait_timeout: Optional[float] = None
    build: bool = False
    no_build: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    no_deps: bool = False


@dataclasses.dataclass
class UpResult:
    """What ``up`` did: the plan, and the containers of every selected service."""

    plan: P.Plan
    containers: dict[str, list[str]]  # service -> container ids
    names: dict[str, str]  # container id -> name
    worker: dict[str, WorkerHealth] = dataclasses.field(default_factory=dict)  # container name -> report


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def _expired(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def prepare_images(
    engine: Engine, project: Project, services: Sequence[str], options: UpOptions, progress: Progress
) -> dict[str, str]:
    """Build what needs building and pull what is missing; return ``reference -> image id``."""
    refs = tuple(dict.fromkeys(S.image_ref(project.name, s, project.config["services"][s]) for s in services))
    images = engine.image_ids(refs)
    for step in P.plan_builds(project, services, images, build=options.build, no_build=options.no_build):
        progress.update("Image", step.image, "Building")
        try:

            def show(line: str, service: str = step.service) -> None:
                progress.message(f"#{service} {line}")

            images[step.image] = engine.build(step, show)
        except RuntimeFailure:
            progress.update("Image", step.image, "Error")
            raise
        progress.update("Image", step.image, "Built")
    for ref in refs:
        if ref not in images:
            progress.update("Image", ref, "Pulling")
            try:
                images[ref] = engine.pull(ref)
            except RuntimeFailure:
                progress.update("Image", ref, "Error")
                raise
            progress.update("Image", ref, "Pulled")
    return images


def _creation_waves(project: Project, plan: P.Plan) -> list[list[P.ServicePlan]]:
    """Services in groups created at once; one naming another's container (``service:X``) comes after it."""
    waves: list[list[P.ServicePlan]] = []
    placed: dict[str, int] = {}
    for svc in plan.services:  # in dependency order, and compose makes a reference a dependency
        refs = [r for r in S.referenced_services(project.config["services"][svc.service]) if r in placed]
        level = max((placed[r] + 1 for r in refs), default=0)
        placed[svc.service] = level
        while len(waves) <= level:
            waves.append([])
        waves[level].append(svc)
    return waves


def _with_references(project: Project, step: P.ContainerStep, containers: dict[str, list[str]]) -> P.ContainerStep:
    """The step with compose's config hash of the container ids its ``service:X`` references now have."""
    config = project.config["services"][step.spec.service]
    refs = {r: containers[r][0] for r in S.referenced_services(config) if containers.get(r)}
    if not refs or step.action not in ("create", "recreate"):
        return step
    digest = S.config_hash(config, refs)
    body = {**step.spec.body, "Labels": {**step.spec.body.get("Labels", {}), L.CONFIG_HASH: digest}}
    return dataclasses.replace(step, spec=dataclasses.replace(step.spec, body=body, config_hash=digest))


def _create(engine: Engine, step: P.ContainerStep, progress: Progress) -> str:
    spec = step.spec
    if step.action == "create":
        progress.update("Container", spec.name, "Creating")
        cid = engine.create_container(spec.name, spec.body, spec.extra_networks)
        progress.update("Container", spec.name, "Created")
        return cid
    if step.action == "recreate":
        old = step.existing
        assert old is not None
        progress.update("Container", spec.name, "Recreate")
        engine.stop(old.id, spec.stop_timeout)
        # As compose: move the old one aside, create the new one under the name, then drop the old.
        engine.rename(old.id, f"{old.id[:12]}_{old.name}")
        try:
            cid = engine.create_container(spec.name, spec.body, spec.extra_networks)
        except RuntimeFailure:
            engine.rename(old.id, old.name)
            raise
        engine.remove(old.id, force=True)
        progress.update("Container", spec.name, "Recreated")
        return cid
    assert step.existing is not None
    if step.action == "keep":
        progress.update("Container", spec.name, "Running")
    return step.existing.id


def _condition_met(engine: Engine, dep: P.Dependency, ids: list[str], names: dict[str, str]) -> bool:
    """True when met, False to keep waiting; :class:`StartFailed` when it never can be."""
    for cid in ids:
        info = engine.inspect(cid)
        state = info.get("State") or {}
        status = state.get("Status")
        name = names.get(cid, cid[:12])
        if dep.condition == "service_started":
            if status in ("created",):
                return False
            continue
        if dep.condition == "service_completed_successfully":
            if status in ("exited", "dead"):
                code = int(state.get("ExitCode") or 0)
                if code != 0:
                    raise StartFailed(
                        f"service {dep.service} didn't complete successfully: container {name} exited ({code})"
                    )
                continue
            return False
        # service_healthy
        health = (state.get("Health") or {}).get("Status")
        if health is None:
            raise StartFailed(f"dependency failed to start: container {name} has no healthcheck configured")
        if status in ("exited", "dead"):
            raise StartFailed(f"dependency failed to start: container {name} exited ({state.get('ExitCode')})")
        if health == "unhealthy":
            raise StartFailed(f"dependency failed to start: container {name} is unhealthy")
        if health != "healthy":
            return False
    return True


def apply_plan(
    engine: Engine,
    project: Project,
    plan: P.Plan,
    progress: Progress,
    *,
    timeout: Optional[float] = None,
    parallel: Optional[int] = None,
) -> UpResult:
    """Create networks, volumes and containers, then start services as their dependencies allow.

    ``parallel``: containers created at once (compose's --parallel; default 8).
    """
    deadline = _deadline(timeout)
    for body in plan.networks:
        progress.update("Network", body["Name"], "Creating")
        engine.create_network(body)
        progress.update("Network", body["Name"], "Created")
    for body in plan.volumes:
        progress.update("Volume", body["Name"], "Creating")
        engine.create_volume(body)
        progress.update("Volume", body["Name"], "Created")
    for key, entry in (project.config.get("networks") or {}).items():
        if (entry or {}).get("external") and not engine.network_exists(S.network_name(project, key)):
            raise StartFailed(f"network {S.network_name(project, key)} declared as external, but could not be found")

    stale = list(plan.orphans) if plan.remove_orphans else []
    for svc in plan.services:
        stale.extend(svc.remove)
    for container in stale:
        progress.update("Container", container.name, "Removing")
        engine.stop(container.id)
        engine.remove(container.id, force=True)
        progress.update("Container", container.name, "Removed")

    # Create every container first (in parallel), as compose does; start in dependency order after.
    containers: dict[str, list[str]] = {svc.service: [] for svc in plan.services}
    names: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel or 8) as pool:
        for wave in _creation_waves(project, plan):
            futures = {
                svc.service: [
                    pool.submit(_create, engine, _with_references(project, step, containers), progress)
                    for step in svc.steps
                ]
                for svc in wave
            }
            for svc in wave:
                for step, future in zip(svc.steps, futures[svc.service]):
                    cid = future.result()
                    containers[svc.service].append(cid)
                    names[cid] = step.spec.name

    planned = {svc.service for svc in plan.services}
    started = {svc.service: threading.Event() for svc in plan.services}
    failed = threading.Event()
    errors: list[BaseException] = []

    def dependency_ids(service: str) -> list[str]:
        if service in containers:
            return containers[service]
        # Not selected (up --no-deps): use what runs already.
        found = [observed_container(c) for c in engine.containers(project.name)]
        ids = [c.id for c in found if c.service == service]
        names.update({c.id: c.name for c in found if c.service == service})
        return ids

    def run_service(svc: P.ServicePlan) -> None:
        try:
            for dep in svc.depends_on:
                if dep.service in planned:
                    while not started[dep.service].wait(POLL):
                        if failed.is_set():
                            return
                ids = dependency_ids(dep.service)
                if not ids:
                    if dep.required:
                        raise StartFailed(f"service {svc.service} depends on {dep.service}, which has no container")
                    continue
                # compose shows no wait for service_started: the start order already gives it
                shown = dep.condition != "service_started"
                for cid in ids if shown else ():
                    progress.update("Container", names.get(cid, cid[:12]), "Waiting")
                try:
                    while not _condition_met(engine, dep, ids, names):
                        if failed.is_set():
                            return
                        if _expired(deadline):
                            # what the README promises: the dependency's health output and last log lines
                            report = "\n".join(failure_report(engine, cid, names.get(cid, cid[:12])) for cid in ids)
                            raise HealthFailed(
                                f"timed out waiting for {dep.service} ({dep.condition}) before starting {svc.service}",
                                report,
                            )
                        time.sleep(POLL)
                except StartFailed as exc:
                    if dep.required:
                        raise
                    progress.message(f"warning: {exc} (optional dependency of {svc.service}; continuing)")
                for cid in ids if shown else ():
                    state = "Healthy" if dep.condition == "service_healthy" else "Exited"
                    progress.update("Container", names.get(cid, cid[:12]), state)
            for step, cid in zip(svc.steps, containers[svc.service]):
                if step.action == "keep" and step.existing and step.existing.state == "running":
                    continue
                progress.update("Container", step.spec.name, "Starting")
                engine.start(cid)
                progress.update("Container", step.spec.name, "Started")
            started[svc.service].set()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller, in order
            errors.append(exc)
            failed.set()

    threads = [
        threading.Thread(target=run_service, args=(svc,), daemon=True, name=f"up-{svc.service}")
        for svc in plan.services
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return UpResult(plan, containers, names)


def failure_report(engine: Engine, cid: str, name: str, *, log_lines: int = 20) -> str:
    """The last health outputs and log lines of a container, for the user."""
    try:
        state = engine.inspect(cid).get("State") or {}
    except EngineFailure:
        return f"{name}: container is gone"
    lines = [
        f"--- {name}: state {state.get('Status')}"
        + (f", exit code {state.get('ExitCode')}" if state.get("Status") in ("exited", "dead") else "")
    ]
    if state.get("Health"):
        lines.append(summarise_docker_health(state))
    tail = engine.tail(cid, log_lines)
    if tail:
        lines.append(f"last {len(tail)} log lines:")
        lines.extend(f"  {line}" for line in tail)
    return "\n".join(lines)


def wait_for_services(
    engine: Engine,
    project: Project,
    result: UpResult,
    progress: Progress,
    *,
    timeout: Optional[float],
    total: Optional[float] = None,
) -> None:
    """``--wait``: every container healthy (with a health check) or running; else :class:`HealthFailed`.

    ``timeout`` is what is left of ``total`` (the user's ``--wait-timeout``, named in the message).
    """
    deadline = _deadline(timeout)
    total = timeout if total is None else total
    completers = {
        dep.service
        for svc in result.plan.services
        for dep in svc.depends_on
        if dep.condition == "service_completed_successfully"
    }
    pending = {cid: svc for svc, ids in result.containers.items() for cid in ids}
    for cid in pending:  # as compose: every container waits, then is Healthy (or Exited) or fails
        progress.update("Container", result.names.get(cid, cid[:12]), "Waiting")
    while pending:
        for cid, service in list(pending.items()):
            name = result.names.get(cid, cid[:12])
            state = engine.inspect(cid).get("State") or {}
            status = state.get("Status")
            health = (state.get("Health") or {}).get("Status")
            if status in ("exited", "dead"):
                if service in completers and int(state.get("ExitCode") or 0) == 0:
                    progress.update("Container", name, "Exited")
                    del pending[cid]
                    continue
                progress.update("Container", name, "Error")
                raise HealthFailed(
                    f"container {name} exited ({state.get('ExitCode')})", failure_report(engine, cid, name)
                )
            if health == "unhealthy":
                progress.update("Container", name, "Unhealthy")
                raise HealthFailed(f"container {name} is unhealthy", failure_report(engine, cid, name))
            if (health == "healthy") or (health is None and status == "running"):
                progress.update("Container", name, "Healthy")  # compose's "running or healthy"
                del pending[cid]
        if not pending:
            break
        if _expired(deadline):
            reports = [failure_report(engine, cid, result.names.get(cid, cid[:12])) for cid in pending]
            names = ", ".join(result.names.get(cid, cid[:12]) for cid in pending)
            raise HealthFailed(
                f"timed out after {total:.0f}s waiting for {names} to become healthy", "\n".join(reports)
            )
        time.sleep(POLL)


def worker_health(engine: Engine, cid: str) -> tuple[Optional[WorkerHealth], str]:
    """Run the worker's own health check in its container; return the parsed report and raw output."""
    code, output = engine.exec(cid, WORKER_HEALTH_COMMAND, timeout=15)
    text = output.strip()
    start = text.find("{")
    try:
        report = parse_worker_health(text[start:] if start >= 0 else text)
    except ValueError:
        return None, f"exit {code}: {text[-500:]}"
    return report, text


def wait_for_worker(
    engine: Engine,
    project: Project,
    result: UpResult,
    progress: Progress,
    *,
    timeout: Optional[float],
    total: Optional[float] = None,
) -> dict[str, WorkerHealth]:
    """Wait until every worker container reports ingest progress; :class:`HealthFailed` otherwise."""
    deadline = _deadline(timeout)
    total = timeout if total is None else total
    reports: dict[str, WorkerHealth] = {}
    for service, ids in result.containers.items():
        svc = project.services.get(service)
        if svc is None or not is_worker_service(service, svc.config, svc.extensions):
            continue
        for cid in ids:
            name = result.names.get(cid, cid[:12])
            progress.update("Worker", name, "Checking")
            last = ""
            while True:
                report, raw = worker_health(engine, cid)
                last = raw
                if report is not None and report.ingesting:
                    reports[name] = report
                    progress.update("Worker", name, "Ingesting")
                    break
                if _expired(deadline):
                    progress.update("Worker", name, "Failed")
                    detail = report.summary() if report else "no health report"
                    raise HealthFailed(
                        f"worker {name} reports no ingest progress after {total:.0f}s ({detail})",
                        f"last health output: {last}\n" + failure_report(engine, cid, name),
                    )
                time.sleep(0.5)
    return reports


def stop_containers(
    engine: Engine,
    targets: Sequence[tuple[str, str, Optional[int]]],
    progress: Progress,
    *,
    kill: Optional[threading.Event] = None,
    action: str = "stop",
) -> None:
    """Stop (or restart) ``(id, name, timeout)`` containers in parallel; ``kill`` set = SIGKILL the rest."""
    kill = kill or threading.Event()

    def one(cid: str, name: str, timeout: Optional[int]) -> None:
        progress.update("Container", name, "Stopping" if action == "stop" else "Restarting")
        if action == "restart":
            engine.restart(cid, timeout)
            progress.update("Container", name, "Started")
            return
        engine.stop(cid, timeout)
        progress.update("Container", name, "Killed" if kill.is_set() else "Stopped")

    threads = [threading.Thread(target=one, args=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    killed = False
    while any(t.is_alive() for t in threads):
        if kill.is_set() and not killed:
            killed = True
            for cid, _, _ in targets:
                engine.kill(cid)
        for thread in threads:
            thread.join(0.1)


def in_dependency_order(
    services: Sequence[str],
    first: dict[str, list[str]],
    action: Callable[[str], None],
    *,
    parallel: Optional[int] = None,
) -> None:
    """Run ``action(service)`` for each service once the services ``first[service]`` are done.

    Independent services run at once (at most ``parallel``); the first error stops what has not
    started yet and is raised.
    """
    done = {name: threading.Event() for name in services}
    failed = threading.Event()
    errors: list[BaseException] = []
    slots = threading.BoundedSemaphore(parallel or len(services) or 1)

    def run(name: str) -> None:
        try:
            for other in first.get(name, ()):
                if other in done:
                    while not done[other].wait(POLL):
                        if failed.is_set():
                            return
            if failed.is_set():
                return
            with slots:
                action(name)
            done[name].set()
        except BaseException as exc:  # noqa: BLE001 - raised by the caller, in order
            errors.append(exc)
            failed.set()

    threads = [threading.Thread(target=run, args=(name,), daemon=True, name=f"order-{name}") for name in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def run_down(
    engine: Engine,
    down: P.DownPlan,
    progress: Progress,
    *,
    timeout: Optional[int] = None,
    parallel: Optional[int] = None,
) -> None:
    """Stop and remove the plan's containers, dependents before what they depend on and independent
    services at once (as compose does), then its networks and volumes."""
    groups: dict[str, list[P.ObservedContainer]] = {}
    for container in down.containers:
        groups.setdefault(container.service, []).append(container)

    def stop_service(service: str) -> None:
        group = groups[service]
        running = [(c.id, c.name, timeout) for c in group if c.state in ("running", "restarting", "paused")]
        stop_containers(engine, running, progress)
        for c in group:
            progress.update("Container", c.name, "Removing")
            engine.remove(c.id, force=True, volumes=True)
            progress.update("Container", c.name, "Removed")

    in_dependency_order(list(groups), down.after, stop_service, parallel=parallel)
    for name in down.networks:  # one still used by a container the plan keeps stays, as in compose
        progress.update("Network", name, "Removing")
        progress.update("Network", name, "Removed" if engine.remove_network(name) else IN_USE)
    for name in down.volumes:
        progress.update("Volume", name, "Removing")
        progress.update("Volume", name, "Removed" if engine.remove_volume(name) else IN_USE)


def restart_services(
    engine: Engine,
    project: Optional[Project],
    project_name: str,
    services: Sequence[str],
    progress: Progress,
    *,
    timeout: Optional[int] = None,
    parallel: Optional[int] = None,
) -> list[str]:
    """Restart the services' containers in dependency order (dependents with ``restart: true`` too)."""
    found = [observed_container(c) for c in engine.containers(project_name)]
    chosen = list(services) or sorted({c.service for c in found})
    if project is not None:
        unknown = [s for s in chosen if s not in project.services]
        if unknown:
            raise StartFailed(f"no such service: {', '.join(unknown)}")
        grow = True
        while grow:  # a dependency restarting restarts dependents that asked for it
            grow = False
            for name in project.services:
                if name not in chosen and any(d.restart and d.service in chosen for d in P.dependencies(project, name)):
                    chosen.append(name)
                    grow = True
        chosen = P.start_order(project, chosen)
        declared = {name: P.dependencies(project, name) for name in chosen}
    else:  # known by its containers only (-p NAME): their depends_on labels say the same, as compose reads them
        labelled = {c.service: list(c.dependencies) for c in found}
        grow = True
        while grow:
            grow = False
            for name, dep_list in labelled.items():
                if name not in chosen and any(d.restart and d.service in chosen for d in dep_list):
                    chosen.append(name)
                    grow = True
        declared = {name: labelled.get(name, []) for name in chosen}
    deps = {name: [d for d in declared[name] if d.service in chosen] for name in chosen}
    names = {c.id: c.name for c in found}
    done = []

    def restart_service(service: str) -> None:
        # a dependency restarted just before must meet its condition again (healthy...) first
        for dep in deps[service]:
            ids = [c.id for c in found if c.service == dep.service]
            if ids:
                _await_condition(engine, dep, ids, names, service)
        targets = [(c.id, c.name, timeout) for c in found if c.service == service]
        if targets:
            stop_containers(engine, targets, progress, action="restart")
            done.append(service)

    in_dependency_order(
        chosen, {name: [d.service for d in deps[name]] for name in chosen}, restart_service, parallel=parallel
    )
    return [name for name in chosen if name in done]


def _await_condition(
    engine: Engine, dep: P.Dependency, ids: list[str], names: dict[str, str], service: str, timeout: float = 300.0
) -> None:
    deadline = _deadline(timeout)
    while not _condition_met(engine, dep, ids, names):
        if _expired(deadline):
            report = "\n".join(failure_report(engine, cid, names.get(cid, cid[:12])) for cid in ids)
            raise HealthFailed(
                f"timed out waiting for {dep.service} ({dep.condition}) before restarting {service}", report
            )
        time.sleep(POLL)
