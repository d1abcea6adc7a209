# Damaged session files among good ones: each is named with the JSON path and place at fault,
# every other session is still read, and the exit status is 2 (as for a damaged .pb file).
f=tests/fixtures/koala-json/1548160113499755925-1158745
koala-dump -c 4 --koala-dir "$T/d" samples/redis.pb
ls "$T/d" > "$T/names"
good=$(sed -n 1p "$T/names")
# a bad escape in a request, a string where a number belongs, a cut file, an empty file named
# as a session, a file that is no JSON object, and the fixture with an unknown action type
sed 's/GET/\\\\xZ1GET/' "$T/d/$(sed -n 2p "$T/names")" > "$T/d/1709287300000000000-1"
sed 's/"ThreadId": \([0-9]*\)/"ThreadId": "\1"/' "$T/d/$(sed -n 3p "$T/names")" > "$T/d/1709287300000000000-2"
head -c 700 "$T/d/$(sed -n 4p "$T/names")" > "$T/d/1709287300000000000-3"
: > "$T/d/1709287300000000000-4"
echo 'not json' > "$T/d/1709287300000000000-5"
sed 's/"ActionType": "CallOutbound"/"ActionType": "CallOut"/' "$f" > "$T/d/1709287300000000000-6"
{ koala-dump "$T/d" 2>&1; echo "exit $?"; } | sed "s|$T|T|g"
koala-dump --count "$T/d" 2>/dev/null
echo "exit $?"
koala-merge -o "$T/m.pb" "$T/d" samples/mysql.pb 2>/dev/null
echo "merge exit $? sessions $(koala-dump --count "$T/m.pb")"
# a damaged file given as a FILE argument: named, the other FILEs still read; exit 2
koala-dump --count "$T/d/1709287300000000000-1" "$T/d/$good" "$f" 2>"$T/err"
status=$?
sed "s|$T|T|g" "$T/err"
exit $status
