"""Service configuration -> Docker Engine API bodies (pure: no I/O).

The input is one service of the resolved project (the shape of ``docker compose config --format
json``, holding real values: no ``$$`` escaping); the output is the
JSON body of ``POST /containers/create`` (``Config`` with ``HostConfig`` and
``NetworkingConfig`` inside), built as Docker Compose v2 builds it.  Working on the raw
Engine body, not the docker SDK's keyword arguments, keeps settings the SDK drops
(the health check's ``StartInterval``) and makes every field testable without an Engine.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from typing import Any, Optional

from supervisor.compose import goconv
from supervisor.compose.confighash import service_hash
from supervisor.compose.model import Location, Project
from supervisor.runtime import labels as L
from supervisor.runtime.errors import InvalidSpec

__all__ = [
    "ContainerSpec",
    "SUPPORTED_KEYS",
    "parse_duration",
    "parse_bytes",
    "image_ref",
    "config_hash",
    "network_name",
    "volume_name",
    "service_networks",
    "container_spec",
    "network_body",
    "volume_body",
    "unsupported_keys",
    "api_at_least",
]

# Service keys this translator turns into Engine settings; others are reported, not dropped silently.
SUPPORTED_KEYS = frozenset(
    {
        "build",
        "image",
        "command",
        "entrypoint",
        "environment",
        "ports",
        "expose",
        "volumes",
        "healthcheck",
        "restart",
        "deploy",
        "stop_grace_period",
        "stop_signal",
        "labels",
        "depends_on",
        "networks",
        "network_mode",
        "container_name",
        "user",
        "working_dir",
        "hostname",
        "domainname",
        "tty",
        "stdin_open",
        "init",
        "privileged",
        "read_only",
        "cap_add",
        "cap_drop",
        "extra_hosts",
        "dns",
        "dns_search",
        "shm_size",
        "tmpfs",
        "ulimits",
        "sysctls",
        "security_opt",
        "logging",
        "profiles",
        "pull_policy",
        "scale",
        "mem_limit",
        "mem_reservation",
        "cpus",
        "pids_limit",
        "env_file",
        "group_add",
    }
)


@dataclasses.dataclass
class ContainerSpec:
    """Everything needed to create one container of a service."""

    service: str
    number: int
    name: str
    image: str
    body: dict[str, Any]  # the JSON body of POST /containers/create
    config_hash: str
    # networks beyond the first: the Engine (before API 1.44) attaches one at create time
    extra_networks: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    stop_timeout: Optional[int] = None  # seconds, from stop_grace_period
    warnings: list[str] = dataclasses.field(default_factory=list)


def _where(project: Optional[Project], service: str, key: str) -> Optional[Location]:
    if project is None:
        return None
    loc = project.locations.get(("services", service, key))
    if loc is None and service in project.services:
        loc = project.services[service].location
    return loc


def parse_duration(text: Any, *, what: str = "duration", location: Optional[Location] = None) -> int:
    """A compose duration (``"1m30s"``, ``"500ms"``; Go's ``time.ParseDuration``) in nanoseconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text * 1_000_000_000  # a bare number of seconds, as in compose's long-form tests
    try:
        if not str(text).strip():
            raise ValueError("empty")
        return goconv.parse_duration(str(text).strip())
    except (goconv.GoConvError, ValueError) as exc:
        raise InvalidSpec(
            f'{what}: "{text}" is not a duration ({exc}); use e.g. "30s", "1m30s", "500ms"', location
        ) from None


def parse_bytes(value: Any, *, what: str = "size", location: Optional[Location] = None) -> int:
    """A byte count: an integer, or ``"256M"``, ``"1g"``, ``"512kb"`` (binary units, as compose)."""
    try:
        return goconv.parse_bytes(value)
    except (goconv.GoConvError, ValueError) as exc:
        raise InvalidSpec(f'{what}: "{value}" is not a size ({exc}); use e.g. "512m", "1g"', location) from None


def api_at_least(version: str, minimum: str) -> bool:
    """Compare Engine API versions such as ``"1.41"`` and ``"1.44"``."""

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v)[:2]) or (0,)

    return parts(version) >= parts(minimum)


