"""A repository spooled to a file: the same records as the whole-CAR reader, damage refused."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.atproto import dagcbor
from supervisor.atproto.car import read_car, write_car
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import AtprotoError, CarError, MissingBlockError, MSTError
from supervisor.atproto.repo import export_repo, load_repo, make_commit
from supervisor.atproto.syntax import tid_from_time
from supervisor.worker.repofile import RepoSpooler, spool_car

DID = "did:plc:spooltest"


def sample_repo(count: int = 300) -> bytes:
    records = {}
    for i in range(count):
        collection = ("app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.actor.profile")[i % 3]
        rkey = (
            "self"
            if collection == "app.bsky.actor.profile" and i == 2
            else tid_from_time(1_650_000_000_000_000 + i * 999_331)
        )
        records[f"{collection}/{rkey}"] = {"$type": collection, "text": "t" * (i % 50), "i": i}
    return export_repo(DID, tid_from_time(1_700_000_000_000_000), records)


def chunked(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    pos = 0
    while pos < len(data):
        size = rng.choice((1, 2, 3, 17, 500, 4096, 65536))
        out.append(data[pos : pos + size])
        pos += size
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_records_equal_the_whole_car_reader(tmp_path, seed):
    data = sample_repo()
    whole = load_repo(data, verify=True)
    with spool_car(chunked(data, seed), spool_dir=str(tmp_path)) as repo:
        assert repo.commit == whole.commit
        assert repo.commit_block == whole.blocks[whole.commit.cid]
        assert repo.byte_count == len(data)
        assert repo.block_count == len(read_car(data)[1])
        got = [(record.path, record.cid, dagcbor.decode(record.block)) for record in repo.records()]
    assert got == list(whole.records())
    assert len(got) == 300
    assert [path for path, _cid, _record in got] == sorted(path for path, _cid, _record in got)


def test_the_spool_file_is_never_visible_and_close_releases_it(tmp_path):
    repo = spool_car([sample_repo(30)], spool_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []  # an unnamed file: nothing to clean up after a crash
    fd = repo._blocks._fd
    os.fstat(fd)
    repo.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(ValueError, match="closed"):
        list(repo.records())
    repo.close()  # idempotent


def _car_without(data: bytes, drop: CID) -> bytes:
    roots, blocks = read_car(data)
    return write_car(roots, [(cid, block) for cid, block in blocks.items() if cid != drop])


def test_a_missing_record_block_is_an_error_naming_the_record(tmp_path):
    data = sample_repo(20)
    whole = load_repo(data)
    path, cid = list(whole.entries())[7]
    with spool_car([_car_without(data, cid)], spool_dir=str(tmp_path)) as repo:
        with pytest.raises(MissingBlockError, match=f"record {path}"):
            list(repo.records())


def test_a_missing_tree_node_is_an_error(tmp_path):
    data = sample_repo(200)
    whole = load_repo(data)
    records = {cid for _path, cid in whole.entries()}
    node = next(cid for cid in whole.blocks if cid not in records and cid not in (whole.commit.cid, whole.commit.data))
    with spool_car([_car_without(data, node)], spool_dir=str(tmp_path)) as repo:
        with pytest.raises(MissingBlockError, match=f"MST node {node} is missing"):
            list(repo.records())


def _car_with_tree(node: object) -> bytes:
    block = dagcbor.encode(node)
    cid = CID.for_block(block)
    commit_cid, commit_block = make_commit(DID, cid, "3kaaaaaaaaaaa")
    return write_car([commit_cid], [(commit_cid, commit_block), (cid, block)])


@pytest.mark.parametrize(
    "node, message",
    [
        ({"x": 1}, "must be a map with 'l' and 'e'"),
        (
            {
                "l": None,
                "e": [
                    {"p": 0, "k": b"b/1", "v": CID.for_block(b"r"), "t": None},
                    {"p": 0, "k": b"a/1", "v": CID.for_block(b"r"), "t": None},
                ],
            },
            "out of order|height",
        ),
        ({"l": None, "e": [{"p": 3, "k": b"x", "v": CID.for_block(b"r"), "t": None}]}, "impossible prefix"),
    ],
)
def test_a_malformed_tree_is_an_error(tmp_path, node, message):
    with spool_car([_car_with_tree(node)], spool_dir=str(tmp_path)) as repo:
        with pytest.raises(MSTError, match=message):
            list(repo.records())


def test_a_key_that_is_not_collection_slash_rkey_is_an_error(tmp_path):
    data = export_repo(DID, "3kaaaaaaaaaaa", {"norkey": {"a": 1}})
    with spool_car([data], spool_dir=str(tmp_path)) as repo:
        with pytest.raises(MSTError, match="'norkey' is not collection/rkey"):
            list(repo.records())


def test_the_root_must_be_a_commit_the_car_holds(tmp_path):
    data = sample_repo(5)
    roots, _blocks = read_car(data)
    with pytest.raises(CarError, match="root commit .* is not among its blocks"):
        spool_car([_car_without(data, roots[0])], spool_dir=str(tmp_path))
    other = dagcbor.encode({"not": "a commit"})
    with pytest.raises(CarError, match="root is not a commit"):
        spool_car([write_car([CID.for_block(other)], [(CID.for_block(other), other)])], spool_dir=str(tmp_path))
    with pytest.raises(CarError, match="no root"):
        spool_car([write_car([], [(CID.for_block(other), other)])], spool_dir=str(tmp_path))


def test_every_single_byte_flip_is_refused(tmp_path):
    """Whatever byte of a small repository's CAR is damaged, spooling or walking it fails."""
    data = sample_repo(6)
    rng = random.Random(7)
    positions = sorted(set(range(0, 120)) | set(rng.sample(range(len(data)), 300)))
    for where in positions:
        if where >= len(data):
            continue
        damaged = bytearray(data)
        damaged[where] ^= 1 << rng.randrange(8)
        with pytest.raises(AtprotoError):
            with spool_car([bytes(damaged)], spool_dir=str(tmp_path)) as repo:
                list(repo.records())


def test_a_failed_feed_closes_the_file(tmp_path):
    spooler = RepoSpooler(spool_dir=str(tmp_path))
    fd = spooler._file.fileno()
    with pytest.raises(CarError):
        spooler.feed(b"\x05\xff\xff\xff\xff\xff")
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(ValueError, match="finished"):
        spooler.feed(b"")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    st.dictionaries(
        st.tuples(
            st.sampled_from(["app.bsky.feed.post", "app.bsky.graph.follow", "x.y.z"]),
            st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
        ),
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(
                st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=40), st.binary(max_size=40)
            ),
            max_size=4,
        ),
        max_size=60,
    ),
    st.integers(min_value=7, max_value=5000),
)
def test_any_repository_in_any_chunking_walks_like_the_whole_car_reader(tmp_path, records, chunk):
    data = export_repo(DID, "3kaaaaaaaaaaa", {f"{c}/{k}": v for (c, k), v in records.items()})
    with spool_car([data[i : i + chunk] for i in range(0, len(data), chunk)], spool_dir=str(tmp_path)) as repo:
        got = [(r.path, r.cid, dagcbor.decode(r.block)) for r in repo.records()]
    assert got == list(load_repo(data, verify=True).records())
    assert len(got) == len(records)
