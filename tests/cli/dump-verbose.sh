# -v shows every field of a session, payloads as text or hexdump.
koala-dump -v -c 1 samples/mysql.pb
koala-dump --verbose -c 1 samples/replayed.pb
