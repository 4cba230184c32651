"""Commands: ``up``, ``down``, ``ps``, ``logs``, ``restart``, ``status`` (the project on a Docker Engine).

``up`` runs the same policy check as ``validate`` first and creates nothing when it finds an
error; it then launches through the Docker Engine API with compose's names and labels, so
``docker compose -p NAME ps/logs/down`` see the same project.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import click

from supervisor.cli.base import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    compose_options,
    fail,
    handle_errors,
    load_options_from,
    load_project_or_exit,
    logs_compose_options,
    main,
    top_level_option,
)
from supervisor.compose.model import ComposeError, LoadOptions, Project

if TYPE_CHECKING:
    from supervisor.runtime.progress import Progress

__all__ = ["up_command", "down_command", "ps_command", "logs_command", "restart_command", "status_command"]


def _engine():
    from supervisor.runtime.engine import Engine

    return Engine()


def _json_lines() -> bool:
    """``--progress json``: every line on stderr is a JSON object, as compose writes them."""
    return top_level_option("progress") == "json"


def _note(text: str) -> None:
    """A line for the user on stderr (with --progress json: ``{"tail":true,"text":...}``)."""
    if _json_lines():
        from supervisor.runtime.progress import compose_json
        from supervisor.secrets import mask_text

        text = compose_json({"tail": True, "text": mask_text(text)})
    click.echo(text, err=True)


def _fail(message: str, code: int) -> NoReturn:
    """:func:`fail`; with --progress json the line is compose's ``{"error":true,"message":...}``."""
    if _json_lines():
        from supervisor.runtime.progress import compose_json
        from supervisor.secrets import mask_text

        click.echo(compose_json({"error": True, "message": mask_text(message.removeprefix("error: "))}), err=True)
        sys.exit(code)
    fail(message, code)


def _fail_runtime(exc: Exception) -> NoReturn:
    from supervisor.runtime.errors import HealthFailed, RuntimeFailure

    if isinstance(exc, HealthFailed) and exc.report:
        _note(exc.report)
    code = exc.exit_code if isinstance(exc, RuntimeFailure) else EXIT_FINDINGS
    _fail(f"error: {exc}", code)


def _warn(warning: str) -> None:
    """A load warning (``WARN[0000] text``); with --progress json compose's ``{"level":"warning",...}``."""
    if _json_lines():
        from supervisor.runtime.progress import Progress

        click.echo(Progress._json_message("warning: " + warning.removeprefix("WARN[0000] ")), err=True)
        return
    click.echo(warning, err=True)


def _load(options: LoadOptions) -> Project:
    """The project; unusable input exits 2 (with --progress json as compose's ``{"error":true,...}``)."""
    from supervisor.compose.loader import load_project

    try:
        project = load_project(options)
    except (ComposeError, OSError) as exc:
        _fail(f"error: {exc}", EXIT_USAGE)
    for warning in project.warnings:
        _warn(warning)
    return project


def _project_or_name(options: LoadOptions) -> tuple[Optional[Project], str]:
    """The loaded project; for ``down``/``ps``/``logs``/``restart -p NAME`` without ``-f``, just the name.

    As compose: ``-p NAME`` alone leaves the compose files of the folder aside (the project is what
    its containers' labels say), so a file that changed or broke since ``up`` changes nothing.
    """
    if options.project_name and not options.files:
        from supervisor.compose.discovery import check_project_name

        try:
            return None, check_project_name(options.project_name)
        except ComposeError as bad:
            _fail(f"error: {bad}", EXIT_USAGE)
    project = _load(options)
    return project, project.name


def _check_services(project: Optional[Project], services: tuple[str, ...]) -> None:
    """Refuse unknown SERVICE arguments before the Engine is contacted (exit 2, as compose refuses them)."""
    if project is None or not services:
        return
    unknown = [s for s in services if s not in project.services]
    if unknown:
        disabled = [s for s in unknown if s in project.disabled_services]
        hint = (
            f" ({', '.join(disabled)} disabled by profiles: add --profile)"
            if disabled
            else f"; services: {', '.join(project.services) or '(none)'}"
        )
        _fail(f"error: no such service: {', '.join(unknown)}{hint}", EXIT_USAGE)


def _check_running_services(name: str, running: set[str], services: tuple[str, ...]) -> None:
    """Without compose files, the project is what its containers say: refuse a service it has none of."""
    unknown = [s for s in services if s not in running]
    if unknown:
        have = f"its containers are of {', '.join(sorted(running))}" if running else "it has no containers"
        _fail(
            f"error: no such service: {', '.join(unknown)} (project {name}: {have}; "
            "without -f, services are known from the running containers)",
            EXIT_USAGE,
        )


