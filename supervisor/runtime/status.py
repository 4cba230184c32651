"""``status``: the running stack next to its configuration (pure, apart from the policy call).

The driver gathers each container's inspect view and the ``firehose_cursor`` rows; this module
evaluates the policy twice, once on the files and once on what actually runs (the containers'
real environment and command), and reports the difference.  Drift between the running stack
and the files is a finding: the files are no longer the truth about who backfills.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from supervisor.compose.model import EnvValue, Origin, Project
from supervisor.cursors import CursorRow, moment, parse_cursor_line
from supervisor.policy.findings import Finding, Severity
from supervisor.runtime import spec as S
from supervisor.secrets import mask_value

__all__ = [
    "STATUS_RULES",
    "ContainerView",
    "CursorRow",
    "VariableView",
    "WriterView",
    "ServiceStatus",
    "StatusFinding",
    "StatusReport",
    "container_view",
    "running_project",
    "database_target",
    "parse_cursor_rows",
    "read_cursor_rows",
    "CURSOR_QUERY",
    "build_status",
    "DesyncRow",
    "DesyncReport",
    "DESYNC_QUERY",
    "DESYNC_LIMIT",
    "parse_desync_rows",
    "read_desync_rows",
]


# Findings of ``status``, beside the policy's own SVxxx codes: their metadata lives in the policy's
# rule registry (supervisor/policy/rules/rt00N_*.py), and they are policy Findings.
def _status_rules() -> dict[str, str]:
    from supervisor.policy.rules import registry

    return {code: r.name for code, r in registry().items() if code.startswith("RT")}


STATUS_RULES = _status_rules()

CURSOR_QUERY = (
    "SELECT service, coalesce(cursor, ''), coalesce(to_char(last_event_time, 'YYYY-MM-DD\"T\"HH24:MI:SS'), ''), "
    "to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM firehose_cursor ORDER BY service"
)

#: The crawl backfill's progress (worker/crawl.py): repositories by state, records written.
BACKFILL_QUERY = "SELECT state, count(*), coalesce(sum(records), 0) FROM backfill_repo GROUP BY state ORDER BY state"


@dataclasses.dataclass(frozen=True)
class CrawlProgress:
    """The crawl backfill's repositories by state (from ``backfill_repo``)."""

    states: dict[str, int]
    records: int

    @property
    def total(self) -> int:
        return sum(self.states.values())

    @property
    def finished(self) -> int:
        """Repositories with nothing left to do: done, or refused by their host."""
        return sum(n for state, n in self.states.items() if state not in ("pending", "fetching", "failed"))

    @property
    def unreachable(self) -> int:
        """Repositories whose host the crawl gave up (``host_unreachable``): the backfill is incomplete."""
        return self.states.get("host_unreachable", 0)

    @property
    def given_up(self) -> int:
        """Repositories that failed every pass the crawl allows (``given_up``): the backfill is incomplete."""
        return self.states.get("given_up", 0)

    def text(self) -> str:
        by_state = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        text = f"{self.finished}/{self.total} repositories finished ({by_state}), {self.records} records written"
        missing = []
        if self.unreachable:
            missing.append(f"{self.unreachable} repositories on unreachable hosts")
        if self.given_up:
            missing.append(f"{self.given_up} repositories given up after failing")
        if missing:
            text += f"; incomplete: {', '.join(missing)} (tried again at the worker's next start)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "finished": self.finished,
            "unreachable": self.unreachable,
            "given_up": self.given_up,
            "complete": self.finished == self.total and not self.unreachable and not self.given_up,
            "by_state": dict(self.states),
            "records": self.records,
        }


def parse_backfill_rows(text: str) -> CrawlProgress:
    """Rows printed by ``psql -At -F '\\t'`` for :data:`BACKFILL_QUERY`."""
    states: dict[str, int] = {}
    records = 0
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        states[parts[0]] = int(parts[1])
        records += int(parts[2])
    return CrawlProgress(states, records)


@dataclasses.dataclass
class ContainerView:
    """The parts of a container's inspect document that ``status`` uses."""

    id: str
    name: str
    service: str
    state: str
    health: Optional[str]
    env: dict[str, str]
    command: Optional[list[str]]
    entrypoint: Optional[list[str]]
    config_hash: str
    started_at: str = ""


