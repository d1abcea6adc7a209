# The replayer's inbound server speaks the original koala's protocol too: a POST to /json with a
# ReplayingSession in standard JSON (bytes in base64), built here by hand, answered with the
# original ReplayedSession JSON. The service (rp_svc.py) logs in to a server that speaks
# first, which the session's CallOutbounds answer; a MockFiles entry is read by the service;
# malformed sessions get 400 and the JSON path at fault.
name=rp-json
. tests/cli/proc.inc
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
read -r sp ip gp op ep up <<EOF
$(free_ports 6)
EOF
RP_GREET_PORT=$gp RP_ECHO_PORT=$ep RP_UDP_PORT=$up LD_PRELOAD="$preload" \
    KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" KOALA_OUTBOUND_ADDR=":$op" \
    "$py" tests/cli/rp_svc.py "$sp" >"$T/svc.out" 2>"$T/svc.err" &
pids="$pids $!"
replayer_up "$T/svc.err" "$ip"
"$py" - "$ip" "$gp" <<'PY'
import base64, json, sys
sys.path.insert(0, "tests/cli")
from rec_lib import post_session
ip, gp = sys.argv[1], int(sys.argv[2])
b64 = lambda b: base64.b64encode(b).decode()

def post(body):
    return post_session(ip, body, "/json")

def session(path, calls=(), mocks=None):
    peer = {"IP": "127.0.0.1", "Port": gp, "Zone": ""}
    return {"SessionId": "1795336763808267798-77",
            "CallFromInbound": {"OccurredAt": 1795336763808267798, "ActionIndex": 0,
                                "Peer": {"IP": "10.0.0.9", "Port": 51000, "Zone": ""},
                                "Request": b64(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)},
            "ReturnInbound": {"Response": b64(b"HTTP/1.0 200 OK\r\n\r\nrecorded")},
            "CallOutbounds": [{"ActionIndex": i + 1, "OccurredAt": 1795336763808267800 + i, "Peer": peer,
                               "SocketFD": 9, "Request": b64(q), "Response": b64(a), "ResponseTime": 0}
                              for i, (q, a) in enumerate(calls)],
            "RedirectDirs": None, "MockFiles": mocks}

def show(title, s):
    status, ctype, body = post(json.dumps(s).encode())
    print("%s: HTTP %d %s" % (title, status, ctype))
    if status != 200:
        print("  " + body.decode().strip())
        return
    r = json.loads(body)
    resp = r["ReturnInbound"]["Response"]
    print("  SessionId:", r["SessionId"], "OriginalRequestTime:", r["CallFromInbound"]["OriginalRequestTime"])
    print("  the service answered:", resp.split("\r\n")[0], "... body", repr(resp.split("\r\n\r\n", 1)[-1]))
    for a in r["Actions"] or []:
        if a["ActionType"] == "CallOutbound":
            print("  CallOutbound", repr(a["Request"]), "MatchedActionIndex", a["MatchedActionIndex"],
                  "MatchedResponse", repr(a["MatchedResponse"]))

show("a greeting and a login", session(b"/greet", [(b"", b"HELLO v9\n"), (b"LOGIN koala\n", b"WELCOME json\n")]))
show("a mock file", session(b"/file?/etc/koala-json.conf", mocks={"/etc/koala-json.conf": b64(b"from /json")}))
s = session(b"/greet", [(b"", b"HELLO v9\n")])
s["CallOutbounds"][0]["Request"] = "!!!="
show("bad base64", s)
s = session(b"/greet")
s["CallFromInbound"]["OccurredAt"] = "soon"
show("a wrong type", s)
status, _, body = post(b'{"SessionId": "x", ')
print("not JSON: HTTP %d: %s" % (status, body.decode().strip()))
PY
