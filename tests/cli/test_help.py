"""``--help`` of every command: it works, and says what the exit codes mean."""

from __future__ import annotations

import pytest

from .support import run

COMMANDS = [
    "config",
    "validate",
    "audit",
    "explain",
    "up",
    "down",
    "ps",
    "logs",
    "restart",
    "status",
    "devrelay",
    "firehose decode",
    "firehose capture",
    "repo dump",
    "repo inspect",
    "worker healthcheck",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_documents_exit_codes(tmp_path, command):
    result = run(*command.split(), "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ") and f"supervisor {command} [OPTIONS]" in result.stdout.splitlines()[0]
    assert "Exit" in result.stdout, result.stdout


def test_top_level_help_lists_every_command_in_full(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in (
        "audit",
        "config",
        "devrelay",
        "down",
        "explain",
        "firehose",
        "logs",
        "ps",
        "repo",
        "restart",
        "status",
        "up",
        "validate",
        "worker",
    ):
        assert f"\n  {command} " in result.stdout
    assert "130" in result.stdout and "2    unusable input" in result.stdout


OWN_COMMANDS = [c for c in COMMANDS if not c.startswith("worker")]


@pytest.mark.parametrize("command", OWN_COMMANDS)
def test_every_option_is_described(command):
    import click

    from supervisor.cli import main

    ctx = click.Context(main)
    cmd: click.Command = main
    for word in command.split():
        assert isinstance(cmd, click.Group)
        found = cmd.get_command(ctx, word)
        assert found is not None
        cmd = found
    undescribed = [p.opts[0] for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert not undescribed, undescribed