def _progress() -> "Progress":
    """The progress display, as --progress and --ansi (before the command) ask (compose's rules)."""
    from supervisor.runtime.progress import Progress

    mode = top_level_option("progress") or "auto"
    ansi = top_level_option("ansi") or "auto"
    if mode == "tty" and ansi == "never":
        fail("error: can't use --progress tty while ANSI support is disabled; drop --ansi never", EXIT_USAGE)
    if mode == "plain" and ansi == "always":
        fail("error: can't use --progress plain while ANSI support is forced; drop --ansi always", EXIT_USAGE)
    if mode == "json":
        return Progress(json_lines=True)
    tty = {"tty": True, "plain": False}.get(mode)
    if ansi == "never":
        tty = False
    elif ansi == "always" and mode != "plain":
        tty = True
    return Progress(tty=tty, quiet=mode in ("quiet", "none"))


def _parallel() -> Optional[int]:
    value = top_level_option("parallel")
    if value is None:
        return None
    return 64 if value < 0 else max(1, value)  # -1: as many as the Engine takes; 64 bounds the threads


def _lock_wait(message: str) -> None:
    _note(message)


# --- up ---------------------------------------------------------------------------------------


@main.command("up", short_help="Validate, then create and start the containers.")
@compose_options
@click.argument("services", nargs=-1)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; print nothing but progress.")
@click.option("--wait", is_flag=True, help="Wait until services are healthy and the worker ingests (implies --detach).")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, max=10**9),
    default=None,
    metavar="SECONDS",
    help="Give up waiting after this many seconds (exit 1).",
)
@click.option("--build", is_flag=True, help="Build images before starting containers.")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if it's missing.")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if nothing changed.")
@click.option("--no-recreate", is_flag=True, help="Don't recreate containers that exist.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of services not in the files.")
@click.option("--no-deps", is_flag=True, help="Don't start the services the named ones depend on.")
@click.option(
    "--skip-worker-check", is_flag=True, help="With --wait, don't require the worker to report ingest progress."
)
@handle_errors
def up_command(
    services: tuple[str, ...],
    detach: bool,
    wait: bool,
    wait_timeout: Optional[float],
    build: bool,
    no_build: bool,
    force_recreate: bool,
    no_recreate: bool,
    remove_orphans: bool,
    no_deps: bool,
    skip_worker_check: bool,
    **kwargs: Any,
) -> None:
    """Validate, then create and start the project's containers (in place of `docker compose up`).

    Refuses (exit 1, nothing created) a configuration that `supervisor validate` refuses.

    \b
    Exit codes:
      0    started (with --wait: healthy, and the worker ingests)
      1    refused configuration, failed or timed-out health, failed Engine operation
      2    unusable input (compose file errors, unknown service, no Docker Engine)
      130  attached mode stopped with Ctrl-C
    """
    from supervisor.runtime import launcher as R
    from supervisor.runtime import orchestrate as O
    from supervisor.runtime.errors import RuntimeFailure
    from supervisor.runtime.preflight import preflight, render_findings

    if build and no_build:
        fail("error: --build and --no-build are incompatible", EXIT_USAGE)
    if force_recreate and no_recreate:
        fail("error: --force-recreate and --no-recreate are incompatible", EXIT_USAGE)
    started = time.monotonic()
    load_options = load_options_from(kwargs)
    project = _load(load_options)
    _check_services(project, services)
    findings, code = preflight(project, verdicts=load_options.verdicts)
    report = render_findings(findings)
    if report and (code != EXIT_OK or any(f.suppressed is None for f in findings)):
        click.echo(report, err=True)
    if code != EXIT_OK:
        fail("error: supervisor validate refuses this configuration; nothing was created", code)

    options = R.UpOptions(
        services=services,
        detach=detach or wait,
        wait=wait,
        wait_timeout=wait_timeout,
        build=build,
        no_build=no_build,
        force_recreate=force_recreate,
        no_recreate=no_recreate,
        remove_orphans=remove_orphans,
        no_deps=no_deps,
    )
    O.sigterm_as_interrupt()
    try:
        engine = _engine()
        with _progress() as progress:
            result = O.up(
                engine,
                project,
                options,
                progress,
                skip_worker_check=skip_worker_check,
                parallel=_parallel(),
                on_lock_wait=_lock_wait,
                started=started,
            )
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except RuntimeFailure as exc:
        _fail_runtime(exc)
    for name, health in result.worker.items():
        _note(f"worker {name}: {health.summary()}")
    if wait:
        _note(f"project {project.name}: ready in {time.monotonic() - started:.1f}s")
    if options.detach:
        return
    attached = O.attach(engine, result, on_line=click.echo, on_status=_note, progress=_progress)
    sys.exit(EXIT_INTERRUPTED if attached.interrupted else EXIT_OK)


