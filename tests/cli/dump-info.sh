# --info: header and index only, text for several files (one without index), JSON per file,
# and the usage error when combined with a selection.
koala-dump --info samples/mixed.pb samples/bad/no-index.pb
koala-dump --info --json samples/replayed.pb samples/http-json.pb
koala-dump --info -c 3 samples/mixed.pb 2>/dev/null || echo "exit $?"
