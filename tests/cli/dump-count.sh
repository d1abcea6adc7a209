# --count: from the index, over several files, in JSON, from a pipe (no index: counted by
# reading), from a plain stream, and with a selection (counted by matching).
koala-dump --count samples/http-json.pb
koala-dump --count samples/http-json.pb samples/redis.pb samples/mysql.pb samples/mixed.pb
koala-dump --count --json samples/replayed.pb
cat samples/mixed.pb | koala-dump --count -
zstd -dc samples/redis.pb | koala-dump --count -
koala-dump --count samples/bad/no-index.pb
koala-dump --count -c 7 samples/mixed.pb
