# The recorder in Debian's nginx as a reverse proxy serving many clients at once on its one
# thread: 10 clients, 3 keep-alive requests each, all in flight together, before a backend that
# answers each after 50 ms (samples/svc/backend.py --delay). nginx reads several clients
# before their backend calls complete and answers them in another order: each session still
# holds its own client's request and answer, and exactly one backend call, for its own path,
# with the answer its client got.
# Needs nginx-light.
name=rec-proxy-concurrent
. tests/cli/proc.inc
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx not found (apt-get install nginx-light)"
. tests/cli/preload.inc
py=/usr/bin/python3

start_backend "$T" --delay 50 || fail "backend.py did not start"

np=$(free_ports)
mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off \
    start_nginx "$T/ngx" "
    server {
        listen 127.0.0.1:$np;
        location / { proxy_pass http://127.0.0.1:$bp; }
    }"

PORT=$np timeout 30 $py -c '
import os, socket, threading
port, bad = int(os.environ["PORT"]), []
def client(c):
    s = socket.create_connection(("127.0.0.1", port))
    for r in range(3):
        uid = c * 3 + r + 1
        s.sendall(b"GET /profile/%d HTTP/1.1\r\nHost: x\r\n\r\n" % uid)
        got = b""
        while not (got.endswith(b"}") and b"{\"id\":%d," % uid in got):
            more = s.recv(4096)
            if not more:
                bad.append((c, r, got))
                return
            got += more
    s.close()
ts = [threading.Thread(target=client, args=(c,)) for c in range(10)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("clients answered:", 30 - len(bad), "of 30")
'
ngx=$(cat "$T/ngx/nginx.pid")
kill -TERM "$ngx"
wait_until ended "$ngx" || fail "nginx did not stop"
koala-dump --json "$T"/rec/*.pb >"$T/sessions.json"
ROOT="$T" $py -c '
import os, sys
sys.path.insert(0, "tests/cli")
import rec_lib
ss = rec_lib.sessions(os.environ["ROOT"] + "/sessions.json")
right = 0
for s in ss:
    req = rec_lib.unescape(s["CallFromInbound"]["Request"])
    path = (req.split(b" ") + [b""])[1]
    resp = rec_lib.unescape(s["ReturnInbound"]["Response"]) if s.get("ReturnInbound") else b""
    calls = [a for a in s["Actions"] or [] if a["ActionType"] == "CallOutbound"]
    body = resp.partition(b"\r\n\r\n")[2]
    ok = (len(calls) == 1 and (rec_lib.unescape(calls[0]["Request"]).split(b" ") + [b""])[1] == path and
          body.startswith(b"{\"id\":%s," % path.split(b"/")[-1]) and
          rec_lib.unescape(calls[0]["Response"]).partition(b"\r\n\r\n")[2] == body)
    right += ok
    if not ok:
        print("wrong:", path, resp[-20:], [rec_lib.unescape(a["Request"])[:20] for a in calls])
print("sessions:", len(ss), "each with its own request, answer and one backend call for its path:", right)
'
