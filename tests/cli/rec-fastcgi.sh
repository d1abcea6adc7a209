# The recorder in a FastCGI responder on a unix socket (php-fpm's place), behind Debian's nginx
# with fastcgi_keep_conn: the connection stays open across requests, so each session must end
# at its END_REQUEST record (KOALA_INBOUND_PROTOCOL=fastcgi), not at a close or an idle
# timeout. The sessions are read while everything still runs: every request is already
# there, with the FastCGI records nginx sent and the responder's answer byte for byte, and the
# Redis call the responder made for it. Needs nginx-light, curl, redis-server.
name=rec-fastcgi
. tests/cli/svc-env.inc
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx not found (apt-get install nginx-light)"
. tests/cli/preload.inc
py=/usr/bin/python3

# A FastCGI responder: per request one Redis INCR, then "hits N" for the script name.
cat >"$T/fcgi.py" <<'PY'
import socket, struct, sys, threading
sys.path.insert(0, "tests/cli")
from rec_lib import fcgi_params
path, redis_port = sys.argv[1], int(sys.argv[2])

def records(c):
    buf = b""
    while True:
        while len(buf) < 8 or len(buf) < 8 + struct.unpack(">H", buf[4:6])[0] + buf[6]:
            more = c.recv(65536)
            if not more:
                return
            buf += more
        _, kind, rid, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
        yield kind, rid, buf[8:8 + clen]
        buf = buf[8 + clen + plen:]

def record(kind, rid, data):
    return struct.pack(">BBHHBB", 1, kind, rid, len(data), 0, 0) + data

def serve(c):
    redis = socket.create_connection(("127.0.0.1", redis_port))
    p = b""
    for kind, rid, data in records(c):
        if kind == 4:
            p += data
        elif kind == 5 and not data:
            script = fcgi_params(p).get("SCRIPT_NAME", "?")
            p = b""
            redis.sendall(b"INCR hits:%s\r\n" % script.encode())
            hits = redis.recv(100).strip(b":\r\n")
            body = b"hits " + hits + b"\n"
            out = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
            c.sendall(record(6, rid, out) + record(6, rid, b"") + record(3, rid, bytes(8)))

ls = socket.socket(socket.AF_UNIX)
ls.bind(path)
ls.listen()
print("listening on unix:0", flush=True)
while True:
    threading.Thread(target=serve, args=(ls.accept()[0],), daemon=True).start()
PY
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    KOALA_INBOUND_PROTOCOL=fastcgi KOALA_GC_GLOBAL_STATUS_TIMEOUT=1m \
    $py "$T/fcgi.py" "$T/fcgi.sock" "$rp" >"$T/fcgi.out" 2>"$T/fcgi.err" &
fcgi=$!
pids="$pids $fcgi"
port_of "$T/fcgi.out" >/dev/null

np=$(free_ports)
start_nginx "$T/ngx" "
    upstream responder {
        server unix:$T/fcgi.sock;
        keepalive 2;
    }
    server {
        listen 127.0.0.1:$np;
        location / {
            fastcgi_pass responder;
            fastcgi_keep_conn on;
            fastcgi_param SCRIPT_NAME \$uri;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param QUERY_STRING \$query_string;
        }
    }"

for page in /a.php /b.php /a.php /c.php /a.php; do
    timeout 10 curl -s "http://127.0.0.1:$np$page" || fail "curl $page failed"
done
# Written while the connection is still open: a session lingers 1 s for work after its
# answer, then the sink flushes within a second. Waited for, 10 s at most.
five_written() {
    [ "$(koala-dump "$T"/rec/*.pb 2>/dev/null | wc -l)" -ge 5 ]
}
wait_until five_written || fail "5 sessions were not written: $(koala-dump "$T"/rec/*.pb 2>&1)"
echo "# read while the responder still runs"
koala-dump --json "$T"/rec/*.pb >"$T/json" 2>"$T/dump.err"
$py - "$T/json" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import FCGI_NAMES, fcgi_records, sessions, unescape

ss = sessions(sys.argv[1], by_time=True)
print("sessions:", len(ss), "on", len({s["ThreadId"] for s in ss}), "connection thread(s)")
for s in ss:
    req, rest_q = fcgi_records(unescape(s["CallFromInbound"]["Request"]))
    resp, rest_a = fcgi_records(unescape(s["ReturnInbound"]["Response"]))
    script = [d for k, d in req if k == 4 and d]
    name = script[0].split(b"SCRIPT_NAME", 1)[1][1:7].decode() if script else "?"
    body = b"".join(d for k, d in resp if k == 6).split(b"\r\n\r\n", 1)[1]
    calls = [(unescape(a["Request"]), unescape(a["Response"])) for a in s["Actions"]
             if a["ActionType"] == "CallOutbound"]
    print(name, "request", "+".join(FCGI_NAMES[k] for k, _ in req), "(%d loose bytes)" % len(rest_q),
          "| response", "+".join(FCGI_NAMES[k] for k, _ in resp), "(%d loose bytes)" % len(rest_a),
          repr(body), "| redis", calls)
PY
