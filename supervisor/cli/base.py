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
from supervisor.verdicts import VerdictCache

__all__ = [
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "main",
    "PROJECT_COMMANDS",
    "compose_options",
    "logs_compose_options",
    "load_options_from",
    "top_level_option",
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
            _quiet_exit(
                "error: out of memory (is the input far larger than expected, or a device such as /dev/zero?)",
                EXIT_USAGE,
            )
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - see above
            if os.environ.get("SUPERVISOR_DEBUG"):
                raise
            from supervisor.secrets import mask_text

            _quiet_exit(
                f"error: unexpected {type(exc).__name__}: {mask_text(str(exc))} "
                "(run again with SUPERVISOR_DEBUG=1 to see where)",
                EXIT_USAGE,
            )


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


# The commands that read a project: compose's project options may come before them.
PROJECT_COMMANDS = frozenset(
    {"config", "validate", "audit", "explain", "up", "down", "ps", "logs", "restart", "status"}
)

# name -> (flags, metavar or None for a choice, help): the options of ``docker compose`` that shape
# the project, accepted before the command (as compose takes them) and after it (as before).
_PROJECT_OPTIONS = (
    ("files", ("-f", "--file"), "Compose configuration file (repeatable; '-' is not supported)."),
    ("project_name", ("-p", "--project-name"), "Project name."),
    ("project_directory", ("--project-directory",), "Alternate working directory (default: the first file's folder)."),
    ("env_files", ("--env-file",), "Alternate environment file (repeatable; later files win)."),
    ("profiles", ("--profile",), "Enable a profile (repeatable)."),
)
_METAVARS = {
    "files": "FILE",
    "project_name": "NAME",
    "project_directory": "DIR",
    "env_files": "FILE",
    "profiles": "NAME",
}
_MULTIPLE = {"files", "env_files", "profiles"}


def _project_option(name: str, flags: tuple[str, ...], help_text: str, *, hidden: bool = False) -> Callable:
    return click.option(
        *flags, name, multiple=name in _MULTIPLE, default=None, metavar=_METAVARS[name], help=help_text, hidden=hidden
    )


def _progress_mode(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    from supervisor.runtime.progress import MODES

    if value is None or value in MODES or value == "none":
        return value
    fail(f'error: unsupported --progress value "{value}"; use one of {", ".join(MODES)}', EXIT_USAGE)


def _top_level_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [_project_option(name, flags, help_text) for name, flags, help_text in _PROJECT_OPTIONS]
    options += [
        click.option(
            "--parallel",
            type=click.IntRange(min=-1),
            default=None,
            metavar="N",
            help="Engine operations at once in up, down and restart (-1: no limit; default 8).",
        ),
        click.option(
            "--progress",
            default=None,
            metavar="auto|tty|plain|json|quiet",
            callback=_progress_mode,
            help="Progress display of up, down and restart (default: auto, tty on a terminal; "
            "json: one JSON object per line, as compose prints them).",
        ),
        click.option(
            "--ansi",
            type=click.Choice(["never", "always", "auto"]),
            default=None,
            help="Control characters in the progress display (never: plain lines).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="supervisor")
@_top_level_options
@click.pass_context
def main(ctx: click.Context, **given: Any) -> None:
    """Validate, audit and launch an AT Protocol AppView indexing stack.

    Project options (-f, -p, --project-directory, --env-file, --profile) go before the command,
    as with docker compose, or after it; once only.

    \b
    Exit codes (every command):
      0    ok
      1    findings (validate, up, status), failed health check, malformed frames
      2    unusable input or usage: the message names the file, line and what to do
      130  stopped with Ctrl-C
    Secrets (URL passwords, *PASSWORD*, *_SECRET, *_KEY, *TOKEN*) are masked in all output.
    """
    ctx.obj = {k: v for k, v in given.items() if v not in (None, ())}
    if ctx.obj and ctx.invoked_subcommand not in PROJECT_COMMANDS:
        names = ", ".join(sorted(_flag(k) for k in ctx.obj))
        fail(
            f"error: {names}: only the project commands ({', '.join(sorted(PROJECT_COMMANDS))}) "
            f"take project options, {ctx.invoked_subcommand} does not",
            EXIT_USAGE,
        )


def _flag(name: str) -> str:
    for key, flags, _ in _PROJECT_OPTIONS:
        if key == name:
            return "/".join(flags)
    return "--" + name.replace("_", "-")


def top_level_option(name: str) -> Any:
    """A value given before the command (``--parallel``, ``--progress``, ``--ansi``...), or None."""
    return top_level_option_values().get(name)


def compose_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The project options after the command (shown once, in the top-level help)."""
    for name, flags, help_text in reversed(_PROJECT_OPTIONS):
        func = _project_option(name, flags, help_text, hidden=True)(func)
    return func


def logs_compose_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`compose_options` without ``-f``: after ``logs``, ``-f`` means --follow, as in compose."""
    for name, flags, help_text in reversed(_PROJECT_OPTIONS):
        func = _project_option(name, tuple(f for f in flags if f != "-f"), help_text, hidden=True)(func)
    return func


def load_options_from(kwargs: dict[str, Any]) -> LoadOptions:
    """Pop the project options from a command's keyword arguments, with those given before the command.

    The same option in both places is a usage error (exit 2).
    """
    before = dict(top_level_option_values())
    values: dict[str, Any] = {}
    for name, _, _ in _PROJECT_OPTIONS:
        after = kwargs.pop(name, None)
        after = None if after in (None, ()) else after
        if after is not None and name in before:
            fail(f"error: {_flag(name)} is given both before and after the command; give it once", EXIT_USAGE)
        values[name] = after if after is not None else before.get(name)
    return LoadOptions(
        files=list(values["files"] or ()),
        project_name=values["project_name"],
        project_directory=values["project_directory"],
        env_files=list(values["env_files"] or ()),
        profiles=list(values["profiles"] or ()),
        verdicts=verdict_cache(),
    )


def verdict_cache() -> Optional[VerdictCache]:
    """Where the command line remembers schema verdicts (``$XDG_CACHE_HOME``; off with ``SUPERVISOR_NO_CACHE``)."""
    return VerdictCache.from_environment(os.environ)


def top_level_option_values() -> dict[str, Any]:
    """Every option given before the command."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return dict((root.obj if root is not None else None) or {})


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
