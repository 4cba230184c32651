"""Event-stream frames of ``com.atproto.sync.subscribeRepos``: decode and encode.

A binary WebSocket message holds two concatenated DAG-CBOR objects: a header ``{op, t}``
and a body. ``op`` 1 is a message whose type is ``t`` (``#commit``, ``#identity``,
``#account``, ``#sync``, ``#info``); ``op`` -1 is an error ``{error, message}``. Unknown
``op`` or ``t`` values decode to :class:`Unknown`, which consumers skip.

Decoding a ``#commit`` reads only what a consumer needs: the header, the body, an index of
the CAR slice, and the records named by the ops (found by CID, and each block checked to hash to
that CID). MST nodes are not decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
from typing import Any, Callable, Iterable, Mapping, Sequence

from supervisor.atproto import car, dagcbor, mst
from supervisor.atproto.cid import CID
from supervisor.atproto.dagcbor import Limits
from supervisor.atproto.errors import DecodeError, FrameError
from supervisor.atproto.proof import invert_ops, proof_blocks
from supervisor.atproto.repo import make_commit

__all__ = [
    "CommitOp",
    "Commit",
    "Identity",
    "Account",
    "Sync",
    "Info",
    "ErrorFrame",
    "Unknown",
    "Frame",
    "decode_frame",
    "encode_frame",
    "encode_commit",
    "encode_identity",
    "encode_account",
    "encode_sync",
    "encode_info",
    "encode_error",
    "FRAME_LIMITS",
]

#: Frames may carry a CAR slice of up to ~1 MB plus overhead.
FRAME_LIMITS = Limits(max_size=4 * 1024 * 1024, max_depth=128)


@dataclass(slots=True)
class CommitOp:
    """One record mutation in a ``#commit``."""

    action: str
    path: str
    cid: CID | None
    record: Any = None
    prev: CID | None = None

    @property
    def collection(self) -> str:
        return self.path.partition("/")[0]

    @property
    def rkey(self) -> str:
        return self.path.partition("/")[2]


@dataclass(slots=True)
class Commit:
    """A ``#commit`` message: a repository changed."""

    seq: int
    did: str
    rev: str
    time: str
    since: str | None
    ops: list[CommitOp]
    too_big: bool = False
    commit: CID | None = None
    blocks: bytes = b""
    blobs: list[CID] = field(default_factory=list)
    prev_data: CID | None = None
    type: str = "#commit"


@dataclass(slots=True)
class Identity:
    """An ``#identity`` message: refresh this DID's identity (handle, keys, PDS)."""

    seq: int
    did: str
    time: str
    handle: str | None = None
    type: str = "#identity"


@dataclass(slots=True)
class Account:
    """An ``#account`` message: the account's hosting status changed."""

    seq: int
    did: str
    time: str
    active: bool
    status: str | None = None
    type: str = "#account"


@dataclass(slots=True)
class Sync:
    """A ``#sync`` message: the repository's current commit, without a diff."""

    seq: int
    did: str
    rev: str
    time: str
    blocks: bytes = b""
    type: str = "#sync"


@dataclass(slots=True)
class Info:
    """An ``#info`` message (for example ``OutdatedCursor``)."""

    name: str
    message: str | None = None
    type: str = "#info"


@dataclass(slots=True)
class ErrorFrame:
    """An error frame (``op`` -1); the server closes the stream after it."""

    error: str
    message: str | None = None
    type: str = "error"


@dataclass(slots=True)
class Unknown:
    """A frame with an unknown ``op`` or ``t``: consumers skip it."""

    type: str
    op: int = 1


Frame = Commit | Identity | Account | Sync | Info | ErrorFrame | Unknown

_MISSING = object()


def _field(
    body: dict[str, Any], name: str, kind: type, frame: str, *, optional: bool = False, nullable: bool = False
) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING:
        if optional:
            return None
        raise FrameError(f"{frame} body is missing '{name}'")
    if value is None and nullable:
        return None
    if type(value) is not kind:
        raise FrameError(f"{frame} body field '{name}' must be {kind.__name__}, not {type(value).__name__}")
    return value


def _known_headers() -> dict[bytes, str]:
    # The canonical header bytes of every message type consumers handle: a frame that starts with
    # one of them needs no header decoding (other encodings take the general path).
    kinds = ("#commit", "#identity", "#account", "#sync", "#info")
    return {dagcbor.encode({"op": 1, "t": kind}): kind for kind in kinds}


_KNOWN_HEADERS = _known_headers()


def _check_size(data: object, limits: Limits) -> bytes:
    if type(data) is not bytes:
        if not isinstance(data, (bytearray, memoryview, bytes)):
            raise FrameError(f"a frame must be bytes, not {type(data).__name__}")
        data = bytes(data)
    size = len(data)
    if size == 0:
        raise FrameError("empty frame", 0)
    if size > limits.max_size:
        raise FrameError(f"frame of {size} bytes exceeds the {limits.max_size}-byte limit", 0)
    return data


