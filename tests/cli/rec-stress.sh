# The recorder under load: sample-svc (8 worker threads, Redis, backend, log file) under
# LD_PRELOAD answers `sample-client -t 8 -n 1000` (8 keep-alive connections, GET /user/N and
# POST /order mixed); SIGTERM. Nothing may be lost (one session per request, none dropped),
# no session may hold another's bytes (each response, Redis call, backend call and log line
# names the user, visit count and order number of its own request), and the service must hold
# no more fds after the load than before, besides its kept-alive Redis and backend connections
# and the recording file.
# Needs redis-server.
name=rec-stress
. tests/cli/svc-env.inc
. tests/cli/preload.inc
py=/usr/bin/python3

mkdir "$T/rec"
# The witch is off: its socket, epoll and eventfd would come with the first request.
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=off \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 8 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2

# Every fd of the service, one line each: what it links to, a socket as "tcp REMOTE-PORT"
# (0 when listening) or its kind; `redis`, `backend` and `recording` for those three kinds.
fds() {
    $py - "$svc" "$rp" "$bp" "$T/rec" <<'PY'
import os, sys
pid, rp, bp, rec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
remote = {}
for table in ("tcp", "tcp6", "udp", "udp6", "unix"):
    try:
        lines = open("/proc/%s/net/%s" % (pid, table)).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        if table == "unix":
            remote[f[6]] = "unix"
        else:
            remote[f[9]] = "%s %d" % (table, int(f[2].split(":")[1], 16))
for fd in sorted(os.listdir("/proc/%s/fd" % pid), key=int):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        link = remote.get(link[8:-1], "socket")
        link = {"tcp %d" % rp: "redis", "tcp %d" % bp: "backend"}.get(link, link)
    elif link.startswith(rec + "/"):
        link = "recording"
    print(link)
PY
}
fds >"$T/fds.before"

echo "# 8 threads x 1000 keep-alive requests under the recorder"
timeout 45 sample-client --to "127.0.0.1:$sp" -t 8 -n 1000 >"$T/client.out" 2>"$T/client.err"
echo "exit $?"
cat "$T/client.out"
# The workers close their inbound connections once they see the client's end.
# (When they have not within 10 s, the comparison below says how many are left.)
fds_as_before() {
    fds >"$T/fds.after" && [ "$(grep -cvE '^(redis|backend|recording)$' "$T/fds.after")" -le "$(wc -l <"$T/fds.before")" ]
}
wait_until fds_as_before
$py - "$T/fds.before" "$T/fds.after" <<'PY'
import collections, sys
before = open(sys.argv[1]).read().split("\n")[:-1]
after = open(sys.argv[2]).read().split("\n")[:-1]
kept = collections.Counter(l for l in after if l in ("redis", "backend", "recording"))
rest = [l for l in after if l not in kept]
# The count inherited from the caller varies (a terminal, CI), so only the difference is printed.
print("fds after the load: %s, plus %d Redis and %d backend connections and %d recording file" % (
    "as many as before" if len(rest) == len(before) else "%d others where there were %d" % (len(rest), len(before)),
    kept["redis"], kept["backend"], kept["recording"]))
print("the others as before:", "yes" if sorted(rest) == sorted(before) else "NO: %s -> %s" % (before, rest))
PY
kill -TERM "$svc"
exit_status "$svc"
grep -v '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO ' "$T/svc.err"
sed -n 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO \([0-9]* sessions written, [0-9]* dropped\).*/\1/p' "$T/svc.err"

