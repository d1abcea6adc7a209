# Damaged, missing, empty and wrong inputs: one line each on stderr naming the file and how
# many sessions were read before the damage; the other files are still read; exit 2 at the end.
: > "$T/empty.pb"
mkdir "$T/dir"
cd "$T" && koala-dump --count "$OLDPWD/samples/redis.pb" missing.pb dir empty.pb 2>&1
cd "$OLDPWD" || exit 9
koala-dump samples/bad/truncated-mid-frame.pb 2>&1 >/dev/null
koala-dump samples/bad/truncated-mid-frame.pb 2>/dev/null | wc -l
koala-dump --count samples/bad/truncated-mid-record.pb samples/bad/wrong-magic.pb \
    samples/bad/newer-format-version.pb samples/bad/random-bytes.pb samples/bad/no-index.pb 2>&1
koala-dump -Y 'inbound' samples/replayed.pb 2>&1
head -c 100000 samples/mixed.pb | koala-dump --count - 2>&1
