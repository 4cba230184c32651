"""Canonical forms: compose's short syntaxes turned into the long ones it prints.

:func:`canonical` runs after each file is merged (compose-go ``transform``);
the ``to_output`` helpers give each attribute the exact shape and type of
``docker compose config --format json`` (durations as Go prints them, byte
sizes as strings, ``command`` split like a shell...).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from supervisor.compose.goconv import (
    GoConvError,
    format_duration,
    format_value,
    parse_bool_loose,
    parse_bytes,
    parse_duration,
)
from supervisor.compose.model import ComposeError, Location
from supervisor.compose.yamlsource import LList, LMap, key_location

__all__ = [
    "canonical",
    "plain",
    "external_names",
    "resolve_paths",
    "parse_volume",
    "parse_ports",
    "shell_split",
    "split_command_line",
    "output_service",
    "omit_empty",
    "to_mapping",
]

_BIND_OPTIONS = {"z", "Z"}
_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


def _is_windows_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _is_path(source: str) -> bool:
    if not source:
        return False
    if source[0] in "./~" or source.startswith("\\\\"):
        return True
    return len(source) > 1 and _is_windows_drive(source[0], source[1])


def _split_volume_spec(spec: str) -> list[str]:
    """The ``:``-separated sections of a short volume spec; a drive letter's ``:`` (``c:``) is no separator."""
    sections: list[str] = []
    buffer = ""
    for char in spec:
        if char == ":" and not _is_windows_drive(buffer, char):
            if not buffer:
                raise ComposeError(f"invalid spec: {spec}: empty section between colons")
            sections.append(buffer)
            buffer = ""
        else:
            buffer += char
    if not buffer:
        raise ComposeError(f"invalid spec: {spec}: empty section between colons")
    sections.append(buffer)
    if len(sections) > 3:
        raise ComposeError(f"invalid spec: {spec}: too many colons")
    return sections


def parse_volume(spec: str) -> dict[str, Any]:
    """``format.ParseVolume`` for Linux: ``[source:]target[:options]`` (``c:/x`` is a Windows path)."""
    if not spec:
        raise ComposeError("invalid empty volume spec")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}  # compose's shortcut: no volume options at all
    parts = _split_volume_spec(spec)
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "volume": {}}
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    kind = "bind" if _is_path(source) else "volume"
    out: dict[str, Any] = {"type": kind, "source": source, "target": target}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    for option in options:
        if option in ("ro", "rw"):
            if option == "ro":
                out["read_only"] = True
            else:
                out.pop("read_only", None)
        elif option in _BIND_OPTIONS:
            bind["selinux"] = option
        elif option in _PROPAGATION:
            bind["propagation"] = option
        elif option == "nocopy":
            volume["nocopy"] = True
    if kind == "bind":
        bind["create_host_path"] = True
        out["bind"] = bind
    else:
        if bind:  # compose keeps a named volume's SELinux and propagation options too
            out["bind"] = bind
        out["volume"] = volume
    return out


_PORT_DIGITS = frozenset("0123456789")


