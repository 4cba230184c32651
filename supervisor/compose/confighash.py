"""Compose's ``com.docker.compose.config-hash``: the digest of a service's configuration.

Docker Compose v2 labels each container with the SHA-256 of the service's configuration as its
Go model serialises to compact JSON, leaving out the keys that do not shape a container
(``build``, ``pull_policy``, ``scale``, ``deploy.replicas``, ``depends_on``, ``profiles``).
Reproducing those bytes (the order of the model's fields, Go's string escaping, Go's numbers)
lets ``docker compose up`` and ``supervisor up`` see each other's containers as up to date.

The field order below is the one of the compose-go release inside the compose binary we
reproduce (:data:`COMPOSE_GO_VERSION`); ``tests/compose/test_config_hash.py`` holds it against
that binary's own ``config --hash``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Mapping, Optional

__all__ = [
    "COMPOSE_GO_VERSION",
    "HASH_EXCLUDED",
    "service_hash",
    "hash_document",
    "go_json",
    "resolve_references",
    "unresolved_view",
]

#: The compose-go release whose model this module serialises (inside compose 2.40.3).
COMPOSE_GO_VERSION = "2.9.1"

#: Service keys compose clears before hashing (deploy.replicas too, see :func:`hash_document`).
HASH_EXCLUDED = ("build", "pull_policy", "scale", "depends_on", "profiles")

# Each struct of the model: its JSON keys in declaration order (Go writes struct fields in that
# order and map keys sorted), and the kind of the keys that hold other structs:
# "name" a struct, "[name" a list of them, "{name" a map of them.
_S = {
    "service": (
        "profiles annotations attach build develop blkio_config cap_add cap_drop cgroup_parent cgroup "
        "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpus cpuset cpu_shares "
        "command configs container_name credential_spec depends_on deploy device_cgroup_rules devices dns "
        "dns_opt dns_search dockerfile domainname entrypoint provider environment env_file expose extends "
        "external_links extra_hosts group_add gpus hostname healthcheck image init ipc isolation labels "
        "label_file links logging log_driver log_opt mem_limit mem_reservation memswap_limit mem_swappiness "
        "mac_address models net network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform "
        "ports privileged pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open "
        "stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode "
        "uts volume_driver volumes volumes_from working_dir post_start pre_stop",
        {
            "build": "build",
            "develop": "develop",
            "blkio_config": "blkio",
            "configs": "[file_ref",
            "credential_spec": "credential_spec",
            "depends_on": "{dependency",
            "deploy": "deploy",
            "devices": "[device",
            "provider": "provider",
            "env_file": "[env_file",
            "extends": "extends",
            "gpus": "[device_request",
            "healthcheck": "healthcheck",
            "logging": "logging",
            "models": "{service_model",
            "networks": "{service_network",
            "ports": "[port",
            "secrets": "[file_ref",
            "ulimits": "{ulimit",
            "volumes": "[volume",
            "post_start": "[hook",
            "pre_stop": "[hook",
        },
    ),
    "provider": ("type options", {}),
    "build": (
        "context dockerfile dockerfile_inline entitlements args provenance sbom ssh labels cache_from cache_to "
        "no_cache additional_contexts pull extra_hosts isolation network target secrets shm_size tags ulimits "
        "platforms privileged",
        {"secrets": "[file_ref", "ulimits": "{ulimit"},
    ),
    "blkio": (
        "weight weight_device device_read_bps device_read_iops device_write_bps device_write_iops",
        {
            "weight_device": "[weight_device",
            "device_read_bps": "[throttle",
            "device_read_iops": "[throttle",
            "device_write_bps": "[throttle",
            "device_write_iops": "[throttle",
        },
    ),
    "weight_device": ("Path Weight", {}),
    "throttle": ("Path Rate", {}),
    "device": ("source target permissions", {}),
    "logging": ("driver options", {}),
    "deploy": (
        "mode replicas labels update_config rollback_config resources restart_policy placement endpoint_mode",
        {
            "update_config": "update",
            "rollback_config": "update",
            "resources": "resources",
            "restart_policy": "restart_policy",
            "placement": "placement",
        },
    ),
    "update": ("parallelism delay failure_action monitor max_failure_ratio order", {}),
    "resources": ("limits reservations", {"limits": "resource", "reservations": "resource"}),
    "resource": (
        "cpus memory pids devices generic_resources",
        {"devices": "[device_request", "generic_resources": "[generic_resource"},
    ),
    "generic_resource": ("discrete_resource_spec", {"discrete_resource_spec": "discrete"}),
    "discrete": ("kind value", {}),
    "restart_policy": ("condition delay max_attempts window", {}),
    "placement": ("constraints preferences max_replicas_per_node", {"preferences": "[preference"}),
    "preference": ("spread", {}),
    "service_network": (
        "aliases driver_opts gw_priority interface_name ipv4_address ipv6_address link_local_ips mac_address priority",
        {},
    ),
    "port": ("name mode host_ip target published protocol app_protocol", {}),
    "volume": (
        "type source target read_only consistency bind volume tmpfs image",
        {"bind": "bind", "volume": "volume_options", "tmpfs": "tmpfs", "image": "image_options"},
    ),
    "bind": ("selinux propagation create_host_path recursive", {}),
    "volume_options": ("labels nocopy subpath", {}),
    "tmpfs": ("size mode", {}),
    "image_options": ("subpath", {}),
    "file_ref": ("source target uid gid mode", {}),
    "ulimit": ("single soft hard", {}),
    "credential_spec": ("config file registry", {}),
    "dependency": ("condition restart required", {}),
    "extends": ("file service", {}),
    "env_file": ("path required format", {}),
    "develop": ("watch", {"watch": "[trigger"}),
    "trigger": ("path action target exec include ignore initial_sync", {"exec": "hook"}),
    "healthcheck": ("test timeout interval retries start_period start_interval disable", {}),
    "hook": ("command user privileged working_dir environment", {}),
    "service_model": ("endpoint_var model_var", {}),
    "device_request": ("capabilities driver count device_ids options", {}),
}
_STRUCTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    name: (tuple(fields.split()), kinds) for name, (fields, kinds) in _S.items()
}

# Go's encoder escapes these inside strings (HTML safety and JavaScript line separators).
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if any(ch in text for ch in _GO_ESCAPES):
        text = "".join(_GO_ESCAPES.get(ch, ch) for ch in text)
    return text


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def go_json(value: Any, kind: Optional[str] = None) -> str:
    """``value`` as compact JSON, in the byte form Go's ``encoding/json`` writes for the model.

    ``kind`` names the struct ``value`` is (see ``_STRUCTS``); mappings of no struct are Go maps,
    written with sorted keys.
    """
    if kind is not None and kind[0] in "[{":
        inner = kind[1:]
        if isinstance(value, list) and kind[0] == "[":
            return "[" + ",".join(go_json(v, inner) for v in value) + "]"
        if isinstance(value, dict) and kind[0] == "{":
            return "{" + ",".join(f"{_string(str(k))}:{go_json(value[k], inner)}" for k in sorted(value)) + "}"
        return go_json(value)
    if isinstance(value, dict):
        if kind is None:
            return "{" + ",".join(f"{_string(str(k))}:{go_json(value[k])}" for k in sorted(value)) + "}"
        fields, kinds = _STRUCTS[kind]
        known = [k for k in fields if k in value]
        # a key the table does not know would come from a newer model: keep it, after the known ones
        extra = sorted(k for k in value if k not in fields and not str(k).startswith("x-"))
        return "{" + ",".join(f"{_string(k)}:{go_json(value[k], kinds.get(k))}" for k in known + extra) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    return _string(str(value))


def hash_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """The service as compose hashes it: without the keys it clears first."""
    view = {k: v for k, v in config.items() if k not in HASH_EXCLUDED and not str(k).startswith("x-")}
    deploy = view.get("deploy")
    if isinstance(deploy, dict) and "replicas" in deploy:
        view["deploy"] = {k: v for k, v in deploy.items() if k != "replicas"}
    return view


def service_hash(config: Mapping[str, Any], references: Optional[Mapping[str, str]] = None) -> str:
    """Compose's config hash of a service (``config`` as ``docker compose config --format json``).

    ``references`` maps the services this one shares a namespace or volumes with
    (``network_mode``/``ipc``/``pid: service:X``, ``volumes_from: X``) to the container id compose
    would put there; compose hashes the service after that substitution.
    """
    view = hash_document(config)
    if references is not None:
        view = resolve_references(view, references)
    return hashlib.sha256(go_json(view, "service").encode("utf-8")).hexdigest()


def resolve_references(view: dict[str, Any], references: Mapping[str, str]) -> dict[str, Any]:
    """Replace ``service:X`` modes and ``volumes_from`` entries with container ids, as compose does."""
    view = dict(view)
    for key in ("network_mode", "ipc", "pid"):
        mode = view.get(key)
        if isinstance(mode, str) and mode.startswith("service:") and mode[8:] in references:
            view[key] = "container:" + references[mode[8:]]
    if isinstance(view.get("volumes_from"), list):
        resolved = []
        for entry in view["volumes_from"]:
            parts = str(entry).split(":")
            if parts[0] == "container" and len(parts) > 1:
                resolved.append(parts[1])
            elif parts[0] in references:
                resolved.append(references[parts[0]])
            else:
                resolved.append(entry)
        view["volumes_from"] = resolved
    return view


def unresolved_view(
    config: Mapping[str, Any], declared_environment: Mapping[str, Optional[str]], env_files: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """The service as ``docker compose config --hash`` sees it: env files listed, not read.

    ``declared_environment`` is the service's own ``environment:`` (bare names already looked up
    in the project environment); ``env_files`` the long-form ``env_file`` entries.
    """
    view = {k: v for k, v in config.items() if k != "environment"}
    if declared_environment:
        view["environment"] = dict(declared_environment)
    if env_files:
        # compose writes a required file as its path alone, an optional one as an object
        view["env_file"] = [entry.get("path") if entry.get("required", True) else dict(entry) for entry in env_files]
    return view
