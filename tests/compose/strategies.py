"""Hypothesis strategies for random compose projects: files, ``.env``, shell and options.

A generated :class:`ComposeCase` is a whole project folder (compose files, override files,
``.env``, ``env_file:`` files), the shell environment of the command and its command line
options.  It is written to a folder with :meth:`ComposeCase.write` and fed to both our loader
and the real ``docker compose`` binary; the two results are compared field by field.

Compose files are built as small trees (:class:`YamlMap`, lists, :class:`Tagged`, scalars)
and rendered by a tiny YAML emitter of our own, because the cases need things a YAML library
will not write: duplicate keys, ``!reset``/``!override`` tags and hand-picked quoting styles.

:func:`broken_cases` mutates a valid project into one that Docker Compose refuses (malformed
templates, ``${V:?err}`` unset, schema violations, duplicate keys, bad ``.env`` syntax...).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, Optional

from hypothesis import strategies as st

__all__ = [
    "YamlMap",
    "Tagged",
    "Scalar",
    "render_yaml",
    "ComposeCase",
    "VARIABLES",
    "templates",
    "dotenv_files",
    "shell_environments",
    "service_bodies",
    "compose_cases",
    "broken_cases",
    "chance",
]

# ---------------------------------------------------------------------------------------------
# A tiny YAML emitter
# ---------------------------------------------------------------------------------------------


class YamlMap:
    """An ordered YAML mapping that may repeat a key (to provoke duplicate-key errors)."""

    def __init__(self, pairs: Any = ()):
        if isinstance(pairs, dict):
            pairs = pairs.items()
        self.pairs: list[tuple[str, Any]] = [(k, v) for k, v in pairs]

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.pairs:
            if k == key:
                return v
        return default

    def set(self, key: str, value: Any) -> None:
        for i, (k, _) in enumerate(self.pairs):
            if k == key:
                self.pairs[i] = (key, value)
                return
        self.pairs.append((key, value))

    def keys(self) -> list[str]:
        return [k for k, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"YamlMap({self.pairs!r})"


@dataclasses.dataclass(frozen=True)
class Tagged:
    """A value carrying a YAML tag such as ``!reset`` or ``!override``."""

    tag: str
    value: Any


@dataclasses.dataclass(frozen=True)
class Scalar:
    """A string scalar written in a chosen style: ``plain``, ``single`` or ``double``."""

    text: str
    style: str = "double"


_PLAIN_SAFE = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./=-]*$")
# YAML 1.1 resolvers turn these plain words into booleans or null; never write them plain.
_PLAIN_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _quote(text: str, style: str = "double") -> str:
    if style == "plain" and _PLAIN_SAFE.match(text) and text.lower() not in _PLAIN_RESERVED:
        return text
    if style == "single" and all(" " <= ch <= "~" for ch in text):
        return "'" + text.replace("'", "''") + "'"
    # JSON string syntax is a subset of YAML's double-quoted style.
    return json.dumps(text, ensure_ascii=True)


def _inline(node: Any) -> str:
    if isinstance(node, Tagged):
        return f"{node.tag} {_inline(node.value)}"
    if node is None:
        return "null"
    if node is True:
        return "true"
    if node is False:
        return "false"
    if isinstance(node, (int, float)):
        return repr(node)
    if isinstance(node, Scalar):
        return _quote(node.text, node.style)
    if isinstance(node, str):
        return _quote(node)
    if isinstance(node, (YamlMap, dict)) and len(node) == 0:
        return "{}"
    if isinstance(node, list) and not node:
        return "[]"
    raise TypeError(f"not an inline YAML value: {node!r}")


def _is_block(node: Any) -> bool:
    return isinstance(node, (YamlMap, dict, list)) and len(node) > 0


def _key(key: str) -> str:
    return _quote(key, "plain")


def _block(node: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, dict):
        node = YamlMap(node)
    if isinstance(node, YamlMap):
        for key, value in node.pairs:
            tag = ""
            if isinstance(value, Tagged) and _is_block(value.value):
                tag, value = " " + value.tag, value.value
            if _is_block(value):
                lines.append(f"{pad}{_key(key)}:{tag}")
                lines.extend(_block(value, indent + 2))
            else:
                lines.append(f"{pad}{_key(key)}: {_inline(value)}")
        return lines
    for item in node:
        if _is_block(item) and not isinstance(item, list):
            inner = _block(item, indent + 2)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines.extend(inner[1:])
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def render_yaml(document: Any) -> str:
    """Render a tree of :class:`YamlMap`, lists, :class:`Tagged` and scalars as block YAML."""
    if not _is_block(document):
        return _inline(document) + "\n"
    return "\n".join(_block(document, 0)) + "\n"


# ---------------------------------------------------------------------------------------------
# The generated case
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ComposeCase:
    """One generated project folder, its shell environment and its command line."""

    dirname: str  # the project folder's name (the default project name derives from it)
    documents: dict[str, Any]  # compose files: relative path -> YAML tree
    texts: dict[str, str]  # other files (.env, env_file files): relative path -> text
    shell: dict[str, str]  # the generated shell variables (PATH and HOME are added when run)
    files: list[str] = dataclasses.field(default_factory=list)  # -f, in order
    project_name: Optional[str] = None  # -p
    project_directory: Optional[str] = None  # --project-directory
    env_files: list[str] = dataclasses.field(default_factory=list)  # --env-file
    profiles: list[str] = dataclasses.field(default_factory=list)  # --profile
    broken: str = ""  # what was broken on purpose ("" for a valid project)
    raw_tails: dict[str, str] = dataclasses.field(default_factory=dict)  # text appended to a compose file

    def rendered(self) -> dict[str, str]:
        """Every file of the folder as text, compose files rendered."""
        out = {path: render_yaml(doc) + self.raw_tails.get(path, "") for path, doc in self.documents.items()}
        out.update(self.texts)
        return out

    def write(self, parent: Path) -> Path:
        """Write the project under ``parent`` and return the project folder."""
        root = parent / self.dirname
        root.mkdir(parents=True)
        (root / "sub").mkdir()
        for rel, text in self.rendered().items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    def global_args(self) -> list[str]:
        """The options as they go before ``config`` on the ``docker compose`` command line."""
        args: list[str] = []
        for name in self.files:
            args += ["-f", name]
        if self.project_name is not None:
            args += ["-p", self.project_name]
        if self.project_directory is not None:
            args += ["--project-directory", self.project_directory]
        for name in self.env_files:
            args += ["--env-file", name]
        for name in self.profiles:
            args += ["--profile", name]
        return args

    def environment(self) -> dict[str, str]:
        """The complete environment of the command: the shell variables plus PATH and HOME."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
        env.update(self.shell)
        return env

    def describe(self) -> str:
        """A Markdown reproduction: files, environment and command line."""
        parts = [f"Project folder `{self.dirname}/`" + (f" (broken on purpose: {self.broken})" if self.broken else "")]
        for rel, text in sorted(self.rendered().items()):
            parts.append(f"`{rel}`:\n```\n{text}```")
        shell = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.shell.items()))
        parts.append(f"Shell: `env -i PATH=... HOME=... {shell}`")
        parts.append(f"Command: `docker compose {shlex.join(self.global_args())} config --format json`")
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        return "ComposeCase:\n" + self.describe()


