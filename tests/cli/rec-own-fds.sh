# A service that closes every fd it did not open (closerange, a close() loop) and later points
# every fd it does not know at /dev/null with dup2, as daemons do: koala's log and session file
# survive it, no koala byte reaches the service's files or sockets, and nothing is lost. The
# witch, whose sockets libmicrohttpd holds, sees its fds replaced and stops, leaving them alone.
name=rec-own-fds
. tests/cli/proc.inc
. tests/cli/preload.inc

cat >"$T/svc.py" <<'PY'
import os, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

os.closerange(3, 65536)            # close_range()
for fd in range(3, 4096):          # close(), one by one
    try:
        os.close(fd)
    except OSError:
        pass

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/detach":
            mine = {self.server.fileno(), self.connection.fileno()}
            null = os.open(os.devnull, os.O_WRONLY)
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                if fd > 2 and fd not in mine and fd != null:
                    try:
                        os.dup2(null, fd)
                    except OSError:
                        pass
            os.close(null)
        body = b"ok " + self.path.encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_port, flush=True)
server.serve_forever()
PY
wp=$(free_ports)
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" KOALA_WITCH_ADDR=":$wp" \
    KOALA_LOG_FILE="$T/koala.log" /usr/bin/python3 "$T/svc.py" >"$T/svc.out" 2>"$T/svc.err" &
pid=$!
pids="$pids $pid"
port=$(port_of "$T/svc.out") || exit 2
for path in /one /two /detach /three /four; do
    timeout 10 curl -s "http://127.0.0.1:$port$path" || fail "curl $path failed"
done
wait_until grep -q 'WARN witch: .* it stops' "$T/koala.log" || fail "the witch did not stop: $(cat "$T/koala.log")"
kill -TERM $pid
wait $pid
echo "service: exit $? (SIGTERM is 143)"
echo "# koala's log: the witch's lines (its thread's, in any order with the others)"
sed -n "s|^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] \([A-Z]* witch: .*\)|\1|p" "$T/koala.log" | sed "s|:$wp/|:PORT/|"
echo "# the others"
grep -v ' witch: ' "$T/koala.log" | sed -e 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] //' -e "s|$T|\$T|g" \
    -e 's/-[0-9]*-[0-9]*\.pb/-PID-START.pb/' -e 's/ [0-9]* bytes in / N bytes in /'
echo "# the sessions"
koala-dump "$T"/rec/*.pb | sed 's/^[^ ]* [^ ]* [^ ]* //'
