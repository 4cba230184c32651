"""SV002: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    (
        [service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY, replicas=3)],
        1,
        ["3 containers are the primary", "run one replica of w"],
    ),
    (
        [service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "0"}, command=PY, replicas=2)],
        1,
        ["as soon as BACKFILL_DAYS is set"],
    ),
    ([service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY)], 0, []),
    # containers whose program crashes at start ("7d" is no integer) are no primary
    ([service("w", {"WORKER_ID": "0", "BACKFILL_DAYS": "7d"}, command=PY, replicas=3)], 0, []),
    # PM2 gives one primary per container: the app server needs no unique primary
    ([service("app", {"BACKFILL_DAYS": "2"}, command=PM2)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv002_several_primaries(case):
    check_case("SV002", case)
