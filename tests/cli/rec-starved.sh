# The recorder in a process that leaves koala's threads no CPU: sample-svc with one worker
# thread, Redis, the backend and the client on CPU 0, and koala's idle-class threads (the
# collector and the writer) moved to CPU 1 beside four busy loops, where they seldom run.
# `sample-client -n 3000` on one keep-alive connection queues events faster than the collector
# builds them: past 1 MiB queued, the service's thread builds them itself, a step at a time,
# and goes on queuing while the collector holds the builder for a step of its own. Nothing may
# be lost or mixed up: one session per request, each consistent with its own request.
# Needs redis-server and two CPUs.
name=rec-starved
. tests/cli/svc-env.inc
. tests/cli/preload.inc
py=/usr/bin/python3
[ "$(nproc)" -ge 2 ] || fail "needs two CPUs, has $(nproc)"

for p in $pids; do taskset -a -p -c 0 "$p" >/dev/null || fail "taskset could not move $p"; done
mkdir "$T/rec"
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off KOALA_LOG_LEVEL=DEBUG \
    taskset -c 0 sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 1 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
loops=""
for i in 1 2 3 4; do
    timeout 60 taskset -c 1 sh -c 'while :; do :; done' &
    loops="$loops $!"
done
pids="$pids $loops"
# /proc/PID/task/TID/stat's 41st field, the scheduling policy: 5 is SCHED_IDLE
idle=$(for t in /proc/"$svc"/task/*; do
    awk '{ sub(/^.*\) /, ""); if ($39 == 5) print FILENAME }' "$t/stat"; done | cut -d/ -f5)
echo "koala's idle-class threads: $(echo $idle | wc -w)"
for t in $idle; do taskset -p -c 1 "$t" >/dev/null || fail "taskset could not move thread $t"; done

echo "# 3000 keep-alive requests, the collector starved"
timeout 60 taskset -c 0 sample-client --to "127.0.0.1:$sp" -t 1 -n 3000 >"$T/client.out" 2>"$T/client.err"
echo "exit $?"
cat "$T/client.out"
# The service exits beside the busy loops: its worker thread's exit, which ends its session,
# and the exit, which has the rest written, move koala's threads out of the idle class
# (hk_hurry). That takes CAP_SYS_NICE; without it they would work at the idle class's pace, for
# seconds, so the loops stop first.
[ "$(id -u)" = 0 ] || kill $loops
start=$(date +%s%N)
kill -TERM "$svc"
exit_status "$svc"
echo "exited within 3 s of SIGTERM: $([ $(($(date +%s%N) - start)) -lt 3000000000 ] && echo yes || echo no)"
grep -v '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] ' "$T/svc.err"
sed -n 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO \([0-9]* sessions written, [0-9]* dropped\).*/\1/p' "$T/svc.err"
echo "the service's thread built queued events itself:" \
    "$(grep -q 'DEBUG the collector lags, [0-9]* bytes of events queued: thread [0-9]* builds some itself' \
        "$T/svc.err" && echo yes || echo no)"
grep -E '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] (WARN|ERROR) ' "$T/svc.err"

echo "# what the recording holds"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
$py tests/cli/sample_load.py "$T/json" "127.0.0.1:$sp" "$rp" "$bp" 1 3000
