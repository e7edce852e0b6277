#!/usr/bin/env bash
# Starts or stops a private, real dockerd (Debian's docker.io, 20.10.x, API 1.41) for the Docker
# emulator's contract tests (sim/tests/integration/docker.rs).
#
#   scripts/dockerd.sh start DIR   install docker.io + busybox-static if missing, start dockerd with its
#                                  socket at DIR/docker.sock (data/exec roots and log under DIR), import a
#                                  busybox image as galley-test/busybox:1, and print the env to export.
#                                  Idempotent: a dockerd already running for DIR is reused.
#   scripts/dockerd.sh stop DIR    stop that dockerd (and its containerd) by pidfile and clean DIR up.
#
# Typical use:
#   eval "$(scripts/dockerd.sh start /tmp/galley-dockerd)"
#   GALLEY_REQUIRE_DOCKERD=1 cargo test -p galley-sim --test integration docker
#   scripts/dockerd.sh stop /tmp/galley-dockerd
#
# Everything the script itself reports goes to stderr; only the `export` lines go to stdout.
# Keep DIR short: a unix socket path is limited to 107 bytes.
set -euo pipefail

IMAGE="galley-test/busybox:1"
READY_TIMEOUT_S=60

log() { echo "dockerd.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
ACTION="$1"
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
LOGFILE="$DIR/dockerd.log"

# --- helpers ---

# Installs the Debian packages we need, running `apt-get update` only when something is missing.
ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    [[ -x /bin/busybox ]] || missing+=(busybox-static)
    if [[ ${#missing[@]} -eq 0 ]]; then
        return
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
}

# The docker CLI: the one on the image (/usr/local/bin/docker) or the one from docker.io.
docker_cli() {
    local cli
    if [[ -x /usr/local/bin/docker ]]; then
        cli=/usr/local/bin/docker
    else
        cli="$(command -v docker)" || die "no docker CLI found"
    fi
    "$cli" -H "unix://$SOCK" "$@"
}

pid_alive() {
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

ping_ok() {
    [[ -S "$SOCK" ]] || return 1
    if command -v curl >/dev/null 2>&1; then
        [[ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" == "OK" ]]
    else
        docker_cli version >/dev/null 2>&1
    fi
}

start_dockerd() {
    if pid_alive "$PIDFILE" && ping_ok; then
        log "dockerd already running (pid $(cat "$PIDFILE"))"
        return
    fi
    if pid_alive "$PIDFILE"; then
        die "dockerd pid $(cat "$PIDFILE") is alive but does not answer on $SOCK; run '$0 stop $DIR' first"
    fi
    rm -f "$PIDFILE" "$SOCK"
    mkdir -p "$DIR/data" "$DIR/exec"
    log "starting dockerd (socket $SOCK, log $LOGFILE)"
    # setsid + nohup: the daemon outlives this script and the shell that ran it.
    setsid nohup dockerd \
        --host "unix://$SOCK" \
        --data-root "$DIR/data" \
        --exec-root "$DIR/exec" \
        --pidfile "$PIDFILE" \
        --bridge=none --iptables=false --ip6tables=false \
        --storage-driver=vfs \
        --default-ulimit nofile=1024:1024 --default-ulimit nproc=4096:4096 \
        >"$LOGFILE" 2>&1 </dev/null &
    local started=$SECONDS
    until ping_ok; do
        if (( SECONDS - started >= READY_TIMEOUT_S )); then
            log "dockerd did not answer /_ping within ${READY_TIMEOUT_S}s; log tail:"
            tail -n 40 "$LOGFILE" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    log "dockerd ready after $(( SECONDS - started ))s"
}

# Builds a busybox rootfs (busybox + sh sleep cat true) and imports it as $IMAGE, unless present.
ensure_image() {
    if docker_cli image inspect "$IMAGE" >/dev/null 2>&1; then
        log "image $IMAGE present"
        return
    fi
    local rootfs="$DIR/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs/bin"
    cp /bin/busybox "$rootfs/bin/busybox"
    local applet
    for applet in sh sleep cat true; do
        ln -sf busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" -c . | docker_cli import - "$IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "imported $IMAGE"
}

# Sends SIGTERM to the pid in $1, waits up to $2 seconds, then SIGKILLs it.
stop_pidfile() {
    local pidfile="$1" wait_s="$2" pid
    pid_alive "$pidfile" || return 0
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for (( i = 0; i < wait_s * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid did not exit on SIGTERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
}

do_start() {
    ensure_packages
    start_dockerd
    ensure_image
    echo "export GALLEY_DOCKER_SOCK=$SOCK"
    echo "export GALLEY_TEST_IMAGE=$IMAGE"
}

do_stop() {
    # Running test containers are stopped by dockerd on shutdown (its live-restore is off).
    stop_pidfile "$PIDFILE" 30
    # dockerd normally stops the containerd it started; make sure.
    stop_pidfile "$DIR/exec/containerd/containerd.pid" 10
    # Anything dockerd left mounted under DIR (netns, shm, vfs layers) must go before rm -rf.
    local mnt
    for mnt in $(awk -v dir="$DIR/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$mnt" 2>/dev/null || true
    done
    rm -rf "$DIR/data" "$DIR/exec" "$DIR/rootfs" "$SOCK" "$PIDFILE"
    log "stopped; removed $DIR/{data,exec} (log kept at $LOGFILE)"
}

case "$ACTION" in
    start) do_start ;;
    stop) do_stop ;;
    *) usage ;;
esac
