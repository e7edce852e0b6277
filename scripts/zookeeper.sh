#!/usr/bin/env bash
# Starts or stops a private, real ZooKeeper (Debian's `zookeeper` 3.8 package, standalone, on
# loopback) for the leader-election tests (coordinator/tests/integration/election.rs).
#
#   scripts/zookeeper.sh start DIR   install zookeeper if missing, start it with its data dir,
#                                    config and log under DIR on a free loopback port, wait
#                                    for `ruok` → `imok`, and print the env to export.
#                                    Idempotent: a ZooKeeper already running for DIR is reused.
#   scripts/zookeeper.sh stop DIR    stop it by pidfile and remove DIR.
#
# Typical use:
#   eval "$(scripts/zookeeper.sh start /tmp/galley-zk)"
#   GALLEY_REQUIRE_ZOOKEEPER=1 cargo test -p galley-coordinator --test integration election
#   scripts/zookeeper.sh stop /tmp/galley-zk
#
# tickTime is 200 ms so sessions as short as 400 ms are allowed (tests use 2-4 s sessions).
# Everything the script reports goes to stderr; only the `export` lines go to stdout.
set -euo pipefail

READY_TIMEOUT_S=60
log() { echo "zookeeper.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
ACTION="$1"
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"
PIDFILE="$DIR/zookeeper.pid"
PORTFILE="$DIR/port"

ruok() { # PORT → prints the reply
    python3 - "$1" <<'EOF' 2>/dev/null || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok")
print(s.recv(16).decode(), end="")
EOF
}

print_env() {
    echo "export GALLEY_ZOOKEEPER=127.0.0.1:$(cat "$PORTFILE")"
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$ACTION" in
start)
    if running && [[ "$(ruok "$(cat "$PORTFILE")")" == imok ]]; then
        log "reusing ZooKeeper pid $(cat "$PIDFILE")"
        print_env
        exit 0
    fi
    if [[ ! -f /usr/share/java/zookeeper.jar ]]; then
        log "installing zookeeper"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends zookeeper >&2
    fi
    command -v java >/dev/null || die "java is missing (the zookeeper package depends on it)"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    echo "$PORT" > "$PORTFILE"
    mkdir -p "$DIR/conf" "$DIR/data"
    cat > "$DIR/conf/zoo.cfg" <<EOF
tickTime=200
minSessionTimeout=400
maxSessionTimeout=60000
dataDir=$DIR/data
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
    cat > "$DIR/conf/log4j.properties" <<EOF
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$DIR/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d %p %c: %m%n
EOF
    CP="$DIR/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
    for j in /usr/share/java/slf4j-api.jar /usr/share/java/netty.jar /usr/share/java/zookeeper-jute.jar; do
        [[ -f "$j" ]] && CP="$CP:$j"
    done
    nohup java -Xmx256m -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain \
        "$DIR/conf/zoo.cfg" > "$DIR/stdout.log" 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq $((READY_TIMEOUT_S * 10))); do
        if [[ "$(ruok "$PORT")" == imok ]]; then
            log "ZooKeeper ready on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
            print_env
            exit 0
        fi
        running || { tail -20 "$DIR/stdout.log" >&2; die "ZooKeeper exited"; }
        sleep 0.1
    done
    tail -20 "$DIR/stdout.log" >&2
    die "ZooKeeper not ready after ${READY_TIMEOUT_S}s"
    ;;
stop)
    if running; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        for _ in $(seq 50); do running || break; sleep 0.1; done
        running && kill -9 "$(cat "$PIDFILE")" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
