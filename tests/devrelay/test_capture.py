"""Serving a capture file: frames verbatim, sequence numbers from the frames, bad files."""

from __future__ import annotations

import struct

import pytest

from supervisor.atproto import capture_io, frames
from supervisor.devrelay import CaptureFileError, DevRelay, RelayConfig
from supervisor.devrelay.capture import iter_frames, load_capture

from .support import NOW_US, collect, http_json, plain, read_jsonl, run, running, subscribe_url, synth

DATES = ["2025-01-01T00:00:00.000Z", "2025-01-01T01:00:00.000Z", "2025-01-01T05:00:00.000Z", "2025-01-01T06:00:00.000Z"]


@pytest.fixture(scope="module")
def synthetic_capture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("capture")
    config = RelayConfig(
        synth=synth(events=900), write_capture=str(folder / "net.capture"), truth=str(folder / "truth.jsonl")
    )
    DevRelay(config).prepare()
    return config


def write_frames(path, datas):
    with open(path, "wb") as out:
        for data in datas:
            capture_io.write_capture_frame(out, data)


def test_capture_is_served_verbatim(synthetic_capture, tmp_path):
    original = list(iter_frames(synthetic_capture.write_capture))
    config = RelayConfig(
        capture=synthetic_capture.write_capture, retention_hours=24 * 365, truth=str(tmp_path / "again.jsonl")
    )

    async def scenario():
        async with running(config) as relay:
            got = await collect(subscribe_url(relay, 0), until_seq=900)
            _s, listing = await http_json(relay.http_url + "/xrpc/com.atproto.sync.listRepos")
            return got, listing

    got, listing = run(scenario())
    assert [f.seq for f in got] == list(range(1, 901))
    assert got == [frames.decode_frame(data) for data in original]
    # the state folded from the capture is the synthetic network's state
    assert plain(read_jsonl(config.truth)) == plain(read_jsonl(synthetic_capture.truth))
    assert len(listing["repos"]) == 20


def test_capture_sequence_numbers_and_window_come_from_the_frames(tmp_path):
    path = tmp_path / "gaps.capture"
    write_frames(
        path,
        [
            frames.encode_identity(10, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", DATES[0], "a.test"),
            frames.encode_info("Hello"),  # not sequenced: skipped
            frames.encode_identity(20, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", DATES[1], "b.test"),
            frames.encode_account(30, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", DATES[2], False, "deactivated"),
            frames.encode_identity(40, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", DATES[3], "c.test"),
        ],
    )
    # A 2-hour window ending at the last frame keeps seq 30 and 40.
    config = RelayConfig(capture=str(path), retention_hours=2)

    async def scenario():
        async with running(config) as relay:
            assert relay.log.oldest_seq == 30 and relay.log.evicted_through == 20
            within = await collect(subscribe_url(relay, 25), count=2)
            outdated = await collect(subscribe_url(relay, 15), count=3)
            future = await collect(subscribe_url(relay, 41), count=1)
            return within, outdated, future

    within, outdated, future = run(scenario())
    assert [f.seq for f in within] == [30, 40]
    assert isinstance(outdated[0], frames.Info) and [f.seq for f in outdated[1:]] == [30, 40]
    assert future[0].error == "FutureCursor"


def test_capture_errors_name_the_file_and_frame(tmp_path):
    good = frames.encode_identity(5, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", DATES[0], "a.test")
    backwards = tmp_path / "backwards.capture"
    write_frames(backwards, [good, good])
    with pytest.raises(CaptureFileError, match=r"backwards.capture: frame 2 .*seq 5 does not increase"):
        load_capture(backwards)

    broken = tmp_path / "broken.capture"
    write_frames(broken, [good, b"\xa1\x61"])
    with pytest.raises(CaptureFileError, match=r"broken.capture: frame 2 \(byte \d+\)"):
        load_capture(broken)

    truncated = tmp_path / "truncated.capture"
    truncated.write_bytes(struct.pack("<I", len(good)) + good + struct.pack("<I", 100) + b"abc")
    with pytest.raises(CaptureFileError, match="truncated.capture: after frame 1: truncated"):
        load_capture(truncated)

    with pytest.raises(CaptureFileError, match="missing.capture"):
        DevRelay(RelayConfig(capture=str(tmp_path / "missing.capture"))).prepare()


def test_capture_times_drive_the_window(tmp_path):
    path = tmp_path / "times.capture"
    day = 86_400_000_000
    config = RelayConfig(synth=synth(events=400, days=4), write_capture=str(path), retention_hours=24)
    DevRelay(config).prepare()
    events = load_capture(path)
    assert events[-1].time_us <= NOW_US and events[0].time_us >= NOW_US - 4 * day
    served = DevRelay(RelayConfig(capture=str(path), retention_hours=24))
    served.prepare()
    assert all(e.time_us >= events[-1].time_us - day for e in served.log.read_after(0, 10_000)[0])
    assert served.log.evicted_through > 0
