"""A deterministic corpus of about 3,800 mutated compose projects, for the acceptance census.

Each :class:`Case` is a small project (files, special files, extra command-line arguments) in one
category: wrong types, nulls, odd scalars, deep nesting, special files, cycles, huge values,
interpolation, encodings, ``label_file``, duplicate keys, anchors and merge keys.  The same seed
gives the same cases in the same order.  ``census_run.py`` runs each through the real compose
binary and through ``supervisor config -q``; ``scripts/acceptance-census.py`` prints the table.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import socket
import stat
from pathlib import Path
from typing import Any, Iterator

import yaml

from .mutations import ALL_PATHS, BASE, nested

#: the files every project has beside its compose.yaml (the base document refers to them)
BASE_FILES: dict[str, bytes] = {
    "extra.env": b"A=1\n",
    "secret.txt": b"s\n",
    "Dockerfile": b"FROM x\n",
    "a_dir/keep": b"",
}

MARK = "MUTVAL0"

SERVICE_FIELDS = (
    "annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs container_name "
    "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset credential_spec "
    "depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search domainname entrypoint env_file "
    "environment expose extends external_links extra_hosts gpus group_add healthcheck hostname image init ipc "
    "isolation label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness memswap_limit "
    "models network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop "
    "privileged profiles provider pull_policy pull_refresh_after read_only restart runtime scale secrets "
    "security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits "
    "use_api_socket user userns_mode uts volumes volumes_from working_dir"
).split()

TOP_FIELDS = ("name", "services", "networks", "volumes", "secrets", "configs", "include", "version", "models")

WRONG_VALUES: tuple[Any, ...] = (
    0,
    1,
    -1,
    1.5,
    True,
    False,
    "",
    "x",
    "1",
    [],
    {},
    ["x"],
    [1],
    [True],
    {"k": "v"},
    {"k": 1},
    {"k": []},
    [[1]],
    [{"k": "v"}],
    "a_dir",
    "missing.txt",
)

NULL_VALUES: tuple[Any, ...] = (None, [None], {"k": None})

#: raw YAML scalars written as they are (not through a YAML writer)
ODD_SCALARS: tuple[str, ...] = (
    "1e400",
    "-1e400",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    ".inf",
    ".nan",
    "-0",
    "+1",
    "yes",
    "no",
    "on",
    "off",
    "Y",
    "~",
    "Null",
    "TRUE",
    "2024-01-01",
    "12:30",
    "'1e400'",
    "'0x1F'",
    "99999999999999999999",
    "-9223372036854775809",
    "9223372036854775807",
    "0.1e1",
    "1.",
    "!!str 1",
    "!!int '1'",
    "!!binary aGVsbG8=",
    "'" + "x" * 100_000 + "'",
    "'" + "9" * 5000 + "'",
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One project: files (path, bytes), special files (path, kind) and extra global arguments."""

    name: str
    category: str
    files: tuple[tuple[str, bytes], ...]
    specials: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    #: False when the problem lies in a file named on the command line (no line to point at)
    locatable: bool = True
    #: run both sides as an unprivileged user (unreadable files mean nothing to root)
    as_nobody: bool = False


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1 << 20)


