"""YAML documents with the position of every key, read as Docker Compose reads them.

Compose reads YAML with go-yaml v3, which resolves plain scalars by YAML 1.2
rules: ``yes``/``on`` stay strings, ``0777`` is octal, ``1_000`` is 1000 and
timestamps stay strings.  PyYAML's resolver follows YAML 1.1, so plain scalars
are resolved here instead (the C parser still does the scanning, for speed).

Values come back as plain Python data, with mappings and sequences as
:class:`LMap` / :class:`LList`: ``dict``/``list`` subclasses that also carry the
:class:`~supervisor.compose.model.Location` of each key or item and the
``!reset`` / ``!override`` tags met on their values.

Bounds (refused with a :class:`~supervisor.compose.model.ComposeError`):

- a file larger than :data:`MAX_FILE_BYTES` (10 MiB);
- a document that expands, through aliases, to more than
  :data:`MAX_NODES` (1,000,000) nodes: the "billion laughs" shape;
- recursive aliases;
- lists and mappings nested more than :data:`MAX_DEPTH` (1,000) levels deep: libyaml's nesting
  limit (``MAX_NESTING_LEVEL``), built into PyYAML's C parser.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional, cast

import yaml

from supervisor.compose.model import ComposeError, Location
from supervisor.files import InputRefused, InputTooLarge, read_input

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_DEPTH",
    "LMap",
    "LList",
    "RESET",
    "OVERRIDE",
    "parse_documents",
    "read_documents",
    "resolve_plain",
    "key_location",
    "node_location",
]

#: Largest compose file read, in bytes.
MAX_FILE_BYTES = 10 * 1024 * 1024
#: Most nodes one document may expand to (aliases counted each time they are used).
MAX_NODES = 1_000_000

RESET = "!reset"
OVERRIDE = "!override"

_PLAIN = "!supervisor/plain"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class LMap(dict[Any, Any]):
    """A mapping that remembers where each of its keys is written."""

    __slots__ = ("loc", "keylocs", "tags", "raws")

    def __init__(self, *args: Any, loc: Optional[Location] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loc = loc
        self.keylocs: dict[str, Location] = {}
        self.tags: dict[str, str] = {}
        # key -> (text before interpolation, references), for values that held a template
        self.raws: dict[str, tuple[str, list[Any]]] = {}


class LList(list[Any]):
    """A sequence that remembers where each of its items is written."""

    __slots__ = ("loc", "locs", "tags", "raws")

    def __init__(self, *args: Any, loc: Optional[Location] = None):
        super().__init__(*args)
        self.loc = loc
        self.locs: list[Optional[Location]] = []
        self.tags: dict[int, str] = {}
        self.raws: dict[int, tuple[str, list[Any]]] = {}


def key_location(container: Any, key: Any) -> Optional[Location]:
    """Where ``key`` (mapping key or sequence index) of ``container`` is written, if known."""
    if isinstance(container, LMap):
        return container.keylocs.get(key, container.loc)
    if isinstance(container, LList):
        if isinstance(key, int) and 0 <= key < len(container.locs):
            return container.locs[key] or container.loc
        return container.loc
    return None


def node_location(value: Any) -> Optional[Location]:
    """Where a mapping or sequence starts, if known."""
    return getattr(value, "loc", None)


class _Loader(yaml.CSafeLoader):
    """The C scanner/parser with every plain scalar left unresolved (tagged ``_PLAIN``)."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(_PLAIN, re.compile(r"(?s).*"), ["", None])

# go-yaml v3's float syntax, and its special values.
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL = {
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}
_INT_BASES = (("0x", 16), ("0o", 8), ("0b", 2))
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _go_parse_int(text: str) -> Optional[int]:
    """``strconv.ParseInt(text, 0, 64)`` (falling back to ParseUint), or None."""
    sign = 1
    body = text
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        return None
    lower = body.lower()
    base = 10
    for prefix, prefix_base in _INT_BASES:
        if lower.startswith(prefix):
            base, body = prefix_base, body[2:]
            break
    else:
        if len(body) > 1 and body[0] == "0":
            base, body = 8, body[1:]
    if not body or not body.isalnum():
        return None
    try:
        value = sign * int(body, base)
    except ValueError:
        return None
    if value < _INT64_MIN or value > _UINT64_MAX:
        return None
    return value


