"""Small build trees of our own with the shape of each PublicAppView version, through the loader and the engine.

Each tree has a compose file, the app's Dockerfile / entrypoint script / package.json and the few
source lines that tell its version apart, and, in later versions, the Python services. The
expectations are what the program of that version does, not what the tool happens to say.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import LoadOptions
from supervisor.policy.audit import audit_rows
from supervisor.policy.sources import read_build_contexts
from tests.policy.builders import evaluate_project

# --- the pieces of a tree ---------------------------------------------------------------------

INDEX = {
    "none": "app.listen(port);\n",
    "every": "app.listen(port);\nimport('./services/backfill').then(({ svc }) => {\n  if (parseInt(process.env.BACKFILL_DAYS || '0') > 0) svc.start();\n});\n",
    "primary": (
        "app.listen(port);\nconst id = process.env.pm_id || process.env.NODE_APP_INSTANCE || '0';\n"
        "const isPrimaryWorker = id === '0';\nif (isPrimaryWorker) {\n  import('./services/backfill');\n}\n"
    ),
    "removed": "app.listen(port);\nconsole.log('[BACKFILL] the app does not backfill any more');\n",
}
ROUTES = {
    "every": "client.connect();\n",
    "inst0": "const n = parseInt(process.env.NODE_APP_INSTANCE || '0');\nif (n === 0) client.connect();\n",
    "optout": (
        "const n = parseInt(process.env.NODE_APP_INSTANCE || '0');\n"
        "const on = process.env.FIREHOSE_ENABLED !== 'false';\nif (on && n === 0) client.connect();\n"
    ),
    "optin": (
        "const n = parseInt(process.env.NODE_APP_INSTANCE || '0');\n"
        "const on = process.env.FIREHOSE_ENABLED === 'true';\nif (on && n === 0) client.connect();\n"
    ),
}
FIREHOSE_SAVES = "export async function tick(c) {\n  await storage.saveFirehoseCursor('firehose', c);\n}\n"
FIREHOSE_NO_SAVE = "export async function tick(c) {\n  log(c);\n}\n"

ENTRYPOINT = "#!/bin/sh\nset -e\nuntil npm run db:push; do sleep 2; done\necho starting\nexec pm2-runtime start dist/index.js -i {n} --name app\n"


def _package(build: str = "esbuild server/index.ts --bundle --platform=node --outfile=dist/index.js") -> str:
    return json.dumps(
        {
            "name": "app",
            "scripts": {
                "build": build,
                "start": "NODE_ENV=production node dist/index.js",
                "db:push": "drizzle-kit push",
            },
        },
        indent=2,
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _app(
    backfill: str,
    live: str,
    cmd: str,
    *,
    saves: bool = True,
    entrypoint: Optional[int] = None,
    build: Optional[str] = None,
) -> dict[str, str]:
    files = {
        "Dockerfile": f"FROM node:20 AS build\nWORKDIR /app\nCOPY . .\nRUN npm run build\n\nFROM node:20\nWORKDIR /app\n"
        f"COPY --from=build /app/dist ./dist\nENV BACKFILL_DAYS=0\nCMD {cmd}\n",
        "package.json": _package(build) if build else _package(),
        "server/index.ts": INDEX[backfill],
        "server/routes.ts": ROUTES[live],
        "server/services/firehose.ts": FIREHOSE_SAVES if saves else FIREHOSE_NO_SAVE,
    }
    if entrypoint is not None:
        files["docker-entrypoint.sh"] = ENTRYPOINT.replace("{n}", str(entrypoint))
    return files


PYTHON = {
    "workers/Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "-u", "relay_to_redis.py"]\n',
    "workers/Dockerfile.worker": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "-u", "redis_consumer_worker.py"]\n',
    "workers/Dockerfile.unified": "FROM python:3.11-slim\nWORKDIR /srv\nCOPY . /srv\nCMD python -u /srv/unified_worker.py\n",
    "workers/relay_to_redis.py": "import redis\n",
    "workers/redis_consumer_worker.py": "import redis\n",
    "workers/unified_worker.py": "import os\n",
    "bridge/Dockerfile": 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm run build\nCMD ["node", "dist/index.js"]\n',
    "bridge/package.json": json.dumps({"name": "constellation-client", "scripts": {"build": "tsc"}}),
    "bridge/src/index.ts": "export {};\n",
}
# firehose_consumer.py under its own name (the tree above uses another file name for one test)
PYTHON_REAL_NAMES = {
    **PYTHON,
    "workers/Dockerfile": PYTHON["workers/Dockerfile"].replace("relay_to_redis.py", "firehose_consumer.py"),
    "workers/firehose_consumer.py": "import redis\n",
}

APP_SERVICE = "  app:\n    build: .\n    environment:\n{env}\n"
PY_SERVICES = """  python-firehose:
    build: ./workers
  python-worker:
    build:
      context: ./workers
      dockerfile: Dockerfile.worker
    depends_on:
      app:
        condition: service_healthy
  constellation-bridge:
    build: ./bridge
  redis:
    image: redis:7-alpine
