# env.sh - sourced by the scripts that run the sample service (make demo, the CLI tests, the
# recorder's benchmark): its dependencies on free loopback ports. Each start_* function adds
# its server to $pids and sets its port; when the server is not up within 10 s it says why on
# stderr and returns 1, and the caller decides what that means. $svc_dir is this directory
# (default samples/svc, for scripts run from the repository root).
svc_dir=${svc_dir:-samples/svc}

# The port of the "listening on HOST:PORT" line a server writes to file $1.
svc_port_of() {
    i=0
    until grep -q '^listening on ' "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 100 ] || { echo "$1: no 'listening on' line: $(cat "$1" 2>/dev/null)" >&2; return 1; }
        sleep 0.1
    done
    sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1"
}

# A loopback TCP port free a moment ago (a server that cannot bind it says so).
free_port() (
    # never under a preload: in "LD_PRELOAD=... PORT=$(free_port) cmd", shells export the
    # assignments before it to this function
    unset LD_PRELOAD
    exec python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
)

# redis-server in directory $1, no persistence; sets rp.
start_redis() {
    rp=$(free_port)
    redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" \
        --logfile "$1/redis.log" &
    pids="$pids $!"
    i=0
    until [ "$(redis-cli -p "$rp" ping 2>/dev/null)" = PONG ]; do
        i=$((i + 1))
        [ $i -le 100 ] || { echo "redis-server on port $rp did not start: $(cat "$1/redis.log")" >&2; return 1; }
        sleep 0.1
    done
}

# The HTTP backend (backend.py), its output in $1/backend.out; sets bp.
start_backend() {
    python3 "$svc_dir/backend.py" --listen 127.0.0.1:0 >"$1/backend.out" 2>&1 &
    pids="$pids $!"
    bp=$(svc_port_of "$1/backend.out")
}

# A UDP listener standing in for statsd, its output in $1/statsd.out; each datagram is
# appended as a line to file $2 when given. Sets up.
start_statsd() {
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
log = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
while True:
    d = s.recv(2048)
    if log:
        log.write(d.decode() + "\n")
        log.flush()
' ${2:+"$2"} >"$1/statsd.out" &
    pids="$pids $!"
    up=$(svc_port_of "$1/statsd.out")
}
