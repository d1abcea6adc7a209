# koala-diff --learn-noise, end to end: a Python service whose answers carry a random token
# (a header and JSON fields, one in each element of a list) besides stable data, and a metric
# datagram naming its plan, is recorded,
# then replayed twice; the noise learned from the two replays is given to koala-diff, which
# then finds the replay identical to the recording, and the service changed by an
# environment variable is told apart from noise.
name=diff-learn-noise
. tests/cli/proc.inc
. tests/cli/preload.inc
recorder=$preload
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
cat >"$T/svc.py" <<'PY'
import http.server, json, os, socket, sys, uuid
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def date_time_string(self, timestamp=None):
        # one Date for every answer: a replay shifts the clock back to the recorded request,
        # and one replay may cross into the next second where the other does not
        return "Mon, 23 Nov 2026 00:00:00 GMT"
    def do_GET(self):
        n = int(self.path.strip("/") or 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:  # a metric, to nobody
            u.sendto(b"plan.%s:1|c" % os.environ.get("PLAN", "basic").encode(), ("127.0.0.1", 9))
        doc = {"user": n, "plan": os.environ.get("PLAN", "basic"), "token": uuid.uuid4().hex,
               "items": [{"sku": i, "nonce": uuid.uuid4().hex} for i in range(3)]}
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("X-Trace-Id", uuid.uuid4().hex)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
PY
mkdir "$T/rec"
LD_PRELOAD="$recorder" KOALA_RECORD_TO_DIR="$T/rec" "$py" "$T/svc.py" 0 >"$T/rec.out" 2>"$T/rec.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/rec.out") || exit 2
for n in 1 2 3; do curl -s "http://127.0.0.1:$sp/$n" >/dev/null || fail "curl failed"; done
kill -TERM "$svc"
exit_status "$svc" >/dev/null

# Replays the recording into $T/$1.pb, with the environment given after.
replay() {
    out=$1
    shift
    read -r sp ip op <<EOF
$(free_ports 3)
EOF
    : >"$T/rp.err"
    env LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" \
        KOALA_OUTBOUND_ADDR=":$op" "$@" "$py" "$T/svc.py" "$sp" >/dev/null 2>"$T/rp.err" &
    rsvc=$!
    pids="$pids $rsvc"
    replayer_up "$T/rp.err" "$ip"
    koala-replay --to ":$ip" -o "$T/$out.pb" "$T"/rec/*.pb 2>/dev/null || fail "koala-replay failed"
    kill -TERM "$rsvc"
}
replay r1
replay r2
echo "# learned from two replays"
koala-diff --learn-noise -o "$T/noise.rules" "$T/r1.pb" "$T/r2.pb"
echo "exit $?"
sed "s|$T/|T/|g" "$T/noise.rules"
echo "# the recording against a replay: noise without the rules, identical with them"
koala-diff --summary "$T"/rec/*.pb "$T/r1.pb"
echo "exit $?"
koala-diff --summary --rules "$T/noise.rules" "$T"/rec/*.pb "$T/r1.pb"
echo "exit $?"
echo "# a changed service is not noise"
replay changed PLAN=gold
koala-diff --rules "$T/noise.rules" "$T"/rec/*.pb "$T/changed.pb" >"$T/changed.out"
echo "exit $?"
sed 's/^session [0-9-]*$/session ID/' "$T/changed.out"
