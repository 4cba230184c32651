"""SV006: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    (
        [service("w", {"WORKER_ID": "1", "BACKFILL_DAYS": "2"}, command=PY)],
        1,
        ["no service will backfill", "not the primary"],
    ),
    ([service("app", {"BACKFILL_DAYS": "-1"}, command=PM2)], 1, ["no service will backfill"]),
    ([service("w", {"WORKER_ID": "1", "BACKFILL_DAYS": "0"}, command=PY)], 0, []),
    ([service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv006_backfill_days_unused(case):
    check_case("SV006", case)
