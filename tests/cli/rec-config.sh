# The recorder's KOALA_* variables end to end on the sample service: Redis bypassed by
# KOALA_OUTBOUND_BYPASS_ADDR (never recorded), KOALA_MAX_ACTIONS=1 cutting sessions (marked
# truncated), the log in KOALA_LOG_FILE at KOALA_LOG_LEVEL=DEBUG, the witch on the port
# KOALA_WITCH_ADDR names, and a bad value named in one log line with its default used.
name=rec-config
. tests/cli/svc-env.inc
. tests/cli/preload.inc

wp=$(free_ports)
LD_PRELOAD="$preload" KOALA_RECORD_TO_DIR="$T/rec" KOALA_OUTBOUND_BYPASS_ADDR=":$rp" \
    KOALA_MAX_ACTIONS=1 KOALA_LOG_FILE="$T/koala.log" KOALA_LOG_LEVEL=DEBUG \
    KOALA_GC_GLOBAL_STATUS_TIMEOUT=soon KOALA_WITCH_ADDR=":$wp" \
    sample-svc --listen 127.0.0.1:0 --backend "127.0.0.1:$bp" --redis "127.0.0.1:$rp" \
    --log "$T/svc.log" --threads 2 >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
sp=$(port_of "$T/svc.out") || exit 2
timeout 20 sample-client --to "127.0.0.1:$sp" --raw GET /user/7 'POST' /order '{"user":7,"item":"lamp","qty":1}' >/dev/null
echo "client exit $?"
kill -TERM "$svc"
exit_status "$svc"
echo "# stderr of the service (the log went to KOALA_LOG_FILE)"
cat "$T/svc.err"
grep -q ' DEBUG ' "$T/koala.log" && debug=present || debug=MISSING
echo "# the log: DEBUG lines $debug; the witch's (its thread's, in any order with the others):"
sed -n "s|^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] \([A-Z]* witch: .*\)|\1|p" "$T/koala.log" | sed "s|:$wp/|:PORT/|"
echo "# the others:"
sed -n 's/^[0-9-]*T[0-9:.]*Z koala\[[0-9]*\] //p' "$T/koala.log" | grep -v -e '^DEBUG' -e '^[A-Z]* witch: ' |
    sed -e "s|$T|\$T|g" -e 's/sample-svc-[0-9]*-[0-9]*\.pb/sample-svc-PID-START.pb/' -e 's/ [0-9]* bytes in / N bytes in /'
echo "# the sessions: no Redis call, at most 1 action"
koala-dump "$T"/rec/*.pb | sed 's/^[^ ]* [^ ]* [^ ]* //' | sort
koala-dump -Y 'outbound.port == '"$rp" --count "$T"/rec/*.pb
koala-dump -Y 'session.truncated' --count "$T"/rec/*.pb
