"""SV004: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    (
        [service("app", {"BACKFILL_DAYS": "2", "FIREHOSE_ENABLED": "false"}, command=PM2)],
        1,
        ["FIREHOSE_ENABLED=false does not disable the TypeScript backfill of app"],
    ),
    ([service("app", {"BACKFILL_DAYS": "0", "FIREHOSE_ENABLED": "false"}, command=PM2)], 0, []),
    ([service("app", {"BACKFILL_DAYS": "2", "FIREHOSE_ENABLED": "true"}, command=PM2)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv004_misleading_switch(case):
    check_case("SV004", case)
