"""DAG-CBOR: canonical encoding, strict decoding, JSON representation."""

from __future__ import annotations

import cbor2
import pytest

from supervisor.atproto.cid import CID
from supervisor.atproto.dagcbor import Limits, decode, decode_first, decode_multi, encode
from supervisor.atproto.errors import DecodeError, EncodeError
from supervisor.atproto.jsonfmt import from_json, to_json

LINK = CID.parse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")


def test_round_trip_of_every_data_model_kind():
    value = {"null": None, "t": True, "f": False, "int": -(2**63), "big": 2**63 - 1, "s": "héllo",
             "b": b"\x00\x01", "l": [1, "x", [LINK]], "m": {"nested": {"x": LINK}}}
    assert decode(encode(value)) == value


def test_map_keys_sorted_by_length_then_bytes():
    encoded = encode({"zz": 1, "a": 2, "bbb": 3, "b": 4, "é": 5})
    assert list(cbor2.loads(encoded)) == ["a", "b", "zz", "é", "bbb"]


def test_encoding_is_canonical_regardless_of_insertion_order():
    assert encode({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == encode({"a": [1, {"x": 1, "y": 2}], "b": 1})


def test_cid_is_tag_42_over_zero_prefixed_bytes():
    encoded = encode(LINK)
    assert encoded[:2] == b"\xd8\x2a"
    assert cbor2.loads(encoded) == cbor2.CBORTag(42, b"\x00" + bytes(LINK))


def test_smallest_integer_forms():
    assert encode(0) == b"\x00"
    assert encode(23) == b"\x17"
    assert encode(24) == b"\x18\x18"
    assert encode(-1) == b"\x20"
    assert encode(1000) == b"\x19\x03\xe8"


@pytest.mark.parametrize("value", [1.5, {"a": 0.0}, {1: "x"}, [2**64], {"a": object()}, {b"k": 1}])
def test_encode_rejects_values_outside_the_data_model(value):
    with pytest.raises(EncodeError):
        encode(value)


@pytest.mark.parametrize("hexdata, reason", [
    ("f93c00", "floating-point"),             # half float
    ("fb3ff8000000000000", "floating-point"),  # double
    ("f7", "undefined"),
    ("e0", "simple value"),
    ("a10102", "map key"),                     # integer key
    ("a1410102", "map key"),                   # byte-string key
    ("a2616101616102", "Duplicate"),
    ("c074323031332d30332d32315432303a30343a30305a", "tag 0"),
    ("c24101", "tag 2"),                       # bignum 1: an int, still not allowed
    ("d9d9f701", "tag 55799"),
    ("d82a4401020304", "multibase"),
    ("d82a4400010203", "invalid CID link"),
    ("d82a6161", "byte string"),
    ("1bffffffffffffffff", "64-bit"),
    ("5f4161ff", "indefinite"),
    ("9f01ff", "indefinite"),
    ("0102", "trailing"),
    ("82", "truncated"),
    ("", "empty"),
])
def test_strict_decoding_rejects_with_a_reason(hexdata, reason):
    with pytest.raises(DecodeError, match=reason):
        decode(bytes.fromhex(hexdata))


def test_errors_carry_a_byte_offset():
    with pytest.raises(DecodeError) as info:
        decode(encode({"a": 1}) + b"\x01")
    assert info.value.offset == 4 and "at byte 4" in str(info.value)


def test_depth_and_size_limits():
    deep = b"\x81" * 50 + b"\x01"
    nested: object = 1
    for _ in range(50):
        nested = [nested]
    assert decode(deep, limits=Limits(max_depth=60)) == nested
    with pytest.raises(DecodeError, match="depth"):
        decode(deep, limits=Limits(max_depth=10))
    with pytest.raises(DecodeError, match="limit"):
        decode(encode("x" * 100), limits=Limits(max_size=50))


def test_decode_first_and_multi():
    data = encode({"op": 1, "t": "#x"}) + encode({"seq": 5})
    header, offset = decode_first(data)
    assert header == {"op": 1, "t": "#x"} and offset == len(encode(header))
    assert decode_multi(data, 2) == [{"op": 1, "t": "#x"}, {"seq": 5}]
    with pytest.raises(DecodeError, match="expected 3"):
        decode_multi(data, 3)
    with pytest.raises(DecodeError, match="trailing"):
        decode_multi(data, 1)


def test_decoder_reuse_does_not_leak_state_between_inputs():
    first = encode({"a": "x" * 5000})
    assert decode(first) == {"a": "x" * 5000}
    with pytest.raises(DecodeError):
        decode(first[:100])
    assert decode(encode([1, 2])) == [1, 2]


def test_json_representation():
    blob = {"$type": "blob", "ref": CID.for_block(b"img", codec=0x55), "mimeType": "image/png", "size": 3}
    value = {"link": LINK, "bytes": b"\x00\xff\x10", "blob": blob}
    out = to_json(value)
    assert out["link"] == {"$link": str(LINK)}
    assert out["bytes"] == {"$bytes": "AP8Q"}  # base64 without padding
    assert out["blob"] == {"$type": "blob", "ref": {"$link": str(blob["ref"])}, "mimeType": "image/png", "size": 3}
    assert from_json(out) == value
