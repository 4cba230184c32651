"""``compose/gomodel.py`` held against compose-go's ``types`` package, at the version inside the oracle.

The YAML output orders a struct's fields as compose-go declares them (``STRUCTS``) and resolves
named types through ``ALIASES``.  Here the Go source of that release is read (from a git mirror of
compose-go: ``COMPOSE_GO_GIT_DIR``, by default the one under ``/work/.mirror``), every struct's
fields and ``yaml`` tags parsed, and compared with our tables: a field added, moved, retagged or
retyped in compose-go fails the test until the table is read again.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from supervisor.compose.gomodel import ALIASES, STRUCTS

from .oracle import compose_binary

pytestmark = pytest.mark.differential

GIT_DIR_ENV = "COMPOSE_GO_GIT_DIR"
DEFAULT_GIT_DIR = "/work/.mirror/compose-spec+compose-go/repo"

# Named types with a marshaller of their own (printed as lists): no entry in ALIASES is needed.
SELF_MARSHALLED = {"HostsList", "MultiOptions"}

_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
_FIELD = re.compile(r"^\t(\w+)\s+(\S[^`]*?)\s*`([^`]*)`")
_NAMED = re.compile(r"^type (\w+) ([^\s{(][^\n{]*)$", re.M)


def oracle_compose_go_revision() -> str:
    """The git revision of compose-go the oracle was built with (a tag, or a pseudo-version's commit)."""
    build_info = Path(compose_binary()).read_bytes()
    found = re.search(rb"\tgithub\.com/compose-spec/compose-go/v2\t(v[^\t\n]+)", build_info)
    assert found, "no compose-go module in the oracle's build information"
    version = found.group(1).decode()
    pseudo = re.search(r"-(?:0\.)?[0-9]{14}-([0-9a-f]{12})$", version)
    return pseudo.group(1) if pseudo else version


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, text=True, check=True).stdout


def parse_types(sources: list[str]) -> tuple[dict[str, tuple[tuple[str, str, bool], ...]], dict[str, str]]:
    """Every struct's (yaml key, Go type, omitempty) in declared order, and the named non-struct types."""
    structs: dict[str, tuple[tuple[str, str, bool], ...]] = {}
    named: dict[str, str] = {}
    for source in sources:
        for match in _STRUCT.finditer(source):
            fields = []
            for line in match.group(2).splitlines():
                field = _FIELD.match(line)
                tag = re.search(r'yaml:"([^"]*)"', field.group(3)) if field else None
                if field is None or tag is None or tag.group(1) == "-":
                    continue
                key, *options = tag.group(1).split(",")
                fields.append((key, field.group(2).strip(), "omitempty" in options))
            structs[match.group(1)] = tuple(fields)
        for match in _NAMED.finditer(source):
            if not match.group(2).startswith("func"):
                named[match.group(1)] = match.group(2).strip()
    return structs, named


@pytest.fixture(scope="module")
def go_types() -> tuple[dict[str, tuple[tuple[str, str, bool], ...]], dict[str, str]]:
    git_dir = os.environ.get(GIT_DIR_ENV, DEFAULT_GIT_DIR)
    if not Path(git_dir).exists():
        pytest.fail(
            f"no compose-go mirror at {git_dir}: clone github.com/compose-spec/compose-go there or set {GIT_DIR_ENV}"
        )
    revision = oracle_compose_go_revision()
    names = _git(git_dir, "ls-tree", "--name-only", revision, "types/").split()
    sources = [
        _git(git_dir, "show", f"{revision}:{name}")
        for name in names
        if name.endswith(".go") and not name.endswith("_test.go")
    ]
    assert sources, f"no Go source under types/ at {revision}"
    return parse_types(sources)


def test_every_struct_has_compose_gos_fields_in_order(go_types) -> None:
    structs, _ = go_types
    assert "ServiceConfig" in structs and len(structs["ServiceConfig"]) > 80  # the parse found the model
    drift = {
        name: (structs.get(name), STRUCTS.get(name))
        for name in set(structs) | set(STRUCTS)
        if structs.get(name) != STRUCTS.get(name)
    }
    assert not drift, f"gomodel.STRUCTS differs from compose-go (go, ours): {drift}"


def test_every_named_type_resolves_as_compose_go_declares_it(go_types) -> None:
    _, named = go_types
    assert {k: v for k, v in ALIASES.items() if named.get(k) != v} == {}
    missing = set(named) - set(ALIASES) - SELF_MARSHALLED
    assert not missing, f"named types of compose-go absent from gomodel.ALIASES: {sorted(missing)}"


def test_the_parse_sees_a_field_added_to_a_struct() -> None:
    source = (
        "package types\n\ntype DeviceMapping struct {\n"
        '\tSource      string     `yaml:"source,omitempty" json:"source,omitempty"`\n'
        '\tTarget      string     `yaml:"target,omitempty" json:"target,omitempty"`\n'
        '\tPermissions string     `yaml:"permissions,omitempty" json:"permissions,omitempty"`\n'
        '\tNew         *bool      `yaml:"new" json:"new"`\n'
        '\tSkipped     string     `yaml:"-" json:"-"`\n'
        '\tExtensions  Extensions `yaml:"#extensions,inline,omitempty" json:"-"`\n'
        "}\n\ntype Labels map[string]string\n"
    )
    structs, named = parse_types([source])
    assert structs["DeviceMapping"] == (
        ("source", "string", True),
        ("target", "string", True),
        ("permissions", "string", True),
        ("new", "*bool", False),
        ("#extensions", "Extensions", True),
    )
    assert structs["DeviceMapping"] != STRUCTS["DeviceMapping"]
    assert named == {"Labels": "map[string]string"}
