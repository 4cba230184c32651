"""SV003: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    ([service("w", {"BACKFILL_DAYS": "7d"}, command=PY)], 1, ['BACKFILL_DAYS is "7d" on w', "crash"]),
    ([service("w", {"BACKFILL_DAYS": ""}, command=PY)], 1, ['BACKFILL_DAYS is "" on w']),
    ([service("s", {"BACKFILL_DAYS": "7d"}, command=SUP)], 1, ["refuse"]),
    # parseInt reads "7d" as 7: the app server starts
    ([service("app", {"BACKFILL_DAYS": "7d"}, command=PM2)], 0, []),
    ([service("w", {"BACKFILL_DAYS": " 7 "}, command=PY)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv003_start_failure(case):
    check_case("SV003", case)
