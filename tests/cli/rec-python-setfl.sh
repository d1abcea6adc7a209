# The recorder in a Python server that makes a file appended to after opening it
# (fcntl F_SETFL O_APPEND, as a logger reopening its file may): what it writes then is an
# AppendFile action, named by the file's path; once O_APPEND is cleared, its writes are not.
name=rec-python-setfl
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
: >"$T/app.log"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" LOG="$T/app.log" timeout 20 python3 -c '
import fcntl, os, sys
sys.path.insert(0, "tests/cli")
import rec_lib
s, t = rec_lib.one_client([b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"])
s.recv(100)
log = os.open(os.environ["LOG"], os.O_WRONLY)
fcntl.fcntl(log, fcntl.F_SETFL, fcntl.fcntl(log, fcntl.F_GETFL) | os.O_APPEND)
os.write(log, b"appended\n")
fcntl.fcntl(log, fcntl.F_SETFL, fcntl.fcntl(log, fcntl.F_GETFL) & ~os.O_APPEND)
os.write(log, b"written in place\n")
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
t.join()
s.close()
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 tests/cli/rec_lib.py show "$(cd "$T" && pwd -P)"