def _read_body(data: bytes, decoder: Any, fp: Any) -> Any:
    size = len(data)
    if fp.tell() >= size:
        raise FrameError("frame has a header but no body", size)
    try:
        body = dagcbor._read(decoder, fp, 0)
    except DecodeError as exc:
        raise FrameError(exc.reason, exc.offset) from None
    end = fp.tell()
    if end != size:
        raise FrameError(f"{size - end} trailing bytes after the frame body", end)
    return body


def _decode_parts(data: bytes, limits: Limits) -> tuple[Any, Any]:
    data = _check_size(data, limits)
    decoder, fp = dagcbor._stream(data, limits)
    try:
        header = dagcbor._read(decoder, fp, 0)
    except DecodeError as exc:
        raise FrameError(exc.reason, exc.offset) from None
    return header, _read_body(data, decoder, fp)


def decode_frame(data: bytes, *, records: bool = True, limits: Limits = FRAME_LIMITS) -> Frame:
    """Decode one WebSocket message of the repository event stream.

    With ``records``, each ``#commit`` op's record is decoded from the CAR slice (found by
    its CID); without, ``CommitOp.record`` stays None. Raises :class:`FrameError` on
    malformed input.
    """
    data = _check_size(data, limits)
    # Fast path: a canonical message header {"t": ..., "op": 1} (a2 61 74 6X <t> 62 6f 70 01).
    if data[:3] == b"\xa2at" and len(data) > 3 and 0x61 <= data[3] <= 0x77:
        header_end = data[3] - 0x58
        kind = _KNOWN_HEADERS.get(data[:header_end])
        if kind is not None:
            decoder, fp = dagcbor._stream(data, limits)
            fp.seek(header_end)
            body = _read_body(data, decoder, fp)
            if type(body) is not dict:
                raise FrameError("frame body is not a map")
            if kind == "#commit":
                return _parse_commit(body, records, limits, decoder)
            return _PARSERS[kind](body, records)
    header, body = _decode_parts(data, limits)
    if type(header) is not dict:
        raise FrameError("frame header is not a map", 0)
    op = header.get("op")
    if type(op) is not int:
        raise FrameError("frame header has no integer 'op'", 0)
    if type(body) is not dict:
        raise FrameError("frame body is not a map")
    if op == -1:
        error = body.get("error")
        message = body.get("message")
        if type(error) is not str:
            raise FrameError("error frame body has no string 'error'")
        if message is not None and type(message) is not str:
            raise FrameError("error frame 'message' must be a string")
        return ErrorFrame(error=error, message=message)
    kind = header.get("t")
    if op != 1:
        return Unknown(type=kind if type(kind) is str else "", op=op)
    if type(kind) is not str:
        raise FrameError("message frame header has no string 't'", 0)
    if kind == "#commit":
        return _parse_commit(body, records, limits)
    parser = _PARSERS.get(kind)
    if parser is None:
        return Unknown(type=kind, op=op)
    return parser(body, records)


def _bad(name: str, expected: str, value: Any) -> FrameError:
    if value is _MISSING:
        return FrameError(f"#commit body is missing '{name}'")
    return FrameError(f"#commit body field '{name}' must be {expected}, not {type(value).__name__}")


def _parse_commit(body: dict[str, Any], records: bool, limits: Limits = FRAME_LIMITS, decoder: Any = None) -> Commit:
    get = body.get
    seq = get("seq", _MISSING)
    did = get("repo", _MISSING)
    rev = get("rev", _MISSING)
    time = get("time", _MISSING)
    since = get("since")
    raw_ops = get("ops", _MISSING)
    blocks = get("blocks", _MISSING)
    commit_cid = get("commit")
    blobs = get("blobs")
    prev_data = get("prevData")
    too_big = get("tooBig", False)
    if type(seq) is not int:
        raise _bad("seq", "int", seq)
    if type(did) is not str:
        raise _bad("repo", "str", did)
    if type(rev) is not str:
        raise _bad("rev", "str", rev)
    if type(time) is not str:
        raise _bad("time", "str", time)
    if since is not None and type(since) is not str:
        raise _bad("since", "str or null", since)
    if type(raw_ops) is not list:
        raise _bad("ops", "list", raw_ops)
    if type(blocks) is not bytes:
        raise _bad("blocks", "bytes", blocks)
    if commit_cid is not None and type(commit_cid) is not CID:
        raise _bad("commit", "a link", commit_cid)
    if blobs is None:
        blobs = []
    elif type(blobs) is not list:
        raise _bad("blobs", "list", blobs)
    if prev_data is not None and type(prev_data) is not CID:
        raise _bad("prevData", "a link", prev_data)
    if type(too_big) is not bool:
        raise _bad("tooBig", "bool", too_big)
    ops = []
    wanted = False
    for index, raw in enumerate(raw_ops):
        if type(raw) is not dict:
            raise FrameError(f"#commit op {index} is not a map")
        action = raw.get("action")
        path = raw.get("path")
        cid = raw.get("cid")
        prev = raw.get("prev")
        if type(action) is not str or type(path) is not str:
            raise FrameError(f"#commit op {index} needs string 'action' and 'path'")
        if cid is not None:
            if type(cid) is not CID:
                raise FrameError(f"#commit op {index}: 'cid' must be a link or null")
            wanted = True
        if prev is not None and type(prev) is not CID:
            raise FrameError(f"#commit op {index}: 'prev' must be a link or null")
        ops.append(CommitOp(action, path, cid, None, prev))
    frame = Commit(seq, did, rev, time, since, ops, too_big, commit_cid, blocks, blobs, prev_data)
    if records and wanted and blocks:
        _attach_records(frame, limits, decoder)
    return frame


