# The recorder on the sample service: sample-svc under LD_PRELOAD=libkoala-recorder.so, five
# keep-alive requests, SIGTERM; koala-dump --json shows one session per request, its bytes
# exactly those the client sent and received, the Redis and backend calls in order, the log
# line and the statsd datagram.
# Needs redis-server (Debian package redis-server).
name=rec-sample-svc
. tests/cli/svc-env.inc
. tests/cli/preload.inc

start_statsd "$T" || fail "the statsd listener did not start"

mkdir "$T/rec"
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --statsd "127.0.0.1:$up" --threads 2 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2

echo "# five keep-alive requests under the recorder"
timeout 20 sample-client --to "127.0.0.1:$sp" --raw --sent "$T/sent" \
    GET /user/7 POST /order '{"user":7,"item":"lamp","qty":2}' GET /user/7 GET /health \
    GET /user/2000 >"$T/raw"
echo "exit $?"
kill -TERM "$svc"
exit_status "$svc"
grep -v '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO ' "$T/svc.err"
grep -c 'INFO 5 sessions written, 0 dropped' "$T/svc.err"

echo "# what koala-dump reads from the recording"
ls "$T/rec" | sed 's/-[0-9]*-[0-9]*\.pb$/-PID-START.pb/'
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
python3 - "$T/json" "$T/sent" "$T/raw" "$rp" "$bp" "$up" <<'PY'
import re, sys
sys.path.insert(0, "tests/cli")
from rec_lib import http_messages, sessions, unescape

path, sent, raw, rp, bp, up = sys.argv[1:]
sessions = sessions(path)
reqs = http_messages(open(sent, "rb").read())
resps = http_messages(open(raw, "rb").read())
print("sessions:", len(sessions), "requests:", len(reqs), "responses:", len(resps))
for i, (s, q, a) in enumerate(zip(sessions, reqs, resps)):
    cfi = s["CallFromInbound"]
    ret = s["ReturnInbound"]
    print("session %d: request %s, response %s" % (i + 1,
          "same" if unescape(cfi["Request"]) == q else "DIFFERENT",
          "same" if unescape(ret["Response"]) == a else "DIFFERENT"))
    for a in s["Actions"]:
        kind = a["ActionType"]
        if kind == "CallOutbound":
            peer = a["Peer"]
            who = {str(rp): "redis", str(bp): "backend"}.get(str(peer.get("Port")), str(peer))
            req = unescape(a["Request"])
            resp = unescape(a["Response"])
            first = req.split(b"\r\n")[0].decode() if who == "backend" else " ".join(
                x.decode() for x in req.split(b"\r\n")[2::2])
            status = resp.split(b"\r\n")[0].decode()
            print("   ", kind, who, repr(first), "->", repr(status if who == "backend" else resp.decode()[:1]),
                  "%d/%d bytes" % (len(req), len(resp)) if req and resp else "EMPTY")
        elif kind == "AppendFile":
            line = re.sub(r"^[0-9-]+T[0-9:]+Z ", "TIME ", a["Content"])
            print("   ", kind, a["FileName"].rsplit("/", 1)[1], repr(line))
        elif kind == "SendUDP":
            print("   ", kind, "statsd" if str(a["Peer"]["Port"]) == up else a["Peer"], repr(a["Content"]))
        else:
            print("   ", kind)
PY
