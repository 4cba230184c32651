"""Interpolate every value (never a key) of one compose file, then cast where compose casts.

Compose substitutes ``${VAR}`` templates in every string value, then converts
the strings found at a few paths into numbers or booleans (``deploy.replicas``,
``ports[].target``, ``read_only``...), whatever their origin: ``replicas: "3"``
becomes ``3`` too.  A value that cannot be converted is an error.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from supervisor.compose.goconv import GoConvError, atoi, parse_bool_loose, parse_float
from supervisor.compose.model import ComposeError, Location, Origin, Substitution
from supervisor.compose.yamlsource import LList, LMap, key_location

__all__ = ["Interpolator", "CAST_PATHS", "dotted", "warning_line"]

LIST = "[]"
ANY = "*"


def _int(text: str) -> int:
    return atoi(text, "strconv.Atoi")


def _int64(text: str) -> int:
    return atoi(text, "strconv.ParseInt")


def _float(text: str) -> float:
    return parse_float(text)


_BOOL = "bool"

#: path pattern -> conversion (compose-go ``interpolateTypeCastMapping``).
CAST_PATHS: dict[tuple[str, ...], Any] = {}


def _service(*parts: str) -> tuple[str, ...]:
    return ("services", ANY) + parts


for _path, _cast in {
    _service("configs", LIST, "mode"): _int,
    _service("cpu_count"): _int64,
    _service("cpu_percent"): _float,
    _service("cpu_period"): _int64,
    _service("cpu_quota"): _int64,
    _service("cpu_rt_period"): _int64,
    _service("cpu_rt_runtime"): _int64,
    _service("cpus"): _float,
    _service("cpu_shares"): _int64,
    _service("init"): _BOOL,
    _service("deploy", "replicas"): _int,
    _service("deploy", "update_config", "parallelism"): _int,
    _service("deploy", "update_config", "max_failure_ratio"): _float,
    _service("deploy", "rollback_config", "parallelism"): _int,
    _service("deploy", "rollback_config", "max_failure_ratio"): _float,
    _service("deploy", "restart_policy", "max_attempts"): _int,
    _service("deploy", "placement", "max_replicas_per_node"): _int,
    _service("healthcheck", "retries"): _int,
    _service("healthcheck", "disable"): _BOOL,
    _service("oom_kill_disable"): _BOOL,
    _service("oom_score_adj"): _int64,
    _service("pids_limit"): _int64,
    _service("ports", LIST, "target"): _int,
    _service("privileged"): _BOOL,
    _service("read_only"): _BOOL,
    _service("scale"): _int,
    _service("secrets", LIST, "mode"): _int,
    _service("stdin_open"): _BOOL,
    _service("tty"): _BOOL,
    _service("ulimits", ANY): _int,
    _service("ulimits", ANY, "hard"): _int,
    _service("ulimits", ANY, "soft"): _int,
    _service("volumes", LIST, "read_only"): _BOOL,
    _service("volumes", LIST, "volume", "nocopy"): _BOOL,
    ("networks", ANY, "external"): _BOOL,
    ("networks", ANY, "internal"): _BOOL,
    ("networks", ANY, "attachable"): _BOOL,
    ("networks", ANY, "enable_ipv6"): _BOOL,
    ("volumes", ANY, "external"): _BOOL,
    ("secrets", ANY, "external"): _BOOL,
    ("configs", ANY, "external"): _BOOL,
}.items():
    CAST_PATHS[_path] = _cast

# Index by (length, last element) so that each string is checked against few patterns.
_BY_LAST: dict[tuple[int, str], list[tuple[tuple[str, ...], Any]]] = {}
for _path, _cast in CAST_PATHS.items():
    _BY_LAST.setdefault((len(_path), _path[-1]), []).append((_path, _cast))


def _cast_for(path: list[str]) -> Any:
    candidates = _BY_LAST.get((len(path), path[-1]), []) + _BY_LAST.get((len(path), ANY), [])
    for pattern, cast in candidates:
        if all(p == ANY or p == q for p, q in zip(pattern, path)):
            return cast
    return None


def dotted(path: list[str]) -> str:
    """Compose's spelling of a tree path: ``services.web.environment.[]``."""
    return ".".join(path)


