#!/usr/bin/env bash
# Install what the project needs on a Debian machine (idempotent):
# Debian packages (PostgreSQL server, Docker engine, debootstrap) when missing and run as root,
# then .venv with the project.
#
#   scripts/setup.sh            # runtime dependencies
#   scripts/setup.sh test       # plus the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
log() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${need_apt[*]} (install them, or run this as root)"
  else
    log "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
target=.
[ -n "$extras" ] && target=".[$extras]"
log "installing $target into .venv"
# compat mode: a plain path in a .pth file, so no import hook is loaded at every start
.venv/bin/python -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e "$target" 2>&1 | { grep -v '^WARNING: Location' || true; } >&2
.venv/bin/python -c 'import supervisor'
