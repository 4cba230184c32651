"""One call per command: ``up``, ``down``, ``restart`` and the attached mode of ``up``.

Each function takes the resolved project (or its name), the Engine and a progress display, takes
the project lock, and sequences :mod:`~supervisor.runtime.plan` (what to do) and
:mod:`~supervisor.runtime.launcher` (doing it). The command line only parses, calls one of them,
renders the result and exits.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from typing import Callable, Optional

from supervisor.compose.model import Project
from supervisor.runtime import launcher as R
from supervisor.runtime import plan as P
from supervisor.runtime.engine import Engine
from supervisor.runtime.lock import ProjectLock
from supervisor.runtime.logs import LogMultiplexer
from supervisor.runtime.progress import Progress

__all__ = ["up", "down", "restart", "attach", "remaining", "log_label", "sigterm_as_interrupt"]

#: The least time a later wait gets once an earlier one used up most of ``--wait-timeout``.
MIN_WAIT = 1.0


def remaining(total: Optional[float], started: float, now: float) -> Optional[float]:
    """What is left of ``total`` seconds (``--wait-timeout``) begun at ``started``: None without a
    limit, never less than :data:`MIN_WAIT` (a wait that starts late still looks once)."""
    if total is None:
        return None
    return max(MIN_WAIT, total - (now - started))


def sigterm_as_interrupt() -> None:
    """SIGTERM stops like Ctrl-C (a process supervisor stopping ``up`` gets the graceful stop)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def up(
    engine: Engine,
    project: Project,
    options: R.UpOptions,
    progress: Progress,
    *,
    skip_worker_check: bool = False,
    parallel: Optional[int] = None,
    on_lock_wait: Optional[Callable[[str], None]] = None,
    started: Optional[float] = None,
    clock: Callable[[], float] = time.monotonic,
) -> R.UpResult:
    """Build/pull, plan against what runs, apply, and with ``options.wait`` wait for health and for
    the workers' ingest; :class:`~supervisor.runtime.errors.RuntimeFailure` when any step fails.

    ``started`` is when the user's command began (``--wait-timeout`` counts from there).
    """
    started = clock() if started is None else started
    total = options.wait_timeout
    with ProjectLock(project.name, on_wait=on_lock_wait):
        selected = P.select_services(project, options.services, with_deps=not options.no_deps)
        images = R.prepare_images(engine, project, selected, options, progress)
        observed = engine.observe(project.name, tuple(images))
        plan = P.plan_up(
            project,
            observed,
            options.services,
            force_recreate=options.force_recreate,
            no_recreate=options.no_recreate,
            remove_orphans=options.remove_orphans,
            with_deps=not options.no_deps,
            api_version=engine.api_version,
        )
        for warning in plan.warnings:
            progress.message(f"warning: {warning}")
        result = R.apply_plan(engine, project, plan, progress, timeout=total, parallel=parallel)
        if options.wait:
            R.wait_for_services(
                engine, project, result, progress, timeout=remaining(total, started, clock()), total=total
            )
            if not skip_worker_check:
                result.worker = R.wait_for_worker(
                    engine, project, result, progress, timeout=remaining(total, started, clock()), total=total
                )
    return result


def orphan_services(project: Project, observed: P.Observed) -> list[str]:
    """Services of running containers that the files do not declare (enabled or not)."""
    known = set(project.services) | set(project.disabled_services)
    return sorted({c.service for c in observed.containers if c.service not in known})


