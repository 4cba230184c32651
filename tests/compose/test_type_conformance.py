"""Wrong types and odd scalars: accepted or refused as compose does, refusals located, never internal."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

from .oracle import compose_config

pytestmark = pytest.mark.differential

SERVICE = "services:\n  s:\n    image: x\n"
CASES = {
    "include-path-int": "include: [{path: 1}]\n" + SERVICE,
    "include-path-int-list": "include: [{path: [1]}]\n" + SERVICE,
    "include-path-mapping": "include: [{path: {a: b}}]\n" + SERVICE,
    "include-env-file-int": "include: [{env_file: 1, path: a.yml}]\n" + SERVICE,
    "include-int": "include: 1\n" + SERVICE,
    # go-yaml keeps a float that overflows as text
    "label-1e400": SERVICE + "    labels:\n      a: 1e400\n      b: -1e400\n      c: 1e-400\n      d: 1e308\n",
    "image-1e400": "services:\n  s:\n    image: 1e400\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_as_compose(name: str, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(CASES[name])
    reference = compose_config(str(tmp_path), {})
    try:
        ours = load_project(LoadOptions(cwd=str(tmp_path), environ={})).config
        error = None
    except ComposeError as exc:
        ours, error = None, exc
    if not reference.ok:
        assert error is not None, f"compose refused ({reference.error}), we accepted"
        assert error.location is not None and error.location.line, error
        return
    assert error is None, f"we refused ({error}), compose accepted"
    assert reference.config is not None and ours is not None
    assert ours["services"] == reference.config["services"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_file_with_a_byte_order_mark_reads_as_compose_reads_it(tmp_path: Path, encoding: str) -> None:
    text = "services:\n  s:\n    image: x\n    environment:\n      A: é\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "compose.yaml").write_bytes(data)
    reference = compose_config(str(tmp_path), {})
    assert reference.ok and reference.config is not None, reference.error
    ours = load_project(LoadOptions(cwd=str(tmp_path), environ={})).config
    assert ours["services"] == reference.config["services"]


LABEL_FILES = {
    "list": ("    label_file: [l1.env, l2.env]\n    labels:\n      a: inline\n", True),
    "string": ("    label_file: l2.env\n", True),
    "missing": ("    label_file: missing.env\n", False),
    "missing-inactive": ("    label_file: missing.env\n    profiles: [off]\n", True),
}


@pytest.mark.parametrize("name", sorted(LABEL_FILES))
def test_label_file_as_compose(name: str, tmp_path: Path) -> None:
    body, accepted = LABEL_FILES[name]
    (tmp_path / "l1.env").write_text('a=1\nb=from-file\n# c\nd="q v"\n')
    (tmp_path / "l2.env").write_text("b=second\ne=${X:-dflt}\n")
    (tmp_path / "compose.yaml").write_text("services:\n  s:\n    image: x\n" + body + "  t:\n    image: y\n")
    reference = compose_config(str(tmp_path), {})
    assert reference.ok is accepted, reference.error
    try:
        ours = load_project(LoadOptions(cwd=str(tmp_path), environ={})).config
    except ComposeError as exc:
        assert not accepted, exc
        assert "label file" in exc.message and "missing.env" in exc.message
        return
    assert accepted and reference.config is not None
    assert ours["services"] == reference.config["services"]
