# The sample service end to end on loopback: redis-server, samples/svc/backend.py and a UDP
# listener standing in for statsd, all on free ports; sample-client with and without keep-alive;
# the JSON answers, the log lines, the metrics and the Redis keys checked; --variant changed;
# SIGTERM with an idle keep-alive client. Needs redis-server (Debian package redis-server).
name=svc-roundtrip
. tests/cli/svc-env.inc

# Masks what changes between runs: timestamps; shows carriage returns.
mask() {
    sed -e 's/"ts":[0-9]*/"ts":T/g' -e 's/^[0-9-]*T[0-9:]*Z /TIME /' -e 's/\r/\\r/g'
}

start_statsd "$T" "$T/metrics" || fail "the statsd listener did not start"

sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --statsd "127.0.0.1:$up" --threads 4 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
to="127.0.0.1:$sp"

echo "# load, checked by the client"
timeout 20 sample-client --to "$to" --threads 4 --requests 25
echo "exit $?"
timeout 20 sample-client --to "$to" --threads 2 --requests 10 --close
echo "exit $?"

echo "# exact bytes of one keep-alive connection"
timeout 20 sample-client --to "$to" --raw --sent "$T/sent" \
    POST /order '{"user":42,"item":"lamp","qty":3}' GET /user/42 GET /user/2000 GET /health \
    POST /order '{"user":42,"item":"lamp"}' >"$T/raw"
echo "exit $?"
mask <"$T/raw"
echo
echo "requests sent: $(grep -c '^Host: 127.0.0.1:' "$T/sent")"

echo "# the answers parse as JSON"
python3 -c '
import json, sys, time
raw = open(sys.argv[1], "rb").read()
while raw:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode()
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    body, raw = json.loads(rest[:length]), rest[length:]
    fields = ["%s:%s" % (k, "now" if k == "ts" and abs(v - time.time()) < 60 else type(v).__name__)
              for k, v in body.items()]
    print(status, " ".join(fields))
' "$T/raw"

echo "# Redis after the load: every visit and order counted"
redis-cli -p "$rp" get orders:seq
redis-cli -p "$rp" mget visits:user:1 visits:user:2 visits:user:3 visits:user:4 visits:user:5 \
    visits:user:6 visits:user:7 visits:user:8 visits:user:9 visits:user:10 visits:user:42 |
    paste -sd' ' -

echo "# log: one line per request"
wc -l <"$T/svc.log"
grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z (GET|POST) /[a-z0-9/]* [0-9]{3}( .+)?$' \
    "$T/svc.log"
sed -E -e 's/^[^ ]+ //' -e 's# (visits|order)=.*##' -e 's#/user/[0-9]+#/user/ID#' "$T/svc.log" |
    sort | uniq -c
tail -n 5 "$T/svc.log" | mask

echo "# metrics: one UDP datagram per request"
# (When they have not all come within 10 s, the tally shows which are missing.)
all_metrics() {
    [ "$(wc -l <"$T/metrics")" -ge 125 ]
}
wait_until all_metrics
sort "$T/metrics" | uniq -c

echo "# --variant changed: another greeting, another Redis key"
sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --variant changed >"$T/changed.out" 2>"$T/changed.err" &
changed=$!
pids="$pids $changed"
cp=$(port_of "$T/changed.out") || exit 2
timeout 20 sample-client --to "127.0.0.1:$cp" --raw GET /user/42 | sed -n '$p' | mask
echo
redis-cli -p "$rp" mget visits:user:42 'visits:user:{42}' | paste -sd' ' -

echo "# SIGTERM: idle keep-alive clients are let go, the services exit 0"
python3 -c '
import os, signal, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
s.settimeout(10)
os.kill(int(sys.argv[2]), signal.SIGTERM)
print("after SIGTERM the idle connection reads", s.recv(10))
' "$sp" "$svc"
exit_status "$svc"
cat "$T/svc.err"
kill -TERM "$changed"
exit_status "$changed"
cat "$T/changed.err"
