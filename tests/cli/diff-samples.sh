# koala-diff on the sample files: samples/replayed.pb holds 20 replayed sessions of the first
# http-json sessions, in which the replayed service made up new X-Request-Id values (every
# outbound HTTP call differs from the recorded one in that header), one response's JSON body
# changed and one call went to another path. Plain output, the noise options and a rules file,
# --summary, --json, the exit status, and files given the wrong way round.
name=diff-samples
rec=samples/http-json.pb rep=samples/replayed.pb
echo "# as they are: the first session"
koala-diff "$rec" "$rep" >"$T/out"
echo "exit $?"
awk '/^session / { n++ } n == 1' "$T/out"
tail -n 1 "$T/out"
echo "# the request id ignored: what is left"
koala-diff --ignore-header x-request-id "$rec" "$rep"
echo "exit $?"
echo "# and the changed JSON field, from a rules file"
printf '# noise\nignore-header X-Request-Id\nignore-json-path $.loyalty.points\n' >"$T/rules"
koala-diff --rules "$T/rules" --summary "$rec" "$rep"
echo "exit $?"
echo "# the same with --ignore-key, and the ids masked by a regex instead of a header rule"
koala-diff --ignore-regex '[0-9a-f]{8}-[0-9a-f-]{27}' --ignore-key points --summary "$rec" "$rep"
echo "exit $?"
echo "# --json"
koala-diff --json --ignore-header x-request-id "$rec" "$rep" >"$T/json"
echo "exit $?"
python3 - "$T/json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
print("objects:", len(lines), "last:", json.dumps(lines[-1]))
for o in lines[:-1]:
    if not o["identical"]:
        print(o["session"], "response:", json.dumps(o["response"]), "calls:", json.dumps(o["calls"]))
PY
echo "# trouble"
koala-diff "$rep" "$rec"
echo "exit $?"
koala-diff "$rep"
echo "exit $?"
koala-diff --ignore-json-path 'loyalty.points' "$rec" "$rep"
echo "exit $?"
printf 'ignore-header X\nignore-everything\n' >"$T/bad-rules"
koala-diff --rules "$T/bad-rules" "$rec" "$rep"
echo "exit $?"
