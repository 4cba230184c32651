"""The engine on projects built directly: detection, PM2, replicas, each rule, suppression."""

import pytest

from supervisor.compose.model import EnvValue, Location, Origin, Substitution
from supervisor.policy.commands import effective_argv, parse_dockerfile, pm2_plan
from supervisor.policy.errors import ExtensionError
from supervisor.policy.findings import exit_code
from tests.policy.builders import FILE, codes, evaluate_project, from_shell, literal, project, service

PM2 = ["pm2-runtime", "start", "dist/index.js", "-i", "4"]
PY = ["python", "unified_worker.py"]


def run(*services, **kw):
    return evaluate_project(project(*services, **kw), root="/proj")


def backfillers(ev):
    return sorted({w.service for w in ev.writers if w.spec.role == "backfill"})


@pytest.mark.parametrize(
    "kwargs,expected,clue",
    [
        ({"command": ["supervisor", "worker"]}, "supervisor-worker", "supervisor worker"),
        ({"command": ["python", "-m", "supervisor", "worker"]}, "supervisor-worker", "supervisor worker"),
        ({"command": PY}, "publicappview-python", "unified_worker.py"),
        ({"command": ["sh", "-c", "exec python /app/unified_worker.py"]}, "publicappview-python", "unified_worker.py"),
        ({"command": PM2}, "publicappview-typescript", "pm2-runtime"),
        ({"command": ["node", "dist/index.js"]}, "publicappview-typescript", "node"),
        ({"image": "ghcr.io/example/publicappview:1"}, "publicappview-typescript", "image"),
        ({"image": "appview-supervisor-worker:latest"}, "supervisor-worker", "image"),
        ({"image": "python-unified-worker"}, "publicappview-python", "image"),
        ({"image": "postgres:16"}, "postgres", "PostgreSQL"),
        ({"image": "busybox:1"}, None, "no clue"),
        # the command is a stronger clue than the image
        ({"image": "appview-app", "command": ["supervisor", "worker"]}, "supervisor-worker", "supervisor worker"),
    ],
)
def test_detection(kwargs, expected, clue):
    ev = run(service("s", {"BACKFILL_DAYS": "0"}, **kwargs))
    decision = ev.services["s"]
    assert (decision.profile.name if decision.profile else None) == expected
    assert clue in decision.detection.clue


def test_explicit_implementation_wins_and_unknown_name_warns():
    ev = run(service("s", {"BACKFILL_DAYS": "2"}, command=PM2, implementation="publicappview-python"))
    assert ev.services["s"].profile.name == "publicappview-python"
    ev = run(service("s", {"BACKFILL_DAYS": "2"}, implementation="nodejs-thing"))
    assert codes(ev.findings) == ["SV008"] and "'nodejs-thing'" in ev.findings[0].message


def test_dockerfile_clues_and_command():
    text = 'FROM node:20\n# comment\nCMD ["pm2-runtime", "start", "dist/index.js", \\\n  "-i", "3"]\n'
    cmd = parse_dockerfile(text)
    assert cmd.cmd == ["pm2-runtime", "start", "dist/index.js", "-i", "3"]
    assert effective_argv({}, cmd) == cmd.cmd
    assert effective_argv({"command": ["node", "x.js"]}, cmd) == ["node", "x.js"]
    assert effective_argv({"entrypoint": ["tini", "--"]}, cmd) == ["tini", "--"]  # entrypoint clears CMD
    shell = parse_dockerfile('FROM x\nENTRYPOINT ["/init"]\nCMD python unified_worker.py\n')
    assert shell.entrypoint == ["/init"] and shell.cmd == ["/bin/sh", "-c", "python unified_worker.py"]
    svc = service("web", {"BACKFILL_DAYS": "2"})
    ev = evaluate_project(project(svc), dockerfiles={"web": text})
    assert ev.services["web"].profile.name == "publicappview-typescript"
    assert ev.services["web"].pm2.instances == 3


