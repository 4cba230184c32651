"""Compose's option order: project options before the command, after it, never both."""

from __future__ import annotations

import json
import uuid

import pytest

from .support import run

BASE = "services:\n  web:\n    image: nginx:alpine\n    environment: {A: base}\n"
OVERRIDE = "services:\n  web:\n    environment: {A: override}\n    profiles: [extra]\n  db:\n    image: postgres:16\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "a.yml").write_text(BASE)
    (tmp_path / "b.yml").write_text(OVERRIDE)
    (tmp_path / "x.env").write_text("X=1\n")
    return tmp_path


def _config(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_options_before_the_command_equal_options_after_it(project):
    before = run(
        "-f",
        "a.yml",
        "-f",
        "b.yml",
        "--env-file",
        "x.env",
        "-p",
        "name",
        "--profile",
        "extra",
        "config",
        "--format",
        "json",
        cwd=project,
    )
    after = run(
        "config",
        "--format",
        "json",
        "-f",
        "a.yml",
        "-f",
        "b.yml",
        "--env-file",
        "x.env",
        "-p",
        "name",
        "--profile",
        "extra",
        cwd=project,
    )
    assert _config(before) == _config(after)
    assert _config(before)["name"] == "name"
    assert _config(before)["services"]["web"]["environment"] == {"A": "override"}


def test_options_may_be_split_between_both_places(project):
    result = run("-f", "a.yml", "-f", "b.yml", "config", "--services", "-p", "split", "--profile", "extra", cwd=project)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["db", "web"]


@pytest.mark.parametrize("command", ["config", "validate", "audit", "up", "down", "ps", "restart", "status"])
def test_the_same_option_in_both_places_is_refused(project, command):
    result = run("-f", "a.yml", command, "-f", "b.yml", cwd=project)
    assert result.returncode == 2
    assert "-f/--file is given both before and after the command; give it once" in result.stderr
    assert "Traceback" not in result.stderr


def test_logs_takes_the_file_before_the_command_and_f_after_it_means_follow(project):
    result = run("-f", "a.yml", "logs", "--file", "b.yml", cwd=project)
    assert result.returncode == 2 and "given both before and after" in result.stderr


def test_a_project_option_on_another_command_is_refused(project):
    result = run("-p", "x", "devrelay", "--help", cwd=project)
    assert result.returncode == 2
    assert "-p/--project-name: only the project commands" in result.stderr


def test_help_shows_the_project_options_once_at_the_top(project):
    top = run("--help", cwd=project).stdout
    assert top.count("--project-directory DIR") == 1 and top.count("-f, --file FILE") == 1
    for option in ("--parallel", "--progress", "--ansi"):
        assert option in top
    assert "--project-directory" not in run("up", "--help", cwd=project).stdout


def test_progress_and_parallel_before_a_project_command(project):
    result = run(
        "--progress", "plain", "--ansi", "never", "--parallel", "2", "-f", "a.yml", "config", "-q", cwd=project
    )
    assert result.returncode == 0, result.stderr
    assert run("--progress", "sideways", "config", cwd=project).returncode == 2


def test_logs_of_an_unknown_service_of_a_named_project_is_an_error(tmp_path):
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    result = run("logs", "-p", name, "nosuchservice", cwd=tmp_path)
    assert result.returncode == 2
    assert "no such service: nosuchservice" in result.stderr and "has no containers" in result.stderr


def test_logs_f_after_the_command_follows_so_file_names_are_services(tmp_path):
    # compose reads `logs --tail 20 -f a.yml` as --follow and a service named a.yml: say so, don't hang
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    result = run("logs", "--tail", "20", "-f", "a.yml", "-f", "b.yml", "-p", name, cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "no such service: a.yml, b.yml" in result.stderr
