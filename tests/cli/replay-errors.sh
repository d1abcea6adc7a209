# koala-replay's trouble, each exiting 2 with one clear line: usage errors, no inbound server at
# ADDR (and no input either: the inputs are named first), inputs missing, damaged or of the replayed kind (the sessions that can be read are still
# replayed), the output also an input; and stdin and stdout as files, the closing summary of a
# run stopped by SIGTERM. Against the stand-in inbound server (replay_fake.py).
name=replay-errors
. tests/cli/proc.inc
py=/usr/bin/python3

summary() {
    sed -e 's/ in [0-9.]* s ([0-9.]* sessions\/s)$/ in T s (R sessions\/s)/' "$@"
}

echo "# usage errors: nothing on stdout, the first line of stderr"
for args in "--bogus" "-j" "-j 0 samples/redis.pb" "-j 300 samples/redis.pb" \
    "--timeout soon samples/redis.pb" "--to nowhere samples/redis.pb" \
    "--to /run/koala.sock samples/redis.pb" "--to 127.0.0.1 samples/redis.pb" \
    "-Y 'port ==' samples/redis.pb" "- -" ""; do
    eval "koala-replay $args" >"$T/out" 2>"$T/err"
    echo "exit $? stdout $(wc -c <"$T/out") $(head -n 1 "$T/err")"
done

echo "# no inbound server"
down=$(free_ports)
koala-replay --to ":$down" -o "$T/never.pb" samples/redis.pb 2>"$T/err"
echo "exit $?, output file created: $([ -e "$T/never.pb" ] && echo yes || echo no)"
sed "s/:$down:/:PORT:/" "$T/err"
echo "# nor any input: the inputs are named, not the server"
koala-replay --to ":$down" missing.pb also-missing.pb 2>"$T/err"
echo "exit $?"
cat "$T/err"

$py tests/cli/replay_fake.py "" >"$T/fake.out" 2>"$T/fake.err" &
pids="$pids $!"
port=$(port_of "$T/fake.out")
to="--to 127.0.0.1:$port"

echo "# a damaged input: what it holds is replayed"
koala-replay $to -o "$T/trunc.pb" samples/bad/truncated-mid-frame.pb 2>"$T/err"
echo "exit $?, replayed sessions written: $(koala-dump --count "$T/trunc.pb")"
summary "$T/err"

echo "# a missing input and a replayed file: the other inputs are replayed"
koala-replay $to -o "$T/some.pb" missing.pb samples/replayed.pb samples/redis.pb 2>"$T/err"
echo "exit $?, replayed sessions written: $(koala-dump --count "$T/some.pb") of $(koala-dump --count samples/redis.pb)"
summary "$T/err"

echo "# the output is an input"
cp samples/redis.pb "$T/in.pb"
koala-replay $to -o "$T/in.pb" samples/mysql.pb "$T/in.pb" 2>"$T/err"
echo "exit $?, input intact: $(cmp -s samples/redis.pb "$T/in.pb" && echo yes || echo no)"
sed "s|$T|T|" "$T/err"

echo "# stdin in, stdout out"
koala-replay $to -o - - <samples/redis.pb 2>/dev/null | koala-dump --count -

echo "# SIGTERM: the sessions on their way finish, the output is complete, the summary says so"
$py tests/cli/replay_fake.py slow,slow,slow,slow,slow,slow >"$T/slow.out" 2>"$T/slow.err" &
pids="$pids $!"
slow=$(port_of "$T/slow.out")
koala-replay --to ":$slow" -j 2 -o "$T/cut.pb" samples/redis.pb 2>"$T/err" &
rp=$!
sleep 1
kill -TERM $rp
exit_status $rp
summary "$T/err"
koala-dump --info "$T/cut.pb" | grep -E '^(Kind|Index|Sessions):'
