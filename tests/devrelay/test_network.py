"""The relay as a network: PDS hosts on their own ports, listHosts, did:web, history older than the window."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from supervisor.atproto import dagcbor, diddoc, jsonfmt, mst, syntax
from supervisor.atproto.crypto import verify_commit_signature
from supervisor.atproto.repo import load_repo
from supervisor.devrelay import ConfigError, DevRelay, RelayConfig
from supervisor.devrelay.hosts import HostSettings
from supervisor.devrelay.truth import expected_records

from .support import NOW_US, collect, plain, read_jsonl, run, running, subscribe_url, synth

SYNC = "/xrpc/com.atproto.sync."


def car_records(did: str, data: bytes) -> dict[str, dict[str, Any]]:
    """uri -> {uri, cid, record} of a getRepo CAR (blocks hash-checked)."""
    loaded = load_repo(data, verify=True)
    assert loaded.commit.did == did
    out = {}
    for path, cid in mst.walk(loaded.blocks, loaded.commit.data):
        uri = f"at://{did}/{path}"
        out[uri] = {"uri": uri, "cid": str(cid), "record": jsonfmt.to_json(dagcbor.decode(loaded.blocks[cid]))}
    return out


async def list_all(client: httpx.AsyncClient, url: str, method: str, key: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a paginated sync listing, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = await client.get(url + SYNC + method, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items.extend(body[key])
        cursor = body.get("cursor")
        if not cursor:
            return items


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hosted")
    return RelayConfig(
        synth=synth(events=1500, accounts=24, days=10.0, did_web_every=6),
        retention_hours=48,
        truth=str(folder / "truth.jsonl"),
        truth_accounts=str(folder / "accounts.jsonl"),
        hosts=HostSettings(count=3, out=str(folder / "hosts.json")),
    )


def test_hosts_serve_exactly_their_own_accounts(hosted):
    async def scenario():
        async with running(hosted) as relay, httpx.AsyncClient(timeout=10) as client:
            written = json.loads(open(hosted.hosts.out, encoding="utf-8").read())
            listed = await list_all(client, relay.http_url, "listHosts", "hosts", 2)
            repos = {}
            for entry in written:
                repos[entry["hostname"]] = await list_all(client, entry["url"], "listRepos", "repos", 3)
            relay_repos = await list_all(client, relay.http_url, "listRepos", "repos", 7)
            cars = {}
            for entry in written:
                for item in repos[entry["hostname"]]:
                    if item["active"]:
                        resp = await client.get(entry["url"] + SYNC + "getRepo", params={"did": item["did"]})
                        assert resp.status_code == 200 and resp.headers["content-type"] == "application/vnd.ipld.car"
                        cars[item["did"]] = (entry, resp.content)
            # The relay's own getRepo still serves, the same bytes.
            did, (entry, data) = next(iter(cars.items()))
            same = await client.get(relay.http_url + SYNC + "getRepo", params={"did": did})
            other = next(e for e in written if e is not entry)
            elsewhere = await client.get(other["url"] + SYNC + "getRepo", params={"did": did})
            latest = await client.get(entry["url"] + SYNC + "getLatestCommit", params={"did": did})
            status = await client.get(entry["url"] + SYNC + "getRepoStatus", params={"did": did})
            docs = {}
            for item in relay_repos:
                d = item["did"]
                if d.startswith("did:plc:"):
                    docs[d] = (await client.get(f"{relay.http_url}/{d}")).json()
                else:
                    web_url = "http://" + syntax_host(d) + "/.well-known/did.json"
                    docs[d] = (await client.get(web_url)).json()
                    plc = await client.get(f"{relay.http_url}/{d}")
                    assert plc.status_code == 404  # a PLC directory knows no did:web
            return written, listed, repos, relay_repos, cars, (same, elsewhere, latest, status, data, did), docs

    written, listed, repos, relay_repos, cars, probes, docs = run(scenario())
    same, elsewhere, latest, status, data, did = probes
    # --hosts-out and listHosts describe the same hosts
    assert [set(e) for e in written] == [{"hostname", "url", "accounts"}] * len(written)
    assert len(written) == 3 + 24 // 6
    assert sorted(h["hostname"] for h in listed) == sorted(e["hostname"] for e in written)
    assert all(h["status"] == "active" and h["seq"] > 0 for h in listed)
    counts = {h["hostname"]: h["accountCount"] for h in listed}
    assert counts == {e["hostname"]: e["accounts"] for e in written} == {n: len(r) for n, r in repos.items()}
    # every account is on exactly one host, and the relay lists them all
    hosted_dids = [item["did"] for items in repos.values() for item in items]
    assert sorted(hosted_dids) == sorted(item["did"] for item in relay_repos)
    assert len(set(hosted_dids)) == len(hosted_dids) == 24
    # each did:web account alone on its host, named by it
    web = [e for e in written[3:]]
    for entry in web:
        (item,) = repos[entry["hostname"]]
        assert item["did"] == "did:web:" + entry["hostname"].replace(":", "%3A")
    # DID documents point at the account's own host and publish the key that signs its repository
    host_of = {item["did"]: e["url"] for e in written for item in repos[e["hostname"]]}
    assert len(docs) == 24
    for d, doc in docs.items():
        assert doc["id"] == d and diddoc.pds_endpoint(doc) == host_of[d]
    for d, (entry, car_bytes) in cars.items():
        loaded = load_repo(car_bytes, verify=True)
        assert verify_commit_signature(dagcbor.decode(loaded.blocks[loaded.commit.cid]), diddoc.atproto_key(docs[d])).ok
    # the truth is what the hosts serve
    truth: dict[str, dict[str, dict]] = {}
    for row in plain(read_jsonl(hosted.truth)):
        truth.setdefault(row["uri"].split("/")[2], {})[row["uri"]] = row
    for d, (_entry, car_bytes) in cars.items():
        assert car_records(d, car_bytes) == truth.get(d, {})
    assert same.status_code == 200 and same.content == data
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "RepoNotFound"
    assert latest.status_code == 200 and set(latest.json()) == {"cid", "rev"}
    assert status.json()["did"] == did and status.json()["active"] is True


def syntax_host(did: str) -> str:
    return did[len("did:web:") :].replace("%3A", ":")


def test_history_older_than_the_window_is_only_in_the_repositories(tmp_path):
    """30 days of history, 72 hours replayed: truth seq says which records only a crawl finds."""
    config = RelayConfig(
        synth=synth(events=3000, accounts=30, days=30.0, large_repo_records=300),
        retention_hours=72,
        truth=str(tmp_path / "truth.jsonl"),
        truth_accounts=str(tmp_path / "accounts.jsonl"),
        hosts=HostSettings(count=2),
    )

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=10) as client:
            frames_got = await collect(subscribe_url(relay, 0), until_seq=relay.log.latest_seq)
            cars = {}
            for host in relay.hosts:
                for item in await list_all(client, host.url, "listRepos", "repos", 50):
                    if item["active"]:
                        resp = await client.get(host.url + SYNC + "getRepo", params={"did": item["did"]})
                        cars[item["did"]] = resp.content
            return relay.replay_floor, frames_got, cars

    floor, got, cars = run(scenario())
    # the window: 72 hours back from the newest event (frame times are to the millisecond)
    window_start = parse(got[-1].time) - timedelta(hours=72, milliseconds=1)
    assert floor > 0 and got[0].seq == floor + 1  # cursor 0: the oldest kept, nothing older
    assert all(parse(f.time) >= window_start for f in got)
    truth = read_jsonl(config.truth)
    by_uri = {row["uri"]: row for row in truth}
    # every record written within the window carries the seq of its last write, as replayed
    writes: dict[str, tuple[int, str]] = {}
    for frame in got:
        for op in getattr(frame, "ops", ()):
            if op.action != "delete":
                writes[f"at://{frame.did}/{op.path}"] = (frame.seq, str(op.cid))
            else:
                writes.pop(f"at://{frame.did}/{op.path}", None)
    replayed = {uri: row for uri, row in by_uri.items() if row["seq"] is not None}
    assert {uri: (row["seq"], row["cid"]) for uri, row in replayed.items()} == {
        uri: value for uri, value in writes.items() if uri in by_uri
    }
    crawl_only = [row for row in truth if row["seq"] is None]
    assert len(crawl_only) > 1000 and len(replayed) > 50
    for row in truth:  # the time is the record key's (to the microsecond), else createdAt
        rkey = row["uri"].rsplit("/", 1)[1]
        if syntax.is_valid("tid", rkey):
            assert row["time"] == format_us(syntax.tid_time(rkey))
        else:
            assert parse(row["time"]) == parse(row["record"]["createdAt"])
    assert all(parse(row["time"]) < window_start for row in crawl_only)
    # ... and every crawl-only record is in its repository on its host
    served = {}
    for did, data in cars.items():
        served.update(car_records(did, data))
    accounts = read_jsonl(config.truth_accounts)
    active = {row["did"] for row in accounts if row["active"]}
    for row in crawl_only:
        if row["uri"].split("/")[2] in active:
            assert served[row["uri"]] == plain([row])[0]
    # the large repository: 300 records, none replayed, all from the first half of the history
    (large_did,) = [row["did"] for row in accounts if row["handle"] == "large.devrelay.test"]
    large = [row for row in truth if row["uri"].split("/")[2] == large_did]
    assert len(large) == 300 and all(row["seq"] is None for row in large)
    assert all(parse(row["time"]) < us(NOW_US - 15 * 86_400_000_000) for row in large)
    assert large_did in cars and len(car_records(large_did, cars[large_did])) == 300
    assert not any(getattr(f, "did", None) == large_did for f in got)


def us(time_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=time_us)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_us(time_us: Any) -> Any:
    return None if time_us is None else us(time_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_expected_records_rule():
    """time at or after the cutoff (and crawlable), or replayed whatever its time."""
    rows = [
        {"uri": "at://did:plc:a/app.bsky.feed.post/1", "time": "2025-01-05T00:00:00.000000Z", "seq": None},
        {"uri": "at://did:plc:a/app.bsky.feed.post/2", "time": "2025-01-01T00:00:00.000000Z", "seq": None},
        {"uri": "at://did:plc:a/app.bsky.feed.post/3", "time": "2025-01-01T00:00:00.000000Z", "seq": 7},
        {"uri": "at://did:plc:b/app.bsky.feed.post/4", "time": "2025-01-06T00:00:00.000000Z", "seq": None},
        {"uri": "at://did:plc:b/app.bsky.feed.post/5", "time": "2025-01-06T00:00:00.000000Z", "seq": 9},
        {"uri": "at://did:plc:a/app.bsky.feed.post/6", "time": None, "seq": None},
    ]
    cutoff = datetime(2025, 1, 3, tzinfo=timezone.utc)
    uris = lambda got: [row["uri"][-1] for row in got]  # noqa: E731
    assert uris(expected_records(rows, cutoff)) == ["1", "3", "4", "5"]
    accounts = [{"did": "did:plc:a", "active": True}, {"did": "did:plc:b", "active": False, "status": "takendown"}]
    assert uris(expected_records(rows, cutoff, accounts)) == ["1", "3", "5"]
    assert uris(expected_records(rows, None)) == ["1", "2", "3", "4", "5", "6"]
    assert uris(expected_records(rows, datetime(2025, 1, 5, tzinfo=timezone.utc))) == ["1", "3", "4", "5"]
    with pytest.raises(ValueError, match="timezone"):
        expected_records(rows, datetime(2025, 1, 3))


def test_host_settings_refused():
    for settings, words in [
        (HostSettings(rate=2), "need PDS hosts"),
        (HostSettings(count=2, failing=(3,)), "numbered 1 to 2"),
        (HostSettings(count=2, port=65535), "no room"),
        (HostSettings(count=1, fault_seconds=0), "host-fault-seconds"),
    ]:
        with pytest.raises(ConfigError, match=words):
            DevRelay(RelayConfig(synth=synth(events=10), hosts=settings))
    with pytest.raises(ConfigError, match="need PDS hosts"):
        DevRelay(RelayConfig(synth=synth(events=10, did_web_every=2)))


def test_the_large_repository_is_served_whole_and_signed():
    config = RelayConfig(synth=synth(events=300, accounts=6, large_repo_records=20_000), hosts=HostSettings(count=2))

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=60) as client:
            (did,) = [d for d, a in relay.state.accounts.items() if a.handle == "large.devrelay.test"]
            url = relay.pds_url(did)
            first = await client.get(url + SYNC + "getRepo", params={"did": did})
            again = await client.get(url + SYNC + "getRepo", params={"did": did})
            latest = (await client.get(url + SYNC + "getLatestCommit", params={"did": did})).json()
            listed = [r for r in await list_all(client, url, "listRepos", "repos", 100) if r["did"] == did]
            doc = (await client.get(f"{relay.http_url}/{did}")).json()
            return did, url, first, again, latest, listed, doc

    did, url, first, again, latest, listed, doc = run(scenario())
    assert first.status_code == 200 and first.content == again.content
    loaded = load_repo(first.content, verify=True)
    records = car_records(did, first.content)
    assert len(records) == 20_000
    assert {uri.split("/")[3] for uri in records} == {
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.graph.follow",
    }
    assert diddoc.pds_endpoint(doc) == url
    assert verify_commit_signature(dagcbor.decode(loaded.blocks[loaded.commit.cid]), diddoc.atproto_key(doc)).ok
    assert latest == {"cid": str(loaded.commit.cid), "rev": loaded.commit.rev}
    assert listed == [{"did": did, "head": str(loaded.commit.cid), "rev": loaded.commit.rev, "active": True}]
