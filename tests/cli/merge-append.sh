# -a concatenates the inputs in argument order.
koala-merge -a -o "$T/a.pb" samples/redis.pb samples/http-json.pb
koala-dump --count "$T/a.pb"
koala-dump samples/redis.pb samples/http-json.pb > "$T/want"
koala-dump "$T/a.pb" | cmp - "$T/want" && echo "same sessions, same order"
koala-dump "$T/a.pb" | sed -n '200,201p' | cut -d' ' -f1-2
