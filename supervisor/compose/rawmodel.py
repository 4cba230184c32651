"""The uninterpolated model, as ``docker compose config --no-interpolate`` prints it.

compose prints a map there, not its typed project: the files merged with their templates left as
written, short syntaxes in long form where they parse, defaults set, paths made absolute and (unless
``--no-normalize``) compose-go's normalization of the map.  Values keep the types the YAML gave them
(``cpus: "0.5"`` stays a string, ``environment`` stays a list or a mapping); nothing is read from the
services' ``env_file``\\ s and no profile is applied.  The only variable known at this stage is
``COMPOSE_PROJECT_NAME``.

The steps after the merge (compose-go ``loadYamlModel`` then ``Normalize``), on a plain tree:

1. :func:`canonical_extras`: the short syntaxes the typed path turns into long ones later;
2. :func:`set_defaults`: ``SetDefaultValues`` (build context, secret targets, port mode...);
3. :func:`resolve_paths`: ``ResolveRelativePaths``;
4. :func:`resolve_environment`: ``ResolveEnvironment`` (bare ``- VAR`` entries);
5. :func:`normalize_model`: ``Normalize``;
6. :func:`omit_empty_lists`: Go's nil slices (``OmitEmpty`` leaves an empty list as nil).

A pure core: the caller hands the tree in; nothing here reads files or the environment.
"""

from __future__ import annotations

import posixpath
from typing import Any, Optional

from supervisor.compose.goconv import format_value
from supervisor.compose.merge import is_unique_path
from supervisor.compose.normalize import _abs, _abs_source

__all__ = [
    "NilList",
    "canonical_extras",
    "set_defaults",
    "resolve_paths",
    "resolve_environment",
    "normalize_model",
    "omit_empty_lists",
    "finish_files",
    "finish_model",
]


class NilList(list[Any]):
    """An empty list compose holds as a nil slice: ``[]`` in YAML, ``null`` in JSON."""


def _services(model: dict[str, Any]) -> list[dict[str, Any]]:
    services = model.get("services")
    if not isinstance(services, dict):
        return []
    return [s for s in services.values() if isinstance(s, dict)]


# -- 1. short syntaxes ---------------------------------------------------------------------


def _file_mounts(items: Any) -> Any:
    if isinstance(items, list):
        return [{"source": item} if isinstance(item, str) else item for item in items]
    return items


def _device(item: Any) -> Any:
    if not isinstance(item, str):
        return item
    parts = item.split(":")
    source, target, permissions = "", "", "rwm"
    if len(parts) <= 3:
        source = parts[0]
        target = parts[1] if len(parts) > 1 else ""
        permissions = parts[2] if len(parts) > 2 else "rwm"
    return {"source": source, "target": target or source, "permissions": permissions}


def _key_value_mapping(value: Any) -> Any:
    """``transformKeyValue``: ``K=V`` items as a mapping; left as written if one has no ``=``."""
    if not isinstance(value, list):
        return value
    if not all(isinstance(item, str) and "=" in item for item in value):
        return value
    out: dict[str, Any] = {}
    for item in value:
        key, _, rest = item.partition("=")
        out[key] = rest
    return out


