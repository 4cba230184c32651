"""Keys, signatures and commit signatures: the interop vectors, round trips, forgeries."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supervisor.atproto import crypto, dagcbor
from supervisor.atproto.cid import CID, _b58_decode
from supervisor.atproto.crypto import (
    K256,
    P256,
    PrivateKey,
    PublicKey,
    parse_did_key,
    parse_legacy_multibase,
    parse_multikey,
    verify_commit_signature,
    verify_signature,
)
from supervisor.atproto.diddoc import atproto_key, atproto_key_multibase, pds_endpoint
from supervisor.atproto.errors import (
    AtprotoError,
    DidDocumentError,
    KeyFormatError,
    NoAtprotoKeyError,
    NoPdsEndpointError,
    SignatureError,
)
from supervisor.atproto.repo import make_commit, parse_commit

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text())


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


SIGNATURES = _load("signature-fixtures.json")
DIDKEY_K256 = _load("w3c_didkey_K256.json")
DIDKEY_P256 = _load("w3c_didkey_P256.json")


def test_the_vector_files_are_all_there():
    assert (len(SIGNATURES), len(DIDKEY_K256), len(DIDKEY_P256)) == (6, 5, 1)
    assert {tag for vector in SIGNATURES for tag in vector["tags"]} == {"high-s", "der-encoded"}


@pytest.mark.parametrize("vector", SIGNATURES, ids=[v["comment"] for v in SIGNATURES])
def test_signature_fixtures(vector):
    key = parse_did_key(vector["publicKeyDid"])
    assert key.curve.jwt_alg == vector["algorithm"]
    assert key.curve.legacy_suite == vector["didDocSuite"]
    assert key.did_key() == vector["publicKeyDid"]
    assert parse_legacy_multibase(vector["publicKeyMultibase"], key.curve) == key
    verdict = verify_signature(key, _b64(vector["messageBase64"]), _b64(vector["signatureBase64"]))
    assert verdict.ok is vector["validSignature"]
    if "high-s" in vector["tags"]:
        assert verdict.reason == crypto.SIGNATURE_HIGH_S
    if "der-encoded" in vector["tags"]:
        assert verdict.reason == crypto.SIGNATURE_FORMAT


@pytest.mark.parametrize("vector", DIDKEY_K256, ids=lambda v: v["publicDidKey"][-8:])
def test_w3c_did_key_k256(vector):
    key = PrivateKey.from_bytes("k256", bytes.fromhex(vector["privateKeyBytesHex"]))
    assert key.public_key.did_key() == vector["publicDidKey"]
    assert parse_did_key(vector["publicDidKey"]) == key.public_key


@pytest.mark.parametrize("vector", DIDKEY_P256, ids=lambda v: v["publicDidKey"][-8:])
def test_w3c_did_key_p256(vector):
    key = PrivateKey.from_bytes("p256", _b58_decode(vector["privateKeyBytesBase58"]))
    assert key.public_key.did_key() == vector["publicDidKey"]
    assert parse_did_key(vector["publicDidKey"]).curve is P256


def test_did_key_prefixes_name_the_curve():
    assert PrivateKey.generate(K256).public_key.did_key().startswith("did:key:zQ3s")
    assert PrivateKey.generate(P256).public_key.did_key().startswith("did:key:zDna")


@pytest.mark.parametrize(
    "text",
    [
        "did:web:example.com",
        "did:key:",
        "did:key:z",
        "did:key:Q3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # no multibase prefix
        "did:key:z0OIl",  # not base58
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # ed25519: not an atproto curve
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYB",  # truncated
        "did:key:z" + "2" * 200,
    ],
)
def test_malformed_did_keys_are_key_format_errors(text):
    with pytest.raises(KeyFormatError):
        parse_did_key(text)


def test_a_point_off_the_curve_is_refused():
    key = PrivateKey.generate(K256).public_key
    with pytest.raises(KeyFormatError):
        PublicKey(K256, b"\x02" + b"\xff" * 32)
    with pytest.raises(KeyFormatError):
        PublicKey(K256, b"\x05" + key.compressed[1:])
    with pytest.raises(KeyFormatError):
        parse_multikey("z" + crypto._b58_encode(b"\xe7\x01" + key.compressed + b"\x00"))
    with pytest.raises(KeyFormatError):
        PrivateKey.from_bytes(K256, b"\x00" * 32)


@pytest.mark.parametrize("curve", [K256, P256], ids=lambda c: c.name)
@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=300), seed=st.binary(min_size=32, max_size=32))
def test_sign_then_verify(curve, message, seed):
    assume(0 < int.from_bytes(seed, "big") < curve.order)
    key = PrivateKey.from_bytes(curve, seed)
    signature = key.sign(message)
    assert len(signature) == 64
    assert int.from_bytes(signature[32:], "big") <= curve.half_order
    assert verify_signature(key.public_key, message, signature).ok
    assert key.sign(message) == signature  # deterministic
    assert PrivateKey.from_bytes(curve, key.to_bytes()).public_key == key.public_key


@pytest.mark.parametrize("curve", [K256, P256], ids=lambda c: c.name)
def test_forgeries_are_typed_failures(curve):
    key = PrivateKey.generate(curve)
    message = b"commit bytes"
    signature = key.sign(message)
    for index in range(64):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        verdict = verify_signature(key.public_key, message, bytes(flipped))
        assert not verdict.ok and verdict.reason in (
            crypto.SIGNATURE_INVALID,
            crypto.SIGNATURE_HIGH_S,
            crypto.SIGNATURE_FORMAT,
        )
    other = PrivateKey.generate(curve).public_key
    assert verify_signature(other, message, signature).reason == crypto.SIGNATURE_INVALID
    assert verify_signature(key.public_key, message + b"!", signature).reason == crypto.SIGNATURE_INVALID
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    high = r + (curve.order - s).to_bytes(32, "big")
    assert verify_signature(key.public_key, message, high).reason == crypto.SIGNATURE_HIGH_S
    assert verify_signature(key.public_key, message, signature[:63]).reason == crypto.SIGNATURE_FORMAT
    assert verify_signature(key.public_key, message, b"\x00" * 64).reason == crypto.SIGNATURE_FORMAT
    with pytest.raises(SignatureError) as caught:
        crypto.check_signature(key.public_key, message, high)
    assert caught.value.reason == crypto.SIGNATURE_HIGH_S


def test_a_key_of_the_other_curve_does_not_verify():
    k256 = PrivateKey.from_bytes(K256, b"\x01" * 32)
    p256 = PrivateKey.from_bytes(P256, b"\x01" * 32)
    assert not verify_signature(p256.public_key, b"m", k256.sign(b"m")).ok


# -- commits ------------------------------------------------------------------------------------

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
DATA = CID.parse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")


@pytest.mark.parametrize("curve", [K256, P256], ids=lambda c: c.name)
def test_commit_signed_by_make_commit_verifies(curve):
    key = PrivateKey.generate(curve)
    cid, block = make_commit(DID, DATA, "3l6sjhvqonco2", sign=key.sign)
    commit = dagcbor.decode(block)
    assert parse_commit(cid, block).sig == commit["sig"]
    assert verify_commit_signature(commit, key.public_key).ok
    assert verify_commit_signature(commit, PrivateKey.generate(curve).public_key).reason == crypto.SIGNATURE_INVALID
    assert (
        verify_commit_signature({**commit, "rev": "3l6sjhvqonco3"}, key.public_key).reason == crypto.SIGNATURE_INVALID
    )
    assert verify_commit_signature({**commit, "sig": None}, key.public_key).reason == crypto.COMMIT_MALFORMED
    assert verify_commit_signature([commit], key.public_key).reason == crypto.COMMIT_MALFORMED


def test_sign_commit_covers_unknown_fields():
    key = PrivateKey.generate()
    commit = crypto.sign_commit(
        {"did": DID, "version": 3, "data": DATA, "rev": "3l6sjhvqonco2", "prev": None, "extra": "kept"}, key
    )
    assert verify_commit_signature(commit, key.public_key).ok
    assert not verify_commit_signature({k: v for k, v in commit.items() if k != "extra"}, key.public_key).ok


# -- DID documents ------------------------------------------------------------------------------


def _doc(key: PublicKey, **overrides) -> dict:
    doc = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID,
        "alsoKnownAs": ["at://alice.example.com"],
        "verificationMethod": [
            {"id": DID + "#atproto", "type": "Multikey", "controller": DID, "publicKeyMultibase": key.multikey()},
        ],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example.com"},
        ],
    }
    doc.update(overrides)
    return doc


def test_did_document_key_and_endpoint():
    key = PrivateKey.generate().public_key
    doc = _doc(key)
    assert atproto_key(doc) == key
    assert atproto_key_multibase(doc) == key.multikey()
    assert pds_endpoint(doc) == "https://pds.example.com"


@pytest.mark.parametrize("vector", SIGNATURES[:2], ids=["p256", "k256"])
def test_did_document_legacy_key_types(vector):
    method = {
        "id": "#atproto",
        "type": vector["didDocSuite"],
        "controller": DID,
        "publicKeyMultibase": vector["publicKeyMultibase"],
    }
    assert atproto_key(_doc(PrivateKey.generate().public_key, verificationMethod=[method])) == parse_did_key(
        vector["publicKeyDid"]
    )


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"verificationMethod": []}, NoAtprotoKeyError),
        ({"verificationMethod": [{"id": "#other", "type": "Multikey", "publicKeyMultibase": "z"}]}, NoAtprotoKeyError),
        ({"verificationMethod": "nope"}, DidDocumentError),
        ({"verificationMethod": [{"id": "#atproto", "type": "Multikey"}]}, DidDocumentError),
        (
            {"verificationMethod": [{"id": "#atproto", "type": "Multikey", "publicKeyMultibase": "zzz"}]},
            DidDocumentError,
        ),
        (
            {"verificationMethod": [{"id": "#atproto", "type": "Ed25519", "publicKeyMultibase": "z6Mk"}]},
            DidDocumentError,
        ),
        ({"id": 7}, DidDocumentError),
    ],
)
def test_did_document_key_errors(overrides, error):
    with pytest.raises(error):
        atproto_key(_doc(PrivateKey.generate().public_key, **overrides))


@pytest.mark.parametrize(
    "service, error",
    [
        ([], NoPdsEndpointError),
        (
            [{"id": "#atproto_labeler", "type": "AtprotoLabeler", "serviceEndpoint": "https://l.example"}],
            NoPdsEndpointError,
        ),
        ([{"id": "#atproto_pds", "type": "Other", "serviceEndpoint": "https://pds.example.com"}], DidDocumentError),
        ([{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer"}], DidDocumentError),
        ([{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "ftp://x"}], DidDocumentError),
        (
            [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://h:99999"}],
            DidDocumentError,
        ),
    ],
)
def test_did_document_endpoint_errors(service, error):
    with pytest.raises(error):
        pds_endpoint(_doc(PrivateKey.generate().public_key, service=service))
    assert issubclass(error, AtprotoError)


def test_not_a_document():
    with pytest.raises(DidDocumentError):
        atproto_key(["not", "a", "map"])
    with pytest.raises(DidDocumentError):
        pds_endpoint(None)


def test_k256_without_coincurve_verifies_the_same(monkeypatch):
    monkeypatch.setattr(crypto, "_coincurve", None)
    for vector in SIGNATURES:
        key = parse_did_key(vector["publicKeyDid"])
        verdict = verify_signature(key, _b64(vector["messageBase64"]), _b64(vector["signatureBase64"]))
        assert verdict.ok is vector["validSignature"]
    key = PrivateKey.generate(K256)
    assert verify_signature(key.public_key, b"m", key.sign(b"m")).ok
    assert (
        verify_signature(PrivateKey.generate(K256).public_key, b"m", key.sign(b"m")).reason == crypto.SIGNATURE_INVALID
    )
