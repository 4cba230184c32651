"""Every exit-2 message about a project names the file, line and column it is about."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fuzz.harness import LOCATED, run_cli

SERVICE = "services:\n  s:\n    image: x\n"
# service fields with a value of the right shape but a wrong content: refused after parsing
FIELDS = [
    "mem_limit: lots",
    "memswap_limit: q",
    "shm_size: q",
    "mem_reservation: q",
    "stop_grace_period: zz",
    "healthcheck: {test: NONE, interval: abc}",
    "healthcheck: {test: NONE, timeout: 1x}",
    "healthcheck: {test: NONE, start_period: x}",
    "healthcheck: {test: NONE, start_interval: x}",
    "deploy: {resources: {limits: {memory: q}}}",
    "deploy: {resources: {reservations: {memory: q}}}",
    "deploy: {restart_policy: {delay: q}}",
    "deploy: {restart_policy: {window: q}}",
    "deploy: {update_config: {delay: q}}",
    "deploy: {rollback_config: {monitor: q}}",
    "volumes: [{type: tmpfs, target: /t, tmpfs: {size: q}}]",
    "cpus: many",
    "scale: -x",
    "privileged: maybe",
    "ulimits: {nofile: x}",
    "ports: ['1-1000000']",
    "ports: ['65536:80']",
    "depends_on: [nope]",
    "extends: {service: nope}",
    "extends: s",
    "env_file: missing.env",
    "env_file: loop",
    "env_file: a_dir",
    "env_file: /dev/zero",
    "label_file: missing.env",
    "logging: null",
    "build: {context: ., dockerfile: 1}",
    "environment: 1",
    "command: 'unterminated \"'",
]
TOP = [
    "include: 1\n" + SERVICE,
    "include: [missing.yml]\n" + SERVICE,
    "include: [{path: 1}]\n" + SERVICE,
    "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
    "services:\n  a:\n    image: x\n    links: [b]\n  b:\n    image: x\n    links: [a]\n",
    "services:\n  a:\n    image: x\n    network_mode: service:b\n  b:\n    image: x\n    volumes_from: [a]\n",
    "x-a: &a [*a]\n" + SERVICE,
    SERVICE + "  s:\n    image: y\n",
    "services: 1\n",
    "services:\n  s: 1\n",
    SERVICE + "\tbad: tab\n",
    "volumes: {v: {external: 1}}\n" + SERVICE,
]
CASES = {f"field {body}": SERVICE + f"    {body}\n" for body in FIELDS} | {
    f"top {i}": text for i, text in enumerate(TOP)
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_refusal_is_located(name: str, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(CASES[name])
    (tmp_path / "a_dir").mkdir()
    os.symlink("loop", tmp_path / "loop")
    for args in (("config", "-q"), ("validate",), ("validate", "--format", "json")):
        outcome = run_cli(args, tmp_path)
        assert outcome.code == 2, outcome.text[-2000:]
        if args[0] == "config":
            match = LOCATED.match(outcome.stderr)
            assert match, f"no file:line:col in: {outcome.stderr[:2000]}"
            assert match.group(2).endswith(("compose.yaml", ".env")), outcome.stderr


def test_an_unsearchable_folder_is_not_reported_as_missing() -> None:
    """A user who cannot search a folder is told so, not that the file does not exist."""
    root = Path(tempfile.mkdtemp(prefix="unsearchable-"))
    try:
        root.chmod(0o755)
        locked = root / "locked"
        locked.mkdir()
        (locked / "compose.yaml").write_text(SERVICE)
        (locked / "x.env").write_text("A=1\n")
        (root / "compose.yaml").write_text(SERVICE + "    env_file: locked/x.env\n")
        locked.chmod(0o644)  # readable, not searchable
        # root searches every folder: drop the capabilities that let it (it stays root otherwise)
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
        for args in (["-f", "locked/compose.yaml", "config", "-q"], ["config", "-q"]):
            proc = subprocess.run(
                [*prefix, sys.executable, "-m", "supervisor", *args],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "SUPERVISOR_NO_CACHE": "1", "HOME": str(root)},
            )
            assert proc.returncode == 2, proc.stdout + proc.stderr
            assert "permission denied" in proc.stderr and "no such file" not in proc.stderr, proc.stderr
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)
