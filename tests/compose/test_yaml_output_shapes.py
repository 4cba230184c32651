"""``supervisor config --no-mask`` (YAML) byte for byte against ``docker compose config``.

Each project is small and written here; each reproduces one shape of published compose files
on which the two outputs once differed: field order of compose-go's structs, empty structs that
yaml.v3 leaves out, strings that read as YAML 1.1 booleans, map keys in yaml.v3's order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .oracle import compose_binary

pytestmark = pytest.mark.differential

REPO = Path(__file__).resolve().parents[2]

SHAPES = {
    "build-target-and-args": (
        "services:\n  web:\n    build:\n      context: ./app\n      target: builder\n"
        "      args: {Z_ARG: '1', A_ARG: two, arg10: x, arg9: y}\n      labels: {b: '1', a: '2'}\n"
    ),
    "one-letter-booleans": (
        "services:\n  db:\n    image: mssql\n    environment:\n      ACCEPT_EULA: 'Y'\n      NO: 'n'\n"
        "      LOWER: 'y'\n      WORD: 'yes'\n      OFF: 'off'\n      COLON: '1:20'\n      EQ: '='\n"
        "    entrypoint: ['=', '<<', '~', '2001-12-14', '0x1F', '1_000', '+1', '.5', '1e3', '0o17', '0b1', '1:20',"
        " '190:20:30', '.inf', '.NaN', 'NULL', 'Null', 'nULL', 'True', 'tRUE', 'ON', 'oN', '-1', '1.', '1.e5', '+.5',"
        " '0x_1', '1__0', '2001-1-2', '2001-2-30', '12e03', '2001-12-14 21:59:43.10', '2001-12-14T21:59:43Z',"
        " '2001-12-14T21:59:43', '_1', '1_', '0_7', '-0b1', '+0x1', '1e', '00', '08', '8081', '0.0.1',"
        " '99999999999999999999', '18446744073709551615', '-9223372036854775809']\n"
    ),
    "numbers-past-int64-and-float64": (
        "services:\n  app:\n    image: a\n    environment:\n      BIG: '" + "9" * 5000 + "'\n"
        "      F400: '" + "9" * 400 + "'\n      E: '1e400'\n      DOT: '.5e999'\n      TINY: '1e-400'\n"
        "      HEX: '0x" + "f" * 20 + "'\n      ZEROS: '" + "0" * 100 + "7'\n"
    ),
    "deploy-without-placement": (
        "services:\n  mc:\n    image: mc\n    deploy:\n      resources:\n        limits: {cpus: '0.5', memory: 1G}\n"
        "      restart_policy: {condition: on-failure}\n    stdin_open: true\n    tty: true\n"
    ),
    "network-fields": (
        "services:\n  a:\n    image: a\n    networks: [redisnet, dbnet]\nnetworks:\n"
        "  redisnet:\n    driver: bridge\n  dbnet:\n    driver: bridge\n    ipam:\n      driver: default\n"
        "      config: [{subnet: 172.28.0.0/16}]\n    labels: {z: '1', a: '2'}\n"
    ),
    "secret-file": (
        "services:\n  db:\n    image: mysql\n    secrets: [db-password]\n"
        "secrets:\n  db-password:\n    file: db/password.txt\n"
    ),
    "labels-and-names-in-key-order": (
        "services:\n  web10:\n    image: a\n    labels: [traefik.http.routers.r10=1, traefik.http.routers.r9=2, B=3, a=4]\n"
        "  web9:\n    image: a\n  Web:\n    image: a\n    labels: [a09=1, a_1=1, '1=1', '10=1', a00=1, a0=1, é=1, _=1, a-=1]\n"
    ),
    "environment-before-env-file": (
        "services:\n  app:\n    image: a\n    env_file: [app.env]\n    environment: [X=1]\n"
        "    cpus: 1.5\n    cpuset: '0'\n    healthcheck: {test: [CMD, 'true'], interval: 5s, retries: 3}\n"
        "    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}\n"
    ),
    "extensions-after-fields": (
        "x-top: {b: 1, a: [2]}\nservices:\n  app:\n    image: a\n    x-z: 1\n    x-a: {k: v}\n"
        "    ports: ['8080:80']\n    volumes: [./data:/data]\nvolumes:\n  unused: {}\n"
    ),
    "empty-and-long-keys": (
        "services:\n  app:\n    image: a\n    x-keys: {'': [], %s: 1, %s: 2, %s: 3, %s: {}, 'a: b': '- x'}\n"
        % ("k" * 127, "k" * 128, "k" * 129, "é" * 65)
    ),
    "floats-as-go-prints-them": (
        "x-g: [1.0, 1e-7, 1e21, 0.1, 100000000.0, 1.5e300, 1234567.0, 0.00001, -2.5, 0.0, 1e20, 1.25e-5]\n"
        "services:\n  a:\n    image: a\n    cpus: 0.25\n    deploy: {resources: {limits: {cpus: '0.25'}}}\n"
    ),
    # longer than any line width: compose folds no line, whatever the quoting
    "long-values": (
        "services:\n  app:\n    image: a\n    x-single: '%s #'\n    x-double: \"%s\\t\"\n    x-plain: %s\n"
        % ("x" * 1_100_000, "y x" * 400_000, "p " * 600_000 + "p")
    ),
}


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **extra}


def _both(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    theirs = subprocess.run([compose_binary(), "config", *args], cwd=root, env=_env(), capture_output=True, timeout=60)
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", *args, "--no-mask"],
        cwd=root,
        env=_env(PYTHONPATH=str(REPO)),
        capture_output=True,
        timeout=60,
    )
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    return theirs, ours


def _project(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "db").mkdir()
    (root / "compose.yaml").write_text(text)
    (root / "app.env").write_text("FROM_FILE=1\n")
    (root / "db" / "password.txt").write_text("pw\n")
    return root


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_yaml_is_byte_identical(shape: str, tmp_path: Path) -> None:
    theirs, ours = _both(_project(tmp_path, SHAPES[shape]))
    assert ours.stdout.decode() == theirs.stdout.decode()


DEPENDENCIES = (
    "services:\n  frontend:\n    image: a\n    depends_on: [backend]\n  backend:\n    image: a\n"
    "    depends_on: [db, cache]\n  db:\n    image: a\n  cache:\n    image: a\n    network_mode: service:db\n"
    "  alone:\n    image: a\n"
)


def test_services_listed_after_their_dependencies(tmp_path: Path) -> None:
    # compose lists services in Go's random map order, dependencies first: the names must agree,
    # and ours must keep every service after the ones it depends on (implicit ones included).
    theirs, ours = _both(_project(tmp_path, DEPENDENCIES), "--services")
    names = ours.stdout.decode().split()
    assert sorted(names) == sorted(theirs.stdout.decode().split())
    position = {name: i for i, name in enumerate(names)}
    for service, needs in {"frontend": ["backend"], "backend": ["db", "cache"], "cache": ["db"]}.items():
        for dependency in needs:
            assert position[dependency] < position[service], names
    assert names == ["alone", "db", "cache", "backend", "frontend"]
