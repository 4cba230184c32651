"""Fetch a repository, apply it as a snapshot, then replay the live events held meanwhile.

One mechanism for the two places that need it: the repair of a desynchronized repository
(:mod:`supervisor.worker.verifier`) and the crawl backfill (:mod:`supervisor.worker.crawl`).

- While a repository is fetched, its live events are **held** (:class:`Holds`): the live stream
  skips them (its cursor moves on) and they wait here, bounded; past the bound they are dropped and
  the hold says ``overflowed``: the repository has to be fetched once more.
- :func:`fetch_snapshot` downloads ``getRepo`` from the account's PDS, parses the CAR (every block
  hash-checked, the MST walked) and checks the commit's DID and signature.
- :func:`apply_snapshot` writes the records in chunks at the commit's revision R (records older
  than a cutoff left out), then deletes what the database holds of the repository that the CAR no
  longer has. Per-record revisions make each step idempotent and keep anything newer than R.
- :func:`catch_up` applies the held events with a revision above R, in order, until none is left.

Whoever calls these records the repository's state (``repo_sync`` or ``backfill_repo``) only after
:func:`catch_up` returned: a ``kill -9`` in between fetches the repository again at the next start,
and the held events that the cursor moved past are in that newer CAR.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterator, Optional

import httpx

from supervisor.atproto.cid import CID
from supervisor.worker import store
from supervisor.worker.fetch import FetchError, fetch_repo
from supervisor.worker.identity import Identity
from supervisor.worker.repofile import SpooledRepo

__all__ = ["Hold", "Holds", "Fetched", "fetch_snapshot", "apply_snapshot", "catch_up", "CHUNK_RECORDS"]

#: Records written per transaction when a repository is applied.
CHUNK_RECORDS = 5000


@dataclasses.dataclass
class Hold:
    """The live events of one repository held while it is fetched."""

    #: The seq of the last event accepted before the hold began: it must be committed before the
    #: fetched state is written (so that nothing older lands after it).
    seq: int = 0
    held: list[Any] = dataclasses.field(default_factory=list)
    overflowed: bool = False


class Holds:
    """Repositories whose live events are held (the crawl's; the verifier keeps its repairs' own)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._holds: dict[str, Hold] = {}

    def __contains__(self, did: object) -> bool:
        return did in self._holds

    def __len__(self) -> int:
        return len(self._holds)

    def get(self, did: str) -> Optional[Hold]:
        """The hold of ``did``, if it is being fetched."""
        return self._holds.get(did)

    def begin(self, did: str, seq: int = 0) -> Hold:
        """Start holding ``did``'s events (``seq``: the last event accepted before)."""
        hold = self._holds.get(did)
        if hold is None:
            hold = self._holds[did] = Hold(seq)
        return hold

    def end(self, did: str) -> None:
        """Stop holding: ``did``'s events go to the database as usual again."""
        self._holds.pop(did, None)

    def offer(self, frame: Any) -> bool:
        """Hold ``frame`` if its repository is being fetched; True when it was taken."""
        hold = self._holds.get(frame.did)
        if hold is None:
            return False
        hold_frame(hold, frame, self.limit)
        return True

    @property
    def held_events(self) -> int:
        """Events waiting in all holds."""
        return sum(len(h.held) for h in self._holds.values())


def hold_frame(hold: Hold, frame: Any, limit: int) -> None:
    """Add ``frame`` to ``hold``; past ``limit`` events the hold is dropped and marked overflowed."""
    if hold.overflowed:
        return
    if len(hold.held) >= limit:
        hold.held.clear()
        hold.overflowed = True
        return
    hold.held.append(frame)


@dataclasses.dataclass
class Fetched:
    """A fetched, checked repository, spooled to a temporary file (close it when done)."""

    did: str
    rev: str
    data: CID
    byte_count: int
    repo: SpooledRepo
    seconds: float

    def records(self) -> Iterator[tuple[str, CID, Any]]:
        """``(path, cid, record)`` in key order (each block checked against its CID)."""
        from supervisor.atproto import dagcbor

        decode = dagcbor.decode
        for item in self.repo.records():
            yield item.path, item.cid, decode(item.block)

    def close(self) -> None:
        """Remove the temporary file."""
        self.repo.close()


