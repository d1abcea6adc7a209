# The recorder under load: sample-svc (8 worker threads, Redis, backend, log file) under
# LD_PRELOAD answers `sample-client -t 8 -n 1000` (8 keep-alive connections, GET /user/N and
# POST /order mixed); SIGTERM. Nothing may be lost (one session per request, none dropped),
# no session may hold another's bytes (each response, Redis call, backend call and log line
# names the user, visit count and order number of its own request), and the service must hold
# no more fds after the load than before, besides its kept-alive Redis and backend connections
# and the recording file.
# Needs redis-server.
name=rec-stress
. tests/cli/svc-env.inc
. tests/cli/preload.inc
py=/usr/bin/python3

mkdir "$T/rec"
# The witch is off: its socket, epoll and eventfd would come with the first request.
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 8 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2

# Every fd of the service, one line each: what it links to, a socket as "tcp REMOTE-PORT"
# (0 when listening) or its kind; `redis`, `backend` and `recording` for those three kinds.
fds() {
    $py - "$svc" "$rp" "$bp" "$T/rec" <<'PY'
import os, sys
pid, rp, bp, rec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
remote = {}
for table in ("tcp", "tcp6", "udp", "udp6", "unix"):
    try:
        lines = open("/proc/%s/net/%s" % (pid, table)).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        if table == "unix":
            remote[f[6]] = "unix"
        else:
            remote[f[9]] = "%s %d" % (table, int(f[2].split(":")[1], 16))
for fd in sorted(os.listdir("/proc/%s/fd" % pid), key=int):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        link = remote.get(link[8:-1], "socket")
        link = {"tcp %d" % rp: "redis", "tcp %d" % bp: "backend"}.get(link, link)
    elif link.startswith(rec + "/"):
        link = "recording"
    print(link)
PY
}
fds >"$T/fds.before"

echo "# 8 threads x 1000 keep-alive requests under the recorder"
timeout 45 sample-client --to "127.0.0.1:$sp" -t 8 -n 1000 >"$T/client.out" 2>"$T/client.err"
echo "exit $?"
cat "$T/client.out"
# The workers close their inbound connections once they see the client's end.
# (When they have not within 10 s, the comparison below says how many are left.)
fds_as_before() {
    fds >"$T/fds.after" && [ "$(grep -cvE '^(redis|backend|recording)$' "$T/fds.after")" -le "$(wc -l <"$T/fds.before")" ]
}
wait_until fds_as_before
$py - "$T/fds.before" "$T/fds.after" <<'PY'
import collections, sys
before = open(sys.argv[1]).read().split("\n")[:-1]
after = open(sys.argv[2]).read().split("\n")[:-1]
kept = collections.Counter(l for l in after if l in ("redis", "backend", "recording"))
rest = [l for l in after if l not in kept]
# The count inherited from the caller varies (a terminal, CI), so only the difference is printed.
print("fds after the load: %s, plus %d Redis and %d backend connections and %d recording file" % (
    "as many as before" if len(rest) == len(before) else "%d others where there were %d" % (len(rest), len(before)),
    kept["redis"], kept["backend"], kept["recording"]))
print("the others as before:", "yes" if sorted(rest) == sorted(before) else "NO: %s -> %s" % (before, rest))
PY
kill -TERM "$svc"
exit_status "$svc"
grep -v '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO ' "$T/svc.err"
sed -n 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO \([0-9]* sessions written, [0-9]* dropped\).*/\1/p' "$T/svc.err"

echo "# what the recording holds"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
$py tests/cli/sample_load.py "$T/json" "127.0.0.1:$sp" "$rp" "$bp" 8 1000