def _ssh(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for item in value:
        key, sep, path = str(item).partition("=")
        out[key] = path if sep else None
    return out


def canonical_extras(model: dict[str, Any]) -> dict[str, Any]:
    """compose-go's ``transform`` rules that our own canonical forms leave to the typed output."""
    for service in _services(model):
        build = service.get("build")
        if isinstance(build, dict):
            if "secrets" in build:
                build["secrets"] = _file_mounts(build["secrets"])
            for key in ("provenance", "sbom"):
                if key in build and not isinstance(build[key], str):
                    build[key] = format_value(build[key])
            if "additional_contexts" in build:
                build["additional_contexts"] = _key_value_mapping(build["additional_contexts"])
            if "ssh" in build:
                build["ssh"] = _ssh(build["ssh"])
        for key in ("label_file", "dns"):
            if isinstance(service.get(key), str):
                service[key] = [service[key]]
        if isinstance(service.get("gpus"), str):
            service["gpus"] = [{"count": "all"}]
        if isinstance(service.get("devices"), list):
            service["devices"] = [_device(item) for item in service["devices"]]
        for key in ("secrets", "configs"):
            if key in service:
                service[key] = _file_mounts(service[key])
        develop = service.get("develop")
        watch = develop.get("watch") if isinstance(develop, dict) else None
        for rule in watch if isinstance(watch, list) else ():
            for key in ("ignore", "include"):
                if isinstance(rule, dict) and isinstance(rule.get(key), str):
                    rule[key] = [rule[key]]
    for section in ("volumes", "networks", "secrets", "configs"):
        group = model.get(section)
        for item in group.values() if isinstance(group, dict) else ():
            if isinstance(item, dict) and isinstance(item.get("external"), dict):
                item["external"] = True
    return model


# -- 2. defaults ---------------------------------------------------------------------------


def _device_request_defaults(item: Any) -> None:
    if isinstance(item, dict) and "count" not in item and "device_ids" not in item:
        item["count"] = "all"


def set_defaults(model: dict[str, Any]) -> dict[str, Any]:
    """``SetDefaultValues``: a build context, secret targets, port protocol and mode, device counts."""
    for service in _services(model):
        build = service.get("build")
        if isinstance(build, dict) and "context" not in build:
            build["context"] = "."
        for secret in service.get("secrets") or () if isinstance(service.get("secrets"), list) else ():
            if isinstance(secret, dict) and "target" not in secret:
                secret["target"] = f"/run/secrets/{format_value(secret.get('source'))}"
        for port in service.get("ports") or () if isinstance(service.get("ports"), list) else ():
            if isinstance(port, dict):
                port.setdefault("protocol", "tcp")
                port.setdefault("mode", "ingress")
        deploy = service.get("deploy")
        resources = deploy.get("resources") if isinstance(deploy, dict) else None
        reservations = resources.get("reservations") if isinstance(resources, dict) else None
        devices = reservations.get("devices") if isinstance(reservations, dict) else None
        for item in devices if isinstance(devices, list) else ():
            _device_request_defaults(item)
        for item in service.get("gpus") or () if isinstance(service.get("gpus"), list) else ():
            _device_request_defaults(item)
    return model


# -- 3. paths ------------------------------------------------------------------------------


def _is_remote_context(value: str) -> bool:
    if "://" in value or value.startswith("service:"):
        return True
    return value.startswith(("https://", "http://", "git://", "ssh://", "github.com/", "git@"))


def _abs_path(value: Any, base: str) -> Any:
    return _abs(value, base) if isinstance(value, str) and value else value


def _unix_path(value: Any, base: str) -> Any:
    return _abs_source(value, base) if isinstance(value, str) and value else value


def resolve_paths(model: dict[str, Any], base: str) -> dict[str, Any]:
    """``ResolveRelativePaths`` over the model's paths."""
    for service in _services(model):
        build = service.get("build")
        if isinstance(build, dict):
            if isinstance(build.get("context"), str) and not _is_remote_context(build["context"]):
                build["context"] = _abs_path(build["context"], base)
            contexts = build.get("additional_contexts")
            if isinstance(contexts, dict):
                for name, value in contexts.items():
                    if isinstance(value, str) and not _is_remote_context(value):
                        contexts[name] = _abs_path(value, base)
            ssh = build.get("ssh")
            if isinstance(ssh, dict):
                for name, value in ssh.items():
                    ssh[name] = _unix_path(value, base)
        for item in service.get("env_file") or () if isinstance(service.get("env_file"), list) else ():
            if isinstance(item, dict) and "path" in item:
                item["path"] = _abs_path(item["path"], base)
        if isinstance(service.get("label_file"), list):
            service["label_file"] = [_abs_path(path, base) for path in service["label_file"]]
        develop = service.get("develop")
        watch = develop.get("watch") if isinstance(develop, dict) else None
        for rule in watch if isinstance(watch, list) else ():
            if isinstance(rule, dict) and "path" in rule:
                rule["path"] = _abs_path(rule["path"], base)
        for volume in service.get("volumes") or () if isinstance(service.get("volumes"), list) else ():
            if isinstance(volume, dict) and volume.get("type") == "bind" and "source" in volume:
                volume["source"] = _unix_path(volume["source"], base)
    for section in ("configs", "secrets"):
        group = model.get(section)
        for item in group.values() if isinstance(group, dict) else ():
            if isinstance(item, dict) and "file" in item:
                item["file"] = _unix_path(item["file"], base)
    volumes = model.get("volumes")
    for volume in volumes.values() if isinstance(volumes, dict) else ():
        options = volume.get("driver_opts") if isinstance(volume, dict) and volume.get("driver") == "local" else None
        if isinstance(options, dict) and options.get("o") == "bind" and "device" in options:
            options["device"] = _unix_path(options["device"], base)
    return model


# -- 4. bare variables ---------------------------------------------------------------------


def resolve_environment(model: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """``ResolveEnvironment``: a bare ``- VAR`` takes its value; secrets and configs from a variable."""
    for service in _services(model):
        entries = service.get("environment")
        if isinstance(entries, list):
            out: list[Any] = []
            for entry in entries:
                if not isinstance(entry, str):
                    continue
                out.append(f"{entry}={environment[entry]}" if entry in environment else entry)
            service["environment"] = out  # compose makes a new (non-nil) list here
    for section, key in (("secrets", "x-#content"), ("configs", "content")):
        group = model.get(section)
        for item in group.values() if isinstance(group, dict) else ():
            if (
                isinstance(item, dict)
                and isinstance(item.get("environment"), str)
                and item["environment"] in environment
            ):
                item[key] = environment[item["environment"]]
    return model


# -- 5. normalization ----------------------------------------------------------------------


def _resolve(value: Any, environment: dict[str, str], keep_empty: bool) -> tuple[Any, bool]:
    if isinstance(value, list):
        resolved = [r for r, ok in (_resolve(v, environment, keep_empty) for v in value) if ok]
        return (resolved if resolved else NilList()), True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is not None:
                out[key] = item
            elif key in environment:
                out[key] = environment[key]
            elif keep_empty:
                out[key] = None
        return out, True
    if isinstance(value, str):
        if "=" not in value:
            if value in environment:
                return f"{value}={environment[value]}", True
            return value, keep_empty
        return value, True
    return value, False


def _is_true(value: Any) -> bool:
    return format_value(value) in ("1", "t", "T", "TRUE", "true", "True")


def _started(restart: bool) -> dict[str, Any]:
    return {"condition": "service_started", "restart": restart, "required": True}


def _normalize_networks(model: dict[str, Any]) -> None:
    networks = model.get("networks")
    declared: dict[str, Any] = networks if isinstance(networks, dict) else {}
    uses_default = False
    for service in _services(model):
        if "provider" in service or "network_mode" in service:
            continue
        current = service.get("networks")
        if "networks" not in service or not current:
            service["networks"] = {"default": None}
            uses_default = True
        elif isinstance(current, dict) and "default" in current:
            uses_default = True
    if "default" not in declared and uses_default:
        declared["default"] = None
    if declared:
        model["networks"] = declared


def normalize_model(model: dict[str, Any], environment: dict[str, str], project_name: str) -> dict[str, Any]:
    """compose-go's ``Normalize`` of the map: the default network, build defaults, implicit
    ``depends_on``, cleaned mount targets, resource names."""
    model["name"] = project_name
    _normalize_networks(model)
    for service in _services(model):
        if service.get("pull_policy") == "if_not_present":
            service["pull_policy"] = "missing"
        build = service.get("build")
        if isinstance(build, dict):
            if build.get("context") is None:
                build["context"] = "."
            if build.get("dockerfile") is None and build.get("dockerfile_inline") is None:
                build["dockerfile"] = "Dockerfile"
            if "args" in build:
                build["args"] = _resolve(build["args"], environment, False)[0]
        if "environment" in service:
            service["environment"] = _resolve(service["environment"], environment, True)[0]
        current = service.get("depends_on")
        depends: dict[str, Any] = current if isinstance(current, dict) else {}
        for link in service.get("links") or () if isinstance(service.get("links"), list) else ():
            parts = str(link).split(":")
            depends.setdefault(parts[0] if len(parts) == 2 else str(link), _started(True))
        for namespace in ("network_mode", "ipc", "pid", "uts", "cgroup"):
            ref = service.get(namespace)
            if isinstance(ref, str) and ref.startswith("service:"):
                depends.setdefault(ref[len("service:") :], _started(True))
        for volume in service.get("volumes") or () if isinstance(service.get("volumes"), list) else ():
            if isinstance(volume, dict) and isinstance(volume.get("target"), str):
                volume["target"] = _clean(volume["target"])
        for entry in service.get("volumes_from") or () if isinstance(service.get("volumes_from"), list) else ():
            if isinstance(entry, str) and not entry.startswith("container:"):
                depends.setdefault(entry.split(":")[0], _started(False))
        if depends:
            service["depends_on"] = depends
    for section in ("networks", "volumes", "configs", "secrets"):
        group = model.get(section)
        if not isinstance(group, dict):
            continue
        for key, item in list(group.items()):
            resource = item if isinstance(item, dict) else {}
            if resource.get("name") is None:
                external = "external" in resource and _is_true(resource["external"])
                resource["name"] = key if external else f"{project_name}_{key}"
            group[key] = resource
    return model


def _clean(path: str) -> str:
    """Go's ``path.Clean``."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


# -- 6. nil slices -------------------------------------------------------------------------


def omit_empty_lists(node: Any, path: tuple[str, ...] = ()) -> Any:
    """``OmitEmpty``: empty lists become nil slices, and ``services.*.dns`` drops empty entries.

    The lists compose then keeps unique (``EnforceUnicity``) are made afresh: those stay lists.
    """
    dns = len(path) == 3 and path[0] == "services" and path[2] == "dns"
    if isinstance(node, dict):
        for key in list(node):
            node[key] = omit_empty_lists(node[key], path + (str(key),))
        return node
    if isinstance(node, list):
        items = [omit_empty_lists(item, path + ("[]",)) for item in node if not (dns and item in (None, ""))]
        return items if items or is_unique_path(path) else NilList()
    return node


def finish_files(model: dict[str, Any], working_dir: str, environment: dict[str, str]) -> dict[str, Any]:
    """Steps 1-4 on the merged files of one project (the main one, or one it includes), in place."""
    canonical_extras(model)
    set_defaults(model)
    resolve_paths(model, working_dir)
    resolve_environment(model, environment)
    return model


def finish_model(
    model: dict[str, Any], working_dir: str, project_name: str, normalize: bool, environment: Optional[dict[str, str]]
) -> dict[str, Any]:
    """The main project's model (a plain tree, changed in place and returned): steps 1-6."""
    env = dict(environment or {})
    env["COMPOSE_PROJECT_NAME"] = project_name
    canonical_extras(model)
    omit_empty_lists(model)
    finish_files(model, working_dir, env)
    if normalize:
        normalize_model(model, env, project_name)
    return model
