# koala-replay replays original koala session files too: a directory of them in time order of
# the sessions, then a single file (against replay_fake.py, a stand-in inbound server).
name=dump-koala-json-replay
. tests/cli/proc.inc
py=/usr/bin/python3

koala-dump -c 3 --koala-dir "$T/d" samples/mixed.pb || fail "koala-dump --koala-dir failed"
i=0
for f in $(ls "$T/d" | sort -r); do
    mv "$T/d/$f" "$T/d/s$i"
    i=$((i + 1))
done
$py tests/cli/replay_fake.py ok,ok,ok,ok "$T/log" >"$T/fake.out" 2>"$T/fake.err" &
pids="$pids $!"
port=$(port_of "$T/fake.out")
koala-replay --to ":$port" -o "$T/out.pb" "$T/d" tests/fixtures/koala-json/1548160113499755925-1158745 \
    2>"$T/err"
echo "exit $?"
sed -e 's/ in [0-9.]* s ([0-9.]* sessions\/s)$/ in T s (R sessions\/s)/' "$T/err"
cat "$T/log"
koala-dump "$T/out.pb" | cut -d' ' -f1-2