# ---------------------------------------------------------------------------------------------
# Values and templates
# ---------------------------------------------------------------------------------------------

# A small pool, so that templates, .env, the shell and bare ``- VAR`` entries meet each other.
VARIABLES = ("A", "B", "TAG", "DAYS", "EMPTY", "lower", "X_1")
PROFILES = ("p1", "p2", "debug")
SERVICE_NAMES = ("web", "db", "worker", "app", "python-unified-worker", "cache2", "w_x")
ENV_FILE_NAMES = ("a.env", "b.env", "sub/c.env")
NETWORK_NAMES = ("front", "back", "n_3")
VOLUME_NAMES = ("data", "logs", "v-3")

variables = st.sampled_from(VARIABLES)
_WORD = "abcxyzXYZ0129_-./@+,%"
_LITERAL = _WORD + " :=~'\"\\#!é"
literals = st.text(_LITERAL, max_size=6)
words = st.text(_WORD, min_size=1, max_size=6)


def _template_piece(depth: int, literal: st.SearchStrategy[str], required: bool) -> st.SearchStrategy[str]:
    inner = (
        literal
        if depth <= 0
        else templates(depth - 1, literal=literal.map(lambda s: s.replace("}", "")), required=required)
    )
    choices = [
        literal,
        literal,
        variables.map(lambda v: f"${v}"),
        variables.map(lambda v: "${%s}" % v),
        st.tuples(variables, st.sampled_from([":-", "-", ":+", "+"]), inner).map(lambda t: "${%s%s%s}" % t),
        st.just("$$"),
        variables.map(lambda v: f"$${v}"),
        st.sampled_from(["$ ", "$-", "$1", "$@"]),  # a '$' that starts no reference stays literal
    ]
    strategy = st.one_of(choices)
    if required:
        # ${V:?err} refuses when V is unset (or empty, for ':?'); rare, or few projects would load.
        required_piece = st.tuples(variables, st.sampled_from([":?", "?"]), words).map(lambda t: "${%s%s%s}" % t)
        strategy = st.integers(0, 24).flatmap(lambda n: required_piece if n == 0 else st.one_of(choices))
    return strategy


