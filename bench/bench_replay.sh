#!/bin/sh
# bench_replay.sh - the replayer's speed on the sample service. The sample service is recorded
# with its real Redis and backend.py: the load mix of sample-client (GET /user, POST /order,
# GET /health: 0 to 3 outbound calls) and GET /visits/1-10 (10 Redis calls). Redis and the
# backend stop; sample-svc runs under LD_PRELOAD=libkoala-replayer.so with nothing behind it,
# and koala-replay sends it the recorded sessions. Baselines, measured in the same run: the
# same requests served live, with the real Redis and backend.
# - replay-rate: sessions/s with koala-replay -j 4 over the mix, against the live rate with 4
#   keep-alive clients (sample-client -t 4). Target: 500 sessions/s or more.
# - replay-10calls: the time per session of GET /visits/1-10 replayed one at a time, against
#   the same request served live one at a time. Target: under 5 ms (the original koala waits
#   20 ms, plus 3 ms per outbound call, by design).
# Each figure takes the best of ROUNDS runs. Prints the figure lines; exits 1 when the service
# cannot be run. bench/run.sh runs it with B set (default build). Needs redis-server and
# python3 and curl: make deps.
set -u
B=${B:-build}
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
here=$(cd "$(dirname "$0")" && pwd)
PATH=$B/bin:$PATH
ROUNDS=3
MIX=2000      # sessions of the load mix (4 clients x 500)
TEN=200       # sessions of GET /visits/1-10
scratch=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
T=$(mktemp -d "$scratch/koala-bench-replay.XXXXXX") || exit 1
pids=""
stop_all() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    pids=""
}
trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 2' INT TERM
die() {
    echo "bench_replay: $*" >&2
    exit 1
}
for f in "$B/lib/libkoala-recorder.so" "$B/lib/libkoala-replayer.so" "$B/bin/koala-replay" "$B/bin/sample-svc"; do
    [ -e "$f" ] || die "$f not built (make)"
done
svc_dir=$here/../samples/svc
. "$svc_dir/env.sh"

now_ns() { date +%s%N; }
# The best (lowest) of the numbers on stdin.
lowest() { sort -n | head -n 1; }

# sample-svc on port $2 under LD_PRELOAD=$1 (may be empty), with more environment after;
# waits until it listens.
start_svc() {
    lib=$1 port=$2
    shift 2
    env ${lib:+LD_PRELOAD="$lib"} "$@" sample-svc --listen "127.0.0.1:$port" --backend "127.0.0.1:$bp" \
        --redis "127.0.0.1:$rp" --log "$T/svc.log" --statsd 127.0.0.1:9 --threads 4 >"$T/svc.out" 2>"$T/svc.err" &
    svc=$!
    pids="$pids $svc"
    svc_port_of "$T/svc.out" >/dev/null || die "sample-svc did not start: $(cat "$T/svc.err")"
}

# GET /visits/1-10, $1 times, one at a time on one keep-alive connection, to port $2: ns taken.
visits() {
    set -- "$1" "$2" "$(i=0; while [ $i -lt "$1" ]; do printf 'GET /visits/1-10 '; i=$((i + 1)); done)"
    t0=$(now_ns)
    # shellcheck disable=SC2086
    sample-client --to "127.0.0.1:$2" --raw $3 >/dev/null || die "GET /visits/1-10 failed"
    echo $(($(now_ns) - t0))
}

# --- live, with the real Redis and backend, recorded meanwhile on a second service
start_redis "$T" || die "redis-server did not start"
start_backend "$T" || die "backend.py did not start"
live=$(free_ports)
start_svc "" "$live"
r=0
while [ $r -lt $ROUNDS ]; do
    sample-client --to "127.0.0.1:$live" --threads 4 --requests $((MIX / 4)) 2>&1 >/dev/null |
        sed -n 's/.* \([0-9.]*\) requests\/s.*/\1/p' >>"$T/live.rate"
    visits $TEN "$live" >>"$T/live.ten"
    r=$((r + 1))
done
rec=$(free_ports)
mkdir "$T/mix" "$T/ten"
start_svc "$B/lib/libkoala-recorder.so" "$rec" KOALA_RECORD_TO_DIR="$T/mix"
sample-client --to "127.0.0.1:$rec" --threads 4 --requests $((MIX / 4)) >/dev/null 2>&1 || die "recording the mix failed"
kill -TERM "$svc"
wait "$svc"
start_svc "$B/lib/libkoala-recorder.so" "$rec" KOALA_RECORD_TO_DIR="$T/ten"
visits $TEN "$rec" >/dev/null
kill -TERM "$svc"
wait "$svc"
stop_all

# --- replayed, with nothing behind the service
read -r sp ip op <<EOF
$(free_ports 3)
EOF
start_svc "$B/lib/libkoala-replayer.so" "$sp" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" \
    KOALA_OUTBOUND_ADDR=":$op" KOALA_LOG_LEVEL=WARN
inbound_up() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ip/")" = 405 ]
}
wait_until inbound_up || die "the replayer's inbound server did not start: $(cat "$T/svc.err")"
# koala-replay's summary: "... in S s (R sessions/s)"; a failed session spoils the figure.
replay() {
    koala-replay --to "127.0.0.1:$ip" "$@" 2>"$T/replay.err" || die "koala-replay: $(cat "$T/replay.err")"
    grep -q ' 0 failed' "$T/replay.err" || die "koala-replay: $(cat "$T/replay.err")"
}
r=0
while [ $r -lt $ROUNDS ]; do
    replay -j 4 "$T"/mix/*.pb
    sed -n 's/.*(\([0-9.]*\) sessions\/s).*/\1/p' "$T/replay.err" >>"$T/replay.rate"
    t0=$(now_ns)
    replay -j 1 "$T"/ten/*.pb
    echo $(($(now_ns) - t0)) >>"$T/replay.ten"
    r=$((r + 1))
done
calls=$(grep -o 'outbound calls: [0-9]* matched, [0-9]* unmatched' "$T/replay.err")

rate=$(sort -n "$T/replay.rate" | tail -n 1)
live_rate=$(sort -n "$T/live.rate" | tail -n 1)
awk -v r="$rate" -v l="$live_rate" -v n=$MIX -v k=$ROUNDS 'BEGIN {
    printf "replay-rate: %.0f sessions/s replayed (koala-replay -j 4) vs %.0f req/s live (sample-client -t 4, real Redis and backend) = %.2f (%d sessions of the load mix, best of %d runs) (target >= 500 sessions/s) %s\n",
        r, l, r / l, n, k, (r >= 500 ? "PASS" : "FAIL") }'
awk -v r="$(lowest <"$T/replay.ten")" -v l="$(lowest <"$T/live.ten")" -v n=$TEN -v k=$ROUNDS -v c="$calls" 'BEGIN {
    r /= n * 1e6; l /= n * 1e6
    printf "replay-10calls: %.2f ms per session replayed vs %.2f ms live = %.2f (GET /visits/1-10, 10 Redis calls, one session at a time, best of %d runs of %d; last run: %s) (target < 5 ms) %s\n",
        r, l, r / l, k, n, c, (r < 5 ? "PASS" : "FAIL") }'
