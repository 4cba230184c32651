"""Revision chain checks: order, since, prevData, clock skew."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from supervisor.atproto import chain
from supervisor.atproto.chain import check_chain, check_prev_data, check_rev_order, check_rev_time, check_since
from supervisor.atproto.cid import CID
from supervisor.atproto.syntax import tid_from_time

NOW = 1_764_600_000_000_000  # microseconds
SECOND = 1_000_000
ROOT_A = CID.for_block(b"a")
ROOT_B = CID.for_block(b"b")


def _rev(offset_us: int = 0, clock: int = 0) -> str:
    return tid_from_time(NOW + offset_us, clock)


def test_revisions_must_increase():
    assert check_rev_order(_rev(1), _rev(0)).ok
    assert check_rev_order(_rev(0, 1), _rev(0, 0)).ok
    assert check_rev_order(_rev(0), None).ok
    assert check_rev_order(_rev(0), _rev(0)).reason == chain.CHAIN_STALE
    assert check_rev_order(_rev(-1), _rev(0)).reason == chain.CHAIN_STALE
    assert check_rev_order("not-a-tid", None).reason == chain.CHAIN_BAD_REV


@given(st.integers(0, 2**50), st.integers(0, 2**50))
def test_text_order_of_revisions_is_time_order(a, b):
    assert (tid_from_time(a) < tid_from_time(b)) == (a < b)
    assert check_rev_order(tid_from_time(a), tid_from_time(b)).ok == (a > b)


def test_since_must_be_the_revision_held():
    held = _rev(0)
    assert check_since(held, held).ok
    assert check_since(None, None).ok
    assert check_since(_rev(-5), held).reason == chain.CHAIN_GAP
    assert check_since(None, held).reason == chain.CHAIN_GAP
    assert check_since(held, None).reason == chain.CHAIN_UNKNOWN


def test_prev_data_must_be_the_root_held():
    assert check_prev_data(ROOT_A, ROOT_A).ok
    assert check_prev_data(ROOT_B, ROOT_A).reason == chain.CHAIN_PREV_DATA
    assert check_prev_data(None, ROOT_A).reason == chain.CHAIN_PREV_DATA
    assert check_prev_data(ROOT_A, None).reason == chain.CHAIN_UNKNOWN


def test_revisions_from_the_future_are_refused():
    assert check_rev_time(_rev(299 * SECOND), NOW).ok
    assert check_rev_time(_rev(-86400 * SECOND), NOW).ok
    assert check_rev_time(_rev(301 * SECOND), NOW).reason == chain.CHAIN_FUTURE
    assert check_rev_time(_rev(61 * SECOND), NOW, max_future_seconds=60).reason == chain.CHAIN_FUTURE
    assert check_rev_time("3l6sjhvqonco", NOW).reason == chain.CHAIN_BAD_REV


def test_check_chain_reports_the_first_failure():
    held = _rev(-10 * SECOND)
    assert check_chain(_rev(0), held, held, NOW, prev_data=ROOT_A, held_data=ROOT_A).ok
    assert check_chain(_rev(0), held, held, NOW).ok
    assert check_chain(_rev(0), held, held, NOW, prev_data=ROOT_B, held_data=ROOT_A).reason == chain.CHAIN_PREV_DATA
    assert check_chain(_rev(0), _rev(-20 * SECOND), held, NOW).reason == chain.CHAIN_GAP
    assert check_chain(held, held, held, NOW).reason == chain.CHAIN_STALE
    assert check_chain(_rev(3600 * SECOND), held, held, NOW).reason == chain.CHAIN_FUTURE
    assert check_chain("bad", held, held, NOW).reason == chain.CHAIN_BAD_REV
