# --session prints the one session with that id, and stops there; no match prints nothing.
id=$(koala-dump samples/mixed.pb | sed -n 500p | cut -d' ' -f2)
koala-dump samples/mixed.pb | sed -n 500p > "$T/want"
koala-dump --session "$id" samples/mixed.pb > "$T/got"
cmp "$T/want" "$T/got" && echo "session $id found"
koala-dump --session "$id" --count samples/http-json.pb samples/mixed.pb samples/mixed.pb
koala-dump --session 1709287200000000000-7106 samples/replayed.pb | cut -d' ' -f1-4
koala-dump --session no-such-id samples/mixed.pb
