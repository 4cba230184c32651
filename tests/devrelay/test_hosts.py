"""PDS hosts that rate limit, fail, stall and vanish, and accounts that end taken down, deactivated or deleted."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import httpx
import pytest

from supervisor.atproto import diddoc
from supervisor.atproto.car import CarError, read_car
from supervisor.devrelay import RelayConfig
from supervisor.devrelay.hosts import HostSettings, TokenBucket
from supervisor.devrelay.synth import SyntheticNetwork
from supervisor.devrelay.xrpc import CAR_TYPE

from .support import read_jsonl, run, running, synth

SYNC = "/xrpc/com.atproto.sync."


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` (a coroutine function) until it returns something true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await check()
        if got:
            return got
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def test_token_bucket_counts_and_headers():
    bucket = TokenBucket(2.0, now=100.0)
    results = [bucket.take(100.0) for _ in range(3)]
    assert [allowed for allowed, _ in results] == [True, True, False]
    assert [h["RateLimit-Remaining"] for _, h in results] == ["1", "0", "0"]
    assert all(h["RateLimit-Limit"] == "2" for _, h in results)
    assert "Retry-After" not in results[1][1] and results[2][1]["Retry-After"] == "1"
    assert int(results[2][1]["RateLimit-Reset"]) >= int(time.time())
    assert bucket.take(100.4)[0] is False  # 0.8 of a token
    assert bucket.take(100.6)[0] is True  # 1.2 tokens: one spent
    slow = TokenBucket(0.25, now=0.0)  # one request every 4 seconds
    assert slow.take(0.0)[0] is True
    allowed, headers = slow.take(1.0)
    assert not allowed and headers["Retry-After"] == "3" and headers["RateLimit-Limit"] == "1"


def test_a_rate_limited_host_answers_429_with_the_headers():
    config = RelayConfig(synth=synth(events=300, accounts=6), hosts=HostSettings(count=2, rate=3))

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=10) as client:
            host = relay.hosts[0]
            replies = [await client.get(host.url + SYNC + "listRepos") for _ in range(6)]
            other = await client.get(relay.hosts[1].url + SYNC + "listRepos")  # a bucket per host
            plain = await client.get(relay.http_url + SYNC + "listRepos")  # the relay is not limited
            wait = float(replies[-1].headers["Retry-After"])
            await asyncio.sleep(wait)
            after = await client.get(host.url + SYNC + "listRepos")
            health = (await client.get(host.url + "/xrpc/_health")).json()
            return replies, other, plain, after, health

    replies, other, plain, after, health = run(scenario())
    codes = [r.status_code for r in replies]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    limited = [r for r in replies if r.status_code == 429]
    for reply in limited:
        assert reply.json()["error"] == "RateLimitExceeded"
        assert reply.headers["RateLimit-Limit"] == "3" and reply.headers["RateLimit-Remaining"] == "0"
        assert int(reply.headers["Retry-After"]) >= 1 and int(reply.headers["RateLimit-Reset"]) > 0
    assert replies[0].headers["RateLimit-Remaining"] == "2"
    assert other.status_code == 200 and plain.status_code == 200 and "RateLimit-Limit" not in plain.headers
    assert after.status_code == 200
    assert health["rateLimited"] == len(limited) and health["requests"] == 8


def test_a_failing_host_fails_then_recovers():
    config = RelayConfig(
        synth=synth(events=300, accounts=6), hosts=HostSettings(count=2, failing=(2,), fault_seconds=2)
    )

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=5) as client:
            bad, good = relay.hosts[1], relay.hosts[0]
            outcomes = []
            for _ in range(4):
                try:
                    outcomes.append((await client.get(bad.url + SYNC + "listRepos")).status_code)
                except httpx.TransportError as exc:
                    outcomes.append(type(exc).__name__)
            healthy = (await client.get(good.url + SYNC + "listRepos")).status_code

            async def recovered() -> bool:
                try:
                    return (await client.get(bad.url + SYNC + "listRepos")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(recovered, "the failing host to recover")
            return outcomes, healthy

    outcomes, healthy = run(scenario())
    assert outcomes.count(500) == 2 and len([o for o in outcomes if isinstance(o, str)]) == 2, outcomes
    assert healthy == 200


def test_a_corrupting_host_serves_cars_that_do_not_check():
    config = RelayConfig(synth=synth(events=300, accounts=6), hosts=HostSettings(count=2, corrupting=(2,)))

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=10) as client:
            served = []
            for host in relay.hosts:
                listed = (await client.get(host.url + SYNC + "listRepos")).json()["repos"]
                did = next(r["did"] for r in listed if r.get("active", True))
                reply = await client.get(host.url + SYNC + "getRepo", params={"did": did})
                assert reply.status_code == 200 and reply.headers["content-type"] == CAR_TYPE
                served.append((reply.content, relay.state.export(did)))
            status = (await client.get(relay.hosts[1].url + SYNC + "listRepos")).status_code
            return served, status, relay.hosts[1].health()

    [(good, good_expected), (bad, bad_expected)], status, health = run(scenario())
    assert good == good_expected and read_car(good, verify=True)
    assert len(bad) == len(bad_expected) and bad != bad_expected and bad[:-1] == bad_expected[:-1]
    with pytest.raises(CarError, match="does not match its CID"):
        read_car(bad, verify=True)
    assert status == 200 and health["faulted"] == 1


def test_a_stalling_host_sends_nothing_then_serves():
    config = RelayConfig(
        synth=synth(events=300, accounts=6), hosts=HostSettings(count=2, stalling=(1,), fault_seconds=2)
    )

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient() as client:
            host = relay.hosts[0]
            with pytest.raises(httpx.ReadTimeout):
                await client.get(host.url + SYNC + "listRepos", timeout=httpx.Timeout(5, read=0.5))

            async def served() -> bool:
                try:
                    resp = await client.get(host.url + SYNC + "listRepos", timeout=httpx.Timeout(5, read=1))
                except httpx.ReadTimeout:
                    return False
                return resp.status_code == 200

            await wait_for(served, "the stalling host to serve")

    run(scenario())


def test_a_vanishing_host_stops_listening_and_goes_offline():
    config = RelayConfig(
        synth=synth(events=300, accounts=6), hosts=HostSettings(count=2, vanishing=(2,), fault_seconds=1.5)
    )

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=5) as client:
            host = relay.hosts[1]
            before = (await client.get(host.url + SYNC + "listRepos")).status_code
            listed = (await client.get(relay.http_url + SYNC + "listHosts")).json()["hosts"]

            async def gone() -> bool:
                try:
                    await client.get(host.url + SYNC + "listRepos")
                except httpx.ConnectError:
                    return True
                return False

            await wait_for(gone, "the host to vanish")
            later = (await client.get(relay.http_url + SYNC + "listHosts")).json()["hosts"]
            return before, host.hostname, listed, later

    before, name, listed, later = run(scenario())
    assert before == 200
    assert {h["hostname"]: h["status"] for h in listed}[name] == "active"
    assert {h["hostname"]: h["status"] for h in later}[name] == "offline"
    assert sum(h["status"] == "offline" for h in later) == 1


def test_accounts_taken_down_deactivated_and_deleted(tmp_path):
    network = synth(events=1200, accounts=24, takedown_every=3, deactivate_every=4, delete_every=5, live_events=300)
    config = RelayConfig(
        synth=network, truth_accounts=str(tmp_path / "accounts.jsonl"), hosts=HostSettings(count=2), rate=0
    )
    # the account numbers in order of birth: which status each ends with
    births = [
        e.did for e in SyntheticNetwork(network).events() if e.kind == "identity" and e.handle and "-" not in e.handle
    ]
    wanted = {did: network.final_status(number) for number, did in enumerate(dict.fromkeys(births))}
    # deleted: 5, 10, 15, 20; taken down: 3, 6, 9, 12, 18, 21, 24 (not 15); deactivated: 4, 8, 16
    assert sorted(s for s in wanted.values() if s) == sorted(["deleted"] * 4 + ["takendown"] * 7 + ["deactivated"] * 3)

    async def scenario():
        async with running(config) as relay, httpx.AsyncClient(timeout=10) as client:
            listed = {}
            for host in relay.hosts:
                for item in (await client.get(host.url + SYNC + "listRepos")).json()["repos"]:
                    listed[item["did"]] = (host.url, item)
            answers = {}
            for did, (url, _item) in listed.items():
                repo = await client.get(url + SYNC + "getRepo", params={"did": did})
                status = await client.get(url + SYNC + "getRepoStatus", params={"did": did})
                doc = await client.get(f"{relay.http_url}/{did}")
                answers[did] = (repo, status.json(), doc)
            return listed, answers

    listed, answers = run(scenario())
    errors = {"takendown": "RepoTakendown", "deactivated": "RepoDeactivated", "deleted": "RepoNotFound"}
    accounts = {row["did"]: row for row in read_jsonl(config.truth_accounts)}
    for did, (_url, item) in listed.items():
        repo, status, doc = answers[did]
        final = wanted[did]
        if final is None:  # active, or deactivated for a while by the network's own activity
            assert (repo.status_code == 200) == item["active"] == status["active"], (item, repo.text)
            continue
        assert item["active"] is False and item["status"] == final
        assert status["active"] is False and status["status"] == final
        assert repo.status_code == 400 and repo.json()["error"] == errors[final], (final, repo.text)
        assert accounts[did]["active"] is False and accounts[did]["status"] == final
        assert doc.status_code == (404 if final == "deleted" else 200)
        if final != "deleted":
            assert diddoc.pds_endpoint(doc.json()) == _url
