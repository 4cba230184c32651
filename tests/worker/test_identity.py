"""The identity resolver against the devrelay's PLC directory: cache bounds, age, invalidation, errors."""

from __future__ import annotations

import asyncio

import pytest

from supervisor.atproto import crypto
from supervisor.devrelay import RelayConfig
from supervisor.devrelay.identity import account_key
from supervisor.worker.identity import IdentityError, IdentityResolver, did_document_url

from ..devrelay.support import run, running, synth


def test_resolves_caches_bounds_and_invalidates():
    async def go() -> None:
        async with running(RelayConfig(synth=synth())) as relay:
            dids = sorted(relay.state.accounts)[:5]
            resolver = IdentityResolver(relay.http_url, max_entries=3, max_age=3600)
            try:
                first = await resolver.resolve(dids[0])
                assert first.key == crypto.parse_multikey(account_key(7, dids[0]).multikey)
                assert first.pds == relay.http_url
                assert await resolver.resolve(dids[0]) is first and resolver.counts["hit"] == 1
                # concurrent look-ups of one DID share one request
                await asyncio.gather(*(resolver.resolve(dids[1]) for _ in range(5)))
                assert resolver.counts["resolved"] == 2
                for did in dids[2:]:
                    await resolver.resolve(did)
                assert resolver.cached(dids[0]) is None and resolver.cached(dids[4]) is not None  # at most 3
                resolver.invalidate(dids[4])
                assert resolver.cached(dids[4]) is None
                resolver.max_age = 0.0
                await asyncio.sleep(0.01)
                assert resolver.cached(dids[3]) is None  # too old
                with pytest.raises(IdentityError) as caught:
                    await resolver.resolve("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
                assert caught.value.reason == "not_found"
            finally:
                await resolver.close()

    run(go())


def test_unreachable_directory_is_a_typed_error():
    async def go() -> None:
        resolver = IdentityResolver("http://127.0.0.1:9", timeout=2)
        try:
            with pytest.raises(IdentityError) as caught:
                await resolver.resolve("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
            assert caught.value.reason == "unreachable"
        finally:
            await resolver.close()

    run(go())


def test_document_urls():
    assert did_document_url("did:plc:abc", "https://plc.directory/") == "https://plc.directory/did:plc:abc"
    assert did_document_url("did:web:example.com", "x") == "https://example.com/.well-known/did.json"
    assert did_document_url("did:web:localhost%3A8080", "x") == "http://localhost:8080/.well-known/did.json"
    for bad in ("did:web:example.com:user:alice", "did:key:zQ3s", "did:web:"):
        with pytest.raises(IdentityError):
            did_document_url(bad, "x")


def test_key_history_from_the_directorys_audit_log():
    """After rotations, the document has the newest key only; the audit log has every key and when
    it took effect, and the key in force at a commit's revision is the one that signed it."""
    from supervisor.atproto import syntax
    from supervisor.worker.verifier import _keys_at

    async def go() -> None:
        async with running(RelayConfig(synth=synth(key_rotations=6.0))) as relay:
            rotated = {did: acct for did, acct in relay.state.accounts.items() if acct.key_gen >= 2}
            assert rotated, "the network has no account that rotated twice"
            resolver = IdentityResolver(relay.http_url)
            try:
                for did, acct in sorted(rotated.items())[:3]:
                    history = await resolver.key_history(did)
                    keys = [crypto.parse_multikey(account_key(7, did, gen).multikey) for gen in range(acct.key_gen + 1)]
                    assert [key for _since, key in history] == keys
                    assert [since // 1000 for since, _key in history[1:]] == [t // 1000 for t in acct.key_times]
                    assert (await resolver.resolve(did)).key == keys[-1]
                    assert resolver.cached_history(did) == history
                    # a revision just before the second rotation: generation 1 first
                    before = syntax.tid_from_time(acct.key_times[1] - 10_000_000, 0)
                    assert _keys_at(history, before)[0] == keys[1]
                    assert _keys_at(history, syntax.tid_from_time(acct.key_times[1] + 10_000_000, 0)) == [keys[2]]
                with pytest.raises(IdentityError) as caught:
                    await resolver.key_history("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
                assert caught.value.reason == "unavailable"
                with pytest.raises(IdentityError):
                    await resolver.key_history("did:web:example.com")
            finally:
                await resolver.close()

    run(go())


@pytest.mark.parametrize(
    "log, message",
    [
        ({"not": "a list"}, "not a list"),
        ([{"did": "did:plc:other", "operation": {}, "createdAt": "2026-01-01T00:00:00Z"}], "not this DID's"),
        ([{"did": "did:plc:x", "createdAt": "2026-01-01T00:00:00Z"}], "no operation"),
        (
            [{"did": "did:plc:x", "operation": {"verificationMethods": {"atproto": "did:key:zBad"}}, "createdAt": "x"}],
            "malformed",
        ),
    ],
)
def test_a_malformed_audit_log_is_refused(log, message):
    from supervisor.worker.identity import parse_key_history

    with pytest.raises(ValueError, match=message):
        parse_key_history("did:plc:x", log)


def test_nullified_and_keyless_operations_are_left_out():
    from supervisor.worker.identity import parse_key_history

    key = account_key(7, "did:plc:x").multikey
    log = [
        {
            "did": "did:plc:x",
            "operation": {"type": "create", "signingKey": "did:key:" + key},
            "createdAt": "2026-01-01T00:00:00.000Z",
        },
        {"did": "did:plc:x", "operation": {"verificationMethods": {}}, "createdAt": "2026-01-02T00:00:00Z"},
        {
            "did": "did:plc:x",
            "nullified": True,
            "operation": {"verificationMethods": {"atproto": "did:key:zBad"}},
            "createdAt": "2026-01-03T00:00:00Z",
        },
    ]
    ((since, parsed),) = parse_key_history("did:plc:x", log)
    assert since == 1767225600 * 1_000_000 and parsed == crypto.parse_multikey(key)


def test_an_identity_event_reads_the_document_again_unless_a_look_up_began_after_it_arrived():
    """A new account's first #identity: the reader's prefetch starts the one look-up, and the
    decoder's refresh for the event is not needed; a later #identity (a handle change) reads it again."""
    from typing import Any, cast

    from supervisor.atproto.frames import decode_frame, encode_identity
    from supervisor.worker.metrics import WorkerMetrics
    from supervisor.worker.verifier import ACCEPT, Verifier

    async def go() -> tuple[int, int, int]:
        async with running(RelayConfig(synth=synth())) as relay:
            did = sorted(relay.state.accounts)[0]
            resolver = IdentityResolver(relay.http_url)
            verifier = Verifier("signatures", resolver, cast(Any, None), WorkerMetrics())

            async def arrives(seq: int) -> None:
                data = encode_identity(seq, did, "2025-01-01T00:00:00.000Z")
                verifier.prefetch(data)  # the reader, as the frame is queued
                await asyncio.sleep(0.05)  # (queued behind other frames)
                assert await verifier.check(decode_frame(data)) == ACCEPT
                await asyncio.gather(*resolver._refreshing, *verifier._prefetching)

            try:
                await arrives(1)
                first = resolver.counts["resolved"]
                await arrives(2)  # cached now: the event may say the document changed
                again = resolver.counts["resolved"]
                resolver.refresh(did)  # without an arrival time: always read
                await asyncio.gather(*resolver._refreshing)
                return first, again, resolver.counts["resolved"]
            finally:
                await resolver.close()

    assert run(go()) == (1, 2, 3)
