"""The order of steps: files + environment -> :class:`~supervisor.compose.model.Project`.

As ``docker compose`` (compose-go v2) does it:

1. discovery: files, project folder, the shell over ``.env``, profiles, name;
2. the project name (``-p``, ``COMPOSE_PROJECT_NAME``, ``name:``, the folder);
3. per file, per YAML document: interpolation (and casts), ``extends``,
   ``!reset``/``!override``, ``include``, merge over the files before it,
   unicity, schema validation, canonical forms;
4. relative paths made absolute, bare ``- VAR`` resolved from the project
   environment, profiles, dependency check;
5. per service: ``env_file`` then ``environment``, with provenance; the
   output shape of ``docker compose config --format json``.

Bounds: files over 10 MiB and documents expanding to over 1,000,000 nodes
through aliases are refused (see :mod:`supervisor.compose.yamlsource`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Optional, cast

from supervisor.compose.discovery import (
    Discovery,
    _apply_dotenv,
    discover,
    normalize_project_name,
)
from supervisor.compose.environment import (
    environment_entries,
    resolve_bare_variables,
    resolve_service_environment,
)
from supervisor.compose.extends import apply_extends
from supervisor.compose.include import apply_include
from supervisor.compose.interpolation import Interpolator, warning_line
from supervisor.compose.merge import enforce_unicity, merge
from supervisor.compose.model import ComposeError, LoadOptions, Location, Origin, Project, Service, at_reference
from supervisor.compose.normalize import (
    canonical,
    external_names,
    omit_empty,
    output_service,
    plain,
    resolve_paths,
    to_mapping,
)
from supervisor.compose.profiles import check_dependencies, split_services
from supervisor.compose.yamlsource import OVERRIDE, RESET, LMap, key_location, read_documents
from supervisor.files import file_failure, stat_failure
from supervisor.secrets import is_secret_name, redact_words
from supervisor.verdicts import Verdicts

__all__ = ["load_project", "load_model"]


class _Context:
    """What one load shares between files: the environment, warnings, caches."""

    def __init__(
        self,
        interpolator: Interpolator,
        validate: bool = True,
        documents: Optional[dict[str, "list[Any] | ComposeError"]] = None,
        verdicts: Optional[Verdicts] = None,
        raw: bool = False,
    ):
        self.interpolator = interpolator
        self.validate = validate
        self.verdicts = verdicts
        # the uninterpolated model (`config --no-interpolate`): values kept as the YAML gave them
        self.raw = raw
        # files parsed ahead (for the project name), each handed once to the load
        self.documents = documents if documents is not None else {}
        self.extends_cache: dict[str, dict[Any, Any]] = {}
        self.version_warned: set[str] = set()

    @property
    def warnings(self) -> list[str]:
        return self.interpolator.warnings


def _prepare_document(doc: Any, filename: str, ctx: _Context) -> LMap:
    if doc is None:
        raise ComposeError("empty compose file", Location(filename))
    if not isinstance(doc, dict):
        raise ComposeError("top-level object must be a mapping", getattr(doc, "loc", Location(filename)))
    ctx.interpolator.tree(doc)
    services = doc.get("services")
    if isinstance(services, dict) and not ctx.raw:
        for name, service in services.items():
            if isinstance(service, dict) and "environment" in service:
                service["environment"] = environment_entries(
                    service["environment"], f"services.{name}", key_location(service, "environment")
                )
    # Every mapping read from YAML is an LMap.
    return cast(LMap, doc)


def _load_for_extends(path: str, ctx: _Context) -> dict[Any, Any]:
    """Another file, loaded for ``extends``: interpolated, merged, canonical, paths absolute."""
    if path in ctx.extends_cache:
        return ctx.extends_cache[path]
    model: dict[Any, Any] = LMap()
    for doc in read_documents(path):
        doc = _prepare_document(doc, path, ctx)
        _apply_resets(doc, model)
        model = merge(model, doc)
        enforce_unicity(model)
        canonical(model, raw=ctx.raw)
        enforce_unicity(model)
    resolve_paths(model, os.path.dirname(path))
    if ctx.raw:
        from supervisor.compose import rawmodel  # only without interpolation (start-up time)

        rawmodel.canonical_extras(model)  # the long forms first: their paths are this file's
        rawmodel.resolve_paths(model, os.path.dirname(path))
    ctx.extends_cache[path] = model
    return model


def _apply_resets(doc: Any, model: Any) -> None:
    """``!reset`` removes the attribute from what came before (and from this file); ``!override`` replaces it."""
    if not isinstance(doc, dict):
        return
    tags = getattr(doc, "tags", {})
    for key in list(doc.keys()):
        tag = tags.get(key)
        previous = model.get(key) if isinstance(model, dict) else None
        if tag == RESET:
            doc.pop(key)
            if isinstance(model, dict):
                model.pop(key, None)
        elif tag == OVERRIDE:
            if isinstance(model, dict):
                model.pop(key, None)
        elif isinstance(doc[key], dict):
            _apply_resets(doc[key], previous)


def _load_file(
    filename: str, model: dict[Any, Any], working_dir: str, ctx: _Context, chain: list[str], load_included: Any
) -> dict[Any, Any]:
    # Documents are changed in place while loading: one parsed ahead is used once, then read afresh.
    docs = ctx.documents.pop(filename, None)
    if isinstance(docs, ComposeError):
        raise docs
    for doc in docs if docs is not None else read_documents(filename):
        doc = _prepare_document(doc, filename, ctx)
        apply_extends(doc, filename, working_dir, lambda path: _load_for_extends(path, ctx), reach=stat_failure)
        _apply_resets(doc, model)
        apply_include(doc, working_dir, load_included, chain + [filename], reach=stat_failure, reach_file=file_failure)
        touched = list(doc.get("services") or ()) if isinstance(doc.get("services"), dict) else []
        model = merge(model, doc)
        enforce_unicity(model, touched)  # the services this file left alone are unique already
        if ctx.validate:
            from supervisor.compose.schema import validate, validate_services

            # As compose, after every file: a later file cannot repair what an earlier one broke
            # (a string ``environment:`` merged with a mapping is still refused). Only the services
            # this file touched can have changed.
            validate(model, filename, (), verdicts=ctx.verdicts)
            if touched:
                validate_services(model, {service_name: filename for service_name in touched}, verdicts=ctx.verdicts)
        if "version" in model:
            if filename not in ctx.version_warned:
                ctx.version_warned.add(filename)
                ctx.warnings.append(
                    warning_line(
                        f"{filename}: the attribute `version` is obsolete, it will be ignored, "
                        "please remove it to avoid potential confusion"
                    )
                )
            model.pop("version")
        canonical(model, raw=ctx.raw)
        ctx.warnings.extend(warning_line(text) for text in external_names(model))
        enforce_unicity(model, touched)
    return model


def _load_model(files: list[str], working_dir: str, ctx: _Context, chain: list[str]) -> dict[Any, Any]:
    def load_included(paths: list[str], project_dir: str, env_files: list[str]) -> dict[Any, Any]:
        env = dict(ctx.interpolator.environment)
        _apply_dotenv(env_files, env, ctx.interpolator.warnings)
        interpolator = Interpolator(env, ctx.interpolator.warnings, ctx.interpolator._warned, ctx.interpolator.skip)
        sub = _Context(interpolator, ctx.validate, verdicts=ctx.verdicts, raw=ctx.raw)
        sub_model = _load_model(paths, project_dir, sub, chain + files[:1])
        if ctx.raw:
            from supervisor.compose import rawmodel

            rawmodel.finish_files(sub_model, project_dir, {k: v for k, (v, _) in env.items()})
        else:
            _resolve_bare(sub_model, env)
        return sub_model

    model: dict[Any, Any] = LMap()
    for filename in files:
        model = _load_file(filename, model, working_dir, ctx, chain, load_included)
    resolve_paths(model, working_dir)
    return model


def _resolve_bare(model: dict[Any, Any], env: dict[Any, Any]) -> None:
    services = model.get("services")
    if isinstance(services, dict):
        for service in services.values():
            if isinstance(service, dict) and isinstance(service.get("environment"), list):
                service["environment"] = resolve_bare_variables(service["environment"], env)


def _check_files(files: list[str]) -> None:
    """compose reads every file before anything else: a missing one is the first error."""
    for filename in files:
        failure = stat_failure(filename)
        if failure is not None:
            raise ComposeError(failure, Location(filename))
        if os.path.isdir(filename):
            raise ComposeError("is a directory, not a compose file", Location(filename))


def _project_name(
    discovery: Discovery,
    interpolator: Interpolator,
    parsed: dict[str, "list[Any] | ComposeError"],
    normalize: bool = True,
) -> str:
    """The project name; the files parsed on the way are left in ``parsed`` for the load."""
    if discovery.project_name:
        return discovery.project_name
    from_files = ""
    for filename in discovery.files:
        try:
            docs = read_documents(filename)
        except ComposeError as exc:
            # reported when the file is loaded; kept, because a pipe cannot be read a second time
            parsed.setdefault(filename, exc)
            continue
        parsed.setdefault(filename, docs)
        for doc in docs:
            if isinstance(doc, dict) and isinstance(doc.get("name"), str) and doc["name"]:
                from_files = doc["name"]
    if from_files:
        # A name that interpolates to nothing usable is an error, not a cue to use the folder.
        # compose lowercases the name from the files in its normalization only
        from_files = interpolator.tree(from_files, ["name"])
        from_files = normalize_project_name(from_files) if normalize else from_files
        if not from_files:
            raise ComposeError("project name must not be empty")
        return from_files
    name = normalize_project_name(os.path.basename(discovery.working_dir.rstrip(os.sep)) or "")
    if not name:
        raise ComposeError("project name must not be empty")
    return name


def _networks_used(services: dict[Any, Any]) -> set[str]:
    used: set[str] = set()
    for service in services.values():
        used.update((service.get("networks") or {}).keys())
    return used


def _volumes_used(services: dict[Any, Any]) -> set[str]:
    used: set[str] = set()
    for service in services.values():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type", "volume") == "volume" and volume.get("source"):
                used.add(volume["source"])
    return used


def _resource_section(
    model: dict[Any, Any], section: str, used: set[str], project: str, normalize: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    declared = model.get(section) or {}
    for name in sorted(used):
        config = declared.get(name)
        if name not in declared and not (normalize and section == "networks" and name == "default"):
            continue
        item = plain(config or {})
        if not normalize:
            pass  # compose names resources in its normalization
        elif item.get("external"):
            item.setdefault("name", name)
        else:
            item.setdefault("name", f"{project}_{name}")
        if section == "networks":
            item.setdefault("ipam", {})
            ipam = item["ipam"]
            for key in (
                [k for k, v in ipam.items() if v in ([], {}) or k == "options"] if isinstance(ipam, dict) else ()
            ):
                # Go's omitempty (the ipam block itself is always printed); compose's model has no ipam options
                del ipam[key]
        for key in ("labels", "driver_opts"):
            if key in item:
                item[key] = to_mapping(item[key], allow_null=False)
                if not item[key]:
                    del item[key]  # Go's omitempty on an empty map
        out[name] = omit_empty(item)
    return out


def _mount_sources(declared: dict[Any, Any], project: str, working_dir: str, normalize: bool = True) -> dict[str, Any]:
    """Top-level ``secrets``/``configs``: file paths made absolute, names prefixed with the project."""
    out: dict[str, Any] = {}
    for key, config in declared.items():
        item = plain(config or {})
        if isinstance(item.get("file"), str):
            path = os.path.expanduser(item["file"])
            item["file"] = path if os.path.isabs(path) else os.path.normpath(os.path.join(working_dir, path))
        if not normalize:
            pass
        elif item.get("external"):
            item.setdefault("name", key)
        else:
            item.setdefault("name", f"{project}_{key}")
        if "labels" in item:
            item["labels"] = to_mapping(item["labels"], allow_null=False)
            if not item["labels"]:
                del item["labels"]
        out[key] = omit_empty(item)
    return out


def _locations(model: dict[Any, Any]) -> dict[tuple[str, ...], Location]:
    out: dict[tuple[str, ...], Location] = {}
    for key, loc in getattr(model, "keylocs", {}).items():
        out[(key,)] = loc
    services: Any = model.get("services") or {}
    for name, service in services.items():
        if name in getattr(services, "keylocs", {}):
            out[("services", name)] = services.keylocs[name]
        for key, loc in getattr(service, "keylocs", {}).items():
            out[("services", name, key)] = loc
        for entry in service.get("environment") or []:
            loc = getattr(entry, "loc", None)
            if loc is not None:
                out[("services", name, "environment", str(entry).partition("=")[0])] = loc
    return out


def load_project(options: LoadOptions) -> Project:
    """Raise ComposeError (location set whenever one is known) for unusable input."""
    try:
        return _load_project(options)
    except ComposeError:
        raise
    except RecursionError:
        raise ComposeError("compose model is nested too deeply") from None


def load_model(options: LoadOptions) -> tuple[dict[str, Any], list[str]]:
    """The uninterpolated model (``config --no-interpolate``) and compose's warnings; raise
    ComposeError for unusable input.

    As compose prints it: a map, its values as the YAML gave them (see :mod:`supervisor.compose.rawmodel`).
    """
    from supervisor.compose import rawmodel

    discovery = discover(options)
    try:
        _check_files(discovery.files)
        parsed: dict[str, "list[Any] | ComposeError"] = {}
        # compose knows no variable at this stage but the project name: no shell, no .env
        interpolator = Interpolator({}, list(discovery.warnings), skip=True)
        name = _project_name(discovery, interpolator, parsed, options.normalize)
        interpolator.environment["COMPOSE_PROJECT_NAME"] = (name, Origin("default", detail="project name"))
        ctx = _Context(interpolator, documents=parsed, verdicts=options.verdicts, raw=True)
        model = _load_model(discovery.files, discovery.working_dir, ctx, [])
        if not model:
            raise ComposeError("empty compose file", Location(discovery.files[0]))
        _check_external_volumes(model)  # compose-go's validation of the model
        document: dict[str, Any] = plain(model)
        rawmodel.finish_model(document, discovery.working_dir, name, options.normalize, {})
        return document, list(interpolator.warnings)
    except ComposeError as exc:
        _mask_error(exc, discovery.environment)
        raise
    except RecursionError:
        raise ComposeError("compose model is nested too deeply") from None


def _load_project(options: LoadOptions) -> Project:
    discovery = discover(options)
    try:
        return _load_discovered(discovery, options)
    except ComposeError as exc:
        _mask_error(exc, discovery.environment)
        raise


def _apply_label_files(
    config: dict[str, Any], label_files: Any, environment: dict[Any, Any], declared: Optional[Location] = None
) -> None:
    """``label_file``: labels read like ``.env`` files (later files win), under the service's own ``labels``."""
    from supervisor.compose.dotenv import read_dotenv

    def lookup(name: str) -> Optional[str]:
        entry = environment.get(name)
        return entry[0] if entry is not None else None

    merged: dict[str, Any] = {}
    for path in [label_files] if isinstance(label_files, str) else list(label_files):
        failure = stat_failure(path)
        if failure is not None:
            raise ComposeError(f"label file {path} not found: stat {path}: {failure}", declared or Location(path))
        try:
            entries = list(read_dotenv(path, lookup=lookup))
        except ComposeError as exc:
            raise at_reference(exc, [path], declared) from None
        for entry in entries:
            merged[entry.name] = entry.value
    merged.update(config.get("labels") or {})
    if merged:  # an empty label file adds no labels (compose omits an empty map)
        config["labels"] = dict(sorted(merged.items()))


