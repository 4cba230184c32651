"""A repository CAR spooled to a temporary file as it arrives, walked from there.

:class:`RepoSpooler` takes the CAR's bytes chunk by chunk (a :class:`~supervisor.atproto.carstream.CarReader`
checks every block against its CID), appends each block to an unnamed temporary file and keeps only
an index ``CID -> (offset, length)`` in memory. :meth:`RepoSpooler.finish` checks the commit (the
root) and gives a :class:`SpooledRepo`, whose :meth:`~SpooledRepo.records` walks the MST in key
order, reading nodes and records back from the file. Memory stays at the index (about 150 bytes
per block) whatever the repository's size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from types import TracebackType
from typing import IO, Iterable, Iterator, Optional

from supervisor.atproto import mst
from supervisor.atproto.carstream import DEFAULT_MAX_BLOCK_BYTES, CarReader
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import CarError, DecodeError, MissingBlockError, MSTError
from supervisor.atproto.repo import Commit, parse_commit

__all__ = ["RepoRecord", "SpooledRepo", "RepoSpooler", "spool_car"]

_SHIFT = 32  # index values pack (offset << 32) | length: one int per block
_MASK = (1 << _SHIFT) - 1


@dataclasses.dataclass(slots=True)
class RepoRecord:
    """One record of a repository: its collection, record key, CID and DAG-CBOR block (hash-checked)."""

    collection: str
    rkey: str
    cid: CID
    block: bytes

    @property
    def path(self) -> str:
        """``collection/rkey``, the record's MST key."""
        return f"{self.collection}/{self.rkey}"


class _FileBlocks:
    """The blocks of a spooled CAR, read from its file on demand (a read-only mapping for the MST walk)."""

    def __init__(self, fd: int, index: dict[bytes, int]) -> None:
        self._fd = fd
        self._index = index

    def get(self, cid: CID, default: Optional[bytes] = None) -> Optional[bytes]:
        packed = self._index.get(cid)
        if packed is None:
            return default
        length = packed & _MASK
        offset = packed >> _SHIFT
        block = os.pread(self._fd, length, offset)
        if len(block) != length or hashlib.sha256(block).digest() != cid[-32:]:
            raise CarError(f"block {cid} read back from the spool file does not match its CID", offset)
        return block

    def __getitem__(self, cid: CID) -> bytes:
        block = self.get(cid)
        if block is None:
            raise KeyError(cid)
        return block

    def __contains__(self, cid: object) -> bool:
        return cid in self._index

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[CID]:
        return (CID.from_bytes(raw) for raw in self._index)


class SpooledRepo:
    """A getRepo CAR on a temporary file, with an in-memory index CID -> (offset, length).

    ``commit`` is the signed commit (checked to be the CAR's root and among its blocks),
    ``commit_block`` its DAG-CBOR, ``byte_count`` the CAR's size and ``block_count`` its distinct
    blocks. Close it (or use it as a context manager) to remove the file.
    """

    def __init__(
        self, file: IO[bytes], index: dict[bytes, int], commit: Commit, commit_block: bytes, byte_count: int
    ) -> None:
        self._file: IO[bytes] | None = file
        self._blocks = _FileBlocks(file.fileno(), index)
        self.commit = commit
        self.commit_block = commit_block
        self.byte_count = byte_count
        self.block_count = len(index)

    def block(self, cid: CID) -> Optional[bytes]:
        """The block of ``cid`` (hash-checked), or None when the CAR does not hold it."""
        self._check_open()
        return self._blocks.get(cid)

    def records(self) -> Iterator[RepoRecord]:
        """Every record in MST key order, its block read from the file and checked against its CID.

        Raises :class:`~supervisor.atproto.errors.AtprotoError` on a missing node or record block,
        a malformed node, keys out of order or at the wrong height, or a key that is not
        ``collection/rkey``.
        """
        self._check_open()
        blocks = self._blocks
        for path, cid in mst.walk(blocks, self.commit.data):  # type: ignore[arg-type]
            collection, slash, rkey = path.partition("/")
            if not slash or not collection or not rkey or "/" in rkey:
                raise MSTError(f"repository {self.commit.did}: MST key {path!r} is not collection/rkey")
            block = blocks.get(cid)
            if block is None:
                raise MissingBlockError(f"repository {self.commit.did}: the block of record {path} ({cid}) is missing")
            yield RepoRecord(collection, rkey, cid, block)

    def _check_open(self) -> None:
        if self._file is None:
            raise ValueError("the spooled repository is closed")

    def close(self) -> None:
        """Remove the temporary file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "SpooledRepo":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class RepoSpooler:
    """Receives a repository CAR chunk by chunk into a temporary file; :meth:`finish` gives the
    :class:`SpooledRepo`. :meth:`abort` (or any error in :meth:`feed`/:meth:`finish`) removes the file."""

    def __init__(self, *, spool_dir: Optional[str] = None, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> None:
        self._reader = CarReader(max_block_bytes=max_block_bytes)
        self._file: IO[bytes] | None = tempfile.TemporaryFile(dir=spool_dir, prefix="repo-", suffix=".blocks")
        self._index: dict[bytes, int] = {}
        self._offset = 0
        self.byte_count = 0

    def feed(self, data: bytes) -> None:
        """The next bytes of the CAR."""
        file = self._file
        if file is None:
            raise ValueError("the spooler is finished")
        self.byte_count += len(data)
        try:
            blocks = self._reader.feed(data)
        except BaseException:
            self.abort()
            raise
        index = self._index
        offset = self._offset
        write = file.write
        for cid, block in blocks:
            key = bytes(cid)
            if key in index:
                continue  # a repeated block: the first copy serves
            length = len(block)
            index[key] = (offset << _SHIFT) | length
            write(block)
            offset += length
        self._offset = offset

    def finish(self) -> SpooledRepo:
        """The end of the CAR: check that it is complete and that its root is a commit it holds."""
        file = self._file
        if file is None:
            raise ValueError("the spooler is finished")
        try:
            self._reader.close()
            roots = self._reader.roots
            if not roots:
                raise CarError("the CAR has no root (expected the commit CID)")
            root = roots[0]
            file.flush()
            blocks = _FileBlocks(file.fileno(), self._index)
            commit_block = blocks.get(root)
            if commit_block is None:
                raise CarError(f"the CAR's root commit {root} is not among its blocks")
            try:
                commit = parse_commit(root, commit_block)
            except DecodeError as exc:
                raise CarError(f"the CAR's root is not a commit: {exc}") from None
        except BaseException:
            self.abort()
            raise
        self._file = None
        return SpooledRepo(file, self._index, commit, commit_block, self.byte_count)

    def abort(self) -> None:
        """Give up: remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def spool_car(chunks: Iterable[bytes], *, spool_dir: Optional[str] = None) -> SpooledRepo:
    """Spool a CAR given as chunks (a file read piece by piece, say) into a :class:`SpooledRepo`."""
    spooler = RepoSpooler(spool_dir=spool_dir)
    try:
        for chunk in chunks:
            spooler.feed(chunk)
    except BaseException:
        spooler.abort()
        raise
    return spooler.finish()
