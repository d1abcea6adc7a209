# The replayer beyond the sample service, on a small Python service (rp_svc.py) recorded with
# its real dependencies, then replayed without them:
# - a server that speaks first: its greeting is sent from the recording, then the login matched;
# - a bypassed port (KOALA_OUTBOUND_BYPASS_PORT): left alone, the real echo server answers;
# - the wall clock reads as at recording time;
# - a datagram is kept in the replayed session and never sent; call-function and
#   return-function helper messages become actions, and one whose payload is not an action
#   gets a WARN naming the member at fault (once per replay of /fn);
# - every connection's thread delegates to a virtual thread (set-delegated-from-thread-id), and
#   a worker thread delegating to the same one makes its calls for the request's session;
# - a request the service never made at recording time (another login): it matches nothing,
#   the connection is closed, the replayed session says so and nothing reaches the real server;
# - a session's mock_files and redirect_dirs change what open() reads.
name=rp-python-svc
. tests/cli/proc.inc
. tests/cli/preload.inc
recorder=$preload
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script

# The dependencies: a server that speaks first, an echo server and a datagram sink, each
# logging what reaches it, one line per connection or datagram.
"$py" - "$T" >"$T/deps.out" 2>&1 <<'PY' &
import socket, sys, threading
T = sys.argv[1]

def log(name, what):
    with open("%s/%s.log" % (T, name), "a") as f:
        f.write(what + "\n")

def serve(name, talk):
    s = socket.create_server(("127.0.0.1", 0))
    def loop():
        while True:
            c, _ = s.accept()
            with c:
                f = c.makefile("rb")
                talk(c, f)
    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1]

def greet(c, f):
    c.sendall(b"HELLO v1\n")
    who = f.readline().strip()
    log("greet", "connection, " + who.decode())
    c.sendall(b"WELCOME " + who.split(b" ")[-1] + b"\n")

def echo(c, f):
    line = f.readline()
    log("echo", "connection")
    c.sendall(line)

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
print(serve("greet", greet), serve("echo", echo), udp.getsockname()[1], flush=True)
while True:
    log("udp", udp.recv(2048).decode())
PY
pids="$pids $!"
wait_until [ -s "$T/deps.out" ] || fail "the dependencies did not start: $(cat "$T/deps.out")"
read -r gp ep up <"$T/deps.out"
export RP_GREET_PORT=$gp RP_ECHO_PORT=$ep RP_UDP_PORT=$up

get() { # port, paths: one connection each
    "$py" - "$@" <<'PY'
import sys, urllib.request
for p in sys.argv[2:]:
    with urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], p), timeout=10) as r:
        r.read()
PY
}
# Starts rp_svc.py with LD_PRELOAD=$1 and the environment given after it; sets svc and sp.
start_svc() {
    lib=$1
    shift
    env LD_PRELOAD="$lib" "$@" "$py" tests/cli/rp_svc.py "${sp:-0}" >"$T/svc.out" 2>>"$T/svc.err" &
    svc=$!
    pids="$pids $svc"
    sp=$(port_of "$T/svc.out") || exit 2
}

echo "# recording"
mkdir "$T/rec"
start_svc "$recorder" KOALA_RECORD_TO_DIR="$T/rec"
get "$sp" /greet /bypass /time /udp /fn /worker || fail "a request failed while recording"
kill -TERM "$svc"
exit_status "$svc"
cat "$T/greet.log" "$T/echo.log" "$T/udp.log"
: >"$T/greet.log"
: >"$T/echo.log"
: >"$T/udp.log"
sleep 1.2 # so that a clock left alone would show

# Starts rp_svc.py under the replayer with the environment given; its inbound server's port in ip.
replayer() {
    read -r sp ip op <<EOF
$(free_ports 3)
EOF
    : >"$T/svc.out"
    start_svc "$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" \
        KOALA_OUTBOUND_ADDR=":$op" KOALA_OUTBOUND_BYPASS_PORT="$ep" "$@"
    replayer_up "$T/svc.err" "$ip"
}

