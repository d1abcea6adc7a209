# The witch inside a replayed service: sample-svc is recorded with its Redis and backend (8
# requests), they stop, and a second sample-svc runs under libkoala-replayer.so with
# KOALA_WITCH_ADDR on a free port; koala-replay sends it the sessions. /witch/state counts the
# sessions replayed and the outbound calls matched, names the threads that worked for them and
# the redirected connections; /witch/sessions has a line per replayed session and each in full.
# Needs redis-server.
name=witch-replay
. tests/cli/svc-env.inc
. tests/cli/preload.inc
recorder=$preload
hook=libkoala-replayer
. tests/cli/preload.inc

mkdir "$T/rec"
LD_PRELOAD="$recorder" KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 2 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
timeout 20 sample-client --to "127.0.0.1:$sp" --threads 1 --requests 8 | sed 's/ in [0-9.]* s.*//'
kill -TERM "$svc"
exit_status "$svc"
for p in $pids; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
done
pids=""

read -r sp ip op wp <<EOF
$(free_ports 4)
EOF
LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" KOALA_OUTBOUND_ADDR=":$op" \
    KOALA_WITCH_ADDR=":$wp" \
    sample-svc --listen "127.0.0.1:$sp" --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 2 >"$T/svc2.out" 2>"$T/svc2.err" &
svc=$!
pids="$pids $svc"
port_of "$T/svc2.out" >/dev/null || exit 2
replayer_up "$T/svc2.err"
timeout 30 koala-replay --to "127.0.0.1:$ip" -j 2 "$T"/rec/*.pb 2>"$T/replay.err"
echo "koala-replay: exit $?"
sed -n 's/^koala-replay: \(outbound calls: .*\)/\1/p' "$T/replay.err"

python3 - "http://127.0.0.1:$wp/witch" "$svc" "$op" <<'PY' || fail "the checks failed"
import json, sys, urllib.request
sys.path.insert(0, "tests/cli")
from rec_lib import poll_until
w, pid, op = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def get(path):
    with urllib.request.urlopen(w + path, timeout=30) as r:
        return json.load(r)

print("# /witch/state")
st = get("/state")
print("pid is the service's:", st["pid"] == pid, "recording:", st["recording"], "replaying:", st["replaying"])
k = st["counters"]
print("counters: replayed", k["sessions_replayed"], "failed", k["sessions_failed"], "matches made",
      k["matches_made"], "missed", k["matches_missed"], "written", k["sessions_written"])
workers = [t for t in st["threads"] if t["for"] == "replaying"]
print("threads that worked for replayed sessions:", 1 <= len(workers) <= 2, "ids:",
      all(isinstance(t["id"], int) and t["id"] > 0 for t in workers))
out = [s for s in st["sockets"] if s["role"] == "outbound"]
print("outbound connections, redirected to the outbound server:", len(out) > 0,
      all(s["bytes_out"] > 0 and s["bytes_in"] > 0 for s in out))
print("sessions in progress:", st["sessions_in_progress"])
print("config: KOALA_OUTBOUND_ADDR", st["config"]["KOALA_OUTBOUND_ADDR"] == "127.0.0.1:" + op)

print("# /witch/sessions")
ss = poll_until(lambda: get("/sessions"), lambda ss: ss["kept"] == 8)  # each is kept once answered
print("kept", ss["kept"])
for line in sorted(ss["sessions"], key=lambda l: l["request"]):
    print(" ", line["kind"], line["request"], "->", line["response"], "as recorded",
          line["response"] == line["original_response"], "calls", line["calls"],
          "matched", line["matched"], "missed", line["missed"], "errors", line["errors"])
one = get("/sessions?n=%d" % ss["sessions"][0]["n"])
s = one["session"]
calls = [a for a in s["Actions"] if a["ActionType"] == "CallOutbound"]
print("one in full:", one["kind"], s["SessionId"] == ss["sessions"][0]["id"], "its calls matched:",
      len(calls) == ss["sessions"][0]["calls"] and all(a["MatchedActionIndex"] >= 0 for a in calls),
      "its request:", s["CallFromInbound"]["OriginalRequest"].split("\r\n")[0] == ss["sessions"][0]["request"])
PY
grep -E ' (WARN|ERROR) |AddressSanitizer|runtime error' "$T/svc2.err"
kill -TERM "$svc"
exit_status "$svc"
