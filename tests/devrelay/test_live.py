"""Live emission after the history: rate, as-fast-as-read, idling, and slow consumers."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed

from supervisor.atproto import frames
from supervisor.devrelay import DevRelay, RelayConfig

from .support import collect, http_json, recv_decoded, run, running, subscribe, subscribe_url, synth


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


async def _raw_frames(relay: DevRelay, count: int) -> list[bytes]:
    """The first ``count`` frames of a subscription from the oldest event, as sent."""
    out: list[bytes] = []
    async with subscribe(subscribe_url(relay, 0)) as ws:
        while len(out) < count:
            data = await asyncio.wait_for(ws.recv(), 20)
            assert isinstance(data, bytes)
            out.append(data)
    return out


def test_lazy_live_events_are_the_eager_ones(tmp_path):
    """Without truth or capture files, live events are generated as they are sequenced: the same bytes."""
    network = synth(events=150, live_events=400)
    eager_config = RelayConfig(synth=network, rate=0, truth=str(tmp_path / "truth.jsonl"))
    lazy_config = RelayConfig(synth=network, rate=0)
    assert eager_config.needs_all_live and not lazy_config.needs_all_live

    async def scenario():
        async with running(eager_config) as eager:
            assert eager.live_generated == 400 and len(eager.live) == 400
            eager_frames = await _raw_frames(eager, 550)
        async with running(lazy_config) as lazy:
            assert lazy.live == [] and lazy.live_total == 400
            lazy_frames = await _raw_frames(lazy, 550)
            assert lazy.finished and lazy.live_generated == 400
            assert lazy.state.record_count() == lazy.final_state.record_count() == eager.final_state.record_count()
        return eager_frames, lazy_frames

    eager_frames, lazy_frames = run(scenario())
    assert [frames.decode_frame(f).seq for f in lazy_frames] == list(range(1, 551))
    assert lazy_frames == eager_frames


def test_lazy_relay_listens_before_generating_the_live_events():
    config = RelayConfig(synth=synth(events=100, live_events=100_000, sign=False), rate=0)

    async def scenario():
        async with running(config) as relay:
            # Listening and answering, not one live event made yet (no consumer has asked).
            status, repos = await http_json(relay.http_url + "/xrpc/com.atproto.sync.listRepos")
            assert status == 200 and repos["repos"]
            assert relay.live_generated == 0 and relay.live_total == 100_000
            async with subscribe(subscribe_url(relay, 100)) as ws:
                seqs = [(await recv_decoded(ws)).seq for _ in range(100)]
            assert seqs == list(range(101, 201))
            # Made as they are asked for, at most two batches (of 64) ahead of those released.
            assert 100 <= relay.released <= relay.live_generated <= relay.released + 128 < 100_000

    run(scenario())


def test_lazy_relay_stopped_mid_stream_loses_no_event():
    """Stopping while a batch is being generated keeps it: started again, the sequence has no gap."""
    config = RelayConfig(synth=synth(events=50, live_events=5_000, sign=False), rate=0)

    async def scenario():
        relay = DevRelay(config)
        await relay.start("127.0.0.1", 0)
        try:
            async with subscribe(subscribe_url(relay, 50)) as ws:
                for _ in range(200):
                    await recv_decoded(ws)
                await relay.stop()  # a consumer still reading, the next batch on its way
        finally:
            await relay.stop()
        released = relay.released
        await relay.start("127.0.0.1", 0)
        try:
            seqs = [f.seq for f in await collect(subscribe_url(relay, 50), until_seq=5_050)]
        finally:
            await relay.stop()
        assert 200 <= released < 5_000, released
        assert seqs == list(range(51, 5_051))

    run(scenario())
