"""MST inversion: the interop commit-proof vectors, random trees and ops, broken proofs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.atproto import dagcbor, mst, proof
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import AtprotoError, IncompleteProofError, MSTError, ProofError
from supervisor.atproto.frames import CommitOp
from supervisor.atproto.proof import PartialTree, check_commit_proof, invert_ops, proof_blocks, verify_commit_proof

VECTORS = json.loads((Path(__file__).parent / "vectors" / "commit-proof-fixtures.json").read_text())


def _fixture_ops(vector: dict, leaf: CID) -> list[CommitOp]:
    # A path both deleted and added would be an update; the fixtures have none.
    assert not set(vector["adds"]) & set(vector["dels"])
    return [CommitOp("create", path, leaf) for path in vector["adds"]] + [
        CommitOp("delete", path, None, None, leaf) for path in vector["dels"]
    ]


def _fixture(vector: dict) -> tuple[CID, dict[CID, bytes], list[CommitOp], CID]:
    leaf = CID.parse(vector["leafValue"])
    after = {key: leaf for key in vector["keys"] if key not in vector["dels"]}
    after.update({key: leaf for key in vector["adds"]})
    root, blocks = mst.build(after)
    assert str(root) == vector["rootAfterCommit"]
    assert str(mst.build({key: leaf for key in vector["keys"]})[0]) == vector["rootBeforeCommit"]
    return root, blocks, _fixture_ops(vector, leaf), leaf


def test_all_commit_proof_vectors_are_there():
    assert len(VECTORS) == 6


@pytest.mark.parametrize("vector", VECTORS, ids=[v["comment"] for v in VECTORS])
def test_commit_proof_vectors_invert_from_the_proof_blocks_alone(vector):
    root, blocks, ops, leaf = _fixture(vector)
    carried = {cid: blocks[cid] for cid in map(CID.parse, vector["blocksInProof"])}
    assert str(invert_ops(carried, root, ops)) == vector["rootBeforeCommit"]
    carried[leaf] = dagcbor.encode({"$type": "leaf"})  # the fixture's leaf is not a real record block
    before = CID.parse(vector["rootBeforeCommit"])
    with pytest.raises(ProofError) as caught:
        check_commit_proof(carried, root, before, ops)
    assert caught.value.reason == proof.PROOF_BAD_BLOCK


@pytest.mark.parametrize("vector", VECTORS, ids=[v["comment"] for v in VECTORS])
def test_proof_blocks_are_the_vectors_block_sets(vector):
    root, blocks, ops, _leaf = _fixture(vector)
    assert {str(cid) for cid in proof_blocks(blocks, root, ops)} == set(vector["blocksInProof"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["comment"] for v in VECTORS])
def test_dropping_any_proof_block_is_a_typed_failure(vector):
    root, blocks, ops, _leaf = _fixture(vector)
    needed = [CID.parse(text) for text in vector["blocksInProof"]]
    for missing in needed:
        carried = {cid: blocks[cid] for cid in needed if cid != missing}
        try:
            result = invert_ops(carried, root, ops)
        except IncompleteProofError as exc:
            assert exc.reason == proof.PROOF_MISSING_BLOCK
        else:  # a block the reference sends that inversion alone does not read
            assert str(result) == vector["rootBeforeCommit"]
    with pytest.raises(IncompleteProofError):
        invert_ops({}, root, ops)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["comment"] for v in VECTORS])
def test_wrong_prev_data_and_wrong_ops_fail(vector):
    # The fixture's trees with a record of ours as the value (the shape depends on keys only).
    record = dagcbor.encode({"text": "hello"})
    leaf = CID.for_block(record)
    after = {key: leaf for key in vector["keys"] if key not in vector["dels"]}
    after.update({key: leaf for key in vector["adds"]})
    root, blocks = mst.build(after)
    before = mst.build({key: leaf for key in vector["keys"]})[0]
    ops = _fixture_ops(vector, leaf)
    other = CID.for_block(b"other")
    carried = {**blocks, leaf: record, other: b"other"}
    assert verify_commit_proof(carried, root, before, ops).ok
    assert verify_commit_proof(carried, root, root, ops).reason == proof.PROOF_PREV_DATA
    assert verify_commit_proof(carried, root, None, ops).reason == proof.PROOF_NO_PREV_DATA
    # an op that claims a different record than the tree holds
    lying = [CommitOp(op.action, op.path, other if op.cid else None, None, op.prev) for op in ops]
    if any(op.cid for op in ops):
        assert verify_commit_proof(carried, root, before, lying).reason == proof.PROOF_OP_MISMATCH
    # an op left out: the inversion no longer reaches prevData
    if len(ops) > 1:
        assert verify_commit_proof(carried, root, before, ops[1:]).reason == proof.PROOF_PREV_DATA


# -- random trees -------------------------------------------------------------------------------

RECORDS = [CID.for_block(dagcbor.encode({"n": n})) for n in range(4)]
RECORD_BLOCKS = {CID.for_block(dagcbor.encode({"n": n})): dagcbor.encode({"n": n}) for n in range(4)}
PATHS = st.sampled_from([f"app.bsky.feed.post/{n:04d}" for n in range(60)] + [f"c{n}/k" for n in range(20)])


@st.composite
def _commits(draw):
    before = draw(st.dictionaries(PATHS, st.sampled_from(RECORDS), max_size=50))
    changed = draw(st.lists(PATHS, unique=True, max_size=8))
    after = dict(before)
    ops = []
    for path in changed:
        if path in before and draw(st.booleans()):
            del after[path]
            ops.append(CommitOp("delete", path, None, None, before[path]))
        else:
            value = draw(st.sampled_from([cid for cid in RECORDS if cid != before.get(path)]))
            after[path] = value
            ops.append(CommitOp("update" if path in before else "create", path, value, None, before.get(path)))
    return before, after, ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_commits())
def test_random_ops_invert_to_the_original_root(commit):
    before, after, ops = commit
    before_root, _ = mst.build(before)
    after_root, after_blocks = mst.build(after)
    needed = proof_blocks(after_blocks, after_root, ops)
    carried = {cid: after_blocks[cid] for cid in needed}
    carried.update(RECORD_BLOCKS)
    assert invert_ops(carried, after_root, ops) == before_root
    assert verify_commit_proof(carried, after_root, before_root, ops).ok
    for missing in needed:
        partial = {cid: block for cid, block in carried.items() if cid != missing}
        try:
            result = invert_ops(partial, after_root, ops)
        except IncompleteProofError:
            continue
        assert result == before_root


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(PATHS, st.sampled_from(RECORDS), max_size=40), st.lists(PATHS, max_size=12))
def test_partial_tree_edits_match_a_fresh_build(entries, toggles):
    root, blocks = mst.build(entries)
    tree = PartialTree(blocks, root)
    expected = dict(entries)
    for index, path in enumerate(toggles):
        if path in expected:
            assert tree.delete(path) == expected.pop(path)
        else:
            value = RECORDS[index % len(RECORDS)]
            assert tree.put(path, value) is None
            expected[path] = value
        assert tree.get(path) == expected.get(path)
    assert tree.root_cid() == mst.build(expected)[0]


@settings(max_examples=150, deadline=None)
@given(_commits(), st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255))
def test_corrupted_blocks_are_typed_failures(commit, position, value):
    before, after, ops = commit
    after_root, after_blocks = mst.build(after)
    carried = {cid: after_blocks[cid] for cid in proof_blocks(after_blocks, after_root, ops)}
    carried.update(RECORD_BLOCKS)
    victim = sorted(carried)[position % len(carried)]
    block = bytearray(carried[victim])
    block[position % len(block)] = value
    carried[victim] = bytes(block)
    try:
        verdict = verify_commit_proof(carried, after_root, mst.build(before)[0], ops)
    except AtprotoError as exc:  # pragma: no cover - the verdict form must not raise
        pytest.fail(f"raised {exc!r}")
    changed = bytes(block) != after_blocks.get(victim, RECORD_BLOCKS.get(victim))
    read = victim == after_root or victim in {op.cid for op in ops}
    if changed and read:
        assert verdict.reason == proof.PROOF_BAD_BLOCK
    else:  # a block the check may not need to read
        assert verdict.reason in (None, proof.PROOF_BAD_BLOCK)


def _forged_node(node: dict) -> tuple[CID, dict[CID, bytes]]:
    block = dagcbor.encode(node)
    cid = CID.for_block(block)
    return cid, {cid: block}


@pytest.mark.parametrize(
    "node",
    [
        {
            "l": None,
            "e": [{"p": 0, "k": b"b/1", "v": RECORDS[0], "t": None}, {"p": 0, "k": b"a/1", "v": RECORDS[0], "t": None}],
        },  # keys out of order
        {"l": None},  # not a node
        {"l": RECORDS[0], "e": []},  # keyless root with a subtree
        {
            "l": None,
            "e": [
                {"p": 0, "k": b"app.bsky.feed.post/9adeb165882c", "v": RECORDS[0], "t": None},
                {"p": 0, "k": b"blue", "v": RECORDS[0], "t": None},
            ],
        },  # keys of different heights
    ],
)
def test_malformed_trees_are_bad_tree(node):
    root, blocks = _forged_node(node)
    verdict = verify_commit_proof({**blocks, **RECORD_BLOCKS}, root, root, [CommitOp("create", "x/y", RECORDS[0])])
    assert verdict.reason == proof.PROOF_BAD_TREE


def test_an_empty_node_below_the_root_is_bad_tree():
    empty_cid, empty = _forged_node({"l": None, "e": []})
    key = "blue"  # height 1: its left subtree is a level-0 node
    root, blocks = _forged_node({"l": empty_cid, "e": [{"p": 0, "k": key.encode(), "v": RECORDS[0], "t": None}]})
    blocks.update(empty)
    verdict = verify_commit_proof({**blocks, **RECORD_BLOCKS}, root, root, [CommitOp("create", "a/b", RECORDS[0])])
    assert verdict.reason == proof.PROOF_BAD_TREE


def test_keys_outside_their_place_in_the_tree_are_bad_tree():
    # "y/1" sorts after "blue" but sits in the subtree left of it
    child_cid, child = _forged_node({"l": None, "e": [{"p": 0, "k": b"y/1", "v": RECORDS[0], "t": None}]})
    root, blocks = _forged_node({"l": child_cid, "e": [{"p": 0, "k": b"blue", "v": RECORDS[0], "t": None}]})
    blocks.update(child)
    blocks.update(RECORD_BLOCKS)
    for op in (CommitOp("create", "a/1", RECORDS[0]), CommitOp("delete", "a/1", None, None, RECORDS[0])):
        assert verify_commit_proof(blocks, root, root, [op]).reason == proof.PROOF_BAD_TREE
    with pytest.raises(MSTError):  # the general walker agrees that the tree is malformed
        list(mst.walk(blocks, root))


@pytest.mark.parametrize(
    "ops",
    [
        [CommitOp("create", "a/b", RECORDS[0], None, RECORDS[1])],  # create with prev
        [CommitOp("update", "a/b", RECORDS[0])],  # update without prev
        [CommitOp("delete", "a/b", RECORDS[0], None, RECORDS[1])],  # delete with cid
        [CommitOp("delete", "a/b", None)],  # delete without prev
        [CommitOp("mutate", "a/b", RECORDS[0])],
        [CommitOp("create", "a/b", RECORDS[0]), CommitOp("create", "a/b", RECORDS[1])],  # a path twice
        [CommitOp("create", "", RECORDS[0])],
    ],
)
def test_malformed_ops_are_bad_op(ops):
    root, blocks = mst.build({"a/b": RECORDS[0]})
    assert verify_commit_proof({**blocks, **RECORD_BLOCKS}, root, root, ops).reason == proof.PROOF_BAD_OP


def test_a_missing_record_block():
    root, blocks = mst.build({"a/b": RECORDS[0]})
    empty = mst.build({})[0]
    assert (
        verify_commit_proof(blocks, root, empty, [CommitOp("create", "a/b", RECORDS[0])]).reason
        == proof.PROOF_MISSING_RECORD
    )
    assert verify_commit_proof({**blocks, **RECORD_BLOCKS}, root, empty, [CommitOp("create", "a/b", RECORDS[0])]).ok


def test_a_delete_of_a_present_key_and_a_create_of_an_absent_one_mismatch():
    root, blocks = mst.build({"a/b": RECORDS[0]})
    blocks.update(RECORD_BLOCKS)
    assert (
        verify_commit_proof(blocks, root, root, [CommitOp("delete", "a/b", None, None, RECORDS[0])]).reason
        == proof.PROOF_OP_MISMATCH
    )
    assert (
        verify_commit_proof(blocks, root, root, [CommitOp("create", "a/c", RECORDS[0])]).reason
        == proof.PROOF_OP_MISMATCH
    )
    assert (
        verify_commit_proof(blocks, root, root, [CommitOp("update", "a/c", RECORDS[0], None, RECORDS[1])]).reason
        == proof.PROOF_OP_MISMATCH
    )


# -- the node encoder ---------------------------------------------------------------------------

LINKS = st.sampled_from(RECORDS + [None])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=30, unique=True), st.data())
def test_node_encoding_is_the_canonical_dag_cbor(keys, data):
    keys.sort()
    left = data.draw(LINKS)
    entries = [(key, data.draw(st.sampled_from(RECORDS)), data.draw(LINKS)) for key in keys]
    node = {"l": left, "e": []}
    previous = b""
    for key, value, tree in entries:
        shared = proof._shared_prefix(previous, key)
        node["e"].append({"p": shared, "k": key[shared:], "v": value, "t": tree})
        previous = key
    assert proof._encode_node(left, entries) == dagcbor.encode(node)


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_shared_prefix(a, b):
    expected = 0
    while expected < min(len(a), len(b)) and a[expected] == b[expected]:
        expected += 1
    assert proof._shared_prefix(a, b) == expected


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(PATHS, st.sampled_from(RECORDS), max_size=60))
def test_the_node_reader_agrees_with_the_general_decoder(entries):
    _root, blocks = mst.build(entries)
    for cid, block in blocks.items():
        assert proof._parse_node(block) == mst._load(blocks, cid)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(PATHS, st.sampled_from(RECORDS), min_size=1, max_size=30), st.data())
def test_what_the_node_reader_accepts_is_canonical(entries, data):
    _root, blocks = mst.build(entries)
    block = bytearray(data.draw(st.sampled_from(sorted(blocks.values()))))
    for _ in range(data.draw(st.integers(1, 3))):
        block[data.draw(st.integers(0, len(block) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del block[data.draw(st.integers(0, len(block) - 1)) :]
    parsed = proof._parse_node(bytes(block))
    if parsed is not None:
        assert proof._encode_node(*parsed) == bytes(block)


def test_the_node_reader_leaves_non_canonical_nodes_to_the_general_decoder():
    entries = [{"p": 0, "k": b"a/1", "v": RECORDS[0], "t": None}, {"p": 0, "k": b"a/2", "v": RECORDS[1], "t": None}]
    loose = dagcbor.encode({"l": None, "e": entries})  # 'a/' not shared: valid, not canonical
    assert proof._parse_node(loose) is None
    assert mst._load({CID.for_block(loose): loose}, CID.for_block(loose))[1][1][0] == b"a/2"
    raw_value = CID.for_block(b"blob", 0x55)
    other_codec = dagcbor.encode({"l": None, "e": [{"p": 0, "k": b"a/1", "v": raw_value, "t": None}]})
    assert proof._parse_node(other_codec) is None