# --- down -------------------------------------------------------------------------------------


@main.command("down", short_help="Stop and remove the containers and networks.")
@compose_options
@click.argument("services", nargs=-1)
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes declared in the files, too.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of services not in the files.")
@click.option(
    "-t",
    "--timeout",
    type=int,
    default=None,
    metavar="SECONDS",
    help="Shutdown timeout (default: each container's stop_grace_period).",
)
@handle_errors
def down_command(
    services: tuple[str, ...], volumes: bool, remove_orphans: bool, timeout: Optional[int], **kwargs: Any
) -> None:
    """Stop and remove the project's containers and networks (and volumes with -v); with SERVICE
    names, only their containers (a network still in use stays).

    Without compose files, -p NAME names the project.

    Exit 0 ok, 1 a failed Engine operation, 2 unusable input (compose file errors, no Docker Engine).
    """
    from supervisor.runtime import orchestrate as O
    from supervisor.runtime.errors import RuntimeFailure

    project, name = _project_or_name(load_options_from(kwargs))
    _check_services(project, services)
    try:
        engine = _engine()
        with _progress() as progress:
            O.down(
                engine,
                name,
                project,
                progress,
                volumes=volumes,
                remove_orphans=remove_orphans,
                timeout=timeout,
                parallel=_parallel(),
                services=services,
                on_lock_wait=_lock_wait,
            )
    except RuntimeFailure as exc:
        _fail_runtime(exc)


# --- ps ---------------------------------------------------------------------------------------


def _ports(info: dict[str, Any]) -> str:
    out = []
    for port in info.get("Ports") or []:
        if port.get("PublicPort"):
            out.append(f"{port.get('IP', '')}:{port['PublicPort']}->{port['PrivatePort']}/{port.get('Type', 'tcp')}")
        else:
            out.append(f"{port['PrivatePort']}/{port.get('Type', 'tcp')}")
    return ", ".join(dict.fromkeys(out))


def _ps_rows(engine: Any, name: str, services: tuple[str, ...], all_: bool) -> list[dict[str, Any]]:
    from supervisor.runtime.engine import observed_container

    rows = []
    for info in engine.containers(name, all=all_):
        seen = observed_container(info)
        if services and seen.service not in services:
            continue
        labels = info.get("Labels") or {}
        created = datetime.datetime.fromtimestamp(int(info.get("Created") or 0), datetime.timezone.utc)
        rows.append(
            {
                "ID": info.get("Id", "")[:12],
                "Name": seen.name,
                "Image": info.get("Image", ""),
                "Command": info.get("Command", ""),
                "Project": labels.get("com.docker.compose.project", name),
                "Service": seen.service,
                "Number": seen.number,
                "State": seen.state,
                "Health": seen.health or "",
                "Status": info.get("Status", ""),
                "CreatedAt": created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
                "Ports": _ports(info),
                "Publishers": [
                    {
                        "URL": p.get("IP", ""),
                        "TargetPort": p.get("PrivatePort"),
                        "PublishedPort": p.get("PublicPort", 0),
                        "Protocol": p.get("Type", "tcp"),
                    }
                    for p in info.get("Ports") or []
                ],
            }
        )
    rows.sort(key=lambda r: (r["Service"], r["Number"]))
    return rows


