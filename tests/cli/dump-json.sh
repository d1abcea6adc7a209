# --json writes JSON Lines (one object per line) that parse; --pretty indents the same
# objects; --extra adds our own fields.
check='import json, sys
lines = sys.stdin.read().splitlines()
objs = [json.loads(l) for l in lines]
print(len(objs), "objects, first id", objs[0].get("SessionId") or objs[0].get("Id"))'
koala-dump --json samples/mixed.pb | python3 -c "$check"
koala-dump --json samples/replayed.pb | python3 -c "$check"
koala-dump --json -c 3 samples/http-json.pb > "$T/plain"
koala-dump --json --pretty -c 3 samples/http-json.pb > "$T/pretty"
python3 - "$T/plain" "$T/pretty" <<'PY'
import json, sys
plain = [json.loads(l) for l in open(sys.argv[1])]
text = open(sys.argv[2]).read()
dec, pos, pretty = json.JSONDecoder(), 0, []
while text[pos:].strip():
    while text[pos].isspace():
        pos += 1
    obj, pos = dec.raw_decode(text, pos)
    pretty.append(obj)
print("pretty lines:", len(text.splitlines()) > 3 * 3, "same objects:", plain == pretty)
PY
koala-dump --json -c 1 samples/mixed.pb | python3 -c 'import json,sys; print(sorted(json.loads(sys.stdin.readline()).keys()))'
koala-dump --json --extra -c 1 samples/mixed.pb | python3 -c 'import json,sys; print(sorted(json.loads(sys.stdin.readline()).keys()))'
