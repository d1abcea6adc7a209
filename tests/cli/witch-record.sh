# The witch inside a recorded service: Debian's `python3 -m http.server` runs under the
# recorder with KOALA_WITCH_ADDR on a free port, and every endpoint is fetched with curl while
# it serves: /witch/state (a request left half sent shows its thread, its socket and its
# session in progress; the counters, the writer's file and the configuration), /witch/events
# (the log, a long poll answered by the next event), /witch/sessions (a line per request, one
# in full). A second recorded process finds the port taken, says so at DEBUG and goes on. The
# witch's own connections are never recorded.
name=witch-record
. tests/cli/proc.inc
. tests/cli/preload.inc
py=/usr/bin/python3
mkdir "$T/www" "$T/rec"
printf 'seventeen bytes.\n' >"$T/www/a.txt"
wp=$(free_ports)
# A recorded process of the service, its output in $T/$1.out and $T/$1.err.
service() {
    exec env LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" KOALA_LOG_LEVEL=DEBUG \
        KOALA_WITCH_ADDR=":$wp" PYTHONUNBUFFERED=1 \
        $py -m http.server --bind 127.0.0.1 --directory "$T/www" 0 >"$T/$1.out" 2>"$T/$1.err"
}
service srv &
srv=$!
pids="$pids $srv"
port=$(http_server_port "$T/srv.out" "$T/srv.err") || exit 2
# A second process of the service, on the same witch address.
service srv2 &
pids="$pids $!"

echo "# three requests"
for i in 1 2 3; do
    curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/a.txt?$i" || fail "curl failed"
done
w="http://127.0.0.1:$wp/witch"
wait_until url_has "$w/state" '"sessions_written":3,' ||
    fail "the witch does not show 3 sessions written: $(curl -s "$w/state")"

$py - "$w" "$port" "$srv" "$T" "$wp" <<'PY' || fail "the checks failed"
import json, re, socket, subprocess, sys, threading, time
sys.path.insert(0, "tests/cli")
from rec_lib import poll_until, recv_all
w, port, pid, tmp, wp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def curl(path, *args):
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code} %{content_type}", *args, w + path],
                         capture_output=True, check=True, timeout=30).stdout.decode()
    body, _, status = out.rpartition("\n")
    return body, status

def get(path):
    body, status = curl(path)
    assert status.startswith("200 application/json"), (path, status, body)
    return json.loads(body)

print("# /witch/state, a request half sent")
c = socket.create_connection(("127.0.0.1", port))
half = b"GET /a.txt?half HTTP/1.1\r\nHost: x\r\n"
c.sendall(half)
me = "127.0.0.1:%d" % c.getsockname()[1]
mine = lambda st: [s for s in st["sockets"] if s["peer"] == me]
st = poll_until(lambda: get("/state"), lambda st: mine(st) and mine(st)[0]["bytes_in"] == len(half))
socks = mine(st)
print("pid is the service's:", st["pid"] == pid, "program:", st["program"], "recording:", st["recording"],
      "replaying:", st["replaying"])
s = socks[0]
print("its socket: role", s["role"], "local", s["local"] == "127.0.0.1:%d" % port, "bytes in", s["bytes_in"],
      "out", s["bytes_out"])
prog = [p for p in st["sessions_in_progress"] if p["peer"] == me]
p = prog[0]
print("its session in progress: for", p["for"], "request bytes", p["request_bytes"], "answered", p["answered"],
      "id", re.fullmatch(r"\d{19}-%d" % p["thread"], p["id"]) is not None)
th = [t for t in st["threads"] if t["id"] == p["thread"]]
print("its thread: session", th[0]["session"] == p["id"], "last access in the last minute:",
      0 < st["time"] - th[0]["last_access"] < 60e9)
print("koala's own file:", [x["role"] for x in st["sockets"] if x["role"] == "koala"][:1])
print("writer: running", st["writer"]["running"], "file",
      re.sub(r"-%d-\d+\.pb$" % pid, "-PID-STARTMS.pb", st["writer"]["file"].replace(tmp, "$T")))
k = st["counters"]
print("counters: written", k["sessions_written"], "dropped", k["sessions_dropped"], "built", k["sessions_built"],
      "bytes written > 0:", k["bytes_written"] > 0, "files", k["files"], "replayed", k["sessions_replayed"])
