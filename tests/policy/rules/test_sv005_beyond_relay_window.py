"""SV005: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

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
]


@pytest.mark.parametrize("case", CASES)
def test_sv005_beyond_relay_window(case):
    check_case("SV005", case)
