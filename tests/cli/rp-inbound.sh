# The replayer's inbound server: Python's http.server runs under libkoala-replayer.so; recorded
# sessions are POSTed to it as protobuf koala.Session messages, built by hand from the
# schema (rec_lib.pb_session), and the koala.ReplayedSession answers are read field by field.
name=rp-inbound
. tests/cli/proc.inc
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
mkdir "$T/www"
echo hello >"$T/www/a.txt"
read -r sut inbound closed inbound2 out out2 <<EOF
$(free_ports 6)
EOF
(cd "$T/www" && LD_PRELOAD="$preload" KOALA_SUT_ADDR=127.0.0.1:$sut KOALA_INBOUND_ADDR=:$inbound \
    KOALA_OUTBOUND_ADDR=":$out" \
    exec "$py" -m http.server "$sut" --bind 127.0.0.1 >"$T/svc.out" 2>"$T/svc.err") &
pids="$pids $!"
# A replayer whose service is gone: a process that listened on its address, then closed it.
LD_PRELOAD="$preload" KOALA_SUT_ADDR=127.0.0.1:$closed KOALA_INBOUND_ADDR=:$inbound2 \
    KOALA_OUTBOUND_ADDR=":$out2" "$py" -c '
import socket, sys, time
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
s.close()
time.sleep(60)' "$closed" 2>"$T/lonely.err" &
pids="$pids $!"
replayer_up "$T/svc.err" "$inbound"
replayer_up "$T/lonely.err" "$inbound2"
"$py" - "$inbound" "$inbound2" <<'PY' || fail "$(cat "$T/svc.err")"
import re, sys, urllib.request, urllib.error
sys.path.insert(0, "tests/cli")
from rec_lib import pb_fields, pb_session, post_session

inbound, inbound2 = sys.argv[1], sys.argv[2]

def post(body, to=None):
    return post_session(to or inbound, body)

def show(title, sid, request, to=None):
    recorded = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
    status, ctype, body = post(pb_session(sid, request, recorded), to)
    f = pb_fields(body)
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
