"""``supervisor config``: the resolved project, as ``docker compose config`` prints it."""

from __future__ import annotations

import json
from typing import Any, Optional

import click

from supervisor.cli.base import (
    EXIT_USAGE,
    compose_options,
    fail,
    handle_errors,
    load_options_from,
    load_project_or_exit,
    main,
)
from supervisor.secrets import mask_config, mask_env_record, secret_values


def escape_dollars(value: Any) -> Any:
    """Compose prints every ``$`` of a resolved string as ``$$`` so the output can be loaded again."""
    if isinstance(value, str):
        return value.replace("$", "$$") if "$" in value else value  # kept as it is (a timestamp's type)
    if isinstance(value, dict):
        return {escape_dollars(k) if isinstance(k, str) else k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def _json_document(document: dict[str, Any]) -> dict[str, Any]:
    """What compose's JSON prints and its YAML leaves out: a watch rule's ``exec`` hook (a struct
    that encoding/json always writes, its ``command`` null)."""
    services = document.get("services")
    for service in services.values() if isinstance(services, dict) else ():
        develop = service.get("develop") if isinstance(service, dict) else None
        watch = develop.get("watch") if isinstance(develop, dict) else None
        for rule in watch if isinstance(watch, list) else ():
            if isinstance(rule, dict) and "exec" not in rule:
                rule["exec"] = {"command": None}
    return document


def yaml_document(document: dict[str, Any], extensions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The config document as compose's YAML output holds it: no null ``command``/``entrypoint``
    (the JSON output prints them), each service's ``x-`` extensions beside its attributes."""
    out = dict(document)
    services = out.get("services")
    if isinstance(services, dict):
        shown = {}
        for name, service in services.items():
            entry = {k: v for k, v in service.items() if not (k in ("command", "entrypoint") and v is None)}
            entry.update(extensions.get(name) or {})
            shown[name] = entry
        out["services"] = shown
    return out


@main.command("config", short_help="The resolved project, as docker compose config prints it.")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration, print nothing.")
@click.option("--services", "list_services", is_flag=True, help="Print the service names, one per line.")
@click.option("--volumes", "list_volumes", is_flag=True, help="Print the volume names, one per line.")
@click.option("--networks", "list_networks", is_flag=True, help="Print the network names, one per line.")
@click.option("--images", "list_images", is_flag=True, help="Print the image names, one per line.")
@click.option("--profiles", "list_profiles", is_flag=True, help="Print the profile names, one per line.")
@click.option(
    "--hash",
    "hash_services",
    default=None,
    metavar="SERVICES",
    help="Print compose's config hash of each service ('*' for all, or a comma-separated list).",
)
@click.option(
    "--no-interpolate",
    is_flag=True,
    help="Don't interpolate environment variables: print the model as written (templates kept, values untyped).",
)
@click.option(
    "--no-normalize",
    is_flag=True,
    help="Don't normalize the model (no implicit default network, "
    "resource names, build defaults, implicit depends_on).",
)
@click.option(
    "--resolve-image-digests",
    is_flag=True,
    help="Pin image tags to digests (needs a registry: refused unless every image is pinned).",
)
@click.option("-o", "--output", "output", default=None, metavar="FILE", help="Save to FILE instead of stdout.")
@click.option(
    "--provenance", is_flag=True, help="Add, per service, where every environment value came from (x-provenance)."
)
@click.option(
    "--no-mask",
    is_flag=True,
    help="Print secrets (URL passwords, *PASSWORD*, *_SECRET, *_KEY, *TOKEN*) unmasked, as docker compose config does.",
)
@handle_errors
def config_command(
    fmt: str,
    quiet: bool,
    list_services: bool,
    list_volumes: bool,
    list_networks: bool,
    list_images: bool,
    list_profiles: bool,
    hash_services: Optional[str],
    no_interpolate: bool,
    no_normalize: bool,
    resolve_image_digests: bool,
    output: Optional[str],
    provenance: bool,
    no_mask: bool,
    **kwargs: Any,
) -> None:
    """Resolve compose files, .env and the shell exactly as Docker Compose v2 does.

    Exit 0 ok, 2 unusable input (the message names the file, line and column and what is wrong).
    """
    options = load_options_from(kwargs)
    options.normalize = not no_normalize
    options.interpolate = not no_interpolate
    if no_interpolate and not (list_volumes or list_networks or list_images or list_profiles or hash_services):
        # compose prints its map here, not its project (the other listings still load the project)
        if provenance:
            fail("error: --provenance needs the interpolated model: leave out --no-interpolate", EXIT_USAGE)
        _print_model(options, fmt, quiet, list_services, resolve_image_digests, output, no_mask)
        return
    if hash_services is not None:
        options.read_env_files = False  # as compose: the hash lists env files, it does not read them
    project = load_project_or_exit(options)
    if resolve_image_digests:
        _refuse_unpinned_images(project)
    if quiet:
        return
    listing = _listing(project, list_services, list_volumes, list_networks, list_images, list_profiles, hash_services)
    if listing is not None:
        for line in listing:
            click.echo(line)
        return
    secrets = secret_values(project)
    document = escape_dollars(project.config if no_mask else mask_config(project.config, secrets))
    if provenance:
        document = dict(document)
        services = dict(document.get("services") or {})
        for name, service in project.services.items():
            entry = dict(services.get(name) or {})
            records = [rec.to_json() for rec in service.environment.values()]
            entry["x-provenance"] = {
                "environment": records if no_mask else [mask_env_record(r, secrets) for r in records]
            }
            services[name] = entry
        document["services"] = services
    from supervisor.compose.render import compose_json, compose_yaml  # only when printing (start-up time)

    if fmt == "json":
        # as compose: its key order and escapes, and no line break after the closing brace
        text = (
            compose_json(_json_document(document))
            if not provenance
            else json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        )
    else:
        extensions = {
            name: escape_dollars(service.extensions if no_mask else mask_config(service.extensions, secrets))
            for name, service in project.services.items()
        }
        text = compose_yaml(yaml_document(document, extensions))
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    click.echo(text, nl=False)


def _print_model(
    options: Any, fmt: str, quiet: bool, list_services: bool, pinned_only: bool, output: Optional[str], no_mask: bool
) -> None:
    """``config --no-interpolate``: the model as compose prints it (its templates as written, its ``$$`` too)."""
    from supervisor.compose.loader import load_model
    from supervisor.compose.model import ComposeError

    try:
        model, warnings = load_model(options)
    except ComposeError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    for warning in warnings:
        click.echo(warning, err=True)
    found = model.get("services")
    services: dict[str, Any] = found if isinstance(found, dict) else {}
    if pinned_only:
        _refuse_unpinned(
            str(s.get("image") or f"{model.get('name', '')}-{n}") for n, s in services.items() if isinstance(s, dict)
        )
    if quiet:
        return
    if list_services:
        for name in sorted(services):  # compose lists them in Go's (random) map order
            click.echo(name)
        return
    from supervisor.compose.render import model_json, model_yaml
    from supervisor.secrets import model_secret_values

    document = model if no_mask else mask_config(model, model_secret_values(model))
    text = model_json(document) if fmt == "json" else model_yaml(document)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    click.echo(text, nl=False)


def _listing(
    project: Any, services: bool, volumes: bool, networks: bool, images: bool, profiles: bool, hashes: Optional[str]
) -> Optional[list[str]]:
    """The one-per-line answers of ``config --services/--volumes/...``, or None for the model itself."""
    if services:
        return _dependency_order(project)
    if volumes:
        return list(project.config.get("volumes") or {})
    if networks:
        return list(project.config.get("networks") or {})
    if hashes is not None:
        return _hash_lines(project, hashes)
    if profiles:
        names = {
            str(p)
            for svc in [*project.services.values(), *project.disabled_services.values()]
            for p in svc.config.get("profiles") or []
        }
        return sorted(names)
    if images:
        return [
            service.config.get("image") or f"{project.name}-{name}".lower()
            for name, service in project.services.items()
        ]
    return None


def _dependency_order(project: Any) -> list[str]:
    """Service names, each after the services it depends on, as compose lists them.

    compose visits its service map in Go's random order (two runs may differ); the one
    constant is that a service comes after its dependencies.  Here: names sorted, each
    preceded by its dependencies (sorted, depth first), so the output is the same every run.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in project.services:
            return
        seen.add(name)
        for dependency in sorted(project.services[name].config.get("depends_on") or {}):
            visit(dependency)
        order.append(name)

    for name in sorted(project.services):
        visit(name)
    return order


def _hash_lines(project: Any, hashes: str) -> list[str]:
    from supervisor.compose.confighash import service_hash, unresolved_view

    names = sorted(project.services) if hashes == "*" else sorted(n for n in hashes.split(",") if n)
    lines = []
    for name in names:
        service = project.services.get(name)
        if service is None:
            state = "disabled" if name in project.disabled_services else "not found"
            fail(f"error: no such service: {name}: {state}", EXIT_USAGE)
        declared = {k: v.value for k, v in service.environment.items() if v.origin.kind == "environment"}
        lines.append(f"{name} {service_hash(unresolved_view(service.config, declared, service.env_files))}")
    return lines


def _refuse_unpinned_images(project: Any) -> None:
    _refuse_unpinned(str(s.config.get("image") or f"{project.name}-{n}") for n, s in project.services.items())


def _refuse_unpinned(images: Any) -> None:
    unpinned = sorted({image for image in images if "@sha256:" not in image})
    if unpinned:
        fail(
            f"error: --resolve-image-digests needs a registry to look up {', '.join(unpinned)}; "
            "supervisor does not contact registries: pin the images (name@sha256:...) or run "
            "docker compose config --resolve-image-digests where a registry is reachable",
            EXIT_USAGE,
        )
