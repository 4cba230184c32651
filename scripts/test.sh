#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it.
#
#   scripts/test.sh [PYTEST ARGS...]
#
# Installs (when missing): the PostgreSQL server, the Docker engine and debootstrap (Debian
# packages), .venv with the project and its test dependencies (scripts/setup.sh test); starts the
# Docker engine; checks lint and formatting (ruff) and types (mypy, configured in pyproject.toml); runs pytest (the
# tests start their own PostgreSQL cluster and build the images they need). Exit code: 1 when lint or
# types fail, else pytest's, except that "no tests ran" (5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[test] %s\n' "$*" >&2; }

scripts/setup.sh test
.venv/bin/python -c 'import supervisor, hypothesis, compose' >/dev/null

log "starting the Docker engine (if not running)"
scripts/docker-engine.sh start

log "lint and formatting (ruff) and types (mypy)"
.venv/bin/ruff check supervisor tests bench
.venv/bin/ruff format --check supervisor tests bench
.venv/bin/mypy

log "running pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  log "pytest collected no tests: failing"
  exit 1
fi
exit "$rc"