def _port_number(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``: digits only, at most 65535."""
    if not text or not set(text) <= _PORT_DIGITS or len(text.lstrip("0")) > 5 or int(text) > 65535:
        raise ValueError(text)
    return int(text)


def _port_range(text: str) -> tuple[int, int]:
    """``nat.ParsePortRange``: ``N`` or ``START-END`` (what follows a second ``-`` is ignored)."""
    if "-" not in text:
        port = _port_number(text)
        return port, port
    parts = text.split("-")
    start, end = _port_number(parts[0]), _port_number(parts[1])
    if end < start:
        raise ValueError(text)
    return start, end


def parse_ports(spec: Any) -> list[dict[str, Any]]:
    """``types.ParsePortConfig``: a short port spec as long-syntax entries (``nat.ParsePortSpec``).

    Ports are checked before any range is expanded, so ``1-1000000`` is refused at once, as
    compose does, instead of growing a million entries.
    """
    text = format_value(spec)
    protocol = "tcp"
    if "/" in text:
        text, _, protocol = text.partition("/")
        protocol = protocol.lower() or "tcp"
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        host_ip, text = text[1:end], text[end + 2 :]
    parts = text.rsplit(":", 2)
    if len(parts) == 3:
        host_ip, published, target = parts
    elif len(parts) == 2:
        published, target = parts
    else:
        published, target = "", parts[0]
    if target == "":
        protocol = ""
    if protocol not in ("tcp", "udp", "sctp"):
        raise ComposeError(f"invalid proto: {protocol}")
    try:
        t_start, t_end = _port_range(target)
    except ValueError:
        raise ComposeError(f"invalid containerPort: {target}") from None
    try:
        p_start, p_end = _port_range(published) if published else (0, 0)
    except ValueError:
        raise ComposeError(f"invalid hostPort: {published}") from None
    if published and t_end - t_start != p_end - p_start and t_end != t_start:
        raise ComposeError(f"invalid ranges specified for container and host Ports: {target} and {published}")
    out = []
    count = t_end - t_start + 1
    for offset in range(count):
        entry: dict[str, Any] = {"mode": "ingress", "target": t_start + offset}
        if published:
            if p_end - p_start + 1 == count:
                entry["published"] = str(p_start + offset)
            else:  # one container port and a host range to allocate from
                entry["published"] = published
        entry["protocol"] = protocol
        if host_ip:
            entry["host_ip"] = host_ip
        out.append(entry)
    return out


_WORD_BREAKS = frozenset(" \t\r\n")
_COMMAND_ENDS = frozenset(";&|<>")


def split_command_line(line: str) -> list[str]:
    """Split ``line`` into words as compose does (``go-shellwords``, no expansion).

    Unlike a POSIX shell, a backslash escapes any character inside double quotes too, and the
    words end at the first unquoted ``;``, ``&``, ``|``, ``<`` or ``>`` (the rest is dropped).
    ``$(...)`` and backquotes are kept as text.  Raises ``ValueError`` when a quote, an escape,
    ``$(`` (or a lone ``)``) or a backquote is left open, or on a ``(`` that does not follow ``$``.
    """
    words: list[str] = []
    buf: list[str] = []
    has_word = False
    escaped = single = double = backquote = dollar = False
    for char in line:
        if escaped:
            buf.append(char)
            escaped, has_word = False, True
            continue
        if char == "\\":
            if single:
                buf.append(char)
            else:
                escaped = True
            continue
        if char in _WORD_BREAKS:
            if single or double or backquote or dollar:
                buf.append(char)
            elif has_word:
                words.append("".join(buf))
                buf, has_word = [], False
            continue
        if char == "`" and not (single or double or dollar):
            backquote = not backquote
        elif char == ")" and not (single or double or backquote):
            dollar = not dollar  # a ")" with no "$(" opens one, as in compose
        elif char == "(" and not (single or double or backquote):
            if dollar or not buf or buf[-1] != "$":
                raise ValueError("invalid command line string")
            dollar = True
        elif char == '"' and not (single or dollar):
            double = not double
            has_word = True
            continue
        elif char == "'" and not (double or dollar):
            single = not single
            has_word = True
            continue
        elif char in _COMMAND_ENDS and not (single or double or backquote or dollar):
            if char == ">" and buf and all("0" <= c <= "9" for c in buf):
                has_word = False  # "2>": a file descriptor, not a word
            break
        buf.append(char)
        has_word = True
    else:
        if escaped or single or double or backquote or dollar:
            raise ValueError("invalid command line string")
    if has_word:
        words.append("".join(buf))
    return words


def shell_split(value: Any, where: str, loc: Optional[Location] = None) -> Any:
    """``command``/``entrypoint``: a string is split into words as compose does; lists keep their items."""
    if value is None:
        return None
    if isinstance(value, list):
        return [format_value(v) for v in value]
    try:
        return split_command_line(str(value))
    except ValueError:
        raise ComposeError(f"{where}: invalid command line string (an unterminated quote?)", loc) from None


def to_mapping(value: Any, *, sep: str = "=", allow_null: bool = True) -> dict[str, Any]:
    """A ``K=V`` list or a mapping as a mapping of strings (null kept for bare ``K``)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out[key] = None if item is None and allow_null else format_value(item)
    elif isinstance(value, list):
        for item in value:
            text = format_value(item)
            if sep in text:
                key, _, rest = text.partition(sep)
                out[key] = rest
            else:
                out[text] = None if allow_null else ""
    return out


# -- canonical (after each file) ----------------------------------------------


def canonical(model: dict[Any, Any], raw: bool = False) -> dict[Any, Any]:
    """Turn the short syntaxes of ``model`` into long ones, in place (compose-go ``transform``).

    ``raw``: as compose does without interpolation, a short form that does not parse (it holds a
    template) is left as written, and values keep their YAML types.
    """
    services = model.get("services")
    if isinstance(services, dict):
        for name, service in services.items():
            if isinstance(service, dict):
                _canonical_service(service, name, raw)
    for section in ("volumes", "networks", "secrets", "configs"):
        group = model.get(section)
        if isinstance(group, dict) and not raw:
            for name, item in group.items():
                if item is None:
                    group[name] = LMap()
    return model


def external_names(model: dict[Any, Any]) -> list[str]:
    """The legacy ``external: {name: N}`` as ``name: N`` + ``external: true``, in place; compose's warnings."""
    warnings = []
    for section in ("volumes", "networks", "secrets", "configs"):
        group = model.get(section)
        for key, item in group.items() if isinstance(group, dict) else ():
            external = item.get("external") if isinstance(item, dict) else None
            if not isinstance(external, dict) or "name" not in external:
                continue
            warnings.append(f"{section}.{key}: external.name is deprecated. Please set name and external: true")
            if item.get("name") not in (None, external["name"]):
                raise ComposeError(
                    f"{section}.{key}: name and external.name conflict; only use name", key_location(item, "name")
                )
            item["name"] = external["name"]
            item["external"] = True
    return warnings


def _go_number_type(value: Any) -> Optional[str]:
    """The Go type go-yaml gives a number that compose cannot take as an ``int`` (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return "float64"
    if -(2**63) <= value < 2**63:
        return None
    return "uint64" if 0 <= value < 2**64 else "float64"


def _check_ulimits(service: dict[Any, Any], name: Any) -> None:
    ulimits = service.get("ulimits")
    if not isinstance(ulimits, dict):
        return
    for key, value in ulimits.items():
        where = f"services.{name}.ulimits.{key}"
        kind = _go_number_type(value)
        if kind:
            raise ComposeError(f"{where}: invalid type {kind} for external", key_location(ulimits, key))
        if isinstance(value, dict):
            for part in ("soft", "hard"):
                if _go_number_type(value.get(part)):
                    # compose panics on this (a float64 where it expects an int)
                    raise ComposeError(
                        f"{where}.{part} must be a whole number without a decimal point or an exponent, such as 1024",
                        key_location(value, part),
                    )


def _canonical_service(service: dict[Any, Any], name: Any = "", raw: bool = False) -> None:
    if isinstance(service.get("build"), str):
        service["build"] = LMap({"context": service["build"]})
    if isinstance(service.get("extends"), str):
        service["extends"] = LMap({"service": service["extends"]})
    depends = service.get("depends_on")
    if isinstance(depends, list):
        long = LMap()
        for item, loc in zip(depends, getattr(depends, "locs", [None] * len(depends))):
            long[item] = LMap({"condition": "service_started", "required": True})
            if loc is not None:
                long.keylocs[item] = loc
        service["depends_on"] = long
    elif isinstance(depends, dict):
        # "condition" is required by the schema in the long form: no default here.
        for dep, item in depends.items():
            if isinstance(item, dict):
                item.setdefault("required", True)
                if raw:
                    item.setdefault("condition", "service_started")
                    continue
                for key in ("restart", "required"):
                    if isinstance(item.get(key), str):  # compose decodes these as booleans
                        try:
                            item[key] = parse_bool_loose(item[key])[0]
                        except GoConvError:
                            raise ComposeError(
                                f"depends_on.{dep}.{key}: invalid boolean: {item[key]}: use true or false",
                                key_location(item, key),
                            ) from None
    env_file = service.get("env_file")
    if isinstance(env_file, (str, list)):  # anything else is left for the schema to refuse
        items = env_file if isinstance(env_file, list) else [env_file]
        locs = getattr(env_file, "locs", [])
        long_list = LList(loc=getattr(env_file, "loc", None))
        for index, item in enumerate(items):
            if isinstance(item, str):
                entry: Any = LMap({"path": item, "required": True})
            else:
                entry = item
                entry.setdefault("required", True)
            long_list.append(entry)
            long_list.locs.append(locs[index] if index < len(locs) else None)
        service["env_file"] = long_list
    networks = service.get("networks")
    if isinstance(networks, list):
        service["networks"] = LMap({name: None for name in networks})
    build = service.get("build")
    contexts = build.get("additional_contexts") if isinstance(build, dict) else None
    if (
        isinstance(build, dict)
        and isinstance(contexts, list)
        and all(isinstance(item, str) and "=" in item for item in contexts)
    ):
        build["additional_contexts"] = LMap(item.split("=", 1) for item in contexts)  # transformKeyValue
    if isinstance(service.get("label_file"), str):
        service["label_file"] = [service["label_file"]]
    develop = service.get("develop")
    watch = develop.get("watch") if isinstance(develop, dict) else None
    for rule in watch if isinstance(watch, list) else ():
        for key in ("ignore", "include"):
            if isinstance(rule, dict) and isinstance(rule.get(key), str):
                rule[key] = [rule[key]]
    _check_ulimits(service, name)
    ports = service.get("ports")
    if raw and isinstance(ports, list):
        service["ports"] = _raw_ports(ports)
    elif isinstance(ports, list):
        out = LList(loc=getattr(ports, "loc", None))
        for index, item in enumerate(ports):
            loc = key_location(ports, index)
            start = len(out)
            where = f"services.{name}.ports"
            if isinstance(item, float):
                raise ComposeError(f"{where}: invalid type float64 for port", loc)
            if isinstance(item, dict):
                entry = item
                published, target = entry.get("published"), entry.get("target")
                # go-yaml reads an integer past int64 as a float64; compose's ports take neither
                if isinstance(published, float) or (
                    isinstance(published, int) and not isinstance(published, bool) and not -(2**63) <= published < 2**63
                ):
                    raise ComposeError(
                        f"{where}.[{index}].published: expected type 'string', got unconvertible type 'float64'", loc
                    )
                if isinstance(target, int) and not isinstance(target, bool) and not 0 <= target < 2**32:
                    raise ComposeError(
                        f"{where}.[{index}].target: cannot parse value as 'uint32': {target} overflows uint", loc
                    )
                if "published" in entry and entry["published"] is not None:
                    entry["published"] = format_value(entry["published"])
                out.append(entry)
                out.locs.append(loc)
            else:
                try:
                    entries = parse_ports(item)
                except ComposeError as exc:
                    raise ComposeError(exc.message, loc) from None
                for entry in entries:
                    out.append(LMap(entry))
                    out.locs.append(loc)
            if any(isinstance(e, dict) and e.get("target") in (0, "0") for e in out[start:]):
                raise ComposeError(
                    f"service ports ports.[{index}] is missing a target port: give the container port (1-65535)", loc
                )
        service["ports"] = out
    volumes = service.get("volumes")
    if isinstance(volumes, list):
        for index, item in enumerate(volumes):
            if isinstance(item, str):
                try:
                    parsed = parse_volume(item)
                    parsed["target"] = _clean_target(parsed["target"])  # the short syntax's target, cleaned
                    volumes[index] = LMap(parsed)
                except ComposeError as exc:
                    if raw:
                        continue  # kept as written
                    raise ComposeError(exc.message, key_location(volumes, index)) from None


def _raw_ports(ports: list[Any]) -> list[Any]:
    """``transformPorts`` without interpolation: the list as written if one short form does not parse."""
    out: list[Any] = []
    for item in ports:
        if isinstance(item, dict):
            out.append(item)
            continue
        try:
            entries = parse_ports(item)
        except ComposeError:
            if isinstance(item, str):
                return ports
            raise
        out.extend({k: v for k, v in entry.items() if k != "published" or v} for entry in entries)
    return out


# -- output (once, at the end) -----------------------------------------------

_DURATIONS = ("interval", "timeout", "start_period", "start_interval")


def _duration(value: Any, where: str, loc: Optional[Location] = None) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(int(value))
    try:
        return format_duration(parse_duration(str(value)))
    except GoConvError as exc:
        raise ComposeError(f"{where}: {exc}: write a duration such as 30s, 1m30s or 2h", loc) from None


def _bytes_text(value: Any, where: str, loc: Optional[Location] = None) -> str:
    try:
        return str(parse_bytes(value))
    except GoConvError as exc:
        raise ComposeError(f"{where}: {exc}: write a size such as 512m, 1g or 1048576", loc) from None


def _at(*containers_and_keys: tuple[Any, Any]) -> Optional[Location]:
    """The first known location among (container, key) pairs, innermost first."""
    for container, key in containers_and_keys:
        loc = key_location(container, key)
        if loc is not None:
            return loc
    return None


def _healthcheck(
    check: dict[Any, Any], where: str, source: Any = None, loc: Optional[Location] = None
) -> dict[Any, Any]:
    out = dict(check)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    elif isinstance(test, list):
        out["test"] = [format_value(t) for t in test]
        if not test:
            del out["test"]  # an empty test is Go's omitted empty slice
    for key in _DURATIONS:
        if out.get(key) is not None:
            out[key] = _duration(out[key], f"{where}.healthcheck.{key}", key_location(source, key) or loc)
    retries = out.get("retries")
    if isinstance(retries, (int, float)) and not isinstance(retries, bool) and retries < 0:
        shown = f"{retries:f}" if isinstance(retries, float) else str(retries)
        raise ComposeError(
            f"{where}.healthcheck.retries: cannot parse value as 'uint64': {shown} overflows uint: "
            "give a count of 0 or more",
            key_location(source, "retries") or loc,
        )
    return out


def _deploy(deploy: dict[Any, Any], where: str, loc: Optional[Location] = None) -> dict[Any, Any]:
    original = deploy
    out: dict[Any, Any] = plain(deploy)
    if "labels" in out:
        out["labels"] = to_mapping(out["labels"], allow_null=False)
    resources = out.get("resources") or {}
    for section in ("limits", "reservations"):
        part = resources.get(section)
        if isinstance(part, dict):
            if part.get("memory") is not None:
                source = (original.get("resources") or {}).get(section)
                part["memory"] = _bytes_text(
                    part["memory"],
                    f"{where}.deploy.resources.{section}.memory",
                    _at((source, "memory"), (original, "resources")) or loc,
                )
            if part.get("cpus") is not None:
                cpus = part["cpus"]
                try:
                    part["cpus"] = float(cpus) if not isinstance(cpus, float) else cpus
                except (TypeError, ValueError):
                    source = (original.get("resources") or {}).get(section)
                    raise ComposeError(
                        f"{where}.deploy.resources.{section}.cpus: invalid value {cpus!r}: write a "
                        "number of CPUs such as 0.5",
                        _at((source, "cpus"), (original, "resources")) or loc,
                    ) from None
                if part["cpus"] == int(part["cpus"]):
                    part["cpus"] = int(part["cpus"])
    out["resources"] = resources
    out.setdefault("placement", {})
    for policy in ("update_config", "rollback_config"):
        part = out.get(policy)
        if isinstance(part, dict):
            for key in ("delay", "monitor"):
                if part.get(key) is not None:
                    part[key] = _duration(
                        part[key],
                        f"{where}.deploy.{policy}.{key}",
                        _at((original.get(policy), key), (original, policy)) or loc,
                    )
    restart = out.get("restart_policy")
    if isinstance(restart, dict):
        for key in ("delay", "window"):
            if restart.get(key) is not None:
                restart[key] = _duration(
                    restart[key],
                    f"{where}.deploy.restart_policy.{key}",
                    _at((original.get("restart_policy"), key), (original, "restart_policy")) or loc,
                )
    return out


def plain(value: Any) -> Any:
    """Drop our location-carrying containers: plain ``dict``/``list``/``str`` for the output."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and type(value) is not str and type(value).__name__ != "GoTime":
        return str(value)  # a timestamp keeps its type: compose prints it plain
    return value


def _abs(path: str, base: str) -> str:
    # An absolute path is kept as written (a trailing "/" too); a relative one is joined and cleaned.
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base, path))


