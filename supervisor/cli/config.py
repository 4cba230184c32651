"""``supervisor config``: the resolved project, as ``docker compose config`` prints it."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from supervisor.cli.base import compose_options, handle_errors, load_options_from, load_project_or_exit, main
from supervisor.report.mask import mask_config, mask_env_record


def escape_dollars(value: Any) -> Any:
    """Compose prints every ``$`` of a resolved string as ``$$`` so the output can be loaded again."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {escape_dollars(k) if isinstance(k, str) else k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


@main.command("config")
@compose_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="Output format.")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration, print nothing.")
@click.option("--services", "list_services", is_flag=True, help="Print the service names, one per line.")
@click.option("--provenance", is_flag=True,
              help="Add, per service, where every environment value came from (x-provenance).")
@click.option("--no-mask", is_flag=True, help="Print secrets (passwords, *_SECRET, *_KEY) unmasked.")
@handle_errors
def config_command(fmt: str, quiet: bool, list_services: bool, provenance: bool, no_mask: bool,
                   **kwargs: Any) -> None:
    """Resolve compose files, .env and the shell exactly as Docker Compose v2 does."""
    project = load_project_or_exit(load_options_from(kwargs))
    if quiet:
        return
    if list_services:
        for name in project.services:
            click.echo(name)
        return
    document = escape_dollars(project.config if no_mask else mask_config(project.config))
    if provenance:
        document = dict(document)
        services = dict(document.get("services") or {})
        for name, service in project.services.items():
            entry = dict(services.get(name) or {})
            records = [rec.to_json() for rec in service.environment.values()]
            entry["x-provenance"] = {"environment": records if no_mask else [mask_env_record(r) for r in records]}
            services[name] = entry
        document["services"] = services
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True), nl=False)
