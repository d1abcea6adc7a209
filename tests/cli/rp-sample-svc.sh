# The replayer on the sample service, end to end. sample-svc is recorded under real traffic
# with its real Redis and HTTP backend (40 requests from 4 keep-alive clients); Redis and the
# backend are stopped; a second sample-svc runs under libkoala-replayer.so and koala-replay
# sends it every session, 8 at once. Every response comes back byte for byte, its "ts" field
# included (the service's clock reads as at recording time, a second and more later; the
# replayed clock runs on from the request, so a replay slower than the recording may cross a
# second boundary the recording did not, and read one second more there, as a Date); every
# outbound call, on connections each worker keeps alive across sessions, is matched and every
# recorded call used; statsd datagrams are kept in the replayed sessions and never sent; log
# lines are kept and still written. The replayer, given KOALA_RECORD_TO_DIR, records meanwhile.
# koala-diff finds the replay identical to the recording; replayed against a changed build
# (sample-svc --variant changed), it names exactly the greeting field and the Redis key.
# Needs redis-server (Debian package redis-server).
name=rp-sample-svc
. tests/cli/svc-env.inc
. tests/cli/preload.inc
recorder=$preload
hook=libkoala-replayer
. tests/cli/preload.inc

start_statsd "$T" "$T/statsd.lines" || fail "the statsd listener did not start"
statsd=${pids##* } # it stays: the replays send nothing to it
mkdir "$T/rec"
LD_PRELOAD="$recorder" KOALA_RECORD_TO_DIR="$T/rec" \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/rec.log" --statsd "127.0.0.1:$up" --threads 4 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
echo "# recording: 4 clients, 10 requests each"
timeout 20 sample-client --to "127.0.0.1:$sp" --threads 4 --requests 10 | sed 's/ in [0-9.]* s.*//'
kill -TERM "$svc"
exit_status "$svc"
recorded=$(wc -l <"$T/statsd.lines") logged=$(wc -l <"$T/rec.log")
echo "statsd datagrams while recording: $recorded"

echo "# Redis and the backend stop; the replayer's sample-svc calls the same addresses"
for p in $pids; do
    [ "$p" = "$statsd" ] || { kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
done
pids=$statsd
sleep 1.2 # so that a clock left alone would show in the "ts" fields
read -r sp ip op <<EOF
$(free_ports 3)
EOF
mkdir "$T/rec2" # the replayer records too when asked: recording while replaying
LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" KOALA_OUTBOUND_ADDR=":$op" \
    KOALA_RECORD_TO_DIR="$T/rec2" \
    sample-svc --listen "127.0.0.1:$sp" --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/rec.log" --statsd "127.0.0.1:$up" --threads 4 >"$T/svc2.out" 2>"$T/svc2.err" &
svc=$!
pids="$pids $svc"
port_of "$T/svc2.out" >/dev/null || exit 2
replayer_up "$T/svc2.err"
timeout 30 koala-replay --to "127.0.0.1:$ip" -j 8 -o "$T/replayed.pb" "$T"/rec/*.pb 2>"$T/replay.err"
echo "koala-replay: exit $?"
sed -n 's/^koala-replay: \([0-9]* sessions: [^,]*, [^,]*\),.*/\1/p; s/^koala-replay: \(outbound calls: .*\)/\1/p' "$T/replay.err"
kill -TERM "$svc"
exit_status "$svc"
grep -E ' (WARN|ERROR) ' "$T/svc2.err"
echo "statsd datagrams while replaying: $(($(wc -l <"$T/statsd.lines") - recorded))"
echo "sessions recorded while replaying: $(koala-dump --count "$T"/rec2/*.pb)"

koala-dump --json "$T/replayed.pb" >"$T/replayed.json" || fail "koala-dump cannot read the replayed sessions"
python3 - "$T/replayed.json" "$T/rec.log" "$recorded" "$logged" <<'PY'
import json, re, sys
sys.path.insert(0, "tests/cli")
from rec_lib import same_answer, sessions, unescape

path, log, datagrams, logged = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ss = sessions(path)

def same_clock(replayed, recorded):
    """Byte for byte, but for a "ts" field and a Date a second either side (same_answer)."""
    t1, t2 = re.search(rb'"ts":([0-9]+)', replayed), re.search(rb'"ts":([0-9]+)', recorded)
    if t1 and t2 and abs(int(t1.group(1)) - int(t2.group(1))) <= 1 and len(t1.group(1)) == len(t2.group(1)):
        replayed = replayed.replace(t1.group(0), t2.group(0))
    return same_answer(replayed, recorded)

same = sum(same_clock(unescape(s["ReturnInbound"]["Response"]),
                      unescape(s["ReturnInbound"]["OriginalResponse"])) for s in ss)
kinds = {}
for s in ss:
    for a in s["Actions"]:
        kinds[a["ActionType"]] = kinds.get(a["ActionType"], 0) + 1
calls = [a for s in ss for a in s["Actions"] if a["ActionType"] == "CallOutbound"]
exact = sum(unescape(a["Request"]) == unescape(a["MatchedRequest"]) for a in calls)
print("replayed sessions:", len(ss), "responses identical:", same)
for s in ss:  # what differs, should anything
    a, b = unescape(s["ReturnInbound"]["OriginalResponse"]), unescape(s["ReturnInbound"]["Response"])
    if not same_clock(b, a):
        print("  session", s["SessionId"], "recorded at", s["CallFromInbound"]["OriginalRequestTime"],
              "ends", a[-40:], "replayed", b[-40:])
print("outbound calls:", len(calls), "matched:", sum(a["MatchedActionIndex"] >= 0 for a in calls),
      "identical to the call they matched:", exact)
print("recorded calls never used:", sum(len(s.get("UnusedCalls", [])) for s in ss))
print("statsd datagrams kept:", kinds.get("SendUDP", 0) == datagrams)
lines = open(log).read().splitlines()  # the recording's lines, then the replay's
print("log lines kept:", kinds.get("AppendFile", 0), "written:", len(lines) - logged)
PY

echo "# koala-diff: the replay against the recording, then a changed build (--variant changed)"
koala-diff --summary "$T"/rec/*.pb "$T/replayed.pb"
echo "exit $?"
read -r sp ip op <<EOF
$(free_ports 3)
EOF
: >"$T/svc3.err"
LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" KOALA_OUTBOUND_ADDR=":$op" \
    sample-svc --listen "127.0.0.1:$sp" --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/rec.log" --statsd "127.0.0.1:$up" --threads 4 --variant changed >/dev/null 2>"$T/svc3.err" &
svc=$!
pids="$pids $svc"
replayer_up "$T/svc3.err" "$ip"
timeout 30 koala-replay --to "127.0.0.1:$ip" -j 8 -o "$T/changed.pb" "$T"/rec/*.pb 2>/dev/null ||
    fail "koala-replay against the changed build failed"
kill -TERM "$svc"
koala-diff --json "$T"/rec/*.pb "$T/changed.pb" >"$T/changed.json"
echo "exit $?"
python3 - "$T/changed.json" <<'PY'
import collections, json, re, sys
kinds = collections.Counter()
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "summary" in o:
        print("summary:", {k: v for k, v in o["summary"].items() if v})
        continue
    if o["response"] != "identical":
        kinds["response: " + re.sub(r"user-[0-9]+", "user-N", o["response"]["diff"].strip().replace("\n", " | "))] += 1
    for c in o["calls"] + o["files"] + o["udp"]:
        kinds[c["kind"] + ": " + re.sub(r"[0-9]+", "N", c["what"])] += 1
for k, n in sorted(kinds.items()):
    print(n, k)
PY
