"""Merge compose files as compose does: mappings merge, sequences append, with compose's exceptions.

Exceptions (compose-go ``override``): ``command``, ``entrypoint`` and
``healthcheck.test`` are replaced; ``environment``, ``labels`` and other
key/value attributes are merged by key (both sides turned into ``K=V``
sequences, later wins); ``depends_on`` and service ``networks`` are merged as
mappings (short forms turned into long forms first); ``build`` as a mapping;
``logging`` options only when the driver is the same; ``x-*`` keys are
replaced, never merged.  A null in the later file keeps the earlier value,
except where the rule replaces (``command: null`` clears the command).  After
merging, entries of ``ports``, ``volumes``, ``env_file``, ``environment``...
that share a key are collapsed into one (:func:`enforce_unicity`): the later
value takes the place of the first.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from supervisor.compose.goconv import format_value
from supervisor.compose.model import ComposeError, Location
from supervisor.compose.yamlsource import LList, LMap

__all__ = ["EnvStr", "merge", "enforce_unicity", "clone", "to_sequence", "match", "is_unique_path"]


class EnvStr(str):
    """A ``K=V`` (or bare ``K``) environment entry that remembers where it was written."""

    __slots__ = ("raw", "references", "loc", "beaten")

    raw: Optional[str]
    references: list[Any]
    loc: Optional[Location]
    beaten: list["EnvStr"]  # entries of the same variable this one replaced

    def __new__(
        cls,
        text: str,
        raw: Optional[str] = None,
        references: Optional[list[Any]] = None,
        loc: Optional[Location] = None,
    ) -> "EnvStr":
        self = super().__new__(cls, text)
        self.raw = raw
        self.references = references or []
        self.loc = loc
        self.beaten = []
        return self


def match(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Does ``path`` match ``pattern`` (``*`` matches any one element)?"""
    return len(path) == len(pattern) and all(p == "*" or p == q for p, q in zip(pattern, path))


def clone(value: Any) -> Any:
    """A deep copy that keeps locations and tags."""
    if isinstance(value, dict):
        out = LMap(loc=getattr(value, "loc", None))
        for key, item in value.items():
            out[key] = clone(item)
        if isinstance(value, LMap):
            out.keylocs.update(value.keylocs)
            out.tags.update(value.tags)
            out.raws.update(value.raws)
        return out
    if isinstance(value, list):
        out_list = LList((clone(item) for item in value), loc=getattr(value, "loc", None))
        if isinstance(value, LList):
            out_list.locs = list(value.locs)
            out_list.raws.update(value.raws)
        else:
            out_list.locs = [None] * len(value)
        return out_list
    return value


def _locs(value: Any) -> list[Optional[Location]]:
    if isinstance(value, LList):
        locs = list(value.locs)
        return locs + [value.loc] * (len(value) - len(locs))
    return [getattr(value, "loc", None)] * len(value)


def to_sequence(value: Any) -> LList:
    """``convertIntoSequence``: a mapping becomes sorted ``K=V`` strings (bare ``K`` for null)."""
    if isinstance(value, dict):
        items: list[tuple[str, Optional[Location]]] = []
        keylocs = getattr(value, "keylocs", {})
        for key, item in value.items():
            loc = keylocs.get(key)
            if item is None:
                items.append((key, loc))
            elif isinstance(item, list):
                items.extend((f"{key}={format_value(v)}", loc) for v in item)
            else:
                items.append((f"{key}={format_value(item)}", loc))
        items.sort(key=lambda pair: pair[0])
        out = LList((text for text, _ in items), loc=getattr(value, "loc", None))
        out.locs = [loc for _, loc in items]
        return out
    if isinstance(value, list):
        return value if isinstance(value, LList) else clone(value)
    if isinstance(value, str):
        out = LList([value])
        out.locs = [None]
        return out
    out = LList()
    return out


def _to_mapping(value: Any, default: Any) -> LMap:
    """``convertIntoMapping``: a sequence of names becomes a mapping to copies of ``default``."""
    if isinstance(value, dict):
        return value if isinstance(value, LMap) else clone(value)
    out = LMap(loc=getattr(value, "loc", None))
    if isinstance(value, list):
        for item, loc in zip(value, _locs(value)):
            out[str(item)] = clone(default) if default is not None else None
            if loc is not None:
                out.keylocs[str(item)] = loc
    return out


def _append(base: Any, other: Any) -> LList:
    out = LList(loc=getattr(base, "loc", None))
    out.extend(base)
    out.extend(other)
    out.locs = _locs(base) + _locs(other)
    return out


