"""The devrelay as a small signed network: DID documents, signed sync 1.1 commits, signed getRepo, tampering."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from supervisor.atproto import dagcbor, diddoc, frames
from supervisor.atproto.crypto import verify_commit_signature
from supervisor.atproto.repo import load_repo
from supervisor.atproto.verify import verify_commit_event, verify_sync_event
from supervisor.devrelay import DevRelay, RelayConfig
from supervisor.devrelay.faults import Faults, tamper
from supervisor.devrelay.synth import SyntheticNetwork

from .support import run, running, synth


def _read(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


async def _get(url: str) -> bytes:
    return await asyncio.to_thread(_read, url)  # the relay answers from this event loop


def test_every_commit_verifies_under_the_published_key_and_get_repo_is_signed():
    async def go() -> None:
        async with running(RelayConfig(synth=synth())) as relay:
            keys = {}
            for did in relay.state.accounts:
                doc = json.loads(await _get(f"{relay.http_url}/{did}"))
                keys[did] = diddoc.atproto_key(doc)
                assert diddoc.pds_endpoint(doc) == relay.http_url
            checked = 0
            for event in relay.log.read_after(0, 10_000)[0]:
                if event.kind == "commit":
                    frame = frames.decode_frame(event.encoded())
                    result = verify_commit_event(frame, keys[frame.did])
                    assert result.ok, result.verdict
                    assert frame.prev_data is not None or frame.since is None
                    checked += 1
            assert checked > 300
            did = next(iter(relay.state.accounts))
            repo = load_repo(await _get(f"{relay.http_url}/xrpc/com.atproto.sync.getRepo?did={did}"), verify=True)
            assert verify_commit_signature(dagcbor.decode(repo.blocks[repo.commit.cid]), keys[did]).ok

    run(go())


def test_the_relay_names_itself_as_the_pds_by_the_address_the_client_reached():
    # In a compose network the relay listens on 0.0.0.0 and is reached as relay:2470: the DID
    # document must name the address that works for the client, not the one it listens on.
    def read_as(url: str, host: str) -> bytes:
        request = urllib.request.Request(url, headers={"Host": host})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.read()

    async def go() -> None:
        async with running(RelayConfig(synth=synth())) as relay:
            did = next(iter(relay.state.accounts))
            url = f"{relay.http_url}/{did}"
            doc = json.loads(await asyncio.to_thread(read_as, url, f"relay:{relay.port}"))
            assert diddoc.pds_endpoint(doc) == f"http://relay:{relay.port}"
            doc = json.loads(await asyncio.to_thread(read_as, url, "bad host/with a path"))
            assert diddoc.pds_endpoint(doc) == relay.http_url

    run(go())


def test_an_unknown_did_has_no_document():
    async def go() -> None:
        async with running(RelayConfig(synth=synth())) as relay:
            with pytest.raises(urllib.error.HTTPError) as caught:
                await _get(f"{relay.http_url}/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
            assert caught.value.code == 404

    run(go())


def test_a_rotation_changes_the_key_that_signs_later_commits():
    network = SyntheticNetwork(synth(key_rotations=30.0, events=800))
    from supervisor.atproto.crypto import parse_multikey
    from supervisor.devrelay.identity import account_key

    generation: dict[str, int] = {}
    rotated = 0
    for event in network.events():
        if event.key_gen is not None:
            generation[event.did] = event.key_gen
            rotated += 1
        elif event.kind == "commit":
            frame = frames.decode_frame(event.encoded())
            now = parse_multikey(account_key(7, event.did, generation.get(event.did, 0)).multikey)
            assert verify_commit_event(frame, now).ok
            if generation.get(event.did):
                old = parse_multikey(account_key(7, event.did, 0).multikey)
                assert verify_commit_event(frame, old).verdict.reason == "signature_invalid"
    assert rotated >= 5


@pytest.mark.parametrize(
    "kind, reason",
    [("forge", "signature_invalid"), ("bad-prev-data", "proof_prev_data"), ("missing-block", "proof_missing_block")],
)
def test_tampered_commits_fail_verification(kind, reason):
    relay = DevRelay(RelayConfig(synth=synth(), faults=Faults(forge_every=3)))
    relay.prepare()
    from supervisor.atproto.crypto import parse_multikey
    from supervisor.devrelay.identity import account_key

    commits = [e for e in relay.log.read_after(0, 10_000)[0] if e.kind == "commit"][20:40]
    for event in commits:
        key = parse_multikey(account_key(7, event.did, 0).multikey)
        frame = frames.decode_frame(tamper(event.encoded(), kind))
        assert verify_commit_event(frame, key).verdict.reason == reason
        if kind == "forge":
            assert any(op.path.endswith(f"forged{event.seq}") for op in frame.ops)
    # A #sync of the same commit verifies; a skipped commit is not sent.
    event = commits[0]
    sync = frames.decode_frame(tamper(event.encoded(), "sync"))
    assert sync.type == "#sync" and verify_sync_event(sync, parse_multikey(account_key(7, event.did, 0).multikey)).ok
    assert tamper(event.encoded(), "skip") is None
    assert Faults(skip_every=5, forge_every=3).tamper_kind(15) == "skip"
    assert Faults(skip_every=5, forge_every=3).tamper_kind(9) == "forge"
    assert Faults(skip_every=5).tamper_kind(7) is None
