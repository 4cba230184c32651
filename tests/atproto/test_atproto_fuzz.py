"""Property-based fuzzing: every decoder fails only with a typed error, quickly."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.atproto import dagcbor
from supervisor.atproto.capture_io import iter_capture, iter_capture_frames, write_capture_frame
from supervisor.atproto.car import index_car, read_car, write_car
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import AtprotoError
from supervisor.atproto.frames import decode_frame
from supervisor.atproto.mst import build, walk
from supervisor.atproto.repo import load_repo
from tests.fuzz.byte_mutations import SEED_FRAMES, mutated, seed_repo

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
REPO = seed_repo(20)


def _expect_typed(fn, data):
    try:
        fn(data)
    except AtprotoError:
        pass


@FUZZ
@given(st.binary(max_size=300))
def test_dagcbor_random_bytes(data):
    _expect_typed(dagcbor.decode, data)


@FUZZ
@given(mutated(SEED_FRAMES))
def test_frames_mutated(data):
    _expect_typed(decode_frame, data)


@FUZZ
@given(st.binary(max_size=300))
def test_frames_random_bytes(data):
    _expect_typed(decode_frame, data)


@FUZZ
@given(mutated([REPO]))
def test_car_and_repo_mutated(data):
    _expect_typed(read_car, data)
    _expect_typed(index_car, data)

    def load_and_walk(raw):
        repo = load_repo(raw)
        list(repo.records())

    _expect_typed(load_and_walk, data)


@FUZZ
@given(st.binary(max_size=80))
def test_cid_random_bytes(data):
    _expect_typed(CID.from_bytes, data)
    _expect_typed(CID.parse, "b" + data.decode("latin-1"))


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=5), st.integers(0, 40))
def test_capture_truncation(frames, cut):
    buffer = io.BytesIO()
    for frame in frames:
        write_capture_frame(buffer, frame)
    data = buffer.getvalue()
    data = data[: max(0, len(data) - cut)]
    try:
        read = list(iter_capture_frames(io.BytesIO(data)))
        offsets = [offset for offset, _frame in iter_capture(io.BytesIO(data))]
        assert offsets == [sum(4 + len(f) for f in frames[:i]) for i in range(len(read))]
    except AtprotoError:
        assert cut > 0
    else:
        assert read == frames[: len(read)]


@settings(max_examples=100, deadline=2000)
@given(
    st.dictionaries(
        st.from_regex(r"app\.bsky\.feed\.post/[a-z0-9]{1,13}", fullmatch=True),
        st.binary(min_size=1, max_size=4),
        max_size=40,
    )
)
def test_mst_build_walk_round_trip(raw):
    entries = {key: CID.for_block(value) for key, value in raw.items()}
    root, blocks = build(entries)
    assert list(walk(blocks, root)) == sorted(entries.items())


@FUZZ
@given(mutated([write_car([CID.for_block(b"a")], [(CID.for_block(b"a"), b"a")])]))
def test_small_car_mutated(data):
    _expect_typed(read_car, data)


def test_hostile_lengths_do_not_allocate():
    # Huge declared lengths in CBOR and CAR fail fast instead of allocating.
    for data in (
        b"\x5b" + (2**62).to_bytes(8, "big"),
        b"\x9b" + (2**62).to_bytes(8, "big"),
        b"\xbb" + (2**62).to_bytes(8, "big"),
    ):
        _expect_typed(dagcbor.decode, data)
    _expect_typed(read_car, b"\xff\xff\xff\xff\x0f" + b"\x00" * 10)
    _expect_typed(lambda raw: list(iter_capture(io.BytesIO(raw))), b"\xff\xff\xff\xff")
