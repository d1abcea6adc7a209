# The witch's page in headless Chromium (Debian's chromium), on the sample service recorded
# with its Redis and backend, serving requests, one of them held half sent: the page names
# nothing outside itself; rendered (--dump-dom, virtual time so that its requests complete),
# its Log tab holds the service's log filtered as its address asks, its State tab the
# service's pid, counters (sendfile's too: none here), the held connection, its thread and
# session in progress, the Redis and backend connections, its Sessions tab a line per request
# and the session the address names in full: request, response and its three outbound calls.
# A screenshot is taken. Needs redis-server.
name=witch-page
. tests/cli/svc-env.inc
. tests/cli/preload.inc
command -v chromium >/dev/null || fail "chromium not found (apt-get install chromium)"
py=/usr/bin/python3
mkdir "$T/rec"
wp=$(free_ports)
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_LOG_LEVEL=DEBUG KOALA_WITCH_ADDR=":$wp" \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 2 >"$T/svc.out" 2>"$T/srv.err" &
srv=$!
pids="$pids $srv"
port=$(port_of "$T/svc.out") || exit 2
for i in 1 2 3; do
    curl -s -o /dev/null "http://127.0.0.1:$port/user/$i" || fail "curl failed"
done
w="http://127.0.0.1:$wp/witch"
wait_until url_has "$w/sessions" '"kept":3,' || fail "the witch does not keep 3 sessions: $(curl -s "$w/sessions")"
# A client holding a request half sent while the page is rendered; it says where it is from.
$py - "$port" "$T/held" <<'PY' &
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"GET /user/9 HTTP/1.1\r\nHost: x\r\n")
open(sys.argv[2], "w").write("127.0.0.1:%d" % c.getsockname()[1])
time.sleep(50)
PY
pids="$pids $!"
wait_until [ -s "$T/held" ] || fail "the held client did not connect"
# The session shown: that of GET /user/1 (sessions are kept in the order they are written).
first=$(curl -s "$w/sessions" | $py -c '
import json, sys
print([s["n"] for s in json.load(sys.stdin)["sessions"] if s["request"] == "GET /user/1 HTTP/1.1"][0])')

curl -s -o "$T/page.html" -w '%{http_code} %{content_type}\n' "$w/"
curl -s -o /dev/null -w '/witch: %{http_code} to %{redirect_url}\n' "$w" | sed "s/:$wp\//:PORT\//"
$py - "$T/page.html" <<'PY'
import re, sys
page = open(sys.argv[1], encoding="utf-8").read()
links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
print("links outside the page:", [l for l in links if not l.startswith("#")], "of", len(links))
print("outside resources named:", len(re.findall(r"https?://|@import|url\(|<link|<iframe|<img", page)))
PY
browse() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$T/profile" \
        --window-size=1280,900 --virtual-time-budget=4000 "$@" 2>/dev/null
}
browse --dump-dom "$w/?wait=0&level=INFO&q=witch#sessions/$first" >"$T/dom.html" ||
    fail "chromium --dump-dom failed"
$py - "$T/dom.html" "$(cat "$T/held")" "$srv" "$wp" "$T" "$rp" "$bp" <<'PY'
import html, re, sys
dom, held, pid, wp, tmp = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
deps = {"127.0.0.1:" + sys.argv[6]: "redis", "127.0.0.1:" + sys.argv[7]: "backend"}
def section(name):
    return dom.split('id="tab-%s"' % name)[1].split("</section>")[0]
