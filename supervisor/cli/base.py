"""The command group, shared options and the one place that turns errors into exit codes.

Exit codes are a contract: 0 ok, 1 findings or failed health, 2 unusable input or usage.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any, Callable, NoReturn, Optional

import click

from supervisor import __version__
from supervisor.compose.model import ComposeError, LoadOptions

__all__ = [
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "main",
    "compose_options",
    "load_options_from",
    "fail",
    "load_project_or_exit",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report a writer whose reader went away


# Which module registers each command: modules are imported only when their command runs,
# so that `supervisor config -q` does not pay for the Docker SDK, asyncio or psycopg.
COMMAND_MODULES = {
    "config": "supervisor.cli.config",
    "validate": "supervisor.cli.policy",
    "audit": "supervisor.cli.policy",
    "explain": "supervisor.cli.policy",
    "up": "supervisor.cli.runtime",
    "down": "supervisor.cli.runtime",
    "ps": "supervisor.cli.runtime",
    "logs": "supervisor.cli.runtime",
    "restart": "supervisor.cli.runtime",
    "status": "supervisor.cli.runtime",
    "worker": "supervisor.cli.worker",
    "devrelay": "supervisor.cli.devrelay",
    "firehose": "supervisor.cli.atproto",
    "repo": "supervisor.cli.atproto",
}


class LazyGroup(click.Group):
    """A command group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[cmd_name])
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # The last line of defence for the exit-code contract: whatever escapes a command
        # becomes one line and a documented code, never a traceback.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _quiet_exit("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except MemoryError:
            _quiet_exit("error: out of memory (is the input far larger than expected, or a device such as "
                        "/dev/zero?)", EXIT_USAGE)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - see above
            if os.environ.get("SUPERVISOR_DEBUG"):
                raise
            from supervisor.secrets import mask_text

            _quiet_exit(f"error: unexpected {type(exc).__name__}: {mask_text(str(exc))} "
                        "(run again with SUPERVISOR_DEBUG=1 to see where)", EXIT_USAGE)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _quiet_exit(message: str, code: int) -> NoReturn:
    try:
        click.echo(message, err=True)
    except OSError:
        pass
    sys.exit(code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="supervisor")
def main() -> None:
    """Validate, audit and launch an AT Protocol AppView indexing stack.

    \b
    Exit codes (every command):
      0    ok
      1    findings (validate, up, status), failed health check, malformed frames
      2    unusable input or usage: the message names the file, line and what to do
      130  stopped with Ctrl-C
    Secrets (URL passwords, *PASSWORD*, *_SECRET, *_KEY, *TOKEN*) are masked in all output.
    """


def compose_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``docker compose`` that shape the project, as on its command line."""
    options = [
        click.option("-f", "--file", "files", multiple=True, metavar="FILE",
                     help="Compose configuration file (repeatable; '-' is not supported)."),
        click.option("-p", "--project-name", default=None, metavar="NAME", help="Project name."),
        click.option("--project-directory", default=None, metavar="DIR",
                     help="Alternate working directory (default: the first file's folder)."),
        click.option("--env-file", "env_files", multiple=True, metavar="FILE",
                     help="Alternate environment file (repeatable; later files win)."),
        click.option("--profile", "profiles", multiple=True, metavar="NAME",
                     help="Enable a profile (repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_options_from(kwargs: dict[str, Any]) -> LoadOptions:
    """Pop the compose options from a command's keyword arguments."""
    return LoadOptions(
        files=list(kwargs.pop("files", ()) or ()),
        project_name=kwargs.pop("project_name", None),
        project_directory=kwargs.pop("project_directory", None),
        env_files=list(kwargs.pop("env_files", ()) or ()),
        profiles=list(kwargs.pop("profiles", ()) or ()),
    )


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear line to stderr (URL passwords masked) and exit with ``code``."""
    from supervisor.secrets import mask_text

    click.echo(mask_text(message), err=True)
    sys.exit(code)


def load_project_or_exit(options: LoadOptions, *, print_warnings: bool = True):
    """Resolve the project; on unusable input print ``file:line:col: message`` and exit 2."""
    from supervisor.compose.loader import load_project

    try:
        project = load_project(options)
    except ComposeError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    if print_warnings:
        for warning in project.warnings:
            click.echo(warning, err=True)
    return project


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected errors into a one-line message and exit 2 (never a traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ComposeError as exc:
            fail(f"error: {exc}", EXIT_USAGE)
        except OSError as exc:
            fail(f"error: {exc}", EXIT_USAGE)

    return wrapper
