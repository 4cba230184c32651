"""The backfill estimate (pure): can a throttled replay finish before the relay drops it?"""

from __future__ import annotations

import pytest

from supervisor.throttle import estimate_backfill


def test_the_default_limit_cannot_finish_a_two_day_window():
    estimate = estimate_backfill(days=2, batch_size=5, batch_delay_ms=2000, relay_window_hours=72)
    # 2 days at 500 events/s, 85% of them writing records, at 2.5 per second: about 340 days.
    assert estimate.limit_per_second == 2.5
    assert estimate.writing_events == int(2 * 86400 * 500 * 0.85)
    assert 330 * 86400 < estimate.seconds < 350 * 86400
    assert not estimate.fits
    text = estimate.text()
    assert "cannot finish before the relay drops it" in text and "assuming 500 events/s" in text
    assert "days" in text and estimate.to_json()["fits_relay_window"] is False


def test_a_limit_above_the_network_rate_fits():
    estimate = estimate_backfill(
        days=2, batch_size=1000, batch_delay_ms=1000, relay_window_hours=72, network_events_per_second=500
    )
    assert estimate.fits and estimate.seconds == pytest.approx(2 * 86400 * 500 * 0.85 / 1000)
    assert "can finish within the relay's 72 h window" in estimate.text()


def test_the_window_is_capped_at_what_the_relay_keeps_and_unthrottled_always_fits():
    everything = estimate_backfill(
        days=-1, batch_size=5, batch_delay_ms=0, relay_window_hours=24, network_events_per_second=100, write_share=1.0
    )
    assert everything.hours == 24 and everything.writing_events == 24 * 3600 * 100
    assert everything.seconds is None and everything.fits
    assert "unthrottled" in everything.text()
    week = estimate_backfill(
        days=7, batch_size=100, batch_delay_ms=100, relay_window_hours=72, network_events_per_second=2000
    )
    assert week.hours == 72 and not week.fits


def test_the_rate_the_estimate_assumes_is_checked():
    with pytest.raises(ValueError):
        estimate_backfill(days=1, batch_size=5, batch_delay_ms=10, relay_window_hours=72, network_events_per_second=-1)
