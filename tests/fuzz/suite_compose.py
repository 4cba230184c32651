"""Generated hostile projects: every command and format ends, exits 0/1/2, and never shows the secret.

Run by ``test_fuzz.py`` in a child process (its peak memory is measured there); it can also be run
on its own: ``python -m pytest tests/fuzz/suite_compose.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from .harness import SECRET, assert_located, assert_no_secret, run_project
from .settings import fuzz_settings
from .strategies import SERVICE_NAMES, compose_text, env_text


def _project(root: Path, compose: str, env: str, extra_env: str) -> None:
    (root / "compose.yaml").write_text(compose)
    (root / ".env").write_text(env)
    (root / "extra.env").write_text(extra_env)
    # names the strategies use for special files; the generated cases keep "fifo" a regular file
    # (a FIFO without a writer is refused after a wait, see the corpus for that case)
    (root / "fifo").write_text("FROM x\n")
    (root / "a_dir").mkdir()
    os.symlink("loop", root / "loop")
    (root / "Dockerfile").write_text(f'FROM node:20\nENV TOKEN={SECRET}\nCMD ["node", "dist/index.js"]\n')


@fuzz_settings()
@given(compose=compose_text(), env=env_text(), extra_env=env_text())
def test_generated_projects(compose: str, env: str, extra_env: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _project(root, compose, env, extra_env)
        outcomes = run_project(root, explain=SERVICE_NAMES[:2])
        event(f"config exit {outcomes[0].code}")
        assert_located(outcomes[2])  # config -q
        assert_no_secret(outcomes)


@fuzz_settings()
@given(env=env_text(), value=st.sampled_from(("${DB_PASSWORD}", SECRET, "${API_KEY:-d}", "u:${API_KEY}@h")))
def test_a_secret_in_a_plain_variable(env: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        compose = (
            "services:\n  app:\n    image: x\n    environment:\n      BACKFILL_DAYS: '2'\n"
            f"      OTHER: '{value}'\n      DB_PASSWORD: ${{DB_PASSWORD}}\n"
        )
        _project(root, compose, env, "")
        assert_no_secret(run_project(root, explain=("app",)))
