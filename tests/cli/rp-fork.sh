# A replayed service that forks (a prefork worker, a child that does not exec): the child's
# copies of koala's fds and locks must not hold up the parent. Python's http.server under the
# replayer. Outside any session, with a child alive:
# - a redirected connection whose request nothing answers is closed by the outbound server:
#   the service sees the close (the child's copy of the server's end is closed at the fork);
# - the service closes it too, and the outbound server goes on serving;
# then in a replayed session, where one thread appends 48 MiB to a log file (kept in the
# session under the registry's lock) while another forks children that connect at once:
# - no child waits for the lock its parent held at the fork.
name=rp-fork
. tests/cli/proc.inc
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
read -r sp ip op <<EOF
$(free_ports 3)
EOF
LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" KOALA_OUTBOUND_ADDR=":$op" \
    KOALA_WITCH_ADDR=off "$py" - "$sp" "$T" >"$T/svc.out" 2>"$T/svc.err" <<'PY' &
import http.server, os, socket, sys, threading, time
T = sys.argv[2]

def elsewhere():
    """A connection to a server the recording has: redirected to the outbound server."""
    return socket.create_connection(("127.0.0.1", 9), timeout=5)

def child_while(seconds):
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        os._exit(0)
    return pid

def fork_and_connect(stop, stuck):
    while not stop.is_set():
        pid = os.fork()
        if pid == 0:
            with socket.socket() as s:
                try:
                    s.connect(("127.0.0.1", 9))
                except OSError:
                    pass
            os._exit(0)
        t0 = time.time()
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.time() - t0 > 5:
                stuck.append(pid)
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.001)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        stop, stuck = threading.Event(), []
        t = threading.Thread(target=fork_and_connect, args=(stop, stuck))
        t.start()
        fd = os.open(T + "/big.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for _ in range(3):
            os.write(fd, b"x" * (16 << 20))
        os.close(fd)
        stop.set()
        t.join()
        body = b"children stuck: %d" % len(stuck)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
a = elsewhere()
time.sleep(0.5)  # the outbound server accepts it: the child gets a copy of the server's end
child = child_while(10)
a.sendall(b"PING\r\n")
try:
    print("a request nothing answers:", "closed" if a.recv(100) == b"" else "answered", flush=True)
except socket.timeout:
    print("a request nothing answers: still open after 5 s", flush=True)
a.close()
time.sleep(0.5)
b = elsewhere()
b.sendall(b"PING\r\n")
print("the outbound server after the close:", "closes the next" if b.recv(100) == b"" else "?", flush=True)
b.close()
os.kill(child, 9)
os.waitpid(child, 0)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
PY
svc=$!
pids="$pids $svc"
port_of "$T/svc.out" >/dev/null || exit 2
replayer_up "$T/svc.err" "$ip"
grep -v '^listening on ' "$T/svc.out"
python3 - "$ip" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import pb_fields, pb_session, post_session
req = b"GET /append HTTP/1.1\r\nHost: x\r\n\r\n"
status, _, answer = post_session(sys.argv[1], pb_session("1795336763808267798-1", req, b""), timeout=40)
assert status == 200, (status, answer)
resp = pb_fields(answer).get(5, [b""])[0]
print("a replayed session, forking:", resp.split(b"\r\n\r\n")[-1].decode())
PY
kill -TERM "$svc"
exit_status "$svc"
grep -E ' (WARN|ERROR) |AddressSanitizer|runtime error|double free' "$T/svc.err" |
    sed 's/^[^ ]* koala\[[0-9]*\] //; s/127\.0\.0\.1:[0-9]*/127.0.0.1:PORT/'
