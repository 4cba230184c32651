"""Revision chain checks: does a commit follow the repository state a consumer holds?

A repository's revisions (``rev``) are TIDs, which sort as text in time order. A consumer
holding revision ``held`` (and the MST root ``held_data`` that came with it) accepts a commit
when its ``rev`` is newer, its ``since`` is ``held``, its ``prevData`` is ``held_data``, and its
``rev`` is not from the future. Each check returns a :class:`~supervisor.atproto.verdict.Verdict`;
what a failure means for the consumer:

- :data:`CHAIN_STALE`: a revision not newer than the one held (a replay or duplicate): skip it.
- :data:`CHAIN_GAP` / :data:`CHAIN_PREV_DATA` / :data:`CHAIN_UNKNOWN`: events are missing, or
  the consumer holds no state: the repository is out of sync and must be fetched again.
- :data:`CHAIN_FUTURE`: a clock too far ahead: refuse the commit.
- :data:`CHAIN_BAD_REV`: not a TID: refuse the commit.
"""

from __future__ import annotations

from supervisor.atproto.cid import CID
from supervisor.atproto.syntax import is_valid, tid_time
from supervisor.atproto.verdict import VALID, Verdict, failed

__all__ = [
    "check_rev",
    "check_rev_order",
    "check_since",
    "check_prev_data",
    "check_rev_time",
    "check_chain",
    "DEFAULT_MAX_FUTURE_SECONDS",
    "CHAIN_BAD_REV",
    "CHAIN_STALE",
    "CHAIN_GAP",
    "CHAIN_PREV_DATA",
    "CHAIN_UNKNOWN",
    "CHAIN_FUTURE",
]

DEFAULT_MAX_FUTURE_SECONDS = 300  #: how far ahead of the consumer's clock a revision may be

#: Reason codes of failed chain checks.
CHAIN_BAD_REV = "chain_bad_rev"
CHAIN_STALE = "chain_stale"
CHAIN_GAP = "chain_gap"
CHAIN_PREV_DATA = "chain_prev_data"
CHAIN_UNKNOWN = "chain_unknown"
CHAIN_FUTURE = "chain_future"


def check_rev(rev: str) -> Verdict:
    """Whether ``rev`` is a syntactically valid TID."""
    if not is_valid("tid", rev):
        return failed(CHAIN_BAD_REV, f"revision {str(rev)[:40]!r} is not a TID")
    return VALID


def check_rev_order(rev: str, held: str | None) -> Verdict:
    """Whether ``rev`` is newer than the revision ``held`` (anything is, when none is held)."""
    verdict = check_rev(rev)
    if not verdict:
        return verdict
    if held is not None and rev <= held:
        return failed(CHAIN_STALE, f"revision {rev} is not newer than {held}")
    return VALID


def check_since(since: str | None, held: str | None) -> Verdict:
    """Whether a commit's ``since`` names the revision ``held``.

    ``held`` None (nothing known of the repository) is :data:`CHAIN_UNKNOWN`; a ``since`` of
    None (the repository's first commit) fits only a consumer that holds nothing.
    """
    if held is None:
        if since is None:
            return VALID
        return failed(CHAIN_UNKNOWN, f"no revision is held to compare since={since} with")
    if since != held:
        return failed(CHAIN_GAP, f"since={since} but the revision held is {held}")
    return VALID


def check_prev_data(prev_data: CID | None, held_data: CID | None) -> Verdict:
    """Whether a commit's ``prevData`` is the MST root ``held_data`` held for the repository."""
    if held_data is None:
        return failed(CHAIN_UNKNOWN, "no MST root is held to compare prevData with")
    if prev_data != held_data:
        return failed(CHAIN_PREV_DATA, f"prevData is {prev_data}, the root held is {held_data}")
    return VALID


def check_rev_time(rev: str, now_us: int, max_future_seconds: float = DEFAULT_MAX_FUTURE_SECONDS) -> Verdict:
    """Whether the time in ``rev`` is at most ``max_future_seconds`` after ``now_us``
    (microseconds since the Unix epoch, the caller's clock)."""
    verdict = check_rev(rev)
    if not verdict:
        return verdict
    ahead = tid_time(rev) - now_us
    if ahead > max_future_seconds * 1_000_000:
        return failed(
            CHAIN_FUTURE, f"revision {rev} is {ahead / 1e6:.0f} s in the future (limit {max_future_seconds:g} s)"
        )
    return VALID


def check_chain(
    rev: str,
    since: str | None,
    held: str | None,
    now_us: int,
    *,
    prev_data: CID | None = None,
    held_data: CID | None = None,
    max_future_seconds: float = DEFAULT_MAX_FUTURE_SECONDS,
) -> Verdict:
    """All chain checks of one commit, first failure wins: syntax, time, order, ``since``, and
    ``prevData`` against ``held_data`` when a root is held."""
    for verdict in (
        check_rev_time(rev, now_us, max_future_seconds),
        check_rev_order(rev, held),
        check_since(since, held),
    ):
        if not verdict:
            return verdict
    if held_data is not None:
        return check_prev_data(prev_data, held_data)
    return VALID
