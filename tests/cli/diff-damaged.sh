# koala-diff's trouble, each exiting 2 with a warning: a damaged replay still compares what
# came before the damage (here nothing: its one frame is cut) and prints the summary; files
# that do not pair (a recording and another's replay) compared nothing; --learn-noise given a
# recording.
head -c 3000 samples/replayed.pb >"$T/cut.pb"
for args in "--summary samples/http-json.pb $T/cut.pb" "--summary samples/mixed.pb samples/replayed.pb" \
    "--learn-noise samples/http-json.pb samples/replayed.pb"; do
    koala-diff $args >"$T/out" 2>"$T/err"
    echo "exit $?"
    sed "s|$T|T|g" "$T/out" "$T/err"
done
