# env.sh - sourced by the scripts that run the sample service (make demo, the CLI tests, the
# recorder's benchmark): its dependencies on free loopback ports, wait_until, the bounded wait
# they share, and settled, the recorder's rule for a file it may keep. Each start_* function
# adds its server to $pids and sets its port; when the server is not up within 10 s it says
# why on stderr and returns 1, and the caller decides what that means. $svc_dir is this
# directory (default samples/svc, for scripts run from the repository root).
svc_dir=${svc_dir:-samples/svc}

# Runs CMD ARGS... every 0.1 s until it succeeds; returns 1 when it has not within 10 s. A
# condition that must be evaluated afresh each time ($(...), a pipe) goes in a function.
wait_until() {
    waited=0
    until "$@"; do
        waited=$((waited + 1))
        [ $waited -le 100 ] || return 1
        sleep 0.1
    done
}

# True once file $1 last changed more than 2 s ago, as the recorder wants of a file before it
# keeps its bytes in memory (hk_file.c): its ctime, which any change moves, is read in whole
# seconds, so 3 of them.
settled() {
    [ $(($(date +%s) - $(stat -c %Z "$1"))) -ge 3 ]
}

# The port of the "listening on HOST:PORT" line a server writes to file $1 (10 s at most).
svc_port_of() {
    wait_until grep -qs '^listening on ' "$1" ||
        { echo "$1: no 'listening on' line: $(cat "$1" 2>/dev/null)" >&2; return 1; }
    sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1"
}

# N loopback TCP ports (default 1), free a moment ago, on one line. They are held together while
# chosen, so they differ; ports from separate calls may not (a server that cannot bind one says so).
free_ports() (
    # never under a preload: in "LD_PRELOAD=... PORT=$(free_ports) cmd", shells export the
    # assignments before it to this function
    unset LD_PRELOAD
    exec python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))' "${1:-1}"
)

# redis-server in directory $1, no persistence; sets rp.
start_redis() {
    rp=$(free_ports)
    redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" \
        --logfile "$1/redis.log" &
    pids="$pids $!"
    wait_until redis_pongs "$rp" ||
        { echo "redis-server on port $rp did not start: $(cat "$1/redis.log")" >&2; return 1; }
}

# True when the redis-server on port $1 answers PING.
redis_pongs() {
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]
}

# The HTTP backend (backend.py), its output in $1/backend.out, given the options after $1; sets
# bp.
start_backend() {
    backend_out="$1/backend.out"
    shift
    python3 "$svc_dir/backend.py" --listen 127.0.0.1:0 "$@" >"$backend_out" 2>&1 &
    pids="$pids $!"
    bp=$(svc_port_of "$backend_out")
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
