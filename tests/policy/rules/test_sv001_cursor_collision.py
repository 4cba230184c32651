"""SV001: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.compose.model import Origin  # noqa: F401
from tests.policy.builders import from_shell, service  # noqa: F401
from tests.policy.rules.table import PM2, PY, SUP, check_case  # noqa: F401

CASES = [
    # two programs run a writer of the same row
    (
        [
            service("a", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY),
            service("app", {"BACKFILL_DAYS": "2"}, command=PM2),
        ],
        1,
        ['2 writers share the firehose_cursor row "backfill"', "set BACKFILL_DAYS=0 on a"],
    ),
    # a NODE_APP_INSTANCE in the environment makes every PM2 instance run the live consumer
    (
        [service("app", {"NODE_APP_INSTANCE": "0", "FIREHOSE_ENABLED": "true"}, command=PM2)],
        1,
        ['4 writers share the firehose_cursor row "firehose"', "remove NODE_APP_INSTANCE"],
    ),
    # replicas multiply a writer
    ([service("w", {"BACKFILL_DAYS": "1"}, command=SUP, replicas=2)], 1, ["run one replica of w"]),
    (
        [
            service("a", {"WORKER_ID": "0", "BACKFILL_DAYS": "2"}, command=PY),
            service("app", {"BACKFILL_DAYS": "0"}, command=PM2),
        ],
        0,
        [],
    ),
    # this project's worker on other rows beside the original worker
    (
        [
            service("a", {"BACKFILL_DAYS": "2"}, command=PY),
            service(
                "s",
                {"BACKFILL_DAYS": "2", "BACKFILL_CURSOR_SERVICE": "bf2", "FIREHOSE_CURSOR_SERVICE": "fh2"},
                command=SUP,
            ),
        ],
        0,
        [],
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_sv001_cursor_collision(case):
    check_case("SV001", case)
