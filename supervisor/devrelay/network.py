"""The state of the network: accounts and the records of their repositories.

:class:`NetworkState` folds events in order (:meth:`NetworkState.apply`); the generator, the
capture loader and the HTTP routes all share it, so "the final state" has one definition.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Optional, cast

from supervisor.atproto import car, jsonfmt, mst, repo
from supervisor.atproto.cid import CID
from supervisor.devrelay.events import ACCOUNT, COMMIT, IDENTITY, Event

__all__ = ["Account", "NetworkState", "LARGE_REPO"]

#: Repositories of at least this many records keep their CAR (building it is the costly part).
LARGE_REPO = 5_000


@dataclasses.dataclass(slots=True)
class Account:
    """One account: identity, hosting status, latest revision and current records."""

    did: str
    handle: Optional[str] = None
    active: bool = True
    status: Optional[str] = None
    rev: Optional[str] = None
    records: dict[str, tuple[CID, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    #: The generation of the account's signing key (one more after each rotation).
    key_gen: int = 0
    #: The sequence number of the last event about this account (0: none, as for a repository
    #: made without events).
    seq: int = 0
    #: path -> the sequence number of the event that last wrote the record (0: no event).
    written: dict[str, int] = dataclasses.field(default_factory=dict)
    # (rev, commit cid) of the last computed head: building the MST is the costly part.
    _head: Optional[tuple[str, CID]] = None
    # (rev, CAR) of the last export, kept for large repositories only.
    _car: Optional[tuple[str, bytes]] = None

    def copy(self) -> "Account":
        """An independent copy (records are shared: they are never mutated in place)."""
        return dataclasses.replace(self, records=dict(self.records), written=dict(self.written))


class NetworkState:
    """Accounts by DID, updated by folding events in sequence order."""

    def __init__(self, seed: int | str | None = None) -> None:
        self.accounts: dict[str, Account] = {}
        #: The seed of the accounts' signing keys (None: commits carry placeholder signatures).
        self.seed = seed

    def account(self, did: str) -> Account:
        """The account for ``did``, created on first sight."""
        acct = self.accounts.get(did)
        if acct is None:
            acct = self.accounts[did] = Account(did)
        return acct

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        acct = self.account(event.did)
        acct.seq = event.seq
        if event.kind == COMMIT:
            records = acct.records
            written = acct.written
            for action, path, cid, record in event.ops:
                if action == "delete":
                    records.pop(path, None)
                    written.pop(path, None)
                elif cid is not None and record is not None:
                    records[path] = (cid, record)
                    written[path] = event.seq
            acct.rev = event.rev
        elif event.kind == IDENTITY:
            if event.handle is not None:
                acct.handle = event.handle
            if event.key_gen is not None:
                acct.key_gen = event.key_gen
        elif event.kind == ACCOUNT:
            acct.active = bool(event.active)
            acct.status = None if acct.active else (event.status or None)

    def copy(self) -> "NetworkState":
        """An independent copy of the state."""
        other = NetworkState(self.seed)
        other.accounts = {did: acct.copy() for did, acct in self.accounts.items()}
        return other

    def record_count(self) -> int:
        """How many records all repositories hold."""
        return sum(len(acct.records) for acct in self.accounts.values())

    def head(self, did: str) -> Optional[CID]:
        """The CID of the (unsigned) commit that :meth:`export` would produce, or ``None``."""
        acct = self.accounts.get(did)
        if acct is None or acct.rev is None:
            return None
        if acct._head is None or acct._head[0] != acct.rev:
            if len(acct.records) >= LARGE_REPO:
                self.export(did)  # one tree for both
                assert acct._head is not None
                return acct._head[1]
            root, _blocks = mst.build({path: cid for path, (cid, _record) in acct.records.items()})
            commit_cid, _block = repo.make_commit(did, root, acct.rev, sign=self.signer(did))
            acct._head = (acct.rev, commit_cid)
        return acct._head[1]

    def export(self, did: str) -> bytes:
        """The full repository of ``did`` as a CAR file (commit, MST nodes and records).

        A repository of :data:`LARGE_REPO` records or more is built once per revision and kept."""
        acct = self.accounts[did]
        rev = cast(str, acct.rev)  # a hosted account: it has a commit (getRepo refuses the others)
        if acct._car is not None and acct._car[0] == rev:
            return acct._car[1]
        data = repo.export_repo(
            did, rev, {path: record for path, (_cid, record) in acct.records.items()}, sign=self.signer(did)
        )
        if len(acct.records) >= LARGE_REPO:
            acct._car = (rev, data)
            acct._head = (rev, car.read_header(data)[0][0])
        return data

    def signer(self, did: str) -> Optional[Callable[[bytes], bytes]]:
        """The function signing ``did``'s commits with its current key (None without a seed)."""
        if self.seed is None:
            return None
        from supervisor.devrelay.identity import account_key

        return account_key(self.seed, did, self.account(did).key_gen).sign

    def truth_records(self) -> Iterator[dict[str, Any]]:
        """Every record as ``{"uri", "cid", "record"}`` (atproto JSON), sorted by URI."""
        rows = []
        for did, acct in self.accounts.items():
            for path, (cid, record) in acct.records.items():
                rows.append((f"at://{did}/{path}", cid, record))
        rows.sort(key=lambda row: row[0])
        for uri, cid, record in rows:
            yield {"uri": uri, "cid": str(cid), "record": jsonfmt.to_json(record)}

    def truth_accounts(self) -> Iterator[dict[str, Any]]:
        """Every account as ``{"did", "handle", "active", "status"}``, sorted by DID."""
        for did in sorted(self.accounts):
            acct = self.accounts[did]
            yield {"did": did, "handle": acct.handle, "active": acct.active, "status": acct.status}
