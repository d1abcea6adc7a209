# The recorder in Debian's `python3 -m http.server` (ThreadingHTTPServer: a thread per
# connection). A client of 4 threads x 25 requests on raw sockets fetches files of 0 to 300001
# bytes and missing ones, concurrently, and keeps the exact bytes of every exchange. SIGINT.
# There must be one session per request, each holding exactly its request and its response,
# nothing else and nothing of another thread's exchange.
name=rec-python-server
. tests/cli/proc.inc
. tests/cli/preload.inc
py=/usr/bin/python3

mkdir "$T/www" "$T/rec"
$py - "$T/www" <<'PY'
import sys
d = sys.argv[1]
open(d + "/empty.txt", "wb").close()
open(d + "/small.txt", "wb").write(b"seventeen bytes.\n")
open(d + "/page.html", "wb").write((b"<p>koala \xc3\xa9t\xc3\xa9 \\x41</p>\n" * 200)[:4096])
open(d + "/big.bin", "wb").write(bytes((i * 31 + i // 256) % 256 for i in range(300001)))
PY

# A background job of a non-interactive shell starts with SIGINT ignored; Python then never
# turns it into KeyboardInterrupt, which is what stops http.server cleanly.
env --default-signal=INT LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    PYTHONUNBUFFERED=1 $py -m http.server --bind 127.0.0.1 --directory "$T/www" 0 \
    >"$T/srv.out" 2>"$T/srv.err" &
srv=$!
pids="$pids $srv"
port=$(http_server_port "$T/srv.out" "$T/srv.err") || exit 2

echo "# 4 threads x 25 requests, one connection each"
timeout 30 $py - "$port" "$T/exchanges.json" <<'PY' || fail "the client failed"
import collections, json, socket, sys, threading
sys.path.insert(0, "tests/cli")
from rec_lib import recv_all
port, out = int(sys.argv[1]), sys.argv[2]
paths = ["empty.txt", "small.txt", "page.html", "big.bin", None]
done = []
lock = threading.Lock()
def client(t):
    for i in range(25):
        path = paths[(t * 25 + i) % len(paths)] or "missing-%d-%d" % (t, i)
        req = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Client: %d-%d\r\nConnection: close\r\n\r\n" % (
            path.encode(), t, i)
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(req)
            resp = recv_all(c)
        with lock:
            done.append((req.hex(), resp.hex()))
threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
for th in threads:
    th.start()
for th in threads:
    th.join()
json.dump(done, open(out, "w"))
status = collections.Counter(bytes.fromhex(r)[9:12].decode() for _, r in done)
print("client: %d requests, %s" % (len(done), ", ".join("%d x %s" % (n, s) for s, n in sorted(status.items()))))
PY
kill -INT "$srv"
exit_status "$srv"
# As without the recorder: Python's own SIGINT handler ran.
grep '^Keyboard interrupt received' "$T/srv.out"
grep -E 'ERROR|WARN|FATAL|Traceback|AddressSanitizer|runtime error' "$T/srv.err"
sed -n 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO \(stopped by a signal: \)*\([0-9]* sessions written, [0-9]* dropped\).*/server: \2/p' "$T/srv.err"

echo "# the recording"
koala-dump --json --extra "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
$py - "$T/json" "$T/exchanges.json" <<'PY'
import collections, json, sys
sys.path.insert(0, "tests/cli")
from rec_lib import sessions, unescape

ss = sessions(sys.argv[1])
exchanges = [(bytes.fromhex(q), bytes.fromhex(a)) for q, a in json.load(open(sys.argv[2]))]
print("sessions:", len(ss), "requests:", len(exchanges))
by_request = collections.defaultdict(list)
for s in ss:
    by_request[unescape(s["CallFromInbound"]["Request"])].append(s)
tally = collections.Counter()
for q, a in exchanges:
    path = q.split(b" ")[1].decode()
    kind = path if not path.startswith("/missing-") else "/missing-*"
    found = by_request.pop(q, [])
    if len(found) != 1:
        tally[kind, "%d sessions with its request" % len(found)] += 1
        continue
    s = found[0]
    resp = unescape(s["ReturnInbound"]["Response"])
    extra = [x["ActionType"] for x in s["Actions"] if x["ActionType"] != "ReturnInbound"]
    if resp != a:
        tally[kind, "response DIFFERENT"] += 1
    elif extra:
        tally[kind, "other actions %s" % extra] += 1
    else:
        tally[kind, "request and response same, no other action"] += 1
for (kind, what), n in sorted(tally.items()):
    print("%-12s %3d: %s" % (kind, n, what))
print("sessions with no request of the client:", sum(len(v) for v in by_request.values()))
print("one process:", "yes" if len({s["Pid"] for s in ss}) == 1 else "NO")
PY
