"""BACKFILL_MODE and the crawl's settings: which backfill runs, and bad values refused by name."""

from __future__ import annotations

import pytest

from supervisor.worker.backfill import window_note
from supervisor.worker.config import parse_config
from supervisor.worker.errors import ConfigError

BASE = {"DATABASE_URL": "postgresql://appview:s3cret@db:5432/appview"}


@pytest.mark.parametrize(
    "days, window, mode, crawls",
    [
        ("3", "72", "auto", False),  # 72 h fit in the relay's window: replay
        ("4", "72", "auto", True),  # 96 h do not: crawl
        ("-1", "100000", "auto", True),  # all history always crawls
        ("30", "72", "replay", False),
        ("1", "72", "crawl", True),
    ],
)
def test_the_mode_decides_replay_or_crawl(days, window, mode, crawls):
    config = parse_config({**BASE, "BACKFILL_DAYS": days, "RELAY_WINDOW_HOURS": window, "BACKFILL_MODE": mode})
    assert config.backfill_crawls is crawls


@pytest.mark.parametrize("days", ["7", "-1"])
def test_the_window_note_says_what_covers_the_window(days):
    config = parse_config({**BASE, "BACKFILL_DAYS": days, "RELAY_WINDOW_HOURS": "72", "BACKFILL_MODE": "replay"})
    replay = window_note(config.backfill_days, config.relay_window_hours, crawls=config.backfill_crawls)
    config = parse_config({**BASE, "BACKFILL_DAYS": days, "RELAY_WINDOW_HOURS": "72", "BACKFILL_MODE": "auto"})
    crawl = window_note(config.backfill_days, config.relay_window_hours, crawls=config.backfill_crawls)
    assert replay is not None and "BACKFILL_MODE=replay" in replay and "the crawl fetches" not in replay, replay
    assert crawl is not None and "the crawl fetches every repository" in crawl and "BACKFILL_MODE" not in crawl, crawl
    assert window_note(2, 72.0, crawls=False) is None and window_note(2, 72.0, crawls=True) is None


def test_crawl_defaults():
    config = parse_config(BASE)
    assert (config.backfill_mode, config.backfill_source, config.backfill_concurrency) == ("auto", "relay", 10)
    assert (config.backfill_pds_rate, config.backfill_request_timeout) == (2.0, 60.0)


@pytest.mark.parametrize(
    "name, value",
    [
        ("BACKFILL_MODE", "sometimes"),
        ("BACKFILL_SOURCE", "dns"),
        ("BACKFILL_CONCURRENCY", "0"),
        ("BACKFILL_PDS_RATE", "0"),
        ("BACKFILL_GLOBAL_RATE", "fast"),
        ("BACKFILL_REQUEST_TIMEOUT", "-1"),
    ],
)
def test_bad_values_are_refused_by_name(name, value):
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, name: value})
    assert name in str(caught.value)
