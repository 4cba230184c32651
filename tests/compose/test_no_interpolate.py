"""``config --no-interpolate``: compose's uninterpolated model, byte for byte against ``docker compose config``.

compose prints a map there, not its project: templates left as written (``$$`` too), values with the
types the YAML gave them (``cpus: "0.5"`` a string, ``environment`` a list or a mapping), short
syntaxes in long form only where they parse, no profile applied, nothing read from ``env_file``, and
no variable known but ``COMPOSE_PROJECT_NAME``.  Keys sorted (yaml.v3's order, or by bytes in
JSON); an empty list compose holds as nil is ``null`` in JSON.
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

PROJECTS: dict[str, dict[str, str]] = {
    "templates": {
        "compose.yaml": (
            "name: ${PROJECT:-Demo_App}\n"
            "x-common: &c\n  restart: always\n"
            "services:\n  web:\n    <<: *c\n    image: 'nginx:${TAG:-latest}'\n    build: ./app\n"
            "    ports: ['8080:80', '${PORT:-9000}:90']\n"
            "    environment: [A=1, 'B=$$HOME', C, 'D=${FOO}', COMPOSE_PROJECT_NAME, SHELL_VAR]\n"
            "    cpus: '0.5'\n    mem_limit: ${MEM:-1g}\n    command: echo $$HOME ${X}\n"
            "    volumes: ['./data/:/data/:Z', '${SRC}:/src', 'named:/n']\n"
            "    labels: {z: '1', a: 'Y', amp: 'a&b<c>'}\n    healthcheck: {test: curl -f http://x, interval: 5s}\n"
            "    depends_on: {db: {condition: service_healthy, restart: 'true'}}\n"
            "  db:\n    image: postgres\n    profiles: [debug]\n    environment: {P: 1, Q: '$${X}', F: 1.0, T: true, N: null}\n"
            "    pull_policy: if_not_present\n    links: ['web:alias']\n    volumes_from: [web]\n"
            "    ports: [5432, '127.0.0.1:5433:5432/udp']\n"
            "volumes:\n  named: {}\n  unused:\nnetworks:\n  back: {external: true}\n"
            "x-numbers: {hex: 0x10, exp: 1e3, big: 12345678901234567890, yes: 'yes', date: 2001-12-14}\n"
        ),
        ".env": "SHELL_VAR=from-dotenv\nTAG=1.2\n",
    },
    "merged-files": {
        "compose.yaml": (
            "services:\n  app:\n    image: a\n    environment: {A: '1', B: 2}\n    labels: [x=1]\n"
            "    env_file: [a.env, {path: b.env, required: false}]\n    secrets: [token]\n    configs: [conf]\n"
            "    dns: ''\n    tmpfs: /run\n    extra_hosts: {h: 1.2.3.4}\n    command: []\n    cap_add: []\n"
            "    devices: ['/dev/a:/dev/b']\n    gpus: all\n    network_mode: service:side\n"
            "  side:\n    image: a\n    extends: {file: base.yaml, service: base}\n"
            "secrets:\n  token: {file: ./token.txt}\n  env: {environment: HOME}\nconfigs:\n  conf: {file: c.txt}\n"
        ),
        "override.yaml": (
            "services:\n  app:\n    environment: [B=3, C]\n    labels: {y: '2'}\n    ports: ['${P}:80']\n"
            "    build: {context: ./ctx, args: [ARG, K=v]}\n"
        ),
        "base.yaml": "services:\n  base:\n    image: b\n    build: ./sub\n    labels: [from=base]\n",
    },
    "include": {
        "compose.yaml": "include:\n  - sub/inc.yaml\nservices:\n  main:\n    image: m\n    environment: [V]\n",
        "sub/inc.yaml": (
            "services:\n  inc:\n    image: 'i:${V:-x}'\n    build: .\n    environment: [V, W]\n"
            "    volumes: ['./d:/d']\nvolumes:\n  shared: {}\n"
        ),
        "sub/.env": "V=from-sub\n",
    },
}

PROJECTS["extends-and-include"] = {
    "compose.yaml": (
        "include:\n  - path: inc/compose.yaml\n    project_directory: .\n    env_file: inc/e.env\n"
        "services:\n  web:\n    extends: {file: sub/base.yaml, service: base}\n    environment: {X: '${X:-1}'}\n"
        "  loc:\n    extends: web\n    ports: !override ['1:1']\n    labels: !reset null\n"
        "secrets:\n  s: {file: ./s.txt}\n"
    ),
    "sub/base.yaml": (
        "services:\n  base:\n    image: b\n    labels: [a=1]\n"
        "    build: {context: ., additional_contexts: [extra=../other, img=docker-image://x]}\n"
        "    volumes: [./data:/data, {type: bind, source: ./b, target: /b}]\n    env_file: b.env\n"
        "    label_file: [l.env]\n"
        "    develop: {watch: [{path: ./src, action: sync, target: /app, ignore: node_modules}]}\n"
        "    ports: ['2:2']\n    environment: [Y=2]\n"
    ),
    "inc/compose.yaml": (
        "services:\n  i:\n    image: 'i:${IV}'\n    build: ./ctx\n    environment: [IV, OTHER]\n"
        "    volumes: ['./v:/v']\n    secrets: [si]\nsecrets:\n  si: {file: ./s.txt}\n"
    ),
    "inc/e.env": "IV=1\n",
}

FLAGS = [
    ["--no-interpolate"],
    ["--no-interpolate", "--format", "json"],
    ["--no-interpolate", "--no-normalize"],
    ["--no-interpolate", "--no-normalize", "--format", "json"],
    ["--no-interpolate", "--services"],
    ["--no-interpolate", "-q"],
]
FLAG_IDS = ["yaml", "json", "raw-yaml", "raw-json", "services", "quiet"]


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), "FOO": "shell"}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _run(
    root: Path, args: list[str], files: list[str]
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    options = [part for name in files for part in ("-f", name)]
    theirs = subprocess.run(
        [compose_binary(), *options, "config", *args], cwd=root, env=_env(), capture_output=True, timeout=120
    )
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", *options, "config", *args, "--no-mask"],
        cwd=root,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    return theirs, ours


@pytest.mark.parametrize("args", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_output_is_compose_byte_for_byte(project: str, args: list[str], tmp_path: Path) -> None:
    _write(tmp_path, PROJECTS[project])
    files = ["compose.yaml", "override.yaml"] if project == "merged-files" else []
    theirs, ours = _run(tmp_path, args, files)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    if "--services" in args:  # compose's order is Go's random map order: compare the names
        assert sorted(ours.stdout.split()) == sorted(theirs.stdout.split())
    else:
        assert ours.stdout.decode() == theirs.stdout.decode()


@pytest.mark.parametrize("args", [["--hash", "*"], ["--volumes"], ["--images"], ["--profiles"]])
def test_listings_load_the_project_without_interpolation(args: list[str], tmp_path: Path) -> None:
    _write(
        tmp_path, {"compose.yaml": "services:\n  a:\n    image: 'x:${T:-1}'\n    volumes: ['v:/v']\nvolumes:\n  v:\n"}
    )
    theirs, ours = _run(tmp_path, ["--no-interpolate", *args], [])
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.decode() == theirs.stdout.decode()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_bundled_deployment_without_interpolation(fmt: str) -> None:
    cwd = REPO / "compose"
    args = ["-f", "docker-compose.yml", "config", "--no-interpolate", "--format", fmt]
    theirs = subprocess.run([compose_binary(), *args], cwd=cwd, env=_env(), capture_output=True, timeout=120)
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", *args, "--no-mask"],
        cwd=cwd,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.decode() == theirs.stdout.decode()


def test_output_file_holds_the_same_text(tmp_path: Path) -> None:
    _write(tmp_path, PROJECTS["templates"])
    theirs, _ = _run(tmp_path, ["--no-interpolate"], [])
    _, ours = _run(tmp_path, ["--no-interpolate", "-o", "out.yaml"], [])
    assert ours.returncode == 0 and ours.stdout == b""
    assert (tmp_path / "out.yaml").read_bytes() == theirs.stdout


def test_secrets_are_masked_unless_asked(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": "services:\n  db:\n    image: postgres\n    environment:\n"
            "      POSTGRES_PASSWORD: hunter2-literal\n      API_KEY: 123456\n      OTHER: hunter2-literal\n"
            "    command: ['--url', 'postgres://u:pw-in-url@db/x']\n"
        },
    )
    shown = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", "--no-interpolate"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    for secret in ("hunter2-literal", "123456", "pw-in-url"):
        assert secret not in shown.stdout
    assert "POSTGRES_PASSWORD: '****'" in shown.stdout or 'POSTGRES_PASSWORD: "****"' in shown.stdout


def test_a_broken_file_is_located_and_exits_2(tmp_path: Path) -> None:
    _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: a\n    ports: [\n"})
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", "--no-interpolate"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ours.returncode == 2 and "Traceback" not in ours.stderr
    assert f"{tmp_path / 'compose.yaml'}:" in ours.stderr


@pytest.mark.parametrize(
    "args", [[], ["--format", "json"], ["--no-interpolate"], ["--no-interpolate", "--format", "json"]]
)
def test_timestamps_in_extensions_are_printed_as_go_times(args: list[str], tmp_path: Path) -> None:
    """go-yaml reads a plain timestamp as a ``time.Time``: compose prints it in RFC 3339, unquoted."""
    stamps = "[2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10, 2001-2-3T04:05:06.000Z, '2001-12-14']"
    _write(tmp_path, {"compose.yaml": f"services:\n  a:\n    image: a\nx-dates: {stamps}\n"})
    theirs, ours = _run(tmp_path, args, [])
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert b"2001-12-14T21:59:43.1-05:00" in theirs.stdout
    assert ours.stdout.decode() == theirs.stdout.decode()
