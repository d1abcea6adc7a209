# The recorder in a Python server reading with MSG_TRUNC: a TCP read that throws bytes away
# records none of them (the buffer never held them), and a unix SOCK_SEQPACKET message larger
# than the buffer records only what the buffer holds, though the read returns its whole length.
name=rec-python-trunc
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" SOCK="$T/sp" timeout 20 python3 -c '
import os, socket, threading
def tcp_client(addr):
    c = socket.create_connection(addr)
    c.sendall(b"GET /1 HTTP/1.1\r\nX-Skip: 0123456789\r\n\r\n")
    print(c.recv(100))
    c.close()
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()
t = threading.Thread(target=tcp_client, args=(ls.getsockname(),)); t.start()
s, _ = ls.accept()
head = b""
while len(head) < 17:
    head += s.recv(17 - len(head))
skipped = 0
while skipped < 20:
    skipped += len(s.recv(20 - skipped, socket.MSG_TRUNC))
rest = s.recv(100)
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
t.join()
s.close()
print("read", head + rest, "skipped", skipped)

sp = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); sp.bind(os.environ["SOCK"]); sp.listen()
def sp_client():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); c.connect(os.environ["SOCK"])
    c.send(b"HELLO-01" + b"SECRET" * 6)
    print(c.recv(100))
    c.close()
t = threading.Thread(target=sp_client); t.start()
s, _ = sp.accept()
buf = bytearray(8)
n = s.recv_into(buf, 8, socket.MSG_TRUNC)
print("message of", n, "bytes, kept", bytes(buf))
s.send(b"ok")
t.join()
s.close()
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
koala-dump --json "$T"/rec/*.pb | /usr/bin/python3 tests/cli/rec_lib.py show
