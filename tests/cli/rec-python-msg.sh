# The recorder in a Python server, for the calls sample-svc does not make: recvmsg and sendmsg
# on the inbound socket, os.readv and os.writev on a dup of it, an outbound call with os.write
# and os.read, a UDP datagram by sendmsg with an address, and the fd numbers closed and reused.
name=rec-python-msg
. tests/cli/proc.inc
. tests/cli/preload.inc

start_upper_echo || exit 2

mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" UP=$upp timeout 20 python3 -c '
import os, socket, sys
sys.path.insert(0, "tests/cli")
import rec_lib
up = ("127.0.0.1", int(os.environ["UP"]))
s, t = rec_lib.one_client([b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"])
o = socket.create_connection(up)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
buf = bytearray(100)
n = s.recvmsg_into([buf])[0]
os.write(o.fileno(), b"ping-" + bytes(buf[5:6]))
os.read(o.fileno(), 100)
u.sendmsg([b"metric:", b"1|c"], [], 0, ("127.0.0.1", 9))
s.sendmsg([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", b"a"])
d = os.dup(s.fileno())
head, rest = bytearray(10), bytearray(90)
os.readv(d, [head, rest])
o.close()
o = socket.create_connection(up)
o.sendall(b"pong")
o.recv(100)
os.writev(d, [b"HTTP/1.1 200 OK\r\n", b"Content-Length: 1\r\n\r\nb"])
t.join()
os.close(d)
s.close()
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 tests/cli/rec_lib.py show
