# The recorder in Debian's nginx (nginx-light): a master and two forked workers (epoll) under
# LD_PRELOAD, a reverse proxy in front of sample-svc plus a static file sent with sendfile.
# curl sends proxied GETs and a POST (two of them on one keep-alive connection) and fetches the
# file; a Python client fetches it twice more on one connection, then again once changed in
# place; SIGQUIT. Each worker that recorded writes its own file; koala-merge gives one session
# per request; each session holds the exact bytes the client sent and got (from curl --trace,
# or as the Python client kept them), the proxied ones one call to sample-svc carrying the
# request as nginx forwards it, the static ones the whole file: read back from the file, or
# kept in memory once read (hk_file.c), and read back again once it changed. Each holds its
# own access log line, which nginx writes after answering.
# Needs nginx-light, curl, redis-server.
name=rec-nginx
. tests/cli/svc-env.inc
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx not found (apt-get install nginx-light)"
[ -x /usr/bin/curl ] || fail "/usr/bin/curl not found (apt-get install curl)"
. tests/cli/preload.inc
py=/usr/bin/python3

sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" --threads 2 \
    >"$T/svc.out" 2>"$T/svc.err" &
pids="$pids $!"
sp=$(port_of "$T/svc.out") || exit 2

# Everything nginx writes stays in $T/ngx; the static file holds every byte value.
n="$T/ngx"
mkdir -p "$n/static" "$T/rec"
$py -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(20000)))' \
    >"$n/static/blob.bin"

# True once nginx wrote its pid file (it has bound its listening socket) or has ended.
nginx_bound() {
    [ -s "$n/nginx.pid" ] || ! kill -0 "$ngx" 2>/dev/null
}

# Starts nginx on a free port (another process may take the port between the pick and the
# bind: then again, five times at most). Sets $np and $ngx (the master's pid).
start_nginx() {
    tries=0
    while :; do
        tries=$((tries + 1))
        np=$(free_ports)
        cat >"$n/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user root;
pid $n/nginx.pid;
error_log $n/error.log notice;
events {
    use epoll;
    worker_connections 64;
}
http {
    access_log $n/access.log;
    client_body_temp_path $n/body;
    proxy_temp_path $n/proxy;
    fastcgi_temp_path $n/fastcgi;
    uwsgi_temp_path $n/uwsgi;
    scgi_temp_path $n/scgi;
    sendfile on;
    default_type application/octet-stream;
    server {
        # reuseport: each worker its own socket, so that both are likely to serve.
        listen 127.0.0.1:$np reuseport;
        location /static/ {
            root $n;
        }
        location / {
            proxy_pass http://127.0.0.1:$sp;
            proxy_set_header Host svc;
        }
    }
}
EOF
        rm -f "$n/nginx.pid" "$n/error.log"
        LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" KOALA_LOG_LEVEL=DEBUG \
            /usr/sbin/nginx -p "$n" -c "$n/nginx.conf" -e "$n/error.log" >"$T/nginx.out" 2>&1 &
        ngx=$!
        pids="$pids $ngx"
        wait_until nginx_bound || fail "nginx wrote no pid file in 10 s: $(cat "$n/error.log")"
        [ -s "$n/nginx.pid" ] && kill -0 "$ngx" 2>/dev/null && return 0
        wait "$ngx"
        grep -q 'Address already in use' "$n/error.log" && [ $tries -lt 5 ] && continue
        fail "nginx did not start: $(cat "$n/error.log" "$T/nginx.out")"
    done
}
start_nginx

url="http://127.0.0.1:$np"
c="curl -s --max-time 10 -w %{http_code}\n"
echo "# curl through nginx"
$c --trace "$T/c1.trace" -o "$T/c1.body" "$url/user/7"
$c --trace "$T/c2.trace" -o "$T/c2.body" -H 'Content-Type: application/json' \
    --data-binary '{"user":7,"item":"lamp","qty":2}' "$url/order"
