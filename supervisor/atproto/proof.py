"""Commit proofs (sync 1.1): invert a commit's operations on the partial MST it carries.

A ``#commit`` event carries the new tree root (the commit's ``data``), the previous root
(``prevData``) and the MST nodes that its operations touch. Undoing each operation on that
partial tree (a create becomes a delete, a delete re-inserts ``prev``, an update restores
``prev``) must give back exactly ``prevData``: then the operations are the whole difference
between the two trees, and the records the event names are the ones the repository holds.

Subtrees that no operation reaches stay as bare CIDs, so only the nodes on the operations'
paths (and the neighbours a split or merge needs) have to be present. A node that is needed
and absent raises :class:`IncompleteProofError`; every node read must hash to its CID.
"""

from __future__ import annotations

from bisect import bisect_left
from hashlib import sha256
from typing import Any, Iterable, Mapping, MutableMapping, Protocol, cast

from supervisor.atproto.cid import CID
from supervisor.atproto.errors import DecodeError, IncompleteProofError, ProofError
from supervisor.atproto.mst import MAX_ENTRIES, MAX_KEY, _height_of_bytes, _load
from supervisor.atproto.verdict import VALID, Verdict, from_error

__all__ = [
    "Operation",
    "PartialTree",
    "invert_ops",
    "proof_blocks",
    "check_commit_proof",
    "verify_commit_proof",
    "PROOF_MISSING_BLOCK",
    "PROOF_BAD_BLOCK",
    "PROOF_BAD_TREE",
    "PROOF_BAD_OP",
    "PROOF_OP_MISMATCH",
    "PROOF_MISSING_RECORD",
    "PROOF_NO_PREV_DATA",
    "PROOF_PREV_DATA",
]

#: Reason codes of failed proofs.
PROOF_MISSING_BLOCK = "proof_missing_block"  # an MST node needed for the inversion is absent
PROOF_BAD_BLOCK = "proof_bad_block"  # a block does not hash to its CID
PROOF_BAD_TREE = "proof_bad_tree"  # a malformed or non-canonical MST node
PROOF_BAD_OP = "proof_bad_op"  # an unknown action, a missing cid/prev, a path named twice
PROOF_OP_MISMATCH = "proof_op_mismatch"  # the new tree does not hold what an op says it wrote
PROOF_MISSING_RECORD = "proof_missing_record"  # a create/update whose record block is absent
PROOF_NO_PREV_DATA = "proof_no_prev_data"  # no prevData: nothing to check the inversion against
PROOF_PREV_DATA = "proof_prev_data"  # the inverted tree's root is not prevData


