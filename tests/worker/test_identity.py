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