@dataclasses.dataclass
class VariableView:
    """One variable an implementation reads: in the container, and in the files."""

    name: str
    running: Optional[str]
    configured: Optional[str]
    origin: str  # the configured value and where it came from (as ``audit`` says it)

    @property
    def drift(self) -> bool:
        return self.running != self.configured


@dataclasses.dataclass
class WriterView:
    """An enabled writer: service, role (backfill, firehose...) and cursor row."""

    service: str
    role: str
    cursor: str
    processes: int


@dataclasses.dataclass
class ServiceStatus:
    """One service: containers, the variables its implementation reads, and its writers."""

    service: str
    implementation: Optional[str]
    containers: list[ContainerView]
    variables: list[VariableView]
    running_writers: list[WriterView]
    configured_writers: list[WriterView]
    audit_running: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # audit rows of what runs
    audit_files: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # audit rows of the files


class StatusFinding(Finding):
    """A difference between the running stack and the files (or a policy finding on what runs), about one service."""

    def __init__(self, code: str, severity: Severity, message: str, service: Optional[str] = None):
        super().__init__(code, severity, message, services=[service] if service else [])

    @property
    def service(self) -> Optional[str]:
        return self.services[0] if self.services else None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["service"] = self.service
        return out


@dataclasses.dataclass
class StatusReport:
    """Everything ``status`` shows."""

    project: str
    services: list[ServiceStatus]
    cursors: Optional[list[tuple[CursorRow, list[WriterView]]]]  # None: the database was not reachable
    cursor_error: str
    findings: list[StatusFinding]
    #: The crawl backfill's repositories (None: no crawl recorded, or not read).
    backfill: Optional[CrawlProgress] = None

    @property
    def exit_code(self) -> int:
        """1 when an error finding remains, else 0."""
        return 1 if any(f.severity == "error" for f in self.findings) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "services": [
                {
                    "service": s.service,
                    "implementation": s.implementation,
                    "containers": [
                        {"name": c.name, "state": c.state, "health": c.health, "started_at": c.started_at}
                        for c in s.containers
                    ],
                    "variables": [
                        {
                            "name": v.name,
                            "running": mask_value(v.name, v.running),
                            "configured": mask_value(v.name, v.configured),
                            "origin": v.origin,
                            "drift": v.drift,
                        }
                        for v in s.variables
                    ],
                    "running_writers": [dataclasses.asdict(w) for w in s.running_writers],
                    "configured_writers": [dataclasses.asdict(w) for w in s.configured_writers],
                    "audit_running": s.audit_running,
                    "audit_files": s.audit_files,
                }
                for s in self.services
            ],
            "firehose_cursor": None
            if self.cursors is None
            else [
                {**row.to_json(), "writers": [dataclasses.asdict(w) for w in writers]} for row, writers in self.cursors
            ],
            "firehose_cursor_error": self.cursor_error or None,
            "backfill_crawl": None if self.backfill is None else self.backfill.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