@main.command("ps", short_help="List the project's containers.")
@compose_options
@click.argument("services", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Show stopped containers too.")
@click.option("-q", "--quiet", is_flag=True, help="Only print container IDs.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table, or json (one object per line, as compose prints it).",
)
@handle_errors
def ps_command(services: tuple[str, ...], all_: bool, quiet: bool, fmt: str, **kwargs: Any) -> None:
    """List the project's containers (of the named services only, when given).

    Exit 0 ok, 2 unusable input (compose file errors, an unknown service, no Docker Engine).
    """
    from supervisor.runtime.errors import RuntimeFailure

    project, name = _project_or_name(load_options_from(kwargs))
    _check_services(project, services)
    try:
        engine = _engine()
        if project is None and services:
            from supervisor.runtime.engine import observed_container

            _check_running_services(
                name, {observed_container(c).service for c in engine.containers(name, all=True)}, services
            )
        rows = _ps_rows(engine, name, services, all_)
    except RuntimeFailure as exc:
        _fail_runtime(exc)
    if quiet:
        for row in rows:
            click.echo(row["ID"])
        return
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    headers = ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    table = [
        [
            r["Name"],
            r["Image"],
            '"' + r["Command"][:20] + ("…" if len(r["Command"]) > 20 else "") + '"',
            r["Service"],
            r["CreatedAt"],
            r["Status"],
            r["Ports"],
        ]
        for r in rows
    ]
    widths = [max([len(h)] + [len(str(row[i])) for row in table]) for i, h in enumerate(headers)]
    for row in [headers] + table:
        click.echo("   ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


# --- logs -------------------------------------------------------------------------------------


@main.command("logs", short_help="Show the containers' output.")
@logs_compose_options
@click.argument("services", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", metavar="N", help="Number of lines from the end (default: all).")
@click.option("--no-log-prefix", is_flag=True, help="Don't print the container name before each line.")
@handle_errors
def logs_command(services: tuple[str, ...], follow: bool, tail: str, no_log_prefix: bool, **kwargs: Any) -> None:
    """Show the output of the project's containers (-f follows; Ctrl-C stops following, exit 0).

    Exit 0 ok, 2 unusable input (compose file errors, an unknown service, no Docker Engine).
    """
    from supervisor.runtime.engine import observed_container
    from supervisor.runtime.errors import RuntimeFailure
    from supervisor.runtime.logs import LogMultiplexer

    if tail != "all" and not tail.lstrip("-").isdigit():
        fail(f"error: --tail: {tail!r} is not a number or 'all'", EXIT_USAGE)
    count = None if tail == "all" or int(tail) < 0 else int(tail)
    project, name = _project_or_name(load_options_from(kwargs))
    _check_services(project, services)
    try:
        engine = _engine()
        found = sorted((observed_container(c) for c in engine.containers(name)), key=lambda c: (c.service, c.number))
        if project is None:
            _check_running_services(name, {c.service for c in found}, services)
        from supervisor.runtime.orchestrate import log_label

        targets = [(c.id, log_label(name, c.name)) for c in found if not services or c.service in services]
        mux = LogMultiplexer(engine, targets, follow=follow, tail=count, prefix=not no_log_prefix)
        mux.run()
    except KeyboardInterrupt:
        return
    except RuntimeFailure as exc:
        _fail_runtime(exc)


# --- restart ----------------------------------------------------------------------------------


@main.command("restart", short_help="Restart the project's containers.")
@compose_options
@click.argument("services", nargs=-1)
@click.option(
    "-t",
    "--timeout",
    type=int,
    default=None,
    metavar="SECONDS",
    help="Shutdown timeout (default: each container's stop_grace_period).",
)
@handle_errors
def restart_command(services: tuple[str, ...], timeout: Optional[int], **kwargs: Any) -> None:
    """Restart the project's containers (dependencies first; dependents with restart: true follow).

    Exit 0 ok, 1 a failed Engine operation, 2 unusable input (compose file errors, an unknown
    service, no Docker Engine).
    """
    from supervisor.runtime import orchestrate as O
    from supervisor.runtime.errors import RuntimeFailure

    project, name = _project_or_name(load_options_from(kwargs))
    _check_services(project, services)
    try:
        engine = _engine()
        if project is None and services:
            from supervisor.runtime.engine import observed_container

            _check_running_services(
                name, {observed_container(c).service for c in engine.containers(name, all=True)}, services
            )
        with _progress() as progress:
            O.restart(
                engine,
                project,
                name,
                services,
                progress,
                timeout=timeout,
                parallel=_parallel(),
                on_lock_wait=_lock_wait,
            )
    except RuntimeFailure as exc:
        _fail_runtime(exc)


# --- status -----------------------------------------------------------------------------------


@main.command("status", short_help="The running stack next to its files: drift, cursor rows.")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
@click.option("--no-worker", is_flag=True, help="Don't ask the worker containers for their health report.")
@handle_errors
def status_command(fmt: str, no_worker: bool, **kwargs: Any) -> None:
    """The running stack next to its configuration: states, backfill variables, cursor rows, drift.

    Exit 0 ok (warnings allowed), 1 when an error finding remains (an unhealthy container, two
    running writers on one row), 2 unusable input (compose file errors, no Docker Engine).  An
    unreachable database is reported, not fatal.
    """
    from supervisor.policy.errors import PolicyError
    from supervisor.policy.sources import evaluate_sources
    from supervisor.runtime import status as T
    from supervisor.runtime.errors import RuntimeFailure
    from supervisor.runtime.health import is_worker_service
    from supervisor.runtime.launcher import worker_health

    def evaluate(checked: Project) -> Any:
        return evaluate_sources(checked, verdicts=verdicts)

    options = load_options_from(kwargs)
    verdicts = options.verdicts
    project = load_project_or_exit(options)
    try:
        engine = _engine()
        views = [T.container_view(engine.inspect(c["Id"])) for c in engine.containers(project.name)]
        rows, error = T.read_cursor_rows(engine, project, views)
        report = T.build_status(project, views, rows, evaluate=evaluate, cursor_error=error)
        desync = T.read_desync_rows(engine, project, views)
        if rows is not None:
            report.backfill = T.read_backfill_progress(engine, project, views)
        workers: dict[str, str] = {}
        if not no_worker:
            for view in views:
                svc = project.services.get(view.service)
                if (
                    svc is None
                    or view.state != "running"
                    or not is_worker_service(view.service, svc.config, svc.extensions)
                ):
                    continue
                health, raw = worker_health(engine, view.id)
                workers[view.name] = health.summary() if health else f"no report ({raw})"
    except RuntimeFailure as exc:
        _fail_runtime(exc)
    except PolicyError as exc:  # a malformed x-supervisor block: unusable input, as in validate
        fail(f"error: {exc}", EXIT_USAGE)
    from supervisor.secrets import redact, secret_values

    secrets = secret_values(project)  # values templates took from secret variables
    if fmt == "json":
        doc = report.to_json()
        doc["worker_health"] = workers
        doc["desynchronized"] = desync.to_json()
        click.echo(json.dumps(redact(doc, secrets), indent=2))
    else:
        _print_status(report, workers, secrets)
        _print_desync(desync, secrets)
    sys.exit(report.exit_code)


def _print_desync(desync: Any, secrets: frozenset[str] = frozenset()) -> None:
    """The repositories out of sync (``repo_sync``), after the rest of the status."""
    from supervisor.secrets import mask_text, redact

    def echo(line: str) -> None:
        click.echo(redact(mask_text(line), secrets))

    echo("\ndesynchronized repositories")
    if desync.rows is None:
        echo(f"  not read: {desync.error}")
        return
    if not desync.rows:
        echo("  none")
        return
    for row in desync.rows:
        attempts = f"{row.attempts} attempt{'' if row.attempts == 1 else 's'}"
        error = f", last error: {' '.join((row.last_error or '').split())[:200]}" if row.last_error else ""
        echo(f"  {row.did}: {row.state} ({row.reason or 'no reason'}) since {row.since or '-'}, {attempts}{error}")
    if desync.total > len(desync.rows):
        echo(f"  ... and {desync.total - len(desync.rows)} more")


def _print_status(report: Any, workers: dict[str, str], secrets: frozenset[str] = frozenset()) -> None:
    from supervisor.secrets import mask_text, mask_value, redact

    def echo(line: str) -> None:
        click.echo(redact(mask_text(line), secrets))

    echo(f"project {report.project}")
    for svc in report.services:
        impl = f" ({svc.implementation})" if svc.implementation else ""
        echo(f"\n{svc.service}{impl}")
        if not svc.containers:
            echo("  no container")
        for c in svc.containers:
            health = f", {c.health}" if c.health else ""
            echo(f"  {c.name}: {c.state}{health}")
            if c.name in workers:
                echo(f"    worker: {workers[c.name]}")
        for var in svc.variables:
            mark = "  DRIFT" if var.drift else ""
            running = "unset" if var.running is None else mask_value(var.name, var.running)
            configured = "unset" if var.configured is None else mask_value(var.name, var.configured)
            echo(f"    {var.name}: running {running}, files {configured} [{var.origin}]{mark}")
        writes = ", ".join(f'{w.role} -> "{w.cursor}"' for w in svc.running_writers) or "nothing"
        echo(f"    writes: {writes}")
    echo("\nfirehose_cursor")
    if report.cursors is None:
        echo(f"  not read: {report.cursor_error}")
    elif not report.cursors:
        echo("  no rows yet")
    else:
        for row, writers in report.cursors:
            who = ", ".join(f"{w.service} ({w.role})" for w in writers) or "no running writer"
            shown = row.to_json()
            echo(
                f"  {row.service}: cursor {shown['cursor'] or '-'}, last event {shown['last_event_time'] or '-'}, "
                f"updated {shown['updated_at']} by {who}"
            )
    if report.backfill is not None:
        echo("\nbackfill crawl")
        echo(f"  {report.backfill.text()}")
    if report.findings:
        echo("\nfindings")
        for finding in report.findings:
            echo(f"  {finding.severity} {finding.code}: {finding.message}")
