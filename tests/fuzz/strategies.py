"""Hypothesis strategies for hostile inputs: compose documents, .env files, frames and CARs.

Every generated project defines ``DB_PASSWORD`` and ``API_KEY`` (secret names) in its ``.env``
with the value :data:`~tests.fuzz.harness.SECRET`, and places that secret in random fields,
literally or through templates: whatever the field, no output may show it.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from .harness import SECRET

SERVICE_NAMES = ("app", "worker", "db", "python-backfill-worker")

# Values a careless or hostile user writes where a secret ends up
SECRET_PLACEMENTS = (
    "${DB_PASSWORD}",
    "${API_KEY}",
    f"--token={SECRET}",
    "--api-key ${API_KEY}",
    f"PGPASSWORD={SECRET} psql",
    "postgres://user:${DB_PASSWORD}@db:5432/app",
    f"https://u:{SECRET}@relay.example/x",
    SECRET,
    "${DB_PASSWORD:-x}",
    "${DB_PASSWORD:?missing}",
    "pre-${API_KEY}-post",
    "${API_KEY}.env",
    "${UNSET:-${DB_PASSWORD}}",
    f"admin:{SECRET}",
)

HOSTILE_SCALARS = (
    None,
    0,
    -1,
    1.5,
    1e400,
    True,
    False,
    "",
    " ",
    "${",
    "${" * 200,
    "$${A}",
    "${A:-" + "x" * 300,
    "${A",
    "$",
    "1-1000000",
    "99999999999999999999",
    "-5",
    "nan",
    "inf",
    "1e400",
    "0x10",
    "~",
    "null",
    "yes",
    "on",
    "é\u202e\u0000",
    "\t",
    "\\",
    "../../etc/passwd",
    "/dev/zero",
    "/proc/kmsg",
    "fifo",
    "a_dir",
    "loop",
    "x" * 5000,
    "9" * 5000,
    "a://" * 200,
    "service:app",
    "service:worker",
    "container:x",
    "host",
)

LEAVES = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.sampled_from(SECRET_PLACEMENTS),
    st.text(max_size=12),
    st.integers(-(2**70), 2**70),
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Lists or mappings nested ``depth`` deep around a leaf."""
    value: Any = SECRET if depth % 2 else "${DB_PASSWORD}"
    for level in range(depth):
        value = [value] if level % 3 else {"k": value}
    return st.just(value)


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(("a", "b", "KEY", "x-y")), inner, max_size=3)
    ),
    max_leaves=6,
) | st.integers(10, 120).flatmap(nested)

# Service fields with plausible values; each may be replaced by any hostile value
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "image": st.sampled_from(("postgres:16", "node:20", "x", "${API_KEY}", "1e400")),
    "build": st.sampled_from(
        (
            ".",
            {"context": ".", "dockerfile": "/dev/zero"},
            {"context": ".", "dockerfile": "fifo"},
            {"context": ".", "args": {"NPM_TOKEN": SECRET}},
            {"context": "a_dir", "args": ["A=${DB_PASSWORD}"]},
        )
    ),
    "command": st.sampled_from(
        (
            "pm2-runtime start dist/index.js -i 4",
            ["node", "--token", SECRET],
            "sh -c 'exec node x --password=${DB_PASSWORD}'",
            ["python", "firehose_consumer.py"],
        )
    ),
    "entrypoint": st.sampled_from((["/entry.sh"], "docker-entrypoint.sh")),
    "environment": st.dictionaries(
        st.sampled_from(
            (
                "BACKFILL_DAYS",
                "FIREHOSE_ENABLED",
                "OTHER",
                "DATABASE_URL",
                "RELAY_URL",
                "WORKER_ID",
                "DB_PASSWORD",
                "NODE_APP_INSTANCE",
                "pm_id",
                "LOG_LEVEL",
            )
        ),
        st.one_of(
            st.sampled_from(SECRET_PLACEMENTS), st.sampled_from(("2", "0", "-1", "7d", "true", "9" * 5000)), LEAVES
        ),
        max_size=5,
    ),
    "env_file": st.sampled_from(
        (
            "extra.env",
            ["extra.env", "missing.env"],
            "/dev/zero",
            "fifo",
            "a_dir",
            [{"path": "extra.env", "required": False}],
            "${API_KEY}.env",
            "loop",
        )
    ),
    "ports": st.lists(
        st.sampled_from(("80", "8080:80", "1-1000000", "${API_KEY}:80", "65536", "1-3:1-3/udp")), max_size=3
    ),
    "healthcheck": st.sampled_from(
        (
            {"test": ["CMD", "pg_isready", "-p", "${DB_PASSWORD}"]},
            {"test": f"PGPASSWORD={SECRET} psql"},
            {"test": "NONE", "interval": "${API_KEY}"},
        )
    ),
    "labels": st.sampled_from(({"a": "https://u:${DB_PASSWORD}@h"}, [f"basic={SECRET}"], {"KEY": "x"})),
    "logging": st.sampled_from((None, {"driver": None}, {"options": {"token": SECRET}})),
    "mem_limit": st.sampled_from(("1g", "${API_KEY}", "lots", -1)),
    "cpus": st.sampled_from((0.5, "${API_KEY}", "many", 2)),
    "scale": st.sampled_from((2, "${API_KEY}", -1)),
    "depends_on": st.sampled_from((["db"], {"db": {"condition": "service_healthy"}}, ["app"], ["nope"])),
    "network_mode": st.sampled_from(("service:worker", "service:app", "host", "none")),
    "volumes_from": st.sampled_from((["worker"], ["app"])),
    "profiles": st.sampled_from((["${API_KEY}"], ["off"], [SECRET])),
    "extends": st.sampled_from(({"service": "worker"}, {"file": "${API_KEY}.yml", "service": "x"}, "app")),
    "x-supervisor": st.sampled_from(
        (
            {"implementation": "publicappview-typescript"},
            {"variant": SECRET},
            {"ignore": [{"code": "SV001"}]},
            {"implementation": "${API_KEY}"},
        )
    ),
    "x-admin": st.sampled_from(({"admin_password": SECRET}, {"url": "redis://:${DB_PASSWORD}@r:6379"})),
}


