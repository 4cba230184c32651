"""Damaged binary inputs for the decoders: seed frames, a seed repository, and byte mutations.

:func:`mutated` draws one of the seeds and applies one to four mutations (a flipped bit, a
truncation, inserted or deleted bytes, a byte set to any value).  The fuzz suite (through the
command line) and the decoder property tests (in process) share them.
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from supervisor.atproto.frames import encode_commit, encode_identity, encode_info
from supervisor.atproto.repo import export_repo

__all__ = ["TIME", "SEED_FRAMES", "seed_repo", "mutated"]

TIME = "2024-05-01T12:00:00.000Z"

#: A #commit (a create and a delete), an #identity and an #info frame.
SEED_FRAMES = [
    encode_commit(
        1,
        "did:plc:abc",
        "3kabc",
        None,
        TIME,
        [
            (
                "create",
                "app.bsky.feed.post/3k1",
                None,
                {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": TIME},
            ),
            ("delete", "app.bsky.feed.like/3k2", None, None),
        ],
    ),
    encode_identity(2, "did:plc:abc", TIME, "a.test"),
    encode_info("OutdatedCursor"),
]


def seed_repo(records: int) -> bytes:
    """A repository CAR of ``records`` posts."""
    return export_repo(
        "did:plc:abc", "3kabc", {f"app.bsky.feed.post/3k{i:03d}": {"text": str(i)} for i in range(records)}
    )


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """One of ``seeds`` with one to four byte mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "set")))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at] = draw(st.integers(0, 255))
    return bytes(data)
