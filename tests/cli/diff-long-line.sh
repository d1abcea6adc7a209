# koala-diff shows a changed line whole however long it is: a recorded text response with a
# 2250-byte line, replayed (koala-replay against replay_fake.py) with one byte of that line in
# the other case. The - and + lines each end where the line ends, and the next line is its own.
name=diff-long-line
. tests/cli/proc.inc
py=/usr/bin/python3

koala-dump -c 1 --koala-dir "$T/d" samples/http-json.pb || fail "koala-dump --koala-dir failed"
$py - "$T/d"/* <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
line = "".join("word%04d " % i for i in range(250)).rstrip()
body = "first line\n" + line + "\nlast line\n"
resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
d["ReturnInbound"]["Response"] = resp
for a in d["Actions"]:
    if a.get("ActionType") == "ReturnInbound":
        a["Response"] = resp
json.dump(d, open(sys.argv[1], "w"))
PY
$py tests/cli/replay_fake.py changed >"$T/fake.out" 2>"$T/fake.err" &
pids="$pids $!"
port=$(port_of "$T/fake.out")
koala-replay --to ":$port" -o "$T/out.pb" "$T/d" 2>"$T/err" || fail "koala-replay failed: $(cat "$T/err")"
koala-diff "$T/d" "$T/out.pb" >"$T/diff"
echo "exit $?"
# the two long lines, shortened around the change; every other line as it is
awk '{ if (length($0) > 200) print substr($0, 1, 12) " ... " substr($0, length($0) - 30) " (" length($0) " bytes)"; else print }' "$T/diff" |
    sed "s|$T|T|g"