def image_ref(project_name: str, service: str, config: dict[str, Any]) -> str:
    """The image a service runs: ``image:``, or ``PROJECT-SERVICE`` for a build without one."""
    image = config.get("image")
    if image:
        return str(image)
    return f"{project_name}-{service}".lower()


def network_name(project: Project, key: str) -> str:
    """The Engine name of top-level network ``key`` (compose puts it in ``name``)."""
    entry = (project.config.get("networks") or {}).get(key) or {}
    return str(entry.get("name") or f"{project.name}_{key}")


def volume_name(project: Project, key: str) -> str:
    """The Engine name of top-level volume ``key``."""
    entry = (project.config.get("volumes") or {}).get(key) or {}
    return str(entry.get("name") or f"{project.name}_{key}")


def config_hash(config: dict[str, Any], references: Optional[dict[str, str]] = None) -> str:
    """Compose's ``config-hash`` label of a service, so compose and supervisor agree on what changed.

    ``references`` maps the services named by ``network_mode``/``ipc``/``pid: service:X`` or
    ``volumes_from`` to the id of their first container, which compose hashes in their place.
    """
    return service_hash(config, references)


def referenced_services(config: dict[str, Any]) -> list[str]:
    """The services whose containers ``config`` names (``service:X`` modes, ``volumes_from``)."""
    out = []
    for key in ("network_mode", "ipc", "pid"):
        mode = config.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            out.append(mode[8:])
    for entry in config.get("volumes_from") or []:
        name = str(entry).split(":")[0]
        if name != "container":
            out.append(name)
    return list(dict.fromkeys(out))


def unsupported_keys(config: dict[str, Any]) -> list[str]:
    """Service keys that this translator does not apply (reported as warnings)."""
    return sorted(k for k in config if k not in SUPPORTED_KEYS and not k.startswith("x-"))


def _command(value: Any, what: str, location: Optional[Location]) -> Optional[list[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise InvalidSpec(f"{what}: cannot split {value!r}: {exc}", location) from None
    if isinstance(value, list):
        return [str(v) for v in value]
    raise InvalidSpec(f"{what}: expected a string or a list, got {type(value).__name__}", location)


def _environment(value: Any) -> list[str]:
    # None means "declared but unset": compose leaves it out of the container entirely.
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items() if v is not None]
    if isinstance(value, list):
        return [str(item) for item in value if "=" in str(item)]
    raise InvalidSpec(f"environment: expected a mapping, got {type(value).__name__}")


def _healthcheck(value: Any, api_version: str, location: Optional[Location]) -> tuple[Optional[dict], list[str]]:
    if not value:
        return None, []
    if value.get("disable"):
        return {"Test": ["NONE"]}, []
    out: dict[str, Any] = {}
    warnings: list[str] = []
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test:
        out["Test"] = [str(t) for t in test]
    for key, field in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("start_interval", "StartInterval"),
    ):
        if value.get(key) is not None:
            out[field] = parse_duration(value[key], what=f"healthcheck.{key}", location=location)
    if "StartInterval" in out and not api_at_least(api_version, "1.44"):
        # Engines before 25.0 ignore it; say so, as compose does, instead of failing.
        del out["StartInterval"]
        warnings.append("healthcheck.start_interval requires Docker Engine v25 or later; ignored")
    if value.get("retries") is not None:
        out["Retries"] = int(value["retries"])
    return out, warnings


def _restart_policy(value: Any, location: Optional[Location]) -> Optional[dict[str, Any]]:
    if value is None:
        return None
    text = str(value)
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidSpec(f'restart: "{text}" is not one of no, always, unless-stopped, on-failure[:N]', location)
    policy: dict[str, Any] = {"Name": "" if name == "no" else name}
    if count:
        if name != "on-failure" or not count.isdigit():
            raise InvalidSpec(f'restart: "{text}": only on-failure takes a retry count', location)
        policy["MaximumRetryCount"] = int(count)
    return policy


