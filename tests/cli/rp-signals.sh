# A service's signals are the service's: under the replayer, a Python service listens on
# KOALA_SUT_ADDR (the replayer's servers and their threads start there), then blocks SIGUSR1,
# to take it later with sigwait, as services that handle their signals on one thread do. The
# signal comes while the service is busy elsewhere: it waits, pending, for sigwait. A thread
# of koala's that left it unblocked would take it instead and die of it, the service with it.
name=rp-signals
. tests/cli/proc.inc
hook=libkoala-replayer
. tests/cli/preload.inc
py=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a wrapper script
read -r sp ip op <<EOF
$(free_ports 3)
EOF
LD_PRELOAD="$preload" KOALA_SUT_ADDR="127.0.0.1:$sp" KOALA_INBOUND_ADDR=":$ip" \
    KOALA_OUTBOUND_ADDR=":$op" KOALA_WITCH_ADDR=off ASAN_OPTIONS=detect_leaks=0 "$py" -c '
import os, signal, socket, sys, time
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
while not os.path.exists(sys.argv[2]):  # busy until the signal was sent
    time.sleep(0.05)
print("sigwait:", signal.Signals(signal.sigwait({signal.SIGUSR1})).name, flush=True)' "$sp" "$T/sent" \
    >"$T/svc.out" 2>"$T/svc.err" &
svc=$!
pids="$pids $svc"
port_of "$T/svc.out" >/dev/null || exit 2
replayer_up "$T/svc.err"
kill -USR1 "$svc"
: >"$T/sent"
exit_status "$svc"
grep '^sigwait: ' "$T/svc.out"
