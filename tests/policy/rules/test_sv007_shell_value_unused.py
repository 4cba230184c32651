"""SV007: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    (
        [service("w", {"BACKFILL_DAYS": "2"}, command=PY)],
        1,
        ["BACKFILL_DAYS=30 from the shell reaches no service"],
        {"environment": {"BACKFILL_DAYS": ("30", Origin("shell"))}},
    ),
    (
        [service("w", {"BACKFILL_DAYS": from_shell("BACKFILL_DAYS", "30")}, command=PY)],
        0,
        [],
        {"environment": {"BACKFILL_DAYS": ("30", Origin("shell"))}},
    ),
    # a program that reads no day count is not a reader
    ([service("r", {}, image="redis:7")], 0, [], {"environment": {"BACKFILL_DAYS": ("30", Origin("shell"))}}),
]


@pytest.mark.parametrize("case", CASES)
def test_sv007_shell_value_unused(case):
    check_case("SV007", case)
