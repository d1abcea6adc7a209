# The recorder on the other address families: a Python service taking requests on a unix
# socket (php-fpm style) and on [::1], calling redis-server over its unix socket and an
# upstream over IPv6. koala-dump shows each session's peers as they were.
name=rec-unix-ipv6
. tests/cli/proc.inc
command -v redis-server >/dev/null || fail "redis-server not found (apt-get install redis-server)"
. tests/cli/preload.inc

redis-server --port 0 --unixsocket "$T/redis.sock" --save '' --appendonly no --dir "$T" \
    --logfile "$T/redis.log" &
pids="$pids $!"
# The upstream, not recorded: answers "up:" and what it got, on [::1].
/usr/bin/python3 -c '
import socket, threading
up = socket.socket(socket.AF_INET6); up.bind(("::1", 0)); up.listen()
print("listening on [::1]:%d" % up.getsockname()[1], flush=True)
def serve(c):
    while True:
        q = c.recv(100)
        if not q:
            break
        c.sendall(b"up:" + q)
while True:
    threading.Thread(target=serve, args=(up.accept()[0],), daemon=True).start()
' >"$T/up.out" &
pids="$pids $!"
upp=$(port_of "$T/up.out") || exit 2
wait_until [ -S "$T/redis.sock" ] || fail "redis-server did not start: $(cat "$T/redis.log")"

cat >"$T/svc.py" <<'PY'
import socket, sys, threading
tdir, up_port = sys.argv[1], int(sys.argv[2])

def handle(c):
    req = b""
    while not req.endswith(b"\r\n\r\n"):
        req += c.recv(1000)
    r = socket.socket(socket.AF_UNIX)
    r.connect(tdir + "/redis.sock")
    r.sendall(b"PING\r\n")
    pong = r.recv(100)
    r.close()
    u = socket.create_connection(("::1", up_port))
    u.sendall(req.split(b"\r\n")[0])
    echo = u.recv(100)
    u.close()
    body = pong + echo + b"\n"
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.close()

def serve(ls):
    while True:
        threading.Thread(target=handle, args=(ls.accept()[0],)).start()

ux = socket.socket(socket.AF_UNIX); ux.bind(tdir + "/svc.sock"); ux.listen()
v6 = socket.socket(socket.AF_INET6); v6.bind(("::1", 0)); v6.listen()
threading.Thread(target=serve, args=(ux,), daemon=True).start()
print("listening on [::1]:%d" % v6.getsockname()[1], flush=True)
serve(v6)
PY
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    /usr/bin/python3 "$T/svc.py" "$T" "$upp" >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
port=$(port_of "$T/svc.out") || exit 2
timeout 10 /usr/bin/python3 - "$T/svc.sock" "$port" <<'PY' || fail "client failed"
import socket, sys
sys.path.insert(0, "tests/cli")
from rec_lib import recv_all
for family, addr, path in ((socket.AF_UNIX, sys.argv[1], "/over-unix"),
                           (socket.AF_INET6, ("::1", int(sys.argv[2])), "/over-ipv6")):
    c = socket.socket(family)
    c.connect(addr)
    c.sendall(b"GET %s HTTP/1.1\r\n\r\n" % path.encode())
    print(recv_all(c).split(b"\r\n\r\n")[1].decode(), end="")
PY
kill -TERM $svc
wait $svc
echo "service: exit $? (SIGTERM is 143)"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
/usr/bin/python3 - "$T/json" "$T" <<'PY'
import sys
tdir = sys.argv[2]
def peer(p):
    if p.get("Name"):
        return p["Name"].replace(tdir, "$T")
    return "[%s]:%s" % (p["IP"], "PORT" if p["Port"] else 0) if ":" in p["IP"] else "%s:%s" % (p["IP"], p["Port"])
sys.path.insert(0, "tests/cli")
from rec_lib import sessions
sessions = sessions(sys.argv[1], by_time=True)
print("sessions:", len(sessions))
for s in sessions:
    cfi = s["CallFromInbound"]
    print(cfi["Request"].split("\r\n")[0], "from", peer(cfi.get("Peer") or {}) if not cfi.get("UnixAddr", {}).get("Name") else "unix " + peer(cfi["UnixAddr"]),
          "->", repr(s["ReturnInbound"]["Response"].split("\r\n\r\n")[1]))
    for a in s["Actions"]:
        if a["ActionType"] == "CallOutbound":
            print("    CallOutbound", peer(a.get("UnixAddr") if a.get("UnixAddr", {}).get("Name") else a["Peer"]),
                  repr(a["Request"]), "->", repr(a["Response"]))
PY
