# The recorder in Debian's redis-server, an event loop serving every client on one thread:
# each connection's requests get their own answers. A pipeline (PING and SET in one write) is
# two sessions, and a later client's GET a session of its own, with its own peer. While a
# DEBUG SLEEP holds the loop, two clients send a SET and an INCR: Redis then reads both and
# answers both, and each session gets its answer (the first's was lost before), the
# append-only file's one write of both commands going to one of them. (The AOF write for the
# pipeline goes to its first session: nothing tells which command it is for.) Then
# redis-benchmark's 4 clients INCR one key 1000 times: 1000 sessions answering 1 to 1000, each
# once. SIGTERM stops Redis, which exits its own way.
# Needs redis-server (redis-benchmark comes with it).
name=rec-redis
. tests/cli/proc.inc
. tests/cli/preload.inc
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    fail "redis-server not found (apt-get install redis-server)"

port=$(free_ports)
mkdir "$T/rec" "$T/data"
# The witch off: in the sanitizers' build only, inside redis-server, the witch's thread loading
# libmicrohttpd hangs in GnuTLS's constructor on gettext's lock (found with an impossible
# reader count, cause not known), and Redis's exit then waits for the loader's lock.
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" KOALA_LOG_FILE="$T/koala.log" \
    KOALA_WITCH_ADDR=off redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes --dir "$T/data" \
    --enable-debug-command yes >"$T/redis.out" 2>&1 &
rpid=$!
pids="$pids $rpid"
wait_until grep -qs "Ready to accept connections" "$T/redis.out" || fail "redis did not start: $(cat "$T/redis.out")"

PORT=$port timeout 20 /usr/bin/python3 -c '
import os, socket, time
port = int(os.environ["PORT"])
names = {}
def conn(name):
    c = socket.create_connection(("127.0.0.1", port))
    names[c.getsockname()[1]] = name
    return c
def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
def answer(c, lines):
    got = b""
    while got.count(b"\r\n") < lines:
        got += c.recv(100)
    return got
p = conn("P")
p.sendall(cmd(b"PING") + cmd(b"SET", b"x", b"10"))
print("P", answer(p, 2))
time.sleep(0.2)
g = conn("G")
g.sendall(cmd(b"GET", b"x"))
print("G", answer(g, 2))
s = conn("S")
s.sendall(cmd(b"DEBUG", b"SLEEP", b"0.5"))
time.sleep(0.1)
a, b = conn("A"), conn("B")
a.sendall(cmd(b"SET", b"a", b"1"))
b.sendall(cmd(b"INCR", b"b"))
print("A", answer(a, 1), "B", answer(b, 1), "S", answer(s, 1))
with open(os.environ["T"] + "/names", "w") as f:
    f.write(repr(names))
'
redis-benchmark -h 127.0.0.1 -p "$port" -c 4 -n 1000 -t incr -q >/dev/null || fail "redis-benchmark failed"
kill -TERM "$rpid"
exit_status "$rpid"
grep -v ' INFO ' "$T/koala.log"
koala-dump --json "$T"/rec/*.pb >"$T/sessions.json"
ROOT="$T" /usr/bin/python3 -c '
import ast, collections, os, sys
sys.path.insert(0, "tests/cli")
import rec_lib
names = ast.literal_eval(open(os.environ["ROOT"] + "/names").read())
incr, both = [], []
for s in rec_lib.sessions(os.environ["ROOT"] + "/sessions.json", by_time=True):
    req = rec_lib.unescape(s["CallFromInbound"]["Request"])
    resp = rec_lib.unescape(s["ReturnInbound"]["Response"]) if s.get("ReturnInbound") else None
    if req.startswith(b"*2\r\n$4\r\nINCR\r\n$20\r\ncounter:__rand_int__"):
        incr.append(resp)
        continue
    if b"CONFIG" in req or b"ping" in req: # redis-benchmark asks for the server config first
        continue
    who = names.get(s["CallFromInbound"]["Peer"]["Port"], "?")
    print(who, req, "->", resp)
    for act in s["Actions"] or []:
        if act["ActionType"] == "ReturnInbound":
            continue
        if act["ActionType"] != "AppendFile":
            print("    ", act["ActionType"])
        elif who in "AB": # which of the two Redis read last is up to its event loop
            both.append(rec_lib.unescape(act["Content"]))
        else:
            print("    AppendFile", act["FileName"].replace(os.environ["ROOT"], "T"), rec_lib.unescape(act["Content"]))
print("A and B: what the append-only file got for their commands:", b"".join(both))
answered = [r for r in incr if r]
print("redis-benchmark: %d INCR sessions, %d answered, answers 1 to 1000 each once: %s" % (
    len(incr), len(answered), sorted(answered) == sorted(b":%d\r\n" % i for i in range(1, 1001))))
'
