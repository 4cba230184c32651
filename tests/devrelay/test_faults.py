"""Fault injection: dropped connections, stalls and malformed frames."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosedError

from supervisor.atproto import frames
from supervisor.atproto.errors import FrameError
from supervisor.devrelay import ConfigError, DevRelay, Faults, RelayConfig
from supervisor.devrelay.faults import MALFORMED_KINDS, malformed_frame

from .support import recv_decoded, run, running, subscribe, subscribe_url, synth


def config_with(**faults) -> RelayConfig:
    return RelayConfig(synth=synth(events=300), faults=Faults(**faults))


def test_drop_every_n_events_and_resume_with_the_cursor():
    async def scenario():
        async with running(config_with(drop_every=40)) as relay:
            seen: list[int] = []
            drops = 0
            while len(seen) < 300:
                cursor = seen[-1] if seen else 0
                async with subscribe(subscribe_url(relay, cursor)) as ws:
                    batch = []
                    try:
                        while True:
                            batch.append((await recv_decoded(ws)).seq)
                            if batch[-1] == 300:
                                break
                    except ConnectionClosedError as exc:
                        assert exc.rcvd is None  # dropped: no close frame
                        drops += 1
                    assert len(batch) == 40 or batch[-1] == 300
                    seen.extend(batch)
            return seen, drops

    seen, drops = run(scenario())
    assert seen == list(range(1, 301))
    assert drops == 7


def test_stall_every_n_events():
    async def scenario():
        async with running(config_with(stall_every=25, stall_seconds=0.8)) as relay:
            async with subscribe(subscribe_url(relay, 0)) as ws:
                stamps = []
                for _ in range(60):
                    frame = await recv_decoded(ws)
                    stamps.append((frame.seq, time.monotonic()))
            return stamps

    stamps = run(scenario())
    gaps = {seq: t - stamps[i - 1][1] for i, (seq, t) in enumerate(stamps) if i}
    assert gaps[26] >= 0.75 and gaps[51] >= 0.75
    assert [seq for seq, gap in gaps.items() if gap >= 0.75] == [26, 51]


def test_malformed_frames_fail_to_decode_and_sequence_continues():
    async def scenario():
        async with running(config_with(malformed_every=10)) as relay:
            async with subscribe(subscribe_url(relay, 0)) as ws:
                return [await asyncio.wait_for(ws.recv(), 10) for _ in range(55)]

    raw = run(scenario())
    outcome = []
    for data in raw:
        try:
            outcome.append(frames.decode_frame(data).seq)
        except FrameError:
            outcome.append("bad")
    expected = []
    for seq in range(1, 51):
        expected.append(seq)
        if seq % 10 == 0:
            expected.append("bad")
    assert outcome == expected


@pytest.mark.parametrize("number", range(len(MALFORMED_KINDS)))
def test_each_malformed_kind_is_rejected(number):
    with pytest.raises(FrameError):
        frames.decode_frame(malformed_frame(number))


@pytest.mark.parametrize(
    "faults, message",
    [
        ({"drop_every": -1}, "drop-every"),
        ({"stall_every": 5}, "stall-seconds"),
        ({"stall_seconds": -1.0}, "stall-seconds"),
    ],
)
def test_bad_fault_settings(faults, message):
    with pytest.raises(ConfigError, match=message):
        DevRelay(config_with(**faults))


def test_faults_schedule():
    faults = Faults(drop_every=6, stall_every=4, stall_seconds=1.5, malformed_every=3)
    assert not faults.after(1)
    assert faults.after(3).malformed and not faults.after(3).drop
    assert faults.after(4).stall_seconds == 1.5
    assert faults.after(12).malformed and faults.after(12).drop and faults.after(12).stall_seconds == 1.5