def text(fragment):
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()
def rows(fragment):
    return [[" ".join(text(c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, re.S) if "<td" in r]
def table_after(fragment, title):
    return rows(fragment.split(title, 1)[1].split("</table>")[0])

print("header:", " ".join(text(re.search(r'id="who">(.*?)</span>', dom).group(1))).replace(pid, "PID"))
print("tab shown:", re.search(r'<section id="tab-(\w+)" class="on"', dom).group(1))
log = section("log")
print("# Log (level INFO and up, text 'witch'):", " ".join(text(re.search(r'id="log-count"[^>]*>(.*?)</span>', log).group(1)))
      .split(" of ")[0], "shown")
for r in rows(log):
    print("  ", r[1], r[3].replace(wp, "PORT"), "| thread", r[2].isdigit())
state = section("state")
k = table_after(state, "Counters")[0]
print("# State: sessions written", k[0], "dropped", k[1], "built", k[4])
f = table_after(state, ">sendfile<")[0]
print("sendfile: sent from memory", f[0], "files read", f[1], "kept", f[2], "bytes kept", f[3])
print("writer file:", re.sub(r"-%s-\d+\.pb" % pid, "-PID-START.pb", table_after(state, "Writer")[0][4].replace(tmp, "$T")))
socks = table_after(state, "Sockets and files")
mine = [s for s in socks if s[2] == held]
print("the held connection's socket:", mine[0][1], "bytes in", mine[0][4], "out", mine[0][5])
print("the service's connections to:", sorted({deps.get(s[2], s[2]) for s in socks if s[1] == "outbound"}),
      "with bytes both ways:", all(int(s[4]) > 0 and int(s[5]) > 0 for s in socks if s[1] == "outbound"),
      "its log file:", [s[2].replace(tmp, "$T") for s in socks if s[1] == "file"])
prog = [p for p in table_after(state, "Sessions in progress") if p[4] == held]
print("its session in progress:", prog[0][1], "request bytes", prog[0][5])
threads = [t for t in table_after(state, "Threads") if t[3] == prog[0][0]]
print("its thread:", threads[0][0] == prog[0][2], threads[0][2])
config = dict(table_after(state, "Configuration"))
print("config: KOALA_RECORD_TO_DIR", config["KOALA_RECORD_TO_DIR"].replace(tmp, "$T"), "KOALA_WITCH_ADDR",
      config["KOALA_WITCH_ADDR"].replace(wp, "PORT"))
ss = section("sessions")
print("# Sessions:", " ".join(text(re.search(r'id="sessions-count"[^>]*>(.*?)</div>', ss).group(1))))
for r in sorted(rows(ss.split('id="session-detail"')[0]), key=lambda r: r[4]):
    print("  ", r[1], r[4], "->", r[5], "calls", r[6], "bytes", r[7])
detail = ss.split('id="session-detail"')[1]
title = " ".join(text(re.search(r'id="session-title">(.*?)</h2>', detail).group(1)))
print("shown:", re.fullmatch(r"session \d{19}-\d+", title) is not None)
# (the file is read as text: CR LF reads as LF)
req = html.unescape(re.search(r'id="session-request">(.*?)</pre>', detail, re.S).group(1)).split("\n")
resp = html.unescape(re.search(r'id="session-response">(.*?)</pre>', detail, re.S).group(1)).split("\n")
print("request:", req[0], "| response:", resp[0], "...", re.sub(r'"ts":\d+', '"ts":T', resp[-1]))
print(" ".join(text(re.search(r"<h2>(Outbound calls[^<]*)</h2>", detail).group(1))) + ":")
for r in table_after(detail, "Outbound calls"):
    print("  ", r[0], deps.get(r[1], r[1]), "request", repr(r[2][:40]), "response", repr(r[3][:30]))
PY
browse --screenshot="$T/witch.png" "$w/?wait=0#sessions/$first" >/dev/null || fail "chromium --screenshot failed"
$py - "$T/witch.png" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", d[16:24])
print("screenshot: PNG", d[:8] == b"\x89PNG\r\n\x1a\n", "%dx%d" % (w, h), "more than 20 KB:", len(d) > 20000)
PY
grep -E 'ERROR|WARN|FATAL|AddressSanitizer|runtime error' "$T/srv.err"
echo "# the recording: the service's requests only"
kill "$srv"
exit_status "$srv" >/dev/null
koala-dump "$T"/rec/*.pb | sed 's/^[^ ]* [^ ]* [^ ]* //' | sort
