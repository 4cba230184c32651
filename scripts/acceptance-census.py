#!/usr/bin/env python3
"""Accept or refuse as compose does: the census of about 3,800 mutated compose projects.

    .venv/bin/python scripts/acceptance-census.py [--sample N] [--workers N] [--seed N] [--json FILE]
        [--category NAME] [--show N] [--command config|validate|validate-json]

Each case of ``tests/fuzz/census.py`` runs through the real compose binary (``config -q``, 10 s
timeout) and ``supervisor config -q`` (a fresh process, 20 s timeout; ``--command validate`` runs
``supervisor validate`` instead, ``validate-json`` with ``--format json``, and then every error
finding of an exit-2 run is checked for the file and ``line:col``), then the script prints, per
category: how many agree, how many only compose accepts, how many only we accept, where compose
fails badly (a panic, a hang, memory) and whether we refused those; how many of our exit-2
messages name no file, or have no ``file:line:col`` where the input has a line; internal errors;
the longest time and the largest peak resident set of ours and of compose; and the runtime.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.census import SEED, generate, sample  # noqa: E402
from tests.fuzz.census_run import COMMANDS, Result, run_cases  # noqa: E402


def _row(name: str, results: list[Result]) -> list[str]:
    exit2 = [r for r in results if r.ours.code == 2]
    return [
        name,
        str(len(results)),
        str(sum(r.agree for r in results)),
        str(sum(not r.compose_fails_badly and r.compose.code == 0 and r.refused for r in results)),
        str(sum(not r.compose_fails_badly and r.compose.code != 0 and not r.refused for r in results)),
        f"{sum(r.compose_fails_badly for r in results)}/{sum(r.compose_fails_badly and r.ours.code == 2 for r in results)}",
        str(len(exit2)),
        str(sum(not r.names_file() for r in exit2)),
        str(sum(r.case.locatable and not r.located() for r in exit2)),
        str(sum(r.internal_error for r in results)),
        f"{max((r.ours.seconds for r in results), default=0):.2f}",
        f"{max((r.ours.rss_mb for r in results), default=0):.0f}",
        f"{max((r.compose.seconds for r in results), default=0):.2f}",
        f"{max((r.compose.rss_mb for r in results), default=0):.0f}",
    ]


HEADER = [
    "category",
    "cases",
    "agree",
    "only compose accepts",
    "only we accept",
    "compose fails badly/we refuse",
    "our exit 2",
    "no file",
    "no line:col",
    "internal",
    "our max s",
    "our max MB",
    "compose max s",
    "compose max MB",
]


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if row is HEADER:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sample", type=int, default=0, help="run this many cases, spread over the categories")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--category", action="append", default=[], help="only this category (repeatable)")
    parser.add_argument("--name", default="", help="only cases whose name contains this")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument(
        "--command", choices=sorted(COMMANDS), default="config", help="our command (compose runs config -q)"
    )
    parser.add_argument("--show", type=int, default=5, help="differences and unlocated messages shown per category")
    options = parser.parse_args()

    cases = generate(options.seed)
    if options.sample:
        cases = sample(cases, options.sample, options.seed)
    if options.category:
        cases = [c for c in cases if c.category in options.category]
    if options.name:
        cases = [c for c in cases if options.name in c.name]
    started = time.monotonic()
    results = list(run_cases(cases, options.workers, options.command))
    runtime = time.monotonic() - started

    by_category: dict[str, list[Result]] = collections.defaultdict(list)
    for result in results:
        by_category[result.case.category].append(result)
    rows = [_row(name, members) for name, members in by_category.items()]
    rows.append(_row("all", results))
    _print_table(rows)

    for name, members in by_category.items():
        shown = [r for r in members if not r.agree or r.internal_error]
        unlocated = [r for r in members if r.ours.code == 2 and r.case.locatable and not r.located()]
        for label, group in (("differs", shown), ("not located", unlocated)):
            for r in group[: options.show]:
                theirs = "fails badly" if r.compose_fails_badly else f"exit {r.compose.code}"
                print(f"- {label}: {r.case.name}: compose {theirs}, ours exit {r.ours.code}")
                print(f"    compose: {r.compose.stderr.strip()[:300]!r}")
                print(f"    ours:    {r.message[:300]!r}")
    print(f"runtime {runtime:.0f} s for {len(results)} cases ({options.workers} workers, ours: {options.command})")
    if options.json:
        options.json.write_text(
            json.dumps(
                [
                    {
                        "name": r.case.name,
                        "category": r.case.category,
                        "agree": r.agree,
                        "compose_fails_badly": r.compose_fails_badly,
                        "located": r.located(),
                        "names_file": r.names_file(),
                        "locatable": r.case.locatable,
                        "compose": vars(r.compose),
                        "ours": vars(r.ours),
                    }
                    for r in results
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