def templates(
    depth: int = 2, *, literal: st.SearchStrategy[str] = literals, required: bool = False
) -> st.SearchStrategy[str]:
    """Strings mixing literals, ``$V``, ``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:+a}``, ``${V+a}``,
    ``$$`` and nesting (defaults are templates themselves)."""
    return st.lists(_template_piece(depth, literal, required), max_size=4).map("".join)


def _styled(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.tuples(strategy, st.sampled_from(["double", "double", "plain", "single"])).map(
        lambda t: Scalar(t[0], t[1])
    )


values = _styled(templates())
required_values = _styled(templates(required=True))
shell_values = st.text("abcXYZ019 -_./:=$'\"\\#{}é", max_size=8)

# ---------------------------------------------------------------------------------------------
# .env files
# ---------------------------------------------------------------------------------------------

_ENV_UNQUOTED = st.text("abcXYZ019-_./:@", max_size=6)
_ENV_TEMPLATE = templates(1, literal=_ENV_UNQUOTED, required=False)
_DQ_ESCAPES = st.sampled_from(["\\n", "\\t", "\\\\", '\\"', "'", " ", "#", "\\$"])


@st.composite
def _dotenv_line(draw: st.DrawFn, names: tuple[str, ...]) -> str:
    key = draw(st.sampled_from(names))
    kind = draw(
        st.sampled_from(
            [
                "plain",
                "plain",
                "template",
                "double",
                "double",
                "single",
                "export",
                "comment_after",
                "empty",
                "bare",
                "comment",
                "blank",
                "spaces",
            ]
        )
    )
    if kind == "plain":
        return f"{key}={draw(_ENV_UNQUOTED)}"
    if kind == "template":
        return f"{key}={draw(_ENV_TEMPLATE)}"
    if kind == "double":
        body = "".join(draw(st.lists(st.one_of(_ENV_TEMPLATE, _DQ_ESCAPES), max_size=4)))
        return f'{key}="{body}"'
    if kind == "single":
        body = draw(st.text('abcXYZ019 -_$"{}#', max_size=8))
        return f"{key}='{body}'"
    if kind == "export":
        return f"export {key}={draw(_ENV_TEMPLATE)}"
    if kind == "comment_after":
        return f"{key}={draw(_ENV_UNQUOTED)} # {draw(words)}"
    if kind == "empty":
        return f"{key}="
    if kind == "bare":
        return key
    if kind == "comment":
        return f"# {draw(literals)}"
    if kind == "blank":
        return ""
    return f"  {key} = {draw(_ENV_UNQUOTED)}"


def dotenv_files(names: tuple[str, ...] = VARIABLES, max_lines: int = 8) -> st.SearchStrategy[str]:
    """The text of a ``.env`` file: quotes, escapes, ``export``, comments, interpolation, duplicates."""
    return st.lists(_dotenv_line(names), max_size=max_lines).map(lambda lines: "\n".join(lines) + "\n")


def shell_environments() -> st.SearchStrategy[dict[str, str]]:
    """Random shell variables from the shared pool (some empty, some with ``$`` or quotes)."""
    return st.dictionaries(variables, st.one_of(shell_values, st.just("")), max_size=len(VARIABLES))


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def chance(draw: st.DrawFn, k: int, n: int) -> bool:
    """True with probability k/n; False at the simplest choice, so shrinking drops the option."""
    return draw(st.integers(0, n - 1)) >= n - k


durations = st.sampled_from(["5s", "1m30s", "100ms", "2h", "1.5s", "90s", "0s", "1m", "10s", "3h2m1s"])
_HEALTH_TESTS = st.one_of(
    templates(1),
    st.lists(templates(1), min_size=1, max_size=3).map(lambda rest: ["CMD", *rest]),
    templates(1).map(lambda s: ["CMD-SHELL", s]),
    st.just(["NONE"]),
)


@st.composite
def healthchecks(draw: st.DrawFn) -> YamlMap:
    """``healthcheck:``: test forms, durations, retries, ``disable``."""
    if chance(draw, 1, 8):
        return YamlMap({"disable": True})
    out = YamlMap()
    if not chance(draw, 1, 5):
        out.set("test", draw(_HEALTH_TESTS))
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if chance(draw, 1, 3):
            out.set(key, draw(durations))
    if chance(draw, 1, 2):
        out.set("retries", draw(st.integers(0, 5)))
    return out


_COMMAND_WORDS = st.text(_WORD + " :=~é", max_size=6)
# Quotes and backslashes in a string command must balance as in a shell; rarely they do not.
_COMMAND_STRINGS = st.one_of(
    templates(1, literal=_COMMAND_WORDS),
    templates(1, literal=_COMMAND_WORDS),
    templates(1, literal=_COMMAND_WORDS),
    templates(1),
)


def _command(draw: st.DrawFn) -> Any:
    if chance(draw, 1, 2):
        return draw(st.lists(templates(1), max_size=3))
    return draw(_styled(_COMMAND_STRINGS))


@st.composite
def _environment(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(VARIABLES + ("BACKFILL_DAYS", "WORKER_ID")), max_size=5, unique=True))
    if chance(draw, 1, 2):
        out = []
        for key in keys:
            kind = draw(st.sampled_from(["value", "value", "empty", "bare"]))
            if kind == "value":
                out.append(f"{key}={draw(templates(required=True))}")
            elif kind == "empty":
                out.append(f"{key}=")
            else:
                out.append(key)
        return out
    mapping = YamlMap()
    for key in keys:
        mapping.set(
            key, draw(st.one_of(values, required_values, st.just(""), st.none(), st.integers(-2, 30), st.booleans()))
        )
    return mapping


