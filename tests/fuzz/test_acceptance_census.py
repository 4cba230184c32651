"""A bounded sample of the acceptance census: accept or refuse as compose does, with a located message.

``scripts/acceptance-census.py`` runs all of ``census.generate()`` (about 3,800 projects); this
test runs :data:`SAMPLE` of them, spread over every category, plus every case in :data:`FIXED`
(each was a difference once).  The sample is the same on every run under ``CI=true``; elsewhere it
is drawn anew (``FUZZ_RANDOM=1`` does that under CI too) and the seed is printed on failure.

For each case: our ``config -q`` and compose's agree on accepting or refusing; where compose fails
badly (a panic, a hang, a runaway read) we refuse; no internal error, no run past its timeout, a
peak resident set under 300 MB; every exit-2 message names the file, and its ``file:line:col``
where the input has a line.  ``supervisor validate`` (text and ``--format json``) runs on
:data:`VALIDATE_SAMPLE` cases of the same sample plus the fixed ones: each of its exit-2 error
findings names the file and its ``line:col`` too.
"""

from __future__ import annotations

import os
import random

import pytest

from .census import SEED, generate, sample
from .census_run import Result, run_cases

pytestmark = pytest.mark.differential

SAMPLE = int(os.environ.get("CENSUS_SAMPLE", "300"))
VALIDATE_SAMPLE = min(SAMPLE, 60)
LIMIT_RSS_MB = 300

_CI = os.environ.get("CI", "").lower() == "true"
_SEED = SEED if _CI and os.environ.get("FUZZ_RANDOM", "") not in ("1", "true") else random.randrange(1 << 30)

#: cases that differed from compose once, run on every run
FIXED: tuple[str, ...] = (
    "interp:service-key:0",  # a service name the schema refuses
    "huge:size:1e3m",  # sizes read as go-units reads them
    "huge:number:mem_limit:3",  # was an internal error
    "huge:number:cpu_shares:4",  # was an internal error (5,000 digits)
    "special:dev-null:env_file",  # /dev/null reads as an empty file
    "special:dev-null:include",
    "special:symlink-loop:.env",
    "wrong:services.app.ports.1.target:2",
    "odd:services.app.ports.1:25",
    "odd:services.app.ports.1.published:22",
    "odd:services.app.ulimits.nofile.soft:25",  # compose panics
    "huge:ulimit:1",
    "wrong:cache.environment:12",
    "null:services.app.environment:0",
    "null:top.include",
    "wrong:cache.mem_swappiness:6",
    "wrong:cache.models:11",
    "anchor:merge-twice",
    "anchor:anchor-redefined",
    "encoding:compose:directive-12",
    "encoding:env_file:latin1",
    "huge:duration:1d",
    "huge:duration:9999999999h",
    "huge:number:scale:0",
    "huge:retries:7",
    "deep:x:lists:500",
    "deep:x:maps:999",
    "label_file:empty-string",
    "special:dev-zero:extends",  # compose runs out of memory; ours is located at the extends line
    "special:dev-zero:label_file",
    "wrong:services.app.volumes.0:6",
    "encoding:compose:nul",
    "anchor:tag-timestamp",  # an explicit !!timestamp was read as text
)

#: differences left on purpose, each with its reason (see README, "Bounds")
KNOWN: dict[str, str] = {
    **{
        f"deep:x:{kind}:{depth}": "past the YAML parser's maximum nesting depth, 1,000 (compose reads 10,000)"
        for kind in ("lists", "maps")
        for depth in (1000, 1001, 5000)
    },
    "huge:over-limit-file": "a compose file past 10 MiB is refused before it is read",
}


#: differences of ``validate`` alone (it reads more than ``config -q`` does)
KNOWN_VALIDATE: dict[str, str] = {
    **{
        f"special:{kind}:dockerfile": "validate reads the Dockerfile and refuses a non-regular one (SV013)"
        for kind in ("fifo", "dev-zero", "dev-null", "dev-urandom", "directory", "socket")
    },
    "huge:port:1-65535:1-65535": "validate does not expand port ranges (config refuses this one); compose runs out of memory",
}


def _problems(result: Result) -> list[str]:
    out = []
    ours, theirs = result.ours, result.compose
    known = KNOWN if result.mode == "config" else {**KNOWN, **KNOWN_VALIDATE}
    if result.case.name not in known and not result.agree:
        said = "fails badly" if result.compose_fails_badly else f"exits {theirs.code}"
        out.append(f"compose {said} ({theirs.stderr.strip()[:200]!r}), we exit {ours.code} ({result.message[:300]!r})")
    if result.internal_error:
        out.append(f"internal error or timeout: exit {ours.code}, {ours.stderr.strip()[:300]!r}")
    if ours.rss_mb >= LIMIT_RSS_MB:
        out.append(f"peak resident set {ours.rss_mb:.0f} MB")
    if ours.code == 2 and not result.names_file():
        out.append(f"the message names no file: {result.message[:300]!r}")
    if ours.code == 2 and result.case.locatable and not result.located() and result.case.name not in known:
        out.append(f"the message has no file:line:col: {result.message[:300]!r}")
    return out


@pytest.mark.parametrize("mode", ["config", "validate", "validate-json"])
def test_a_sample_of_the_census_agrees_with_compose(mode: str) -> None:
    cases = generate()
    size = SAMPLE if mode == "config" else VALIDATE_SAMPLE
    chosen = sample(cases, size, _SEED) if size else []  # CENSUS_SAMPLE=0: the fixed cases alone
    names = {case.name for case in chosen}
    chosen += [case for case in cases if case.name in FIXED and case.name not in names]
    assert set(FIXED) <= {case.name for case in cases}, "a fixed case is no longer generated"
    failures = []
    for result in run_cases(chosen, workers=2, mode=mode):
        failures += [f"{result.case.name}: {problem}" for problem in _problems(result)]
    assert not failures, f"{len(failures)} problems in {len(chosen)} cases (sample seed {_SEED}):\n" + "\n".join(
        failures
    )
