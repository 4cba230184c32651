"""The progress display: a finished row shows it is finished."""

from __future__ import annotations

import io

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
    lines = _frame([("Container", "p-db-1", "Started"), ("Worker", "p-worker-1", "Checking"),
                    ("Worker", "p-worker-1", "Ingesting")])
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
