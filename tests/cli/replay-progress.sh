# koala-replay's progress bar: on a terminal (script(1) gives it one) a bar redrawn in place,
# cleared before each failure line and before the summary; nothing of it when stderr is a file.
name=replay-progress
. tests/cli/proc.inc
py=/usr/bin/python3
command -v script >/dev/null || fail "script(1) not found (Debian: bsdutils)"

$py tests/cli/replay_fake.py ok,503,ok,ok,503 >"$T/fake.out" 2>"$T/fake.err" &
pids="$pids $!"
port=$(port_of "$T/fake.out")

echo "# a terminal: the last state of the bar, and the lines printed over it"
script -qec "koala-replay --to :$port samples/redis.pb" /dev/null >"$T/tty" </dev/null
echo "exit $?"
# Each redraw starts with a carriage return and ends by clearing the rest of the line.
tr '\r' '\n' <"$T/tty" | sed -e 's/\x1b\[K//g' -e '/^$/d' -e 's/ [0-9]*\/s / R\/s /' \
    -e 's/ in [0-9.]* s ([0-9.]* sessions\/s)$/ in T s (R sessions\/s)/' >"$T/lines"
grep -v '^\[' "$T/lines"
grep '^\[' "$T/lines" | tail -n 1
echo "bars drawn: $(grep -c '^\[' "$T/lines" | sed 's/^[1-9][0-9]*$/some/')"
echo "every line starts clean: $(grep -c '^\[.*koala-replay' "$T/lines" | sed 's/^0$/yes/')"

echo "# not a terminal: no carriage return"
koala-replay --to ":$port" samples/redis.pb 2>"$T/err"
echo "exit $?, carriage returns: $(tr -cd '\r' <"$T/err" | wc -c)"
