"""The progress display: a finished row shows it is finished."""

from __future__ import annotations

import datetime
import io
import json

from supervisor.runtime.progress import Progress


def _frame(states: list[tuple[str, str, str]]) -> list[str]:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    for kind, name, state in states:
        progress.update(kind, name, state)
    progress.close()
    last = out.getvalue().rsplit("\x1b[J", 1)[-1]
    return [line for line in last.splitlines() if line.strip()]


def test_a_worker_that_ingests_is_marked_done() -> None:
    lines = _frame(
        [
            ("Container", "p-db-1", "Started"),
            ("Worker", "p-worker-1", "Checking"),
            ("Worker", "p-worker-1", "Ingesting"),
        ]
    )
    assert lines[-1].startswith(" + Worker p-worker-1") and "Ingesting" in lines[-1]
    assert lines[0].startswith(" + Container p-db-1")


def test_a_row_in_progress_keeps_its_mark() -> None:
    lines = _frame([("Worker", "p-worker-1", "Checking")])
    assert lines[0].startswith(" * Worker p-worker-1")


def test_plain_output_writes_one_line_per_change() -> None:
    out = io.StringIO()
    with Progress(out, tty=False) as progress:
        progress.update("Worker", "w", "Checking")
        progress.update("Worker", "w", "Ingesting")
    assert out.getvalue() == " Worker w  Checking\n Worker w  Ingesting\n"


def test_json_mode_writes_compose_event_lines() -> None:
    out = io.StringIO()
    with Progress(out, tty=True, json_lines=True) as progress:
        progress.update("Container", "p-db-1", "Starting")
        progress.update("Container", "p-db-1", "Starting")  # no change: no line
        progress.update("Container", "p-db-1", "Started")
        progress.message("warning: found orphan containers (old)")
        progress.message("#web step 1/2 <done> & more")
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        '{"id":"Container p-db-1","status":"Starting"}',
        '{"id":"Container p-db-1","status":"Started"}',
    ]
    warning = json.loads(lines[2])
    assert sorted(warning) == ["level", "msg", "time"]  # logrus' JSON formatter, as compose logs warnings
    assert warning["level"] == "warning" and warning["msg"] == "found orphan containers (old)"
    assert datetime.datetime.fromisoformat(warning["time"].replace("Z", "+00:00")).tzinfo is not None
    # Go's encoder escapes <, > and & (json.Marshal's HTML-safe default)
    assert lines[3] == '{"tail":true,"text":"#web step 1/2 \\u003cdone\\u003e \\u0026 more"}'
    assert json.loads(lines[3])["text"] == "#web step 1/2 <done> & more"
    assert "\x1b" not in out.getvalue()  # json mode never draws, even when told the stream is a terminal


def test_quiet_mode_writes_nothing() -> None:
    out = io.StringIO()
    with Progress(out, tty=True, quiet=True) as progress:
        progress.update("Container", "p-db-1", "Started")
        progress.message("warning: something")
    assert out.getvalue() == ""
