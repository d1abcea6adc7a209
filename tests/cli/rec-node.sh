# The recorder in a Node.js service: one thread serving every connection from its event loop,
# a Redis call on a new connection per request, a line appended to a log and a UDP metric,
# then the answer. SIGTERM right after the last answer, while its session still lingers:
# Node's own handler (installed with SA_RESETHAND, so the kernel puts the default back as it
# runs it, unseen) resets the terminal and raises the signal again, and koala has the sessions
# written first. Needs node, curl, redis-server.
name=rec-node
. tests/cli/svc-env.inc
command -v node >/dev/null || fail "node not found (apt-get install nodejs)"
. tests/cli/preload.inc
py=/usr/bin/python3

start_statsd "$T" "$T/datagrams"
up=$(port_of "$T/statsd.out")
cat >"$T/app.js" <<'JS'
const http = require('http'), net = require('net'), fs = require('fs'), dgram = require('dgram');
const [redisPort, statsdPort, log] = process.argv.slice(2);
const udp = dgram.createSocket('udp4');
const server = http.createServer((req, res) => {
  const user = req.url.slice(1);
  const r = net.connect(+redisPort, '127.0.0.1', () => r.write('INCR node:' + user + '\r\n'));
  r.once('data', d => {
    r.end();
    const hits = d.toString().trim().slice(1);
    fs.appendFileSync(log, 'hit ' + user + ' ' + hits + '\n');
    udp.send('hits.' + user + ':1|c', +statsdPort, '127.0.0.1', () => {
      res.writeHead(200, {'Content-Type': 'text/plain'});
      res.end('hits ' + hits + '\n');
    });
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening on 127.0.0.1:' + server.address().port));
JS
mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    node "$T/app.js" "$rp" "$up" "$T/app.log" >"$T/node.out" 2>"$T/node.err" &
node=$!
pids="$pids $node"
np=$(port_of "$T/node.out") || exit 2
for u in ann bob ann; do
    timeout 10 curl -s "http://127.0.0.1:$np/$u" || fail "curl $u failed"
done
kill -TERM "$node"
exit_status "$node"
grep 'koala\[[0-9]*\] \(WARN\|ERROR\)' "$T/node.err"
echo "koala's summary: $(sed -n 's/.*koala\[[0-9]*\] INFO \(stopped by a signal: [0-9]* sessions written, [0-9]* dropped\).*/\1/p' "$T/node.err")"
koala-dump --json "$T"/rec/*.pb >"$T/json" 2>"$T/dump.err" || fail "koala-dump failed: $(cat "$T/dump.err")"
$py - "$T/json" "$T" "$rp" "$up" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from rec_lib import sessions, show_actions, unescape
path, T, rp, up = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for s in sessions(path, by_time=True):
    req = unescape(s["CallFromInbound"]["Request"])
    resp = unescape(s["ReturnInbound"]["Response"])
    print(req.split(b"\r\n")[0], "->", resp.split(b"\r\n")[0], resp.split(b"\r\n\r\n", 1)[1])
    show_actions(s, T, {rp: "redis", up: "statsd"})
PY
