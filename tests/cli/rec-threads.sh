# koala's threads under the recorder: a process that records nothing (a short command a service
# runs) starts none and writes no file; a server starts its collector and writer with its first
# session, each named so that ps -L and top -H tell them from the service's own.
name=rec-threads
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
echo "# a shell that records nothing: its threads, and the files written"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    sh -c 'cat /proc/$$/task/*/comm'
ls "$T/rec" | wc -l

# A background job of a non-interactive shell starts with SIGINT ignored; Python then never
# turns it into KeyboardInterrupt, which is what stops http.server cleanly.
env --default-signal=INT LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" \
    KOALA_WITCH_ADDR=off PYTHONUNBUFFERED=1 python3 -m http.server --bind 127.0.0.1 --directory "$T" 0 \
    >"$T/srv.out" 2>"$T/srv.err" &
srv=$!
pids="$pids $srv"
port=$(http_server_port "$T/srv.out" "$T/srv.err") || exit 2
echo "# http.server before its first request: koala's threads"
grep -h '^koala' /proc/$srv/task/*/comm | sort
curl -s -o /dev/null "http://127.0.0.1:$port/" || fail "curl failed"
threads() {
    [ "$(grep -h '^koala' /proc/$srv/task/*/comm | sort | tr '\n' ' ')" = "koala-collector koala-writer " ]
}
wait_until threads || fail "koala's threads after a request: $(cat /proc/$srv/task/*/comm)"
echo "# after it"
grep -h '^koala' /proc/$srv/task/*/comm | sort
kill -INT "$srv"
exit_status "$srv"
koala-dump --count "$T"/rec/*.pb
