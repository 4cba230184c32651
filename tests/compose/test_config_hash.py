"""``config --hash``: compose's own per-service config hash, byte for byte.

The hash is what ``docker compose up`` compares to decide whether a container is up to date, so
the same hash on both sides means switching between the tools recreates nothing.  Compared with
the real binary on the bundled deployment, on hand-written projects that use every kind of
field, and on generated projects.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings

from supervisor.cli import main
from supervisor.compose.confighash import COMPOSE_GO_VERSION, go_json

from .oracle import compose_binary, run_compose
from .strategies import ComposeCase, compose_cases

pytestmark = pytest.mark.differential

REPO = Path(__file__).resolve().parents[2]


def _ours(cwd: Path, args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    for key in list(__import__("os").environ):
        if key.startswith("COMPOSE_"):
            monkeypatch.delenv(key)
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _both(
    cwd: Path, files: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, selection: str = "*"
) -> tuple[str, str]:
    file_args = [a for f in files for a in ("-f", f)]
    theirs = run_compose([*file_args, "config", "--hash", selection], str(cwd), env)
    assert theirs.returncode == 0, theirs.stderr
    ours = _ours(cwd, ["config", *file_args, "--hash", selection], env, monkeypatch)
    assert ours.exit_code == 0, ours.output
    return theirs.stdout, ours.stdout


@pytest.mark.parametrize(
    "files",
    [
        ["docker-compose.yml"],
        ["docker-compose.yml", "docker-compose.unified-backfill.yml"],
        ["docker-compose.yml", "docker-compose.dev.yml"],
    ],
)
def test_bundled_deployment_hashes_equal_compose(files: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    theirs, ours = _both(REPO / "compose", files, {}, monkeypatch)
    assert theirs.count("\n") >= 3
    assert ours == theirs


EVERY_KIND = """\
services:
  web:
    image: nginx:alpine
    environment:
      A: "1<2&3> \\u2028 é"
      B:
      C: "$${X}"
    env_file: [e.env, {path: opt.env, required: false}]
    ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp"]
    expose: [3000]
    volumes: ["data:/d:Z", "./x:/x:ro,z", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    healthcheck: {test: ["CMD", "true"], interval: 5s, retries: 3, start_period: 1m}
    deploy: {replicas: 2, resources: {limits: {cpus: "0.5", memory: 100M}},
             restart_policy: {condition: on-failure, max_attempts: 3}}
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
    shm_size: 64m
    cpus: 0.5
    depends_on: [db]
    labels: {z: "1", a: "2"}
    logging: {driver: json-file, options: {max-size: 1m}}
    extra_hosts: ["h:1.2.3.4", "g=5.6.7.8"]
    networks: {front: {aliases: [w], priority: 3}, default: {}}
    cap_add: [NET_ADMIN]
    sysctls: {net.core.somaxconn: 1024}
    secrets: [s]
    configs: [{source: c, target: /c, mode: 0440}]
    devices: ["/dev/null:/dev/null:rwm"]
    tmpfs: /run
    stop_grace_period: 1m30s
    init: true
    profiles: []
    pull_policy: missing
    x-note: ignored
  db:
    image: postgres:16
    build: {context: ., args: [K=v]}
    command: postgres -c a=b
    entrypoint: ["/bin/sh", "-c"]
  side:
    image: busybox
    network_mode: "service:db"
    volumes_from: ["db:ro"]
    links: [db]
networks: {front: {}}
volumes: {data: {}}
secrets: {s: {file: ./e.env}}
configs: {c: {file: ./e.env}}
"""


def test_every_kind_of_field_hashes_equal_compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text(EVERY_KIND, encoding="utf-8")
    (tmp_path / "e.env").write_text("E=1\n", encoding="utf-8")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    theirs, ours = _both(tmp_path, [], {"B": "from shell"}, monkeypatch)
    assert [line.split()[0] for line in theirs.splitlines()] == ["db", "side", "web"]
    assert ours == theirs


def test_a_selection_and_an_unknown_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text(EVERY_KIND, encoding="utf-8")
    (tmp_path / "e.env").write_text("E=1\n", encoding="utf-8")
    theirs, ours = _both(tmp_path, [], {}, monkeypatch, selection="web,db")
    assert ours == theirs and ours.count("\n") == 2
    result = _ours(tmp_path, ["config", "--hash", "nosuch"], {}, monkeypatch)
    assert result.exit_code == 2
    assert "no such service: nosuch" in result.output


def test_go_encoding_of_strings_and_numbers() -> None:
    assert go_json("<a&b>") == '"\\u003ca\\u0026b\\u003e"'
    assert go_json("\u2028é\b\x01") == '"\\u2028é\\b\\u0001"'
    assert go_json(1.0) == "1" and go_json(0.5) == "0.5"
    assert go_json({"b": 1, "a": None}) == '{"a":null,"b":1}'  # a Go map: sorted keys
    assert go_json({"target": 80, "mode": "ingress"}, "port") == '{"mode":"ingress","target":80}'  # a struct


def test_the_field_order_is_that_of_the_oracles_compose_go() -> None:
    # The struct order comes from compose-go at the version inside the oracle binary: a new
    # oracle means reading its model again (see supervisor/compose/confighash.py).
    proc = run_compose(["version"], tempfile.gettempdir(), {})
    assert "v2.40.3" in proc.stdout, proc.stdout
    assert COMPOSE_GO_VERSION == "2.9.1"


_HOME = tempfile.mkdtemp(prefix="compose-hash-home-")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=compose_cases())
def test_generated_projects_hash_equal_compose(case: ComposeCase) -> None:
    compose_binary()
    parent = Path(tempfile.mkdtemp(prefix="compose-hash-"))
    try:
        root = case.write(parent)
        env = case.environment()
        env["HOME"] = _HOME
        args = case.global_args()
        theirs = run_compose([*args, "config", "--hash", "*"], str(root), env)
        event("compose accepted" if theirs.returncode == 0 else "compose refused")
        if theirs.returncode != 0:
            return  # refusals are the loader differential's subject
        with pytest.MonkeyPatch.context() as monkeypatch:
            ours = _ours(root, ["config", *args, "--hash", "*"], env, monkeypatch)
        assert ours.exit_code == 0, ours.output
        assert ours.stdout == theirs.stdout
    finally:
        shutil.rmtree(parent, ignore_errors=True)


LISTINGS = """\
services:
  web:
    image: nginx:alpine
    depends_on: [db]
    volumes: ["data:/d"]
    networks: [front]
  db:
    image: postgres:16
    profiles: [db, all]
  built:
    build: .
    profiles: [dev]
    volumes: ["cache:/c"]
networks: {front: {}, unused: {}}
volumes: {data: {}, cache: {}, unused: {}}
"""


@pytest.mark.parametrize("args", [["--profile", "db"], ["--profile", "dev", "--profile", "all"], ["--profile", "*"]])
@pytest.mark.parametrize("listing", ["--services", "--volumes", "--networks", "--images", "--profiles"])
def test_listings_equal_compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str, args: list[str]) -> None:
    (tmp_path / "compose.yaml").write_text(LISTINGS, encoding="utf-8")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    theirs = run_compose([*args, "config", listing], str(tmp_path), {})
    ours = _ours(tmp_path, [*args, "config", listing], {}, monkeypatch)
    assert (ours.exit_code == 0) == (theirs.returncode == 0), (ours.output, theirs.stderr)
    # compose prints map keys in Go's random map order: compare as sets, ours is sorted or in file order
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())


def test_output_file_holds_what_stdout_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text(LISTINGS, encoding="utf-8")
    printed = _ours(tmp_path, ["--profile", "all", "config", "--format", "json"], {}, monkeypatch).stdout
    assert printed.startswith("{")
    written = _ours(tmp_path, ["--profile", "all", "config", "--format", "json", "-o", "out.json"], {}, monkeypatch)
    assert written.exit_code == 0 and written.output == "", written.output
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == printed
    theirs = run_compose(["--profile", "all", "config", "--format", "json", "-o", "theirs.json"], str(tmp_path), {})
    assert theirs.returncode == 0 and theirs.stdout == ""
    import json

    assert json.loads((tmp_path / "theirs.json").read_text()) == json.loads(printed)


def test_resolve_image_digests_is_refused_offline_unless_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: nginx:alpine}\n", encoding="utf-8")
    refused = _ours(tmp_path, ["config", "--resolve-image-digests"], {}, monkeypatch)
    assert refused.exit_code == 2 and "needs a registry to look up nginx:alpine" in refused.output
    digest = "sha256:" + "a" * 64
    (tmp_path / "compose.yaml").write_text(f"services:\n  a: {{image: 'nginx@{digest}'}}\n", encoding="utf-8")
    assert _ours(tmp_path, ["config", "--resolve-image-digests", "-q"], {}, monkeypatch).exit_code == 0
