"""Real compose folders, through the loader and the CLI: every situation of the operators' document."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import supervisor.compose.loader  # noqa: F401  (the loader the CLI runs; an import error must fail, not skip)
from supervisor.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())
# Variables of the test process that would change what the fixtures resolve to.
_CLEAR = (
    "BACKFILL_DAYS",
    "WORKER_ID",
    "FIREHOSE_ENABLED",
    "pm_id",
    "NODE_APP_INSTANCE",
    "BACKFILL_CURSOR_SERVICE",
    "FIREHOSE_CURSOR_SERVICE",
)


@pytest.fixture
def in_case(monkeypatch):
    def enter(name: str) -> dict:
        expected = json.loads((FIXTURES / name / "expected.json").read_text())
        for key in list(os.environ):
            if key.startswith("COMPOSE_") or key in _CLEAR:
                monkeypatch.delenv(key, raising=False)
        for key, value in expected.get("env", {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(FIXTURES / name)
        return expected

    return enter


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", CASES)
def test_validate(name, in_case):
    expected = in_case(name)
    args = expected.get("args", [])
    result = run("validate", "--format", "json", *args)
    assert result.exit_code == expected["exit"], result.output
    document = json.loads(result.stdout)
    active = sorted(f["code"] for f in document["findings"] if not f["suppressed"])
    assert active == sorted(expected["codes"]), result.output
    suppressed = sorted(f["code"] for f in document["findings"] if f["suppressed"])
    assert suppressed == sorted(expected.get("suppressed", []))
    for f in document["findings"]:
        if f["suppressed"]:
            assert f["suppression_reason"]
    text = run("validate", *args)
    assert text.exit_code == expected["exit"]
    for fragment in expected.get("message_contains", []):
        assert fragment in text.stdout, text.stdout
    if "strict_exit" in expected:
        assert run("validate", "--strict", *args).exit_code == expected["strict_exit"]


@pytest.mark.parametrize(
    "name", [c for c in CASES if json.loads((FIXTURES / c / "expected.json").read_text()).get("backfills") is not None]
)
def test_audit_backfills(name, in_case):
    expected = in_case(name)
    result = run("audit", "--format", "json", *expected.get("args", []))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["services"]
    assert sorted({r["service"] for r in rows if r["backfill_enabled"]}) == sorted(expected["backfills"])
    for row in rows:
        assert {"service", "implementation", "backfill_days", "backfill_enabled", "cursor_service"} <= set(row)


@pytest.mark.parametrize("fmt", ["sarif", "github", "text"])
def test_formats_of_a_collision(fmt, in_case):
    expected = in_case("both-enabled")
    result = run("validate", "--format", fmt)
    assert result.exit_code == expected["exit"]
    if fmt == "github":
        lines = result.stdout.splitlines()
        assert any(
            line.startswith("::error file=docker-compose.yml,line=") and "title=SV001 cursor-collision::" in line
            for line in lines
        ), result.stdout
    elif fmt == "sarif":
        log = json.loads(result.stdout)
        results = log["runs"][0]["results"]
        error = next(r for r in results if r["ruleId"] == "SV001")
        loc = error["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "docker-compose.yml"
        assert loc["region"]["startLine"] > 0 and loc["region"]["startColumn"] > 0
    else:
        assert "error SV001 cursor-collision" in result.stdout


def test_compose_error_in_sarif_and_github(in_case):
    in_case("compose-error")
    sarif = run("validate", "--format", "sarif")
    assert sarif.exit_code == 2
    result = json.loads(sarif.stdout)["runs"][0]["results"][0]
    assert result["ruleId"] == "SV000" and result["level"] == "error"
    github = run("validate", "--format", "github")
    assert github.exit_code == 2 and github.stdout.startswith("::error ")


def test_explain_layers_and_trace(in_case):
    in_case("dotenv")
    result = run("explain", "app")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dotenv" in out and ".env:2" in out
    assert "winner: BACKFILL_DAYS=2 from .env:2 via ${BACKFILL_DAYS:-0}" in out
    assert 'parseInt(BACKFILL_DAYS || "0")' in out
    assert 'backfill: writes "backfill"' in out


def test_explain_override_shows_what_it_overrode(in_case):
    in_case("override-file")
    result = run("explain", "app", "BACKFILL_DAYS", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    statuses = [(layer["kind"], layer["status"], layer["value"]) for layer in document["layers"]]
    assert ("environment", "overridden", "0") in statuses
    assert ("environment", "winner", "1") in statuses
    assert document["overrode"] and "docker-compose.yml" in document["overrode"][0]


def test_explain_unknown_service_lists_services(in_case):
    in_case("both-enabled")
    result = CliRunner().invoke(main, ["explain", "nope"])
    assert result.exit_code == 2
    assert "python-unified-worker" in result.output and "app" in result.output


def test_audit_formats_and_masking(in_case):
    in_case("explicit-shell")
    os.environ["BACKFILL_DAYS"] = "2"
    for fmt in ("table", "csv", "markdown"):
        result = run("audit", "--format", fmt)
        assert result.exit_code == 0
        assert "python-unified-worker" in result.stdout and "2 days" in result.stdout
    result = run("audit", "--all-vars", "--format", "json")
    rows = json.loads(result.stdout)["services"]
    assert all("variables" in r for r in rows)


def test_bundled_deployment_validates_clean(monkeypatch):
    root = Path(__file__).resolve().parents[2]
    compose = root / "compose"
    if not (compose / "docker-compose.yml").is_file():
        pytest.skip("no bundled compose/ deployment")
    for key in list(os.environ):
        if key.startswith("COMPOSE_") or key in _CLEAR or key.endswith("_IMAGE"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    for files in (
        ["compose/docker-compose.yml"],
        ["compose/docker-compose.yml", "compose/docker-compose.unified-backfill.yml"],
    ):
        args = [a for f in files if (root / f).is_file() for a in ("-f", f)]
        result = run("validate", *args)
        assert result.exit_code == 0, result.output
        for days in ("0", "3"):
            monkeypatch.setenv("BACKFILL_DAYS", days)
            result = run("validate", "--strict", *args)
            assert result.exit_code == 0, result.output
        monkeypatch.delenv("BACKFILL_DAYS")
