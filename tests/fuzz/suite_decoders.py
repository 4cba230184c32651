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

from .byte_mutations import SEED_FRAMES, mutated, seed_repo
from .harness import run_cli
from .settings import EXAMPLES, fuzz_settings

REPO = seed_repo(12)


@st.composite
def capture(draw: st.DrawFn) -> bytes:
    """A capture whose frames may be damaged, and whose framing may be damaged too."""
    import io

    out = io.BytesIO()
    for _ in range(draw(st.integers(1, 5))):
        frame = draw(st.sampled_from(SEED_FRAMES))
        write_capture_frame(out, draw(mutated([frame])) if draw(st.booleans()) else frame)
    data = out.getvalue()
    return draw(mutated([data])) if draw(st.integers(0, 3)) == 0 else data


@fuzz_settings(2 * EXAMPLES)
@given(data=capture())
def test_mutated_captures(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.bin").write_bytes(data)
        for fmt in ("jsonl", "count"):
            run_cli(("firehose", "decode", "--format", fmt, "c.bin"), Path(tmp))


@fuzz_settings(2 * EXAMPLES)
@given(data=mutated([REPO]))
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
