"""``supervisor config``: the resolved project, as ``docker compose config`` prints it."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from supervisor.cli.base import compose_options, handle_errors, load_options_from, load_project_or_exit, main
from supervisor.secrets import mask_config, mask_env_record, secret_values


def escape_dollars(value: Any) -> Any:
    """Compose prints every ``$`` of a resolved string as ``$$`` so the output can be loaded again."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {escape_dollars(k) if isinstance(k, str) else k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


_TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs", "models")


class _ComposeStyleDumper(yaml.SafeDumper):
    """YAML as ``docker compose config`` prints it: lists indented under their key,
    strings that would read as another type in double quotes."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ComposeStyleDumper.add_representer(str, _represent_str)


def yaml_document(document: dict[str, Any], extensions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Order and trim a config document the way compose's YAML output shows it."""
    out: dict[str, Any] = {}
    for key in _TOP_LEVEL_ORDER:
        if key in document:
            out[key] = document[key]
    for key in document:
        if key not in out:
            out[key] = document[key]
    services = out.get("services")
    if isinstance(services, dict):
        shown = {}
        for name in sorted(services):
            service = {k: v for k, v in services[name].items()
                       if not (k in ("command", "entrypoint") and v is None)}
            service.update(extensions.get(name) or {})
            check = service.get("healthcheck")
            if isinstance(check, dict):
                service["healthcheck"] = _ordered(check, _HEALTHCHECK_ORDER)
            shown[name] = dict(sorted(service.items()))
        out["services"] = shown
    networks = out.get("networks")
    if isinstance(networks, dict):
        # the YAML encoder leaves out an empty ipam block, the JSON one prints it
        out["networks"] = {name: ({k: v for k, v in net.items() if not (k == "ipam" and v == {})}
                                  if isinstance(net, dict) else net) for name, net in networks.items()}
    return out


_HEALTHCHECK_ORDER = ("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable")


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: mapping[k] for k in order if k in mapping}
    out.update((k, v) for k, v in mapping.items() if k not in out)
    return out


@main.command("config", short_help="The resolved project, as docker compose config prints it.")
@compose_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="Output format.")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration, print nothing.")
@click.option("--services", "list_services", is_flag=True, help="Print the service names, one per line.")
@click.option("--provenance", is_flag=True,
              help="Add, per service, where every environment value came from (x-provenance).")
@click.option("--no-mask", is_flag=True,
              help="Print secrets (URL passwords, *PASSWORD*, *_SECRET, *_KEY, *TOKEN*) unmasked, "
                   "as docker compose config does.")
@handle_errors
def config_command(fmt: str, quiet: bool, list_services: bool, provenance: bool, no_mask: bool,
                   **kwargs: Any) -> None:
    """Resolve compose files, .env and the shell exactly as Docker Compose v2 does.

    Exit 0 ok, 2 unusable input (the message names the file, line and column and what is wrong).
    """
    project = load_project_or_exit(load_options_from(kwargs))
    if quiet:
        return
    if list_services:
        for name in project.services:
            click.echo(name)
        return
    secrets = secret_values(project)
    document = escape_dollars(project.config if no_mask else mask_config(project.config, secrets))
    if provenance:
        document = dict(document)
        services = dict(document.get("services") or {})
        for name, service in project.services.items():
            entry = dict(services.get(name) or {})
            records = [rec.to_json() for rec in service.environment.values()]
            entry["x-provenance"] = {"environment": records if no_mask
                                     else [mask_env_record(r, secrets) for r in records]}
            services[name] = entry
        document["services"] = services
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        extensions = {name: escape_dollars(service.extensions) for name, service in project.services.items()}
        click.echo(yaml.dump(yaml_document(document, extensions), Dumper=_ComposeStyleDumper, sort_keys=False,
                             default_flow_style=False, allow_unicode=True, width=1_000_000), nl=False)
