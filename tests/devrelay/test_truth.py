"""``--truth`` is the fold of every frame: history and live, from the capture or the socket."""

from __future__ import annotations

from supervisor.atproto import frames
from supervisor.devrelay import DevRelay, RelayConfig
from supervisor.devrelay.capture import iter_frames

from .support import collect, fold, fold_accounts, plain, read_jsonl, run, running, subscribe_url, synth


def test_truth_is_the_fold_of_the_written_capture(tmp_path):
    config = RelayConfig(
        synth=synth(events=3000, accounts=40, live_events=700),
        retention_hours=12,
        truth=str(tmp_path / "truth.jsonl"),
        truth_accounts=str(tmp_path / "accounts.jsonl"),
        write_capture=str(tmp_path / "all.capture"),
    )
    relay = DevRelay(config)
    relay.prepare()
    decoded = [frames.decode_frame(data) for data in iter_frames(config.write_capture)]
    assert [f.seq for f in decoded] == list(range(1, 3701))  # history and live, in order
    truth = read_jsonl(config.truth)
    assert [row["uri"] for row in truth] == sorted(row["uri"] for row in truth)
    assert {row["uri"]: row for row in plain(truth)} == fold(decoded)
    assert len(truth) > 1000
    accounts = read_jsonl(config.truth_accounts)
    assert {row["did"]: row for row in accounts} == fold_accounts(decoded)
    assert any(not row["active"] for row in accounts)


def test_truth_is_the_fold_of_the_stream(tmp_path):
    """With a window that keeps everything, cursor 0 replays history, then live events follow."""
    config = RelayConfig(
        synth=synth(events=1500, live_events=500), retention_hours=24 * 30, rate=0, truth=str(tmp_path / "truth.jsonl")
    )

    async def scenario():
        async with running(config) as relay:
            return await collect(subscribe_url(relay, 0), until_seq=2000)

    got = run(scenario())
    assert [f.seq for f in got] == list(range(1, 2001))
    assert fold(got) == {row["uri"]: row for row in plain(read_jsonl(config.truth))}


def test_truth_without_live_events_matches_the_served_state(tmp_path):
    config = RelayConfig(synth=synth(events=800), truth=str(tmp_path / "t.jsonl"))
    relay = DevRelay(config)
    relay.prepare()
    assert relay.state.record_count() == len(read_jsonl(config.truth)) == relay.final_state.record_count()


def test_served_state_before_live_events_is_the_history(tmp_path):
    """Until live events are released, listRepos/getRepo serve exactly the history."""
    # accounts are still being created when the history ends (a creation is three events)
    config = RelayConfig(
        synth=synth(events=901, accounts=400, live_events=300), write_capture=str(tmp_path / "all.capture")
    )
    relay = DevRelay(config)
    relay.prepare()
    decoded = [frames.decode_frame(data) for data in iter_frames(config.write_capture)]
    history = fold(decoded[:901])
    served = {
        f"at://{did}/{path}": str(cid)
        for did, acct in relay.state.accounts.items()
        for path, (cid, _record) in acct.records.items()
    }
    assert served == {uri: row["cid"] for uri, row in history.items()}
    assert set(relay.state.accounts) == set(fold_accounts(decoded[:901]))
