# koala-replay's HTTP client against a stand-in inbound server (replay_fake.py) that answers
# each session its own way: chunked, an interim 100, a connection closed while kept alive
# (retried on a new one), Connection: close, HTTP/1.0 until the close, and the failures: errors
# in the replayed session, a 503, bytes that are no ReplayedSession, a hang-up, no answer
# within --timeout. One session at a time, so the order of the plan is the order of the file.
name=replay-http
. tests/cli/proc.inc
py=/usr/bin/python3

koala-dump -c 14 -w "$T/in.pb" samples/mixed.pb || fail "koala-dump -w failed"
$py tests/cli/replay_fake.py \
    chunked,calls,continue,error,errors,503,garbage,close-after,ok,conn-close,http10,hangup,slow,ok \
    "$T/log" >"$T/fake.out" 2>"$T/fake.err" &
pids="$pids $!"
port=$(port_of "$T/fake.out")

koala-replay --to ":$port" --timeout 1s -o "$T/out.pb" "$T/in.pb" 2>"$T/err"
echo "exit $?"
sed -e "s/127\.0\.0\.1:$port/ADDR/" -e 's/ in [0-9.]* s ([0-9.]* sessions\/s)$/ in T s (R sessions\/s)/' "$T/err"
echo "# what the server saw: connections kept alive until closed, a retry on a new one"
cat "$T/log"
echo "# the output, in input order, one replayed session per session"
koala-dump "$T/out.pb"
echo "sessions in: $(koala-dump --count "$T/in.pb"), out: $(koala-dump --count "$T/out.pb")"
echo "# a failed session keeps its recorded request and response, and says why"
koala-dump --json --extra "$T/out.pb" | sed -n 6p | $py -c '
import json, sys
r = json.load(sys.stdin)
print(r["SessionId"], "request", len(r["CallFromInbound"]["OriginalRequest"]) > 0,
      "response", len(r["ReturnInbound"]["OriginalResponse"]) > 0,
      "replayed", repr(r["ReturnInbound"]["Response"]), r["Errors"])'
