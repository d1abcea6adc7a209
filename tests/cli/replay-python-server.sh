# koala-replay end to end: Debian's `python3 -m http.server` is recorded under the recorder
# while a client fetches files, a directory, a missing file, a HEAD and a POST; it is stopped,
# then started again under the replayer on the same directory, and the recording is replayed:
# every session once, then -j 4 over three copies of the file, then a subset picked with -Y.
# The replayed responses must be the recorded ones, byte for byte, their Date header too: the
# service's clock reads as at recording time, running on from the recorded request (so a Date
# a second either side is the same answer: rec_lib's same_answer); and they come out in input
# order.
name=replay-python-server
. tests/cli/proc.inc
. tests/cli/preload.inc
recorder=$preload
hook=libkoala-replayer
. tests/cli/preload.inc
py=/usr/bin/python3 # the interpreter itself: a wrapper script would be preloaded too

mkdir "$T/www" "$T/rec"
$py - "$T/www" <<'PY'
import sys
d = sys.argv[1]
open(d + "/a.txt", "wb").write(b"hello\n")
open(d + "/page.html", "wb").write((b"<p>koala \xc3\xa9t\xc3\xa9</p>\n" * 300)[:4096])
open(d + "/big.bin", "wb").write(bytes((i * 31 + i // 256) % 256 for i in range(100001)))
PY

echo "# recording"
# SIGINT, as a user stops http.server; a background job starts with it ignored otherwise.
env --default-signal=INT LD_PRELOAD="$recorder" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    PYTHONUNBUFFERED=1 $py -m http.server --bind 127.0.0.1 --directory "$T/www" 0 >"$T/rec.out" 2>"$T/rec.err" &
srv=$!
pids="$pids $srv"
port=$(http_server_port "$T/rec.out" "$T/rec.err") || exit 2
$py - "$port" <<'PY' || fail "the client failed"
import sys, urllib.error, urllib.request
base = "http://127.0.0.1:%s/" % sys.argv[1]
for path, method in [("a.txt", "GET"), ("page.html", "GET"), ("big.bin", "GET"), ("", "GET"),
                     ("missing.txt", "GET"), ("a.txt", "HEAD"), ("a.txt", "POST")]:
    req = urllib.request.Request(base + path, method=method, data=b"x=1" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status = r.status
            r.read()
    except urllib.error.HTTPError as e:
        status = e.code
    print("%s /%s: %d" % (method, path, status))
PY
kill -INT "$srv"
exit_status "$srv" >/dev/null
koala-dump --count "$T"/rec/*.pb
mv "$T"/rec/*.pb "$T/recorded.pb"

echo "# replaying"
read -r sut inbound outbound <<EOF
$(free_ports 3)
EOF
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_SUT_ADDR=127.0.0.1:$sut KOALA_INBOUND_ADDR=:$inbound \
    KOALA_OUTBOUND_ADDR=":$outbound" PYTHONUNBUFFERED=1 \
    $py -m http.server --bind 127.0.0.1 --directory "$T/www" "$sut" >"$T/rp.out" 2>"$T/rp.err" &
pids="$pids $!"
http_server_port "$T/rp.out" "$T/rp.err" >/dev/null
replayer_up "$T/rp.err" "$inbound"
# The summary without its timings.
summary() {
    sed -e 's/ in [0-9.]* s ([0-9.]* sessions\/s)$/ in T s (R sessions\/s)/' "$1"
}
check() {
    koala-dump --json "$T/recorded.pb" >"$T/recorded.json" &&
        koala-dump --json "$1" >"$T/replayed.json" || fail "koala-dump failed"
    $py - "$T/recorded.json" "$T/replayed.json" "$2" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import same_answer, sessions, unescape
recorded = {s["SessionId"]: s for s in sessions(sys.argv[1])}
order = [s["SessionId"] for s in sessions(sys.argv[1])]
replayed = sessions(sys.argv[2])
ids = [r["SessionId"] for r in replayed]
print("replayed sessions:", len(replayed), "in input order:", ids == order * int(sys.argv[3]))
lines = []
for r in replayed[:len(order)]:
    s = recorded[r["SessionId"]]
    req = unescape(r["CallFromInbound"]["OriginalRequest"])
    orig = unescape(r["ReturnInbound"]["OriginalResponse"])
    now = unescape(r["ReturnInbound"]["Response"])
    kept = req == unescape(s["CallFromInbound"]["Request"]) and orig == unescape(s["ReturnInbound"]["Response"])
    lines.append("  %-26s %s, recorded bytes kept: %s, response %s" % (
        req.split(b"\r\n")[0].decode(), now[9:12].decode(), kept,
        "same" if same_answer(now, orig) else "DIFFERENT"))
print("\n".join(sorted(lines)))  # the recorder writes sessions as they end
same = all(same_answer(unescape(r["ReturnInbound"]["Response"]), unescape(r["ReturnInbound"]["OriginalResponse"]))
           for r in replayed)
print("every response the recorded one:", same, "errors:", sum(len(r.get("Errors") or []) for r in replayed))
PY
}
koala-replay --to ":$inbound" -o "$T/replayed.pb" "$T/recorded.pb" 2>"$T/err"
echo "exit $?"
summary "$T/err"
check "$T/replayed.pb" 1

echo "# -j 4, the file three times"
koala-replay --to "127.0.0.1:$inbound" -j 4 -o "$T/j4.pb" "$T/recorded.pb" "$T/recorded.pb" "$T/recorded.pb" 2>"$T/err"
echo "exit $?"
summary "$T/err"
check "$T/j4.pb" 3

echo "# -Y"
koala-replay --to ":$inbound" -Y 'inbound.request ~ "^GET /[ap]"' -o "$T/y.pb" "$T/recorded.pb" 2>"$T/err"
echo "exit $?"
summary "$T/err"
koala-dump --json "$T/y.pb" | $py -c '
import json, sys
sys.path.insert(0, "tests/cli")
from rec_lib import unescape
for line in sys.stdin:
    print(unescape(json.loads(line)["CallFromInbound"]["OriginalRequest"]).split(b"\r\n")[0].decode())' | sort
grep -E 'ERROR|WARN|AddressSanitizer|runtime error' "$T/rp.err" || echo "the replayer's log: no warning"
