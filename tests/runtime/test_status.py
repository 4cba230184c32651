"""``status``: the running stack against the files, through the real policy (no Docker needed)."""

from __future__ import annotations

from datetime import datetime

import pytest

from supervisor.policy.sources import evaluate_sources as evaluate
from supervisor.runtime import spec as S
from supervisor.runtime import status as T
from supervisor.runtime.preflight import preflight

from .helpers import project_from

STACK = """
services:
  db:
    image: postgres:16
    environment: {POSTGRES_USER: appview, POSTGRES_PASSWORD: secret, POSTGRES_DB: appview}
  worker:
    x-supervisor: {implementation: supervisor-worker}
    image: appview-supervisor-worker:latest
    command: ["supervisor", "worker"]
    environment:
      DATABASE_URL: postgresql://appview:secret@db:5432/appview
      WORKER_ID: "0"
      BACKFILL_DAYS: ${BACKFILL_DAYS:-0}
  app:
    x-supervisor: {implementation: publicappview-typescript}
    image: appview-app:latest
    command: ["pm2-runtime", "start", "dist/index.js", "-i", "2"]
    environment:
      BACKFILL_DAYS: "0"
      FIREHOSE_ENABLED: "false"
"""


def views_of(project, **env_changes):
    """Container views as the Engine would show them for ``project``, with env overrides per service."""
    out = []
    for name in project.services:
        spec = S.container_spec(project, name, 1)
        env = dict(e.split("=", 1) for e in spec.body["Env"])
        env["PATH"] = "/usr/bin"
        env.update(env_changes.get(name, {}))
        out.append(
            T.ContainerView(
                id=f"id-{name}",
                name=spec.name,
                service=name,
                state="running",
                health="healthy",
                env=env,
                command=spec.body.get("Cmd"),
                entrypoint=None,
                config_hash=spec.config_hash,
            )
        )
    return out


@pytest.fixture()
def stack(tmp_path):
    return project_from(tmp_path, STACK, environ={"BACKFILL_DAYS": "3"})


def test_matching_stack_has_no_findings(stack):
    rows = [T.CursorRow("backfill", "c1", datetime(2024, 1, 1), datetime(2024, 1, 2))]
    report = T.build_status(stack, views_of(stack), rows, evaluate=evaluate)
    assert report.findings == [] and report.exit_code == 0
    worker = next(s for s in report.services if s.service == "worker")
    days = next(v for v in worker.variables if v.name == "BACKFILL_DAYS")
    assert (days.running, days.configured, days.drift) == ("3", "3", False)
    assert "shell" in days.origin and days.origin.startswith("BACKFILL_DAYS=3")
    assert {(w.role, w.cursor) for w in worker.running_writers} >= {("backfill", "backfill")}
    [(row, owners)] = report.cursors
    assert [w.service for w in owners] == ["worker"]
    assert worker.audit_running and worker.audit_running[0]["backfill_enabled"] is True


def test_environment_drift_is_a_finding(stack):
    report = T.build_status(stack, views_of(stack, worker={"BACKFILL_DAYS": "0"}), [], evaluate=evaluate)
    codes = [f.code for f in report.findings]
    assert "RT001" in codes
    message = next(f.message for f in report.findings if "BACKFILL_DAYS" in f.message)
    assert '"0" in the container but "3" in the files' in message


def test_two_running_backfills_are_an_error(stack):
    # The app container runs with BACKFILL_DAYS=5 (someone changed it by hand): two writers on "backfill".
    report = T.build_status(stack, views_of(stack, app={"BACKFILL_DAYS": "5"}), [], evaluate=evaluate)
    collision = [f for f in report.findings if f.code == "RT004"]
    assert collision and '"backfill"' in collision[0].message
    assert report.exit_code == 1


def test_config_drift_and_stopped_service(stack):
    views = views_of(stack)
    views[0].config_hash = "stale"
    views[1].state = "exited"
    report = T.build_status(stack, views, None, evaluate=evaluate, cursor_error="db down")
    codes = sorted(f.code for f in report.findings)
    assert codes == ["RT002", "RT003"]
    assert report.cursors is None and report.to_json()["firehose_cursor_error"] == "db down"


def test_cursor_row_without_writer(stack):
    rows = [T.CursorRow("old-name", None, None, datetime(2024, 1, 1))]
    report = T.build_status(stack, views_of(stack), rows, evaluate=evaluate)
    assert [f.code for f in report.findings] == ["RT005"]


def test_database_target_from_database_url(stack):
    assert T.database_target(stack) == ("db", "appview", "secret", "appview")


def test_parse_cursor_rows():
    text = "backfill\t123\t2024-01-01T00:00:00\t2024-01-02T00:00:00\nfirehose\t\t\t2024-01-02T00:00:00\n"
    assert T.parse_cursor_rows(text) == [
        T.CursorRow("backfill", "123", datetime(2024, 1, 1), datetime(2024, 1, 2)),
        T.CursorRow("firehose", None, None, datetime(2024, 1, 2)),
    ]


def test_preflight_refuses_two_backfills(tmp_path):
    project = project_from(
        tmp_path, STACK.replace('BACKFILL_DAYS: "0"', 'BACKFILL_DAYS: "7"'), environ={"BACKFILL_DAYS": "3"}
    )
    findings, code = preflight(project)
    assert code == 1 and any(f.code == "SV001" for f in findings)


def test_repository_stacks_validate_clean(tmp_path):
    from supervisor.compose.loader import load_project
    from supervisor.compose.model import LoadOptions

    from .helpers import REPO

    for files in (["compose/docker-compose.yml"], ["compose/docker-compose.yml", "compose/docker-compose.dev.yml"]):
        project = load_project(LoadOptions(files=[str(REPO / f) for f in files], environ={}, cwd=str(REPO)))
        findings, code = preflight(project)
        assert code == 0, [f.message for f in findings]


def test_drift_messages_mask_secret_values(tmp_path):
    stack = project_from(
        tmp_path,
        """
services:
  worker:
    x-supervisor: {implementation: supervisor-worker}
    image: w
    command: ["supervisor", "worker"]
    environment:
      WORKER_ID: "0"
      BACKFILL_CURSOR_SERVICE: ${CURSOR_TOKEN:-backfill}
""",
        environ={},
    )
    views = views_of(stack, worker={"BACKFILL_CURSOR_SERVICE": "postgres://u:hunter2@h/db"})
    report = T.build_status(stack, views, [], evaluate=evaluate)
    drift = [f.message for f in report.findings if f.code == "RT001"]
    assert drift and all("hunter2" not in m for m in drift), drift
