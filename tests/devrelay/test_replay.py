"""Cursor replay over real sockets: cursor, OutdatedCursor, FutureCursor, live start, cursor 0."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from supervisor.atproto import frames
from supervisor.devrelay import RelayConfig

from .support import collect, recv_decoded, run, running, subscribe, subscribe_url, synth

# 600 events over 3 days; a 24-hour window keeps roughly the last third.
WINDOWED = RelayConfig(synth=synth(), retention_hours=24)


def test_cursor_zero_sends_the_whole_window_without_warning():
    async def scenario():
        async with running(WINDOWED) as relay:
            oldest, latest = relay.log.oldest_seq, relay.log.latest_seq
            assert 1 < oldest < latest == 600
            got = await collect(subscribe_url(relay, 0), until_seq=latest)
            assert not any(isinstance(f, frames.Info) for f in got)
            assert [f.seq for f in got] == list(range(oldest, latest + 1))

    run(scenario())


def test_cursor_in_window_resumes_after_it():
    async def scenario():
        async with running(WINDOWED) as relay:
            cursor = relay.log.oldest_seq + 10
            got = await collect(subscribe_url(relay, cursor), until_seq=600)
            assert [f.seq for f in got] == list(range(cursor + 1, 601))

    run(scenario())


def test_cursor_at_the_edge_of_the_window_is_not_outdated():
    async def scenario():
        async with running(WINDOWED) as relay:
            cursor = relay.log.evicted_through  # every later event is still kept
            got = await collect(subscribe_url(relay, cursor), count=1)
            assert got[0].seq == cursor + 1

    run(scenario())


def test_outdated_cursor_gets_info_then_the_window():
    async def scenario():
        async with running(WINDOWED) as relay:
            oldest = relay.log.oldest_seq
            got = await collect(subscribe_url(relay, 3), until_seq=600)
            assert isinstance(got[0], frames.Info) and got[0].name == "OutdatedCursor"
            assert [f.seq for f in got[1:]] == list(range(oldest, 601))

    run(scenario())


def test_future_cursor_gets_an_error_and_the_connection_closes():
    async def scenario():
        async with running(WINDOWED) as relay:
            async with subscribe(subscribe_url(relay, 601)) as ws:
                frame = await recv_decoded(ws)
                assert isinstance(frame, frames.ErrorFrame) and frame.error == "FutureCursor"
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)

    run(scenario())


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5"])
def test_invalid_cursor_is_an_error_frame(cursor):
    async def scenario():
        async with running(WINDOWED) as relay:
            async with subscribe(subscribe_url(relay, cursor)) as ws:
                frame = await recv_decoded(ws)
                assert isinstance(frame, frames.ErrorFrame) and frame.error == "InvalidRequest"
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)

    run(scenario())


def test_no_cursor_starts_live():
    config = RelayConfig(synth=synth(live_events=40), rate=40)

    async def scenario():
        async with running(config) as relay:
            async with subscribe(subscribe_url(relay)) as ws:
                joined_after = relay.log.latest_seq
                seqs = [(await recv_decoded(ws)).seq for _ in range(5)]
            assert seqs[0] > joined_after >= 600
            assert seqs == list(range(seqs[0], seqs[0] + 5))

    run(scenario())


def test_no_cursor_without_live_events_sends_nothing():
    async def scenario():
        async with running(WINDOWED) as relay:
            async with subscribe(subscribe_url(relay)) as ws:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)

    run(scenario())


def test_cursor_at_latest_waits_for_live_events():
    config = RelayConfig(synth=synth(live_events=3), rate=0)

    async def scenario():
        async with running(config) as relay:
            got = await collect(subscribe_url(relay, 600), until_seq=603)
            assert [f.seq for f in got] == [601, 602, 603]

    run(scenario())


def test_served_bytes_are_the_same_for_every_consumer_and_run():
    async def frames_once():
        async with running(WINDOWED) as relay:
            async with subscribe(subscribe_url(relay, 500)) as ws:
                return [await asyncio.wait_for(ws.recv(), 10) for _ in range(100)]

    first = run(frames_once())
    second = run(frames_once())
    assert first == second
    assert [frames.decode_frame(f).seq for f in first] == list(range(501, 601))