def _ports(value: Any, location: Optional[Location]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for port in value or []:
        if not isinstance(port, dict) or "target" not in port:
            raise InvalidSpec(f"ports: expected the long form with a target, got {port!r}", location)
        key = f"{int(port['target'])}/{port.get('protocol') or 'tcp'}"
        exposed[key] = {}
        bindings.setdefault(key, []).append(
            {
                "HostIp": str(port.get("host_ip") or ""),
                "HostPort": str(port.get("published") or ""),
            }
        )
    return exposed, bindings


def _mounts(project: Project, value: Any, location: Optional[Location]) -> tuple[list[str], list[dict]]:
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for vol in value or []:
        if not isinstance(vol, dict) or "target" not in vol:
            raise InvalidSpec(f"volumes: expected the long form with a target, got {vol!r}", location)
        kind = vol.get("type") or "volume"
        target = str(vol["target"])
        read_only = bool(vol.get("read_only"))
        if kind == "bind":
            bind = vol.get("bind") or {}
            if bind.get("create_host_path", True) and not bind.get("propagation"):
                # Binds (not Mounts) so the Engine creates a missing host path, as compose does.
                binds.append(f"{vol['source']}:{target}" + (":ro" if read_only else ""))
                continue
            mount = {"Type": "bind", "Source": str(vol["source"]), "Target": target, "ReadOnly": read_only}
            if bind.get("propagation"):
                mount["BindOptions"] = {"Propagation": bind["propagation"]}
            mounts.append(mount)
        elif kind == "volume":
            source = vol.get("source")
            mount = {
                "Type": "volume",
                "Source": volume_name(project, source) if source else "",
                "Target": target,
                "ReadOnly": read_only,
            }
            if (vol.get("volume") or {}).get("nocopy"):
                mount["VolumeOptions"] = {"NoCopy": True}
            mounts.append(mount)
        elif kind == "tmpfs":
            mount = {"Type": "tmpfs", "Target": target, "ReadOnly": read_only}
            size = (vol.get("tmpfs") or {}).get("size")
            if size is not None:
                mount["TmpfsOptions"] = {"SizeBytes": parse_bytes(size, what="tmpfs.size", location=location)}
            mounts.append(mount)
        else:
            raise InvalidSpec(f'volumes: type "{kind}" is not supported (bind, volume, tmpfs)', location)
    return binds, mounts


def _resources(config: dict[str, Any], location: Optional[Location]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    resources = (config.get("deploy") or {}).get("resources") or {}
    limits = resources.get("limits") or {}
    reservations = resources.get("reservations") or {}
    cpus = limits.get("cpus", config.get("cpus"))
    if cpus not in (None, "", 0):
        try:
            out["NanoCpus"] = int(round(float(cpus) * 1e9))
        except ValueError:
            raise InvalidSpec(f'cpus: "{cpus}" is not a number', location) from None
    memory = limits.get("memory", config.get("mem_limit"))
    if memory not in (None, "", 0):
        out["Memory"] = parse_bytes(memory, what="memory limit", location=location)
    reservation = reservations.get("memory", config.get("mem_reservation"))
    if reservation not in (None, "", 0):
        out["MemoryReservation"] = parse_bytes(reservation, what="memory reservation", location=location)
    pids = limits.get("pids", config.get("pids_limit"))
    if pids not in (None, "", 0):
        out["PidsLimit"] = int(pids)
    return out


def service_networks(project: Project, service: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The service's networks as ``(key, engine name, endpoint settings)``, by priority, then name."""
    config = project.config["services"][service]
    if config.get("network_mode"):
        return []
    nets = config.get("networks")
    if nets is None:
        nets = {"default": None}
    if isinstance(nets, list):
        nets = {n: None for n in nets}
    ordered = sorted(nets.items(), key=lambda kv: (-int((kv[1] or {}).get("priority") or 0), kv[0]))
    out = []
    for key, settings in ordered:
        settings = settings or {}
        endpoint: dict[str, Any] = {"Aliases": [service, *[str(a) for a in settings.get("aliases") or []]]}
        ipam = {}
        if settings.get("ipv4_address"):
            ipam["IPv4Address"] = settings["ipv4_address"]
        if settings.get("ipv6_address"):
            ipam["IPv6Address"] = settings["ipv6_address"]
        if ipam:
            endpoint["IPAMConfig"] = ipam
        out.append((key, network_name(project, key), endpoint))
    return out


def _depends_on_label(config: dict[str, Any]) -> str:
    deps = config.get("depends_on") or {}
    if isinstance(deps, list):
        deps = {d: {} for d in deps}
    return ",".join(
        f"{name}:{(d or {}).get('condition', 'service_started')}:{str(bool((d or {}).get('restart'))).lower()}"
        for name, d in sorted(deps.items())
    )


def container_spec(
    project: Project,
    service: str,
    number: int,
    *,
    api_version: str = "1.41",
    image_id: Optional[str] = None,
    references: Optional[dict[str, str]] = None,
) -> ContainerSpec:
    """The Engine body that creates container ``number`` of ``service`` (labels as compose writes them).

    ``references``: the container ids of the services this one names in ``service:X`` modes.
    """
    # The loader's config holds real values (compose's `config` output would escape $ as $$).
    config = project.config["services"][service]
    loc = _where(project, service, "healthcheck")
    warnings = [f"service {service}: {key} is not applied by supervisor up" for key in unsupported_keys(config)]
    name = config.get("container_name") or L.container_name(project.name, service, number)
    image = image_ref(project.name, service, config)
    digest = config_hash(config, references)

    container_labels = {str(k): str(v) for k, v in (config.get("labels") or {}).items()}
    container_labels.update(
        {
            L.PROJECT: project.name,
            L.SERVICE: service,
            L.CONTAINER_NUMBER: str(number),
            L.ONEOFF: "False",
            L.CONFIG_HASH: digest,
            L.WORKING_DIR: project.working_dir,
            L.CONFIG_FILES: ",".join(project.files),
            L.VERSION: L.COMPOSE_VERSION,
            L.DEPENDS_ON: _depends_on_label(config),
        }
    )
    if image_id:
        container_labels[L.IMAGE] = image_id

    exposed, bindings = _ports(config.get("ports"), _where(project, service, "ports"))
    for port in config.get("expose") or []:
        text = str(port)
        exposed.setdefault(text if "/" in text else f"{text}/tcp", {})
    binds, mounts = _mounts(project, config.get("volumes"), _where(project, service, "volumes"))

    host: dict[str, Any] = {
        "Binds": binds or None,
        "Mounts": mounts or None,
        "PortBindings": bindings or None,
        "Init": config.get("init"),
        "Privileged": bool(config.get("privileged")),
        "ReadonlyRootfs": bool(config.get("read_only")),
        "CapAdd": config.get("cap_add"),
        "CapDrop": config.get("cap_drop"),
        "Dns": config.get("dns"),
        "DnsSearch": config.get("dns_search"),
        "SecurityOpt": config.get("security_opt"),
        "GroupAdd": config.get("group_add"),
        "Sysctls": config.get("sysctls"),
    }
    host.update(_resources(config, _where(project, service, "deploy")))
    restart = _restart_policy(config.get("restart"), _where(project, service, "restart"))
    if restart:
        host["RestartPolicy"] = restart
    if config.get("extra_hosts"):
        hosts = config["extra_hosts"]
        if isinstance(hosts, dict):
            hosts = [f"{h}:{ip}" for h, ips in hosts.items() for ip in (ips if isinstance(ips, list) else [ips])]
        host["ExtraHosts"] = list(hosts)
    if config.get("shm_size") is not None:
        host["ShmSize"] = parse_bytes(config["shm_size"], what="shm_size")
    if config.get("tmpfs"):
        tmpfs = config["tmpfs"]
        host["Tmpfs"] = {str(t): "" for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    if config.get("ulimits"):
        host["Ulimits"] = [
            {"Name": n, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
            if isinstance(v, dict)
            else {"Name": n, "Soft": int(v), "Hard": int(v)}
            for n, v in config["ulimits"].items()
        ]
    if config.get("logging"):
        host["LogConfig"] = {
            "Type": config["logging"].get("driver") or "json-file",
            "Config": {k: str(v) for k, v in (config["logging"].get("options") or {}).items()},
        }

    networks = service_networks(project, service)
    networking: Optional[dict[str, Any]] = None
    extra: list[tuple[str, dict[str, Any]]] = []
    if config.get("network_mode"):
        mode = str(config["network_mode"])
        if mode.startswith("service:"):
            # compose resolves the service to its first container
            mode = "container:" + L.container_name(project.name, mode.split(":", 1)[1], 1)
        host["NetworkMode"] = mode
    elif networks:
        first_key, first_name, first_ep = networks[0]
        host["NetworkMode"] = first_name
        networking = {"EndpointsConfig": {first_name: first_ep}}
        extra = [(n, ep) for _, n, ep in networks[1:]]

    stop_timeout = None
    if config.get("stop_grace_period") is not None:
        stop_timeout = (
            parse_duration(
                config["stop_grace_period"],
                what="stop_grace_period",
                location=_where(project, service, "stop_grace_period"),
            )
            // 1_000_000_000
        )

    healthcheck, hc_warnings = _healthcheck(config.get("healthcheck"), api_version, loc)
    warnings.extend(f"service {service}: {w}" for w in hc_warnings)

    body: dict[str, Any] = {
        "Image": image,
        "Env": _environment(config.get("environment")),
        "Cmd": _command(config.get("command"), "command", _where(project, service, "command")),
        "Entrypoint": _command(config.get("entrypoint"), "entrypoint", _where(project, service, "entrypoint")),
        "Labels": container_labels,
        "ExposedPorts": exposed or None,
        "Healthcheck": healthcheck,
        "StopTimeout": stop_timeout,
        "StopSignal": config.get("stop_signal"),
        "User": config.get("user"),
        "WorkingDir": config.get("working_dir"),
        "Hostname": config.get("hostname"),
        "Domainname": config.get("domainname"),
        "Tty": bool(config.get("tty")),
        "OpenStdin": bool(config.get("stdin_open")),
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": _drop_none(host),
        "NetworkingConfig": networking,
    }
    return ContainerSpec(
        service=service,
        number=number,
        name=name,
        image=image,
        body=_drop_none(body),
        config_hash=digest,
        extra_networks=extra,
        stop_timeout=stop_timeout,
        warnings=warnings,
    )


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def network_body(project: Project, key: str) -> dict[str, Any]:
    """The body of ``POST /networks/create`` for top-level network ``key``, labelled as compose does."""
    entry = (project.config.get("networks") or {}).get(key) or {}
    body: dict[str, Any] = {
        "Name": network_name(project, key),
        "Driver": entry.get("driver") or "bridge",
        "CheckDuplicate": True,
        "Internal": bool(entry.get("internal")),
        "Attachable": bool(entry.get("attachable")),
        "EnableIPv6": bool(entry.get("enable_ipv6")),
        "Labels": {
            **{str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
            L.NETWORK: key,
            L.PROJECT: project.name,
            L.VERSION: L.COMPOSE_VERSION,
        },
    }
    if entry.get("driver_opts"):
        body["Options"] = {str(k): str(v) for k, v in entry["driver_opts"].items()}
    ipam = entry.get("ipam") or {}
    if ipam.get("config") or ipam.get("driver"):
        body["IPAM"] = {
            "Driver": ipam.get("driver") or "default",
            "Config": [
                {{"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange"}.get(k, k): v for k, v in c.items()}
                for c in ipam.get("config") or []
            ],
        }
    return body


def volume_body(project: Project, key: str) -> dict[str, Any]:
    """The body of ``POST /volumes/create`` for top-level volume ``key``, labelled as compose does."""
    entry = (project.config.get("volumes") or {}).get(key) or {}
    return {
        "Name": volume_name(project, key),
        "Driver": entry.get("driver") or "local",
        "DriverOpts": {str(k): str(v) for k, v in (entry.get("driver_opts") or {}).items()},
        "Labels": {
            **{str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
            L.VOLUME: key,
            L.PROJECT: project.name,
            L.VERSION: L.COMPOSE_VERSION,
        },
    }
