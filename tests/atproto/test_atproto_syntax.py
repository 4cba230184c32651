"""Identifier syntax against the official interop vectors, and TIDs."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.atproto.syntax import KINDS, is_valid, tid_from_time, tid_time

VECTORS = Path(__file__).parent / "vectors"


def _cases():
    for path in sorted(VECTORS.glob("*_syntax_*.txt")):
        kind, _, rest = path.stem.partition("_syntax_")
        expected = rest == "valid"
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line or line.startswith("#"):
                continue
            yield pytest.param(kind, line, expected, id=f"{path.stem}:{number}")


CASES = list(_cases())


def test_every_kind_has_vectors():
    kinds = {case.values[0] for case in CASES}
    assert kinds == {
        "did",
        "handle",
        "nsid",
        "recordkey",
        "tid",
        "datetime",
        "aturi",
        "atidentifier",
        "cid",
        "language",
    }
    assert len(CASES) > 400


@pytest.mark.parametrize("kind, value, expected", CASES)
def test_interop_vector(kind, value, expected):
    assert is_valid(kind, value) is expected


def test_unknown_kind_is_a_usage_error():
    with pytest.raises(ValueError):
        is_valid("email", "a@b.c")
    assert "did" in KINDS


def test_tid_round_trip_and_ordering():
    times = [0, 1, 1_700_000_000_000_000, 2**53 - 1]
    tids = [tid_from_time(t, 7) for t in times]
    assert all(is_valid("tid", tid) for tid in tids)
    assert [tid_time(tid) for tid in tids] == times
    assert tids == sorted(tids)  # TIDs sort chronologically as strings
    assert tid_from_time(0, 0) == "2222222222222"


def test_tid_rejects_bad_input():
    with pytest.raises(ValueError):
        tid_from_time(-1)
    with pytest.raises(ValueError):
        tid_from_time(0, 1024)
    with pytest.raises(ValueError):
        tid_time("not-a-tid")


def _datetime_by_fields(value: str) -> bool:
    """The datetime rules read field by field (the calendar from the datetime module)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", value, re.ASCII)
    if match is None or len(value) > 64:
        return False
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    zone = match.group(8)
    if zone == "-00:00" or (zone != "Z" and (int(zone[1:3]) > 23 or int(zone[4:6]) > 59)):
        return False
    try:
        return year > 0 and datetime(year, month, day, hour, minute, second) is not None
    except ValueError:
        return False


def _two(top: int, edge: int) -> st.SearchStrategy[str]:
    # two digits up to ``top``, often near ``edge`` (the last valid value)
    return st.one_of(st.integers(0, top), st.integers(max(0, edge - 2), edge + 1)).map(lambda n: f"{n:02d}")


_DATETIME_LIKE = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
    st.sampled_from(["0000", "0001", "1900", "2000", "2023", "2024", "2100", "9999"]),
    _two(13, 12),
    _two(32, 30),
    _two(25, 23),
    _two(61, 59),
    _two(61, 59),
    st.sampled_from(["", ".", ".1", ".123", ".123456789", ".x"]),
    st.one_of(
        st.sampled_from(["Z", "z", "", "-00:00", "+00:00", "+0000"]),
        st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), _two(25, 23), _two(61, 59)),
    ),
)


@settings(max_examples=500)
@given(_DATETIME_LIKE)
def test_datetime_check_agrees_with_the_rules_field_by_field(value: str) -> None:
    # every field's range (days of each month and leap years included), the zone, year 0000
    assert is_valid("datetime", value) is _datetime_by_fields(value)
