"""Lexicon string formats: DID, handle, NSID, record key, TID, datetime, AT-URI, at-identifier,
CID and language tag, checked exactly as the atproto specifications define them.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Callable

__all__ = ["is_valid", "KINDS", "tid_from_time", "tid_time", "TID_ALPHABET"]

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"

_DID = re.compile(r"did:[a-z]+:(?:[a-zA-Z0-9._-]|%[0-9A-F]{2}|:)*(?:[a-zA-Z0-9._-]|%[0-9A-F]{2})")
_HANDLE = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_NSID = re.compile(
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}"
)
_RECORD_KEY = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
# Every field's range is in the pattern (month 01-12, day 01-31, hour 00-23, minute and second
# 00-59, a zone offset up to 23:59; not year 0000, not the "unknown offset" -00:00): only a day
# past 28 is left to check against its month.
_DATETIME = re.compile(
    r"(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:Z|\+(?:[01][0-9]|2[0-3]):[0-5][0-9]|-(?!00:00)(?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_CID = re.compile(r"[a-zA-Z0-9+=]{8,256}")
_LANGUAGE = re.compile(r"(?:i|[a-z]{2,3})(?:-[a-zA-Z0-9]+)*")
_ATURI = re.compile(r"at://([^/#?]+)(?:/([^/#?]+)(?:/([^/#?]+))?)?")


def _did(value: str) -> bool:
    return len(value) <= 2048 and _DID.fullmatch(value) is not None


def _handle(value: str) -> bool:
    return len(value) <= 253 and _HANDLE.fullmatch(value) is not None


def _nsid(value: str) -> bool:
    return len(value) <= 317 and value.isascii() and _NSID.fullmatch(value) is not None


def _record_key(value: str) -> bool:
    return value not in (".", "..") and _RECORD_KEY.fullmatch(value) is not None


def _tid(value: str) -> bool:
    return _TID.fullmatch(value) is not None


def _datetime(value: str) -> bool:
    if len(value) > 64 or _DATETIME.fullmatch(value) is None:
        return False
    if value[8:10] > "28":  # does the month have that day?
        try:
            date(int(value[:4]), int(value[5:7]), int(value[8:10]))
        except ValueError:
            return False
    return True


def _cid(value: str) -> bool:
    # CIDv0 ('Qmb...') is not allowed in lexicon data.
    return _CID.fullmatch(value) is not None and not value.startswith("Qmb")


def _language(value: str) -> bool:
    return len(value) <= 128 and _LANGUAGE.fullmatch(value) is not None


def _at_identifier(value: str) -> bool:
    if value.startswith("did:"):
        return _did(value)
    return _handle(value)


def _aturi(value: str) -> bool:
    if len(value) > 8 * 1024:
        return False
    match = _ATURI.fullmatch(value)
    if match is None:
        return False
    authority, collection, rkey = match.groups()
    if not _at_identifier(authority):
        return False
    if collection is not None and not _nsid(collection):
        return False
    if rkey is not None and not _record_key(rkey):
        return False
    return True


KINDS: dict[str, Callable[[str], bool]] = {
    "did": _did,
    "handle": _handle,
    "nsid": _nsid,
    "recordkey": _record_key,
    "record-key": _record_key,
    "tid": _tid,
    "datetime": _datetime,
    "aturi": _aturi,
    "at-uri": _aturi,
    "atidentifier": _at_identifier,
    "at-identifier": _at_identifier,
    "cid": _cid,
    "language": _language,
}


def is_valid(kind: str, value: str) -> bool:
    """Whether ``value`` is a syntactically valid ``kind`` (one of :data:`KINDS`)."""
    try:
        check = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown syntax kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    if not isinstance(value, str):
        return False
    return check(value)


def tid_from_time(microseconds: int, clock_id: int = 0) -> str:
    """The TID for a timestamp (microseconds since the Unix epoch) and a 10-bit clock id."""
    if not 0 <= microseconds < 1 << 53:
        raise ValueError(f"TID timestamp out of range: {microseconds}")
    if not 0 <= clock_id < 1 << 10:
        raise ValueError(f"TID clock id out of range: {clock_id}")
    value = (microseconds << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def tid_time(tid: str) -> int:
    """The timestamp (microseconds since the Unix epoch) encoded in a TID."""
    if not _tid(tid):
        raise ValueError(f"not a valid TID: {tid!r}")
    value = 0
    for char in tid:
        value = (value << 5) | TID_ALPHABET.index(char)
    return value >> 10