@pytest.mark.parametrize(
    "argv,used,instances,cpu",
    [
        (["pm2-runtime", "start", "app.js"], True, 1, False),
        (["pm2-runtime", "start", "app.js", "-i", "4"], True, 4, False),
        (["pm2-runtime", "start", "app.js", "--instances", "3"], True, 3, False),
        (["pm2-runtime", "start", "app.js", "--instances=5"], True, 5, False),
        (["pm2-runtime", "start", "app.js", "-i6"], True, 6, False),
        (["pm2-runtime", "start", "app.js", "-i", "max"], True, 2, True),
        (["pm2-runtime", "start", "app.js", "-i", "0"], True, 2, True),
        (["pm2-runtime", "start", "app.js", "-i", "-1"], True, 2, True),
        (["sh", "-c", "npm run migrate && pm2-runtime start dist/index.js -i 2"], True, 2, False),
        (["/usr/local/bin/pm2-runtime", "ecosystem.config.js"], True, 1, False),
        (["node", "dist/index.js"], False, 1, False),
    ],
)
def test_pm2_plan(argv, used, instances, cpu):
    plan = pm2_plan(argv)
    assert (plan.used, plan.instances, plan.cpu_dependent) == (used, instances, cpu)


def test_pm2_assigns_pm_id_and_one_primary_per_container():
    ev = run(service("app", {"BACKFILL_DAYS": "2", "pm_id": "1"}, command=PM2))
    units = ev.services["app"].units
    assert [u.label for u in units] == ["instance 0", "instances 1..3"]
    assert units[0].env["pm_id"] == "0" and units[0].enabled["backfill"]
    assert not units[1].enabled["backfill"] and units[1].count == 3
    assert codes(ev.findings) == ["SV009"]


def test_pm_id_without_pm2_is_honoured():
    ev = run(service("app", {"BACKFILL_DAYS": "2", "pm_id": "1"}, command=["node", "dist/index.js"]))
    assert backfillers(ev) == [] and codes(ev.findings) == ["SV006"]


def test_empty_pm_id_falls_through_to_node_app_instance():
    ev = run(
        service("app", {"BACKFILL_DAYS": "2", "pm_id": "", "NODE_APP_INSTANCE": "1"}, command=["node", "dist/index.js"])
    )
    assert backfillers(ev) == []
    ev = run(
        service("app", {"BACKFILL_DAYS": "2", "pm_id": "", "NODE_APP_INSTANCE": ""}, command=["node", "dist/index.js"])
    )
    assert backfillers(ev) == ["app"]


@pytest.mark.parametrize(
    "days,runs",
    [
        ("7d", True),
        ("0x10", True),
        ("", False),
        ("-1", False),
        (" 3", True),
        ("abc", False),
        ("0", False),
        (None, False),
    ],
)
def test_typescript_backfill_days(days, runs):
    env = {} if days is None else {"BACKFILL_DAYS": days}
    ev = run(service("app", env, command=PM2))
    assert (backfillers(ev) == ["app"]) is runs
    assert not [f for f in ev.findings if f.code == "SV003"]  # parseInt never crashes


@pytest.mark.parametrize(
    "days,runs,crash",
    [
        ("7", True, False),
        ("-1", True, False),
        ("-2", False, False),
        ("1_0", True, False),
        (" 2 ", True, False),
        ("7d", False, True),
        ("", False, True),
        ("0", False, False),
    ],
)
def test_python_backfill_days(days, runs, crash):
    ev = run(service("w", {"BACKFILL_DAYS": days}, command=PY))
    assert (backfillers(ev) == ["w"]) is runs
    assert ("SV003" in codes(ev.findings)) is crash


