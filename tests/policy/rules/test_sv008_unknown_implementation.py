"""SV008: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    ([service("indexer", {"BACKFILL_DAYS": "2"}, image="busybox")], 1, ["matches no implementation profile"]),
    ([service("x", {"BACKFILL_DAYS": "2"}, implementation="nope")], 1, ["'nope' is not a known implementation"]),
    ([service("indexer", {}, image="busybox")], 0, []),
    ([service("w", {"BACKFILL_DAYS": "2"}, command=PY)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv008_unknown_implementation(case):
    check_case("SV008", case)
