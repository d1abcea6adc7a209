# The recorder in a server that forks a child per connection, each ending with os._exit()
# (Python's socketserver.ForkingMixIn), which runs no exit handler: every child writes its
# session, in a file of its own, before it is gone.
name=rec-python-fork
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
# The witch off: it starts with the first connection, and a sanitizer build's child forked while
# the witch's thread allocates can inherit the sanitizer's allocator locked (glibc's is not).
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_WITCH_ADDR=off KOALA_RECORD_TO_DIR="$T/rec" \
    /usr/bin/python3 -c '
import http.server, socketserver
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + self.path + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    pass
s = Server(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
' >"$T/out" 2>"$T/err" &
pid=$!
pids="$pids $pid"
port=$(port_of "$T/out") || exit 2
for p in a b c; do
    curl -s --max-time 10 "http://127.0.0.1:$port/$p"
done
# each child's file, once it is whole: the children are gone and wrote their summary
children_done() {
    [ "$(grep -c ' INFO _exit() called: 1 sessions written' "$T/err")" = 3 ]
}
wait_until children_done ||
    fail "the children did not all write their session: $(cat "$T/err")"
kill -TERM $pid
wait $pid
echo "server: exit $? (SIGTERM is 143)"
ls "$T/rec" | wc -l | sed 's/$/ files/'
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 -c '
import json, sys
lines = []
for l in sys.stdin:
    s = json.loads(l)
    req, resp = s["CallFromInbound"]["Request"], s["ReturnInbound"]["Response"]
    lines.append("session: %s -> %s" % (req.split(" ")[1], repr(resp.split("\r\n\r\n", 1)[1])))
print("\n".join(sorted(lines)))
'
