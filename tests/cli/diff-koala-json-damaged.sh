# koala-diff of a directory of original koala session files, one of them damaged: the file is
# named, the other sessions are compared, and the exit status is 2 (trouble), not 0 as if every
# recorded session had been read and found identical. The damaged one is the session whose
# replay differs in more than noise (diff-samples).
koala-dump --koala-dir "$T/d" samples/http-json.pb
echo 'not json' > "$T/d/1709287200059791071-7108"
koala-diff --ignore-header x-request-id --ignore-json-path '$.loyalty.points' --summary \
    "$T/d" samples/replayed.pb 2>"$T/err"
echo "exit $?"
sed "s|$T|T|g" "$T/err"