def _env_list(items: Optional[list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if sep:
            out[name] = value
    return out


def container_view(info: dict[str, Any]) -> ContainerView:
    """A :class:`ContainerView` from ``GET /containers/{id}/json``."""
    config = info.get("Config") or {}
    state = info.get("State") or {}
    labels = config.get("Labels") or {}
    return ContainerView(
        id=info.get("Id", ""),
        name=str(info.get("Name", "")).lstrip("/"),
        service=labels.get("com.docker.compose.service", ""),
        state=state.get("Status", "unknown"),
        health=(state.get("Health") or {}).get("Status"),
        env=_env_list(config.get("Env")),
        command=config.get("Cmd"),
        entrypoint=config.get("Entrypoint"),
        config_hash=labels.get("com.docker.compose.config-hash", ""),
        started_at=str(state.get("StartedAt", ""))[:19],
    )


def running_project(project: Project, containers: list[ContainerView]) -> Project:
    """The project as it runs: each service's environment and command taken from its first container.

    Variables the image sets (``PATH``...) are kept too; the policy only reads the ones it knows.
    """
    running = copy.copy(project)
    running.config = copy.deepcopy(project.config)
    running.services = {}
    first: dict[str, ContainerView] = {}
    for view in containers:
        if view.state in ("running", "restarting") and view.service not in first:
            first[view.service] = view
    for name, service in project.services.items():
        found = first.get(name)
        if found is None:
            continue
        view = found
        svc = copy.copy(service)
        svc.config = copy.deepcopy(service.config)
        origin = Origin("environment", None, f"container {view.name} (Engine inspect)")
        svc.environment = {k: EnvValue(k, v, origin) for k, v in view.env.items()}
        svc.config["environment"] = dict(view.env)
        if view.command is not None:
            svc.config["command"] = list(view.command)
        running.services[name] = svc
        running.config.setdefault("services", {})[name] = svc.config
    return running


def database_target(project: Project) -> Optional[tuple[str, str, str, str]]:
    """``(service, user, password, database)`` of the project's PostgreSQL, from a ``DATABASE_URL``."""
    for service in project.services.values():
        url = (service.environment.get("DATABASE_URL") or EnvValue("", None, Origin("unset"))).value
        if not url or not url.startswith(("postgres://", "postgresql://")):
            continue
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host in project.services:
            return (
                host,
                unquote(parts.username or "postgres"),
                unquote(parts.password or ""),
                unquote(parts.path.lstrip("/") or parts.username or "postgres"),
            )
    return None


def parse_cursor_rows(text: str) -> list[CursorRow]:
    """Rows printed by ``psql -At -F '\\t'`` for :data:`CURSOR_QUERY`."""
    rows = []
    for line in text.splitlines():
        row = parse_cursor_line(line.split("\t"))
        if row is not None:
            rows.append(row)
    return rows


def read_cursor_rows(
    engine: Any, project: Project, containers: list[ContainerView]
) -> tuple[Optional[list[CursorRow]], str]:
    """The ``firehose_cursor`` rows, read with ``psql`` inside the project's running database container.

    ``engine`` runs a command in a container (:meth:`supervisor.runtime.engine.Engine.exec`).
    Returns ``(rows, "")``, or ``(None, why)`` when the rows cannot be read; no table yet is no rows.
    """
    target = database_target(project)
    if target is None:
        return None, "no service has a postgresql:// DATABASE_URL naming a service of the project"
    service, user, password, database = target
    db = next((v for v in containers if v.service == service and v.state == "running"), None)
    if db is None:
        return None, f"database service {service} is not running"
    code, output = _psql(engine, db, user, password, database, CURSOR_QUERY)
    if code != 0:
        if "does not exist" in output:
            return [], ""
        return None, f"psql in {db.name} failed (exit {code}): {output.strip()[-300:]}"
    return parse_cursor_rows(output), ""


def _psql(engine: Any, db: ContainerView, user: str, password: str, database: str, query: str) -> tuple[int, str]:
    """Run ``query`` with ``psql -At`` in the database container: ``(exit code, output)``."""
    cmd = [
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        user,
        "-d",
        database,
        "-At",
        "-F",
        "\t",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        query,
    ]
    code, output = engine.exec(db.id, cmd, timeout=15, env={"PGPASSWORD": password})
    return code, output


def read_backfill_progress(engine: Any, project: Project, containers: list[ContainerView]) -> Optional[CrawlProgress]:
    """The crawl backfill's progress read with ``psql`` in the database container (None: no crawl
    table yet, or the database cannot be read; :func:`read_cursor_rows` says why)."""
    target = database_target(project)
    if target is None:
        return None
    service, user, password, database = target
    db = next((v for v in containers if v.service == service and v.state == "running"), None)
    if db is None:
        return None
    cmd = ["psql", "-h", "127.0.0.1", "-U", user, "-d", database, "-At", "-F", "\t", "-c", BACKFILL_QUERY]
    code, output = engine.exec(db.id, cmd, timeout=15, env={"PGPASSWORD": password})
    if code != 0:
        return None
    progress = parse_backfill_rows(output)
    return progress if progress.total else None


def _writers(evaluation: Any) -> list[WriterView]:
    return [WriterView(w.service, w.spec.role, w.cursor, w.count) for w in evaluation.writers]


def build_status(
    project: Project,
    containers: list[ContainerView],
    rows: Optional[list[CursorRow]],
    *,
    evaluate: Callable[[Project], Any],
    cursor_error: str = "",
) -> StatusReport:
    """Compare what runs with the files; ``evaluate`` is the policy (``Project -> Evaluation``)."""
    from supervisor.policy.audit import audit_rows
    from supervisor.policy.provenance import describe_value

    configured = evaluate(project)
    running = evaluate(running_project(project, containers))
    audit_files = _audit_by_service(audit_rows(configured))
    audit_running = _audit_by_service(audit_rows(running))
    findings: list[StatusFinding] = []
    services: list[ServiceStatus] = []
    by_service: dict[str, list[ContainerView]] = {}
    for view in containers:
        by_service.setdefault(view.service, []).append(view)

    for name in project.services:
        views = sorted(by_service.get(name, []), key=lambda v: v.name)
        decision = configured.services.get(name)
        profile = getattr(decision, "profile", None)
        config_svc = project.services[name]
        variables: list[VariableView] = []
        up = [v for v in views if v.state in ("running", "restarting")]
        if profile is not None and up:
            for var in profile.variables:
                record = config_svc.environment.get(var)
                variables.append(
                    VariableView(
                        var,
                        up[0].env.get(var),
                        record.value if record is not None else None,
                        describe_value(var, record, project.working_dir),
                    )
                )
        for var in variables:
            if var.drift:
                findings.append(
                    StatusFinding(
                        "RT001",
                        "warning",
                        f"{up[0].name}: {var.name} is {_show(mask_value(var.name, var.running))} in the container "
                        f"but {_show(mask_value(var.name, var.configured))} "
                        f"in the files ({var.origin}); run `supervisor up` to apply the files",
                        name,
                    )
                )
        # compose hashes a service:X reference as X's first container id (by name, as compose sorts)
        config = project.config["services"][name]
        references = {
            ref: min((v for v in containers if v.service == ref), key=lambda v: v.name).id
            for ref in S.referenced_services(config)
            if any(v.service == ref for v in containers)
        }
        digest = S.config_hash(config, references)
        for view in views:
            if view.config_hash and view.config_hash != digest:
                findings.append(
                    StatusFinding(
                        "RT002",
                        "warning",
                        f"{view.name} was created from another version of the configuration; "
                        "`supervisor up` recreates it",
                        name,
                    )
                )
        if not up:
            state = ", ".join(f"{v.name} {v.state}" for v in views) or "no container"
            findings.append(StatusFinding("RT003", "warning", f"service {name} is not running ({state})", name))
        for view in up:
            if view.health == "unhealthy":
                findings.append(StatusFinding("RT003", "error", f"{view.name} is unhealthy", name))
        files_rows = audit_files.get(name, [])
        running_rows = audit_running.get(name, []) if up else []
        if running_rows and _decision(running_rows) != _decision(files_rows):
            findings.append(
                StatusFinding(
                    "RT001",
                    "warning",
                    f"service {name}: what runs decides {_describe(running_rows)}, the files decide "
                    f"{_describe(files_rows)}; run `supervisor up` to apply the files",
                    name,
                )
            )
        services.append(
            ServiceStatus(
                name,
                profile.name if profile is not None else None,
                views,
                variables,
                [w for w in _writers(running) if w.service == name and up],
                [w for w in _writers(configured) if w.service == name],
                running_rows,
                files_rows,
            )
        )

    running_writers = [w for s in services for w in s.running_writers]
    by_cursor: dict[str, list[WriterView]] = {}
    for writer in running_writers:
        by_cursor.setdefault(writer.cursor, []).append(writer)
    for cursor, writers in sorted(by_cursor.items()):
        processes = sum(w.processes for w in writers)
        if processes > 1:
            who = ", ".join(
                f"{w.service} ({w.role}, {w.processes} process{'es' if w.processes > 1 else ''})" for w in writers
            )
            findings.append(
                StatusFinding(
                    "RT004", "error", f'firehose_cursor row "{cursor}" has {processes} running writers: {who}'
                )
            )

    cursors = None
    if rows is not None:
        cursors = []
        for row in rows:
            owners = by_cursor.get(row.service, [])
            cursors.append((row, owners))
            if not owners:
                findings.append(
                    StatusFinding(
                        "RT005",
                        "info",
                        f'firehose_cursor row "{row.service}" (updated {moment(row.updated_at)}) has no running writer: '
                        "it was written by a stopped service or another program",
                    )
                )
    return StatusReport(project.name, services, cursors, cursor_error, findings)


def _audit_by_service(rows: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.service, []).append(row.to_json())
    return out


def _decision(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            r.get("group"),
            r.get("meaning"),
            r.get("backfill_enabled"),
            r.get("cursor_service"),
            r.get("live_consumer"),
            r.get("live_cursor"),
        )
        for r in rows
    ]


def _describe(rows: list[dict[str, Any]]) -> str:
    parts = []
    for r in rows:
        who = f"{r.get('group')}: " if r.get("group") else ""
        backfill = (
            f'backfill {r.get("meaning")} on "{r.get("cursor_service")}"'
            if r.get("backfill_enabled")
            else f"no backfill ({r.get('meaning')})"
        )
        parts.append(who + backfill)
    return "; ".join(parts) or "nothing"


def _show(value: Optional[str]) -> str:
    return "unset" if value is None else f'"{value}"'


# -- repositories out of sync (the worker's ``repo_sync`` table) ---------------------------------

DESYNC_LIMIT = 50  #: repositories listed at most (the total is always counted)

#: One line of JSON: the total, and the first :data:`DESYNC_LIMIT` repositories not synchronized
#: (longest out of sync first). psql's text output would be broken by a tab or newline in an error.
DESYNC_QUERY = (
    "SELECT json_build_object('total', (SELECT count(*) FROM repo_sync WHERE state <> 'synchronized'),"
    " 'rows', coalesce((SELECT json_agg(r) FROM (SELECT did, state, reason,"
    " to_char(desynchronized_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since,"
    " attempts, last_error FROM repo_sync WHERE state <> 'synchronized'"
    f" ORDER BY desynchronized_at NULLS LAST, did LIMIT {DESYNC_LIMIT}) r), '[]'::json))"
)


@dataclasses.dataclass(frozen=True)
class DesyncRow:
    """A repository the worker is fetching again (or could not): one ``repo_sync`` row."""

    did: str
    state: str  #: ``desynchronized``, or what the host said of the account when a repair ended
    reason: Optional[str]  #: the check that broke the chain (``chain_gap``, ``proof_prev_data``...)
    since: Optional[str]  #: when it was marked, UTC RFC 3339
    attempts: int  #: repair attempts made
    last_error: Optional[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DesyncReport:
    """The repositories out of sync; ``rows`` None when they could not be read (``error`` says why)."""

    rows: Optional[list[DesyncRow]]
    total: int = 0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total if self.rows is not None else None,
            "repositories": None if self.rows is None else [row.to_json() for row in self.rows],
            "error": self.error or None,
        }


def parse_desync_rows(text: str) -> DesyncReport:
    """The report from psql's output of :data:`DESYNC_QUERY`."""
    try:
        doc = json.loads(text)
        rows = [
            DesyncRow(
                str(item["did"]),
                str(item["state"]),
                item.get("reason"),
                item.get("since"),
                int(item.get("attempts") or 0),
                item.get("last_error"),
            )
            for item in doc["rows"]
        ]
        return DesyncReport(rows, int(doc["total"]))
    except (ValueError, KeyError, TypeError) as exc:
        return DesyncReport(None, 0, f"unexpected repo_sync output ({exc.__class__.__name__}): {text.strip()[:200]}")


def read_desync_rows(engine: Any, project: Project, containers: list[ContainerView]) -> DesyncReport:
    """The ``repo_sync`` rows not synchronized, read with ``psql`` in the running database container
    (as :func:`read_cursor_rows`); no table yet (a worker before verification) is no rows."""
    target = database_target(project)
    if target is None:
        return DesyncReport(None, 0, "no service has a postgresql:// DATABASE_URL naming a service of the project")
    service, user, password, database = target
    db = next((v for v in containers if v.service == service and v.state == "running"), None)
    if db is None:
        return DesyncReport(None, 0, f"database service {service} is not running")
    code, output = _psql(engine, db, user, password, database, DESYNC_QUERY)
    if code != 0:
        if "does not exist" in output:
            return DesyncReport([], 0)
        return DesyncReport(None, 0, f"psql in {db.name} failed (exit {code}): {output.strip()[-300:]}")
    return parse_desync_rows(output)
