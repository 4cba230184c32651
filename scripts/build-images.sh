#!/usr/bin/env bash
# Build the local stand-ins for the public base images, so the stack runs without a registry.
#
#   scripts/build-images.sh [--force] [wheelhouse|python|postgres|all]...
#
#   wheelhouse  .cache/wheelhouse: wheels of the project's dependencies, built on the host
#               (containers cannot reach the package index; the worker image installs from it)
#   python      appview-local/python:3.11   stands in for python:3.11-slim
#               (Debian bookworm minbase + python3 + a venv on PATH, so `python` and `pip` work)
#   postgres    appview-local/postgres:15   stands in for postgres:16
#               (Debian's PostgreSQL 15; honours POSTGRES_DB/USER/PASSWORD; answers pg_isready)
#
# Root file systems come from `debootstrap --variant=minbase bookworm` (Debian's mirror is
# reachable) and are cached as tarballs under .cache/images/; an image that already exists is
# not rebuilt unless --force is given. Needs root and the packages debootstrap and docker.io.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SUPERVISOR_IMAGE_CACHE:-$ROOT/.cache/images}
WHEELHOUSE=${SUPERVISOR_WHEELHOUSE:-$ROOT/.cache/wheelhouse}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PYTHON_TAG=${PYTHON_LOCAL_IMAGE:-appview-local/python:3.11}
POSTGRES_TAG=${POSTGRES_LOCAL_IMAGE:-appview-local/postgres:15}
PIP=${PIP:-$ROOT/.venv/bin/pip}
FORCE=0

log() { echo "build-images: $*" >&2; }

have_image() { [[ $FORCE == 0 ]] && docker image inspect "$1" >/dev/null 2>&1; }

# One line per debootstrap stage (Retrieving, Extracting, Unpacking, Configuring...) and every 25
# packages within one, with the time so far: the minute or two it takes is not silent.
debootstrap_progress() {
    local name=$1 stage="" count=0 start=$SECONDS line verb
    while IFS= read -r line; do
        [[ $line == "I: "* ]] || continue
        verb=${line#I: }
        verb=${verb%% *}
        if [[ $verb != "$stage" ]]; then
            stage=$verb count=0
            log "debootstrap $name: ${line#I: } ($((SECONDS - start))s)"
        elif (( ++count % 25 == 0 )); then
            log "debootstrap $name: $stage... $count packages ($((SECONDS - start))s)"
        fi
    done
}

# debootstrap into a temporary directory and pack it as a tarball (cached).
rootfs() {
    local name=$1 include=$2 post=${3:-}
    local tarball=$CACHE/$name.tar
    if [[ -f $tarball && $FORCE == 0 ]]; then
        echo "$tarball"
        return
    fi
    command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install -y debootstrap"; exit 2; }
    mkdir -p "$CACHE"
    local dir
    dir=$(mktemp -d "$CACHE/.rootfs-$name.XXXXXX")
    log "debootstrap $SUITE ($include) -> $name (1-2 minutes; full log: $CACHE/$name.debootstrap.log)"
    if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$dir" "$MIRROR" 2>&1 \
            | tee "$CACHE/$name.debootstrap.log" | debootstrap_progress "$name"; then
        log "debootstrap failed; see $CACHE/$name.debootstrap.log"; rm -rf "$dir"; exit 1
    fi
    if [[ -n $post ]]; then
        chroot "$dir" /bin/sh -c "$post"
    fi
    # Keep the image small: package caches and lists are useless in a container.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
        "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
    tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$dir"
    echo "$tarball"
}

build_wheelhouse() {
    mkdir -p "$WHEELHOUSE"
    log "wheelhouse -> $WHEELHOUSE"
    # --find-links: reuse wheels already there, so only new dependencies are fetched.
    "$PIP" wheel --quiet --disable-pip-version-check --find-links "$WHEELHOUSE" --wheel-dir "$WHEELHOUSE" \
        "$ROOT" setuptools wheel 2>&1 | { grep -v "^WARNING: Location" || true; }
    # The project's own wheel is rebuilt from source inside the image; keep only dependencies.
    rm -f "$WHEELHOUSE"/appview_supervisor-*.whl
}

build_python() {
    if have_image "$PYTHON_TAG"; then log "$PYTHON_TAG exists"; return; fi
    local tarball
    tarball=$(rootfs python-3.11 python3,python3-venv,ca-certificates \
        "python3 -m venv /opt/venv && /opt/venv/bin/pip --version >/dev/null")
    log "docker import -> $PYTHON_TAG"
    docker import \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
        --change 'CMD ["python3"]' \
        "$tarball" "$PYTHON_TAG" >/dev/null
}

build_postgres() {
    if have_image "$POSTGRES_TAG"; then log "$POSTGRES_TAG exists"; return; fi
    local tarball base=${POSTGRES_TAG%%:*}-rootfs:${POSTGRES_TAG##*:}
    # Debian's package creates a default cluster; the entrypoint makes its own in PGDATA.
    tarball=$(rootfs postgres-15 postgresql-15,ca-certificates \
        "pg_dropcluster --stop 15 main >/dev/null 2>&1 || true")
    log "docker import -> $base"
    docker import "$tarball" "$base" >/dev/null
    log "docker build -> $POSTGRES_TAG"
    docker build --quiet --build-arg "BASE=$base" -t "$POSTGRES_TAG" "$ROOT/scripts/images/postgres" >/dev/null
}

targets=()
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        wheelhouse|python|postgres|all) targets+=("$arg") ;;
        *) echo "usage: $0 [--force] [wheelhouse|python|postgres|all]..." >&2; exit 2 ;;
    esac
done
[[ ${#targets[@]} == 0 ]] && targets=(all)
for target in "${targets[@]}"; do
    case $target in
        wheelhouse) build_wheelhouse ;;
        python) build_python ;;
        postgres) build_postgres ;;
        all) build_wheelhouse; build_python; build_postgres ;;
    esac
done
