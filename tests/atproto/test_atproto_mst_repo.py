"""MST construction and walking (spec test vectors), commits and repository CARs."""

from __future__ import annotations

import random

import pytest

from supervisor.atproto import dagcbor
from supervisor.atproto.car import read_car, write_car
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import MissingBlockError, MSTError
from supervisor.atproto.mst import build, key_height, node_path, walk
from supervisor.atproto.repo import export_repo, load_repo, make_commit, parse_commit, unsigned_commit_bytes

CID1 = CID.parse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
P = "com.example.record/"


@pytest.mark.parametrize(
    "key, height",
    [
        ("2653ae71", 0),
        ("blue", 1),
        ("app.bsky.feed.post/454397e440ec", 4),
        ("app.bsky.feed.post/9adeb165882c", 8),
    ],
)
def test_key_heights_from_the_spec(key, height):
    assert key_height(key) == height


# The reference implementation's "MST Interop Known Maps" and "Edge Cases" root CIDs.
KNOWN_TREES = [
    ([], "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"),
    (["3jqfcqzm3fo2j"], "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu"),
    (["3jqfcqzm3fx2j"], "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai"),
    (
        ["3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm4fc2j"],
        "bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m",
    ),
    (
        ["3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fu2j"],
        "bafyreifnqrwbk6ffmyaz5qtujqrzf5qmxf7cbxvgzktl4e3gabuxbtatv4",
    ),
    (
        ["3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3ft2j", "3jqfcqzm3fu2j"],
        "bafyreie4kjuxbwkhzg2i5dljaswcroeih4dgiqq6pazcmunwt2byd725vi",
    ),
    (
        [
            "3jqfcqzm3fo2j",
            "3jqfcqzm3fp2j",
            "3jqfcqzm3fr2j",
            "3jqfcqzm3fs2j",
            "3jqfcqzm3ft2j",
            "3jqfcqzm3fz2j",
            "3jqfcqzm4fc2j",
            "3jqfcqzm4fd2j",
            "3jqfcqzm4ff2j",
            "3jqfcqzm4fg2j",
            "3jqfcqzm4fh2j",
        ],
        "bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem",
    ),
    (
        [
            "3jqfcqzm3fo2j",
            "3jqfcqzm3fp2j",
            "3jqfcqzm3fr2j",
            "3jqfcqzm3fs2j",
            "3jqfcqzm3ft2j",
            "3jqfcqzm3fx2j",
            "3jqfcqzm3fz2j",
            "3jqfcqzm4fc2j",
            "3jqfcqzm4fd2j",
            "3jqfcqzm4ff2j",
            "3jqfcqzm4fg2j",
            "3jqfcqzm4fh2j",
        ],
        "bafyreid2x5eqs4w4qxvc5jiwda4cien3gw2q6cshofxwnvv7iucrmfohpm",
    ),
    (["3jqfcqzm3ft2j", "3jqfcqzm3fz2j"], "bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky"),
    (
        ["3jqfcqzm3ft2j", "3jqfcqzm3fz2j", "3jqfcqzm3fx2j"],
        "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy",
    ),
    (
        ["3jqfcqzm3ft2j", "3jqfcqzm3fz2j", "3jqfcqzm3fx2j", "3jqfcqzm4fd2j"],
        "bafyreig4jv3vuajbsybhyvb7gggvpwh2zszwfyttjrj6qwvcsp24h6popu",
    ),
]


@pytest.mark.parametrize("rkeys, root", KNOWN_TREES)
def test_known_tree_roots(rkeys, root):
    entries = {P + rkey: CID1 for rkey in rkeys}
    cid, blocks = build(entries)
    assert str(cid) == root
    assert list(walk(blocks, cid)) == sorted(entries.items())


def _random_entries(rng, count):
    return {
        f"app.bsky.feed.{rng.choice(['post', 'like'])}/{rng.getrandbits(60):x}": CID.for_block(rng.randbytes(8))
        for _ in range(count)
    }


@pytest.mark.parametrize("count", [0, 1, 2, 17, 300])
def test_build_walk_round_trip_is_insertion_order_independent(count):
    rng = random.Random(count)
    entries = _random_entries(rng, count)
    root, blocks = build(entries)
    walked = list(walk(blocks, root))
    assert walked == sorted(entries.items())
    shuffled = list(entries.items())
    rng.shuffle(shuffled)
    assert build(dict(shuffled))[0] == root
    assert build(dict(walked))[0] == root


def test_walk_reports_missing_nodes():
    entries = _random_entries(random.Random(1), 200)
    root, blocks = build(entries)
    child = next(cid for cid in blocks if cid != root)
    del blocks[child]
    with pytest.raises(MissingBlockError):
        list(walk(blocks, root))


def _node_block(node):
    block = dagcbor.encode(node)
    return CID.for_block(block), block


