"""The event log's retention window and the connection-time cursor rules (pure)."""

from __future__ import annotations

import pytest

from supervisor.devrelay.events import IDENTITY, Event
from supervisor.devrelay.log import EventLog, plan_subscription

HOUR = 3_600_000_000


def make_log(seqs: list[int], hours: list[float], retention_hours: float | None = 10) -> EventLog:
    log = EventLog(None if retention_hours is None else int(retention_hours * HOUR))
    log.extend([Event(IDENTITY, seq, int(h * HOUR), "did:plc:x") for seq, h in zip(seqs, hours)])
    return log


def test_window_drops_events_older_than_retention_before_the_newest():
    log = make_log([1, 2, 3, 4, 5], [0, 1, 5, 9, 12])
    assert log.oldest_seq == 3 and log.latest_seq == 5 and log.evicted_through == 2
    assert len(log) == 3


def test_nothing_dropped_within_retention():
    log = make_log([1, 2, 3], [0, 1, 2])
    assert log.evicted_through == 0 and log.oldest_seq == 1


def test_seq_must_increase():
    log = make_log([5], [0])
    with pytest.raises(ValueError, match="not greater"):
        log.append(Event(IDENTITY, 5, 1, "did:plc:x"))


def test_read_after_batches_and_ordinals():
    log = make_log(list(range(1, 11)), [0] * 10)
    batch, end = log.read_after(3, limit=4)
    assert [e.seq for e in batch] == [4, 5, 6, 7] and end == 7
    batch, end = log.read_after(10)
    assert batch == [] and end == 10
    assert log.ordinal_after(0) == 0 and log.ordinal_after(10) == 10


def test_read_after_skips_gaps_in_sequence_numbers():
    log = make_log([10, 20, 30], [0, 0, 0])
    assert [e.seq for e in log.read_after(15)[0]] == [20, 30]


def test_compaction_keeps_positions():
    log = EventLog(HOUR)
    for seq in range(1, 20_001):
        log.append(Event(IDENTITY, seq, seq * 1_000_000, "did:plc:x"))
    # one hour of one-second events stays
    assert len(log) == 3601
    assert log.oldest_seq == 20_000 - 3600
    batch, end = log.read_after(19_990)
    assert [e.seq for e in batch] == list(range(19_991, 20_001)) and end == 20_000
    assert log.ordinal_after(19_990) == 19_990


@pytest.mark.parametrize(
    "cursor, after, error, info",
    [
        (None, 5, None, None),  # no cursor: live, after the latest event
        (6, None, "FutureCursor", None),  # beyond the latest seq
        (1_000, None, "FutureCursor", None),
        (0, 0, None, None),  # zero: the oldest kept event, no warning
        (1, 0, None, "OutdatedCursor"),  # seq 2 was dropped
        (2, 2, None, None),  # everything after 2 is kept
        (4, 4, None, None),
        (5, 5, None, None),  # caught up: nothing to replay
    ],
)
def test_plan_subscription(cursor, after, error, info):
    log = make_log([1, 2, 3, 4, 5], [0, 1, 5, 9, 12])
    plan = plan_subscription(cursor, log)
    assert (plan.error[0] if plan.error else None) == error
    assert (plan.info[0] if plan.info else None) == info
    if after is not None:
        assert plan.after_seq == after
    if info:
        assert "starting at seq 3" in plan.info[1]


def test_plan_on_an_empty_log():
    log = EventLog(HOUR)
    assert plan_subscription(0, log).error is None
    assert plan_subscription(None, log).after_seq == 0
    assert plan_subscription(1, log).error[0] == "FutureCursor"
