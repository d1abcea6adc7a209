# koala-diff --html: one self-contained page for the sample files' report, opened in headless
# Chromium (Debian's chromium): the page names no outside resource, its script renders the
# sessions that differ, the first one's JSON difference and its table of outbound calls, and a
# screenshot is taken.
name=diff-html
command -v chromium >/dev/null || { echo "$name: chromium not found (apt-get install chromium)" >&2; exit 2; }
koala-diff --html "$T/report.html" --ignore-header x-request-id samples/http-json.pb samples/replayed.pb
echo "exit $?"
echo "# outside resources named: $(grep -c -E '(src|href)=|https?://|@import|url\(' "$T/report.html")"
browse() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$T/profile" \
        --window-size=1280,800 "$@" "file://$T/report.html" 2>/dev/null
}
browse --dump-dom >"$T/dom.html" || { echo "$name: chromium --dump-dom failed" >&2; exit 2; }
python3 - "$T/dom.html" <<'PY'
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
body = dom.split('<script type="application/json"')[0] + dom.split("</script>")[-1]  # the rendered part
text = lambda cls: [html.unescape(re.sub(r"<[^>]+>", " ", m)).split() for m in re.findall(r'class="%s[^"]*">(.*?)</div>' % cls, body)]
print("summary:", html.unescape(re.search(r'id="summary">(.*?)</div>', body).group(1)))
print("sessions listed:", [" ".join(t) for t in text("sess")])
print("shown:", html.unescape(re.search(r"<h2>(session [^<]*)</h2>", body).group(1)))
print("response rows:", [html.unescape(re.sub(r"<[^>]+>", "", r)) for r in re.findall(r'<td colspan="2">(.*?)</td>', body)])
print("call table:", [html.unescape(re.sub(r"<[^>]+>", "|", r)).strip("|") for r in re.findall(r"<tr>(<td>.*?)</tr>", body)])
PY
browse --screenshot="$T/report.png" >/dev/null || { echo "$name: chromium --screenshot failed" >&2; exit 2; }
python3 - "$T/report.png" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", d[16:24])
print("screenshot: PNG", d[:8] == b"\x89PNG\r\n\x1a\n", "%dx%d" % (w, h), "more than 20 KB:", len(d) > 20000)
PY
