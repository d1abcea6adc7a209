# -c stops after N sessions counted over all the files given.
koala-dump -c 3 samples/redis.pb samples/mysql.pb | wc -l
koala-dump -c 202 samples/redis.pb samples/mysql.pb | tail -n 1
koala-dump --max-count 1 --json samples/replayed.pb | wc -l
