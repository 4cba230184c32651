"""Live emission after the history: rate, as-fast-as-read, idling, and slow consumers."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed

from supervisor.atproto import frames
from supervisor.devrelay import RelayConfig

from .support import http_json, recv_decoded, run, running, subscribe, subscribe_url, synth


def test_rate_is_roughly_honoured():
    config = RelayConfig(synth=synth(events=200, live_events=60), rate=40)

    async def scenario():
        async with running(config) as relay:
            started = time.monotonic()  # emission began just before this
            async with subscribe(subscribe_url(relay, 200)) as ws:
                seqs = [(await recv_decoded(ws)).seq for _ in range(60)]
                elapsed = time.monotonic() - started
        assert seqs == list(range(201, 261))
        # The 60th event is due 59/40 = 1.475 s after emission began: not a burst.  (A busy machine
        # only makes it later, so there is no upper bound to assert.)
        assert elapsed > 1.3, elapsed

    run(scenario())


def test_rate_zero_goes_as_fast_as_the_consumer_then_idles():
    config = RelayConfig(synth=synth(events=100, live_events=2000), rate=0)

    async def scenario():
        async with running(config) as relay:
            async with subscribe(subscribe_url(relay)) as ws:
                seqs = [(await recv_decoded(ws)).seq for _ in range(2000)]
                assert seqs == list(range(101, 2101))
                assert relay.finished
                # then the connection stays open with nothing to send
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)
                assert ws.close_code is None

    run(scenario())


def test_rate_zero_emits_nothing_without_consumers():
    config = RelayConfig(synth=synth(events=100, live_events=50), rate=0)

    async def scenario():
        async with running(config) as relay:
            await asyncio.sleep(0.3)
            assert relay.released == 0 and relay.log.latest_seq == 100

    run(scenario())


def test_served_state_follows_live_events():
    config = RelayConfig(synth=synth(events=100, live_events=300), rate=0)

    async def scenario():
        async with running(config) as relay:
            _status, before = await http_json(relay.http_url + "/xrpc/com.atproto.sync.listRepos")
            async with subscribe(subscribe_url(relay)) as ws:
                for _ in range(300):
                    await recv_decoded(ws)
            _status, after = await http_json(relay.http_url + "/xrpc/com.atproto.sync.listRepos")
        revs_before = {r["did"]: r["rev"] for r in before["repos"]}
        revs_after = {r["did"]: r["rev"] for r in after["repos"]}
        changed = [did for did in revs_after if revs_before.get(did) != revs_after[did]]
        assert changed and all(revs_after[did] > revs_before.get(did, "") for did in changed)
        assert relay.state.record_count() == relay.final_state.record_count()

    run(scenario())


def test_consumer_too_slow_past_the_buffer():
    """A consumer that stops reading gets ConsumerTooSlow once its backlog passes the buffer."""
    config = RelayConfig(synth=synth(events=100, live_events=10_000), rate=4000, buffer=200)

    async def scenario():
        async with running(config) as relay:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", relay.port))
            sock.setblocking(False)
            async with subscribe(subscribe_url(relay, 100), sock=sock, max_queue=1) as ws:
                await asyncio.sleep(2.5)  # not reading while live events pile up
                received = []
                with pytest.raises(ConnectionClosed):
                    while True:
                        received.append(frames.decode_frame(await asyncio.wait_for(ws.recv(), 10)))
            last = received[-1]
            assert isinstance(last, frames.ErrorFrame) and last.error == "ConsumerTooSlow"
            seqs = [f.seq for f in received[:-1]]
            assert seqs == list(range(101, 101 + len(seqs)))  # no gaps before the error
            assert len(seqs) < 10_000
            # the relay goes on serving consumers that read
            async with subscribe(subscribe_url(relay, 200)) as ws:
                assert (await recv_decoded(ws)).seq == 201

    run(scenario())
