"""The repository Merkle Search Tree (MST): build one from keys and CIDs, walk one from blocks.

Nodes are DAG-CBOR maps ``{l: CID|null, e: [{p, k, v, t}]}``: ``l`` the left subtree, and per
entry ``p`` the bytes shared with the previous key in the node, ``k`` the rest of the key,
``v`` the value CID and ``t`` the subtree to the right of the entry. A key's height is the
number of leading zero bits of sha256(key) counted in 2-bit steps (fanout 4).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Iterator, Mapping

from supervisor.atproto import dagcbor
from supervisor.atproto.cid import CID, DAG_CBOR, SHA2_256
from supervisor.atproto.errors import DecodeError, MissingBlockError, MSTError

__all__ = ["key_height", "build", "walk", "node_path", "MAX_ENTRIES", "MAX_KEY"]

MAX_ENTRIES = 4096  #: entries per node beyond which a tree is treated as hostile
MAX_KEY = 1024  #: longest key in bytes


_HEIGHTS: dict[bytes, int] = {}  # key -> height: keys recur in every proof of a repository's busy paths
_HEIGHTS_MAX = 1 << 17  # entries kept before the memo starts again (about 20 MB at most)


def _height_of_bytes(key: bytes) -> int:
    height = _HEIGHTS.get(key)
    if height is not None:
        return height
    digest = hashlib.sha256(key).digest()
    first = digest[0]
    # leading zero bits in 2-bit steps; three keys in four stop in the first byte
    if first >= 64:
        height = 0
    elif first >= 16:
        height = 1
    elif first >= 4:
        height = 2
    elif first:
        height = 3
    else:
        value = int.from_bytes(digest, "big")
        height = 128 if value == 0 else (256 - value.bit_length()) // 2
    if len(_HEIGHTS) >= _HEIGHTS_MAX:
        _HEIGHTS.clear()
    _HEIGHTS[key] = height
    return height


def key_height(key: str) -> int:
    """Leading zero bits of sha256(key) (UTF-8), counted in 2-bit steps."""
    return _height_of_bytes(key.encode("utf-8"))


def _common_prefix(a: bytes, b: bytes) -> int:
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[i] == b[i]:
        i += 1
    return i


class _Builder:
    def __init__(self) -> None:
        self.blocks: dict[CID, bytes] = {}

    def store(self, node: dict[str, Any]) -> CID:
        block = dagcbor.encode(node)
        cid = CID.for_block(block)
        self.blocks[cid] = block
        return cid

    def node(self, items: list[tuple[bytes, CID, int]], height: int) -> CID:
        """The node at ``height`` holding ``items`` (all of height <= ``height``)."""
        groups: list[list[tuple[bytes, CID, int]]] = [[]]
        entries: list[tuple[bytes, CID]] = []
        for item in items:
            if item[2] == height:
                entries.append((item[0], item[1]))
                groups.append([])
            else:
                groups[-1].append(item)
        subtrees = [self.node(group, height - 1) if group else None for group in groups]
        encoded = []
        previous = b""
        for index, (key, value) in enumerate(entries):
            shared = _common_prefix(previous, key)
            encoded.append({"p": shared, "k": key[shared:], "v": value, "t": subtrees[index + 1]})
            previous = key
        return self.store({"l": subtrees[0], "e": encoded})


def build(entries: Mapping[str, CID]) -> tuple[CID, dict[CID, bytes]]:
    """Build the MST for ``entries``; return the root CID and every node block."""
    items = []
    for key, value in entries.items():
        raw = key.encode("utf-8")
        if not raw:
            raise MSTError("MST keys must not be empty")
        if len(raw) > MAX_KEY:
            raise MSTError(f"MST key longer than {MAX_KEY} bytes: {key[:40]!r}...")
        if type(value) is not CID:
            raise MSTError(f"MST value for {key!r} is not a CID")
        items.append((raw, value, _height_of_bytes(raw)))
    items.sort(key=lambda item: item[0])
    builder = _Builder()
    top = max((item[2] for item in items), default=0)
    root = builder.node(items, top)
    return root, builder.blocks


def _load(blocks: Mapping[CID, bytes], cid: CID) -> tuple[CID | None, list[tuple[bytes, CID, CID | None]]]:
    block = blocks.get(cid)
    if block is None:
        raise MissingBlockError(f"MST node {cid} is missing")
    try:
        node = dagcbor.decode(block)
    except DecodeError as exc:
        raise MSTError(f"MST node {cid}: {exc}") from None
    if type(node) is not dict or type(node.get("e")) is not list or "l" not in node:
        raise MSTError(f"MST node {cid} must be a map with 'l' and 'e'")
    left = node["l"]
    if left is not None and type(left) is not CID:
        raise MSTError(f"MST node {cid}: 'l' must be a CID link or null")
    raw_entries = node["e"]
    if len(raw_entries) > MAX_ENTRIES:
        raise MSTError(f"MST node {cid} has {len(raw_entries)} entries (limit {MAX_ENTRIES})")
    entries = []
    previous = b""
    for index, entry in enumerate(raw_entries):
        if type(entry) is not dict:
            raise MSTError(f"MST node {cid}: entry {index} is not a map")
        prefix, suffix, value, tree = entry.get("p"), entry.get("k"), entry.get("v"), entry.get("t", ...)
        if type(prefix) is not int or type(suffix) is not bytes or type(value) is not CID or tree is ...:
            raise MSTError(f"MST node {cid}: entry {index} needs integer 'p', bytes 'k', link 'v' and 't'")
        if tree is not None and type(tree) is not CID:
            raise MSTError(f"MST node {cid}: entry {index} 't' must be a CID link or null")
        if prefix < 0 or prefix > len(previous) or (index == 0 and prefix != 0):
            raise MSTError(f"MST node {cid}: entry {index} has an impossible prefix length {prefix}")
        key = previous[:prefix] + suffix
        if not key or len(key) > MAX_KEY:
            raise MSTError(f"MST node {cid}: entry {index} has an empty or oversized key")
        if index and key <= previous:
            raise MSTError(f"MST node {cid}: keys out of order at entry {index}")
        entries.append((key, value, tree))
        previous = key
    return left, entries


def _check_link(cid: CID, what: str) -> None:
    if cid.version != 1 or cid.codec != DAG_CBOR or cid.hash_code != SHA2_256:
        raise MSTError(f"{what} link {cid} is not a CIDv1 dag-cbor sha2-256 link")


def walk(blocks: Mapping[CID, bytes], root: CID) -> Iterator[tuple[str, CID]]:
    """Yield ``(key, value CID)`` for every entry under ``root``, in key order.

    Verifies key order, key heights against node levels, and that no subtree link skips a
    level; a missing node raises :class:`MissingBlockError`.
    """
    _check_link(root, "MST root")
    left, entries = _load(blocks, root)
    if not entries:
        if left is not None:
            raise MSTError(f"MST root {root} is an empty node pointing to a subtree")
        return
    level = _height_of_bytes(entries[0][0])
    last: list[bytes] = [b""]
    yield from _walk_node(blocks, left, entries, level, None, None, last)


def _walk_node(
    blocks: Mapping[CID, bytes],
    left: CID | None,
    entries: list[tuple[bytes, CID, CID | None]],
    level: int,
    low: bytes | None,
    high: bytes | None,
    last: list[bytes],
) -> Iterator[tuple[str, CID]]:
    if level == 0 and (left is not None or any(tree is not None for _k, _v, tree in entries)):
        raise MSTError("MST node at level 0 links to a subtree")
    if left is not None:
        yield from _walk_child(blocks, left, level - 1, low, entries[0][0] if entries else high, last)
    for index, (key, value, tree) in enumerate(entries):
        if _height_of_bytes(key) != level:
            raise MSTError(f"MST key {key!r} is at level {level} but its height is {_height_of_bytes(key)}")
        if (low is not None and key <= low) or (high is not None and key >= high) or key <= last[0]:
            raise MSTError(f"MST key {key!r} is outside the range of its subtree")
        last[0] = key
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise MSTError(f"MST key {key!r} is not UTF-8") from None
        yield text, value
        if tree is not None:
            upper = entries[index + 1][0] if index + 1 < len(entries) else high
            yield from _walk_child(blocks, tree, level - 1, key, upper, last)


def _walk_child(
    blocks: Mapping[CID, bytes], cid: CID, level: int, low: bytes | None, high: bytes | None, last: list[bytes]
) -> Iterator[tuple[str, CID]]:
    if level < 0:
        raise MSTError("MST subtree below level 0")
    _check_link(cid, "MST subtree")
    left, entries = _load(blocks, cid)
    if not entries and left is None:
        raise MSTError(f"MST node {cid} is an empty leaf below the root")
    yield from _walk_node(blocks, left, entries, level, low, high, last)


def node_path(blocks: Mapping[CID, bytes], root: CID, keys: Iterable[str]) -> set[CID]:
    """The CIDs of the nodes visited when looking up each of ``keys`` (a proof for them)."""
    visited: set[CID] = set()
    for key in keys:
        raw = key.encode("utf-8")
        cid: CID | None = root
        while cid is not None:
            visited.add(cid)
            left, entries = _load(blocks, cid)
            next_cid = left
            found = False
            for entry_key, _value, tree in entries:
                if entry_key == raw:
                    found = True
                    break
                if entry_key < raw:
                    next_cid = tree
                else:
                    break
            cid = None if found else next_cid
    return visited
