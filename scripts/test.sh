#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it.
#
#   scripts/test.sh [PYTEST ARGS...]
#
# Installs (when missing): the PostgreSQL server, the Docker engine and debootstrap (Debian
# packages), a virtualenv in .venv with the project and its test dependencies; starts the
# Docker engine; runs pytest. Exit code: pytest's, except that "no tests ran" (5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test] %s\n' "$*" >&2; }

need_apt=()
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${need_apt[*]} (run as root, or install them first)"; exit 2
  fi
  log "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
log "installing the project and its test dependencies into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import supervisor, compose, hypothesis' >/dev/null

if [ -x scripts/docker-engine.sh ]; then
  log "starting the Docker engine (if not running)"
  scripts/docker-engine.sh start
fi

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