@st.composite
def _labels(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(["com.example.a", "b", "tier", "x.y_z"]), max_size=3, unique=True))
    if chance(draw, 1, 2):
        return [k if chance(draw, 1, 4) else f"{k}={draw(templates(1))}" for k in keys]
    return YamlMap({k: draw(values) for k in keys})


@st.composite
def _env_file(draw: st.DrawFn) -> Any:
    form = draw(st.sampled_from(["string", "list", "long", "long"]))
    if form == "string":
        return draw(st.sampled_from(ENV_FILE_NAMES))
    chosen = draw(st.lists(st.sampled_from(ENV_FILE_NAMES), min_size=1, max_size=3))
    if form == "list":
        return chosen
    out: list[Any] = []
    for name in chosen:
        entry = YamlMap({"path": name})
        if chance(draw, 1, 2):
            entry.set("required", draw(st.booleans()))
        out.append(name if chance(draw, 1, 4) else entry)
    if chance(draw, 1, 2):
        # A missing file is fine only with ``required: false`` (rarely, without it).
        out.append(YamlMap({"path": "missing.env", "required": chance(draw, 1, 10)}))
    return out


@st.composite
def _build(draw: st.DrawFn) -> Any:
    context = draw(st.sampled_from([".", "./sub", "sub", "${CTX:-.}"]))
    if chance(draw, 1, 2):
        return context
    out = YamlMap({"context": context})
    if chance(draw, 1, 2):
        out.set("dockerfile", draw(st.sampled_from(["Dockerfile", "Dockerfile.worker", "${DF-Dockerfile}"])))
    if chance(draw, 1, 2):
        keys = draw(st.lists(variables, max_size=3, unique=True))
        if chance(draw, 1, 2):
            out.set("args", [k if chance(draw, 1, 2) else f"{k}={draw(templates(1))}" for k in keys])
        else:
            out.set("args", YamlMap({k: draw(values) for k in keys}))
    if chance(draw, 1, 3):
        out.set("target", draw(st.sampled_from(["runtime", "dev"])))
    return out


