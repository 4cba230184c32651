"""Short port specs (``nat.ParsePortSpec``): each one through our loader and the real compose binary.

Bounds are checked before a range is expanded: ``1-1000000`` is refused at once, with compose's
message and our file:line, instead of growing a million entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions
from supervisor.compose.normalize import parse_ports

from .oracle import compose_config

SPECS = [
    "80",
    "0080",
    "65535",
    "80/udp",
    "80/TCP",
    "80/",
    "80/sctp",
    "127.0.0.1:8080:80",
    "[::1]:8080:80/udp",
    ":80",
    "8080:80",
    "1-3",
    "1-3:1-3",
    "8000-8010:80",
    "1-2-3",
    # refused
    "1-1000000",
    "70000",
    "8080:70000",
    "70000:80",
    "5-3",
    "abc",
    "-1",
    "1-",
    "+80",
    "80:1-3",
    "100-200:80-82",
    "80/xyz",
    "80/udp/x",
    "80:",
    "/udp",
    "",
    "70000/xyz",
]


def _project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "compose.yaml").write_text(f"services:\n  s:\n    image: x\n    ports: [{json.dumps(spec)}]\n")
    return tmp_path


@pytest.mark.differential
@pytest.mark.parametrize("spec", SPECS)
def test_port_spec_as_compose(tmp_path: Path, spec: str) -> None:
    root = _project(tmp_path, spec)
    reference = compose_config(str(root), {})
    try:
        ours = load_project(LoadOptions(cwd=str(root), environ={})).config["services"]["s"]["ports"]
        error = None
    except ComposeError as exc:
        ours, error = None, exc
    if not reference.ok:
        assert error is not None, f"compose refused ({reference.error}), we gave {ours}"
        assert error.message == reference.error
        assert error.location is not None and error.location.line == 4
        return
    assert error is None, f"we refused ({error}), compose accepted"
    assert reference.config is not None
    assert ours == reference.config["services"]["s"]["ports"]


def test_a_huge_range_is_refused_before_it_is_expanded() -> None:
    with pytest.raises(ComposeError, match="invalid containerPort: 1-1000000"):
        parse_ports("1-1000000")
    with pytest.raises(ComposeError, match="invalid ranges specified"):
        parse_ports("1-60000:1-2")
    assert len(parse_ports("1-65535")) == 65535
