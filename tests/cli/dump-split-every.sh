# --split-every N writes OUT-00000.pb, OUT-00001.pb, ... with N sessions each; together they
# hold every session in order.
koala-dump -w "$T/part.pb" --split-every 300 samples/mixed.pb
cd "$T" && ls part*
for f in part-*.pb; do koala-dump --count "$f"; done
koala-dump part-*.pb > joined
koala-dump "$OLDPWD/samples/mixed.pb" | cmp - joined && echo "parts hold every session, in order"
koala-dump -w "$T/x" --split-every 150 "$OLDPWD/samples/http-json.pb" && ls x-*
