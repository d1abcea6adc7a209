# The recorder in a Python server that closes a connection's fd while a copy of it (os.dup,
# socket.fromfd) stays open and carries on: the connection goes on too, its session whole. An
# inbound one answered on the copy, read and answered again through socket.fromfd's, and an
# outbound one called through its copy.
name=rec-python-dup
. tests/cli/proc.inc
. tests/cli/preload.inc

start_upper_echo || exit 2

mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" UP=$upp timeout 20 python3 -c '
import os, socket, sys
sys.path.insert(0, "tests/cli")
import rec_lib
s, t = rec_lib.one_client([b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"])
fd = s.detach()
os.read(fd, 100)
o = socket.create_connection(("127.0.0.1", int(os.environ["UP"])))
od = os.dup(o.fileno())
o.close()
os.write(od, b"ping")
os.read(od, 100)
d = os.dup(fd)
os.close(fd)
os.write(d, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
s2 = socket.fromfd(d, socket.AF_INET, socket.SOCK_STREAM)
os.close(d)
s2.recv(100)
os.write(od, b"pong")
os.read(od, 100)
os.close(od)
s2.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
t.join()
s2.close()
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 tests/cli/rec_lib.py show
