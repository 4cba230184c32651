"""One-node mutations of a valid compose document: every key's value replaced by a wrong type.

A valid document covering most service fields; :func:`mutated_document` replaces the value at one
path by a null, a number, a boolean, a string, a list, a mapping or a deeply nested value, and
:func:`paths` lists every path of the base.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "name": "proj",
    "services": {
        "app": {
            "image": "node:20",
            "command": ["node", "index.js"],
            "entrypoint": "/entry.sh",
            "environment": {"A": "1", "B": None},
            "env_file": ["extra.env"],
            "labels": {"l": "v"},
            "ports": ["8080:80", {"target": 81, "published": "8081"}],
            "expose": ["3000"],
            "volumes": ["data:/data", {"type": "bind", "source": ".", "target": "/src"}],
            "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "10s", "retries": 3},
            "deploy": {
                "replicas": 1,
                "resources": {"limits": {"cpus": "0.5", "memory": "512m"}},
                "restart_policy": {"condition": "on-failure", "max_attempts": 3},
            },
            "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
            "networks": {"front": {"aliases": ["a"]}},
            "restart": "unless-stopped",
            "ulimits": {"nofile": {"soft": 1024, "hard": 2048}},
            "extra_hosts": ["h:1.2.3.4"],
            "dns": ["8.8.8.8"],
            "tmpfs": ["/tmp"],
            "cap_add": ["NET_ADMIN"],
            "sysctls": {"net.core.somaxconn": 1024},
            "stop_grace_period": "10s",
            "user": "1000",
            "working_dir": "/app",
            "privileged": False,
            "read_only": True,
            "tty": True,
            "stdin_open": True,
            "init": True,
            "pid": "host",
            "shm_size": "64m",
            "secrets": ["s"],
            "configs": [{"source": "c", "target": "/c"}],
            "profiles": ["p1"],
            "build": {"context": ".", "dockerfile": "Dockerfile", "args": {"X": "1"}, "target": "t"},
            "x-ext": {"k": "v"},
        },
        "db": {"image": "postgres:16", "volumes_from": ["app"] if False else [], "links": ["cache"]},
        "cache": {"image": "redis:7"},
    },
    "networks": {"front": {"driver": "bridge", "ipam": {"config": [{"subnet": "10.0.0.0/24"}]}}},
    "volumes": {"data": {"driver": "local", "labels": {"a": "b"}}},
    "secrets": {"s": {"file": "./secret.txt"}},
    "configs": {"c": {"content": "hello"}},
    "x-top": {"a": [1, 2]},
}
# the base is valid with the app's profile enabled: list it by default
BASE["services"]["app"].pop("profiles")
BASE["services"]["db"].pop("volumes_from")


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(paths(value, prefix + (key,)))
    return out


ALL_PATHS = paths(BASE)


def nested(depth: int) -> Any:
    value: Any = "v"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


WRONG = st.one_of(
    st.sampled_from(
        [
            None,
            0,
            1,
            -1,
            1.5,
            1e400,
            True,
            False,
            "",
            "x",
            "1",
            "-1",
            "true",
            "yes",
            "1e400",
            [],
            {},
            ["x"],
            [1],
            [None],
            {"k": "v"},
            {"k": None},
            {"k": 1},
            {"k": []},
            [[1]],
            "${UNSET}",
            "9" * 30,
            "10s",
            "1g",
            "a_dir",
            "missing.txt",
        ]
    ),
    st.integers(2, 60).map(nested),
)


@st.composite
def mutated_document(draw: st.DrawFn) -> tuple[tuple[Any, ...], Any, dict[str, Any]]:
    path = draw(st.sampled_from(ALL_PATHS))
    value = draw(WRONG)
    doc = copy.deepcopy(BASE)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return path, value, doc