def _abs_source(path: str, base: str) -> str:
    """A bind mount source made absolute; Windows paths (``c:\\x``, ``\\\\host\\pipe``) are kept."""
    if path[:1] not in ("", ".", "/", "~") and _is_path(path):
        return path
    return _abs(path, base)


def _clean_target(path: str) -> str:
    """``path.Clean`` of a mount target (``/data/`` is ``/data``)."""
    if not path:
        return path
    cleaned = os.path.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _service_mounts(items: Any, prefix: str) -> Any:
    """Short ``secrets``/``configs`` entries as compose prints them: ``{source, target}``."""
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"source": item, "target": f"{prefix}/{item}"} if prefix else {"source": item})
        elif isinstance(item, dict) and prefix and "target" not in item:
            out.append({**item, "target": f"{prefix}/{item.get('source')}"})  # compose's default secret path
        else:
            out.append(item)
    return out


def _devices(items: Any) -> Any:
    """Short ``devices`` entries (``host[:container[:permissions]]``) in compose's long form."""
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if isinstance(item, str):
            parts = item.split(":")
            source = parts[0]
            target = parts[1] if len(parts) > 1 and parts[1] else source
            permissions = parts[2] if len(parts) > 2 and parts[2] else "rwm"
            out.append({"source": source, "target": target, "permissions": permissions})
        else:
            out.append(item)
    return out