async def fetch_snapshot(
    client: httpx.AsyncClient,
    identity: Identity,
    *,
    max_bytes: int,
    check_signature: bool = True,
) -> Fetched:
    """``getRepo`` of ``identity.did`` from its PDS, streamed to a file and checked; raises
    :class:`FetchError` (or :class:`~supervisor.atproto.errors.AtprotoError` for a broken CAR)."""
    from supervisor.atproto import dagcbor
    from supervisor.atproto.crypto import verify_commit_signature

    did = identity.did
    started = time.monotonic()
    repo = await fetch_repo(client, identity.pds, did, max_bytes=max_bytes)
    try:
        commit = repo.commit
        if commit.did != did:
            raise FetchError("mismatch", f"getRepo of {did} returned the repository of {commit.did}")
        if check_signature:
            verdict = verify_commit_signature(dagcbor.decode(repo.commit_block), identity.key)
            if not verdict:
                raise FetchError("bad_signature", f"getRepo of {did}: {verdict.detail}")
    except BaseException:
        repo.close()
        raise
    return Fetched(did, commit.rev, commit.data, repo.byte_count, repo, time.monotonic() - started)


def apply_snapshot(
    database: store.Database,
    fetched: Fetched,
    service: str,
    *,
    cutoff: Optional[datetime] = None,
    chunk: int = CHUNK_RECORDS,
) -> int:
    """Make the database hold ``fetched``'s records as of its revision (see the module docstring);
    returns how many records were written. Runs in a thread (it blocks on the database)."""
    did, rev = fetched.did, fetched.rev
    present: set[str] = set()
    written = 0

    def write(part: list[tuple[str, Any, Any]]) -> int:
        with database.connection(timeout=30.0) as conn:
            return store.apply_repo_records(conn, did, rev, part, service, cutoff=cutoff).records

    # One chunk is written (waiting on PostgreSQL) while the next is read from the CAR.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="snapshot") as pool:
        pending: Optional[concurrent.futures.Future[int]] = None
        part: list[tuple[str, Any, Any]] = []
        for path, cid, record in fetched.records():
            present.add(path)
            part.append((path, cid, record))
            if len(part) >= chunk:
                if pending is not None:
                    written += pending.result()
                pending, part = pool.submit(write, part), []
        if pending is not None:
            written += pending.result()
        if part:
            written += write(part)
    with database.connection(timeout=30.0) as conn:
        store.delete_absent_records(conn, did, rev, present, service)
    return written


async def catch_up(
    hold: Hold,
    rev: Callable[[], str],
    accept: Callable[[Any], Awaitable[Optional[bool]]],
    apply: Callable[[list[Any]], Awaitable[None]],
) -> bool:
    """Apply the held events newer than the applied revision, in seq order, until none is left.

    ``rev()`` is the repository's revision now (it moves as events are accepted); ``accept(frame)``
    says True (apply it), False (drop it) or None (it does not follow: fetch again). Returns True when
    caught up; False when the repository must be fetched again (the hold overflowed, a ``#sync``, or
    an event that does not follow). The events not looked at stay held."""
    while True:
        held, hold.held = hold.held, []
        if hold.overflowed:
            return False
        accepted: list[Any] = []
        ordered = sorted(held, key=lambda f: f.seq)
        follows = True
        for index, frame in enumerate(ordered):
            if frame.rev <= rev():
                continue  # already in the fetched repository
            decision = None if frame.type == "#sync" else await accept(frame)
            if decision is None:
                hold.held[:0] = ordered[index + 1 :]
                follows = False
                break
            if decision:
                accepted.append(frame)
        if accepted:
            await apply(accepted)
        if not follows:
            return False
        if not hold.held:
            return True