echo "# replaying"
replayer
koala-replay --to "127.0.0.1:$ip" -o "$T/replayed.pb" "$T"/rec/*.pb 2>"$T/replay.err"
echo "koala-replay: exit $?"
grep -o 'outbound calls: .*' "$T/replay.err"
echo "# replaying, the service logging in as another user"
kill -TERM "$svc"
replayer RP_LOGIN=other
koala-replay --to "127.0.0.1:$ip" -o "$T/other.pb" "$T"/rec/*.pb 2>"$T/other.err"
echo "koala-replay: exit $?"
grep -o 'outbound calls: .*' "$T/other.err"

echo "# sessions of our own, with mock_files and redirect_dirs"
mkdir "$T/data"
echo "from the redirected directory" >"$T/data/a.txt"
"$py" - "$ip" "$T" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import pb_fields, pb_session, post_session

ip, T = sys.argv[1], sys.argv[2]
def body_of(path, **kw):
    req = b"GET /file?" + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _, answer = post_session(ip, pb_session("1795336763808267798-1", req, b"", **kw))
    resp = pb_fields(answer).get(5, [b""])[0]
    return status, resp.split(b"\r\n\r\n", 1)[-1].decode().strip()
print("mock file:", *body_of(b"/etc/koala-mock.conf", mock_files=[(b"/etc/koala-mock.conf", b"mocked")]))
print("no mock file:", *body_of(b"/etc/koala-mock.conf"))
print("redirected dir:", *body_of(b"/koala-data/a.txt",
                                  redirect_dirs=[(b"/koala-data/", T.encode() + b"/data/")]))
PY
kill -TERM "$svc"
exit_status "$svc"
grep -E ' (WARN|ERROR) ' "$T/svc.err" | sed 's/^[^ ]* koala\[[0-9]*\] //'
echo "# what reached the real servers while replaying (the echo server is bypassed)"
cat "$T/greet.log" "$T/echo.log" "$T/udp.log"

koala-dump --json "$T/replayed.pb" >"$T/replayed.json" || fail "koala-dump cannot read $T/replayed.pb"
koala-dump --json "$T/other.pb" >"$T/other.json" || fail "koala-dump cannot read $T/other.pb"
"$py" - "$T/replayed.json" "$T/other.json" <<'PY'
import json, sys
sys.path.insert(0, "tests/cli")
from rec_lib import same_answer, sessions, unescape

def path(s):
    return unescape(s["CallFromInbound"]["OriginalRequest"]).split(b" ")[1].decode()

def body(resp):
    return unescape(resp).split(b"\r\n\r\n", 1)[-1].decode()

def calls(s):
    out = []
    for a in s["Actions"] or []:
        if a["ActionType"] == "CallOutbound":
            out.append("%r matched %d" % (unescape(a["Request"]).decode(), a["MatchedActionIndex"]))
        else:
            out.append(a["ActionType"] + " " + ", ".join("%s=%s" % (k, json.dumps(a[k])) for k in
                       ("Content", "FuncName", "Args", "CallFunctionId", "ReturnValue") if k in a))
    return out

for name in sys.argv[1:]:
    print("#", "another login" if "other" in name else "as recorded")
    for s in sorted(sessions(name), key=lambda s: s["CallFromInbound"]["OriginalRequestTime"]):
        ret = s["ReturnInbound"]
        p = path(s)
        if p == "/time":
            drift = float(body(ret["Response"])) - float(body(ret["OriginalResponse"]))
            same = "clock as recorded" if abs(drift) < 0.05 else "clock %.3f s off" % drift
        else:
            same = ("identical" if same_answer(unescape(ret["Response"]), unescape(ret["OriginalResponse"]))
                    else "now %r" % body(ret["Response"]))
        print(p, "response", same)
        for c in calls(s):
            print("   ", c)
PY
