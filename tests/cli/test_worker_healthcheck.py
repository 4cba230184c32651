"""`supervisor worker healthcheck`: unusable options exit 2, an unreachable worker exits 1, no secret leaks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "worker", "healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
    )


@pytest.mark.parametrize(
    "args, env, needle",
    [
        (["--timeout", "-1"], {}, "--timeout"),
        (["--timeout", "nan"], {}, "--timeout"),
        (["--url", "nonsense"], {}, "http(s)"),
        (["--url", "ftp://x/"], {}, "http(s)"),
        (["--url", "http://127.0.0.1:99999/health"], {}, "bad port"),
        ([], {"HEALTH_PORT": "99999"}, "1 to 65535"),
        ([], {"HEALTH_PORT": "x"}, "HEALTH_PORT"),
    ],
)
def test_unusable_options_exit_2(args, env, needle):
    proc = _run(*args, **env)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_unreachable_worker_exits_1_and_masks_the_password(extra):
    proc = _run("--url", "http://user:hunter2secret@127.0.0.1:9/health", "--timeout", "2", *extra)
    assert proc.returncode == 1
    assert "hunter2secret" not in proc.stdout + proc.stderr
    assert "****" in proc.stdout + proc.stderr
