"""SV014: its cases, in memory."""

from __future__ import annotations

import pytest

from tests.policy.builders import service
from tests.policy.rules.table import PY, SUP, check_case

CASES = [
    # the defaults (5 events per 2 s) cannot replay 2 days of a 500 events/s network within 72 h
    (
        [service("w", {"BACKFILL_DAYS": "2"}, command=SUP)],
        1,
        [
            "BACKFILL_BATCH_SIZE",
            "BACKFILL_BATCH_DELAY_MS",
            "2.5 record-writing events/s",
            "cannot finish",
            "assuming 500 events/s",
        ],
    ),
    (
        [
            service(
                "w",
                {"BACKFILL_DAYS": "-1", "BACKFILL_BATCH_SIZE": "100", "BACKFILL_BATCH_DELAY_MS": "1000"},
                command=SUP,
            )
        ],
        1,
        ["100 record-writing events/s", "about 12.8 days"],
    ),
    (
        [
            service(
                "w",
                {"BACKFILL_DAYS": "2", "BACKFILL_BATCH_SIZE": "5000", "BACKFILL_BATCH_DELAY_MS": "1000"},
                command=SUP,
            )
        ],
        0,
        [],
    ),
    ([service("w", {"BACKFILL_DAYS": "2", "BACKFILL_BATCH_DELAY_MS": "0"}, command=SUP)], 0, []),  # unthrottled
    ([service("w", {"BACKFILL_DAYS": "0"}, command=SUP)], 0, []),  # no backfill
    ([service("w", {"BACKFILL_DAYS": "2", "WORKER_ID": "1"}, command=SUP)], 0, []),  # not the primary
    # a quiet network (x-supervisor) makes the same limit enough
    (
        [
            service(
                "w", {"BACKFILL_DAYS": "1", "BACKFILL_BATCH_SIZE": "50", "BACKFILL_BATCH_DELAY_MS": "1000"}, command=SUP
            )
        ],
        0,
        [],
        {"extensions": {"x-supervisor": {"network_events_per_second": 10}}},
    ),
    (
        [
            service(
                "w", {"BACKFILL_DAYS": "1", "BACKFILL_BATCH_SIZE": "50", "BACKFILL_BATCH_DELAY_MS": "1000"}, command=SUP
            )
        ],
        1,
        ["assuming 2000 events/s"],
        {"extensions": {"x-supervisor": {"network_events_per_second": 2000}}},
    ),
    # the original worker has no such profile fact: no finding
    ([service("w", {"BACKFILL_DAYS": "2"}, command=PY)], 0, []),
]


@pytest.mark.parametrize("case", CASES)
def test_sv014_backfill_cannot_finish(case):
    check_case("SV014", case)
