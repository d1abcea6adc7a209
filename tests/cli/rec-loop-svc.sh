# The recorder on a one-thread event-loop service built with -O2 -D_FORTIFY_SOURCE=2
# (tests/progs/loop-svc.c): two connections served in turn by one thread, each its own virtual
# thread (to-koala!set-delegated-from-thread-id); requests read by __read_chk and __recv_chk, a
# static file sent by sendfile, log lines appended through stdio (and the log reopened by
# freopen), the trace header, read-storage and thread-shutdown helper messages answered through
# __recvfrom_chk. A backend call whose first answer times out (SO_RCVTIMEO) is two calls, the
# first without answer. Datagrams sent with send() on a connected UDP socket, and with sendto()
# on a socket whose fd number libc closed unseen, are SendUDP actions. The service keeps
# SIGTERM's default action: the recorder writes what it has before dying. Files appended to
# after the fortified opens __open_2 and __openat_2, by a path going up and down and by one
# relative to a directory fd, are AppendFile actions named by their absolute paths.
name=rec-loop-svc
. tests/cli/proc.inc
svc="$B/tests/progs/loop-svc"
[ -x "$svc" ] || fail "$svc not built"
. tests/cli/preload.inc

/usr/bin/python3 -c 'import sys; sys.stdout.write("".join("line %05d of the static file\n" % i for i in range(700)))' >"$T/static.txt"
# The backend, not recorded: leaves each connection's first "ping" unanswered.
/usr/bin/python3 -c '
import socket, threading
up = socket.socket(); up.bind(("127.0.0.1", 0)); up.listen()
print("listening on 127.0.0.1:%d" % up.getsockname()[1], flush=True)
def serve(c):
    pings = 0
    while True:
        q = c.recv(100)
        if not q:
            break
        pings += q.count(b"ping")
        if pings >= 2:
            c.sendall(b"pong\n")
while True:
    threading.Thread(target=serve, args=(up.accept()[0],), daemon=True).start()
' >"$T/backend.out" &
pids="$pids $!"
bp=$(port_of "$T/backend.out") || exit 2
start_statsd "$T" || fail "the statsd listener did not start"
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" \
    "$svc" --listen 127.0.0.1:0 --static "$T/static.txt" --log "$T/svc.log" \
    --backend "127.0.0.1:$bp" --statsd "127.0.0.1:$up" >"$T/svc.out" 2>"$T/svc.err" &
pid=$!
pids="$pids $pid"
port=$(port_of "$T/svc.out") || exit 2

# Connection a (virtual thread 1001) sends its first request in two pieces around b's.
timeout 20 /usr/bin/python3 - "$port" "$T/exchanges.json" <<'PY' || fail "client failed"
import json, re, socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
log = []

def response(s, until=None):
    data = b""
    while True:
        if until is not None and data.endswith(until):
            return data
        head, sep, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: (\d+)", head)
        if until is None and sep and m and len(rest) >= int(m.group(1)):
            return data
        more = s.recv(65536)
        if not more:
            raise SystemExit("connection closed early")
        data += more

def call(s, vt, req, until=None):
    s.sendall(req)
    log.append({"vt": vt, "request": req.decode(), "response": response(s, until).decode()})

a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
first = b"GET /static HTTP/1.1\r\nHost: a\r\n"
a.sendall(first)
time.sleep(0.2)
call(b, 1002, b"GET /trace HTTP/1.1\r\nX-Rid: r-42\r\n\r\n")
call(a, 1001, b"\r\n")
log[-1]["request"] = (first + b"\r\n").decode()
call(b, 1002, b"GET /storage HTTP/1.1\r\n\r\n")
call(a, 1001, b"GET /open HTTP/1.1\r\n\r\n", until=b"no length here\n")
call(b, 1002, b"GET /hello HTTP/1.1\r\n\r\n")
call(b, 1002, b"GET /rotate HTTP/1.1\r\n\r\n")
call(b, 1002, b"GET /audit HTTP/1.1\r\n\r\n")
call(a, 1001, b"GET /slow HTTP/1.1\r\n\r\n")
a.close()
b.close()
json.dump(log, open(out, "w"))
PY
sleep 0.2
kill -TERM $pid
wait $pid
echo "loop-svc: exit $? (SIGTERM is 143)"
grep -c 'INFO stopped by a signal: 8 sessions written, 0 dropped' "$T/svc.err"
ls "$T/rec" | sed 's/-[0-9]*-[0-9]*\.pb$/-PID-START.pb/'
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
/usr/bin/python3 - "$T/json" "$T/exchanges.json" "$(cd "$T" && pwd -P)" <<'PY'
import json, re, sys
sys.path.insert(0, "tests/cli")
from rec_lib import sessions, unescape

sessions = sessions(sys.argv[1], by_time=True)
exchanges = json.load(open(sys.argv[2]))
print("sessions:", len(sessions), "exchanges:", len(exchanges))
for s in sessions:
    req = unescape(s["CallFromInbound"]["Request"])
    resp = unescape(s["ReturnInbound"]["Response"])
    match = [e for e in exchanges if e["request"].encode() == req]
    e = match[0] if len(match) == 1 else None
    print("thread %d %s: request %s, response %s (%d bytes)" % (
        s["ThreadId"], req.split(b" ")[1].decode(), "same" if e else "UNKNOWN",
        "same" if e and e["response"].encode() == resp and e["vt"] == s["ThreadId"] else "DIFFERENT",
        len(resp)))
    th = s.get("TraceHeader") or {}
    if th:
        print("    trace header keys", sorted(th), "rid", th.get("rid"),
              "ti is TraceId" if th.get("ti") == s.get("TraceId") and len(s.get("TraceId") or "") == 20 else "ti WRONG")
    for a in s["Actions"]:
        kind = a["ActionType"]
        if kind == "AppendFile":
            name = a["FileName"]
            where = "in T" if name.rsplit("/", 1)[0] == sys.argv[3] else "ELSEWHERE"
            print("   ", kind, name.rsplit("/", 1)[-1], where, repr(a["Content"]))
        elif kind == "SendUDP":
            print("   ", kind, repr(a["Content"]))
        elif kind == "ReadStorage":
            print("   ", kind, repr(a["Content"]))
        elif kind == "CallOutbound":
            print("   ", kind, repr(unescape(a["Request"]).decode()), "->",
                  repr(unescape(a["Response"]).decode()))
        elif kind != "ReturnInbound":
            print("   ", kind)
PY