cfg = st["config"]
print("config: KOALA_RECORD_TO_DIR", cfg["KOALA_RECORD_TO_DIR"].replace(tmp, "$T"), "KOALA_LOG_LEVEL",
      cfg["KOALA_LOG_LEVEL"], "KOALA_WITCH_ADDR", cfg["KOALA_WITCH_ADDR"] == "127.0.0.1:" + wp,
      "KOALA_MAX_ACTIONS", cfg["KOALA_MAX_ACTIONS"])
c.sendall(b"\r\n")
answer = recv_all(c)
c.close()
print("the half-sent request answered:", answer.split(b"\r\n")[0].decode())

print("# /witch/events")
ev = get("/events?wait=0")
texts = [e["text"] for e in ev["events"]]
print("the witch's start:", any(t == "witch: koala's log and state at http://127.0.0.1:%s/witch/" % wp for t in texts))
print("the recording's file:", any(t.startswith("recording to %s/rec/python3-%d-" % (tmp, pid)) for t in texts))
print("each connection:", sum("inbound connection from 127.0.0.1:" in t for t in texts), "events;",
      "levels:", sorted({e["level"] for e in ev["events"]}), "threads:",
      all(isinstance(e["thread"], int) and e["thread"] > 0 for e in ev["events"]))
print("in order:", [e["seq"] for e in ev["events"]] == list(range(1, len(texts) + 1)), "next is the last:",
      ev["next"] == ev["events"][-1]["seq"], "lost", ev["lost"], "more", ev["more"])
start = time.time()
later = {}
def poll():
    later.update(get("/events?since=%d&wait=20" % ev["next"]))
t = threading.Thread(target=poll)
t.start()
time.sleep(1)
c = socket.create_connection(("127.0.0.1", port))
me = "127.0.0.1:%d" % c.getsockname()[1]
c.sendall(b"GET /a.txt?polled HTTP/1.1\r\nHost: x\r\n\r\n")
recv_all(c)
c.close()
t.join()
print("a long poll answered by the next event:", "inbound connection from " + me in later["events"][0]["text"],
      "after 1 to 10 s:", 1 <= time.time() - start < 10, "its seq follows:", later["events"][0]["seq"] == ev["next"] + 1)
body, status = curl("/events?since=%d&wait=1" % (later["next"] + 1000))
quiet = json.loads(body)
print("a since from another process:", quiet["next"] <= later["next"] + 1)

print("# /witch/sessions")
ss = poll_until(lambda: get("/sessions"), lambda ss: ss["kept"] == 5)
print("kept", ss["kept"], "of", ss["max"])
for line in ss["sessions"]:
    print(" ", line["n"], line["kind"], line["request"], "->", line["response"], "bytes", line["request_bytes"],
          line["response_bytes"], "calls", line["calls"], "summary names it:", line["id"] in line["summary"])
one = ss["sessions"][-1]
full = get("/sessions?n=%d" % one["n"])
s = full["session"]
print("session %d in full:" % one["n"], full["kind"], s["SessionId"] == one["id"], s["CallFromInbound"]["Request"].split("\r\n")[0],
      s["ReturnInbound"]["Response"].endswith("seventeen bytes.\n"), "pid", s["Pid"] == pid)
print("by id:", get("/sessions?id=" + one["id"])["n"] == one["n"])
body, status = curl("/sessions?id=nope")
print("an unknown id:", status.split()[0], json.loads(body)["error"])

print("# anything else")
print("another path:", curl("/nope")[1].split()[0], "POST:", curl("/state", "-X", "POST")[1].split()[0],
      "another site's name:", curl("/state", "-H", "Host: koala.example.com:" + wp)[1].split()[0])
PY

echo "# the second process"
port2=$(http_server_port "$T/srv2.out" "$T/srv2.err") || exit 2
curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port2/a.txt"
wait_until grep -q 'witch: .* is taken' "$T/srv2.err" ||
    fail "the second process did not say the port is taken: $(cat "$T/srv2.err")"
sed -n "s/.* DEBUG \(witch: .*\)/\1/p" "$T/srv2.err" | sed "s/:$wp /:PORT /"
echo "the witch is still the first process's: $(curl -s "$w/state" | python3 -c "import json,sys; print(json.load(sys.stdin)['pid'] == $srv)")"

kill "$srv"
exit_status "$srv"
grep -E 'ERROR|WARN|FATAL|Traceback|AddressSanitizer|runtime error' "$T/srv.err" "$T/srv2.err"
echo "# the recording: the service's requests only"
koala-dump --json "$T"/rec/python3-"$srv"-*.pb | python3 -c '
import json, sys
for line in sys.stdin:
    s = json.loads(line)
    print(" ", s["CallFromInbound"]["Request"].split("\r\n")[0])'
