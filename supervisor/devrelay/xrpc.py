"""The relay's HTTP (XRPC) routes, as pure functions of the network state and the query.

Each route returns an :class:`HttpReply`; errors raise :class:`XrpcError` and
:func:`handle` turns them into the standard ``{"error", "message"}`` JSON body.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from typing import AbstractSet, Any, Callable, Mapping, Optional

from supervisor import __version__
from supervisor.atproto import syntax
from supervisor.devrelay.errors import XrpcError
from supervisor.devrelay.network import Account, NetworkState

__all__ = [
    "HttpReply",
    "SUBSCRIBE_PATH",
    "ROUTES",
    "handle",
    "health",
    "list_repos",
    "get_repo",
    "get_latest_commit",
    "get_repo_status",
    "parse_limit",
    "did_document",
    "list_hosts",
]

#: The accounts a server answers for (None: every account, as the relay does).
Dids = Optional[AbstractSet[str]]

SUBSCRIBE_PATH = "/xrpc/com.atproto.sync.subscribeRepos"
CAR_TYPE = "application/vnd.ipld.car"
JSON_TYPE = "application/json; charset=utf-8"


@dataclasses.dataclass(frozen=True)
class HttpReply:
    """An HTTP response: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, value: Any, status: int = 200) -> "HttpReply":
        return cls(status, JSON_TYPE, json.dumps(value, separators=(",", ":")).encode())


def _one(query: Mapping[str, list[str]], name: str) -> Optional[str]:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise XrpcError(400, "InvalidRequest", f"parameter {name!r} given more than once")
    return values[0]


