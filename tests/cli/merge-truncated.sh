# A damaged input keeps every session before the damage, is named in a warning, the merge
# goes on with the others, and the exit status is 2.
koala-merge -o "$T/m.pb" samples/http-json.pb samples/bad/truncated-mid-frame.pb \
    samples/redis.pb 2>&1
echo "exit $?"
koala-dump --count "$T/m.pb"
koala-merge -o "$T/m2.pb" samples/bad/wrong-magic.pb samples/bad/truncated-mid-record.pb missing.pb \
    samples/mysql.pb 2>&1
status=$?
koala-dump --count "$T/m2.pb"
exit $status