_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$"
)


def is_timestamp(text: str) -> bool:
    """Would go-yaml v3 decode this plain scalar as a ``time.Time``?"""
    return bool(_TIMESTAMP.match(text))


def resolve_plain(text: str) -> Any:
    """The value go-yaml v3 gives a plain (unquoted, untagged) scalar."""
    if text in _SPECIAL:
        return _SPECIAL[text]
    first = text[0]
    if first.isdigit() or first in "+-.":
        plain = text.replace("_", "")
        if plain and plain[0] != ".":
            number = _go_parse_int(plain)
            if number is not None:
                return number
        if _FLOAT_RE.match(plain):
            try:
                real = float(plain)
            except ValueError:
                return text
            # Go's ParseFloat fails on overflow (1e400), and go-yaml then keeps the text
            return text if math.isinf(real) else real
    return text


def _resolve_tagged(tag: str, text: str, location: Location) -> Any:
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    value = resolve_plain(text)
    if tag == _INT and not isinstance(value, int) or tag == _INT and isinstance(value, bool):
        raise ComposeError(f"cannot decode !!str `{text}` as a !!int", location)
    if tag == _FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ComposeError(f"cannot decode !!str `{text}` as a !!float", location)
        return float(value)
    if tag == _BOOL and not isinstance(value, bool):
        raise ComposeError(f"cannot decode !!str `{text}` as a !!bool", location)
    return value


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [value for _key, value in node.value]
    return []


