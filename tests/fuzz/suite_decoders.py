"""Mutated frames and CARs through the command line: every run ends, with a documented exit code.

A CAR that differs from a valid one by any mutation must be refused (exit 2): every block is
checked against its CID, and a missing block is an incomplete CAR.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from supervisor.atproto.capture_io import write_capture_frame
from supervisor.atproto.frames import encode_commit, encode_identity, encode_info
from supervisor.atproto.repo import export_repo

from .harness import run_cli
from .settings import EXAMPLES, fuzz_settings

TIME = "2024-05-01T12:00:00.000Z"
FRAMES = [
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
REPO = export_repo("did:plc:abc", "3kabc", {f"app.bsky.feed.post/3k{i:03d}": {"text": str(i)} for i in range(12)})


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
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


@st.composite
def capture(draw: st.DrawFn) -> bytes:
    """A capture whose frames may be damaged, and whose framing may be damaged too."""
    import io

    out = io.BytesIO()
    for _ in range(draw(st.integers(1, 5))):
        frame = draw(st.sampled_from(FRAMES))
        write_capture_frame(out, draw(mutated(frame)) if draw(st.booleans()) else frame)
    data = out.getvalue()
    return draw(mutated(data)) if draw(st.integers(0, 3)) == 0 else data


@fuzz_settings(2 * EXAMPLES)
@given(data=capture())
def test_mutated_captures(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.bin").write_bytes(data)
        for fmt in ("jsonl", "count"):
            run_cli(("firehose", "decode", "--format", fmt, "c.bin"), Path(tmp))


@fuzz_settings(2 * EXAMPLES)
@given(data=mutated(REPO))
def test_mutated_cars_are_refused(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.car").write_bytes(data)
        for args in (
            ("repo", "dump", "r.car"),
            ("repo", "dump", "--format", "jsonl", "r.car"),
            ("repo", "inspect", "r.car"),
            ("repo", "inspect", "--format", "json", "r.car"),
        ):
            outcome = run_cli(args, Path(tmp))
            if data != REPO:
                assert outcome.code == 2, f"{' '.join(args)} accepted a damaged CAR:\n{outcome.text[-2000:]}"