@st.composite
def _depends_on(draw: st.DrawFn, others: list[str]) -> Any:
    chosen = draw(st.lists(st.sampled_from(others), min_size=1, max_size=min(2, len(others)), unique=True))
    if chance(draw, 1, 2):
        return chosen
    out = YamlMap()
    for name in chosen:
        entry = YamlMap()
        if not chance(draw, 1, 20):  # the long form requires a condition
            entry.set(
                "condition",
                draw(st.sampled_from(["service_started", "service_healthy", "service_completed_successfully"])),
            )
        if chance(draw, 1, 2):
            entry.set("required", draw(st.booleans()))
        if chance(draw, 1, 4):
            entry.set("restart", draw(st.booleans()))
        out.set(name, entry)
    return out


@st.composite
def _deploy(draw: st.DrawFn) -> YamlMap:
    out = YamlMap()
    if not chance(draw, 1, 5):
        out.set("replicas", draw(st.one_of(st.integers(0, 4), st.just("${REPLICAS:-2}"))))
    if chance(draw, 1, 4):
        out.set("labels", YamlMap({"role": draw(values)}))
    if chance(draw, 1, 4):
        out.set("restart_policy", YamlMap({"condition": draw(st.sampled_from(["on-failure", "any", "none"]))}))
    return out


_IMAGES = st.tuples(
    st.sampled_from(["busybox", "repo/img", "${IMAGE-x}"]), templates(1, literal=st.text("abc019._-", max_size=4))
).map(lambda t: t[0] + (":" + t[1] if t[1] else ""))


@st.composite
def service_bodies(
    draw: st.DrawFn,
    *,
    others: list[str],
    bases: tuple[str, ...] = (),
    partial: bool = False,
    networks: tuple[str, ...] = (),
    volumes: tuple[str, ...] = (),
) -> YamlMap:
    """One service mapping.

    ``others`` are service names it may depend on, ``bases`` the ones it may extend (same file);
    ``partial`` (override files) draws fewer keys and may tag them ``!reset``/``!override``.
    """
    body = YamlMap()
    odds = 3 if partial else 2  # each optional key appears with probability 1/odds

    def maybe() -> bool:
        return chance(draw, 1, odds)

    if bases and chance(draw, 1, 4):
        base = draw(st.sampled_from(list(bases)))
        body.set("extends", YamlMap({"service": base}) if chance(draw, 1, 2) else base)
    has_image = maybe() if partial else not chance(draw, 1, 4)
    if has_image:
        body.set("image", draw(_styled(_IMAGES)))
    if (not has_image and not partial) or chance(draw, 1, 4):
        body.set("build", draw(_build()))
    if maybe():
        body.set("command", _command(draw))
    if maybe():
        body.set("entrypoint", _command(draw))
    if maybe():
        body.set("environment", draw(_environment()))
    if chance(draw, 1, 4):
        body.set("env_file", draw(_env_file()))
    if maybe():
        body.set("labels", draw(_labels()))
    if chance(draw, 1, 4):
        body.set("healthcheck", draw(healthchecks()))
    if others and chance(draw, 1, 5):
        body.set("depends_on", draw(_depends_on(others)))
    scale = draw(st.integers(0, 9))
    if scale == 8:
        body.set("deploy", draw(_deploy()))
    elif scale == 9:
        body.set("scale", draw(st.integers(0, 3)))
    if chance(draw, 1, 6):
        body.set("profiles", draw(st.lists(st.sampled_from(PROFILES), min_size=1, max_size=2, unique=True)))
    if networks and chance(draw, 1, 4):
        body.set("networks", draw(st.lists(st.sampled_from(networks), min_size=1, max_size=2, unique=True)))
    if volumes and chance(draw, 1, 4):
        chosen = draw(st.lists(st.sampled_from(volumes), min_size=1, max_size=2, unique=True))
        body.set("volumes", [f"{v}:/mnt/{v}" for v in chosen])
    if partial:
        _tag_some(draw, body)
    return body