@dataclasses.dataclass
class Interpolator:
    """Interpolates file trees with one project environment; collects compose's warnings."""

    environment: dict[str, tuple[str, Origin]]
    warnings: list[str] = dataclasses.field(default_factory=list)
    _warned: set[str] = dataclasses.field(default_factory=set)
    # True: templates are left as written and nothing is cast (``config --no-interpolate``)
    skip: bool = False

    def lookup(self, name: str) -> Optional[str]:
        entry = self.environment.get(name)
        return None if entry is None else entry[0]

    def warn(self, text: str) -> None:
        # Compose logs a warning at every use, not once per variable.
        self.warnings.append(text)

    def substitutions(self, references: list[Any]) -> list[Substitution]:
        """Our records of the template references ``interpolate`` reported."""
        out = []
        for ref in references:
            entry = self.environment.get(ref.name)
            origin = entry[1] if entry is not None else Origin("unset")
            out.append(Substitution(ref.name, ref.value, origin, bool(ref.used_default)))
        return out

    def text(self, text: str, path: list[str], location: Optional[Location]) -> tuple[str, list[Any]]:
        """Interpolate one string; template errors become compose's message at ``location``."""
        from supervisor.compose.template import TemplateError, interpolate, unset_warning

        try:
            value, references = interpolate(text, self.lookup, location=location)
        except TemplateError as exc:
            for ref in exc.references:
                if ref.defaulted_to_blank:
                    self.warn(unset_warning(ref.name))
            raise ComposeError(exc.compose_message(dotted(path)), exc.location or location) from None
        for ref in references:
            if ref.defaulted_to_blank:
                self.warn(unset_warning(ref.name))
        return value, references

    def tree(self, root: Any, prefix: Optional[list[str]] = None) -> Any:
        """Interpolate every string value under ``root`` in place; return the (possibly new) root."""
        if self.skip:
            return root
        path = list(prefix or [])
        if isinstance(root, str):
            value, _ = self.text(root, path, None)
            return value
        self._walk(root, path)
        return root

    def _walk(self, node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            keys = list(node.keys())
            for key in keys:
                value = node[key]
                path.append(key)
                node[key] = self._value(node, key, value, path)
                path.pop()
        elif isinstance(node, list):
            path.append(LIST)
            for index, value in enumerate(node):
                node[index] = self._value(node, index, value, path)
            path.pop()

    def _value(self, container: Any, key: Any, value: Any, path: list[str]) -> Any:
        if isinstance(value, str):
            if "$" in value:
                raw = value
                value, references = self.text(value, path, key_location(container, key))
                if isinstance(container, (LMap, LList)):
                    container.raws[key] = (raw, references)
            cast = _cast_for(path) if len(path) > 1 else None
            if cast is not None:
                return self._cast(cast, value, path, key_location(container, key))
            return value
        if isinstance(value, (dict, list)):
            self._walk(value, path)
        return value

    def _cast(self, cast: Any, value: str, path: list[str], location: Optional[Location]) -> Any:
        try:
            if cast is _BOOL:
                result, legacy = parse_bool_loose(value)
                if legacy:
                    word = "true" if result else "false"
                    self.warn(warning_line(f'"{value}" for boolean is not supported by YAML 1.2, please use `{word}`'))
                return result
            return cast(value)
        except GoConvError as exc:
            if cast is _BOOL:
                message = f"error while interpolating {dotted(path)}: failed to cast to expected type: {exc}"
            else:
                message = f"error while interpolating {dotted(path)}: failed to cast to expected type: {exc}"
            raise ComposeError(message, location) from None


def warning_line(message: str) -> str:
    """A warning as compose prints it on a terminal."""
    return f"WARN[0000] {message}"