def _merge_to_sequence(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    return _append(to_sequence(base), to_sequence(other))


def _override(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    return other


def _merge_depends_on(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    default = {"condition": "service_started", "required": True}
    return _merge_mappings(_to_mapping(base, default), _to_mapping(other, default), path)


def _merge_networks(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    return _merge_mappings(_to_mapping(base, None), _to_mapping(other, None), path)


def _merge_build(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    def as_mapping(value: Any) -> Any:
        if isinstance(value, str):
            return LMap({"context": value})
        return value if isinstance(value, dict) else LMap()

    return _merge_mappings(as_mapping(base), as_mapping(other), path)


def _merge_logging(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    if base is None or other is None:
        # compose fails here (it expects two mappings); a clear refusal instead of its crash.
        raise ComposeError(
            f"cannot override {'.'.join(path)}: a null logging cannot be merged",
            getattr(other, "loc", None) or getattr(base, "loc", None),
        )
    if not isinstance(base, dict) or not isinstance(other, dict):
        return other
    if "driver" not in other or "driver" not in base or other["driver"] == base["driver"]:
        return _merge_mappings(base, other, path)
    return other


def _merge_ulimit(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    # compose-go merges the later limit with itself: the later one replaces the earlier whole
    return other


def _merge_models(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    return _merge_mappings(_to_mapping(base, None), _to_mapping(other, None), path)


def _merge_extra_hosts(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    """Sequences appended, leaving out the later entries the earlier list has already."""
    first, later = to_sequence(base), to_sequence(other)
    seen = set(first)
    out = LList(loc=getattr(first, "loc", None))
    out.extend(first)
    out.locs = _locs(first)
    for item, loc in zip(later, _locs(later)):
        if item not in seen:
            out.append(item)
            out.locs.append(loc)
    return out


def _merge_ipam_config(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    """Pools matched by subnet: a later pool of a known subnet merges into it, others are added."""
    if not isinstance(base, list) or not isinstance(other, list):
        raise ComposeError(f"{'.'.join(path)}: unexpected type", getattr(other, "loc", None))
    pools: list[Any] = []

    def index_of(subnet: Any) -> int:
        return next((i for i, pool in enumerate(pools) if pool.get("subnet") == subnet), -1)

    # as compose-go walks them: each earlier pool against every later one
    for original in base:
        right = _to_mapping(original, None)
        for override in other:
            left = _to_mapping(override, None)
            if left.get("subnet") != right.get("subnet") and index_of(left.get("subnet")) < 0:
                pools.append(left)
                continue
            merged = _merge_mappings(right, left, path)
            at = index_of(merged.get("subnet"))
            if at >= 0:
                pools[at] = merged
            else:
                pools.append(merged)
    out = LList(pools, loc=getattr(base, "loc", None))
    out.locs = [getattr(pool, "loc", None) for pool in pools]
    return out


# compose-go ``override/merge.go`` (mergeSpecials) at COMPOSE_GO_VERSION; tests/compose/test_merge_tables.py
# holds this table and _UNIQUE against that version.
_SPECIALS: list[tuple[tuple[str, ...], Callable[[Any, Any, tuple[str, ...]], Any]]] = [
    (("networks", "*", "ipam", "config"), _merge_ipam_config),
    (("networks", "*", "labels"), _merge_to_sequence),
    (("volumes", "*", "labels"), _merge_to_sequence),
    (("services", "*", "annotations"), _merge_to_sequence),
    (("services", "*", "build"), _merge_build),
    (("services", "*", "build", "args"), _merge_to_sequence),
    (("services", "*", "build", "additional_contexts"), _merge_to_sequence),
    (("services", "*", "build", "extra_hosts"), _merge_extra_hosts),
    (("services", "*", "build", "labels"), _merge_to_sequence),
    (("services", "*", "command"), _override),
    (("services", "*", "depends_on"), _merge_depends_on),
    (("services", "*", "deploy", "labels"), _merge_to_sequence),
    (("services", "*", "dns"), _merge_to_sequence),
    (("services", "*", "dns_opt"), _merge_to_sequence),
    (("services", "*", "dns_search"), _merge_to_sequence),
    (("services", "*", "entrypoint"), _override),
    (("services", "*", "env_file"), _merge_to_sequence),
    (("services", "*", "label_file"), _merge_to_sequence),
    (("services", "*", "environment"), _merge_to_sequence),
    (("services", "*", "extra_hosts"), _merge_extra_hosts),
    (("services", "*", "healthcheck", "test"), _override),
    (("services", "*", "labels"), _merge_to_sequence),
    (("services", "*", "volumes", "*", "volume", "labels"), _merge_to_sequence),
    (("services", "*", "logging"), _merge_logging),
    (("services", "*", "models"), _merge_models),
    (("services", "*", "networks"), _merge_networks),
    (("services", "*", "sysctls"), _merge_to_sequence),
    (("services", "*", "tmpfs"), _merge_to_sequence),
    (("services", "*", "ulimits", "*"), _merge_ulimit),
]
_SPECIALS_BY_LEN: dict[int, list[Any]] = {}
for _pattern, _merger in _SPECIALS:
    _SPECIALS_BY_LEN.setdefault(len(_pattern), []).append((_pattern, _merger))


def _merge_value(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    for pattern, merger in _SPECIALS_BY_LEN.get(len(path), ()):
        if match(path, pattern):
            return merger(base, other, path)
    if isinstance(base, dict):
        if not isinstance(other, dict):
            raise ComposeError(f"cannot override {'.'.join(path)}", getattr(other, "loc", None))
        return _merge_mappings(base, other, path)
    if isinstance(base, list):
        if not isinstance(other, list):
            raise ComposeError(f"cannot override {'.'.join(path)}", getattr(other, "loc", None))
        return _append(base, other)
    return other


def _takes_null(path: tuple[str, ...]) -> bool:
    """Is ``path`` merged by a rule that sees a later null (``command: null`` clears the command)?"""
    return any(
        match(path, pattern)
        for pattern, merger in _SPECIALS_BY_LEN.get(len(path), ())
        if merger in (_override, _merge_ulimit, _merge_logging)
    )


def _merge_mappings(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(base, LMap):
        base = clone(base)
    other_locs = getattr(other, "keylocs", {})
    for key, value in other.items():
        if value is None and key in base and not _takes_null(path + (key,)):
            continue  # compose keeps what the earlier files said when a later one says null
        if key not in base or key.startswith("x-"):
            base[key] = value
        else:
            base[key] = _merge_value(base[key], value, path + (key,))
        if key in other_locs:
            base.keylocs[key] = other_locs[key]
    return base


def merge(base: Any, other: Any, path: tuple[str, ...] = ()) -> Any:
    """Merge the ``other`` tree over ``base`` (``base`` is updated and returned)."""
    return _merge_mappings(base, other, path)


# -- unicity -----------------------------------------------------------------


def _key_value(item: Any, path: tuple[str, ...]) -> str:
    if isinstance(item, str):
        return item.split("=", 1)[0]
    return format_value(item)


def _volume_key(item: Any, path: tuple[str, ...]) -> str:
    if isinstance(item, dict):
        target = item.get("target")
        if not isinstance(target, str):
            raise ComposeError(f"service volume {'.'.join(path)} is missing a mount target", getattr(item, "loc", None))
        return target
    if isinstance(item, str):
        from supervisor.compose.normalize import parse_volume

        parsed: str = parse_volume(item).get("target", "")
        return parsed
    return ""


def _port_key(item: Any, path: tuple[str, ...]) -> str:
    if isinstance(item, bool):
        return str(item)
    if isinstance(item, int):
        return str(item)
    if isinstance(item, dict):
        if "target" not in item:
            raise ComposeError(f"service ports {'.'.join(path)} is missing a target port", getattr(item, "loc", None))
        return (
            f"{item.get('host_ip', '')}:{format_value(item.get('published', ''))}:"
            f"{format_value(item['target'])}/{item.get('protocol', 'tcp')}"
        )
    return str(item)


def _env_file_key(item: Any, path: tuple[str, ...]) -> str:
    if isinstance(item, dict):
        return str(item.get("path"))
    return str(item)


def _mount_key(prefix: str) -> Callable[[Any, tuple[str, ...]], str]:
    def key(item: Any, path: tuple[str, ...]) -> str:
        if isinstance(item, dict):
            if item.get("target"):
                return str(item["target"])
            return f"{prefix}/{item.get('source')}" if prefix else str(item.get("source"))
        return f"{prefix}/{item}" if prefix else str(item)

    return key


def _plain_key(item: Any, path: tuple[str, ...]) -> str:
    return format_value(item) if not isinstance(item, (dict, list)) else repr(item)


def _device_key(item: Any, path: tuple[str, ...]) -> str:
    if isinstance(item, dict):
        target = item.get("target")
        if not isinstance(target, str):
            raise ComposeError(f"service device {'.'.join(path)} is missing a mount target", getattr(item, "loc", None))
        return target
    if isinstance(item, str):
        parts = item.split(":")
        return parts[0] if len(parts) == 1 else parts[1]
    return ""


# compose-go ``override/uncity.go`` (unique) at COMPOSE_GO_VERSION.
_UNIQUE: list[tuple[tuple[str, ...], Callable[[Any, tuple[str, ...]], str]]] = [
    (("networks", "*", "labels"), _key_value),
    (("networks", "*", "ipam", "options"), _key_value),
    # volumes.*.labels is not on compose's list: a label repeated word for word in two files stays
    # twice, and the schema (unique items) refuses it.
    (("services", "*", "annotations"), _key_value),
    (("services", "*", "build", "args"), _key_value),
    (("services", "*", "build", "additional_contexts"), _key_value),
    # compose-go names "build.platform", which no file has: build.platforms keeps its repeats
    (("services", "*", "build", "platform"), _key_value),
    (("services", "*", "build", "tags"), _key_value),
    (("services", "*", "build", "labels"), _key_value),
    (("services", "*", "cap_add"), _key_value),
    (("services", "*", "cap_drop"), _key_value),
    (("services", "*", "devices"), _device_key),
    (("services", "*", "configs"), _mount_key("")),
    (("services", "*", "deploy", "labels"), _key_value),
    (("services", "*", "dns"), _key_value),
    (("services", "*", "dns_opt"), _key_value),
    (("services", "*", "dns_search"), _key_value),
    (("services", "*", "environment"), _key_value),
    (("services", "*", "env_file"), _env_file_key),
    (("services", "*", "expose"), _plain_key),
    (("services", "*", "labels"), _key_value),
    (("services", "*", "links"), _key_value),
    (("services", "*", "networks", "*", "aliases"), _key_value),
    (("services", "*", "networks", "*", "link_local_ips"), _key_value),
    (("services", "*", "ports"), _port_key),
    (("services", "*", "profiles"), _key_value),
    (("services", "*", "secrets"), _mount_key("/run/secrets")),
    (("services", "*", "sysctls"), _key_value),
    (("services", "*", "tmpfs"), _key_value),
    (("services", "*", "volumes"), _volume_key),
]


def is_unique_path(path: tuple[str, ...]) -> bool:
    """Is ``path`` a sequence compose keeps unique (one of :data:`_UNIQUE`)?"""
    return any(match(path, pattern) for pattern, _ in _UNIQUE)


def _trie(patterns: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """The patterns as nested mappings, so a walk visits only the paths that can match."""
    root: dict[str, Any] = {}
    for pattern, indexer in patterns:
        node = root
        for part in pattern[:-1]:
            node = node.setdefault(part, {})
        node[pattern[-1]] = indexer
    return root


_UNIQUE_TRIE = _trie(_UNIQUE)
_UNIQUE_TOP_LEVEL = {k: v for k, v in _UNIQUE_TRIE.items() if k != "services"}


def _unique(items: Any, path: tuple[str, ...], indexer: Callable[[Any, tuple[str, ...]], str]) -> LList:
    out = LList(loc=getattr(items, "loc", None))
    locs = _locs(items)
    positions: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            key = indexer(item, path + (f"[{index}]",))
        except ComposeError as exc:
            if exc.location is None and locs[index] is not None:
                raise ComposeError(exc.message, locs[index]) from None
            raise
        if key in positions:
            old = out[positions[key]]
            if isinstance(item, EnvStr):
                winner = EnvStr(item, item.raw, item.references, item.loc)
                winner.beaten = list(getattr(old, "beaten", [])) + [old] + list(item.beaten)
                item = winner
            out[positions[key]] = item
            out.locs[positions[key]] = locs[index]
            continue
        positions[key] = len(out)
        out.append(item)
        out.locs.append(locs[index])
    return out


def enforce_unicity(model: Any, services: Optional[Iterable[str]] = None) -> Any:
    """Collapse entries that share a key in the sequences compose keeps unique.

    ``services`` limits the work to those services (the others are unique already).
    """
    if services is None:
        _unicity_walk(model, _UNIQUE_TRIE, ())
        return model
    _unicity_walk(model, _UNIQUE_TOP_LEVEL, ())
    all_services = model.get("services")
    if isinstance(all_services, dict):
        rule = _UNIQUE_TRIE["services"]["*"]
        for name in services:
            service = all_services.get(name)
            if isinstance(service, dict):
                _unicity_walk(service, rule, ("services", name))
    return model


def _unicity_walk(node: dict[Any, Any], trie: dict[str, Any], path: tuple[str, ...]) -> None:
    for part, rule in trie.items():
        keys = list(node) if part == "*" else ([part] if part in node else [])
        for key in keys:
            value = node[key]
            if callable(rule):
                if isinstance(value, list):
                    sub = path + (key,)
                    node[key] = _unique(value, sub, rule)
            elif isinstance(value, dict):
                _unicity_walk(value, rule, path + (key,))
