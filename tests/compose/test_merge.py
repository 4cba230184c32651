"""Multi-file merge rules (expected values checked against `docker compose config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import LoadOptions


def load(tmp_path: Path, files: dict[str, str], names: list[str], **kwargs):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return load_project(LoadOptions(files=names, cwd=str(tmp_path), environ=kwargs.pop("environ", {}), **kwargs))


BASE = """services:
  web:
    image: a
    command: a b
    environment: {A: "1", B: "2"}
    labels: {l1: a}
    ports: ["80:80", "81:81"]
    volumes: ["./a:/a", "/b:/b"]
    depends_on: [db]
    dns: [1.1.1.1]
    healthcheck: {test: [CMD, a], interval: 10s}
  db:
    image: postgres
"""

# (override text, attribute, expected value of services.web[attribute])
CASES = [
    ("command: [c]", "command", ["c"]),
    ("entrypoint: x y", "entrypoint", ["x", "y"]),
    ("environment: [A=9, C=3]", "environment", {"A": "9", "B": "2", "C": "3"}),
    ("environment: {B: null}", "environment", {"A": "1", "B": None}),
    ("labels: [l2=b]", "labels", {"l1": "a", "l2": "b"}),
    ("dns: [8.8.8.8]", "dns", ["1.1.1.1", "8.8.8.8"]),
    ("dns: !reset []", "dns", None),
    ("healthcheck: {test: [CMD, b]}", "healthcheck", {"test": ["CMD", "b"], "interval": "10s"}),
    (
        "depends_on: {db: {condition: service_healthy}}",
        "depends_on",
        {"db": {"condition": "service_healthy", "required": True}},
    ),
    (
        "ports: ['80:80', '82:82']",
        "ports",
        [
            {"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"},
            {"mode": "ingress", "target": 81, "published": "81", "protocol": "tcp"},
            {"mode": "ingress", "target": 82, "published": "82", "protocol": "tcp"},
        ],
    ),
    (
        "ports: !override ['90:90']",
        "ports",
        [
            {"mode": "ingress", "target": 90, "published": "90", "protocol": "tcp"},
        ],
    ),
    ("volumes: ['./c:/a']", "volumes", None),  # checked separately: same target replaces in place
    ("image: !reset null\n    build: .", "image", None),
    # a null keeps the earlier value, except where the rule replaces
    ("image: null", "image", "a"),
    ("environment: null", "environment", {"A": "1", "B": "2"}),
    (
        "ports: null",
        "ports",
        [
            {"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"},
            {"mode": "ingress", "target": 81, "published": "81", "protocol": "tcp"},
        ],
    ),
    ("depends_on: {db: null}", "depends_on", {"db": {"condition": "service_started", "required": True}}),
    ("healthcheck: {interval: null}", "healthcheck", {"test": ["CMD", "a"], "interval": "10s"}),
    ("command: null", "command", None),
]


@pytest.mark.parametrize("override,attribute,expected", CASES, ids=[c[0] for c in CASES])
def test_override_rules(tmp_path, override, attribute, expected):
    files = {"compose.yaml": BASE, "o.yaml": "services:\n  web:\n    " + override + "\n"}
    project = load(tmp_path, files, ["compose.yaml", "o.yaml"])
    web = project.services["web"].config
    if attribute == "volumes":
        assert [v["source"] for v in web["volumes"]] == [str(tmp_path / "c"), "/b"]
    else:
        assert web.get(attribute) == expected


def test_x_keys_are_replaced_not_merged(tmp_path):
    files = {"a.yaml": "x-cfg: {a: 1, b: 2}\nservices:\n  web:\n    image: a\n", "b.yaml": "x-cfg: {c: 3}\n"}
    project = load(tmp_path, files, ["a.yaml", "b.yaml"])
    assert project.extensions == {"x-cfg": {"c": 3}}
    assert project.config["x-cfg"] == {"c": 3}


def test_env_file_order_and_later_file_wins(tmp_path):
    files = {
        "a.yaml": "services:\n  web:\n    image: a\n    env_file: [one.env]\n",
        "b.yaml": "services:\n  web:\n    env_file: [two.env, one.env]\n",
        "one.env": "X=one\nY=one\n",
        "two.env": "X=two\n",
    }
    project = load(tmp_path, files, ["a.yaml", "b.yaml"])
    # unicity keeps one.env at its first place, so two.env (loaded later) wins
    assert project.services["web"].config["environment"] == {"X": "two", "Y": "one"}


def test_type_conflict_is_an_error(tmp_path):
    from supervisor.compose.model import ComposeError

    files = {
        "a.yaml": "services:\n  web:\n    image: a\n    labels: {a: b}\n    deploy: {replicas: 1}\n",
        "b.yaml": "services:\n  web:\n    deploy: 3\n",
    }
    with pytest.raises(ComposeError):
        load(tmp_path, files, ["a.yaml", "b.yaml"])


def test_null_logging_is_refused(tmp_path):
    from supervisor.compose.model import ComposeError

    files = {
        "a.yaml": "services:\n  web:\n    image: a\n    logging: {driver: json-file}\n",
        "b.yaml": "services:\n  web:\n    logging: null\n",
    }
    with pytest.raises(ComposeError, match="cannot override services.web.logging"):
        load(tmp_path, files, ["a.yaml", "b.yaml"])


def test_null_x_key_keeps_the_earlier_value(tmp_path):
    files = {"a.yaml": "x-cfg: {a: 1}\nservices:\n  web:\n    image: a\n", "b.yaml": "x-cfg: null\n"}
    assert load(tmp_path, files, ["a.yaml", "b.yaml"]).extensions == {"x-cfg": {"a": 1}}
