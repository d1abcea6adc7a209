# The recorder in a process that leaves koala's threads no CPU: sample-svc with one worker
# thread, Redis, the backend and the client on CPU 0, and koala's idle-class threads (the
# collector and the writer) moved to CPU 1 beside four busy loops at nice -20, where they do
# not run (an idle-class thread weighs 3, each loop 88761).
# `sample-client -n 2000` on one keep-alive connection queues events faster than the collector
# builds them: past 1 MiB queued, the service's thread builds them itself, a step at a time,
# and goes on queuing while the collector holds the builder for a step of its own (2000
# requests are about 5.6 MB of events: below the 8 MiB at which it would wait for it). Then,
# the loops back at nice 0, a request now and then: koala's work waiting 2 s moves its threads
# out of the idle class, and the sessions reach the file while the service runs on; and the
# service's exit is prompt. Nothing may be lost or mixed up: one session per request, each
# consistent with its own request.
# Needs redis-server, curl, two CPUs and root (for nice -20 and CAP_SYS_NICE, as the suite
# runs).
name=rec-starved
. tests/cli/svc-env.inc
. tests/cli/preload.inc
py=/usr/bin/python3
[ "$(nproc)" -ge 2 ] || fail "needs two CPUs, has $(nproc)"
[ "$(id -u)" = 0 ] || fail "needs root"

for p in $pids; do taskset -a -p -c 0 "$p" >/dev/null || fail "taskset could not move $p"; done
mkdir "$T/rec"
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off KOALA_LOG_LEVEL=DEBUG \
    taskset -c 0 sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 1 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
# koala's threads start with the service's first request
taskset -c 0 curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$sp/late" || fail "the first request failed"
# Its session in the file, koala's threads are asleep: one moved beside the busy loops in the
# middle of a step would keep the lock it holds, the collector the service thread's builder.
first_written() { [ "$(koala-dump --count "$T"/rec/*.pb 2>/dev/null)" = 1 ]; }
wait_until first_written || fail "the first request's session was not written"
loops=""
# nice and taskset exec the loop: $! is the loop itself, which ends by itself after 60 s
for i in 1 2 3 4; do
    nice -n -20 taskset -c 1 bash -c 'while [ $SECONDS -lt 60 ]; do :; done' &
    loops="$loops $!"
done
pids="$pids $loops"
# /proc/PID/task/TID/stat's 41st field, the scheduling policy: 5 is SCHED_IDLE
idle_threads() {
    idle=$(for t in /proc/"$svc"/task/*; do
        awk '{ sub(/^.*\) /, ""); if ($39 == 5) print FILENAME }' "$t/stat"; done | cut -d/ -f5)
    [ "$(echo $idle | wc -w)" = 2 ]
}
wait_until idle_threads
echo "koala's idle-class threads: $(echo $idle | wc -w)"
for t in $idle; do taskset -p -c 1 "$t" >/dev/null || fail "taskset could not move thread $t"; done

echo "# 2000 keep-alive requests, the collector starved"
timeout 60 taskset -c 0 sample-client --to "127.0.0.1:$sp" -t 1 -n 2000 >"$T/client.out" 2>"$T/client.err"
echo "exit $?"
cat "$T/client.out"

# The load's sessions wait for the writer, which has not run. The busy loops go back to nice 0,
# where the idle class would still leave koala's threads 3/4099 of CPU 1 (seconds for these
# sessions), and a request comes every 0.3 s: a service thread's event that finds koala's work
# 2 s late moves koala's threads out of the idle class (HK_LATE_NS) until they have caught up
# (the writer with what the collector builds meanwhile), and the file holds the load's sessions
# (after the first request's) while the service runs on.
renice -n 0 -p $loops >/dev/null || fail "renice failed"
tries=0 got=0
while [ $tries -lt 15 ] && [ "$got" -lt 2001 ]; do
    taskset -c 0 curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$sp/late"
    sleep 0.3
    got=$(koala-dump --count "$T"/rec/*.pb 2>/dev/null) || true
    got=${got:-0} tries=$((tries + 1))
done
echo "the load's sessions written while the service runs on:" \
    "$([ "$got" -ge 2001 ] && echo yes || echo "no, $got")"
# The service exits beside the busy loops: its worker thread's exit, which ends its session,
# and the exit, which has the rest written, move koala's threads out of the idle class
# (hk_hurry, which takes CAP_SYS_NICE), where they would weigh 3 against 4096.
start=$(date +%s%N)
kill -TERM "$svc"
exit_status "$svc"
echo "exited within 3 s of SIGTERM: $([ $(($(date +%s%N) - start)) -lt 3000000000 ] && echo yes || echo no)"
# the load's requests, the first and the $tries others, each a session
all=$((2001 + tries))
grep -v -e '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] ' -e "^sample-svc: stopped, $all requests served\$" \
    "$T/svc.err"
echo "sessions written, one per request served, none dropped:" \
    "$(grep -q "koala\[[0-9]*\] INFO $all sessions written, 0 dropped" "$T/svc.err" && echo yes || echo no)"
echo "the service's thread built queued events itself:" \
    "$(grep -q 'DEBUG the collector lags, [0-9]* bytes of events queued: thread [0-9]* builds some itself' \
        "$T/svc.err" && echo yes || echo no)"
grep -E '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] (WARN|ERROR) ' "$T/svc.err"

echo "# what the recording holds"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
$py tests/cli/sample_load.py "$T/json" "127.0.0.1:$sp" "$rp" "$bp" 1 2000 "GET /late "
