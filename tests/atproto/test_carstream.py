"""The CAR push parser: any chunking gives what the whole-file reader gives; damage is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.atproto import dagcbor
from supervisor.atproto.car import iter_car, read_car, read_header, write_car
from supervisor.atproto.carstream import CarReader
from supervisor.atproto.cid import CID, RAW
from supervisor.atproto.errors import AtprotoError, CarError
from supervisor.atproto.repo import export_repo
from supervisor.atproto.syntax import tid_from_time
from supervisor.atproto.varint import encode_varint

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def repo_cars(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(min_value=0, max_value=40))
    texts = draw(st.lists(st.text(max_size=300), min_size=count, max_size=count))
    records = {
        f"app.bsky.feed.post/{tid_from_time(1_700_000_000_000_000 + i * 7919)}": {
            "$type": "app.bsky.feed.post",
            "text": text,
            "n": i,
        }
        for i, text in enumerate(texts)
    }
    return export_repo("did:plc:carstreamtest", "3kabcdefghijk", records)


@st.composite
def mixed_cars(draw: st.DrawFn) -> bytes:
    """CARs with raw blocks, several roots, long sections (two- and three-byte lengths) and repeats."""
    blocks = []
    for payload in draw(st.lists(st.binary(max_size=3000), max_size=6)):
        if draw(st.booleans()):
            blocks.append((CID.for_block(payload, RAW), payload))
        else:
            block = dagcbor.encode({"b": payload})
            blocks.append((CID.for_block(block), block))
    if blocks and draw(st.booleans()):
        blocks.append(blocks[0])
    roots = [cid for cid, _ in blocks[: draw(st.integers(min_value=0, max_value=3))]]
    return write_car(roots, blocks)


def feed_in(data: bytes, cuts: list[int]) -> tuple[list[CID], list[tuple[CID, bytes]]]:
    reader = CarReader()
    out = []
    previous = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out.extend(reader.feed(data[previous:cut]))
        previous = cut
    reader.close()
    return reader.roots, out


@SETTINGS
@given(st.one_of(repo_cars(), mixed_cars()), st.data())
def test_random_chunks_equal_the_whole_file_parse(data: bytes, draw: st.DataObject) -> None:
    cuts = draw.draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=30))
    roots, blocks = feed_in(data, cuts)
    whole_roots, _ = read_car(data, verify=True)
    assert roots == whole_roots
    assert blocks == list(iter_car(data))


@settings(max_examples=10, deadline=None)
@given(st.one_of(repo_cars(), mixed_cars()))
def test_byte_by_byte_equals_the_whole_file_parse(data: bytes) -> None:
    reader = CarReader()
    blocks = []
    for index in range(len(data)):
        blocks.extend(reader.feed(data[index : index + 1]))
    reader.close()
    assert reader.roots == read_car(data)[0]
    assert blocks == list(iter_car(data))


@SETTINGS
@given(st.one_of(repo_cars(), mixed_cars()), st.data())
def test_a_stream_cut_inside_the_header_or_a_section_is_refused(data: bytes, draw: st.DataObject) -> None:
    # A CAR has no end marker: a cut between sections is a shorter CAR (the repository's walk then
    # misses blocks); a cut anywhere else must be refused.
    boundaries = set(_section_starts(data))
    cut = draw.draw(st.integers(min_value=0, max_value=len(data) - 1).filter(lambda cut: cut not in boundaries))
    reader = CarReader()
    reader.feed(data[:cut])
    with pytest.raises(CarError, match="ended inside|empty"):
        reader.close()


def _section_starts(data: bytes) -> list[int]:
    starts = [read_header(data)[1]]
    for cid, block in iter_car(data):
        starts.append(starts[-1] + len(encode_varint(len(cid) + len(block))) + len(cid) + len(block))
    return starts


def test_long_sections_in_random_chunks() -> None:
    """Three-byte section lengths (blocks over 16 KiB), cut at every offset near the length's bytes."""
    payloads = [bytes(range(256)) * 80, b"y" * 16_500, b""]
    blocks = [(CID.for_block(p, RAW), p) for p in payloads]
    data = write_car([blocks[0][0]], blocks)
    for cut in range(55, 75):
        assert feed_in(data, [cut, cut + 2, 20_600]) == ([blocks[0][0]], blocks)