def test_walk_rejects_out_of_order_and_wrong_height_keys():
    # Two level-0 keys in the wrong order.
    a, b = P + "3jqfcqzm3fp2j", P + "3jqfcqzm3fr2j"
    node = {
        "l": None,
        "e": [
            {"p": 0, "k": b.encode(), "v": CID1, "t": None},
            {"p": 0, "k": a.encode(), "v": CID1, "t": None},
        ],
    }
    cid, block = _node_block(node)
    with pytest.raises(MSTError, match="order"):
        list(walk({cid: block}, cid))
    # A level-1 key and a level-0 key side by side in one node.
    mixed = {
        "l": None,
        "e": [
            {"p": 0, "k": (P + "3jqfcqzm3fs2j").encode(), "v": CID1, "t": None},
            {"p": 0, "k": (P + "3jqfcqzm3ft2j").encode(), "v": CID1, "t": None},
        ],
    }
    cid, block = _node_block(mixed)
    with pytest.raises(MSTError, match="height"):
        list(walk({cid: block}, cid))


def test_walk_rejects_bad_prefix_and_shapes():
    cid, block = _node_block({"l": None, "e": [{"p": 3, "k": b"abc", "v": CID1, "t": None}]})
    with pytest.raises(MSTError, match="prefix"):
        list(walk({cid: block}, cid))
    cid, block = _node_block({"e": []})
    with pytest.raises(MSTError):
        list(walk({cid: block}, cid))
    empty, empty_block = _node_block({"l": None, "e": []})
    cid, block = _node_block({"l": empty, "e": []})
    with pytest.raises(MSTError):
        list(walk({cid: block, empty: empty_block}, cid))


def test_node_path_covers_lookups():
    entries = _random_entries(random.Random(5), 400)
    root, blocks = build(entries)
    key = sorted(entries)[123]
    proof = node_path(blocks, root, [key])
    assert root in proof and len(proof) < len(blocks)


def test_commit_block_and_signature_input():
    data = build({})[0]
    seen = []
    cid, block = make_commit("did:plc:abc", data, "3kabc", sign=lambda raw: seen.append(raw) or b"s" * 64)
    commit = parse_commit(cid, block)
    assert (commit.did, commit.version, commit.data, commit.rev, commit.prev, commit.sig) == (
        "did:plc:abc",
        3,
        data,
        "3kabc",
        None,
        b"s" * 64,
    )
    assert seen == [unsigned_commit_bytes("did:plc:abc", data, "3kabc")]
    assert "prev" in dagcbor.decode(block)  # v3 commits always carry 'prev', even when null
    # The placeholder signature is deterministic.
    assert make_commit("did:plc:abc", data, "3kabc") == make_commit("did:plc:abc", data, "3kabc")


def test_export_and_load_repo():
    records = {
        f"app.bsky.feed.post/3k{i:011d}": {
            "$type": "app.bsky.feed.post",
            "text": f"post {i}",
            "createdAt": "2024-01-01T00:00:00.000Z",
        }
        for i in range(50)
    }
    records["app.bsky.actor.profile/self"] = {"$type": "app.bsky.actor.profile", "displayName": "Me"}
    data = export_repo("did:plc:abc", "3kabc", records)
    repo = load_repo(data, verify=True)
    assert repo.commit.did == "did:plc:abc" and repo.commit.rev == "3kabc"
    listed = list(repo.records())
    assert [path for path, _cid, _rec in listed] == sorted(records)
    assert {path: rec for path, _cid, rec in listed} == records
    roots, blocks = read_car(data)
    assert roots == [repo.commit.cid]


def test_load_repo_rejects_a_car_without_its_commit():
    cid = CID.for_block(b"x")
    with pytest.raises(Exception) as info:
        load_repo(write_car([cid], []))
    assert "commit" in str(info.value)


def test_record_time_reads_the_tid_else_created_at_else_nothing():
    from datetime import datetime, timedelta, timezone

    from supervisor.atproto.repo import record_time
    from supervisor.atproto.syntax import tid_from_time

    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    micros = (when - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    tid = tid_from_time(micros, clock_id=5)
    assert record_time(tid, {"createdAt": "2001-01-01T00:00:00Z"}) == when  # the key wins
    assert record_time("self", {"createdAt": "2024-01-02T03:04:05.123456789Z"}) == datetime(
        2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc
    )
    assert record_time("self", {"createdAt": "2024-01-02T03:04:05.5+02:00"}) == datetime(
        2024, 1, 2, 1, 4, 5, 500000, tzinfo=timezone.utc
    )
    for bad in ("2024-13-02T03:04:05Z", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05", "yesterday", 5, None):
        assert record_time("self", {"createdAt": bad}) is None
    assert record_time("self", None) is None
    assert record_time("3kxxx", ["not", "a", "map"]) is None