def implicit_dependencies(service: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """The dependencies compose adds for ``links``, ``service:X`` namespaces and ``volumes_from``."""
    out: dict[str, dict[str, Any]] = {}
    started_restart = {"condition": "service_started", "restart": True, "required": True}
    for link in service.get("links") or []:
        parts = str(link).split(":")
        out.setdefault(parts[0] if len(parts) == 2 else str(link), dict(started_restart))
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        mode = service.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            out.setdefault(mode[8:], dict(started_restart))
    for entry in service.get("volumes_from") or []:
        if not str(entry).startswith("container:"):
            out.setdefault(str(entry).split(":")[0], {"condition": "service_started", "required": True})
    return out


def output_service(name: str, service: dict[Any, Any], working_dir: str, normalize: bool = True) -> dict[str, Any]:
    """The service as ``docker compose config --format json`` prints it (environment excluded).

    ``normalize=False`` leaves out what compose-go's ``Normalize`` adds (``--no-normalize``).
    """
    where = f"services.{name}"
    out: dict[str, Any] = plain({k: v for k, v in service.items() if not k.startswith("x-")})
    out.pop("env_file", None)
    out.pop("label_file", None)  # read into labels by the loader
    out.pop("extends", None)
    out["command"] = shell_split(service.get("command"), f"{where}.command", _at((service, "command")))
    out["entrypoint"] = shell_split(service.get("entrypoint"), f"{where}.entrypoint", _at((service, "entrypoint")))
    build = out.get("build")
    if isinstance(build, dict):
        if normalize or "context" in build:
            context = build.get("context", ".")
            if "://" not in context and not context.startswith("git@"):
                context = _abs(context, working_dir)
            build["context"] = context
        if normalize and "dockerfile_inline" not in build:
            build.setdefault("dockerfile", "Dockerfile")
        for key in ("args", "labels"):
            if key in build:
                build[key] = to_mapping(build[key], allow_null=key == "args")
    if isinstance(out.get("healthcheck"), dict):
        out["healthcheck"] = _healthcheck(
            out["healthcheck"], where, service.get("healthcheck"), _at((service, "healthcheck"))
        )
    if isinstance(out.get("deploy"), dict):
        out["deploy"] = _deploy(service["deploy"], where, _at((service, "deploy")))
    if "labels" in out:
        out["labels"] = to_mapping(out["labels"], allow_null=False)
    if "annotations" in out:
        out["annotations"] = to_mapping(out["annotations"], allow_null=False)
    if "sysctls" in out:
        out["sysctls"] = to_mapping(out["sysctls"], allow_null=False)
    if "extra_hosts" in out:
        hosts = out["extra_hosts"]
        if isinstance(hosts, dict):
            out["extra_hosts"] = [f"{k}={format_value(v)}" for k, v in hosts.items()]
        else:
            for host in map(str, hosts):
                if "=" not in host and ":" not in host:
                    raise ComposeError(
                        f"{where}.extra_hosts: invalid additional host, missing IP: {host}: write NAME=IP (or NAME:IP)",
                        _at((service, "extra_hosts")),
                    )
            out["extra_hosts"] = [h.replace(":", "=", 1) if "=" not in h else h for h in map(str, hosts)]
        out["extra_hosts"] = sorted(out["extra_hosts"])  # compose prints the host list sorted
    if isinstance(out.get("tmpfs"), str):
        out["tmpfs"] = [out["tmpfs"]]
    if "dns" in out and isinstance(out["dns"], str):
        out["dns"] = [out["dns"]]
    if "expose" in out:
        out["expose"] = [format_value(e) for e in out["expose"]]
    for key in ("mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "shm_size"):
        if out.get(key) is not None:
            out[key] = _bytes_text(out[key], f"{where}.{key}", _at((service, key)))
    if out.get("stop_grace_period") is not None:
        out["stop_grace_period"] = _duration(
            out["stop_grace_period"], f"{where}.stop_grace_period", _at((service, "stop_grace_period"))
        )
    if isinstance(out.get("depends_on"), dict):
        for dep in out["depends_on"].values():
            if isinstance(dep, dict):
                dep.setdefault("condition", "service_started")
                dep.setdefault("required", True)
    if normalize and out.get("pull_policy") == "if_not_present":
        out["pull_policy"] = "missing"  # compose's normalization: the old name of the policy
    implied = implicit_dependencies(out) if normalize else {}
    if implied:
        current = out.get("depends_on")
        depends: dict[str, Any] = current if isinstance(current, dict) else {}
        out["depends_on"] = {**{k: v for k, v in implied.items() if k not in depends}, **depends}
        out["depends_on"] = dict(sorted(out["depends_on"].items()))
    volumes = out.get("volumes")
    if isinstance(volumes, list):
        for volume in volumes:
            if isinstance(volume, dict) and volume.get("type") == "bind" and isinstance(volume.get("source"), str):
                volume["source"] = _abs_source(volume["source"], working_dir)
            if normalize and isinstance(volume, dict) and isinstance(volume.get("target"), str):
                volume["target"] = _clean_target(volume["target"])
            tmpfs = volume.get("tmpfs") if isinstance(volume, dict) else None
            if isinstance(tmpfs, dict) and tmpfs.get("size") is not None:
                tmpfs["size"] = _bytes_text(tmpfs["size"], f"{where}.volumes.tmpfs.size", _at((service, "volumes")))
    if "secrets" in out:
        out["secrets"] = _service_mounts(out["secrets"], "/run/secrets")
    if "configs" in out:
        out["configs"] = _service_mounts(out["configs"], "")
    for key in ("secrets", "configs"):
        for mount in out.get(key) or []:
            if isinstance(mount, dict) and isinstance(mount.get("mode"), int) and not isinstance(mount["mode"], bool):
                mount["mode"] = f"0{mount['mode']:o}"  # compose prints a file mode in octal, as text
    if "devices" in out:
        out["devices"] = _devices(out["devices"])
    omit_empty(out, _SERVICE_KEEP)
    for key in [k for k, v in out.items() if v in ([], {}) and k not in _POINTER_STRUCTS]:
        del out[key]  # Go's omitempty
    if out.get("scale") is not None and isinstance(out.get("deploy"), dict):
        deploy = out["deploy"]
        if "replicas" not in deploy:
            # compose copies scale into an existing deploy (printed where Go's struct has it: first)
            out["deploy"] = {"replicas": out["scale"], **{k: v for k, v in deploy.items() if k != "mode"}}
            if "mode" in deploy:
                out["deploy"] = {"mode": deploy["mode"], **out["deploy"]}
    if normalize and not out.get("networks") and "network_mode" not in out and "provider" not in out:
        out["networks"] = {"default": None}
    return out


# Attributes compose keeps as pointers: printed even when empty ({} or false).
_POINTER_STRUCTS = frozenset(
    {"command", "entrypoint", "healthcheck", "logging", "deploy", "build", "blkio_config", "credential_spec", "develop"}
)
_SERVICE_KEEP = frozenset({"init", "required"})
# Mappings whose entries are data, not struct fields: "" and false stay.
_DATA_MAPS = frozenset(
    {
        "environment",
        "labels",
        "annotations",
        "args",
        "sysctls",
        "driver_opts",
        "options",
        "additional_contexts",
        "storage_opt",
        "extra_hosts",
    }
)
# Struct fields compose prints only when non-zero (integers and floats).
_ZERO_OMITTED = frozenset({"priority", "gw_priority", "size", "cpus", "soft", "hard", "single"})


def omit_empty(node: Any, keep: frozenset[Any] = frozenset()) -> Any:
    """Drop struct fields Go's ``omitempty`` leaves out: ``""``, ``false``, and zero for a few numbers.

    ``keep`` names fields compose stores as pointers (printed even when false).
    Mappings of data (``environment``, ``labels``...) and ``x-*`` keys are left as they are.
    """
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                omit_empty(item, keep)
        return node
    if not isinstance(node, dict):
        return node
    for key in list(node):
        value = node[key]
        if key.startswith("x-") or key in _DATA_MAPS:
            continue
        if (value == "" and isinstance(value, str)) or (
            value is False and key not in keep and key not in _SERVICE_KEEP
        ):
            del node[key]
        elif key in _ZERO_OMITTED and isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            del node[key]
        elif isinstance(value, (dict, list)):
            omit_empty(value, keep)
    return node


def _is_remote(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))


def resolve_paths(model: dict[Any, Any], base_dir: str) -> dict[Any, Any]:
    """Make the relative paths of ``model`` absolute against ``base_dir`` (compose ``ResolveRelativePaths``)."""
    services = model.get("services")
    if isinstance(services, dict):
        for service in services.values():
            if not isinstance(service, dict):
                continue
            build = service.get("build")
            if isinstance(build, dict):
                context = build.get("context", ".")
                if isinstance(context, str) and not _is_remote(context):
                    build["context"] = _abs(context, base_dir)
                contexts = build.get("additional_contexts")
                if isinstance(contexts, dict):
                    for key, value in contexts.items():
                        if (
                            isinstance(value, str)
                            and value
                            and not _is_remote(value)
                            and not value.startswith("service:")
                        ):
                            contexts[key] = _abs(value, base_dir)
            develop = service.get("develop")
            watch = develop.get("watch") if isinstance(develop, dict) else None
            for rule in watch if isinstance(watch, list) else ():
                if isinstance(rule, dict) and isinstance(rule.get("path"), str) and rule["path"]:
                    rule["path"] = _abs(rule["path"], base_dir)
            label_files = service.get("label_file")
            # an empty path stays empty, as in compose (which then finds no such file)
            if isinstance(label_files, str) and label_files:
                service["label_file"] = _abs(label_files, base_dir)
            elif isinstance(label_files, list):
                service["label_file"] = [_abs(f, base_dir) if isinstance(f, str) and f else f for f in label_files]
            env_files = service.get("env_file")
            if isinstance(env_files, list):
                for item in env_files:
                    if isinstance(item, dict) and isinstance(item.get("path"), str):
                        item["path"] = _abs(item["path"], base_dir)
            volumes = service.get("volumes")
            if isinstance(volumes, list):
                for volume in volumes:
                    if (
                        isinstance(volume, dict)
                        and volume.get("type") == "bind"
                        and isinstance(volume.get("source"), str)
                    ):
                        volume["source"] = _abs_source(volume["source"], base_dir)
    return model