def _block_byte_positions(data: bytes) -> list[int]:
    """Offsets of the bytes that a block's CID digest covers, and of the digests themselves."""
    positions = []
    pos = len(data)
    for cid, block in reversed(list(iter_car(data))):
        start = pos - len(block)
        positions.extend(range(start, pos))
        positions.extend(range(start - 32, start))  # the digest of the section's CID
        pos = start - len(cid) - len(encode_varint(len(cid) + len(block)))
    return positions


@SETTINGS
@given(repo_cars(), st.data())
def test_a_flipped_byte_in_a_block_or_its_digest_is_refused(data: bytes, draw: st.DataObject) -> None:
    positions = _block_byte_positions(data)
    where = draw.draw(st.sampled_from(positions))
    bit = draw.draw(st.integers(min_value=0, max_value=7))
    damaged = bytearray(data)
    damaged[where] ^= 1 << bit
    reader = CarReader()
    with pytest.raises(CarError, match="does not match its CID"):
        for index in range(0, len(damaged), 997):
            reader.feed(bytes(damaged[index : index + 997]))


@SETTINGS
@given(repo_cars(), st.data())
def test_any_flipped_byte_is_refused_or_changes_nothing_the_reader_promises(data: bytes, draw: st.DataObject) -> None:
    """A flip anywhere either raises, or leaves every block verified (only a root or a codec moved)."""
    where = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    damaged = bytearray(data)
    damaged[where] ^= 1 << draw.draw(st.integers(min_value=0, max_value=7))
    try:
        _roots, blocks = feed_in(bytes(damaged), [len(damaged) // 2])
    except AtprotoError:
        return
    for cid, block in blocks:
        assert cid.verify(block)


def test_a_section_over_the_limit_is_refused_before_it_arrives() -> None:
    big = dagcbor.encode({"b": b"x" * 5000})
    data = write_car([CID.for_block(big)], [(CID.for_block(big), big)])
    reader = CarReader(max_block_bytes=4096)
    with pytest.raises(CarError, match="exceeds 4096"):
        reader.feed(data[:70])  # the header and the section's length: no need to wait for the block


def test_other_hashes_and_codecs_are_refused() -> None:
    block = b"abc"
    dag_pb = CID(1, 0x70, CID.for_block(block).digest)
    with pytest.raises(CarError, match="codec 0x70"):
        CarReader().feed(write_car([], [(dag_pb, block)]))
    sha512 = CID(1, 0x71, b"\x00" * 64, hash_code=0x13)
    with pytest.raises(CarError, match="hash 0x13"):
        CarReader().feed(write_car([], [(sha512, block)]))


def test_roots_before_the_header_and_feeding_after_close() -> None:
    data = write_car([], [])
    reader = CarReader()
    with pytest.raises(CarError, match="not been read"):
        _ = reader.roots
    reader.feed(data[:3])
    assert not reader.header_read
    reader.feed(data[3:])
    assert reader.roots == []
    reader.close()
    with pytest.raises(CarError, match="closed"):
        reader.feed(b"\x00")
    with pytest.raises(CarError, match="empty"):
        CarReader().close()


def test_the_reader_holds_at_most_one_section_and_one_chunk() -> None:
    payloads = [bytes([i]) * (1000 + 37 * i) for i in range(200)]
    data = write_car([], [(CID.for_block(p, RAW), p) for p in payloads])
    reader = CarReader(max_block_bytes=10_000)
    largest = max(len(p) for p in payloads) + 36 + 2
    count = 0
    for index in range(0, len(data), 4096):
        count += len(reader.feed(data[index : index + 4096]))
        assert len(reader._buffer) <= largest + 4096
    reader.close()
    assert count == reader.block_count == 200