@st.composite
def service(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=6, unique=True))
    body: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        body["image"] = "x"
    for key in keys:
        body[key] = draw(VALUES) if draw(st.integers(0, 9)) == 0 else draw(FIELDS[key])
    return body


@st.composite
def compose_document(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(SERVICE_NAMES), min_size=1, max_size=3, unique=True))
    doc: dict[str, Any] = {"services": {name: draw(service()) for name in names}}
    for top, strategy in (
        ("include", st.sampled_from((1, ["missing.yml"], [{"path": 1}], ["fifo"], "${API_KEY}"))),
        ("x-top", VALUES),
        ("volumes", st.sampled_from(({"v": None}, {"v": {"external": 1}}, 1))),
        ("name", st.sampled_from(("p", "${API_KEY}", "Bad Name", ""))),
        ("secrets", st.sampled_from(({"s": {"file": "/dev/zero"}}, {"s": {"environment": "API_KEY"}}))),
        ("configs", st.sampled_from(({"c": {"content": "${DB_PASSWORD}"}}, {"c": {"file": "fifo"}}))),
    ):
        if draw(st.integers(0, 9)) == 0:
            doc[top] = draw(strategy)
    if draw(st.integers(0, 19)) == 0:
        doc["services"][names[0]] = draw(LEAVES)
    return doc


def mutate_text(draw: st.DrawFn, text: str) -> str:
    """Line-level damage: cut, swap indentation, insert YAML features (tabs, anchors, tags, merges)."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 3))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(("cut", "indent", "insert", "delete", "dup")))
        if kind == "cut":
            lines[at] = lines[at][: draw(st.integers(0, max(0, len(lines[at]))))]
        elif kind == "indent":
            lines[at] = draw(st.sampled_from(("\t", " ", "   "))) + lines[at]
        elif kind == "insert":
            lines.insert(
                at,
                draw(
                    st.sampled_from(
                        (
                            "  <<: *missing",
                            "x-a: &a [1, 2]",
                            "  - *a",
                            "!!binary AAAA",
                            "? [a]",
                            ": x",
                            "%YAML 1.1",
                            "---",
                            "key: !!python/object:os.system ls",
                            f"  password: {SECRET}",
                            "{",
                            "'",
                            '"${DB_PASSWORD}',
                            "services: ~",
                            "services:\n  s:\n    logging: null\n    image: x",
                        )
                    )
                ),
            )
        elif kind == "delete":
            del lines[at]
        else:
            lines.insert(at, lines[at])
    return "\n".join(lines)


@st.composite
def compose_text(draw: st.DrawFn) -> str:
    text = yaml.safe_dump(draw(compose_document()), sort_keys=False, width=10_000)
    return mutate_text(draw, text) if draw(st.integers(0, 3)) == 0 else text


ENV_LINES = st.sampled_from(
    (
        "BACKFILL_DAYS=2",
        "OTHER=plain",
        f"REUSED={SECRET}",
        "export X=1",
        "A",
        "=x",
        " B = c ",
        "C='unterminated",
        'D="${DB_PASSWORD}',
        "E=${API_KEY}",
        "F=${",
        "G=${G}",
        "H=" + "${API_KEY}" * 50,
        "\x00",
        "# comment",
        "I=\\",
        "J=`cmd`",
        "K=$(cmd)",
        "L=" + "x" * 5000,
        "\ufeffM=1",
        "N=${DB_PASSWORD:?no}",
        "RELAY_URL=wss://u:${DB_PASSWORD}@r",
    )
)


SAFE_ENV_LINES = st.sampled_from(
    (
        "BACKFILL_DAYS=2",
        "OTHER=plain",
        f"REUSED={SECRET}",
        "export X=1",
        "E=${API_KEY}",
        "RELAY_URL=wss://u:${DB_PASSWORD}@r",
        "# comment",
        "FIREHOSE_ENABLED=true",
    )
)


@st.composite
def env_text(draw: st.DrawFn) -> str:
    """A .env that defines both secrets first, then damaged or hostile lines."""
    extra = draw(st.lists(ENV_LINES if draw(st.integers(0, 3)) == 0 else SAFE_ENV_LINES, max_size=5))
    return "\n".join([f"DB_PASSWORD={SECRET}", f"API_KEY={SECRET}", *extra]) + "\n"