def _mask_error(exc: ComposeError, environment: dict[Any, Any]) -> None:
    """Hide the values of secret-named variables that an error quotes (``cpus: ${API_KEY}``)."""
    secrets = {
        value for name, (value, _origin) in environment.items() if value and len(value) >= 4 and is_secret_name(name)
    }
    if not secrets:
        return
    exc.message = redact_words(exc.message, secrets)
    if exc.location is not None and exc.location.file:
        exc.location = dataclasses.replace(exc.location, file=redact_words(exc.location.file, secrets))


def _load_discovered(discovery: Discovery, options: LoadOptions) -> Project:
    environment = dict(discovery.environment)
    interpolator = Interpolator(environment, list(discovery.warnings), skip=not options.interpolate)
    _check_files(discovery.files)
    parsed: dict[str, "list[Any] | ComposeError"] = {}
    name = _project_name(discovery, interpolator, parsed, options.normalize)
    previous = environment.get("COMPOSE_PROJECT_NAME")
    if previous is None or previous[0] != name:
        environment["COMPOSE_PROJECT_NAME"] = (name, Origin("default", detail="project name"))

    ctx = _Context(interpolator, documents=parsed, verdicts=options.verdicts)
    model = _load_model(discovery.files, discovery.working_dir, ctx, [])
    if not model:
        raise ComposeError("empty compose file", Location(discovery.files[0]))
    _resolve_bare(model, environment)

    services_model = model.get("services") or {}
    for service_name, service in services_model.items():
        if service is None:
            services_model[service_name] = service = LMap()
        if not isinstance(service, dict):
            raise ComposeError(
                f"services.{service_name} must be a mapping", getattr(services_model, "keylocs", {}).get(service_name)
            )
    enabled, disabled = split_services(services_model, discovery.profiles)
    for service_name, service in enabled.items():
        # compose checks active services only
        _check_service(service_name, service, services_model, model, options.normalize)
    check_dependencies(enabled, services_model)
    _check_external_volumes(model)

    env_files: dict[Any, Any] = {}  # env files parsed in this load, shared by the services that use them

    def build(service_name: str, service: dict[Any, Any], active: bool = True) -> Service:
        where = f"services.{service_name}"
        if not options.read_env_files:
            env = resolve_service_environment({k: v for k, v in service.items() if k != "env_file"}, environment, where)
        elif active:
            env = resolve_service_environment(service, environment, where, interpolator.warnings, env_files)
        else:
            # compose reads env files of active services only: a missing one here is no error.
            try:
                env = resolve_service_environment(service, environment, where, cache=env_files)
            except ComposeError:
                env = resolve_service_environment(
                    {k: v for k, v in service.items() if k != "env_file"}, environment, where
                )
        config = output_service(service_name, service, discovery.working_dir, options.normalize)
        if active and service.get("label_file") is not None:
            _apply_label_files(config, service["label_file"], environment, key_location(service, "label_file"))
        if options.normalize:
            _resolve_build_args(config, environment)
        elif isinstance(config.get("build"), dict) and config["build"].get("args") == {}:
            del config["build"]["args"]  # Go's omitempty on an empty map
        config["environment"] = {k: v.value for k, v in env.items()}
        if not config["environment"]:
            config.pop("environment")  # compose omits an empty environment
        config = dict(sorted(config.items()))  # compose prints a service's attributes in name order
        extensions = {k: plain(v) for k, v in service.items() if k.startswith("x-")}
        location = getattr(services_model, "keylocs", {}).get(service_name)
        listed = plain(service.get("env_file") or [])
        return Service(service_name, config, env, location, extensions, listed if isinstance(listed, list) else [])

    services = {n: build(n, s) for n, s in enabled.items()}
    disabled_services = {n: build(n, s, active=False) for n, s in disabled.items()}

    config: dict[str, Any] = {"name": name}
    active = {n: s.config for n, s in services.items()}
    networks = _resource_section(model, "networks", _networks_used(active), name, options.normalize)
    volumes = _resource_section(model, "volumes", _volumes_used(active), name, options.normalize)
    if networks:
        config["networks"] = networks
    config["services"] = active
    if volumes:
        config["volumes"] = volumes
    for section in ("secrets", "configs"):
        if model.get(section):
            used = {m.get("source") for s in active.values() for m in s.get(section) or [] if isinstance(m, dict)}
            sources = _mount_sources(
                {k: v for k, v in model[section].items() if k in used}, name, discovery.working_dir, options.normalize
            )
            if sources:
                config[section] = sources
    extensions = {k: plain(v) for k, v in model.items() if k.startswith("x-")}
    config.update(extensions)

    return Project(
        name=name,
        working_dir=discovery.working_dir,
        files=list(discovery.files),
        config=config,
        services=services,
        environment=environment,
        extensions=extensions,
        warnings=list(interpolator.warnings),
        disabled_services=disabled_services,
        locations=_locations(model),
    )