$c --trace "$T/c3.trace" -o "$T/c3a.body" "$url/user/3" --next --max-time 10 -w '%{http_code}\n' \
    -o "$T/c3b.body" "$url/user/2000"
$c --trace "$T/c4.trace" -o "$T/c4.body" "$url/static/blob.bin"
cmp -s "$T/c4.body" "$n/static/blob.bin" && echo "curl got the whole static file"
# The recorder keeps a file in memory once unchanged for 2 s.
wait_until settled "$n/static/blob.bin" || fail "blob.bin: its ctime is in the future"
# Three GETs of the file on one connection, so one worker serves them all; the file changes
# before the third. The bytes sent and received are kept, as curl's trace keeps them.
$py - "$np" "$n/static/blob.bin" "$T" <<'PY'
import re, socket, sys

port, path, T = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def answer(s):
    """One response with a Content-Length, whole."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
        if sep and m and len(body) >= int(m.group(1)):
            return data
        more = s.recv(65536)
        if not more:
            sys.exit("nginx closed the connection")
        data += more

s = socket.create_connection(("127.0.0.1", port), timeout=10)
sent = got = b""
for i in (1, 2, 3):
    if i == 3:  # new bytes, same size: the timestamps move, and nginx's fstat shows it
        open(path, "r+b").write(bytes(range(256)) * 78)
    req = b"GET /static/blob.bin?%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (i, port)
    s.sendall(req)
    a = answer(s)
    sent, got = sent + req, got + a
    print("GET blob.bin?%d on one connection: %s, %s" % (i, a.split(b" ")[1].decode(),
          "the file as it is" if a.partition(b"\r\n\r\n")[2] == open(path, "rb").read() else "NOT the file"))
open(T + "/c5.sent", "wb").write(sent)
open(T + "/c5.got", "wb").write(got)
PY
kill -QUIT "$ngx"
exit_status "$ngx"
echo "nginx errors: $(grep -cE '\[(error|crit|alert|emerg)\]|exited on signal' "$n/error.log")"
# Kept by the worker that served ?1 (at ?1, or at curl's GET if that worker served it once the
# file was 2 s old), and never kept again by the same worker: not at ?2, which finds it kept,
# nor at ?3, where the file had just changed and is read back.
sed -n 's/.* koala\[\([0-9]*\)\] DEBUG sendfile .* is kept in memory.*/\1/p' "$n/error.log" | sort | uniq -c |
    awk '$1 != 1 { twice = 1 } END { print "the static file kept in memory:",
        twice ? "TWICE by one worker" : NR ? "yes, once per worker that kept it" : "NO" }'

echo "# the recording"
for f in "$T"/rec/*.pb; do
    koala-dump --json --extra "$f" >"$f.json" || fail "koala-dump $f failed"
done
koala-merge -o "$T/all.pb" "$T"/rec/*.pb || fail "koala-merge failed"
echo "merged sessions: $(koala-dump --count "$T/all.pb")"
koala-dump --json --extra "$T/all.pb" >"$T/all.json" || fail "koala-dump failed"
$py - "$T" "$sp" "$ngx" <<'PY'
import glob, os, re, sys
sys.path.insert(0, "tests/cli")
from rec_lib import curl_trace, head_body, http_messages, sessions, unescape

T, sp, master = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log = open(T + "/ngx/error.log", encoding="latin-1").read()
workers = {int(p) for p in re.findall(r"start worker process ([0-9]+)", log)}
print("workers started:", len(workers))

# One file per process that recorded, named after it, holding only that process's sessions.
ok = True
pids = set()
for f in sorted(glob.glob(T + "/rec/*.pb")):
    m = re.fullmatch(r"nginx-([0-9]+)-[0-9]+\.pb", os.path.basename(f))
    got = {s["Pid"] for s in sessions(f + ".json")}
    if not m or int(m.group(1)) in pids or got != {int(m.group(1))}:
        ok = False
        print("file", os.path.basename(f), "holds sessions of pids", sorted(got))
    pids.add(int(m.group(1)) if m else -1)
print("one file per recording process:", "yes" if ok and pids else "NO")
print("recording processes are workers:", "yes" if pids and pids <= workers and master not in pids else "NO")
written = dropped = 0
for pid in pids:
    m = re.search(r"koala\[%d\] INFO ([0-9]+) sessions written, ([0-9]+) dropped" % pid, log)
    written += int(m.group(1)) if m else 0
    dropped += int(m.group(2)) if m else 1
print("exit summaries: %d sessions written, %d dropped" % (written, dropped))

# What curl sent and got, request by request, against the merged sessions.
exchanges = []
for i in range(1, 5):
    sent, got = curl_trace("%s/c%d.trace" % (T, i))
    exchanges += zip(http_messages(sent), http_messages(got))
sent, got = (open("%s/c5.%s" % (T, end), "rb").read() for end in ("sent", "got"))
exchanges += zip(http_messages(sent), http_messages(got))
ss = sessions(T + "/all.json")
order = []
for q, a in exchanges:
    line = q.split(b"\r\n")[0].decode()
    match = [k for k, s in enumerate(ss) if unescape(s["CallFromInbound"]["Request"]) == q]
    if len(match) != 1:
        print(line + ":", "%d sessions with its request" % len(match))
        continue
    order.append(match[0])
    s = ss[match[0]]
    resp = unescape(s["ReturnInbound"]["Response"])
    print(line + ": request same, response", "same" if resp == a else
          "DIFFERENT (%d bytes, curl got %d)" % (len(resp), len(a)))
    calls = [x for x in s["Actions"] if x["ActionType"] == "CallOutbound"]
    others = [x["ActionType"] for x in s["Actions"]
              if x["ActionType"] not in ("CallOutbound", "ReturnInbound", "AppendFile")]
    if others:
        print("    other actions:", others)
    # nginx writes the access log line after answering: it belongs to this session
    logged = [unescape(x["Content"]) for x in s["Actions"]
              if x["ActionType"] == "AppendFile" and x["FileName"].endswith("/access.log")]
    print("    access log line:", "its own request's" if len(logged) == 1 and logged[0].count(b"\n") == 1
          and b'"' + q.split(b"\r\n")[0] + b'"' in logged[0] else "WRONG: %r" % logged)
    if q.startswith(b"GET /static/"):
        print("    outbound calls:", len(calls))
        print("    file body in the response: %d of %d bytes" % (
            len(head_body(resp)[1]), len(head_body(a)[1])))
        continue
    if len(calls) != 1 or calls[0]["Peer"]["Port"] != sp:
        print("    calls to sample-svc: %d of %d outbound calls" % (
            sum(x["Peer"]["Port"] == sp for x in calls), len(calls)))
        continue
    # nginx forwards the request as HTTP/1.0: its own Host, Connection and Content-Length
    # first, then the client's other headers in order, then the body.
    head, body = head_body(q)
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].split(b" ")
    fwd = [method + b" " + target + b" HTTP/1.0", b"Host: svc", b"Connection: close"]
    if body:
        fwd.append(b"Content-Length: %d" % len(body))
    fwd += [l for l in lines[1:] if l.split(b":")[0].lower() not in (b"host", b"connection", b"content-length")]
    want = b"\r\n".join(fwd) + b"\r\n\r\n" + body
    creq, cresp = unescape(calls[0]["Request"]), unescape(calls[0]["Response"])
    same_status = cresp.split(b" ")[1:2] == a.split(b" ")[1:2]
    print("    CallOutbound sample-svc %r: request %s, response %s" % (
        creq.split(b"\r\n")[0].decode(), "as forwarded" if creq == want else "DIFFERENT",
        "status and body as curl got" if same_status and head_body(cresp)[1] == head_body(a)[1] else "DIFFERENT"))
print("sessions in request order:", "yes" if order == sorted(order) and len(order) == len(ss) else "NO")
PY
