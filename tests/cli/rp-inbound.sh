# The replayer's inbound server: Python's http.server runs under libkoala-replayer.so; recorded
# sessions are POSTed to it as protobuf koala.Session messages, built here by hand from the
# schema, and the koala.ReplayedSession answers are read field by field.
name=rp-inbound
. tests/cli/proc.inc
so="$B/lib/libkoala-replayer.so"
[ -f "$so" ] || fail "$so not built"
preload="$so"
asan=$(ldd "$so" | sed -n 's/^[[:space:]]*libasan[^ ]* => \([^ ]*\) .*/\1/p')
[ -z "$asan" ] || preload="$asan $so"
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir "$T/www"
echo hello >"$T/www/a.txt"
sut=$(free_port) inbound=$(free_port) closed=$(free_port) inbound2=$(free_port)
(cd "$T/www" && LD_PRELOAD="$preload" KOALA_SUT_ADDR=127.0.0.1:$sut KOALA_INBOUND_ADDR=:$inbound \
    exec "$py" -m http.server "$sut" --bind 127.0.0.1 >"$T/svc.out" 2>"$T/svc.err") &
pids="$pids $!"
# A replayer whose service is not there: a process that sleeps.
LD_PRELOAD="$preload" KOALA_SUT_ADDR=127.0.0.1:$closed KOALA_INBOUND_ADDR=:$inbound2 \
    "$py" -c 'import time; time.sleep(60)' 2>"$T/lonely.err" &
pids="$pids $!"
"$py" - "$inbound" "$sut" "$inbound2" <<'PY' || fail "$(cat "$T/svc.err")"
import re, socket, sys, time, urllib.request, urllib.error

inbound, sut, inbound2 = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data

def session(sid, request, response):
    # Session: id = 1, call_from_inbound = 12 {request = 4}, return_inbound = 13 {response = 3}
    return field(1, sid.encode()) + field(12, field(4, request)) + field(13, field(3, response))

def fields(data):
    """The length-delimited fields of a message, by number (repeated ones in a list)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            _, i = read_varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = read_varint(data, i)
            out.setdefault(num, []).append(data[i:i + n])
            i += n
        else:
            raise ValueError("wire type %d" % wire)
    return out

def read_varint(data, i):
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i

def post(body, to=None):
    req = urllib.request.Request("http://127.0.0.1:%s/" % (to or inbound), data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()

for _ in range(100):  # the service and the inbound servers start
    try:
        for port in sut, int(inbound), int(inbound2):
            socket.create_connection(("127.0.0.1", port), 1).close()
        break
    except OSError:
        time.sleep(0.1)

def show(title, sid, request, to=None):
    recorded = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
    status, ctype, body = post(session(sid, request, recorded), to)
    f = fields(body)
    resp = f.get(5, [b""])[0]
    print("%s: HTTP %d %s" % (title, status, ctype))
    print("  session id:", f[1][0].decode())
    print("  original request and response kept:", f[3][0] == request and f[4][0] == recorded)
    print("  the service answered:", resp.split(b"\r\n")[0].decode(), "... body", repr(resp.split(b"\r\n\r\n", 1)[-1][:20]))
    print("  errors:", [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", e.decode()) for e in f.get(10, [])])

show("a file that exists", "1795336763808267798-13195", b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
show("a file that does not", "1795336763808267799-13195", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")

status, ctype, body = post(b"\xff\xff\xff")
print("not a session: HTTP %d %s: %s" % (status, ctype, body.decode().strip()))
try:
    urllib.request.urlopen("http://127.0.0.1:%s/" % inbound, timeout=10)
except urllib.error.HTTPError as e:
    print("GET: HTTP %d: %s" % (e.code, e.read().decode().strip()))
show("no service", "1795336763808267800-13195", b"GET /a.txt HTTP/1.1\r\n\r\n", inbound2)
PY
grep -c "replaying: sessions POSTed to http://127.0.0.1:$inbound are sent to the service at 127.0.0.1:$sut" "$T/svc.err"
