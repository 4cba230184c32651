"""Repository commits (version 3) and whole-repository CAR exports and reads."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Optional

from supervisor.atproto import car, dagcbor, mst, syntax
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import CarError, DecodeError

__all__ = [
    "Commit",
    "make_commit",
    "unsigned_commit_bytes",
    "parse_commit",
    "commit_from_object",
    "export_repo",
    "Repo",
    "load_repo",
    "record_time",
]


@dataclass(frozen=True)
class Commit:
    """A decoded commit object."""

    cid: CID
    did: str
    version: int
    data: CID
    rev: str
    prev: CID | None
    sig: bytes


def unsigned_commit_bytes(did: str, data: CID, rev: str, prev: CID | None = None) -> bytes:
    """The DAG-CBOR of the unsigned commit: the bytes a signing key signs."""
    return dagcbor.encode({"did": did, "version": 3, "data": data, "rev": rev, "prev": prev})


def _placeholder_signature(unsigned: bytes) -> bytes:
    # Deterministic, so the same inputs always give the same commit CID.
    return hashlib.sha512(b"unsigned:" + unsigned).digest()


def make_commit(
    did: str,
    data: CID,
    rev: str,
    *,
    sign: Callable[[bytes], bytes] | None = None,
    prev: CID | None = None,
) -> tuple[CID, bytes]:
    """Build a version 3 commit block; return its CID and bytes.

    ``sign`` receives the unsigned commit's DAG-CBOR and returns the raw signature; without
    it the signature is a deterministic 64-byte placeholder.
    """
    unsigned = unsigned_commit_bytes(did, data, rev, prev)
    sig = sign(unsigned) if sign is not None else _placeholder_signature(unsigned)
    block = dagcbor.encode({"did": did, "version": 3, "data": data, "rev": rev, "prev": prev, "sig": bytes(sig)})
    return CID.for_block(block), block


def parse_commit(cid: CID, block: bytes) -> Commit:
    """Decode and check a commit block (versions 2 and 3)."""
    try:
        obj = dagcbor.decode(block)
    except DecodeError as exc:
        raise DecodeError(f"commit {cid}: {exc}") from None
    return commit_from_object(cid, obj)


def commit_from_object(cid: CID, obj: object) -> Commit:
    """Check a decoded commit object (versions 2 and 3)."""
    if type(obj) is not dict:
        raise DecodeError(f"commit {cid} is not a map")
    did, version, data, rev = obj.get("did"), obj.get("version"), obj.get("data"), obj.get("rev")
    prev, sig = obj.get("prev"), obj.get("sig")
    if type(did) is not str or type(version) is not int or type(data) is not CID:
        raise DecodeError(f"commit {cid} needs string 'did', integer 'version' and link 'data'")
    if version not in (2, 3):
        raise DecodeError(f"commit {cid} has unsupported version {version}")
    if type(rev) is not str and not (version == 2 and rev is None):
        raise DecodeError(f"commit {cid} needs a string 'rev'")
    if prev is not None and type(prev) is not CID:
        raise DecodeError(f"commit {cid}: 'prev' must be a link or null")
    if type(sig) is not bytes:
        raise DecodeError(f"commit {cid} needs a byte-string 'sig'")
    return Commit(cid=cid, did=did, version=version, data=data, rev=rev or "", prev=prev, sig=sig)


def export_repo(
    did: str, rev: str, records: Mapping[str, dict[str, Any]], *, sign: Callable[[bytes], bytes] | None = None
) -> bytes:
    """A full repository CAR (commit root, every MST node, every record), as getRepo returns;
    ``sign`` signs the commit (see :func:`make_commit`)."""
    record_blocks: dict[CID, bytes] = {}
    entries: dict[str, CID] = {}
    for path, record in records.items():
        block = dagcbor.encode(record)
        cid = CID.for_block(block)
        record_blocks[cid] = block
        entries[path] = cid
    root, nodes = mst.build(entries)
    commit_cid, commit_block = make_commit(did, root, rev, sign=sign)
    blocks = [(commit_cid, commit_block)]
    blocks.extend(nodes.items())
    blocks.extend(record_blocks.items())
    return car.write_car([commit_cid], blocks)


@dataclass
class Repo:
    """A repository read from a CAR file."""

    commit: Commit
    blocks: dict[CID, bytes]

    def entries(self) -> Iterator[tuple[str, CID]]:
        """``(collection/rkey, record CID)`` in key order."""
        return mst.walk(self.blocks, self.commit.data)

    def records(self) -> Iterator[tuple[str, CID, object | None]]:
        """``(path, cid, record)`` in key order; ``record`` is None when its block is absent."""
        for path, cid in self.entries():
            block = self.blocks.get(cid)
            yield path, cid, (dagcbor.decode(block) if block is not None else None)


def load_repo(data: bytes, *, verify: bool = False) -> Repo:
    """Read a repository CAR: the first root is the commit."""
    roots, blocks = car.read_car(data, verify=verify)
    if not roots:
        raise CarError("CAR has no root (expected the commit CID)")
    block = blocks.get(roots[0])
    if block is None:
        raise CarError(f"CAR root commit {roots[0]} is not among the blocks")
    return Repo(commit=parse_commit(roots[0], block), blocks=blocks)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"\.([0-9]+)")


def record_time(rkey: str, value: Any) -> Optional[datetime]:
    """When a record was written, as far as the record says: the time of its TID record key, else
    its ``createdAt`` when that is a valid atproto datetime, else None. Always timezone-aware (UTC
    for a TID; the record's own offset for ``createdAt``)."""
    if syntax.is_valid("tid", rkey):
        return _EPOCH + timedelta(microseconds=syntax.tid_time(rkey))
    created = value.get("createdAt") if type(value) is dict else None
    if type(created) is not str or not syntax.is_valid("datetime", created):
        return None
    # Python reads at most microseconds: cut a longer fraction (sub-microsecond digits are dropped).
    text = _FRACTION.sub(lambda match: "." + match.group(1)[:6].ljust(6, "0"), created, count=1)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