"""
BACKFILL_WORKER = """  python-backfill-worker:
    build:
      context: ./workers
      dockerfile: Dockerfile.unified
    environment:
      - BACKFILL_DAYS=${BACKFILL_DAYS:-0}
      - WORKER_ID=0
    depends_on:
      app:
        condition: service_healthy
"""


def _compose(app_env: list[str], extra: str = "") -> str:
    env = "\n".join(f"      - {e}" for e in app_env) or "      - PORT=5000"
    return "services:\n" + APP_SERVICE.format(env=env) + extra


PM2_CMD = '["sh", "-c", "npm run db:push && pm2-runtime start dist/index.js -i {n} --name app"]'

# version -> files of the tree
SHAPES: dict[str, dict[str, str]] = {
    "V01": {
        **_app("none", "every", '["sh", "-c", "npm run db:push && npm start"]', saves=False),
        "docker-compose.yml": _compose([]),
    },
    "V02": {
        **_app("none", "every", '["sh", "-c", "npm run db:push && node dist/index.js"]'),
        "docker-compose.yml": _compose([]),
    },
    "V03": {**_app("none", "every", PM2_CMD.replace("{n}", "6")), "docker-compose.yml": _compose([])},
    "V03max": {**_app("none", "every", PM2_CMD.replace("{n}", "max")), "docker-compose.yml": _compose([])},
    "V04": {**_app("none", "inst0", PM2_CMD.replace("{n}", "32")), "docker-compose.yml": _compose([])},
    "V05": {
        **_app("none", "inst0", PM2_CMD.replace("{n}", "32")),
        "docker-compose.yml": _compose(["BACKFILL_DAYS=${BACKFILL_DAYS:-0}"]),
    },
    "V06": {
        **_app("every", "inst0", PM2_CMD.replace("{n}", "32")),
        "docker-compose.yml": _compose(["BACKFILL_DAYS=${BACKFILL_DAYS:-2}"]),
    },
    "V07": {
        **_app("primary", "inst0", PM2_CMD.replace("{n}", "32")),
        "docker-compose.yml": _compose(["BACKFILL_DAYS=${BACKFILL_DAYS:-2}"]),
    },
    "V09": {
        **_app("primary", "optout", '["./docker-entrypoint.sh"]', entrypoint=32),
        "docker-compose.yml": _compose(["BACKFILL_DAYS=${BACKFILL_DAYS:-2}"]),
    },
    "V10": {
        **_app("primary", "optout", '["./docker-entrypoint.sh"]', entrypoint=32),
        **PYTHON_REAL_NAMES,
        "docker-compose.yml": _compose(["BACKFILL_DAYS=${BACKFILL_DAYS:-2}"], PY_SERVICES),
    },
    "V11": {
        **_app("primary", "optin", '["./docker-entrypoint.sh"]', entrypoint=32),
        **PYTHON_REAL_NAMES,
        "docker-compose.yml": _compose(
            ["BACKFILL_DAYS=${BACKFILL_DAYS:-2}", "FIREHOSE_ENABLED=${FIREHOSE_ENABLED:-false}"], PY_SERVICES
        ),
    },
    "V11b": {
        **_app("primary", "optin", '["./docker-entrypoint.sh"]', entrypoint=32),
        **PYTHON_REAL_NAMES,
        "docker-compose.yml": _compose(
            ["BACKFILL_DAYS=${BACKFILL_DAYS:-2}", "FIREHOSE_ENABLED=${FIREHOSE_ENABLED:-false}"],
            PY_SERVICES + BACKFILL_WORKER,
        ),
    },
    "V15": {
        **_app("removed", "optin", '["./docker-entrypoint.sh"]', entrypoint=32),
        **PYTHON_REAL_NAMES,
        "docker-compose.yml": _compose(
            ["BACKFILL_DAYS=0", "FIREHOSE_ENABLED=${FIREHOSE_ENABLED:-false}"], PY_SERVICES + BACKFILL_WORKER
        ),
        "docker-compose.dev.yml": "services:\n  python-backfill-worker:\n    environment:\n      - BACKFILL_DAYS=0\n",
    },
    "V14b": {
        **_app(
            "removed",
            "optin",
            '["./docker-entrypoint.sh"]',
            entrypoint=32,
            build="esbuild server/index.ts data-plane/server/index.ts --bundle --outdir=dist",
        ),
        **PYTHON_REAL_NAMES,
        "docker-compose.yml": _compose(
            ["BACKFILL_DAYS=0", "FIREHOSE_ENABLED=${FIREHOSE_ENABLED:-false}"], PY_SERVICES + BACKFILL_WORKER
        ),
    },
    # variations: a renamed service, another start command and instance count, a Redis producer of another name
    "renamed": {
        **_app("every", "inst0", '["./docker-entrypoint.sh"]', entrypoint=32),
        **PYTHON,
        "docker-compose.yml": 'services:\n  web:\n    build: .\n    command: ["pm2-runtime", "start", "dist/index.js", "-i", "3"]\n'
        "    environment:\n      - BACKFILL_DAYS=${BACKFILL_DAYS:-1}\n"
        "  indexer:\n    build:\n      context: ./workers\n      dockerfile: Dockerfile.unified\n"
        "    environment:\n      - BACKFILL_DAYS=${BACKFILL_DAYS:-0}\n    deploy:\n      replicas: 2\n",
    },
}


def _evaluate(tmp_path: Path, shape: str, env: dict[str, str], files: tuple[str, ...] = ("docker-compose.yml",)):
    _write(tmp_path, SHAPES[shape])
    project = load_project(
        LoadOptions(files=[str(tmp_path / f) for f in files], environ={"PATH": "/usr/bin", **env}, cwd=str(tmp_path))
    )
    return evaluate_project(project, contexts=read_build_contexts(project), root=str(tmp_path))


def _rows(evaluation) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for writer in evaluation.writers:
        rows = out.setdefault(writer.service, {})
        rows[writer.cursor] = rows.get(writer.cursor, 0) + writer.count
    return out


# (shape, environment, extra files, writers {service: {row: processes}}, finding codes, program of each service)
CASES: list[tuple[str, dict[str, str], tuple[str, ...], dict[str, dict[str, int]], list[str], dict[str, str]]] = [
    ("V01", {}, (), {}, [], {"app": "publicappview-typescript"}),
    ("V02", {"BACKFILL_DAYS": "7"}, (), {"app": {"firehose": 1}}, [], {}),
    ("V03", {}, (), {"app": {"firehose": 6}}, ["SV001"], {}),
    ("V03max", {}, (), {"app": {"firehose": 2}}, ["SV001"], {}),
    ("V04", {}, (), {"app": {"firehose": 1}}, [], {}),
    ("V05", {"BACKFILL_DAYS": "3"}, (), {"app": {"firehose": 1}}, ["SV006"], {}),
    ("V06", {}, (), {"app": {"backfill": 32, "firehose": 1}}, ["SV001"], {}),
    ("V06", {"BACKFILL_DAYS": "0"}, (), {"app": {"firehose": 1}}, [], {}),
    ("V07", {}, (), {"app": {"backfill": 1, "firehose": 1}}, [], {}),
    ("V07", {"BACKFILL_DAYS": "-1"}, (), {"app": {"firehose": 1}}, ["SV006"], {}),
    ("V09", {"BACKFILL_DAYS": "7d"}, (), {"app": {"backfill": 1, "firehose": 1}}, [], {}),
    (
        "V10",
        {},
        (),
        {"app": {"backfill": 1, "firehose": 1}},
        [],
        {
            "python-firehose": "publicappview-firehose-consumer",
            "python-worker": "publicappview-redis-consumer",
            "constellation-bridge": "constellation-client",
            "redis": "redis",
        },
    ),
    # FIREHOSE_ENABLED=false (the compose default) does not stop the TypeScript backfill of this version
    ("V11", {}, (), {"app": {"backfill": 1}}, ["SV004"], {}),
    ("V11", {"FIREHOSE_ENABLED": "true"}, (), {"app": {"backfill": 1, "firehose": 1}}, [], {}),
    (
        "V11b",
        {"BACKFILL_DAYS": "3"},
        (),
        {"app": {"backfill": 1}, "python-backfill-worker": {"backfill": 1}},
        ["SV001", "SV004"],
        {"python-backfill-worker": "publicappview-python"},
    ),
    ("V15", {"BACKFILL_DAYS": "2"}, (), {"python-backfill-worker": {"backfill": 1}}, [], {}),
    ("V15", {"BACKFILL_DAYS": "7d"}, (), {}, ["SV003"], {}),
    ("V15", {"BACKFILL_DAYS": "5"}, ("docker-compose.dev.yml",), {}, ["SV007"], {}),
    (
        "V15",
        {"FIREHOSE_ENABLED": "true", "BACKFILL_DAYS": "-1"},
        (),
        {"app": {"firehose": 1}, "python-backfill-worker": {"backfill": 1}},
        ["SV005"],
        {},
    ),
    ("V14b", {"BACKFILL_DAYS": "2"}, (), {}, ["SV006", "SV012"], {}),
    # two replicas of the Python primary: their backfill is off, but both would run it
    (
        "renamed",
        {},
        (),
        {"web": {"backfill": 3, "firehose": 1}},
        ["SV001", "SV002"],
        {"web": "publicappview-typescript", "indexer": "publicappview-python"},
    ),
    (
        "renamed",
        {"BACKFILL_DAYS": "1"},
        (),
        {"web": {"backfill": 3, "firehose": 1}, "indexer": {"backfill": 2}},
        ["SV001", "SV002"],
        {},
    ),
]


@pytest.mark.parametrize(
    "shape,env,extra,writers,finding_codes,programs",
    CASES,
    ids=[f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[1].items()) or 'default'}-{len(c[2])}" for c in CASES],
)
def test_version_shape(tmp_path, shape, env, extra, writers, finding_codes, programs):
    evaluation = _evaluate(tmp_path, shape, env, ("docker-compose.yml",) + extra)
    assert _rows(evaluation) == writers
    assert sorted({f.code for f in evaluation.findings}) == finding_codes
    for name, profile in programs.items():
        assert evaluation.services[name].profile.name == profile
    # programs that write no cursor row are never the subject of a finding
    quiet = {n for n, d in evaluation.services.items() if d.profile is not None and not d.profile.writers}
    assert not [f for f in evaluation.findings if quiet & set(f.services)]
    # every service that builds is recognised by the program its chain reaches, not guessed
    assert not [n for n, d in evaluation.services.items() if "build" in d.service.config and d.detection.guessed]
    if shape == "V14b":
        (unused,) = [f for f in evaluation.findings if f.code == "SV006"]
        assert "python-backfill-worker never starts (waits for app (service_healthy)" in unused.message


def test_collision_names_the_processes_and_where_their_count_came_from(tmp_path):
    _write(tmp_path, SHAPES["V06"])
    SHAPES_V06_ENTRY = dict(SHAPES["V06"])
    SHAPES_V06_ENTRY.update(_app("every", "inst0", '["./docker-entrypoint.sh"]', entrypoint=32))
    _write(tmp_path, SHAPES_V06_ENTRY)
    project = load_project(LoadOptions(files=[str(tmp_path / "docker-compose.yml")], environ={}, cwd=str(tmp_path)))
    evaluation = evaluate_project(project, contexts=read_build_contexts(project), root=str(tmp_path))
    (finding,) = [f for f in evaluation.findings if f.code == "SV001"]
    assert "32 writers" in finding.message
    assert "app instances 1..31 x31 (docker-entrypoint.sh:5: -i 32)" in finding.message


def test_audit_shows_program_processes_chain_and_variant(tmp_path):
    evaluation = _evaluate(tmp_path, "V10", {})
    rows = {(r.service, r.group): r for r in audit_rows(evaluation)}
    app0 = rows[("app", "instance 0")]
    assert app0.program == "node server/index.ts"
    assert app0.variant == "primary-backfill-live-opt-out" and app0.variant_chosen_by == "markers"
    assert sum(r.process_count for (s, _), r in rows.items() if s == "app") == 32
    assert app0.process_count_origin == "docker-entrypoint.sh:5: -i 32"
    kinds = [step["kind"] for step in app0.chain]
    assert kinds == ["dockerfile", "script", "manager", "build", "program"]
    assert app0.chain[1]["location"] == "docker-entrypoint.sh:5"
    producer = rows[("python-firehose", "")]
    assert producer.program == "python firehose_consumer.py" and producer.meaning == "no backfill"
    assert not producer.guessed and producer.writes == []


def test_image_env_default_is_under_the_compose_environment(tmp_path):
    evaluation = _evaluate(tmp_path, "V04", {"BACKFILL_DAYS": "9"})
    unit = evaluation.services["app"].units[0]
    # the Dockerfile's ENV applies: the compose file of V04 does not pass BACKFILL_DAYS
    assert unit.env["BACKFILL_DAYS"] == "0"
    assert "image default" in unit.synthetic["BACKFILL_DAYS"] and "Dockerfile:9" in unit.synthetic["BACKFILL_DAYS"]


def test_declared_variant_overrides_the_markers(tmp_path):
    shape = dict(SHAPES["V07"])
    shape["docker-compose.yml"] = shape["docker-compose.yml"].replace(
        "    build: .\n",
        "    build: .\n    x-supervisor:\n      implementation: publicappview-typescript\n      variant: backfill-every-instance\n",
    )
    SHAPES["V07-declared"] = shape
    try:
        evaluation = _evaluate(tmp_path, "V07-declared", {})
    finally:
        del SHAPES["V07-declared"]
    assert evaluation.services["app"].variant.how == "x-supervisor.variant"
    assert _rows(evaluation) == {"app": {"backfill": 32, "firehose": 1}}


def test_sources_matching_no_variant_use_the_newest_with_a_finding(tmp_path):
    shape = dict(SHAPES["V07"])
    shape["server/routes.ts"] = "client.connect(process.env.FIREHOSE_ENABLED);\n"  # no known gate
    SHAPES["odd"] = shape
    try:
        evaluation = _evaluate(tmp_path, "odd", {})
    finally:
        del SHAPES["odd"]
    decision = evaluation.services["app"]
    assert decision.variant.variant.name == decision.profile.variants[0].name
    (finding,) = [f for f in evaluation.findings if f.code == "SV011"]
    assert "server/routes.ts" in finding.message and finding.severity == "warning"


def test_secrets_in_a_start_command_are_masked(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": 'FROM node:20\nCMD ["sh", "-c", "psql postgresql://u:hunter2@db/x && exec node dist/index.js"]\n',
            "docker-compose.yml": "services:\n  app:\n    build: .\n",
        },
    )
    project = load_project(LoadOptions(files=[str(tmp_path / "docker-compose.yml")], environ={}, cwd=str(tmp_path)))
    evaluation = evaluate_project(project, contexts=read_build_contexts(project), root=str(tmp_path))
    (row,) = audit_rows(evaluation)
    assert row.chain and "hunter2" not in json.dumps(row.to_json())


def test_cli_audit_json_and_explain_show_the_chain(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from supervisor.cli import main

    _write(tmp_path, SHAPES["V09"])
    monkeypatch.chdir(tmp_path)
    for name in ("BACKFILL_DAYS", "FIREHOSE_ENABLED", "COMPOSE_FILE"):
        monkeypatch.delenv(name, raising=False)
    audit = CliRunner().invoke(main, ["audit", "--format", "json"], catch_exceptions=False)
    rows = json.loads(audit.output)["services"]
    assert {r["program"] for r in rows} == {"node server/index.ts"}
    assert sum(r["process_count"] for r in rows) == 32
    assert rows[0]["chain"][1] == {
        "kind": "script",
        "location": "docker-entrypoint.sh:5",
        "text": "exec pm2-runtime start dist/index.js -i 32 --name app",
    }
    explained = CliRunner().invoke(main, ["explain", "app"], catch_exceptions=False).output
    assert "start-up chain (compose file -> program):" in explained
    assert (
        "variant: primary-backfill-live-opt-out" in explained
        and "server/routes.ts:2: has /FIREHOSE_ENABLED" in explained
    )
    assert "program: node server/index.ts, 32 processes (docker-entrypoint.sh:5: -i 32)" in explained
    _write(tmp_path, SHAPES["V10"])
    producer = CliRunner().invoke(main, ["explain", "python-firehose"], catch_exceptions=False).output
    assert "writes no firehose_cursor row" in producer and "program: python firehose_consumer.py, 1 process" in producer


def test_compose_environment_beats_the_image_env_whatever_the_dockerfile_is_called(tmp_path):
    _write(
        tmp_path,
        {
            "Containerfile": 'FROM python:3.11\nENV BACKFILL_DAYS=9\nCMD ["python", "unified_worker.py"]\n',
            "unified_worker.py": "",
            "docker-compose.yml": "services:\n  w:\n    build:\n      context: .\n      dockerfile: Containerfile\n"
            "    environment:\n      - BACKFILL_DAYS=2\n  v:\n    build:\n      context: .\n"
            "      dockerfile: Containerfile\n",
        },
    )
    project = load_project(LoadOptions(files=[str(tmp_path / "docker-compose.yml")], environ={}, cwd=str(tmp_path)))
    evaluation = evaluate_project(project, contexts=read_build_contexts(project), root=str(tmp_path))
    assert evaluation.services["w"].units[0].env["BACKFILL_DAYS"] == "2"
    assert evaluation.services["v"].units[0].env["BACKFILL_DAYS"] == "9"
    assert "Containerfile:2" in evaluation.services["v"].units[0].synthetic["BACKFILL_DAYS"]
