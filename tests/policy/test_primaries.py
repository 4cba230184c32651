"""SV002 several-primaries: an error only when primaries backfill on a shared cursor row."""

from __future__ import annotations

from supervisor.policy.findings import exit_code
from tests.policy.builders import evaluate_project

from .builders import project, service

WORKER = ["supervisor", "worker"]


def _findings(*services):
    return evaluate_project(project(*services), root="/proj").findings


def test_primaries_on_their_own_rows_are_a_warning_not_an_error():
    findings = _findings(
        service("a", {"WORKER_ID": "0", "BACKFILL_DAYS": "1"}, command=WORKER),
        service(
            "b",
            {
                "WORKER_ID": "0",
                "BACKFILL_DAYS": "1",
                "BACKFILL_CURSOR_SERVICE": "backfill_python",
                "FIREHOSE_CURSOR_SERVICE": "firehose_python",
            },
            command=WORKER,
            line=30,
        ),
    )
    several = [f for f in findings if f.code == "SV002"]
    assert [f.severity for f in several] == ["warning"]
    assert "no cursor is overwritten" in several[0].message
    assert '"backfill", "backfill_python"' in several[0].message
    assert exit_code(findings) == 0


def test_primaries_on_one_row_are_an_error_naming_only_that_row():
    findings = _findings(
        service("a", {"WORKER_ID": "0", "BACKFILL_DAYS": "1"}, command=WORKER),
        service(
            "b",
            {"WORKER_ID": "0", "BACKFILL_DAYS": "1", "FIREHOSE_CURSOR_SERVICE": "firehose_b"},
            command=WORKER,
            line=30,
        ),
        service(
            "c",
            {
                "WORKER_ID": "0",
                "BACKFILL_DAYS": "1",
                "BACKFILL_CURSOR_SERVICE": "backfill_c",
                "FIREHOSE_CURSOR_SERVICE": "firehose_c",
            },
            command=WORKER,
            line=50,
        ),
    )
    several = [f for f in findings if f.code == "SV002"]
    assert [f.severity for f in several] == ["error"]
    assert (
        'row "backfill", overwriting' in several[0].message
        and "backfill_c" not in several[0].message.split("Each runs")[1].split("Fix")[0]
    )
    assert exit_code(findings) == 1
