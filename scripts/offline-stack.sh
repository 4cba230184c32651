#!/usr/bin/env bash
# Bring the whole stack up offline: local images, the development relay, the Python worker.
#
#   scripts/offline-stack.sh [up|down|status] [extra `supervisor up` options...]
#
# up (default): start the Docker engine if needed, build the missing local images (Debian
# stand-ins for python:3.11-slim and postgres:16, the wheelhouse), then
#   supervisor up --build --wait -f compose/docker-compose.yml -f compose/docker-compose.dev.yml
# with --build, so that the worker and app stand-in images are those of this checkout (the build
# cache makes an unchanged rebuild quick), and finally `supervisor status`.
# down: `supervisor down -v` on the same files. status: `supervisor status`.
#
# Environment: PROJECT (default appview-dev), WAIT_TIMEOUT (default 300), and any variable the
# compose files read (BACKFILL_DAYS, DEVRELAY_EVENTS, APP_PORT...).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROJECT=${PROJECT:-appview-dev}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300}
PY=${PYTHON:-$ROOT/.venv/bin/python}
FILES=(-f compose/docker-compose.yml -f compose/docker-compose.dev.yml -p "$PROJECT")

supervisor() {
    # The project CLI from .venv.
    "$PY" -m supervisor "$@"
}

action=${1:-up}
[[ $# -gt 0 ]] && shift
case $action in
    up)
        scripts/docker-engine.sh start
        scripts/build-images.sh wheelhouse python postgres
        supervisor up --build --wait --wait-timeout "$WAIT_TIMEOUT" "${FILES[@]}" "$@"
        supervisor status "${FILES[@]}"
        ;;
    down) supervisor down -v "${FILES[@]}" "$@" ;;
    status) supervisor status "${FILES[@]}" "$@" ;;
    *) echo "usage: $0 [up|down|status] [options...]" >&2; exit 2 ;;
esac
