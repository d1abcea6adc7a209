# The recorder in a Python server that writes through libc (ctypes): dprintf to an O_APPEND log,
# one line longer than koala's 1 KiB formatting buffer, a stdio stream that fdopen(fd, "a") made
# appended (libc sets O_APPEND inside), a metric by dprintf on a connected UDP socket, and the
# response itself by dprintf on the socket. Each is recorded as written, and the files and the
# metric's receiver get what the service wrote.
name=rec-python-dprintf
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
: >"$T/app.log"
: >"$T/other.log"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" T="$T" timeout 20 python3 -c '
import ctypes, os, socket, sys
sys.path.insert(0, "tests/cli")
import rec_lib
libc = ctypes.CDLL(None, use_errno=True)
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = (ctypes.c_int, ctypes.c_char_p)
libc.fputs.argtypes = (ctypes.c_char_p, ctypes.c_void_p)
libc.fflush.argtypes = (ctypes.c_void_p,)
t = os.environ["T"]
s, th = rec_lib.one_client([b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"])
s.recv(100)
log = os.open(t + "/app.log", os.O_WRONLY | os.O_APPEND)
n = [libc.dprintf(log, b"dprintf %d\n", 7), libc.dprintf(log, b"%s\n", b"x" * 3000)]
f = libc.fdopen(os.open(t + "/other.log", os.O_WRONLY), b"a")
libc.fputs(b"fdopen line\n", f)
libc.fflush(f)
statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); statsd.bind(("127.0.0.1", 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(statsd.getsockname())
n.append(libc.dprintf(u.fileno(), b"hits:%d|c", 1))
n.append(libc.dprintf(s.fileno(), b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 1, b"a"))
th.join()
print(n, statsd.recv(100))
s.close()
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
wc -c <"$T/app.log"
cat "$T/other.log"
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 tests/cli/rec_lib.py show "$(cd "$T" && pwd -P)"