def _shared_prefix(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share (one integer XOR, not a loop per byte)."""
    size = min(len(a), len(b))
    if a[:size] == b[:size]:
        return size
    diff = int.from_bytes(a[:size], "big") ^ int.from_bytes(b[:size], "big")
    return size - (diff.bit_length() + 7) // 8


def _head(major: int, value: int) -> bytes:
    """A canonical CBOR head: major type and the shortest form of ``value``."""
    if value < 24:
        return bytes((major | value,))
    if value < 0x100:
        return bytes((major | 24, value))
    if value < 0x10000:
        return bytes((major | 25,)) + value.to_bytes(2, "big")
    return bytes((major | 26,)) + value.to_bytes(4, "big")


def _link(cid: CID | None) -> bytes:
    if cid is None:
        return b"\xf6"
    raw = bytes(cid)
    return b"\xd8\x2a" + _head(0x40, len(raw) + 1) + b"\x00" + raw


_BYTES_HEADS = [_head(0x40, size) for size in range(MAX_KEY + 1)]  # every key length there can be
_UINT_HEADS = [_head(0, size) for size in range(MAX_KEY + 1)]  # every prefix length
_LINK36 = b"\xd8\x2a\x58\x25\x00"  # tag 42 over 37 bytes: the usual CIDv1 sha2-256 link


def _encode_entry(previous: bytes, key: bytes, value: CID, tree: CID | None) -> bytes:
    """One entry ``{"k", "p", "t", "v"}`` of a node, ``key`` compressed against ``previous``."""
    size = min(len(previous), len(key))
    if previous[:size] == key[:size]:
        shared = size
    else:
        diff = int.from_bytes(previous[:size], "big") ^ int.from_bytes(key[:size], "big")
        shared = size - (diff.bit_length() + 7) // 8
    suffix = key[shared:]
    if len(suffix) > MAX_KEY:
        raise ProofError(PROOF_BAD_TREE, f"MST key longer than {MAX_KEY} bytes")
    return (
        b"\xa4\x61k"
        + _BYTES_HEADS[len(suffix)]
        + suffix
        + b"\x61p"
        + _UINT_HEADS[shared]
        + b"\x61t"
        + (b"\xf6" if tree is None else _LINK36 + tree if len(tree) == 36 else _link(tree))
        + b"\x61v"
        + (_LINK36 + value if len(value) == 36 else _link(value))
    )


def _encode_left(left: CID | None) -> bytes:
    return b"\x61l" + (b"\xf6" if left is None else _LINK36 + left if len(left) == 36 else _link(left))


def _encode_node(left: CID | None, entries: list[tuple[bytes, CID, CID | None]]) -> bytes:
    """The DAG-CBOR of an MST node, written directly: ``{"e": [{"k", "p", "t", "v"}...], "l"}``
    (keys in canonical order). Equal to ``dagcbor.encode`` of the node, several times faster."""
    parts = [b"\xa2\x61e", _head(0x80, len(entries))]
    previous = b""
    for key, value, tree in entries:
        parts.append(_encode_entry(previous, key, value, tree))
        previous = key
    parts.append(_encode_left(left))
    return b"".join(parts)


_EMPTY_ROOT = CID.for_block(_encode_node(None, []))
_LINK_PREFIX = b"\xd8\x2a\x58\x25\x00\x01\x71\x12\x20"  # tag 42, 37 bytes: 0x00 + CIDv1 dag-cbor sha2-256
_new_cid = bytes.__new__


def _read_head(block: bytes, pos: int, major: int) -> tuple[int, int]:
    """A canonical (shortest-form) CBOR head of ``major`` at ``pos``; (-1, pos) otherwise."""
    first = block[pos]
    if first & 0xE0 != major:
        return -1, pos
    info = first & 0x1F
    if info < 24:
        return info, pos + 1
    if info == 24:
        value = block[pos + 1]
        return (value, pos + 2) if value >= 24 else (-1, pos)
    if info == 25:
        value = int.from_bytes(block[pos + 1 : pos + 3], "big")
        return (value, pos + 3) if value >= 0x100 else (-1, pos)
    return -1, pos


def _read_link(block: bytes, pos: int) -> tuple[Any, int]:
    """A null or a dag-cbor sha2-256 CID link at ``pos``; (False, pos) for anything else."""
    if block[pos] == 0xF6:
        return None, pos + 1
    if block[pos : pos + 9] != _LINK_PREFIX or len(block) < pos + 41:
        return False, pos
    return _new_cid(CID, block[pos + 5 : pos + 41]), pos + 41


def _parse_node(block: bytes) -> tuple[CID | None, list[tuple[bytes, CID, CID | None]]] | None:
    """Read a node written exactly as :func:`_encode_node` writes it (the canonical form,
    maximal prefix compression, dag-cbor links); None for any other bytes, which then take
    the general decoder. What this accepts re-encodes to the same bytes."""
    parsed = _parse_node_spans(block)
    return None if parsed is None else (parsed[0], parsed[1])


def _parse_node_spans(block: bytes) -> tuple[CID | None, list[tuple[bytes, CID, CID | None]], list[bytes]] | None:
    """:func:`_parse_node`, and the bytes of each entry (reused when re-encoding the node)."""
    try:
        if block[:3] != b"\xa2\x61e":
            return None
        count, pos = _read_head(block, 3, 0x80)
        if count < 0 or count > MAX_ENTRIES:
            return None
        entries = []
        spans = []
        previous = b""
        for _ in range(count):
            start = pos
            if block[pos : pos + 3] != b"\xa4\x61k":
                return None
            head = block[pos + 3]
            if 0x40 <= head < 0x58:  # a key suffix under 24 bytes: the usual case
                size, pos = head - 0x40, pos + 4
            else:
                size, pos = _read_head(block, pos + 3, 0x40)
                if size < 0:
                    return None
            suffix = block[pos : pos + size]
            pos += size
            if block[pos : pos + 2] != b"\x61p":
                return None
            head = block[pos + 2]
            if head < 24:
                shared, pos = head, pos + 3
            else:
                shared, pos = _read_head(block, pos + 2, 0)
            if shared < 0 or shared > len(previous) or block[pos : pos + 2] != b"\x61t":
                return None
            pos += 2
            if block[pos] == 0xF6:
                tree = None
                pos += 1
            elif block[pos : pos + 9] == _LINK_PREFIX:  # a truncated CID fails the checks that follow it
                tree = _new_cid(CID, block[pos + 5 : pos + 41])
                pos += 41
            else:
                return None
            if block[pos : pos + 11] != b"\x61v" + _LINK_PREFIX:
                return None
            value = _new_cid(CID, block[pos + 7 : pos + 43])
            pos += 43
            key = previous[:shared] + suffix
            if len(suffix) != size or not suffix or len(key) > MAX_KEY:
                return None
            # canonical compression shares all it can: the next byte differs, or ``previous`` ends
            if previous and (key <= previous or (shared < len(previous) and previous[shared] == suffix[0])):
                return None
            entries.append((key, value, tree))
            spans.append(block[start:pos])
            previous = key
        if block[pos : pos + 2] != b"\x61l":
            return None
        left, pos = _read_link(block, pos + 2)
        if left is False or pos != len(block):
            return None
        return left, entries, spans
    except IndexError:
        return None


class Operation(Protocol):
    """What an operation must expose (``frames.CommitOp`` does)."""

    action: str
    path: str
    cid: CID | None
    prev: CID | None


class _Node:
    """A loaded MST node; ``children[i]`` is left of ``keys[i]``, ``children[-1]`` right of the last."""

    __slots__ = ("keys", "values", "children", "cid", "spans", "links")

    def __init__(self, keys: list[bytes], values: list[CID], children: list[Any], cid: CID | None = None) -> None:
        self.keys = keys
        self.values = values
        self.children = children  # each None, a CID not loaded yet, or a _Node
        self.cid = cid  # the node's CID while it is unchanged
        # As read: each entry's bytes and the children's CIDs. An entry whose subtree still has
        # its CID is written back as it was; None once keys or values change.
        self.spans: list[bytes] | None = None
        self.links: list[CID | None] = []


def _hashes_to(cid: CID, block: bytes) -> bool:
    """Whether ``block`` hashes to ``cid`` (the usual CIDv1 sha2-256 without parsing the CID)."""
    if len(cid) == 36 and cid[0] == 1 and cid[1] < 0x80 and cid[2:4] == b"\x12\x20":
        return sha256(block).digest() == cid[4:]
    return cid.verify(block)


def _child_bounds(
    keys: list[bytes],
    index: int,
    low: bytes | None,
    high: bytes | None,
) -> tuple[bytes | None, bytes | None]:
    """The key range of the subtree left of ``keys[index]``, in a node whose range is (low, high)."""
    return (keys[index - 1] if index else low), (keys[index] if index < len(keys) else high)


def _trim(node: _Node) -> _Node | None:
    """None for a node with nothing in it (no keys and no subtree)."""
    if not node.keys and node.children[0] is None:
        return None
    return node


class PartialTree:
    """An MST of which only the needed nodes are loaded, and which can be edited.

    ``blocks`` maps CIDs to node blocks; ``root`` is the tree's root CID. Edits load nodes as
    they reach them; :meth:`root_cid` re-encodes only the nodes that changed.
    """

    def __init__(
        self, blocks: Mapping[CID, bytes], root: CID, *, written: MutableMapping[CID, bytes] | None = None
    ) -> None:
        self._blocks = blocks
        #: Where the blocks of re-encoded nodes go (None: only their CIDs are kept).
        self._written = written
        node = self._read(root, None)
        self._root: Any
        if not node.keys:
            if node.children[0] is not None:
                raise ProofError(PROOF_BAD_TREE, f"MST root {root} has no entries but a subtree")
            self._root, self._level = None, 0
        else:
            self._root, self._level = node, _height_of_bytes(node.keys[0])
            self._check_level(node, self._level, root)

    # -- loading ------------------------------------------------------------------------------

    def _read(self, cid: CID, level: int | None) -> _Node:
        block = self._blocks.get(cid)
        if block is None:
            raise IncompleteProofError(PROOF_MISSING_BLOCK, f"MST node {cid} is needed and not among the blocks")
        if not _hashes_to(cid, block):
            raise ProofError(PROOF_BAD_BLOCK, f"block {cid} does not hash to its CID")
        parsed = _parse_node_spans(block)
        spans = None
        if parsed is None:  # not in the canonical layout: the general, strict decoder decides
            try:
                left, entries = _load(self._blocks, cid)
            except DecodeError as exc:
                raise ProofError(PROOF_BAD_TREE, str(exc)) from None
        else:
            left, entries, spans = parsed
        children = [left] + [tree for _k, _v, tree in entries]
        node = _Node([key for key, _v, _t in entries], [value for _k, value, _t in entries], children, cid)
        if spans is not None:
            node.spans = spans
            node.links = children[:]
        if level is not None:
            self._check_level(node, level, cid)
        return node

    @staticmethod
    def _check_level(node: _Node, level: int, cid: CID) -> None:
        for key in node.keys:
            if _height_of_bytes(key) != level:
                raise ProofError(PROOF_BAD_TREE, f"MST node {cid}: key {key!r} does not belong at level {level}")
        if level == 0 and any(child is not None for child in node.children):
            raise ProofError(PROOF_BAD_TREE, f"MST node {cid} at level 0 links to a subtree")
        if not node.keys and node.children[0] is None:  # the root has keys when this runs
            raise ProofError(PROOF_BAD_TREE, f"MST node {cid} is empty below the root")

    def _open(self, ref: Any, level: int, low: bytes | None, high: bytes | None) -> _Node | None:
        """The node ``ref`` (loading it if it is a CID), whose keys must lie between ``low``
        and ``high`` (exclusive; None: unbounded), as its place in the tree demands."""
        if ref is None or type(ref) is _Node:
            return ref
        if level < 0:
            raise ProofError(PROOF_BAD_TREE, "MST subtree below level 0")
        node = self._read(ref, level)
        keys = node.keys
        if keys and ((low is not None and keys[0] <= low) or (high is not None and keys[-1] >= high)):
            raise ProofError(PROOF_BAD_TREE, f"MST node {ref} holds keys outside the range of its place in the tree")
        return node

    # -- edits --------------------------------------------------------------------------------
    # ``low`` and ``high`` bound the keys of the subtree being visited (exclusive, None: none).

    def get(self, key: str) -> CID | None:
        """The value of ``key``, or None when absent."""
        raw = key.encode("utf-8")
        height = _height_of_bytes(raw)
        if self._root is None or height > self._level:
            return None
        self._root, value = self._get(self._root, self._level, raw, height, None, None)
        return value

    def _get(
        self,
        ref: Any,
        level: int,
        key: bytes,
        height: int,
        low: bytes | None,
        high: bytes | None,
    ) -> tuple[Any, CID | None]:
        node = self._open(ref, level, low, high)
        if node is None:
            return None, None
        keys = node.keys
        index = bisect_left(keys, key)
        if height == level:
            found = index < len(keys) and keys[index] == key
            return node, (node.values[index] if found else None)
        node.children[index], value = self._get(
            node.children[index], level - 1, key, height, *_child_bounds(keys, index, low, high)
        )
        return node, value

    def put(self, key: str, value: CID) -> CID | None:
        """Set ``key`` to ``value``; return the value it replaced (None: it was inserted)."""
        raw = key.encode("utf-8")
        height = _height_of_bytes(raw)
        if self._root is None:
            self._level = height
        while height > self._level:
            self._root = _Node([], [], [self._root])
            self._level += 1
        old: list[CID | None] = [None]
        self._root = self._put(self._root, self._level, raw, height, value, old, None, None)
        return old[0]

    def _put(
        self,
        ref: Any,
        level: int,
        key: bytes,
        height: int,
        value: CID,
        old: list[CID | None],
        low: bytes | None,
        high: bytes | None,
    ) -> _Node:
        node = self._open(ref, level, low, high)
        if node is None:
            if height == level:
                return _Node([key], [value], [None, None])
            return _Node([], [], [self._put(None, level - 1, key, height, value, old, low, high)])
        keys = node.keys
        index = bisect_left(keys, key)
        node.cid = None
        bounds = _child_bounds(keys, index, low, high)
        if height == level:
            node.spans = None
            if index < len(keys) and keys[index] == key:
                old[0] = node.values[index]
                node.values[index] = value
                return node
            below, above = self._split(node.children[index], level - 1, key, *bounds)
            keys.insert(index, key)
            node.values.insert(index, value)
            node.children[index : index + 1] = [below, above]
            return node
        node.children[index] = self._put(node.children[index], level - 1, key, height, value, old, *bounds)
        return node

    def _split(
        self,
        ref: Any,
        level: int,
        key: bytes,
        low: bytes | None,
        high: bytes | None,
    ) -> tuple[_Node | None, _Node | None]:
        """The subtree ``ref`` cut into the keys below ``key`` and those above it."""
        node = self._open(ref, level, low, high)
        if node is None:
            return None, None
        keys = node.keys
        index = bisect_left(keys, key)
        below_child, above_child = self._split(
            node.children[index], level - 1, key, *_child_bounds(keys, index, low, high)
        )
        below = _Node(keys[:index], node.values[:index], node.children[:index] + [below_child])
        above = _Node(keys[index:], node.values[index:], [above_child] + node.children[index + 1 :])
        return _trim(below), _trim(above)

    def delete(self, key: str) -> CID | None:
        """Remove ``key``; return its value (None: it was absent, and nothing changed)."""
        raw = key.encode("utf-8")
        height = _height_of_bytes(raw)
        if self._root is None or height > self._level or self.get(key) is None:
            return None
        old: list[CID | None] = [None]
        root = self._delete(self._root, self._level, raw, height, old, None, None)
        # The root sits at the level of the highest key: drop keyless levels above it.
        while root is not None and not root.keys:
            self._level -= 1
            root = self._open(root.children[0], self._level, None, None)
        self._root = root
        if root is None:
            self._level = 0
        return old[0]

    def _delete(
        self,
        ref: Any,
        level: int,
        key: bytes,
        height: int,
        old: list[CID | None],
        low: bytes | None,
        high: bytes | None,
    ) -> _Node | None:
        node = self._open(ref, level, low, high)
        assert node is not None  # get() found the key on this path
        keys = node.keys
        index = bisect_left(keys, key)
        node.cid = None
        if height == level:
            node.spans = None
            old[0] = node.values[index]
            left_bounds = (keys[index - 1] if index else low, key)
            right_bounds = (key, keys[index + 1] if index + 1 < len(keys) else high)
            merged = self._merge(node.children[index], node.children[index + 1], level - 1, left_bounds, right_bounds)
            del keys[index], node.values[index]
            node.children[index : index + 2] = [merged]
        else:
            node.children[index] = self._delete(
                node.children[index], level - 1, key, height, old, *_child_bounds(keys, index, low, high)
            )
        return _trim(node)

    def _merge(
        self,
        left: Any,
        right: Any,
        level: int,
        left_bounds: tuple[bytes | None, bytes | None],
        right_bounds: tuple[bytes | None, bytes | None],
    ) -> Any:
        """Join two adjacent subtrees of one level (all of ``left`` below all of ``right``)."""
        if left is None:
            return right
        if right is None:
            return left
        low = self._open(left, level, *left_bounds)
        high = self._open(right, level, *right_bounds)
        assert low is not None and high is not None
        middle = self._merge(
            low.children[-1],
            high.children[0],
            level - 1,
            (low.keys[-1] if low.keys else left_bounds[0], left_bounds[1]),
            (right_bounds[0], high.keys[0] if high.keys else right_bounds[1]),
        )
        return _trim(
            _Node(low.keys + high.keys, low.values + high.values, low.children[:-1] + [middle] + high.children[1:])
        )

    # -- encoding -----------------------------------------------------------------------------

    def root_cid(self) -> CID:
        """The CID of the tree's root as it is now."""
        if self._root is None:
            return _EMPTY_ROOT
        return cast(CID, self._encode(self._root))  # a node encodes to its CID; an unloaded subtree is a CID

    def _encode(self, ref: Any) -> Any:
        if ref is None or type(ref) is not _Node:
            return ref
        if ref.cid is not None:
            return ref.cid
        encode = self._encode
        children = ref.children
        keys = ref.keys
        spans = ref.spans
        if spans is None:
            entries = [(key, ref.values[index], encode(children[index + 1])) for index, key in enumerate(keys)]
            block = _encode_node(encode(children[0]), entries)
        else:
            # Only subtree links changed: entries whose subtree kept its CID are copied as read.
            links = ref.links
            parts = [b"\xa2\x61e", _head(0x80, len(keys))]
            for index, key in enumerate(keys):
                tree = encode(children[index + 1])
                if tree == links[index + 1]:
                    parts.append(spans[index])
                else:
                    parts.append(_encode_entry(keys[index - 1] if index else b"", key, ref.values[index], tree))
            parts.append(_encode_left(encode(children[0])))
            block = b"".join(parts)
        ref.cid = CID.for_block(block)
        if self._written is not None:
            self._written[ref.cid] = block
        return ref.cid


def _checked_ops(ops: Iterable[Operation]) -> list[Operation]:
    ops = list(ops)
    seen: set[str] = set()
    for op in ops:
        action, path, cid, prev = op.action, op.path, op.cid, getattr(op, "prev", None)
        if type(path) is not str or not path:
            raise ProofError(PROOF_BAD_OP, f"op path must be a non-empty string, not {path!r}")
        if path in seen:
            raise ProofError(PROOF_BAD_OP, f"{path} is named by more than one op")
        seen.add(path)
        if action == "create":
            ok = cid is not None and prev is None
        elif action == "update":
            ok = cid is not None and prev is not None
        elif action == "delete":
            ok = cid is None and prev is not None
        else:
            raise ProofError(PROOF_BAD_OP, f"{path}: unknown action {action!r}")
        if not ok:
            raise ProofError(
                PROOF_BAD_OP,
                f"{path}: a {action} needs "
                + {"create": "a cid and no prev", "update": "a cid and a prev", "delete": "a prev and no cid"}[action],
            )
    return ops


def invert_ops(blocks: Mapping[CID, bytes], data: CID, ops: Iterable[Operation]) -> CID:
    """The root the tree ``data`` had before ``ops``: each op undone, in reverse order.

    Each op must be visible in the tree ``data`` (a create's or update's ``cid`` at its path,
    a deleted path absent). Raises :class:`ProofError` (or :class:`IncompleteProofError`).
    """
    checked = _checked_ops(ops)
    tree = PartialTree(blocks, data)
    _invert(tree, checked)
    return tree.root_cid()


def _invert(tree: PartialTree, ops: list[Operation]) -> None:
    for op in reversed(ops):
        if op.action == "create":
            found = tree.delete(op.path)
        elif op.action == "update":
            found = tree.put(op.path, op.prev)  # type: ignore[arg-type]
        else:
            found = tree.get(op.path)
            if found is None:
                tree.put(op.path, op.prev)  # type: ignore[arg-type]
                continue
        if op.action == "delete" or found != op.cid:
            raise ProofError(
                PROOF_OP_MISMATCH, f"{op.path}: the tree holds {found} where the {op.action} says {op.cid}"
            )


class _Recording(Mapping[CID, bytes]):
    """A view of a block map that remembers which blocks were read."""

    def __init__(self, blocks: Mapping[CID, bytes]) -> None:
        self._blocks = blocks
        self.read: set[CID] = set()

    def __getitem__(self, cid: CID) -> bytes:
        block = self._blocks[cid]
        self.read.add(cid)
        return block

    def get(self, cid: CID, default: Any = None) -> Any:
        block = self._blocks.get(cid)
        if block is not None:
            self.read.add(cid)
        return block if block is not None else default

    def __iter__(self) -> Any:
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)


