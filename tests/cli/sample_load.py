"""sample_load.py - checks a recording of sample-client's load on sample-svc (rec-stress.sh,
rec-starved.sh): one session per request the client sent, each consistent with its own request
(its Redis calls, backend call and log line name its user, visit count and order number).

    sample_load.py DUMP.json SVC_HOST:PORT REDIS_PORT BACKEND_PORT THREADS REQUESTS_PER_THREAD [OTHER]

DUMP.json is `koala-dump --json` of the recording. Prints what it found, a line per check.
Sessions whose request starts with OTHER (requests sent besides the load) are left out."""
import collections, json, os, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rec_lib import head_body, http_messages, sessions, unescape

path, to, rp, bp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
threads, per_thread = int(sys.argv[5]), int(sys.argv[6])
other = sys.argv[7].encode() if len(sys.argv) > 7 else None

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

ss = [s for s in sessions(path) if not (other and unescape(s["CallFromInbound"]["Request"]).startswith(other))]
want = collections.Counter(request(t * per_thread + i) for t in range(threads) for i in range(per_thread))
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