def _attach_records(frame: Commit, limits: Limits = FRAME_LIMITS, decoder: Any = None) -> None:
    """Decode each op's record; ``decoder``: one already set up for ``limits`` (it is reused)."""
    blocks = frame.blocks
    wanted = [op.cid for op in frame.ops if op.cid is not None]
    try:
        spans = car.find_blocks(blocks, wanted)
    except DecodeError as exc:
        raise FrameError(f"#commit blocks: {exc.reason}", exc.offset) from None
    for op in frame.ops:
        if op.cid is None:
            continue
        span = spans.get(op.cid)
        if span is None:
            continue  # not in the slice (a tooBig commit, or a relay that trimmed it)
        start, stop = span
        block = blocks[start:stop]
        # Links are CIDv1 sha2-256 (the decoder refuses others): 4 prefix bytes, then the digest.
        if _sha256(block).digest() != op.cid[4:]:
            raise FrameError(f"#commit record {op.path}: its block does not hash to the op's CID {op.cid}", start)
        if decoder is None:
            decoder, fp = dagcbor._stream(block, limits)
        else:
            fp = decoder.fp = io.BytesIO(block)
        try:
            op.record = dagcbor._read(decoder, fp, 0)
        except DecodeError as exc:
            raise FrameError(f"#commit record {op.path}: {exc.reason}", start + (exc.offset or 0)) from None
        if fp.tell() != stop - start:
            raise FrameError(f"#commit record {op.path}: trailing bytes after the record", start + fp.tell())


def _parse_identity(body: dict[str, Any], records: bool) -> Identity:
    return Identity(
        seq=_field(body, "seq", int, "#identity"),
        did=_field(body, "did", str, "#identity"),
        time=_field(body, "time", str, "#identity"),
        handle=_field(body, "handle", str, "#identity", optional=True, nullable=True),
    )


def _parse_account(body: dict[str, Any], records: bool) -> Account:
    return Account(
        seq=_field(body, "seq", int, "#account"),
        did=_field(body, "did", str, "#account"),
        time=_field(body, "time", str, "#account"),
        active=_field(body, "active", bool, "#account"),
        status=_field(body, "status", str, "#account", optional=True, nullable=True),
    )


def _parse_sync(body: dict[str, Any], records: bool) -> Sync:
    return Sync(
        seq=_field(body, "seq", int, "#sync"),
        did=_field(body, "did", str, "#sync"),
        rev=_field(body, "rev", str, "#sync"),
        time=_field(body, "time", str, "#sync"),
        blocks=_field(body, "blocks", bytes, "#sync", optional=True) or b"",
    )


def _parse_info(body: dict[str, Any], records: bool) -> Info:
    return Info(
        name=_field(body, "name", str, "#info"),
        message=_field(body, "message", str, "#info", optional=True, nullable=True),
    )


_PARSERS: dict[str, Callable[[dict[str, Any], bool], Frame]] = {
    "#identity": _parse_identity,
    "#account": _parse_account,
    "#sync": _parse_sync,
    "#info": _parse_info,
}


# -- encoding ---------------------------------------------------------------------------


def encode_frame(header: dict[str, Any], body: dict[str, Any]) -> bytes:
    """A frame: the canonical DAG-CBOR of ``header`` followed by that of ``body``."""
    return dagcbor.encode(header) + dagcbor.encode(body)


def _message(kind: str, body: dict[str, Any]) -> bytes:
    return encode_frame({"op": 1, "t": kind}, body)


OpSpec = Sequence[Any]  # (action, path, cid | None, record | None[, prev])