class _Builder:
    """Turns one composed node tree into located Python values."""

    def __init__(self, path: str):
        self.path = path
        self.keys: list[str] = []  # where we are, for compose's error on timestamps
        self.count = 0
        self.active: set[int] = set()

    def loc(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.path, mark.line + 1, mark.column + 1)

    def check_expansion(self, root: yaml.Node) -> None:
        """Refuse a document that aliases would expand past :data:`MAX_NODES`, before building any of it.

        Each distinct node is sized once (aliases share their node), so the check is linear in the
        text, where building the expansion first would take seconds and hundreds of megabytes.
        """
        sizes: dict[int, int] = {}
        entered: set[int] = set()  # children pushed; a child met again here is a recursive alias
        stack: list[yaml.Node] = [root]
        while stack:
            node = stack[-1]
            ident = id(node)
            if ident in sizes:
                stack.pop()
                continue
            children = _children(node)
            if ident not in entered:
                entered.add(ident)
                pending = [child for child in children if id(child) not in sizes and id(child) not in entered]
                if pending:
                    stack.extend(pending)
                    continue
            stack.pop()
            # a child still being sized is a recursive alias, which build() reports
            size = 1 + sum(sizes.get(id(child), 0) for child in children)
            sizes[ident] = size
            if size > MAX_NODES:
                raise ComposeError(
                    f'this value expands to more than {MAX_NODES:,} nodes through aliases (a "billion laughs" '
                    "document); refusing to load it: use fewer nested aliases",
                    self.loc(node),
                )

    def build(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ComposeError(
                f"document expands to more than {MAX_NODES:,} nodes through aliases; refusing to load it",
                self.loc(node),
            )
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _PLAIN:
                if not node.value:
                    return None
                value = resolve_plain(node.value)
                if value is node.value and value[0].isdigit() and is_timestamp(value):
                    return self.time(value, node, explicit=False)
                return value
            if node.tag == _TIMESTAMP_TAG:
                if not node.value:  # go-yaml reads an empty value, quoted or not, as null first
                    raise ComposeError("cannot decode !!null `` as a !!timestamp", self.loc(node))
                return self.time(node.value, node, explicit=True)
            if node.tag in (RESET, OVERRIDE):
                if node.style:  # quoted: a string, even when empty
                    return node.value
                return resolve_plain(node.value) if node.value else None
            return _resolve_tagged(node.tag, node.value, self.loc(node))
        ident = id(node)
        if ident in self.active:
            raise ComposeError("recursive alias: a node contains itself", self.loc(node))
        self.active.add(ident)
        try:
            if isinstance(node, yaml.SequenceNode):
                return self.sequence(node)
            # Scalars were handled above; what is left is a mapping.
            return self.mapping(cast(yaml.MappingNode, node))
        finally:
            self.active.discard(ident)

    def time(self, text: str, node: yaml.Node, explicit: bool) -> Any:
        """A timestamp: go-yaml gives a ``time.Time``, which only ``x-`` fields accept (printed in RFC 3339)."""
        from supervisor.compose.render import go_time  # rare: not at start-up

        value = go_time(text)
        if value is None:
            if not explicit:
                return text  # a date time.Parse refuses (2020-13-01) stays a string
            raise ComposeError(f"cannot decode !!str `{text}` as a !!timestamp", self.loc(node))
        if any(k.startswith("x-") for k in self.keys):
            return value or text
        # no compose attribute accepts a time.Time
        where = ".".join(self.keys)
        raise ComposeError(f"validating {self.path}: {where} invalid jsonType time.Time", self.loc(node))

    def sequence(self, node: yaml.SequenceNode) -> LList:
        out = LList(loc=self.loc(node))
        for index, item in enumerate(node.value):
            self.keys.append(str(index))
            out.append(self.build(item))
            self.keys.pop()
            out.locs.append(self.loc(item))
            if item.tag in (RESET, OVERRIDE):
                out.tags[index] = item.tag
        return out

    def mapping(self, node: yaml.MappingNode) -> LMap:
        out = LMap(loc=self.loc(node))
        merges: list[yaml.Node] = []
        first_merge: Optional[yaml.Node] = None
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and key_node.tag in (_PLAIN, _MERGE):
                if first_merge is not None:  # go-yaml takes "<<" as a key like any other: once
                    line = self.loc(first_merge).line
                    raise ComposeError(f'mapping key "<<" already defined at line {line}', self.loc(key_node))
                first_merge = key_node
                merges.append(value_node)
                continue
            key = self.key(key_node)
            if key in out:
                first = out.keylocs[key]
                raise ComposeError(f'mapping key "{key}" already defined at line {first.line}', self.loc(key_node))
            self.keys.append(key)
            out[key] = self.build(value_node)
            self.keys.pop()
            out.keylocs[key] = self.loc(key_node)
            if value_node.tag in (RESET, OVERRIDE):
                out.tags[key] = value_node.tag
        for merge in merges:
            self.merge_into(out, merge)
        return out

    def merge_into(self, out: LMap, node: yaml.Node) -> None:
        # Explicit keys win over merged ones; among merged mappings the first wins.
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            value = self.build(source)
            if not isinstance(value, LMap):
                raise ComposeError("map merge requires map or sequence of maps as the value", self.loc(source))
            for key, item in value.items():
                if key not in out:
                    out[key] = item
                    # A mapping built here always has its location set.
                    out.keylocs[key] = cast(Location, value.keylocs.get(key, value.loc))
                    if key in value.tags:
                        out.tags[key] = value.tags[key]

    def key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise ComposeError("mapping keys must be strings", self.loc(node))
        value = self.build(node)
        if isinstance(value, str):
            return value
        if value is None or isinstance(value, bool) or isinstance(value, (int, float)):
            # go-yaml decodes such keys as numbers/booleans; compose rejects them.
            raise ComposeError(f"non-string key {node.value!r}", self.loc(node))
        return str(value)


class _RedefiningLoader(yaml.composer.Composer, _Loader):
    """:class:`_Loader` whose anchors may be defined again, as go-yaml allows (the later one wins)."""

    def __init__(self, stream: str) -> None:
        _Loader.__init__(self, stream)
        yaml.composer.Composer.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if not isinstance(event, yaml.AliasEvent) and anchor is not None:
            self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


#: Deepest nesting of lists and mappings read: the limit of the YAML parser (libyaml), where compose
#: reads 10,000 levels.
MAX_DEPTH = 1_000
_TOO_DEEP = (
    f"lists and mappings nested more than {MAX_DEPTH:,} levels deep: past the YAML parser's maximum nesting depth"
    f" of {MAX_DEPTH:,} (compose reads up to 10,000); flatten the value"
)

_DIRECTIVE = re.compile(r"^%YAML[ \t]+(\S*)", re.M)


def _check_directives(text: str, path: str) -> None:
    # go-yaml reads YAML 1.1 documents only (a %YAML 1.2 directive is refused)
    for match in _DIRECTIVE.finditer(text):
        if match.group(1) != "1.1":
            line = text.count("\n", 0, match.start()) + 1
            raise ComposeError(
                f"found incompatible YAML document (%YAML {match.group(1)}): remove the directive, or write %YAML 1.1",
                Location(path, line, 1),
            )


def parse_documents(text: str, path: str) -> list[Any]:
    """Every non-empty document of ``text``, as located values; ``path`` names the file in errors."""
    if len(text) > MAX_FILE_BYTES:
        raise ComposeError(
            f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refusing to load it", Location(path)
        )
    if "%YAML" in text:
        _check_directives(text, path)
    try:
        try:
            nodes: Iterable[Optional[yaml.Node]] = list(yaml.compose_all(text, Loader=_Loader))
        except yaml.composer.ComposerError as exc:
            if not str(exc.context or "").startswith("found duplicate anchor"):
                raise
            # go-yaml lets an anchor be defined again (the later one wins): compose again, slower
            nodes = list(yaml.compose_all(text, Loader=_RedefiningLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        problem = str(exc.problem or exc.context or "invalid YAML")
        if "maximum nesting depth" in problem:
            raise ComposeError(_TOO_DEEP, where) from None
        raise ComposeError(problem, where) from None
    except yaml.reader.ReaderError as exc:
        start = text.rfind("\n", 0, exc.position) + 1
        where = Location(path, text.count("\n", 0, exc.position) + 1, exc.position - start + 1)
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise ComposeError(
            f"control characters are not allowed (#x{code:04x}): remove it, or write it escaped in a double-quoted string",
            where,
        ) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"invalid YAML: {exc}", Location(path)) from None
    except RecursionError:
        raise ComposeError(_TOO_DEEP, Location(path)) from None
    docs = []
    for node in nodes:
        if node is None:
            continue
        try:
            builder = _Builder(path)
            builder.check_expansion(node)
            docs.append(builder.build(node))
        except RecursionError:
            raise ComposeError(_TOO_DEEP, Location(path)) from None
    return docs


def read_documents(path: str) -> list[Any]:
    """Read and parse the file at ``path`` (see :func:`parse_documents`)."""
    try:
        # bounded read: a device, a growing file or a FIFO without writer cannot hold us
        data = read_input(path, MAX_FILE_BYTES)
    except InputTooLarge:
        raise ComposeError(
            f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refusing to load it", Location(path)
        ) from None
    except InputRefused as exc:
        raise ComposeError(f"{exc.strerror}: give a compose file", Location(path)) from None
    except FileNotFoundError:
        raise ComposeError("no such file or directory", Location(path)) from None
    except IsADirectoryError:
        raise ComposeError("is a directory, not a compose file", Location(path)) from None
    except OSError as exc:
        raise ComposeError(f"cannot read file: {exc.strerror or exc}", Location(path)) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # a UTF-16 byte order mark: YAML allows UTF-16, and compose reads it
        try:
            return parse_documents(data.decode("utf-16"), path)
        except UnicodeDecodeError as exc:
            raise ComposeError(f"not valid UTF-16 (byte {exc.start}): save the file as UTF-8", Location(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ComposeError(
            f"not valid UTF-8 (byte {exc.start}): save the file as UTF-8", Location(path, line, column)
        ) from None
    return parse_documents(text, path)
