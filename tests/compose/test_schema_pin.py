"""The Compose Specification schema is the one compiled into the oracle's compose release.

compose 2.40.3 is built with compose-go 2.9.1 (read from the binary's Go build information), which
validates with its own ``schema/compose-spec.json``; ``schemas/compose-spec.json`` is that file,
byte for byte.  A newer schema accepts what this compose refuses (``pre_start`` hooks).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from supervisor.compose import schema as S
from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

from .oracle import compose_binary, run_compose

pytestmark = pytest.mark.differential

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_schema_is_compose_go_2_9_1s() -> None:
    assert S.SCHEMA_SOURCE == "github.com/compose-spec/compose-go v2.9.1 schema/compose-spec.json"
    shipped = (REPO / "schemas" / "compose-spec.json").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == S.SCHEMA_SHA256
    assert S._schema_bytes() == shipped


def test_the_oracle_is_built_with_that_compose_go() -> None:
    found = re.search(rb"github\.com/compose-spec/compose-go/v2\tv([0-9.]+)", Path(compose_binary()).read_bytes())
    assert found and found.group(1) == b"2.9.1"


@pytest.mark.parametrize("hook", ["pre_start", "post_start", "pre_stop"])
def test_hooks_are_accepted_or_refused_as_compose_does(tmp_path: Path, hook: str) -> None:
    (tmp_path / "compose.yaml").write_text(f"services:\n  a:\n    image: x\n    {hook}:\n      - command: [echo]\n")
    theirs = run_compose(["config", "-q"], str(tmp_path), {})
    try:
        load_project(LoadOptions(environ={}, cwd=str(tmp_path)))
        ours_ok = True
    except ComposeError as exc:
        ours_ok = False
        assert "pre_start" in str(exc) and "compose.yaml" in str(exc)
    assert ours_ok == (theirs.returncode == 0), theirs.stderr
    assert ours_ok == (hook != "pre_start")
