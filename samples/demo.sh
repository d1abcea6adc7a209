#!/bin/sh
# demo.sh - `make demo`: record the sample service under a client's load with its real Redis
# and HTTP backend, ask its witch what it holds, and dump what was recorded; stop them and replay the recording against a
# changed build of the service, then against the same build, and show what koala-diff finds;
# then generate sample sessions and dump, filter, merge and show stats, printing each command
# before its output. Runs from the repository root with $B the build dir.
set -e
B=${B:-build}
case $B in
    /*) PATH="$B/bin:$PATH" ;;
    *) PATH="$(pwd)/$B/bin:$PATH" ;;
esac
out=$(mktemp -d)

# Print a command (quoting arguments with spaces) in bold, then run it.
step() {
    line='$'
    for a in "$@"; do
        case $a in *" "*) line="$line '$a'" ;; *) line="$line $a" ;; esac
    done
    printf '\n\033[1m%s\033[0m\n' "$line" | sed "s|$out|/tmp/demo|g"
    "$@" 2>&1 | sed "s|$out|/tmp/demo|g"
}

# ------------------------------------------------------------------ recording
# The sample service with its real dependencies on free loopback ports: redis-server, the
# HTTP backend, a statsd listener; then the service under the recorder and a client's load.
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done # some have ended: set -e must not stop here
    rm -rf "$out"
}
trap cleanup EXIT
# A signal (also SIGPIPE, when the output goes to `head`) exits through the EXIT trap, so the
# servers never outlive the demo.
trap 'exit 1' HUP INT TERM PIPE
. samples/svc/env.sh
start_redis "$out" && start_backend "$out" && start_statsd "$out" || exit 1
case $B in
    /*) so="$B/lib/libkoala-recorder.so" ;;
    *) so="$(pwd)/$B/lib/libkoala-recorder.so" ;;
esac

echo "koala demo, part 1: record the sample service (samples/svc) under a client's load"
printf '\n\033[1m$ LD_PRELOAD=%s KOALA_RECORD_TO_DIR=/tmp/demo/rec sample-svc --listen 127.0.0.1:0 --backend ... --redis ... &\033[0m\n' "$B/lib/libkoala-recorder.so"
wp=$(free_ports) # the witch's: 8318, its default, may serve another recorded process
LD_PRELOAD="$so" KOALA_RECORD_TO_DIR="$out/rec" KOALA_WITCH_ADDR=":$wp" sample-svc --listen 127.0.0.1:0 \
    --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" --statsd "127.0.0.1:$up" \
    --log "$out/svc.log" --threads 4 >"$out/svc.out" 2>"$out/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(svc_port_of "$out/svc.out") || exit 1
step sample-client --to "127.0.0.1:$sp" --threads 4 --requests 50
echo
echo "While it runs, the witch inside the service shows koala's log, state and latest sessions"
echo "(a browser: http://127.0.0.1:8318/witch/, here on port $wp):"
kept_all() {
    curl -s "http://127.0.0.1:$wp/witch/sessions" | grep -q '"kept":100,'
}
wait_until kept_all || true # 10 s at most; then shown as they are
printf '\n\033[1m$ curl -s 127.0.0.1:8318/witch/state | jq -c .counters\033[0m\n'
curl -s "http://127.0.0.1:$wp/witch/state" | jq -c .counters
printf '\n\033[1m$ curl -s 127.0.0.1:8318/witch/sessions | jq -r ".sessions[0].summary"\033[0m\n'
curl -s "http://127.0.0.1:$wp/witch/sessions" | jq -r ".sessions[0].summary"
printf '\n\033[1m$ kill -TERM %%1    # koala writes what it holds; its log line:\033[0m\n'
kill -TERM "$svc"
wait "$svc" 2>/dev/null
sed -n 's|.*INFO \([0-9]* sessions written.*\)|\1|p' "$out/svc.err" | sed "s|$out|/tmp/demo|g"
step ls "$out/rec"
step koala-dump -c 4 "$out"/rec/*.pb
step koala-dump --stats "$out"/rec/*.pb
id=$(koala-dump -Y 'inbound.request ~ "POST /order"' -c 1 "$out"/rec/*.pb | cut -d' ' -f2)
printf '\n\033[1m$ koala-dump -v --session %s /tmp/demo/rec/*.pb\033[0m\n' "$id"
koala-dump -v --session "$id" "$out"/rec/*.pb | sed "s|$out|/tmp/demo|g"

# ------------------------------------------------------------------ replaying
echo
echo "koala demo, part 2: Redis, the backend and statsd stop; the recording answers instead"
for p in $pids; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=""
rp_so=${so%/libkoala-recorder.so}/libkoala-replayer.so
# Starts sample-svc under the replayer, its options after; its inbound server's port in ip.
replayer() {
    read -r sut ip op <<EOF
$(free_ports 3)
EOF
    LD_PRELOAD="$rp_so" KOALA_SUT_ADDR="127.0.0.1:$sut" KOALA_INBOUND_ADDR=":$ip" \
        KOALA_OUTBOUND_ADDR=":$op" sample-svc --listen "127.0.0.1:$sut" \
        --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" --statsd "127.0.0.1:$up" \
        --log "$out/svc.log" --threads 4 "$@" >"$out/rp.out" 2>"$out/rp.err" &
    svc=$!
    pids="$pids $svc"
    wait_until grep -q 'sessions POSTed to' "$out/rp.err" || { cat "$out/rp.err"; exit 1; }
}
echo "A changed build: --variant changed keys visits as visits:user:{ID} and greets 'welcome back'."
printf '\n\033[1m$ LD_PRELOAD=%s KOALA_SUT_ADDR=127.0.0.1:PORT sample-svc --variant changed ... &\033[0m\n' \
    "$B/lib/libkoala-replayer.so"
replayer --variant changed
step koala-replay --to ":$ip" -j 4 -o "$out/changed.pb" "$out"/rec/*.pb
kill -TERM "$svc"
wait "$svc" 2>/dev/null || true
step koala-diff --summary "$out"/rec/*.pb "$out/changed.pb"
id=$(koala-dump -Y 'inbound.request ~ "GET /user/"' -c 1 "$out"/rec/*.pb | cut -d' ' -f2)
printf '\n\033[1m$ koala-diff /tmp/demo/rec/*.pb /tmp/demo/changed.pb | grep -A 12 %s\033[0m\n' "$id"
koala-diff "$out"/rec/*.pb "$out/changed.pb" | grep -A 12 "^session $id" | sed "s|$out|/tmp/demo|g" || true
echo
echo "The same build as recorded: nothing differs, koala-diff exits 0."
printf '\n\033[1m$ LD_PRELOAD=%s KOALA_SUT_ADDR=127.0.0.1:PORT sample-svc ... &\033[0m\n' "$B/lib/libkoala-replayer.so"
replayer
step koala-replay --to ":$ip" -j 4 -o "$out/same.pb" "$out"/rec/*.pb
kill -TERM "$svc"
wait "$svc" 2>/dev/null || true
step koala-diff --summary "$out"/rec/*.pb "$out/same.pb"
echo "exit status $(koala-diff --summary "$out"/rec/*.pb "$out/same.pb" >/dev/null; echo $?)"

echo
echo "koala demo, part 3: sample sessions of an HTTP JSON API that calls Redis, MySQL and HTTP backends"
step koala-samplegen "$out"
step ls -l "$out"
step koala-dump -c 5 "$out/mixed.pb"
step koala-dump --count "$out/mixed.pb"
step koala-dump -Y 'outbound.port == 6379 and inbound.request ~ "GET /api/orders"' -c 3 "$out/mixed.pb"
step koala-dump -Y 'session.truncated or storage or function' "$out/mixed.pb"
id=$(koala-dump -Y 'outbound.port == 3306' -c 1 "$out/mixed.pb" | cut -d' ' -f2)
printf '\n\033[1m$ koala-dump -v --session %s /tmp/demo/mixed.pb | head -n 40\033[0m\n' "$id"
koala-dump -v --session "$id" "$out/mixed.pb" | head -n 40
printf '\n\033[1m$ koala-dump --json -c 1 /tmp/demo/redis.pb | head -c 600\033[0m\n'
koala-dump --json -c 1 "$out/redis.pb" | head -c 600
echo
step koala-merge -v -o "$out/all.pb" "$out/http-json.pb" "$out/redis.pb" "$out/mysql.pb"
step koala-dump -c 3 "$out/all.pb"
step koala-dump --stats "$out/all.pb"
step koala-dump -Y 'outbound.port == 6379' -w "$out/redis-only.pb" "$out/mixed.pb"
step koala-dump --count "$out/redis-only.pb"
printf '\n\033[1m$ zstd -dc /tmp/demo/mixed.pb | koala-dump --count -\033[0m\n'
zstd -q -dc "$out/mixed.pb" | koala-dump --count -
printf '\n\033[1m$ koala-dump samples/bad/truncated-mid-frame.pb | tail -n 2\033[0m\n'
koala-dump samples/bad/truncated-mid-frame.pb 2>&1 | tail -n 2 || true
echo
echo "demo done: see README.md for every option"