_RESETTABLE = (
    "environment",
    "labels",
    "command",
    "entrypoint",
    "depends_on",
    "profiles",
    "healthcheck",
    "env_file",
    "build",
    "deploy",
)


def _tag_some(draw: st.DrawFn, body: YamlMap) -> None:
    """Mark some keys of an override ``!override`` (replace) or add ``!reset`` keys (remove)."""
    for i, (key, value) in enumerate(list(body.pairs)):
        if key in _RESETTABLE and chance(draw, 1, 5):
            body.pairs[i] = (key, Tagged("!override", value))
    if chance(draw, 1, 3):
        for key in draw(st.lists(st.sampled_from(_RESETTABLE), min_size=1, max_size=2, unique=True)):
            if key not in body.keys():
                body.set(key, Tagged("!reset", draw(st.sampled_from([None, [], YamlMap()]))))


@st.composite
def _top_level_objects(draw: st.DrawFn, names: tuple[str, ...], kind: str) -> YamlMap:
    out = YamlMap()
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)):
        form = draw(st.integers(0, 5))
        if form == 0:
            out.set(name, YamlMap())
        elif form == 1:
            out.set(name, None)
        elif form == 2:
            out.set(name, YamlMap({"driver": "bridge" if kind == "networks" else "local"}))
        elif form == 3:
            out.set(name, YamlMap({"external": True}))
        elif form == 4:
            out.set(name, YamlMap({"name": draw(_styled(templates(1, literal=st.text("abc_-1", max_size=4))))}))
        else:
            out.set(name, YamlMap({"labels": YamlMap({"tier": draw(values)})}))
    return out


# ---------------------------------------------------------------------------------------------
# Whole projects
# ---------------------------------------------------------------------------------------------


