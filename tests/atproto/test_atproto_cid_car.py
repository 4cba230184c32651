"""CIDs, varints and CAR files."""

from __future__ import annotations

import hashlib

import pytest

from supervisor.atproto.car import index_car, iter_car, read_car, read_header, write_car
from supervisor.atproto.cid import CID, DAG_CBOR, RAW
from supervisor.atproto.errors import AtprotoError, CarError, DecodeError
from supervisor.atproto.varint import decode_varint, encode_varint

KNOWN = "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454"


def test_parse_and_print_round_trip():
    cid = CID.parse(KNOWN)
    assert str(cid) == KNOWN
    assert cid.version == 1 and cid.codec == DAG_CBOR and cid.hash_code == 0x12
    assert len(cid.digest) == 32
    assert CID.from_bytes(bytes(cid)) == cid
    assert type(bytes(cid)) is bytes and len(bytes(cid)) == 36


def test_for_block_hashes_with_sha256_and_verifies():
    block = b"some block"
    cid = CID.for_block(block)
    assert cid.digest == hashlib.sha256(block).digest()
    assert cid.verify(block)
    assert not cid.verify(block + b"!")
    raw = CID.for_block(block, codec=RAW)
    assert raw.codec == RAW and str(raw).startswith("bafkrei")
    assert raw != cid


def test_constructor_matches_for_block():
    digest = hashlib.sha256(b"x").digest()
    assert CID(1, DAG_CBOR, digest) == CID.for_block(b"x")


def test_cidv0_is_read_only_compatible():
    cid = CID.parse("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR")
    assert cid.version == 0 and cid.codec == 0x70
    assert str(cid) == "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"


def test_cids_are_immutable_hashable_and_ordered():
    a, b = CID.for_block(b"a"), CID.for_block(b"b")
    assert len({a, b, CID.parse(str(a))}) == 2
    assert sorted([b, a]) == sorted([a, b])
    assert (a < b) == (bytes(a) < bytes(b))
    with pytest.raises(AttributeError):
        a.codec = 1  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "b", "zabc", "bAFYREI", "b!!!!", "Qm123", "b" + "a" * 600, "bafyrei"])
def test_bad_cid_strings_raise_typed_errors(text):
    with pytest.raises(DecodeError):
        CID.parse(text)


def test_truncated_binary_cid():
    raw = bytes(CID.parse(KNOWN))
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            CID.from_bytes(raw[:cut])
    with pytest.raises(DecodeError):
        CID.from_bytes(raw + b"\x00")


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))


def test_varint_rejects_non_minimal_and_overlong():
    with pytest.raises(DecodeError):
        decode_varint(b"\x80\x00")
    with pytest.raises(DecodeError):
        decode_varint(b"\xff" * 10)
    with pytest.raises(DecodeError):
        decode_varint(b"\x80")


def _blocks(n):
    out = []
    for i in range(n):
        block = f"block {i}".encode() * (i + 1)
        out.append((CID.for_block(block, codec=RAW), block))
    return out


def test_car_round_trip_and_order():
    blocks = _blocks(5)
    data = write_car([blocks[0][0]], blocks)
    roots, read = read_car(data, verify=True)
    assert roots == [blocks[0][0]]
    assert read == dict(blocks)
    assert list(iter_car(data)) == blocks
    _roots, index = index_car(data)
    for cid, block in blocks:
        start, stop = index[cid]
        assert data[start:stop] == block


def test_car_header_general_path_and_long_blocks():
    # Two roots (not the one-root fast path) and a block over 16 KiB (three-byte length).
    blocks = _blocks(2) + [(CID.for_block(b"z" * 20000), b"z" * 20000)]
    data = write_car([blocks[0][0], blocks[1][0]], blocks)
    roots, offset = read_header(data)
    assert roots == [blocks[0][0], blocks[1][0]] and offset > 0
    assert index_car(data)[1].keys() == {cid for cid, _ in blocks}
    assert read_car(data)[1] == dict(blocks)


def test_car_verify_detects_a_wrong_block():
    cid = CID.for_block(b"right")
    data = write_car([cid], [(cid, b"wrong")])
    assert read_car(data)[1][cid] == b"wrong"
    with pytest.raises(CarError):
        read_car(data, verify=True)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x05abc", b"\x01\xa0", b"\x0a" + b"\xa1\x61x\x01" * 2])
def test_bad_car_headers(data):
    with pytest.raises(CarError):
        read_car(data)


def test_car_header_must_be_version_1():
    from supervisor.atproto import dagcbor

    header = dagcbor.encode({"version": 2, "roots": []})
    with pytest.raises(CarError, match="version"):
        read_car(encode_varint(len(header)) + header)


def test_truncated_car_always_raises_a_typed_error():
    blocks = _blocks(3)
    data = write_car([blocks[0][0]], blocks)
    for cut in range(1, len(data)):
        try:
            read_car(data[:cut])
        except AtprotoError:
            continue
        # A cut exactly on a section boundary is a valid, shorter CAR.
        assert cut in _boundaries(data)


def _boundaries(data):
    _roots, pos = read_header(data)
    bounds = {pos}
    while pos < len(data):
        size, body = decode_varint(data, pos)
        pos = body + size
        bounds.add(pos)
    return bounds
