"""``compose/normalize.py`` on its own, in memory: one table per rule (expected values as compose 2.40 prints them)."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.compose.model import ComposeError
from supervisor.compose.normalize import (
    canonical,
    external_names,
    implicit_dependencies,
    omit_empty,
    parse_ports,
    parse_volume,
    resolve_paths,
    shell_split,
    split_command_line,
    to_mapping,
)

# --- ports: the short syntax as long entries ------------------------------------------------

PORTS: list[tuple[Any, list[dict[str, Any]]]] = [
    ("80", [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
    (80, [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
    ("8080:80", [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]),
    (
        "127.0.0.1:8080:80/UDP",
        [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "udp", "host_ip": "127.0.0.1"}],
    ),
    ("[::1]:53:53/udp", [{"mode": "ingress", "target": 53, "published": "53", "protocol": "udp", "host_ip": "::1"}]),
    (
        "9000-9001:90-91",
        [
            {"mode": "ingress", "target": 90, "published": "9000", "protocol": "tcp"},
            {"mode": "ingress", "target": 91, "published": "9001", "protocol": "tcp"},
        ],
    ),
    # one container port, a host range to allocate from
    ("3000-3005:80", [{"mode": "ingress", "target": 80, "published": "3000-3005", "protocol": "tcp"}]),
]


@pytest.mark.parametrize("spec,expected", PORTS)
def test_parse_ports(spec: Any, expected: list[dict[str, Any]]) -> None:
    assert parse_ports(spec) == expected


PORT_ERRORS = [
    ("80/icmp", "invalid proto: icmp"),
    ("x:80", "invalid hostPort: x"),
    ("8080:70000", "invalid containerPort: 70000"),
    ("1-1000000", "invalid containerPort: 1-1000000"),
    ("1000-1001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 1000-1001"),
    ("90-80", "invalid containerPort: 90-80"),
]


@pytest.mark.parametrize("spec,message", PORT_ERRORS)
def test_parse_ports_refuses(spec: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse_ports(spec)
    assert info.value.message == message


# --- volumes: [source:]target[:options] -----------------------------------------------------

VOLUMES: list[tuple[str, dict[str, Any]]] = [
    ("/anon", {"type": "volume", "target": "/anon", "volume": {}}),
    ("/a", {"type": "volume", "target": "/a"}),  # two characters or fewer: compose's shortcut
    ("named:/n", {"type": "volume", "source": "named", "target": "/n", "volume": {}}),
    ("named:/n:nocopy", {"type": "volume", "source": "named", "target": "/n", "volume": {"nocopy": True}}),
    (
        "./data:/data:ro",
        {"type": "bind", "source": "./data", "target": "/data", "read_only": True, "bind": {"create_host_path": True}},
    ),
    ("/srv:/srv:ro,rw", {"type": "bind", "source": "/srv", "target": "/srv", "bind": {"create_host_path": True}}),
    (
        "./x:/x:z,rshared",
        {
            "type": "bind",
            "source": "./x",
            "target": "/x",
            "bind": {"selinux": "z", "propagation": "rshared", "create_host_path": True},
        },
    ),
    ("~/cache:/c", {"type": "bind", "source": "~/cache", "target": "/c", "bind": {"create_host_path": True}}),
    ("c:/data:/data", {"type": "bind", "source": "c:/data", "target": "/data", "bind": {"create_host_path": True}}),
]


@pytest.mark.parametrize("spec,expected", VOLUMES)
def test_parse_volume(spec: str, expected: dict[str, Any]) -> None:
    assert parse_volume(spec) == expected


def test_parse_volume_refuses_an_empty_spec() -> None:
    with pytest.raises(ComposeError, match="invalid empty volume spec"):
        parse_volume("")


# --- command lines: go-shellwords, no expansion ---------------------------------------------

COMMAND_LINES = [
    ("echo hello", ["echo", "hello"]),
    ("  spaced \t out\n", ["spaced", "out"]),
    ("echo \"a b\" 'c d' x\\ y", ["echo", "a b", "c d", "x y"]),
    ('say "a \\"quoted\\" word"', ["say", 'a "quoted" word']),
    ("keep 'single \\ backslash'", ["keep", "single \\ backslash"]),
    ('empty "" words', ["empty", "", "words"]),
    ("run; ignored", ["run"]),
    ("a | b", ["a"]),
    ("cmd 2>/dev/null", ["cmd"]),
    ("echo $(date) `id`", ["echo", "$(date)", "`id`"]),
    ("echo $HOME", ["echo", "$HOME"]),
]


@pytest.mark.parametrize("line,words", COMMAND_LINES)
def test_split_command_line(line: str, words: list[str]) -> None:
    assert split_command_line(line) == words


@pytest.mark.parametrize("line", ['echo "open', "echo 'open", "trailing \\", "echo `open", "echo $(open", "a (b)"])
def test_split_command_line_refuses(line: str) -> None:
    with pytest.raises(ValueError, match="invalid command line string"):
        split_command_line(line)


SHELL_SPLIT = [
    (None, None),
    ("a b", ["a", "b"]),
    (["a b", 1, True], ["a b", "1", "true"]),  # list items are kept, formatted as compose formats them
]


@pytest.mark.parametrize("value,expected", SHELL_SPLIT)
def test_shell_split(value: Any, expected: Any) -> None:
    assert shell_split(value, "services.web.command") == expected


def test_shell_split_names_the_key() -> None:
    with pytest.raises(
        ComposeError, match=r"^services.web.command: invalid command line string \(an unterminated quote\?\)$"
    ):
        shell_split('echo "open', "services.web.command")


# --- K=V lists and mappings -----------------------------------------------------------------

MAPPINGS: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
    (["A=1", "B=x=y", "C"], {}, {"A": "1", "B": "x=y", "C": None}),
    (["C"], {"allow_null": False}, {"C": ""}),
    ({"A": 1, "B": None, "C": True}, {}, {"A": "1", "B": None, "C": "true"}),
    ({"B": None}, {"allow_null": False}, {"B": ""}),
    (["host:1.2.3.4"], {"sep": ":"}, {"host": "1.2.3.4"}),
    (None, {}, {}),
]


@pytest.mark.parametrize("value,options,expected", MAPPINGS)
def test_to_mapping(value: Any, options: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_mapping(value, **options) == expected


# --- canonical: the short syntaxes of a service as long ones --------------------------------

CANONICAL: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"build": "./app"}, {"build": {"context": "./app"}}),
    ({"extends": "base"}, {"extends": {"service": "base"}}),
    ({"depends_on": ["db"]}, {"depends_on": {"db": {"condition": "service_started", "required": True}}}),
    (
        {"depends_on": {"db": {"condition": "service_healthy"}}},
        {"depends_on": {"db": {"condition": "service_healthy", "required": True}}},
    ),
    ({"env_file": "a.env"}, {"env_file": [{"path": "a.env", "required": True}]}),
    (
        {"env_file": ["a.env", {"path": "b.env", "required": False}]},
        {"env_file": [{"path": "a.env", "required": True}, {"path": "b.env", "required": False}]},
    ),
    ({"networks": ["front", "back"]}, {"networks": {"front": None, "back": None}}),
    (
        {"ports": ["8080:80", {"target": 81, "published": 8081}]},
        {
            "ports": [
                {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
                {"target": 81, "published": "8081"},
            ]
        },
    ),
    ({"volumes": ["named:/n"]}, {"volumes": [{"type": "volume", "source": "named", "target": "/n", "volume": {}}]}),
]


@pytest.mark.parametrize("service,expected", CANONICAL)
def test_canonical_service(service: dict[str, Any], expected: dict[str, Any]) -> None:
    model = canonical({"services": {"web": service}})
    assert model["services"]["web"] == expected


def test_canonical_gives_empty_resources_a_mapping() -> None:
    model = canonical({"volumes": {"data": None}, "networks": {"front": None, "back": {"driver": "bridge"}}})
    assert model == {"volumes": {"data": {}}, "networks": {"front": {}, "back": {"driver": "bridge"}}}


def test_canonical_places_a_bad_port_at_its_item() -> None:
    with pytest.raises(ComposeError, match="invalid proto: icmp"):
        canonical({"services": {"web": {"ports": ["80/icmp"]}}})


# --- external: {name: N} --------------------------------------------------------------------


def test_external_names_become_name_and_external_true() -> None:
    model: dict[str, Any] = {"volumes": {"data": {"external": {"name": "shared"}}, "plain": {"external": True}}}
    warnings = external_names(model)
    assert model["volumes"] == {"data": {"name": "shared", "external": True}, "plain": {"external": True}}
    assert len(warnings) == 1 and "external.name" in warnings[0] and "data" in warnings[0]


# --- implicit dependencies ------------------------------------------------------------------

IMPLICIT: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = [
    (
        {"links": ["db:database", "cache"]},
        {
            "db": {"condition": "service_started", "restart": True, "required": True},
            "cache": {"condition": "service_started", "restart": True, "required": True},
        },
    ),
    (
        {"network_mode": "service:vpn", "pid": "service:tools", "ipc": "host"},
        {
            "vpn": {"condition": "service_started", "restart": True, "required": True},
            "tools": {"condition": "service_started", "restart": True, "required": True},
        },
    ),
    ({"volumes_from": ["data:ro", "container:other"]}, {"data": {"condition": "service_started", "required": True}}),
    ({"image": "nginx"}, {}),
]


@pytest.mark.parametrize("service,expected", IMPLICIT)
def test_implicit_dependencies(service: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    assert implicit_dependencies(service) == expected


# --- omitempty --------------------------------------------------------------------------------

OMIT: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"image": "nginx", "hostname": "", "tty": False}, {"image": "nginx"}),
    ({"environment": {"EMPTY": "", "OFF": False}}, {"environment": {"EMPTY": "", "OFF": False}}),
    ({"x-note": "", "labels": {"a": ""}}, {"x-note": "", "labels": {"a": ""}}),
    ({"build": {"context": ".", "target": ""}}, {"build": {"context": "."}}),
]


@pytest.mark.parametrize("node,expected", OMIT)
def test_omit_empty(node: dict[str, Any], expected: dict[str, Any]) -> None:
    assert omit_empty(node) == expected


# --- relative paths ---------------------------------------------------------------------------


def test_resolve_paths_makes_local_paths_absolute() -> None:
    model = {
        "services": {
            "web": {
                "build": {"context": "./app"},
                "env_file": [{"path": "conf/a.env", "required": True}],
                "label_file": "labels.env",
                "volumes": [
                    {"type": "bind", "source": "./data", "target": "/data"},
                    {"type": "volume", "source": "named", "target": "/n"},
                ],
            },
            "remote": {"build": {"context": "https://github.com/o/r.git#main"}},
        }
    }
    resolve_paths(model, "/proj")
    web = model["services"]["web"]
    assert web["build"]["context"] == "/proj/app"
    assert web["env_file"][0]["path"] == "/proj/conf/a.env"
    assert web["label_file"] == "/proj/labels.env"
    assert [v["source"] for v in web["volumes"]] == ["/proj/data", "named"]
    assert model["services"]["remote"]["build"]["context"] == "https://github.com/o/r.git#main"
