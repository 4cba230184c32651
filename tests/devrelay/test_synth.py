"""The synthetic network: determinism, valid identifiers and records, realistic mix, speed."""

from __future__ import annotations

import collections
import itertools

import pytest

from supervisor.atproto import dagcbor, syntax
from supervisor.atproto.cid import CID, RAW
from supervisor.devrelay import ConfigError, SynthConfig, SyntheticNetwork
from supervisor.devrelay.events import ACCOUNT, COMMIT, IDENTITY, format_time, parse_time

from .support import NOW_US, synth

DAY = 86_400_000_000


def frames_of(config: SynthConfig, limit: int | None = None) -> list[bytes]:
    events = SyntheticNetwork(config).events()
    return [event.encoded() for event in itertools.islice(events, limit)]


def test_same_seed_same_frames():
    config = synth(events=400, live_events=100)
    assert frames_of(config) == frames_of(config)


def test_other_seed_other_frames():
    assert frames_of(synth(seed=1), 50) != frames_of(synth(seed=2), 50)


def test_sequence_and_time():
    config = synth(events=500, live_events=50, live_step_us=2_000)
    events = list(SyntheticNetwork(config).events())
    assert [e.seq for e in events] == list(range(1, 551))
    times = [e.time_us for e in events]
    assert all(a < b for a, b in zip(times, times[1:]))
    history, live = events[:500], events[500:]
    assert NOW_US - 3 * DAY <= history[0].time_us < NOW_US - 2 * DAY  # starts near the far end
    assert NOW_US - DAY / 10 < history[-1].time_us <= NOW_US  # and ends at "now"
    assert [e.time_us - NOW_US for e in live[:3]] == [2_000, 4_000, 6_000]


def test_identifiers_and_record_shapes():
    network = SyntheticNetwork(synth(events=3000, accounts=40))
    last_rev: dict[str, str] = {}
    handles = set()
    for event in network.events():
        assert syntax.is_valid("did", event.did) and event.did.startswith("did:plc:")
        assert len(event.did) == len("did:plc:") + 24
        assert syntax.is_valid("datetime", format_time(event.time_us))
        if event.kind == IDENTITY:
            assert syntax.is_valid("handle", event.handle)
            handles.add(event.handle)
        if event.kind != COMMIT:
            continue
        assert syntax.is_valid("tid", event.rev) and syntax.tid_time(event.rev) == event.time_us
        assert event.since == last_rev.get(event.did)
        last_rev[event.did] = event.rev
        for action, path, cid, record in event.ops:
            collection, rkey = path.split("/")
            assert syntax.is_valid("nsid", collection)
            if collection == "app.bsky.actor.profile":
                assert rkey == "self"
            else:
                assert syntax.is_valid("tid", rkey)
                if action == "create":
                    assert syntax.tid_time(rkey) == event.time_us
            if action == "delete":
                assert cid is None and record is None
                continue
            assert record["$type"] == collection
            assert cid == CID.for_block(dagcbor.encode(record))
            assert syntax.is_valid("datetime", record["createdAt"])
            if action == "create":
                assert parse_time(record["createdAt"]) // 1000 == event.time_us // 1000
    assert len(handles) >= 40


def test_references_point_at_existing_records():
    """Replies, quotes, likes and reposts refer to posts that exist, with their current CID."""
    network = SyntheticNetwork(synth(events=4000, accounts=30))
    current: dict[str, str] = {}
    checked = collections.Counter()

    def check(ref: dict[str, str], what: str) -> None:
        assert current.get(ref["uri"]) == ref["cid"], f"{what} refers to a missing or stale post"
        checked[what] += 1

    for event in network.events():
        if event.kind != COMMIT:
            continue
        ops = list(event.ops)
        for action, path, cid, record in ops:
            uri = f"at://{event.did}/{path}"
            if action == "delete":
                current.pop(uri, None)
                continue
            if record["$type"] == "app.bsky.feed.post" and action == "create":
                reply = record.get("reply")
                if reply:
                    check(reply["parent"], "reply parent")
                    if reply["root"]["uri"] in current:  # a root may have been edited since
                        checked["reply root"] += 1
                embed = record.get("embed") or {}
                if embed.get("$type") == "app.bsky.embed.record":
                    check(embed["record"], "quote")
                if embed.get("$type") == "app.bsky.embed.images":
                    for image in embed["images"]:
                        assert image["image"]["$type"] == "blob"
                        assert image["image"]["ref"].codec == RAW
                        checked["image"] += 1
            elif record["$type"] in ("app.bsky.feed.like", "app.bsky.feed.repost") and action == "create":
                check(record["subject"], record["$type"])
            elif record["$type"] in ("app.bsky.graph.follow", "app.bsky.graph.block"):
                assert syntax.is_valid("did", record["subject"]) and record["subject"] != event.did
            current[uri] = str(cid)
    for what in ("reply parent", "reply root", "quote", "image", "app.bsky.feed.like", "app.bsky.feed.repost"):
        assert checked[what] > 0, what


def test_realistic_mix():
    counts: collections.Counter[str] = collections.Counter()
    for event in SyntheticNetwork(synth(events=8000, accounts=50)).events():
        if event.kind == COMMIT:
            for action, path, _cid, _record in event.ops:
                counts[f"{action} {path.split('/')[0].rsplit('.', 1)[-1]}"] += 1
        elif event.kind == ACCOUNT:
            counts["account " + ("active" if event.active else "deactivated")] += 1
        else:
            counts[event.kind] += 1
    assert counts["create like"] > counts["create post"] > counts["create block"]
    assert counts["create post"] > 0.5 * counts["create repost"] > 0
    assert counts["create follow"] > counts["create block"] > 0
    for kind in (
        "update profile",
        "update post",
        "delete post",
        "delete like",
        "delete follow",
        "account deactivated",
        "identity",
    ):
        assert counts[kind] > 0, kind
    # every account was created (identity + active account event) and later reactivations happen
    assert counts["account active"] > 50


def test_final_state_matches_the_events():
    network = SyntheticNetwork(synth(events=1500))
    records: dict[str, str] = {}
    for event in network.events():
        for action, path, cid, _record in event.ops:
            key = f"{event.did}/{path}"
            if action == "delete":
                records.pop(key, None)
            else:
                records[key] = str(cid)
    state = {
        f"{did}/{path}": str(cid)
        for did, acct in network.state.accounts.items()
        for path, (cid, _r) in acct.records.items()
    }
    assert state == records


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"accounts": 0}, "accounts"),
        ({"events": -1}, "negative"),
        ({"days": 0}, "days"),
        ({"now_us": 1_000}, "1970"),
    ],
)
def test_bad_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticNetwork(synth(**overrides))


def test_hundred_thousand_events():
    # How fast is a benchmark's business; here: the count is exact at that size.
    count = sum(1 for _ in SyntheticNetwork(synth(events=100_000, accounts=1000, days=7)).events())
    assert count == 100_000