def down(
    engine: Engine,
    name: str,
    project: Optional[Project],
    progress: Progress,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
    timeout: Optional[int] = None,
    parallel: Optional[int] = None,
    services: tuple[str, ...] = (),
    on_lock_wait: Optional[Callable[[str], None]] = None,
) -> P.DownPlan:
    """Stop and remove the project's containers and networks (volumes too with ``volumes``); with
    ``services``, only their containers.

    Without files (``project`` None) a named service may be one already removed: when none of them
    has a container, nothing happens (exit 0, compose's message).
    """
    with ProjectLock(name, on_wait=on_lock_wait):
        observed = engine.observe(name)
        if services and project is None and not {c.service for c in observed.containers} & set(services):
            progress.message(f'info: Any of the services [{" ".join(services)}] not running in project "{name}"')
            return P.DownPlan([], [], [])
        plan = P.plan_down(
            name, observed, project=project, volumes=volumes, remove_orphans=remove_orphans, services=services
        )
        if project is not None and not remove_orphans:
            strays = orphan_services(project, observed)
            if strays:
                progress.message(
                    f"warning: found orphan containers ({', '.join(strays)}); run with --remove-orphans to remove them"
                )
        declared = [
            item
            for section in ("networks",) + (("volumes",) if volumes else ())
            for item in ((project.config.get(section) or {}).values() if project is not None else ())
            if not (isinstance(item, dict) and item.get("external"))
        ]
        # compose has something to do (and so no warning) for every network (and volume with -v)
        # the files declare, found or not
        if not (services or plan.containers or plan.networks or plan.volumes or declared):
            found = f'No resource found to remove for project "{name}".'
            progress.message(f"warning: {found}", compose_text=f"Warning: {found}")  # compose's own words
        R.run_down(engine, plan, progress, timeout=timeout, parallel=parallel)
    return plan


def restart(
    engine: Engine,
    project: Optional[Project],
    name: str,
    services: tuple[str, ...],
    progress: Progress,
    *,
    timeout: Optional[int] = None,
    parallel: Optional[int] = None,
    on_lock_wait: Optional[Callable[[str], None]] = None,
) -> list[str]:
    """Restart the services' containers in dependency order; returns the services restarted."""
    with ProjectLock(name, on_wait=on_lock_wait):
        return R.restart_services(engine, project, name, services, progress, timeout=timeout, parallel=parallel)


def log_label(project: str, container: str) -> str:
    """``SERVICE-N``: the container name without the project, as compose prefixes log lines."""
    return container[len(project) + 1 :] if container.startswith(project + "-") else container


@dataclasses.dataclass
class Attached:
    """How the attached mode ended: every container stopped by itself, or Ctrl-C stopped them."""

    interrupted: bool
    killed: bool = False


def attach(
    engine: Engine,
    result: R.UpResult,
    *,
    on_line: Callable[[str], None],
    on_status: Callable[[str], None],
    progress: Callable[[], Progress] = Progress,
    since: Optional[int] = None,
) -> Attached:
    """Stream every container's output until they all stop; Ctrl-C stops them, a second Ctrl-C kills.

    ``on_line`` gets each formatted log line, ``on_status`` the lines compose prints around them
    ("Attaching to ...", "Gracefully stopping...").
    """
    targets = [(cid, result.names[cid]) for ids in result.containers.values() for cid in ids]
    stop_timeouts = {step.spec.name: step.spec.stop_timeout for svc in result.plan.services for step in svc.steps}
    on_status(f"Attaching to {', '.join(name for _, name in targets)}")
    since = int(time.time()) - 1 if since is None else since
    shown = [(cid, log_label(result.plan.project, name)) for cid, name in targets]
    mux = LogMultiplexer(engine, shown, follow=True, since=since)
    try:
        mux.start()
        for name, line in mux.lines():
            on_line(mux.format(name, line))
        return Attached(interrupted=False)
    except KeyboardInterrupt:
        pass
    on_status("Gracefully stopping... (press Ctrl+C again to force)")
    kill = threading.Event()
    stops = [(cid, name, stop_timeouts.get(name)) for cid, name in targets]
    with progress() as shown_progress:
        worker = threading.Thread(
            target=R.stop_containers, args=(engine, stops, shown_progress), kwargs={"kill": kill}, daemon=True
        )
        worker.start()
        while worker.is_alive():
            try:
                worker.join(0.2)
            except KeyboardInterrupt:
                if not kill.is_set():
                    on_status("Killing...")
                kill.set()
    return Attached(interrupted=True, killed=kill.is_set())