def encode_commit(
    seq: int,
    did: str,
    rev: str,
    since: str | None,
    time: str,
    ops: Iterable[OpSpec],
    *,
    prev_data: CID | None = None,
    tree: Mapping[str, CID] | None = None,
    blobs: Sequence[CID] = (),
    too_big: bool = False,
    sign: Callable[[bytes], bytes] | None = None,
    inductive: bool = False,
    data: CID | None = None,
    nodes: Mapping[CID, bytes] | None = None,
) -> bytes:
    """A ``#commit`` frame whose CAR slice holds the commit, the records and the MST nodes
    on the path to every op's key.

    ``data`` and ``nodes`` give the tree after the commit already built (its root, and a block
    map holding at least its nodes) instead of ``tree``, which is then not needed.

    Each op is ``(action, path, cid, record)`` or with a fifth item ``prev``. A record's CID
    is computed from the record when given. ``tree`` is the repository's full key -> CID
    mapping after the commit; without it the tree holds just this commit's creates and
    updates. ``sign`` signs the commit (see :func:`~supervisor.atproto.repo.make_commit`).

    With ``inductive`` (sync 1.1), the slice holds every MST node needed to invert the ops
    (updates and deletes then need their ``prev``), and ``prevData`` is the inverted root
    unless ``prev_data`` is given.
    """
    record_blocks: dict[CID, bytes] = {}
    body_ops = []
    changed: dict[str, CID] = {}
    for spec in ops:
        action, path, cid, record = spec[0], spec[1], spec[2], spec[3]
        prev = spec[4] if len(spec) > 4 else None
        if record is not None:
            block = dagcbor.encode(record)
            cid = CID.for_block(block)
            record_blocks[cid] = block
        if action in ("create", "update") and cid is None:
            raise ValueError(f"{action} of {path} needs a CID or a record")
        if action == "delete":
            cid = None
        else:
            changed[path] = cid
        op: dict[str, Any] = {"action": action, "path": path, "cid": cid}
        if prev is not None:
            op["prev"] = prev
        body_ops.append(op)
    if data is not None and nodes is not None:
        root = data
    else:
        root, nodes = mst.build(dict(tree) if tree is not None else changed)
    if inductive:
        mutations = [CommitOp(op["action"], op["path"], op["cid"], None, op.get("prev")) for op in body_ops]
        proof = proof_blocks(nodes, root, mutations)
        if prev_data is None:
            prev_data = invert_ops(nodes, root, mutations)
    else:
        proof = mst.node_path(nodes, root, [op["path"] for op in body_ops])
    commit_cid, commit_block = make_commit(did, root, rev, sign=sign)
    blocks = [(commit_cid, commit_block)]
    blocks.extend((cid, nodes[cid]) for cid in sorted(proof))
    blocks.extend(record_blocks.items())
    body: dict[str, Any] = {
        "seq": seq,
        "rebase": False,
        "tooBig": too_big,
        "repo": did,
        "commit": commit_cid,
        "rev": rev,
        "since": since,
        "blocks": car.write_car([commit_cid], blocks),
        "ops": body_ops,
        "blobs": list(blobs),
        "time": time,
    }
    if prev_data is not None:
        body["prevData"] = prev_data
    return _message("#commit", body)


def encode_identity(seq: int, did: str, time: str, handle: str | None = None) -> bytes:
    """An ``#identity`` frame (``handle`` omitted when None)."""
    body: dict[str, Any] = {"seq": seq, "did": did, "time": time}
    if handle is not None:
        body["handle"] = handle
    return _message("#identity", body)


def encode_account(seq: int, did: str, time: str, active: bool, status: str | None = None) -> bytes:
    """An ``#account`` frame (``status`` omitted when None)."""
    body: dict[str, Any] = {"seq": seq, "did": did, "time": time, "active": active}
    if status is not None:
        body["status"] = status
    return _message("#account", body)


def encode_sync(
    seq: int, did: str, rev: str, time: str, *, data: CID | None = None, sign: Callable[[bytes], bytes] | None = None
) -> bytes:
    """A ``#sync`` frame whose ``blocks`` is a CAR holding just the commit block (signed by
    ``sign`` when given)."""
    if data is None:
        data, _nodes = mst.build({})
    commit_cid, commit_block = make_commit(did, data, rev, sign=sign)
    blocks = car.write_car([commit_cid], [(commit_cid, commit_block)])
    return _message("#sync", {"seq": seq, "did": did, "rev": rev, "time": time, "blocks": blocks})


def encode_info(name: str, message: str | None = None) -> bytes:
    """An ``#info`` frame."""
    body: dict[str, Any] = {"name": name}
    if message is not None:
        body["message"] = message
    return _message("#info", body)


def encode_error(error: str, message: str | None = None) -> bytes:
    """An error frame (header ``{op: -1}``)."""
    body: dict[str, Any] = {"error": error}
    if message is not None:
        body["message"] = message
    return encode_frame({"op": -1}, body)
