"""`supervisor config` YAML output reads as compose's, on the bundled deployment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .oracle import compose_binary

REPO = Path(__file__).resolve().parents[2]
CASES = [
    ["-f", "docker-compose.yml"],
    ["-f", "docker-compose.yml", "-f", "docker-compose.unified-backfill.yml"],
]


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **extra}


@pytest.mark.differential
@pytest.mark.parametrize("files", CASES, ids=["base", "unified-backfill"])
@pytest.mark.parametrize("shell", [{}, {"BACKFILL_DAYS": "3", "POSTGRES_PASSWORD": "s3cret$x"}], ids=["bare", "shell"])
def test_yaml_output_equals_compose(files, shell):
    cwd = REPO / "compose"
    theirs = subprocess.run(
        [compose_binary(), *files, "config"], cwd=cwd, env=_env(**shell), capture_output=True, text=True, timeout=60
    )
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", *files, "--no-mask"],
        cwd=cwd,
        env=_env(PYTHONPATH=str(REPO), **shell),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_yaml_output_masks_secrets_by_default():
    cwd = REPO / "compose"
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", "-f", "docker-compose.yml"],
        cwd=cwd,
        env=_env(PYTHONPATH=str(REPO), POSTGRES_PASSWORD="s3cret"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ours.returncode == 0, ours.stderr
    assert "s3cret" not in ours.stdout
    assert (
        "POSTGRES_PASSWORD: '****'" in ours.stdout
        or 'POSTGRES_PASSWORD: "****"' in ours.stdout
        or "POSTGRES_PASSWORD: ****" in ours.stdout
    )
