"""``extends`` and ``include`` (expected values checked against `docker compose config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions


def load(tmp_path: Path, files: dict[str, str], **kwargs):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_project(LoadOptions(cwd=str(tmp_path), environ=kwargs.pop("environ", {}), **kwargs))


def test_same_file(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  base:\n    image: a\n    environment: {A: '1', B: '1'}\n"
            "    command: base\n  web:\n    extends: base\n"
            "    environment: {B: '2'}\n"
        },
    )
    web = project.services["web"].config
    assert web["image"] == "a" and web["command"] == ["base"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert "extends" not in web


def test_other_file_paths_are_relative_to_it(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    extends: {file: sub/base.yaml, service: base}\n",
            "sub/base.yaml": "services:\n  base:\n    build: ./ctx\n    env_file: e.env\n    volumes: ['./d:/d']\n",
            "sub/e.env": "EF=1\n",
        },
    )
    web = project.services["web"].config
    assert web["build"] == {"context": str(tmp_path / "sub" / "ctx"), "dockerfile": "Dockerfile"}
    assert web["volumes"][0]["source"] == str(tmp_path / "sub" / "d")
    assert web["environment"] == {"EF": "1"}


def test_chain(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    image: a\n    labels: {a: '1'}\n"
            "  b:\n    extends: a\n    labels: {b: '1'}\n"
            "  c:\n    extends: b\n    labels: {c: '1'}\n"
        },
    )
    assert project.services["c"].config["labels"] == {"a": "1", "b": "1", "c": "1"}


@pytest.mark.parametrize(
    "text,needle",
    [
        ("services:\n  a:\n    image: x\n    extends: a\n", "Circular reference"),
        ("services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n", "Circular reference"),
        ("services:\n  a:\n    image: x\n    extends: nope\n", 'service "nope" not found'),
    ],
)
def test_errors(tmp_path, text, needle):
    with pytest.raises(ComposeError) as info:
        load(tmp_path, {"compose.yaml": text})
    assert needle in str(info.value)


def test_include_uses_its_own_folder_and_env(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "include:\n  - sub/inc.yaml\nservices:\n  web:\n    image: a\n",
            "sub/inc.yaml": "services:\n  inc:\n    build: .\n    environment:\n      - V=${V}\n",
            "sub/.env": "V=from-sub\n",
        },
    )
    inc = project.services["inc"].config
    assert inc["build"]["context"] == str(tmp_path / "sub")
    assert inc["environment"] == {"V": "from-sub"}


@pytest.mark.parametrize("as_folder", [False, True])
def test_include_reads_a_dotenv_file_beside_it_but_not_a_folder(tmp_path, as_folder):
    from .oracle import compose_config

    files = {
        "compose.yaml": "include:\n  - sub/inc.yaml\n",
        "sub/inc.yaml": "services:\n  inc:\n    image: app\n    environment:\n      - V=${V:-unset}\n",
    }
    if as_folder:
        (tmp_path / "sub" / ".env").mkdir(parents=True)
    else:
        files["sub/.env"] = "V=from-sub\n"
    project = load(tmp_path, files)
    theirs = compose_config(str(tmp_path), {})
    assert theirs.ok, theirs.stderr
    expected = theirs.config["services"]["inc"]["environment"]
    assert expected == {"V": "unset" if as_folder else "from-sub"}
    assert project.services["inc"].config["environment"] == expected


@pytest.mark.parametrize("tag", ["!override", "!reset"])
def test_override_and_reset_in_an_extending_service_drop_the_base_value(tmp_path, tag):
    from .oracle import compose_config

    value = "['1:1']" if tag == "!override" else "[]"
    files = {
        "compose.yaml": "services:\n  base:\n    image: a\n    ports: ['2:2']\n"
        f"  web:\n    extends: base\n    ports: {tag} {value}\n"
    }
    project = load(tmp_path, files)
    theirs = compose_config(str(tmp_path), {})
    assert theirs.ok, theirs.stderr
    expected = theirs.config["services"]["web"].get("ports")
    assert [p["target"] for p in expected or []] == ([1] if tag == "!override" else [])
    assert project.services["web"].config.get("ports") == expected


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_extended_build_contexts_and_watch_rules_print_as_compose_does(tmp_path, fmt):
    """additional_contexts as a mapping resolved against the extended file's folder, watch paths
    made absolute, ignore as a list, JSON's exec hook, and no labels from an empty label file."""
    import subprocess
    import sys

    from .oracle import run_compose
    from .test_no_interpolate import PROJECTS

    files = {**PROJECTS["extends-and-include"], "sub/b.env": "", "sub/l.env": "", "s.txt": "", "inc/s.txt": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    theirs = run_compose(["config", "--format", fmt], str(tmp_path), env)
    assert theirs.returncode == 0, theirs.stderr
    assert "/sub/src" in theirs.stdout and "node_modules" in theirs.stdout
    repo = Path(__file__).resolve().parents[2]
    ours = subprocess.run(
        [sys.executable, "-m", "supervisor", "config", "--format", fmt, "--no-mask"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
