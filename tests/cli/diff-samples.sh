# koala-diff on the sample files: samples/replayed.pb holds 20 replayed sessions of the first
# http-json sessions, in which the replayed service made up new X-Request-Id values (every
# outbound call differs from the recorded one in that header) and one response changed. Plain
# output, --summary, --json, the exit status, and files given the wrong way round.
name=diff-samples
echo "# the first session that differs"
koala-diff samples/http-json.pb samples/replayed.pb >"$T/out"
echo "exit $?"
awk '/^session / { n++ } n == 1' "$T/out"
echo "# the response that changed"
grep -n -A12 '  response: ' "$T/out" | sed 's/^[0-9]*[:-]//'
echo "# --summary"
koala-diff --summary samples/http-json.pb samples/replayed.pb
echo "exit $?"
echo "# --json"
koala-diff --json samples/http-json.pb samples/replayed.pb >"$T/json"
echo "exit $?"
python3 - "$T/json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
print("objects:", len(lines), "last:", json.dumps(lines[-1]))
first = lines[0]
print("first:", first["session"], "response", first["response"], "identical", first["identical"])
for c in first["calls"]:
    print("  ", c["kind"], c["what"], "diff lines:", len(c["diff"].splitlines()))
PY
echo "# the replayed sessions first"
koala-diff samples/replayed.pb samples/http-json.pb
echo "exit $?"
echo "# one file"
koala-diff samples/replayed.pb
echo "exit $?"