def test_firehose_live_consumer_rule():
    ev = run(service("app", {"FIREHOSE_ENABLED": "true"}, command=PM2))
    live = [w for w in ev.writers if w.spec.role == "live"]
    assert len(live) == 1 and live[0].unit.label == "instance 0" and live[0].cursor == "firehose"
    ev = run(service("app", {"FIREHOSE_ENABLED": "TRUE"}, command=PM2))
    assert not [w for w in ev.writers if w.spec.role == "live"]
    ev = run(service("app", {"FIREHOSE_ENABLED": "true", "NODE_APP_INSTANCE": "00"}, command=PM2))
    assert sum(w.count for w in ev.writers) == 4 and codes(ev.findings) == ["SV001"]


def test_collision_message_names_values_origins_and_fixes():
    ev = run(
        service("python-unified-worker", {"BACKFILL_DAYS": from_shell("BACKFILL_DAYS", "2")}, command=PY),
        service("app", {"BACKFILL_DAYS": "1"}, command=PM2, line=30),
        environment={"BACKFILL_DAYS": ("2", Origin("shell"))},
    )
    [collision] = [f for f in ev.findings if f.code == "SV001"]
    assert collision.severity == "error" and exit_code(ev.findings) == 1
    assert "BACKFILL_DAYS=2 from shell via ${BACKFILL_DAYS:-0} at docker-compose.yml:12:9" in collision.message
    assert "BACKFILL_DAYS=1 at docker-compose.yml:32:7" in collision.message
    assert "set BACKFILL_DAYS=0 on app (docker-compose.yml:32:7)" in collision.message
    assert collision.location.line == 12 and collision.related[0][0].line == 32


def test_dotenv_origin_in_message():
    ev = run(
        service("w", {"BACKFILL_DAYS": from_shell("BACKFILL_DAYS", "2", kind="dotenv")}, command=PY),
        service("app", {"BACKFILL_DAYS": from_shell("BACKFILL_DAYS", "2", kind="dotenv", line=31)}, command=PM2),
    )
    assert "BACKFILL_DAYS=2 from .env:3 via ${BACKFILL_DAYS:-0}" in ev.findings[0].message


def test_renamed_cursor_avoids_collision():
    worker = service(
        "w",
        {
            "BACKFILL_DAYS": "2",
            "BACKFILL_CURSOR_SERVICE": "backfill_python",
            "FIREHOSE_CURSOR_SERVICE": "firehose_python",
            "BACKFILL_BATCH_DELAY_MS": "0",
        },
        command=["supervisor", "worker"],
    )
    app = service("app", {"BACKFILL_DAYS": "2", "FIREHOSE_ENABLED": "true"}, command=PM2)
    ev = run(worker, app)
    assert codes(ev.findings) == [] and backfillers(ev) == ["app", "w"]
    same = service(
        "w", {"BACKFILL_CURSOR_SERVICE": "x", "FIREHOSE_CURSOR_SERVICE": "x"}, command=["supervisor", "worker"]
    )
    assert codes(run(same).findings) == ["SV003"]


def test_several_primaries():
    ev = run(service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY, replicas=2))
    assert [(f.code, f.severity) for f in ev.findings] == [("SV002", "error")]
    ev = run(service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "0"}, command=PY, replicas=2))
    assert [(f.code, f.severity) for f in ev.findings] == [("SV002", "warning")] and exit_code(ev.findings) == 0
    ev = run(service("w", {"WORKER_ID": "1", "BACKFILL_DAYS": "2"}, command=PY, replicas=3))
    assert codes(ev.findings) == ["SV006"]
    # replicas of the primary plus another program on the same row: both findings
    ev = run(
        service("w", {"BACKFILL_DAYS": "2"}, command=PY, replicas=2),
        service("app", {"BACKFILL_DAYS": "2"}, command=PM2),
    )
    assert codes(ev.findings) == ["SV001", "SV002"]


def test_zero_replicas_write_nothing():
    ev = run(
        service("w", {"BACKFILL_DAYS": "2"}, command=PY, replicas=0),
        service("app", {"BACKFILL_DAYS": "2"}, command=PM2),
    )
    assert "SV001" not in codes(ev.findings)