def _with(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _project(text: str, extra: dict[str, bytes] | None = None) -> tuple[tuple[str, bytes], ...]:
    files = dict(BASE_FILES)
    files["compose.yaml"] = text.encode("utf-8")
    files.update(extra or {})
    return tuple(files.items())


SMALL = "services:\n  s:\n    image: x\n"


def _small(
    extra_service: str = "", extra_top: str = "", files: dict[str, bytes] | None = None
) -> tuple[tuple[str, bytes], ...]:
    return _project(extra_top + SMALL + extra_service, files)


def _label(path: tuple[Any, ...]) -> str:
    return ".".join(str(key) for key in path)


# --- categories -------------------------------------------------------------------------------


def wrong_types(rng: random.Random) -> Iterator[Case]:
    for path in ALL_PATHS:
        for index, value in enumerate(WRONG_VALUES):
            if rng.random() < 0.37:
                yield Case(f"wrong:{_label(path)}:{index}", "wrong types", _project(_dump(_with(BASE, path, value))))
    for field in SERVICE_FIELDS:
        for index, value in enumerate(WRONG_VALUES):
            if rng.random() < 0.35:
                doc = _with(BASE, ("services", "cache", field), value)
                yield Case(f"wrong:cache.{field}:{index}", "wrong types", _project(_dump(doc)))
    for field in TOP_FIELDS:
        for index, value in enumerate(WRONG_VALUES):
            yield Case(f"wrong:top.{field}:{index}", "wrong types", _project(_dump(_with(BASE, (field,), value))))


def nulls(rng: random.Random) -> Iterator[Case]:
    for path in ALL_PATHS:
        for index, value in enumerate(NULL_VALUES):
            if index == 0 or rng.random() < 0.3:
                yield Case(f"null:{_label(path)}:{index}", "null values", _project(_dump(_with(BASE, path, value))))
    for field in SERVICE_FIELDS:
        yield Case(
            f"null:cache.{field}", "null values", _project(_dump(_with(BASE, ("services", "cache", field), None)))
        )
    for field in TOP_FIELDS:
        yield Case(f"null:top.{field}", "null values", _project(_dump(_with(BASE, (field,), None))))


def odd_scalars(rng: random.Random) -> Iterator[Case]:
    targets = [p for p in ALL_PATHS] + [("services", "cache", f) for f in SERVICE_FIELDS]
    for path in targets:
        for index, raw in enumerate(ODD_SCALARS):
            if rng.random() < 0.085:
                text = _dump(_with(BASE, path, MARK)).replace(MARK, raw, 1)
                yield Case(f"odd:{_label(path)}:{index}", "odd scalars", _project(text))


def deep_nesting(rng: random.Random) -> Iterator[Case]:
    depths = [2, 3, 5, 8, 13, 21, 34, 60]
    for path in ALL_PATHS:
        for depth in depths:
            if rng.random() < 0.13:
                yield Case(
                    f"deep:{_label(path)}:{depth}", "deep nesting", _project(_dump(_with(BASE, path, nested(depth))))
                )
    for depth in (100, 500, 999, 1000, 1001, 5000):
        for where, template in (
            ("x", "x-deep: {v}\n" + SMALL),
            ("labels", SMALL + "    labels:\n      a: {v}\n"),
            ("command", SMALL + "    command: {v}\n"),
            ("environment", SMALL + "    environment: {v}\n"),
        ):
            lists = "[" * depth + "]" * depth
            maps = "{a: " * depth + "1" + "}" * depth
            yield Case(f"deep:{where}:lists:{depth}", "deep nesting", _project(template.replace("{v}", lists)))
            yield Case(f"deep:{where}:maps:{depth}", "deep nesting", _project(template.replace("{v}", maps)))


SPECIAL_KINDS = (
    "fifo",
    "dev-zero",
    "dev-null",
    "dev-urandom",
    "directory",
    "unreadable",
    "symlink-loop",
    "dangling",
    "socket",
    "proc",
)

#: where a special file is referred to: (label, compose text with {p}, extra files, extra args)
SPECIAL_PLACES: tuple[tuple[str, str, dict[str, bytes], tuple[str, ...]], ...] = (
    ("env_file", SMALL + "    env_file: {p}\n", {}, ()),
    ("env_file-optional", SMALL + "    env_file:\n      - path: {p}\n        required: false\n", {}, ()),
    ("env_file-raw", SMALL + "    env_file:\n      - path: {p}\n        format: raw\n", {}, ()),
    ("label_file", SMALL + "    label_file: {p}\n", {}, ()),
    ("dockerfile", SMALL + "    build: {context: ., dockerfile: {p}}\n", {}, ()),
    ("context", SMALL + "    build: {p}\n", {}, ()),
    ("extends", "services:\n  s:\n    extends: {file: {p}, service: b}\n", {}, ()),
    ("include", "include: [{p}]\n" + SMALL, {}, ()),
    (
        "include-env",
        "include:\n  - path: other.yaml\n    env_file: {p}\n" + SMALL,
        {"other.yaml": b"services:\n  o:\n    image: y\n"},
        (),
    ),
    ("secret-file", SMALL + "    secrets: [k]\nsecrets:\n  k:\n    file: {p}\n", {}, ()),
    ("config-file", SMALL + "    configs: [k]\nconfigs:\n  k:\n    file: {p}\n", {}, ()),
    ("bind-source", SMALL + "    volumes: ['{p}:/x']\n", {}, ()),
)


def _special_path(kind: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    if kind == "dev-zero":
        return "/dev/zero", ()
    if kind == "dev-null":
        return "/dev/null", ()
    if kind == "dev-urandom":
        return "/dev/urandom", ()
    if kind == "proc":
        return "/proc/self/status", ()
    if kind == "directory":
        return "a_dir", ()
    return f"sp_{kind}", ((f"sp_{kind}", kind),)


def special_files(rng: random.Random) -> Iterator[Case]:
    for kind in SPECIAL_KINDS:
        path, specials = _special_path(kind)
        for label, template, extra, args in SPECIAL_PLACES:
            if kind == "fifo" and label in ("env_file-raw", "context", "bind-source", "config-file"):
                continue  # a FIFO costs a wait on both sides: the others stand for these
            text = template.replace("{p}", path)
            yield Case(
                f"special:{kind}:{label}",
                "special files",
                _project(text, extra),
                specials,
                args,
                as_nobody=kind == "unreadable",
            )
        # files named on the command line, and the project's own .env
        yield Case(
            f"special:{kind}:-f",
            "special files",
            _project(SMALL),
            specials,
            ("-f", path),
            locatable=False,
            as_nobody=kind == "unreadable",
        )
        yield Case(
            f"special:{kind}:--env-file",
            "special files",
            _project(SMALL),
            specials,
            ("--env-file", path),
            locatable=False,
            as_nobody=kind == "unreadable",
        )
        if kind not in ("dev-zero", "dev-null", "dev-urandom", "proc"):
            dot = tuple((".env", k) for _, k in specials) or ((".env", "directory-at"),)
            yield Case(
                f"special:{kind}:.env",
                "special files",
                _project(SMALL),
                dot,
                locatable=False,
                as_nobody=kind == "unreadable",
            )
    # a folder without search permission on the way to a file
    for label, template, extra, args in SPECIAL_PLACES[:8]:
        text = template.replace("{p}", "closed/inner")
        yield Case(
            f"special:closed-folder:{label}",
            "special files",
            _project(text, extra),
            (("closed", "closed-folder"),),
            args,
            as_nobody=True,
        )


def cycles(rng: random.Random) -> Iterator[Case]:
    def ring(field: str, length: int, form: str) -> str:
        names = [f"s{i}" for i in range(length)]
        out = "services:\n"
        for i, name in enumerate(names):
            nxt = names[(i + 1) % length]
            out += f"  {name}:\n    image: x\n"
            out += "    " + form.replace("{n}", nxt).replace("{f}", field) + "\n"
        return out

    forms = {
        "depends_on": [
            "depends_on: [{n}]",
            "depends_on: {{n}: {condition: service_started}}",
            "depends_on: {{n}: {condition: service_healthy, required: false}}",
        ],
        "links": ["links: [{n}]", "links: ['{n}:alias']"],
        "network_mode": ["network_mode: 'service:{n}'"],
        "volumes_from": ["volumes_from: [{n}]", "volumes_from: ['{n}:ro']"],
        "ipc": ["ipc: 'service:{n}'"],
        "pid": ["pid: 'service:{n}'"],
    }
    for field, variants in forms.items():
        for vi, form in enumerate(variants):
            for length in (1, 2, 3, 7):
                yield Case(f"cycle:{field}:{vi}:{length}", "cycles", _project(ring(field, length, form)))
    # two kinds together: a -> b by one field, b -> a by another
    fields = [(f, v[0]) for f, v in forms.items()]
    for (fa, a), (fb, b) in [(x, y) for x in fields for y in fields if x != y]:
        text = (
            "services:\n  a:\n    image: x\n    "
            + a.replace("{n}", "b")
            + "\n  b:\n    image: x\n    "
            + b.replace("{n}", "a")
            + "\n"
        )
        yield Case(f"cycle:mixed:{fa}+{fb}", "cycles", _project(text))
    # references to unknown services
    for field, variants in forms.items():
        text = "services:\n  a:\n    image: x\n    " + variants[0].replace("{n}", "nosuch") + "\n"
        yield Case(f"cycle:unknown:{field}", "cycles", _project(text))
    # extends cycles: in one file, across files, through a chain
    yield Case("cycle:extends:self", "cycles", _project("services:\n  a:\n    image: x\n    extends: a\n"))
    yield Case(
        "cycle:extends:pair",
        "cycles",
        _project("services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n"),
    )
    yield Case(
        "cycle:extends:chain",
        "cycles",
        _project("services:\n  a:\n    extends: b\n  b:\n    extends: c\n  c:\n    image: x\n    extends: a\n"),
    )
    yield Case(
        "cycle:extends:files",
        "cycles",
        _project(
            "services:\n  a:\n    image: x\n    extends: {file: o.yaml, service: b}\n",
            {"o.yaml": b"services:\n  b:\n    image: x\n    extends: {file: compose.yaml, service: a}\n"},
        ),
    )
    yield Case(
        "cycle:extends:self-file",
        "cycles",
        _project("services:\n  a:\n    image: x\n    extends: {file: compose.yaml, service: a}\n"),
    )
    yield Case("cycle:extends:unknown", "cycles", _project("services:\n  a:\n    image: x\n    extends: nosuch\n"))
    # include cycles
    yield Case("cycle:include:self", "cycles", _project("include: [compose.yaml]\n" + SMALL))
    yield Case(
        "cycle:include:pair",
        "cycles",
        _project(
            "include: [o.yaml]\n" + SMALL, {"o.yaml": b"include: [compose.yaml]\nservices:\n  o:\n    image: y\n"}
        ),
    )
    yield Case(
        "cycle:include:same-service", "cycles", _project("include: [o.yaml]\n" + SMALL, {"o.yaml": SMALL.encode()})
    )


def huge_values(rng: random.Random) -> Iterator[Case]:
    long = "x" * 100_000
    for field in (
        "image",
        "container_name",
        "hostname",
        "working_dir",
        "user",
        "command",
        "entrypoint",
        "platform",
        "restart",
        "pid",
    ):
        yield Case(f"huge:long:{field}", "huge values", _small(f"    {field}: '{long}'\n"))
    yield Case("huge:long:environment", "huge values", _small(f"    environment:\n      A: '{long}'\n"))
    yield Case("huge:long:label-key", "huge values", _small(f"    labels:\n      '{long}': v\n"))
    yield Case("huge:long:service-name", "huge values", _project(f"services:\n  {'s' * 10_000}:\n    image: x\n"))
    yield Case("huge:mib-value", "huge values", _small(f"    environment:\n      A: '{'y' * (1 << 20)}'\n"))
    yield Case("huge:over-limit-file", "huge values", _small(f"    environment:\n      A: '{'y' * (11 << 20)}'\n"))
    for count in (1000, 5000):
        services = "".join(f"  s{i}:\n    image: x\n" for i in range(count))
        yield Case(f"huge:services:{count}", "huge values", _project("services:\n" + services))
        env = "".join(f"      V{i}: '{i}'\n" for i in range(count))
        yield Case(f"huge:environment:{count}", "huge values", _small("    environment:\n" + env))
        ports = "".join(f"      - '{10000 + i}:{i % 60000 + 1}'\n" for i in range(count))
        yield Case(f"huge:ports:{count}", "huge values", _small("    ports:\n" + ports))
    for spec in (
        "1-1000000",
        "0-65535",
        "1-65536",
        "8000-8100:8000-8100",
        "1-65535:1-65535",
        "70000:80",
        "80:70000",
        "-1:80",
        "99999999999999999999:80",
        "1-2-3",
        "8000-7000:80",
    ):
        yield Case(f"huge:port:{spec}", "huge values", _small(f"    ports: ['{spec}']\n"))
    numbers = (
        "99999999999999999999",
        "9223372036854775808",
        "-9223372036854775809",
        "1" + "0" * 400,
        "9" * 5000,
        "1e308",
        "1e309",
        "-1",
        "0",
        "4294967296",
    )
    for field in (
        "scale",
        "cpu_count",
        "cpu_shares",
        "pids_limit",
        "oom_score_adj",
        "mem_swappiness",
        "cpus",
        "mem_limit",
        "shm_size",
        "stop_grace_period",
    ):
        for ni, number in enumerate(numbers):
            if rng.random() < 0.6:
                yield Case(f"huge:number:{field}:{ni}", "huge values", _small(f"    {field}: {number}\n"))
    for ni, number in enumerate(numbers):
        yield Case(f"huge:replicas:{ni}", "huge values", _small(f"    deploy:\n      replicas: {number}\n"))
        yield Case(
            f"huge:retries:{ni}",
            "huge values",
            _small(f"    healthcheck:\n      test: [CMD, 'true']\n      retries: {number}\n"),
        )
        yield Case(f"huge:ulimit:{ni}", "huge values", _small(f"    ulimits:\n      nofile: {number}\n"))
    for size in (
        "1",
        "1b",
        "1k",
        "1kb",
        "1.5g",
        "1e3m",
        "-1m",
        "1x",
        "9999999999999999999g",
        "0",
        "1 m",
        "1M",
        "1G",
        "1T",
        "1P",
    ):
        yield Case(f"huge:size:{size}", "huge values", _small(f"    mem_limit: '{size}'\n"))
    for duration in ("1s", "1.5s", "1h2m3s", "1d", "-1s", "1", "1us", "1µs", "9999999999h", "1e3s", "", "s"):
        yield Case(f"huge:duration:{duration}", "huge values", _small(f"    stop_grace_period: '{duration}'\n"))
        yield Case(
            f"huge:hc-duration:{duration}",
            "huge values",
            _small(f"    healthcheck:\n      test: [CMD, 'true']\n      interval: '{duration}'\n"),
        )


TEMPLATES: tuple[str, ...] = (
    "${",
    "${A",
    "${A:-",
    "${A:-x",
    "$",
    "$$",
    "$$$",
    "${}",
    "${ A}",
    "${A }",
    "${1A}",
    "${A-B-C}",
    "${A:-${B:-${C:-x}}}",
    "${A:-${B}",
    "${A:?must be set}",
    "${A?}",
    "${SET:?x}",
    "${A:+x}",
    "${SET:+x}",
    "${SET-}",
    "${A[0]}",
    "${A:}",
    "${A:x}",
    "$}",
    "${A}}",
    "${{A}",
    "$A$",
    "$1",
    "$-",
    "${SET:-$$}",
    "${A:-$}",
    "x${SET}y${A}z",
    "${SET}",
    "${" * 200,
    "${A:-" * 50 + "x" + "}" * 50,
    "${A:-" + "x" * 100_000,
    "${LONG}",
    "${LONG}${LONG}${LONG}",
    "\\${A}",
    "${A:-'x'}",
    '${A:-"x"}',
    "${A:-\\}}",
    "${é}",
    "${A.B}",
    "${A/x/y}",
    "${#A}",
    "${A%x}",
)

TEMPLATE_FIELDS: tuple[tuple[str, str], ...] = (
    ("image", "    image: '{t}'\n"),
    ("environment", "    environment:\n      E: '{t}'\n"),
    ("environment-list", "    environment: ['E={t}']\n"),
    ("command", "    command: ['{t}']\n"),
    ("label", "    labels:\n      l: '{t}'\n"),
    ("label-key", "    labels:\n      '{t}': v\n"),
    ("ports", "    ports: ['{t}']\n"),
    ("cpus", "    cpus: '{t}'\n"),
    ("replicas", "    deploy:\n      replicas: '{t}'\n"),
    ("env_file", "    env_file: '{t}'\n"),
    ("service-key", None),
)


def interpolation(rng: random.Random) -> Iterator[Case]:
    env = b"SET=value\nLONG=" + b"L" * 20_000 + b"\n"
    for ti, template in enumerate(TEMPLATES):
        quoted = template.replace("'", "''")
        for field, form in TEMPLATE_FIELDS:
            if rng.random() > 0.6:
                continue
            if form is None:
                text = f"services:\n  s:\n    image: x\n  '{quoted}':\n    image: y\n"
            else:
                text = (
                    "services:\n  s:\n" + ("" if field == "image" else "    image: x\n") + form.replace("{t}", quoted)
                )
            yield Case(f"interp:{field}:{ti}", "interpolation", _project(text, {".env": env}))
    # templates inside .env itself
    for ti, template in enumerate(TEMPLATES[:30]):
        dotenv = b"SET=value\nE=" + template.encode() + b"\n"
        yield Case(
            f"interp:dotenv:{ti}",
            "interpolation",
            _project(SMALL + "    environment:\n      E: ${E}\n", {".env": dotenv}),
        )


def encodings(rng: random.Random) -> Iterator[Case]:
    body = SMALL + "    environment:\n      A: 'é'\n"
    variants: dict[str, bytes] = {
        "utf8-bom": b"\xef\xbb\xbf" + body.encode(),
        "utf16-le-bom": body.encode("utf-16"),
        "utf16-be-bom": b"\xfe\xff" + body.encode("utf-16-be"),
        "utf16-le": body.encode("utf-16-le"),
        "utf16-be": body.encode("utf-16-be"),
        "utf32-bom": body.encode("utf-32"),
        "latin1": body.encode("latin-1"),
        "invalid-utf8": SMALL.encode() + b"    labels: {a: '\xff\xfe'}\n",
        "nul": SMALL.encode() + b"    labels: {a: 'a\x00b'}\n",
        "nul-plain": SMALL.encode() + b"\x00\n",
        "crlf": body.replace("\n", "\r\n").encode(),
        "cr": body.replace("\n", "\r").encode(),
        "tabs": b"services:\n\ts:\n\t\timage: x\n",
        "tab-in-value": SMALL.encode() + b'    labels: {a: "\t"}\n',
        "control": SMALL.encode() + b"    labels: {a: '\x07'}\n",
        "del": SMALL.encode() + b"    labels: {a: '\x7f'}\n",
        "nel": SMALL.encode() + "    labels: {a: 'a\u0085b'}\n".encode(),
        "ls": SMALL.encode() + "    labels: {a: 'a\u2028b'}\n".encode(),
        "empty": b"",
        "only-bom": b"\xef\xbb\xbf",
        "bom-inside": SMALL.encode() + "    labels: {a: '\ufeff'}\n".encode(),
        "two-docs": (SMALL + "---\n" + SMALL).encode(),
        "doc-end": (SMALL + "...\n").encode(),
        "directive": ("%YAML 1.1\n---\n" + SMALL).encode(),
        "directive-12": ("%YAML 1.2\n---\n" + SMALL).encode(),
        "surrogate-escape": SMALL.encode() + b'    labels: {a: "\\ud800"}\n',
        "astral": SMALL.encode() + "    labels: {a: '\U0001f600'}\n".encode(),
        "emoji-key": SMALL.encode() + "    labels: {'\U0001f600': a}\n".encode(),
    }
    for name, data in variants.items():
        files = dict(BASE_FILES)
        files["compose.yaml"] = data
        # an empty file has no line to point at
        yield Case(
            f"encoding:compose:{name}", "encodings", tuple(files.items()), locatable=name not in ("empty", "only-bom")
        )
    env_body = "A=é\nB=2\n"
    env_variants: dict[str, bytes] = {
        "utf8-bom": b"\xef\xbb\xbf" + env_body.encode(),
        "utf16-le-bom": env_body.encode("utf-16"),
        "utf16-be-bom": b"\xfe\xff" + env_body.encode("utf-16-be"),
        "latin1": env_body.encode("latin-1"),
        "invalid-utf8": b"A=\xff\n",
        "nul": b"A=a\x00b\n",
        "crlf": env_body.replace("\n", "\r\n").encode(),
        "cr": env_body.replace("\n", "\r").encode(),
        "no-newline": b"A=1",
        "empty": b"",
        "bad-name": b"1A=1\n",
        "space-name": b"A B=1\n",
        "no-equals": b"A\n",
        "export": b"export A=1\n",
        "unterminated": b'A="x\n',
        "single-unterminated": b"A='x\n",
        "dash-name": b"A-B=1\n",
        "dot-name": b"A.B=1\n",
        "comment-only": b"# c\n",
        "inline-comment": b"A=1 # c\n",
        "multi-line": b'A="a\nb"\n',
        "escapes": b'A="\\n\\t\\\\\\x"\n',
        "empty-name": b"=1\n",
        "unicode-name": "É=1\n".encode(),
    }
    for name, data in env_variants.items():
        yield Case(
            f"encoding:dotenv:{name}",
            "encodings",
            _project(SMALL + "    environment:\n      E: ${A:-}\n", {".env": data}),
        )
        yield Case(f"encoding:env_file:{name}", "encodings", _project(SMALL + "    env_file: e.env\n", {"e.env": data}))
        yield Case(
            f"encoding:label_file:{name}", "encodings", _project(SMALL + "    label_file: l.env\n", {"l.env": data})
        )


def label_files(rng: random.Random) -> Iterator[Case]:
    good = {"l.env": b"A=1\nB=2\n", "m.env": b"B=3\nC=4\n"}
    forms = {
        "string": "    label_file: l.env\n",
        "list": "    label_file: [l.env, m.env]\n",
        "with-labels": "    label_file: l.env\n    labels: {A: x}\n",
        "with-labels-list": "    label_file: l.env\n    labels: [A=x]\n",
        "missing": "    label_file: nosuch.env\n",
        "missing-in-list": "    label_file: [l.env, nosuch.env]\n",
        "empty-list": "    label_file: []\n",
        "empty-string": "    label_file: ''\n",
        "long-form": "    label_file:\n      - path: l.env\n",
        "long-form-optional": "    label_file:\n      - path: nosuch.env\n        required: false\n",
        "number": "    label_file: 1\n",
        "mapping": "    label_file: {a: b}\n",
        "null": "    label_file: null\n",
        "directory": "    label_file: a_dir\n",
        "absolute-missing": "    label_file: /nonexistent/l.env\n",
        "interpolated": "    label_file: ${LF}\n",
        "interpolated-unset": "    label_file: ${NOPE}\n",
        "duplicate": "    label_file: [l.env, l.env]\n",
        "env-file-too": "    label_file: l.env\n    env_file: m.env\n",
    }
    for name, form in forms.items():
        yield Case(f"label_file:{name}", "label_file", _small(form, files={**good, ".env": b"LF=m.env\n"}))
    contents = {
        "interpolation": b"A=${SET}\n",
        "unterminated": b'A="x\n',
        "export": b"export A=1\n",
        "bad-name": b"1A=1\n",
        "no-equals": b"A\n",
        "com.docker": b"com.docker.compose.project=x\n",
        "empty-value": b"A=\n",
        "quoted": b"A='x y'\n",
    }
    for name, data in contents.items():
        yield Case(
            f"label_file:content:{name}",
            "label_file",
            _small("    label_file: c.env\n", files={"c.env": data, ".env": b"SET=v\n"}),
        )
    # extends and include carrying a label_file
    yield Case(
        "label_file:extends",
        "label_file",
        _project(
            "services:\n  s:\n    extends: {file: sub/b.yaml, service: b}\n",
            {"sub/b.yaml": b"services:\n  b:\n    image: x\n    label_file: l.env\n", "sub/l.env": b"A=1\n"},
        ),
    )
    yield Case(
        "label_file:extends-missing",
        "label_file",
        _project(
            "services:\n  s:\n    extends: {file: sub/b.yaml, service: b}\n",
            {"sub/b.yaml": b"services:\n  b:\n    image: x\n    label_file: l.env\n", "l.env": b"A=1\n"},
        ),
    )


def duplicate_keys(rng: random.Random) -> Iterator[Case]:
    yield Case("dup:top-services", "duplicate keys", _project(SMALL + "services:\n  t:\n    image: y\n"))
    yield Case("dup:top-name", "duplicate keys", _project("name: a\nname: b\n" + SMALL))
    yield Case("dup:service", "duplicate keys", _project("services:\n  s:\n    image: x\n  s:\n    image: y\n"))
    for field, value in (
        ("image", "y"),
        ("command", "[a]"),
        ("environment", "{A: 1}"),
        ("ports", "['80']"),
        ("labels", "{a: b}"),
        ("deploy", "{replicas: 2}"),
        ("x-e", "1"),
    ):
        yield Case(
            f"dup:field:{field}", "duplicate keys", _project(SMALL + f"    {field}: {value}\n    {field}: {value}\n")
        )
    yield Case("dup:env-key", "duplicate keys", _small("    environment:\n      A: 1\n      A: 2\n"))
    yield Case("dup:env-list", "duplicate keys", _small("    environment: [A=1, A=2]\n"))
    yield Case("dup:env-list-bare", "duplicate keys", _small("    environment: [A, A=2]\n"))
    yield Case("dup:label-list", "duplicate keys", _small("    labels: [a=1, a=2]\n"))
    yield Case("dup:label-key", "duplicate keys", _small("    labels:\n      a: 1\n      a: 2\n"))
    yield Case("dup:ports", "duplicate keys", _small("    ports: ['80:80', '80:80']\n"))
    yield Case("dup:ports-published", "duplicate keys", _small("    ports: ['80:80', '80:81']\n"))
    yield Case("dup:volumes-target", "duplicate keys", _small("    volumes: ['a:/x', 'b:/x']\n"))
    yield Case("dup:volumes-same", "duplicate keys", _small("    volumes: ['a:/x', 'a:/x']\n"))
    yield Case("dup:expose", "duplicate keys", _small("    expose: ['80', '80']\n"))
    yield Case("dup:dns", "duplicate keys", _small("    dns: [1.1.1.1, 1.1.1.1]\n"))
    yield Case("dup:cap_add", "duplicate keys", _small("    cap_add: [A, A]\n"))
    yield Case("dup:profiles", "duplicate keys", _small("    profiles: [a, a]\n"))
    yield Case(
        "dup:secrets", "duplicate keys", _small("    secrets: [k, k]\n", "secrets:\n  k:\n    file: secret.txt\n")
    )
    yield Case(
        "dup:depends_on-list",
        "duplicate keys",
        _project("services:\n  s:\n    image: x\n    depends_on: [t, t]\n  t:\n    image: y\n"),
    )
    yield Case("dup:networks-list", "duplicate keys", _small("    networks: [n, n]\n", "networks:\n  n: {}\n"))
    yield Case("dup:extra_hosts", "duplicate keys", _small("    extra_hosts: ['h:1.2.3.4', 'h:1.2.3.5']\n"))
    yield Case("dup:sysctls-list", "duplicate keys", _small("    sysctls: [a=1, a=2]\n"))
    yield Case("dup:ulimits", "duplicate keys", _small("    ulimits:\n      nofile: 1\n      nofile: 2\n"))
    yield Case(
        "dup:container_name",
        "duplicate keys",
        _project("services:\n  s:\n    image: x\n    container_name: c\n  t:\n    image: y\n    container_name: c\n"),
    )
    yield Case("dup:networks-top", "duplicate keys", _small("", "networks:\n  n: {}\n  n: {}\n"))
    yield Case("dup:merge-and-key", "duplicate keys", _small("    x-a: &a {image: y}\n    <<: *a\n"))
    yield Case("dup:case", "duplicate keys", _small("    Image: y\n"))
    yield Case("dup:quoted", "duplicate keys", _small("    'image': y\n"))
    yield Case("dup:env-file-twice", "duplicate keys", _small("    env_file: [extra.env, extra.env]\n"))
    yield Case(
        "dup:two-files",
        "duplicate keys",
        _project(SMALL, {"compose.override.yaml": b"services:\n  s:\n    image: y\n"}),
    )
    yield Case(
        "dup:compose-and-docker-compose",
        "duplicate keys",
        _project(SMALL, {"docker-compose.yaml": b"services:\n  t:\n    image: y\n"}),
    )
    yield Case(
        "dup:yml-and-yaml", "duplicate keys", _project(SMALL, {"compose.yml": b"services:\n  t:\n    image: y\n"})
    )


def anchors(rng: random.Random) -> Iterator[Case]:
    top = "x-a: &a {image: x, restart: always}\nx-b: &b {labels: {l: v}}\nx-l: &l [a, b]\nx-s: &s str\n"
    forms = {
        "merge": "  s:\n    <<: *a\n",
        "merge-list": "  s:\n    <<: [*a, *b]\n",
        "merge-override": "  s:\n    <<: *a\n    image: y\n",
        "merge-before": "  s:\n    image: y\n    <<: *a\n",
        "merge-scalar": "  s:\n    image: x\n    <<: *s\n",
        "merge-list-alias": "  s:\n    image: x\n    <<: *l\n",
        "merge-null": "  s:\n    image: x\n    <<: null\n",
        "merge-inline": "  s:\n    <<: {image: x}\n",
        "merge-list-inline": "  s:\n    <<: [{image: x}, {restart: always}]\n",
        "merge-nested": "  s:\n    image: x\n    labels:\n      <<: {a: b}\n",
        "merge-in-list": "  s:\n    image: x\n    command: [<<]\n",
        "merge-string-key": "  s:\n    image: x\n    '<<': {restart: always}\n",
        "merge-twice": "  s:\n    <<: *a\n    <<: *b\n",
        "alias-value": "  s:\n    image: *s\n",
        "alias-list": "  s:\n    image: x\n    command: *l\n",
        "alias-map-as-string": "  s:\n    image: *a\n",
        "alias-undefined": "  s:\n    image: *nosuch\n",
        "alias-key": "  *s :\n    image: x\n",
        "anchor-redefined": "  s:\n    image: &s other\n    hostname: *s\n",
        "anchor-on-service": "  s: &svc\n    image: x\n  t: *svc\n",
        "anchor-in-list": "  s:\n    image: x\n    command: [&c run, *c]\n",
        "alias-services": None,
        "merge-deep-chain": "  s:\n    <<: *c3\n",
        "tag-merge": "  s:\n    !!merge <<: *a\n",
        "tag-str-map": "  s:\n    image: !!str x\n",
        "tag-unknown": "  s:\n    image: !custom x\n",
        "tag-reset": "  s:\n    image: x\n    labels: !reset {}\n",
        "tag-override": "  s:\n    image: x\n    labels: !override {a: b}\n",
        "tag-reset-null": "  s:\n    image: !reset null\n",
        "tag-binary": "  s:\n    image: !!binary eA==\n",
        "tag-set": "  s:\n    image: x\n    labels: !!set {a, b}\n",
        "tag-omap": "  s:\n    image: x\n    labels: !!omap [a: b]\n",
        "tag-timestamp": "  s:\n    image: x\n    labels: {a: !!timestamp 2020-01-01}\n",
        "tag-float-int": "  s:\n    image: x\n    scale: !!float 1\n",
        "complex-key": "  s:\n    image: x\n    labels:\n      ? [a]\n      : b\n",
        "null-key": "  s:\n    image: x\n    labels:\n      ~: b\n",
        "bool-key": "  s:\n    image: x\n    labels:\n      true: b\n",
        "int-key": "  s:\n    image: x\n    labels:\n      1: b\n",
        "float-key": "  s:\n    image: x\n    labels:\n      1.5: b\n",
        "int-service": "  1:\n    image: x\n",
        "bool-service": "  true:\n    image: x\n",
    }
    chain = "x-c0: &c0 {image: x}\nx-c1: &c1 {<<: *c0, restart: always}\nx-c2: &c2 {<<: *c1}\nx-c3: &c3 {<<: *c2}\n"
    for name, form in forms.items():
        if form is None:
            text = "x-svc: &svc\n  s:\n    image: x\nservices: *svc\n"
        else:
            text = top + chain + "services:\n" + form
        yield Case(f"anchor:{name}", "anchors and merge keys", _project(text))
    for n in (3, 5, 6, 7):
        text = 'x-a: &a ["l","l","l","l","l","l","l","l","l"]\n'
        for index in range(1, n):
            name, previous = chr(97 + index), chr(96 + index)
            text += f"x-{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        yield Case(
            f"anchor:laughs:{n}",
            "anchors and merge keys",
            _project(text + SMALL + f"    labels: {{a: *{chr(96 + n)}}}\n"),
        )
    yield Case("anchor:recursive", "anchors and merge keys", _project("x-a: &a [*a]\n" + SMALL))
    yield Case("anchor:recursive-map", "anchors and merge keys", _project("x-a: &a {b: *a}\n" + SMALL))


CATEGORIES = (
    wrong_types,
    nulls,
    odd_scalars,
    deep_nesting,
    special_files,
    cycles,
    huge_values,
    interpolation,
    encodings,
    label_files,
    duplicate_keys,
    anchors,
)

SEED = 16


def generate(seed: int = SEED) -> list[Case]:
    """Every case of the census, in a fixed order for a given seed (about 3,800)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for category in CATEGORIES:
        cases.extend(category(rng))
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


def sample(cases: list[Case], size: int, seed: int = SEED) -> list[Case]:
    """``size`` cases, spread over every category in proportion (at least a few of each)."""
    rng = random.Random(seed)
    by_category: dict[str, list[Case]] = {}
    for case in cases:
        by_category.setdefault(case.category, []).append(case)
    out: list[Case] = []
    for members in by_category.values():
        share = max(4, round(size * len(members) / len(cases)))
        out.extend(rng.sample(members, min(share, len(members))))
    return out


# --- writing a case to disk -------------------------------------------------------------------


def materialize(case: Case, root: Path) -> None:
    """Write ``case`` under ``root`` (an empty folder)."""
    for name, data in case.files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, kind in case.specials:
        path = root / name
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "unreadable":
            path.write_bytes(b"A=1\n")
            path.chmod(0)
        elif kind == "symlink-loop":
            os.symlink(name, path)
        elif kind == "dangling":
            os.symlink("nowhere", path)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
            sock.close()
        elif kind == "directory-at":
            path.mkdir()
        elif kind == "closed-folder":
            path.mkdir()
            (path / "inner").write_bytes(b"services:\n  b:\n    image: x\n")
            path.chmod(0)
        else:
            raise ValueError(kind)
    if case.as_nobody:
        root.chmod(0o755)
        for dirpath, dirnames, filenames in os.walk(root):
            for entry in dirnames + filenames:
                full = Path(dirpath) / entry
                if (
                    full.is_symlink()
                    or entry in ("closed",)
                    or (full.exists() and stat.S_IMODE(full.lstat().st_mode) == 0)
                ):
                    continue
                full.chmod(0o755 if full.is_dir() else 0o644)
