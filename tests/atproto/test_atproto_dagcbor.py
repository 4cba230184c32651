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
    value = {
        "null": None,
        "t": True,
        "f": False,
        "int": -(2**63),
        "big": 2**63 - 1,
        "s": "héllo",
        "b": b"\x00\x01",
        "l": [1, "x", [LINK]],
        "m": {"nested": {"x": LINK}},
    }
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


@pytest.mark.parametrize(
    "hexdata, reason",
    [
        ("f93c00", "floating-point"),  # half float
        ("fb3ff8000000000000", "floating-point"),  # double
        ("f7", "undefined"),
        ("e0", "simple value"),
        ("a10102", "map key"),  # integer key
        ("a1410102", "map key"),  # byte-string key
        ("a2616101616102", "Duplicate"),
        ("c074323031332d30332d32315432303a30343a30305a", "tag 0"),
        ("c24101", "tag 2"),  # bignum 1: an int, still not allowed
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
    ],
)
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


# -- canonical form: what DAG-CBOR spells one way only ------------------------------------

LINK_HEX = "d82a5825" + "00" + bytes(LINK).hex()


@pytest.mark.parametrize(
    "hexdata, offset",
    [
        ("1817", 0),  # 23 in a one-byte argument
        ("190001", 0),  # 1 in two bytes
        ("1a0000ffff", 0),  # 65535 in four bytes
        ("1b00000000ffffffff", 0),  # 2**32 - 1 in eight bytes
        ("3817", 0),  # -24 in a one-byte argument
        ("39000f", 0),  # -16 in two bytes
        ("830118ff190064", 4),  # [1, 255, 100]: the 100 in two bytes
        ("780161", 0),  # text of length 1, length in one extra byte
        ("59000161", 0),  # bytes of length 1, length in two extra bytes
        ("980101", 0),  # array of one, count in one extra byte
        ("b8016161f5", 0),  # map of one, count in one extra byte
        ("a161611a00010000", None),  # {"a": 65536}: canonical; the control case below
        ("d9002a5825" + "00" + bytes(LINK).hex(), 0),  # tag 42 in two bytes
        ("d82a590025" + "00" + bytes(LINK).hex(), 2),  # the CID's byte string length in two bytes
        ("a16161a1616219002a", 6),  # {"a": {"b": 42}} with the inner 42 in two bytes
    ],
)
def test_long_forms_are_refused_at_their_offset(hexdata, offset):
    data = bytes.fromhex(hexdata)
    if offset is None:
        assert encode(decode(data)) == data
        return
    with pytest.raises(DecodeError, match="not canonical") as info:
        decode(data)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    "hexdata, keys",
    [
        ("a2616201616102", "'a' after 'b'"),  # {"b", "a"}: bytes out of order
        ("a262616101616202", "'b' after 'aa'"),  # {"aa", "b"}: the shorter key goes first
        ("a3616101616302616202", "'b' after 'c'"),  # third key out of order
        ("a1617881a2616201616102", "'a' after 'b'"),  # {"x": [{"b", "a"}]}: nested in an array
        ("a262c3a90162616202", "'ab' after 'é'"),  # same length: UTF-8 bytes decide (c3a9 > 6162)
    ],
)
def test_map_keys_out_of_canonical_order_are_refused(hexdata, keys):
    with pytest.raises(DecodeError, match=f"canonical order.*{keys}"):
        decode(bytes.fromhex(hexdata))


@pytest.mark.parametrize(
    "value, hexdata",
    [
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (2**63 - 1, "1b7fffffffffffffff"),
        (-24, "37"),
        (-25, "3818"),
        (-(2**63), "3b7fffffffffffffff"),
        ("x" * 23, "77" + "78" * 23),
        ("x" * 24, "7818" + "78" * 24),
        (b"\x01" * 300, "59012c" + "01" * 300),
        ({"b": 1, "aa": 2, "é": 3, "ab": 4}, "a4616201626161026261620462c3a903"),
        ([LINK], "81" + LINK_HEX),
        ({"ref": LINK, "n": None, "t": True}, None),
    ],
)
def test_shortest_forms_at_every_boundary_are_accepted(value, hexdata):
    data = encode(value)
    if hexdata is not None:
        assert data.hex() == hexdata
    assert decode(data) == value


def test_the_interop_data_model_fixtures_decode_and_re_encode_byte_for_byte():
    import base64
    import json
    from pathlib import Path

    fixtures = json.loads((Path(__file__).parent / "vectors" / "data-model-fixtures.json").read_text())
    assert fixtures
    for fixture in fixtures:
        data = base64.b64decode(fixture["cbor_base64"] + "=" * (-len(fixture["cbor_base64"]) % 4))
        value = decode(data)
        assert to_json(value) == fixture["json"]
        assert encode(value) == data
        assert str(CID.for_block(data)) == fixture["cid"]
        # the same values with two map keys swapped, or one length spelled long, are refused
        if type(value) is dict and len(value) >= 2:
            first, second = list(value)[:2]
            swapped = {second: value[second], first: value[first], **value}
            with pytest.raises(DecodeError, match="canonical order"):
                decode(cbor2.dumps(_as_cbor(swapped)))


def _as_cbor(value):
    # the tree as cbor2 writes it, in the order given (CIDs as tag 42)
    if type(value) is CID:
        return cbor2.CBORTag(42, b"\x00" + bytes(value))
    if type(value) is dict:
        return {key: _as_cbor(item) for key, item in value.items()}
    if type(value) is list:
        return [_as_cbor(item) for item in value]
    return value
