"""SV005: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case, findings_of  # noqa: F401

CASES = [
    ([service("w", {"BACKFILL_DAYS": "7"}, command=PY)], 1, ["168 hours back", "72 hours"]),
    ([service("w", {"BACKFILL_DAYS": "-1"}, command=PY)], 1, ["all history"]),
    ([service("w", {"BACKFILL_DAYS": "2"}, command=PY)], 0, []),
    (
        [service("w", {"BACKFILL_DAYS": "7"}, command=PY)],
        0,
        [],
        {"extensions": {"x-supervisor": {"relay_window_hours": 200}}},
    ),
    # our worker: auto (the default) and crawl fetch older history from the repositories
    (
        [service("w", {"BACKFILL_DAYS": "7"}, command=SUP)],
        1,
        ["168 hours back", "crawls the repositories", "RELAY_WINDOW_HOURS"],
    ),
    ([service("w", {"BACKFILL_DAYS": "30", "BACKFILL_MODE": " Crawl "}, command=SUP)], 1, ["crawls the repositories"]),
    ([service("w", {"BACKFILL_DAYS": "-1", "BACKFILL_MODE": "auto"}, command=SUP)], 1, ["all history", "crawls"]),
    ([service("w", {"BACKFILL_DAYS": "3", "BACKFILL_MODE": "crawl"}, command=SUP)], 0, []),
    # ... and replay only covers the window
    (
        [service("w", {"BACKFILL_DAYS": "7", "BACKFILL_MODE": "REPLAY"}, command=SUP)],
        1,
        ["can only replay", "BACKFILL_MODE=auto or crawl"],
    ),
    (
        [service("w", {"BACKFILL_DAYS": "-1", "BACKFILL_MODE": "replay"}, command=SUP)],
        1,
        ["can only replay", "BACKFILL_MODE=auto"],
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_sv005_beyond_relay_window(case):
    check_case("SV005", case)


@pytest.mark.parametrize(
    "mode, severity",
    [(None, "info"), ("auto", "info"), ("crawl", "info"), ("replay", "warning"), (" Replay", "warning")],
)
def test_sv005_warns_only_a_worker_that_replays(mode, severity):
    env = {"BACKFILL_DAYS": "7"} | ({"BACKFILL_MODE": mode} if mode is not None else {})
    found = findings_of("SV005", [service("w", env, command=SUP)])
    assert [f.severity for f in found] == [severity]


def test_a_publicappview_python_backfill_still_warns():
    assert [f.severity for f in findings_of("SV005", [service("w", {"BACKFILL_DAYS": "7"}, command=PY)])] == ["warning"]


def test_an_unknown_backfill_mode_is_refused_at_start():
    found = findings_of("SV003", [service("w", {"BACKFILL_DAYS": "7", "BACKFILL_MODE": "fast"}, command=SUP)])
    assert len(found) == 1 and "BACKFILL_MODE" in found[0].message, [f.message for f in found]
