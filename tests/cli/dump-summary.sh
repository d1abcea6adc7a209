# Default output: one summary line per session, for recorded and replayed files.
koala-dump -c 4 samples/http-json.pb
koala-dump -c 2 samples/replayed.pb