@st.composite
def compose_cases(draw: st.DrawFn) -> ComposeCase:
    """A valid-looking project: main file, 0-3 overrides, .env, env_file files, shell, options.

    "Valid-looking": most are accepted by Docker Compose; the rest (an unset ``${V:?e}``,
    ``scale`` against ``deploy.replicas``...) must be refused by both implementations alike.
    """
    dirname = draw(st.sampled_from(["proj", "My.Project", "app-1", "x_y", "Stack2"]))
    names = draw(st.lists(st.sampled_from(SERVICE_NAMES), min_size=1, max_size=4, unique=True))
    networks = draw(_top_level_objects(NETWORK_NAMES, "networks")) if chance(draw, 1, 3) else YamlMap()
    volumes = draw(_top_level_objects(VOLUME_NAMES, "volumes")) if chance(draw, 1, 3) else YamlMap()
    net_names, vol_names = tuple(networks.keys()), tuple(volumes.keys())

    services = YamlMap()
    for i, name in enumerate(names):
        others = [n for n in names if n != name]
        services.set(
            name, draw(service_bodies(others=others, bases=tuple(names[:i]), networks=net_names, volumes=vol_names))
        )
    main = YamlMap()
    if chance(draw, 1, 5):
        main.set("name", draw(_styled(st.sampled_from(["demo", "demo${X_1-}", "${TAG:-named}", "n", "Upper"]))))
    main.set("services", services)
    if len(networks) or chance(draw, 1, 4):
        main.set("networks", networks)
    if len(volumes) or chance(draw, 1, 4):
        main.set("volumes", volumes)
    if chance(draw, 1, 6):
        main.set("x-common", YamlMap({"k": draw(values)}))

    # Override files re-declare some services (and may add a new one, with an image).
    overrides = []
    for _ in range(draw(st.integers(0, 3))):
        spare = [n for n in SERVICE_NAMES if n not in names][:1]
        chosen = draw(st.lists(st.sampled_from(names + spare), min_size=1, max_size=3, unique=True))
        body = YamlMap()
        for name in chosen:
            service = draw(
                service_bodies(
                    others=[n for n in names if n != name], partial=True, networks=net_names, volumes=vol_names
                )
            )
            if name in spare and "image" not in service.keys():
                service.set("image", "busybox")
            body.set(name, service)
        doc = YamlMap({"services": body})
        if chance(draw, 1, 4):
            doc.set("networks", draw(_top_level_objects(NETWORK_NAMES, "networks")))
        if chance(draw, 1, 4):
            doc.set("volumes", draw(_top_level_objects(VOLUME_NAMES, "volumes")))
        overrides.append(doc)

    shell = draw(shell_environments())
    texts: dict[str, str] = {}
    if not chance(draw, 1, 4):
        texts[".env"] = draw(dotenv_files())
    for rel in ENV_FILE_NAMES:
        if not chance(draw, 1, 20):
            texts[rel] = draw(dotenv_files(VARIABLES + ("BACKFILL_DAYS", "WORKER_ID")))
    if chance(draw, 1, 4):
        texts["alt.env"] = draw(dotenv_files())

    case = ComposeCase(dirname=dirname, documents={}, texts=texts, shell=shell)

    # How the files are named and found: -f flags, default discovery or COMPOSE_FILE.
    mode = draw(st.sampled_from(["flags", "discovery", "flags", "discovery", "compose_file"]))
    if mode == "discovery":
        main_name = draw(st.sampled_from(["compose.yaml", "docker-compose.yml", "compose.yml"]))
        override_names = [draw(st.sampled_from(["compose.override.yaml", "docker-compose.override.yml"]))]
        overrides = overrides[:1]
    else:
        main_name = draw(st.sampled_from(["compose.yaml", "stack.yml", "main.yaml"]))
        override_names = [f"override{i}.yml" for i in range(len(overrides))]
    case.documents[main_name] = main
    for rel, doc in zip(override_names, overrides):
        case.documents[rel] = doc
    ordered = [main_name] + override_names[: len(overrides)]
    if mode == "flags":
        case.files = ordered
    elif mode == "compose_file":
        value = ":".join(ordered)
        if chance(draw, 1, 3):
            case.texts[".env"] = case.texts.get(".env", "") + f"COMPOSE_FILE={value}\n"
        else:
            case.shell["COMPOSE_FILE"] = value

    # Project name, profiles, env files, project directory.
    pick = draw(st.integers(0, 5))
    if pick == 3:
        case.project_name = draw(st.sampled_from(["demo", "my_proj-1", "demo", "x${A}", "Upper"]))
    elif pick == 4:
        case.shell["COMPOSE_PROJECT_NAME"] = draw(st.sampled_from(["fromshell", "shell_name-2", "", "Shell"]))
    elif pick == 5:
        case.texts[".env"] = case.texts.get(".env", "") + "COMPOSE_PROJECT_NAME=fromdotenv\n"
    pick = draw(st.integers(0, 4))
    if pick == 2:
        case.profiles = draw(st.lists(st.sampled_from(PROFILES + ("*",)), min_size=1, max_size=2, unique=True))
    elif pick == 3:
        case.shell["COMPOSE_PROFILES"] = ",".join(draw(st.lists(st.sampled_from(PROFILES), max_size=2, unique=True)))
    elif pick == 4:
        case.texts[".env"] = case.texts.get(".env", "") + f"COMPOSE_PROFILES={draw(st.sampled_from(PROFILES))}\n"
    if "alt.env" in texts and chance(draw, 1, 2):
        chosen = draw(st.sampled_from([["alt.env"], [".env", "alt.env"], ["alt.env", "sub/c.env"]]))
        case.env_files = [f for f in chosen if f in case.texts]
    if chance(draw, 1, 10):
        case.project_directory = draw(st.sampled_from([".", "sub"]))
    return case


