# Helper messages from Python, as the README shows them: a threaded http.server whose handler
# records what it read from elsewhere (to-koala!read-storage) and puts the caller's user id in
# the session's trace header, reading it back with recvfrom(..., 127127). Without koala the same
# service answers as well, with nothing to read back.
name=rec-python-helper
. tests/cli/proc.inc
. tests/cli/preload.inc

cat >"$T/svc.py" <<'PY'
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KOALA = ("127.127.127.127", 127)
helper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

def koala(kind, payload=b"", flags=0):
    helper.sendto(kind.encode() + b"\n" + payload, flags, KOALA)

def koala_answer():
    try:
        return helper.recvfrom(4096, 127127)[0]
    except OSError:  # no koala to answer
        return b""

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        uid = self.path.rsplit("/", 1)[1].encode()
        koala("to-koala!read-storage", b"flags: dark-mode=" + uid)
        koala("to-koala!set-trace-header-key", b"uid\n" + uid)
        koala("to-koala!get-trace-header-key", b"uid")
        body = b"uid=" + koala_answer() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_port, flush=True)
server.serve_forever()
PY
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    /usr/bin/python3 "$T/svc.py" >"$T/svc.out" 2>"$T/svc.err" &
pid=$!
pids="$pids $pid"
port=$(port_of "$T/svc.out") || exit 2
for uid in 7 42 1000; do
    timeout 10 curl -s "http://127.0.0.1:$port/user/$uid" || fail "curl failed"
done
kill -TERM $pid
wait $pid
echo "service: exit $? (SIGTERM is 143)"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
/usr/bin/python3 - "$T/json" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import sessions
sessions = sessions(sys.argv[1], by_time=True)
print("sessions:", len(sessions))
for s in sessions:
    req = s["CallFromInbound"]["Request"].split("\r\n")[0]
    body = s["ReturnInbound"]["Response"].split("\r\n\r\n", 1)[1]
    th = s["TraceHeader"]
    storage = [a["Content"] for a in s["Actions"] if a["ActionType"] == "ReadStorage"]
    print(req, "->", repr(body), "| trace header uid", th.get("uid"), "ti", len(th.get("ti", "")),
          "chars | read storage", storage)
PY
/usr/bin/python3 "$T/svc.py" >"$T/plain.out" 2>"$T/plain.err" &
pid=$!
pids="$pids $pid"
port=$(port_of "$T/plain.out") || exit 2
printf 'without koala: '
timeout 10 curl -s "http://127.0.0.1:$port/user/7" || fail "curl failed: $(cat "$T/plain.err")"
