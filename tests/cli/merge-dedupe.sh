# --dedupe drops sessions whose id was already written; -v reports the counts on stderr.
koala-merge --dedupe -v -o "$T/d.pb" samples/http-json.pb samples/redis.pb samples/http-json.pb \
    2>&1
koala-dump --count "$T/d.pb"
koala-merge -v -o "$T/nd.pb" samples/http-json.pb samples/http-json.pb 2>&1
koala-merge -a --dedupe samples/mixed.pb samples/mixed.pb | koala-dump --count -
koala-merge --dedupe samples/replayed.pb samples/replayed.pb | koala-dump - | wc -l
