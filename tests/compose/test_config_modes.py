"""``config --no-normalize`` and ``config --format json``, byte for byte against ``docker compose config``.

``--no-normalize`` leaves out what compose-go's normalization adds: the implicit ``default``
network, resource names, ``build`` defaults, the ``depends_on`` implied by ``links``,
``network_mode: service:X`` and ``volumes_from``, cleaned long-syntax mount targets.  The JSON
output is compose's own text: Go's key order, its escapes, no line break at the end.
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

PROJECTS = {
    "mixed": {
        "compose.yaml": (
            "x-common: &c\n  restart: always\nservices:\n  web:\n    <<: *c\n    image: 'nginx:${TAG:-latest}'\n"
            "    build: ./app\n    ports: ['8080:80', '443']\n    environment: [A=$UNSET_X, B, 'C=${D:-d}']\n"
            "    env_file: .env2\n    volumes: ['./data/:/data/:ro', 'named:/n', {type: bind, source: ./y, target: /long/}]\n"
            "    depends_on: [db]\n    labels: {z: '1', a: 'Y', amp: 'a&b<c>'}\n"
            "    healthcheck: {test: curl -f http://x, interval: 5s}\n    command: echo $$HOME\n"
            "  db:\n    image: postgres\n    deploy: {resources: {limits: {cpus: '0.5'}}}\n    pull_policy: if_not_present\n"
            "volumes:\n  named: {}\nnetworks:\n  back:\n"
        ),
        ".env2": "X=1\n",
    },
    "implicit-dependencies": {
        "compose.yaml": (
            "services:\n  app:\n    image: a\n    links: ['db:database']\n    volumes_from: [store]\n"
            "  side:\n    image: a\n    network_mode: service:app\n    ipc: service:db\n"
            "  db:\n    image: a\n    networks: [back]\n  store:\n    image: a\n    networks: {}\n"
            "networks:\n  back: {driver: bridge}\n  outside: {external: true}\n"
        ),
    },
    "build-and-resources": {
        "compose.yaml": (
            "name: Mixed_Case\nservices:\n  one:\n    build: {context: ., args: [VERSION, UNSET_ARG]}\n"
            "    secrets: [token]\n    configs: [conf]\n  two:\n    build: {dockerfile_inline: 'FROM a'}\n"
            "    networks: [front]\n  three:\n    image: a\n    build: {target: t}\n"
            "secrets:\n  token: {file: ./token.txt}\n  unused: {file: ./u.txt}\nconfigs:\n  conf: {external: true}\n"
            "networks:\n  front: {name: custom}\n"
        ),
        ".env": "VERSION=1.2\n",
        "token.txt": "t\n",
    },
    "floats": {
        "compose.yaml": (
            "x-g: [1.0, 1e-7, 1e21, 0.1, 100000000.0, 1.5e300, 1234567.0, 0.00001, -2.5, 0.0, 1e20, 1.25e-5]\n"
            "services:\n  a:\n    image: a\n    cpus: 0.25\n    deploy: {resources: {limits: {cpus: '0.25'}}}\n"
        ),
    },
}


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), "D": "1"}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "app").mkdir(exist_ok=True)


@pytest.mark.parametrize(
    "args",
    [
        ["--no-normalize"],
        ["--no-normalize", "--format", "json"],
        ["--format", "json"],
        ["--no-normalize", "--services"],
        ["--no-normalize", "--hash", "*"],
        ["--no-normalize", "-q"],
    ],
    ids=["yaml", "json", "json-normalized", "services", "hash", "quiet"],
)
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_output_is_compose_byte_for_byte(project: str, args: list[str], tmp_path: Path) -> None:
    _write(tmp_path, PROJECTS[project])
    theirs = subprocess.run(
        [compose_binary(), "config", *args], cwd=tmp_path, env=_env(), capture_output=True, timeout=120
    )
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", *args, "--no-mask"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    if "--services" in args:  # compose's order is Go's random map order: compare the names
        assert sorted(ours.stdout.split()) == sorted(theirs.stdout.split())
    else:
        assert ours.stdout.decode() == theirs.stdout.decode()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_bundled_deployment_without_normalization(fmt: str) -> None:
    cwd = REPO / "compose"
    args = ["-f", "docker-compose.yml", "config", "--no-normalize", "--format", fmt]
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


def test_default_network_is_undeclared_without_normalization(tmp_path: Path) -> None:
    _write(tmp_path, {"compose.yaml": "services:\n  db:\n    image: a\n    networks: [default]\n"})
    message = 'service "db" refers to undefined network default: invalid compose project'
    theirs = subprocess.run(
        [compose_binary(), "config", "--no-normalize"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", "--no-normalize"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert theirs.returncode != 0 and message in theirs.stderr
    assert ours.returncode == 2 and message in ours.stderr
