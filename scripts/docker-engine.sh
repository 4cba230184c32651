#!/usr/bin/env bash
# Start or stop a local Docker Engine (Debian's docker.io) in the background.
#
#   scripts/docker-engine.sh start    # idempotent: returns once `docker info` answers
#   scripts/docker-engine.sh stop
#   scripts/docker-engine.sh status
#
# Known to work here with the engine's defaults (overlay2 storage, iptables on, cgroupfs).
# Set DOCKERD_FLAGS to pass extra flags (for example "--iptables=false --storage-driver=vfs"
# on a kernel without overlayfs or netfilter). The daemon logs to $DOCKERD_LOG.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-supervisor.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
DOCKERD_FLAGS=${DOCKERD_FLAGS:-}
START_TIMEOUT=${START_TIMEOUT:-60}

engine_up() {
    docker info >/dev/null 2>&1
}

start() {
    if engine_up; then
        echo "docker engine: already running"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "docker engine: dockerd not found; install it: apt-get install -y docker.io" >&2
        return 2
    fi
    # A stale pid file from a killed daemon makes dockerd refuse to start.
    if [[ -f "$DOCKERD_PIDFILE" ]] && ! kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null; then
        rm -f "$DOCKERD_PIDFILE"
    fi
    if [[ ! -f "$DOCKERD_PIDFILE" ]]; then
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        # shellcheck disable=SC2086
        setsid nohup dockerd --pidfile "$DOCKERD_PIDFILE" $DOCKERD_FLAGS >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    local waited=0
    until engine_up; do
        if (( waited >= START_TIMEOUT * 2 )); then
            echo "docker engine: not answering after ${START_TIMEOUT}s; last lines of $DOCKERD_LOG:" >&2
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    echo "docker engine: running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
}

stop() {
    if [[ -f "$DOCKERD_PIDFILE" ]]; then
        local pid
        pid=$(cat "$DOCKERD_PIDFILE")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        echo "docker engine: stopped"
    else
        echo "docker engine: not started by this script"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) if engine_up; then echo "docker engine: running"; else echo "docker engine: not running"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