def parse_limit(text: Optional[str], default: int = 500, low: int = 1, high: int = 1000) -> int:
    """The ``limit`` parameter: an integer in ``[low, high]``."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise XrpcError(400, "InvalidRequest", f"limit must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise XrpcError(400, "InvalidRequest", f"limit must be between {low} and {high}, not {value}")
    return value


def _did_param(query: Mapping[str, list[str]]) -> str:
    did = _one(query, "did")
    if not did:
        raise XrpcError(400, "InvalidRequest", "missing required parameter 'did'")
    if not syntax.is_valid("did", did):
        raise XrpcError(400, "InvalidRequest", f"did is not a valid DID: {did!r}")
    return did


def health(state: NetworkState, query: Mapping[str, list[str]], dids: Dids = None) -> HttpReply:
    """``GET /xrpc/_health``."""
    return HttpReply.json({"version": f"devrelay {__version__}"})


def list_repos(state: NetworkState, query: Mapping[str, list[str]], dids: Dids = None) -> HttpReply:
    """``com.atproto.sync.listRepos``: repositories ordered by DID; the cursor is the last DID.

    The reply has a ``cursor`` only when more repositories follow.
    """
    limit = parse_limit(_one(query, "limit"))
    cursor = _one(query, "cursor") or ""
    hosted = sorted(
        did for did, acct in state.accounts.items() if acct.rev is not None and (dids is None or did in dids)
    )
    start = bisect.bisect_right(hosted, cursor) if cursor else 0
    page = hosted[start : start + limit]
    repos = []
    for did in page:
        acct = state.accounts[did]
        item: dict[str, Any] = {"did": did, "head": str(state.head(did)), "rev": acct.rev, "active": acct.active}
        if not acct.active and acct.status:
            item["status"] = acct.status
        repos.append(item)
    out: dict[str, Any] = {"repos": repos}
    if start + limit < len(hosted) and page:
        out["cursor"] = page[-1]
    return HttpReply.json(out)


def _hosted(state: NetworkState, did: str, dids: Dids = None) -> Account:
    acct = state.accounts.get(did)
    if acct is None or acct.rev is None or (dids is not None and did not in dids):
        raise XrpcError(400, "RepoNotFound", f"could not find repo for DID: {did}")
    return acct


def _refuse_inactive(did: str, acct: Account) -> None:
    """The error of a repository that is not served: RepoNotFound (deleted), RepoTakendown,
    RepoSuspended or RepoDeactivated."""
    if acct.active:
        return
    status = acct.status or "deactivated"
    if status == "deleted":
        raise XrpcError(400, "RepoNotFound", f"could not find repo for DID: {did} (deleted)")
    name = {"takendown": "RepoTakendown", "suspended": "RepoSuspended"}.get(status, "RepoDeactivated")
    raise XrpcError(400, name, f"repo {did} is not active ({status})")


def get_repo(state: NetworkState, query: Mapping[str, list[str]], dids: Dids = None) -> HttpReply:
    """``com.atproto.sync.getRepo``: the whole repository as a CAR file."""
    did = _did_param(query)
    acct = _hosted(state, did, dids)
    _refuse_inactive(did, acct)
    return HttpReply(200, CAR_TYPE, state.export(did))


def get_latest_commit(state: NetworkState, query: Mapping[str, list[str]], dids: Dids = None) -> HttpReply:
    """``com.atproto.sync.getLatestCommit``: ``{cid, rev}`` of the repository head."""
    did = _did_param(query)
    acct = _hosted(state, did, dids)
    if acct.status == "deleted":
        _refuse_inactive(did, acct)
    return HttpReply.json({"cid": str(state.head(did)), "rev": acct.rev})


def get_repo_status(state: NetworkState, query: Mapping[str, list[str]], dids: Dids = None) -> HttpReply:
    """``com.atproto.sync.getRepoStatus``: ``{did, active, status?, rev}``."""
    did = _did_param(query)
    acct = _hosted(state, did, dids)
    out: dict[str, Any] = {"did": did, "active": acct.active, "rev": acct.rev}
    if not acct.active and acct.status:
        out["status"] = acct.status
    return HttpReply.json(out)


ROUTES: dict[str, Callable[[NetworkState, Mapping[str, list[str]], Dids], HttpReply]] = {
    "/xrpc/_health": health,
    "/xrpc/com.atproto.sync.listRepos": list_repos,
    "/xrpc/com.atproto.sync.getRepo": get_repo,
    "/xrpc/com.atproto.sync.getLatestCommit": get_latest_commit,
    "/xrpc/com.atproto.sync.getRepoStatus": get_repo_status,
}


def did_document(state: NetworkState, did: str, pds: str) -> HttpReply:
    """``GET /{did}`` as a PLC directory answers it: the account's DID document (its current
    signing key and this relay as its PDS), or 404 ``NotFound``."""
    acct = state.accounts.get(did)
    if acct is None or state.seed is None or acct.status == "deleted":
        return HttpReply.json({"message": f"DID not registered: {did}"}, 404)
    from supervisor.devrelay.identity import account_key
    from supervisor.devrelay.identity import did_document as document

    return HttpReply.json(document(did, acct.handle, account_key(state.seed, did, acct.key_gen), pds))


def list_hosts(hosts: list[dict[str, Any]], query: Mapping[str, list[str]]) -> HttpReply:
    """``com.atproto.sync.listHosts``: ``{hosts: [{hostname, seq, accountCount, status}], cursor?}``
    ordered by hostname; the cursor is the last hostname (only when more hosts follow)."""
    try:
        limit = parse_limit(_one(query, "limit"), default=200)
        cursor = _one(query, "cursor") or ""
    except XrpcError as exc:
        return HttpReply.json(exc.to_json(), exc.status)
    ordered = sorted(hosts, key=lambda host: str(host["hostname"]))
    names = [str(host["hostname"]) for host in ordered]
    start = bisect.bisect_right(names, cursor) if cursor else 0
    page = ordered[start : start + limit]
    out: dict[str, Any] = {"hosts": page}
    if start + limit < len(ordered) and page:
        out["cursor"] = page[-1]["hostname"]
    return HttpReply.json(out)


def handle(state: NetworkState, path: str, query: Mapping[str, list[str]], *, dids: Dids = None) -> HttpReply:
    """Answer ``GET path?query`` for the accounts ``dids`` (None: all); unknown paths and bad
    parameters give XRPC error JSON."""
    try:
        route = ROUTES.get(path)
        if route is not None:
            return route(state, query, dids)
        if path == SUBSCRIBE_PATH:
            raise XrpcError(426, "UpgradeRequired", "this endpoint is a WebSocket subscription")
        if path.startswith("/xrpc/"):
            raise XrpcError(501, "MethodNotImplemented", f"method not implemented: {path[6:]}")
        raise XrpcError(404, "NotFound", f"no such path: {path}")
    except XrpcError as exc:
        return HttpReply.json(exc.to_json(), exc.status)
