"""Accept or refuse as compose does: one-node mutations of a valid document, against the real binary.

Each example replaces one value of a document that both accept (``mutations.BASE``) with a wrong
type, a null, an odd scalar or a deeply nested value.  We must accept exactly what compose
accepts; where compose crashes (a Go panic) we must refuse with a located message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from hypothesis import example, given

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

from ..compose.oracle import compose_config
from .mutations import BASE, mutated_document
from .settings import EXAMPLES, fuzz_settings

pytestmark = pytest.mark.differential


def _project(root: Path, doc: dict[str, Any]) -> None:
    (root / "compose.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / "extra.env").write_text("A=1\n")
    (root / "secret.txt").write_text("s\n")
    (root / "a_dir").mkdir()
    (root / "Dockerfile").write_text("FROM x\n")


def _compare(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _project(Path(tmp), doc)
        reference = compose_config(tmp, {}, timeout=60)
        error: Optional[ComposeError] = None
        try:
            load_project(LoadOptions(cwd=tmp, environ={}))
        except ComposeError as exc:
            error = exc
        if "panic:" in reference.stderr:
            assert error is not None and error.location is not None and error.location.line, (
                f"compose crashed ({reference.error[:200]}); we must refuse with a located message, got {error}"
            )
            return
        if reference.ok:
            assert error is None, f"we refused ({error}), compose accepted"
        else:
            assert error is not None, f"compose refused ({reference.error[:300]}), we accepted"


def _with(path: tuple[Any, ...], value: Any) -> tuple[tuple[Any, ...], Any, dict[str, Any]]:
    import copy

    doc = copy.deepcopy(BASE)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return path, value, doc


def test_the_base_document_is_accepted_by_both() -> None:
    _compare(BASE)


@fuzz_settings(EXAMPLES)
@given(case=mutated_document())
# found by this test: each was a difference from compose
@example(case=_with(("services", "app", "pid"), None))  # compose panics
@example(case=_with(("services", "app", "depends_on", "db", "restart"), "x"))
@example(case=_with(("services", "app", "depends_on", "db", "restart"), "yes"))
@example(case=_with(("services", "app", "extra_hosts", 0), "a"))
@example(case=_with(("services", "app", "ports", 0), 0))
@example(case=_with(("services", "app", "cpus"), 1.5))  # beside deploy.resources.limits.cpus 0.5
@example(case=_with(("services", "app", "mem_limit"), "1g"))  # beside limits.memory 512m
@example(case=_with(("services", "app", "mem_limit"), "512m"))  # the same value: accepted
@example(case=_with(("services", "app", "deploy", "resources", "limits", "cpus"), "a_dir"))  # was an internal error
def test_one_mutation_is_accepted_or_refused_as_compose_does(case: tuple[tuple[Any, ...], Any, dict[str, Any]]) -> None:
    _compare(case[2])
