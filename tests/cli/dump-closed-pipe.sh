# A reader that goes away (head) ends koala-dump quietly with status 2, and koala-merge too.
{ koala-dump -v samples/mixed.pb 2>"$T/err"; echo "exit $?" >"$T/code"; } | head -n 1
cat "$T/code"
wc -c < "$T/err"
{ koala-merge samples/mixed.pb samples/http-json.pb 2>"$T/err"; echo "exit $?" >"$T/code"; } |
    head -c 10 > /dev/null
cat "$T/code"
cat "$T/err"