def proof_blocks(blocks: Mapping[CID, bytes], data: CID, ops: Iterable[Operation]) -> set[CID]:
    """The MST nodes an event must carry for ``ops`` (a producer's view: ``blocks`` holds the
    whole tree ``data``; records are not included).

    That is the nodes on each op's path in the tree after and before the commit, and those
    that undoing or applying the ops reads (the neighbours of a split or merge): the set the
    reference implementations send and expect.
    """
    checked = _checked_ops(ops)
    recording = _Recording(blocks)
    tree = PartialTree(recording, data)
    for op in checked:
        tree.get(op.path)
    _invert(tree, checked)
    for op in checked:
        tree.get(op.path)
    # Applying the ops forward may split subtrees that undoing them only had to join.
    for op in checked:
        if op.action == "delete":
            tree.delete(op.path)
        else:
            tree.put(op.path, op.cid)  # type: ignore[arg-type]
    if tree.root_cid() != data:
        raise ProofError(PROOF_OP_MISMATCH, "the ops applied again do not give back the tree")
    return recording.read


def check_commit_proof(blocks: Mapping[CID, bytes], data: CID, prev_data: CID | None, ops: Iterable[Operation]) -> None:
    """Raise :class:`ProofError` unless ``ops`` lead from ``prev_data`` to ``data``.

    Also requires every create's and update's record block, hashing to the op's ``cid``.
    """
    if prev_data is None:
        raise ProofError(PROOF_NO_PREV_DATA, "the commit carries no prevData")
    ops = _checked_ops(ops)
    for op in ops:
        if op.cid is None:
            continue
        record = blocks.get(op.cid)
        if record is None:
            raise ProofError(PROOF_MISSING_RECORD, f"{op.path}: record block {op.cid} is not among the blocks")
        if not _hashes_to(op.cid, record):
            raise ProofError(PROOF_BAD_BLOCK, f"{op.path}: record block does not hash to {op.cid}")
    before = invert_ops(blocks, data, ops)
    if before != prev_data:
        raise ProofError(PROOF_PREV_DATA, f"inverting the ops gives {before}, not prevData {prev_data}")


def verify_commit_proof(
    blocks: Mapping[CID, bytes], data: CID, prev_data: CID | None, ops: Iterable[Operation]
) -> Verdict:
    """:func:`check_commit_proof` as a :class:`Verdict`."""
    try:
        check_commit_proof(blocks, data, prev_data, ops)
    except ProofError as exc:
        return from_error(exc)
    return VALID