def _resolve_build_args(config: dict[Any, Any], environment: dict[Any, Any]) -> None:
    """A bare build arg takes the project environment's value; compose drops it when there is none."""
    build = config.get("build")
    args = build.get("args") if isinstance(build, dict) else None
    if not isinstance(build, dict) or not isinstance(args, dict):
        return
    for key in list(args):
        if args[key] is None:
            found = environment.get(key)
            if found is None:
                del args[key]
            else:
                args[key] = found[0]
    if not args:
        del build["args"]


def _check_service(
    name: str, service: Any, services: dict[Any, Any], model: dict[Any, Any], normalize: bool = True
) -> None:
    """compose's consistency checks of one active service (``checkConsistency``)."""
    where = getattr(services, "keylocs", {}).get(name)
    if not isinstance(service, dict):
        raise ComposeError(f"services.{name} must be a mapping", where)
    if not service.get("image") and not service.get("build"):
        raise ComposeError(
            f"service {name!s} has neither an image nor a build context specified: invalid compose project", where
        )
    _check_references(name, service, model, where, normalize)
    if "pid" in service and service["pid"] is None:
        # compose itself crashes here (a nil interface in its normalisation)
        raise ComposeError(
            f"services.{name}.pid is null: remove the key, or write host, service:NAME or container:NAME",
            key_location(service, "pid") or where,
        )
    check = service.get("healthcheck")
    test = check.get("test") if isinstance(check, dict) else None
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ComposeError(
            'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"', key_location(check, "test") or where
        )
    deploy = service.get("deploy") or {}
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    scale = service.get("scale")
    if replicas is not None and scale is not None and replicas != scale:
        raise ComposeError(
            f"services.{name}: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project",
            where,
        )
    _check_resource_pairs(name, service, deploy, where)
    if _go_int(scale) < 0:
        raise ComposeError(
            f"services.{name}.scale: must be greater than or equal to 0", key_location(service, "scale") or where
        )
    if _go_int(replicas) < 0:
        raise ComposeError(
            f"services.{name}.deploy.replicas: must be greater than or equal to 0",
            key_location(deploy, "replicas") or where,
        )