def test_relay_window_setting():
    svc = service("w", {"BACKFILL_DAYS": "5", "BACKFILL_BATCH_DELAY_MS": "0"}, command=["supervisor", "worker"])
    assert codes(run(svc).findings) == ["SV005"]
    assert codes(run(svc, extensions={"x-supervisor": {"relay_window_hours": 168}}).findings) == []
    assert codes(run(service("w", {"BACKFILL_DAYS": "-1"}, command=PY)).findings) == ["SV005"]
    assert codes(run(service("a", {"BACKFILL_DAYS": "30"}, command=PM2)).findings) == []  # not replay-only


def test_shell_value_unused_and_unknown():
    ev = run(service("w", {"BACKFILL_DAYS": "2"}, command=PY), environment={"BACKFILL_DAYS": ("30", Origin("shell"))})
    assert (
        codes(ev.findings) == ["SV007"]
        and "BACKFILL_DAYS=30 from the shell reaches no service" in ev.findings[0].message
    )
    ev = run(service("w", {}, command=PY), environment={"BACKFILL_DAYS": ("3", Origin("shell"))})
    assert codes(ev.findings) == ["SV007"] and "has no BACKFILL_DAYS entry" in ev.findings[0].message
    ev = run(service("x", {"BACKFILL_DAYS": "3"}, image="example/thing"))
    assert codes(ev.findings) == ["SV008"]


def test_secret_values_are_masked_in_messages():
    # BACKFILL_DAYS takes a secret variable's value, which SV003 quotes: it must show masked
    days = EnvValue(
        "BACKFILL_DAYS",
        "hunter2",
        Origin("environment", Location(FILE, 7, 9)),
        raw="${POSTGRES_PASSWORD}",
        substitutions=[Substitution("POSTGRES_PASSWORD", "hunter2", Origin("shell"))],
    )
    ev = run(service("w", {"BACKFILL_DAYS": days, "DATABASE_URL": "postgresql://u:hunter2@db/x"}, command=PY))
    assert codes(ev.findings) == ["SV003"]
    assert 'BACKFILL_DAYS is "****"' in ev.findings[0].message
    assert all("hunter2" not in f.message for f in ev.findings)


def test_suppression_by_service_and_top_level():
    a = service("w", {"BACKFILL_DAYS": "2"}, command=PY, extension={"ignore": {"SV001": "migrating"}})
    b = service("app", {"BACKFILL_DAYS": "2"}, command=PM2)
    ev = run(a, b)
    [f] = ev.findings
    assert f.code == "SV001" and f.suppressed == "migrating" and exit_code(ev.findings) == 0
    ev = run(
        service("w", {"BACKFILL_DAYS": "7d"}, command=PY),
        extensions={"x-supervisor": {"ignore": {"start-failure": "known, fixed in the next release"}}},
    )
    assert ev.findings[0].suppressed and exit_code(ev.findings) == 0


@pytest.mark.parametrize(
    "block,match",
    [
        ({"ignore": {"SV001": ""}}, "needs a reason"),
        ({"ignore": {"SV001": "   "}}, "needs a reason"),
        ({"ignore": {"SV999": "x"}}, "unknown finding code 'SV999'"),
        ({"ignore": {"SV000": "x"}}, "cannot be ignored"),
        ({"implementaton": "x"}, "Additional properties"),
        ("nope", "must be a mapping"),
    ],
)
def test_bad_extension_blocks(block, match):
    svc = service("w", {}, command=PY)
    svc.extensions["x-supervisor"] = block
    with pytest.raises(ExtensionError, match=match):
        run(svc)


def test_bad_top_level_extension():
    with pytest.raises(ExtensionError, match="relay_window_hours"):
        run(service("w", {}, command=PY), extensions={"x-supervisor": {"relay_window_hours": -1}})


def test_unset_declared_variable():
    ev = run(service("w", {"BACKFILL_DAYS": literal("BACKFILL_DAYS", None)}, command=PY))
    assert backfillers(ev) == [] and codes(ev.findings) == []
