"""``supervisor worker``: the unified worker (firehose ingest and backfill into PostgreSQL).

``supervisor worker [OPTIONS]`` runs it; ``supervisor worker healthcheck`` asks a running one
whether it is healthy (exit 0) or not (exit 1), for a Docker HEALTHCHECK.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

import click

from supervisor.cli.base import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, fail, main
from supervisor.worker.config import VARIABLES

__all__ = ["worker_group", "healthcheck_command"]


def _options(func: Any) -> Any:
    # One option per variable; every value is parsed by parse_config, so options take strings.
    for var in reversed(VARIABLES):
        default = f"env {var.name}, required" if var.default is None else f"env {var.name}, default {var.default}"
        func = click.option(
            var.option, var.name.lower(), default=None, metavar="VALUE", help=f"{var.help} [{default}]"
        )(func)
    return func


@main.group(
    "worker",
    invoke_without_command=True,
    short_help="Run the unified worker: firehose into PostgreSQL, backfill on worker 0.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@_options
@click.option("--print-config", is_flag=True, help="Print the checked configuration (secrets masked) and exit.")
@click.pass_context
def worker_group(ctx: click.Context, print_config: bool, **options: Optional[str]) -> None:
    """Run the unified worker: relay firehose into PostgreSQL, and the backfill on worker 0.

    Every option overrides the environment variable of the same name (RELAY_URL, DATABASE_URL, ...).
    A bad value exits 2 with one line naming it.  SIGTERM or SIGINT commits the current batch and
    exits 0.
    """
    if ctx.invoked_subcommand is not None:
        return
    from supervisor.worker.config import parse_config
    from supervisor.worker.errors import ConfigError

    overrides = {var.name: options.get(var.name.lower()) for var in VARIABLES}
    try:
        config = parse_config(os.environ, overrides)
    except ConfigError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    if print_config:
        click.echo(json.dumps(config.describe(), indent=2, default=str))
        sys.exit(EXIT_OK)
    from supervisor.worker.app import run_worker

    sys.exit(run_worker(config))


@worker_group.command("healthcheck")
@click.option("--json", "as_json", is_flag=True, help="Print the health document as JSON.")
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Health URL [default: http://127.0.0.1:$HEALTH_PORT/health, HEALTH_PORT default 8081].",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.001, max=3600),
    help="Seconds to wait for the answer.",
)
def healthcheck_command(as_json: bool, url: Optional[str], timeout: float) -> None:
    """Exit 0 when the worker answers healthy, 1 otherwise (for a Docker HEALTHCHECK).

    Exit 2: unusable options (a URL that is not http(s)://, HEALTH_PORT not a port number).
    """
    import math
    import urllib.parse

    from supervisor.secrets import mask_text
    from supervisor.worker.health import check_health

    if math.isnan(timeout):
        fail("error: --timeout is nan: give a number of seconds", EXIT_USAGE)
    if url is None:
        port = os.environ.get("HEALTH_PORT", "8081").strip() or "8081"
        try:
            number = int(port)
        except ValueError:
            fail(f"error: HEALTH_PORT is {port!r}: not a whole number; use a TCP port number", EXIT_USAGE)
        if number == 0:
            fail("error: HEALTH_PORT is 0 (a free port chosen at start); pass --url", EXIT_USAGE)
        if not 0 < number < 65536:
            fail(f"error: HEALTH_PORT is {number}: a TCP port is 1 to 65535", EXIT_USAGE)
        url = f"http://127.0.0.1:{number}/health"
    else:
        parts = urllib.parse.urlsplit(url)
        try:
            parts.port
        except ValueError:
            fail(f"error: --url {mask_text(url)!r} has a bad port: give http://HOST:PORT/health", EXIT_USAGE)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(f"error: --url {mask_text(url)!r} is not an http(s) URL: give http://HOST:PORT/health", EXIT_USAGE)
    result = check_health(url, timeout)
    if result.error:
        import dataclasses

        result = dataclasses.replace(result, error=mask_text(result.error))
    if as_json:
        click.echo(
            json.dumps(
                result.document if result.document is not None else {"status": "unreachable", "error": result.error},
                indent=2,
            )
        )
    else:
        click.echo(result.summary(), err=not result.ok)
    sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)