def _go_int(value: Any) -> int:
    """A count as compose's ``int`` holds it: past int64 (go-yaml's uint64 or float64) it is negative."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and -(2.0**63) <= value < 2.0**63 else -(2**63)
    return value if -(2**63) <= value < 2**63 else -(2**63)


def _float32(value: Any) -> Optional[float]:
    import struct

    try:
        return float(struct.unpack("f", struct.pack("f", float(value)))[0])
    except (TypeError, ValueError, OverflowError):
        return None


def _size(value: Any) -> Optional[int]:
    from supervisor.compose.goconv import GoConvError, parse_bytes

    try:
        return parse_bytes(value)
    except (GoConvError, TypeError, ValueError):
        return None


def _check_resource_pairs(name: str, service: dict[Any, Any], deploy: Any, where: Optional[Location]) -> None:
    """compose refuses a top-level limit that differs from its ``deploy.resources`` twin.

    As compose compares them, an absent twin counts as 0: ``cpus: 1.5`` beside a
    ``deploy.resources.limits`` without ``cpus`` is refused too.
    """
    if not isinstance(deploy, dict) or "deploy" not in service:
        return
    found = deploy.get("resources")
    resources: dict[str, Any] = found if isinstance(found, dict) else {}
    pairs = (
        ("cpus", "limits", "cpus", _float32),
        ("mem_limit", "limits", "memory", _size),
        ("mem_reservation", "reservations", "memory", _size),
        ("pids_limit", "limits", "pids", _float32),
    )
    for top, section, key, parse in pairs:
        part = resources.get(section)
        own = parse(service.get(top)) if service.get(top) is not None else None
        if not own or not isinstance(part, dict):
            continue
        twin = parse(part[key]) if part.get(key) is not None else 0
        if twin is not None and twin != own:
            raise ComposeError(
                f"services.{name}: can't set distinct values on '{top}' and "
                f"'deploy.resources.{section}.{key}': invalid compose project",
                key_location(service, top) or where,
            )


def _mount_sources_of(items: Any) -> list[str]:
    """The ``source`` of each ``secrets``/``configs`` entry (short or long form)."""
    out = []
    for item in items if isinstance(items, list) else []:
        source = item.get("source") if isinstance(item, dict) else item
        if isinstance(source, str):
            out.append(source)
    return out


def _check_references(
    name: str, service: dict[Any, Any], model: dict[Any, Any], where: Optional[Location], normalize: bool = True
) -> None:
    """Networks, named volumes, secrets and configs a service uses must be declared at the top level
    (the ``default`` network is declared by normalization, so not without it)."""

    def declared(section: str) -> Any:
        group = model.get(section)
        return group if isinstance(group, dict) else {}

    networks = service.get("networks")
    for network in networks if isinstance(networks, (dict, list)) else ():
        if (network != "default" or not normalize) and network not in declared("networks"):
            raise ComposeError(
                f'service "{name}" refers to undefined network {network}: invalid compose project', where
            )
    for volume in service.get("volumes") or ():
        if isinstance(volume, dict) and volume.get("type", "volume") == "volume" and volume.get("source"):
            if volume["source"] not in declared("volumes"):
                raise ComposeError(
                    f'service "{name}" refers to undefined volume {volume["source"]}: invalid compose project', where
                )
    build = service.get("build")
    for source in _mount_sources_of(build.get("secrets") if isinstance(build, dict) else None):
        if source not in declared("secrets"):
            raise ComposeError(
                f'service "{name}" refers to undefined build secret {source}: invalid compose project', where
            )
    models = service.get("models")
    for model_name in models if isinstance(models, (dict, list)) else ():
        if model_name not in declared("models"):
            raise ComposeError(
                f'service "{name}" refers to undefined model {model_name}: invalid compose project',
                key_location(service, "models") or where,
            )
    for section, kind in (("configs", "config"), ("secrets", "secret")):
        for source in _mount_sources_of(service.get(section)):
            if source not in declared(section):
                raise ComposeError(
                    f'service "{name}" refers to undefined {kind} {source}: invalid compose project', where
                )


def _check_external_volumes(model: dict[Any, Any]) -> None:
    """An external volume is created elsewhere: compose refuses options that would create it."""
    volumes = model.get("volumes")
    for name, volume in volumes.items() if isinstance(volumes, dict) else ():
        if not isinstance(volume, dict) or volume.get("external") is not True:
            continue
        for key in volume:
            if key not in ("name", "external") and not key.startswith("x-"):
                raise ComposeError(
                    f'volumes.{name}: conflicting parameters "external" and "{key}" specified',
                    key_location(volume, key),
                )
