# The recorder's collector and exit flush: a Python server answers with no framable end
# (HTTP/1.0, no Content-Length) and keeps the connection open. With
# KOALA_GC_GLOBAL_STATUS_TIMEOUT=300ms the session is in the file within 4 s while the server
# still runs; with the default 5 s, a server that calls exit() while its worker thread waits
# on the open connection still writes that thread's session.
name=rec-idle
. tests/cli/proc.inc
. tests/cli/preload.inc

# Serves one connection in a worker thread: reads a request, answers without length, waits
# for the client to close (the idle case) or exits at once (the exit case).
server='
import socket, sys, threading
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()
print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
answered = threading.Event()
def serve():
    c, _ = ls.accept()
    c.recv(1000)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length")
    answered.set()
    c.recv(1000)
w = threading.Thread(target=serve, daemon=True)
w.start()
if sys.argv[1] == "wait":
    w.join()
else:
    answered.wait()
sys.exit(0)
'

# Sends a request, reads the answer, then polls koala-dump --count on the growing file for
# up to $2 seconds (0: not at all) and prints what it saw; closes the connection last.
client='
import glob, socket, subprocess, sys, time
port, limit, rec = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"GET /idle HTTP/1.0\r\n\r\n")
got = b""
while not got.endswith(b"no length"):
    got += c.recv(1000)
print(got.split(b"\r\n")[0].decode(), flush=True)
start = time.monotonic()
seen = None
while limit and time.monotonic() - start < limit:
    for f in glob.glob(rec + "/*.pb"):
        out = subprocess.run(["koala-dump", "--count", f], capture_output=True, text=True).stdout
        if out.strip() == "1":
            seen = time.monotonic() - start
    if seen is not None:
        break
    time.sleep(0.05)
if limit:
    print("recorded while running:", "within 4 s" if seen is not None and seen < 4 else "NO", flush=True)
time.sleep(0.2)
c.close()
'

run() { # mode gc-timeout poll-seconds
    rm -rf "$T/rec" "$T/srv.out" "$T/srv.err"
    mkdir "$T/rec"
    LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
        KOALA_GC_GLOBAL_STATUS_TIMEOUT="$2" python3 -c "$server" "$1" >"$T/srv.out" 2>"$T/srv.err" &
    srv=$!
    pids="$pids $srv"
    port=$(port_of "$T/srv.out") || exit 2
    timeout 20 python3 -c "$client" "$port" "$3" "$T/rec" || fail "the client failed"
    exit_status "$srv"
    grep -v '^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] INFO ' "$T/srv.err"
    grep -c 'INFO 1 sessions written, 0 dropped' "$T/srv.err"
    koala-dump --count "$T"/rec/*.pb
    koala-dump --json "$T"/rec/*.pb | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    print(repr(s["CallFromInbound"]["Request"]), "->", repr(s["ReturnInbound"]["Response"]))
'
}

echo "# idle past 300ms: written while the server runs"
run wait 300ms 4
echo "# exit() while the worker waits: its session is flushed at exit"
run exit 5s 0
