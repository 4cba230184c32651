"""``config`` YAML rendering: the linear emitter against PyYAML's emitter, in the same run.

Renders a config document holding one large environment value (plain, single-quoted and
double-quoted forms, and a multi-line one) with :func:`supervisor.compose.render.compose_yaml`
and with PyYAML's pure-Python emitter under the same rules (what ``config`` used before), and
prints the median of ``--runs`` runs of each and the ratio.  Both outputs are checked equal.
Nothing is asserted about time.

Usage: ``python bench/bench_render.py [--runs N] [--mib M]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from supervisor.compose import render  # noqa: E402


def _pyyaml(document: dict[str, Any]) -> str:
    return yaml.dump(
        render.order_document(document),
        Dumper=render._PyYAMLDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**62,
    )


def _median(fn: Callable[[], str], runs: int) -> tuple[float, str]:
    times = []
    text = ""
    for _ in range(runs):
        start = time.perf_counter()
        text = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=9)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    values = {
        "plain": "v" * size,
        "single-quoted": "v" * size + " #",
        "double-quoted": "v" * size + "\t",
        "multi-line": ("v" * 99 + "\n") * (size // 100),
    }
    print(f"median of {args.runs} runs; value {args.mib} MiB; load {os.getloadavg()[0]:.2f}")
    print(f"{'value':<14} {'linear ms':>10} {'PyYAML ms':>10} {'ratio':>7}")
    for name, value in values.items():
        document = {"name": "p", "services": {"app": {"environment": {"BIG": value}, "image": "a"}}}
        fast, ours = _median(lambda: render.compose_yaml(document), args.runs)
        slow, theirs = _median(lambda: _pyyaml(document), args.runs)
        status = "same" if ours == theirs else "DIFFERENT"
        print(f"{name:<14} {fast * 1000:>10.1f} {slow * 1000:>10.1f} {slow / fast:>6.0f}x  {status}")


if __name__ == "__main__":
    main()
