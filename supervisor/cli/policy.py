"""``supervisor validate``, ``supervisor audit`` and ``supervisor explain``: who really backfills."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Optional

import click

from supervisor.cli.base import (
    EXIT_OK,
    EXIT_USAGE,
    compose_options,
    fail,
    handle_errors,
    load_options_from,
    main,
    verdict_cache,
)
from supervisor.compose.model import ComposeError, LoadOptions, Location, Project
from supervisor.policy.errors import PolicyError
from supervisor.policy.findings import COMPOSE_ERROR, Finding, exit_code, input_finding

if TYPE_CHECKING:
    from supervisor.policy.engine import Evaluation

__all__ = ["validate_command", "audit_command", "explain_command", "evaluate_options"]


def _root() -> str:
    return os.getcwd()


def _load(options: LoadOptions) -> Project:
    from supervisor.compose.loader import load_project

    return load_project(options)


def evaluate_options(options: LoadOptions, root: Optional[str] = None) -> "Evaluation":
    """Resolve a project and evaluate its policy (raises ComposeError / PolicyError)."""
    return _evaluate(_load(options), root)


def _evaluate(project: Project, root: Optional[str] = None) -> "Evaluation":
    from supervisor.policy.sources import evaluate_sources

    return evaluate_sources(project, root=root or _root(), verdicts=verdict_cache())


def _render(findings: list[Finding], fmt: str, strict: bool, fallback: Optional[Location]) -> str:
    # each renderer is imported only for its own format (start-up time of a CI preflight)
    root = _root()
    if fmt == "sarif":
        from supervisor.report.sarif import render_sarif

        return render_sarif(findings, root, fallback=fallback)
    if fmt == "github":
        from supervisor.report.github import render_github

        return render_github(findings, root)
    from supervisor.report import findings as text_report

    if fmt == "json":
        return text_report.render_json(findings, root, strict=strict)
    return text_report.render_text(findings, root)


@main.command("validate", short_help="CI preflight: refuse writers that share a cursor row.")
@compose_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="Output format (sarif: SARIF 2.1.0; github: workflow annotations).",
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
def validate_command(fmt: str, strict: bool, **kwargs: Any) -> None:
    """Refuse a configuration where two programs write one firehose_cursor row.

    Exit 0 clean, 1 error findings (or warnings with --strict), 2 unusable input.
    """
    options = load_options_from(kwargs)
    fallback = Location(options.files[0]) if options.files else None
    try:
        project = _load(options)
    except ComposeError as exc:
        _finish([input_finding(exc, COMPOSE_ERROR)], fmt, strict, fallback)
    except OSError as exc:
        _finish([Finding(COMPOSE_ERROR, "error", str(exc))], fmt, strict, fallback)
    for warning in project.warnings:
        click.echo(warning, err=True)
    fallback = Location(project.files[0]) if project.files else fallback
    try:
        evaluation = _evaluate(project)
    except PolicyError as exc:
        _finish([input_finding(exc)], fmt, strict, fallback)
    _finish(evaluation.findings, fmt, strict, fallback)


def _finish(findings: list[Finding], fmt: str, strict: bool, fallback: Optional[Location]) -> None:
    output = _render(findings, fmt, strict, fallback)
    if output:
        click.echo(output)
    sys.exit(exit_code(findings, strict=strict))


@main.command("audit", short_help="Who backfills: BACKFILL_DAYS per service and its origin.")
@compose_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--all-vars", is_flag=True, help="Also list every environment variable of each service (secrets masked).")
@handle_errors
def audit_command(fmt: str, all_vars: bool, **kwargs: Any) -> None:
    """Show, per service, the effective BACKFILL_DAYS, where it came from and what each program does with it.

    Exit 0 (findings are validate's job), 2 unusable input (compose error, malformed x-supervisor).
    """
    from supervisor.policy.audit import audit_rows
    from supervisor.report.tables import render_audit

    evaluation = _evaluate_or_exit(load_options_from(kwargs))
    click.echo(render_audit(audit_rows(evaluation, all_vars=all_vars), fmt))


def _evaluate_or_exit(options: LoadOptions) -> "Evaluation":
    try:
        project = _load(options)
    except ComposeError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    for warning in project.warnings:
        click.echo(warning, err=True)
    try:
        return _evaluate(project)
    except PolicyError as exc:
        fail(f"error: {exc}", EXIT_USAGE)


def _dotenv_entries(project: Project, options: LoadOptions, variable: str) -> list[tuple[str, Location]]:
    """The ``.env`` (or --env-file) lines that set ``variable``, for explain's layer list."""
    try:
        from supervisor.compose.dotenv import read_dotenv
    except ImportError:
        return []
    paths = list(options.env_files) or [os.path.join(project.working_dir, ".env")]
    out: list[tuple[str, Location]] = []
    for path in paths:
        if not os.path.isabs(path):
            path = os.path.join(options.cwd or os.getcwd(), path)
        if not os.path.isfile(path):
            continue
        try:
            entries = read_dotenv(path, interpolate=False)
        except (ComposeError, OSError):
            continue
        out.extend((e.value, Location(path, e.line, 1)) for e in entries if e.name == variable)
    return out


@main.command("explain", short_help="Every layer behind one variable of one service.")
@compose_options
@click.argument("service")
@click.argument("variable", default="BACKFILL_DAYS")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
@handle_errors
def explain_command(service: str, variable: str, fmt: str, **kwargs: Any) -> None:
    """Explain VARIABLE (default BACKFILL_DAYS) in SERVICE: every layer, the winner, and the decision.

    Exit 0 ok, 2 unusable input or an unknown SERVICE (the message lists the services).
    """
    import json

    from supervisor.policy.explain import explain
    from supervisor.report.tables import render_explanation

    options = load_options_from(kwargs)
    evaluation = _evaluate_or_exit(options)
    project = evaluation.project
    if service not in project.services:
        known = ", ".join(project.services) or "(none)"
        disabled = (
            f" (disabled by profiles: {', '.join(project.disabled_services)})" if project.disabled_services else ""
        )
        fail(f"error: no service {service!r}; services: {known}{disabled}", EXIT_USAGE)
    explanation = explain(evaluation, service, variable, dotenv=_dotenv_entries(project, options, variable))
    if fmt == "json":
        click.echo(json.dumps(explanation.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_explanation(explanation))
    sys.exit(EXIT_OK)
