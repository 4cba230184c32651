"""SV009: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    (
        [service("app", {"pm_id": "1", "BACKFILL_DAYS": "2"}, command=PM2)],
        1,
        ["pm_id=1 on app has no effect", "its backfill runs"],
    ),
    ([service("app", {"pm_id": "1", "BACKFILL_DAYS": "2"}, command=["node", "dist/index.js"])], 0, []),
    ([service("app", {"BACKFILL_DAYS": "2"}, command=PM2)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv009_pm2_assigns_pm_id(case):
    check_case("SV009", case)
