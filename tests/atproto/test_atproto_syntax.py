"""Identifier syntax against the official interop vectors, and TIDs."""

from __future__ import annotations

from pathlib import Path

import pytest

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
