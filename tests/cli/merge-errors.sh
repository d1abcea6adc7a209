# Refusals: recorded with replayed, stdin twice, output also an input, no input; and -h.
cp samples/redis.pb "$T/r.pb"
for args in "samples/redis.pb samples/replayed.pb" "- -" "-o $T/r.pb samples/mysql.pb $T/r.pb" \
    "" "--level 0 samples/redis.pb" "--bogus"; do
    koala-merge $args >"$T/out" 2>"$T/err"
    echo "exit $? stdout $(wc -c < "$T/out") $(head -n 1 "$T/err" | sed "s|$T|T|g")"
done
koala-dump --count "$T/r.pb"
koala-merge -h >"$T/out"
echo "exit $?"
head -n 1 "$T/out"