echo "# what the recording holds"
koala-dump --json "$T"/rec/*.pb >"$T/json" || fail "koala-dump failed"
$py - "$T/json" "127.0.0.1:$sp" "$rp" "$bp" <<'PY'
import collections, json, re, sys
sys.path.insert(0, "tests/cli")
from rec_lib import head_body, http_messages, sessions, unescape

path, to, rp, bp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def request(k):
    """The client's k-th request of the load mix (samples/svc/client.c, mix and build_request)."""
    j = k // 2
    user, item, qty = j % 10 + 1, ["book", "pen", "lamp", "mug"][j % 4], j % 3 + 1
    head = b"%s %s HTTP/1.1\r\nHost: " + to.encode() + b"\r\nUser-Agent: sample-client/1\r\nAccept: application/json\r\n"
    if k % 2 == 0:
        return head % (b"GET", b"/user/%d" % user) + b"\r\n"
    body = b'{"user":%d,"item":"%s","qty":%d}' % (user, item.encode(), qty)
    return head % (b"POST", b"/order") + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body

def resp_args(req):
    return [x.decode() for x in req.split(b"\r\n")[2::2]]

def body_of(resp):
    """The body of a backend answer, chunked or not."""
    head, body = head_body(resp)
    if b"chunked" not in head.lower():
        return body
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        size = int(size, 16)
        if size == 0:
            return out
        out += rest[:size]
        body = rest[size + 2:]

def check(s, visits, orders):
    """None when the session is one request of the load, answered consistently; else why not."""
    req = unescape(s["CallFromInbound"]["Request"])
    resp = unescape(s["ReturnInbound"]["Response"])
    msgs = http_messages(resp)
    if len(msgs) != 1 or msgs[0] != resp:
        return "response is not one HTTP message"
    head, body = head_body(resp)
    status = head.split(b" ")[1]
    try:
        js = json.loads(body)
    except ValueError:
        return "response body is not JSON"
    acts = s["Actions"]
    kinds = [a["ActionType"] for a in acts]
    if kinds != ["CallOutbound", "CallOutbound", "CallOutbound", "AppendFile", "ReturnInbound"]:
        return "actions %s" % kinds
    r1, b1, r2 = acts[0], acts[1], acts[2]
    if [a["Peer"]["Port"] for a in acts[:3]] != [rp, bp, rp]:
        return "calls to the wrong peers"
    line = re.sub(r"^[0-9-]+T[0-9:.]+Z ", "", unescape(acts[3]["Content"]).decode())
    q1, a1 = unescape(r1["Request"]), unescape(r1["Response"]).decode()
    q2, a2 = unescape(r2["Request"]), unescape(r2["Response"]).decode()
    bq, ba = unescape(b1["Request"]), unescape(b1["Response"])
    back = json.loads(body_of(ba))
    if req.startswith(b"GET "):
        user = int(req.split(b" ")[1].split(b"/")[2])
        v = js.get("visits")
        if status != b"200" or js.get("id") != user or js.get("name") != "user-%d" % user:
            return "response is not about user %d" % user
        if resp_args(q1) != ["INCR", "visits:user:%d" % user] or a1 != ":%d\r\n" % v:
            return "Redis INCR is not about user %d visit %s" % (user, v)
        if bq.split(b"\r\n")[0] != b"GET /profile/%d HTTP/1.1" % user or back.get("id") != user:
            return "backend call is not about user %d" % user
        if resp_args(q2) != ["GET", "last-order:user:%d" % user]:
            return "Redis GET is not about user %d" % user
        last = a2.split("\r\n")
        if (js["last_order"] is None) != (last[0] == "$-1") or (js["last_order"] is not None and str(js["last_order"]) != last[1]):
            return "last_order is not what Redis answered"
        if line != "GET /user/%d 200 visits=%d\n" % (user, v):
            return "log line %r" % line
        visits[user].append(v)
    else:
        q = json.loads(head_body(req)[1])
        o, price = js.get("order"), back.get("price")
        if status != b"201" or [js.get(k) for k in ("user", "item", "qty")] != [q["user"], q["item"], q["qty"]]:
            return "response is not about the order asked"
        if resp_args(q1) != ["INCR", "orders:seq"] or a1 != ":%d\r\n" % o:
            return "Redis INCR is not order %s" % o
        if bq.split(b"\r\n")[0] != b"GET /price/%s HTTP/1.1" % q["item"].encode() or back.get("item") != q["item"]:
            return "backend call is not about item %s" % q["item"]
        if js.get("price") != price or js.get("total") != price * q["qty"]:
            return "price or total is not the backend's"
        if resp_args(q2) != ["SET", "last-order:user:%d" % q["user"], str(o)] or a2 != "+OK\r\n":
            return "Redis SET is not order %s of user %d" % (o, q["user"])
        if line != "POST /order 201 order=%d total=%d\n" % (o, price * q["qty"]):
            return "log line %r" % line
        orders.append(o)
    return None

ss = sessions(path)
want = collections.Counter(request(t * 1000 + i) for t in range(8) for i in range(1000))
got = collections.Counter(unescape(s["CallFromInbound"]["Request"]) for s in ss)
print("sessions:", len(ss))
print("requests exactly those the client sent, each once:", "yes" if got == want else
      "NO: %d missing, %d not sent" % (sum((want - got).values()), sum((got - want).values())))
visits, orders = collections.defaultdict(list), []
bad = collections.Counter()
for s in ss:
    why = check(s, visits, orders)
    if why:
        if sum(bad.values()) < 5:
            print("session", s["SessionId"], why, file=sys.stderr)
        bad[re.sub(r"[0-9]+", "N", why)] += 1
print("sessions consistent with their request:", "all" if not bad else "%d not: %s" % (sum(bad.values()), dict(bad)))
print("visit counts of each user: 1, 2, 3... each once:",
      "yes" if visits and all(sorted(v) == list(range(1, len(v) + 1)) for v in visits.values()) else "NO")
print("order numbers: 1, 2, 3... each once:", "yes" if orders and sorted(orders) == list(range(1, len(orders) + 1)) else "NO")
PY