# ---------------------------------------------------------------------------------------------
# Inputs that Docker Compose refuses
# ---------------------------------------------------------------------------------------------

_MALFORMED_TEMPLATES = [
    "${A",
    "${A:-x",
    "${}",
    "${A B}",
    "${:-x}",
    "a${-}b",
    "${A:-${B}",
    "${NEVER_SET:?must be set}",
    "${NEVER_SET?needed}",
    "x${EMPTY_SET:?empty}",
]
_SCHEMA_VIOLATIONS = [
    ("foo", 1),
    ("image", [1]),
    ("deploy", YamlMap({"replicas": "many"})),
    ("healthcheck", YamlMap({"interval": "5 parsecs"})),
    ("depends_on", YamlMap({"db": YamlMap({"condition": "sometimes"})})),
    ("environment", "A=1"),
    ("labels", 5),
    ("profiles", "p1"),
    ("command", YamlMap({"a": 1})),
    ("scale", "three"),
    ("env_file", YamlMap({"path": "a.env"})),
    ("extends", YamlMap({"service": "nowhere"})),
    ("depends_on", ["nowhere"]),
    ("build", YamlMap({"context": ".", "bogus": 1})),
]
_BAD_DOTENV = ['A="unterminated', "B='x", "not valid line", 'D="\\']


@st.composite
def broken_cases(draw: st.DrawFn) -> ComposeCase:
    """A generated project broken in one known way that Docker Compose refuses."""
    case = copy.deepcopy(draw(compose_cases()))
    main_name = next(iter(case.documents))
    main = case.documents[main_name]
    services: YamlMap = main.get("services")
    target_name, target = draw(st.sampled_from(services.pairs))
    kind = draw(
        st.sampled_from(
            ["template", "template", "schema", "schema", "duplicate", "yaml", "dotenv", "env_file_option", "top_level"]
        )
    )
    if kind == "template":
        bad = draw(st.sampled_from(_MALFORMED_TEMPLATES))
        where = draw(st.sampled_from(["environment", "image", "labels", "command"]))
        case.shell.pop("NEVER_SET", None)
        case.shell["EMPTY_SET"] = ""
        if where == "environment":
            target.set("environment", YamlMap({"BROKEN": bad}))
        elif where == "labels":
            target.set("labels", [f"broken={bad}"])
        else:
            target.set(where, bad)
        case.broken = f"template {bad!r} in services.{target_name}.{where}"
    elif kind == "schema":
        key, value = draw(st.sampled_from(_SCHEMA_VIOLATIONS))
        target.set(key, copy.deepcopy(value))
        case.broken = f"schema: services.{target_name}.{key}"
    elif kind == "duplicate":
        which = draw(st.sampled_from(["field", "service", "env_key"]))
        if which == "field":
            target.pairs.append(("image", "dup"))
            target.pairs.append(("image", "dup2"))
        elif which == "service":
            services.pairs.append((target_name, YamlMap({"image": "dup"})))
        else:
            target.set("environment", YamlMap([("DUP", "1"), ("DUP", "2")]))
        case.broken = f"duplicate key ({which})"
    elif kind == "yaml":
        tail = draw(st.sampled_from(["bad: [unclosed\n", "\tx: 1\n", "- stray\n", "services: {a: [}\n"]))
        case.raw_tails[main_name] = tail
        case.broken = f"YAML syntax: {tail!r}"
    elif kind == "dotenv":
        line = draw(st.sampled_from(_BAD_DOTENV))
        case.texts[".env"] = line + "\n" + case.texts.get(".env", "")
        case.project_directory = None
        case.env_files = []
        case.broken = f".env syntax: {line!r}"
    elif kind == "env_file_option":
        case.env_files = ["does-not-exist.env"]
        case.broken = "--env-file names a missing file"
    else:
        bad_top = draw(st.sampled_from([("foo", YamlMap()), ("services", []), ("networks", ["x"]), ("volumes", "v")]))
        main.set(*bad_top)
        case.broken = f"top-level {bad_top[0]!r}"
    return case
