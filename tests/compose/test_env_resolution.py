"""Service environment: env_file, environment, bare variables, and the provenance of each value."""

from __future__ import annotations

from pathlib import Path

from supervisor.compose.loader import load_project
from supervisor.compose.model import LoadOptions


def load(tmp_path: Path, files: dict[str, str], environ=None, **kwargs):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_project(LoadOptions(cwd=str(tmp_path), environ=environ or {}, **kwargs))


COMPOSE = """services:
  web:
    image: a
    env_file: [one.env, two.env]
    environment:
      - OVER=env
      - BARE
      - EMPTY=
      - FROM_SHELL
      - TEMPLATE=${FROM_DOTENV:-d}-${NOPE:-n}
"""


def test_values_follow_compose(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": COMPOSE,
            "one.env": "A=1\nOVER=file\nBARE=file\n",
            "two.env": "A=2\nB=${A}\n",
            ".env": "FROM_DOTENV=dot\n",
        },
        environ={"FROM_SHELL": "shell"},
    )
    env = project.services["web"].config["environment"]
    assert env == {
        "A": "2",
        "B": "2",
        "OVER": "env",
        "BARE": None,
        "EMPTY": "",
        "FROM_SHELL": "shell",
        "TEMPLATE": "dot-n",
    }


def test_provenance_records(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": COMPOSE,
            "one.env": "A=1\nOVER=file\nBARE=file\n",
            "two.env": "A=2\nB=${A}\n",
            ".env": "FROM_DOTENV=dot\n",
        },
        environ={"FROM_SHELL": "shell"},
    )
    env = project.services["web"].environment
    compose_file = str(tmp_path / "compose.yaml")

    over = env["OVER"]
    assert over.origin.kind == "environment"
    assert (over.origin.location.file, over.origin.location.line) == (compose_file, 6)
    assert [(o.value, o.origin.kind) for o in over.overridden] == [("file", "env_file")]

    a = env["A"]
    assert a.origin.kind == "env_file" and a.origin.location.line == 1
    assert a.origin.location.file == str(tmp_path / "two.env")
    assert [o.value for o in a.overridden] == ["1"]

    bare = env["BARE"]
    assert bare.value is None and bare.origin.kind == "environment"
    assert [o.value for o in bare.overridden] == ["file"]

    shell = env["FROM_SHELL"]
    assert shell.value == "shell"
    assert [(s.variable, s.origin.kind) for s in shell.substitutions] == [("FROM_SHELL", "shell")]

    template = env["TEMPLATE"]
    assert template.raw == "${FROM_DOTENV:-d}-${NOPE:-n}"
    subs = {s.variable: s for s in template.substitutions}
    assert subs["FROM_DOTENV"].origin.kind == "dotenv"
    assert subs["FROM_DOTENV"].origin.location.line == 1
    assert subs["NOPE"].origin.kind == "unset" and subs["NOPE"].used_default


def test_environment_from_an_earlier_file_is_overridden(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    environment: {X: one}\n",
            "compose.override.yaml": "services:\n  web:\n    environment: [X=two]\n",
        },
    )
    x = project.services["web"].environment["X"]
    assert x.value == "two"
    assert x.origin.location.file.endswith("compose.override.yaml")
    assert [(o.value, o.origin.location.file.rsplit("/", 1)[1]) for o in x.overridden] == [("one", "compose.yaml")]


def test_raw_env_file_and_optional_missing(tmp_path):
    project = load(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    env_file:\n      - path: none.env\n"
            "        required: false\n      - path: raw.env\n        format: raw\n",
            "raw.env": "R='quoted' $x\n",
        },
    )
    assert project.services["web"].config["environment"] == {"R": "'quoted' $x"}


def test_project_environment_origins(tmp_path):
    project = load(
        tmp_path,
        {"compose.yaml": "services:\n  web:\n    image: a\n", ".env": "# c\nD=1\nS=dot\n"},
        environ={"S": "shell"},
    )
    assert project.environment["S"] == ("shell", project.environment["S"][1])
    assert project.environment["S"][1].kind == "shell"
    value, origin = project.environment["D"]
    assert value == "1" and origin.kind == "dotenv" and origin.location.line == 2
