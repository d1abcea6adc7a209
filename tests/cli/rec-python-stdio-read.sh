# The recorder in a Python server that reads its request through a stdio stream on the socket
# (ctypes: fdopen of a copy of the fd, then fgets, getline, __getdelim, getdelim, __fgets_chk,
# fgets_unlocked, fgetc, getc, fread, fread_unlocked, __fread_chk): glibc fills the stream by
# its internal read, so each call's bytes are recorded as the service takes them, and the
# session's request is the request sent.
name=rec-python-stdio-read
. tests/cli/proc.inc
. tests/cli/preload.inc

mkdir "$T/rec"
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 KOALA_RECORD_TO_DIR="$T/rec" timeout 20 python3 -c '
import ctypes, os, sys
sys.path.insert(0, "tests/cli")
import rec_lib
C = ctypes
libc = C.CDLL(None, use_errno=True)
libc.fdopen.restype = C.c_void_p
libc.fdopen.argtypes = (C.c_int, C.c_char_p)
for name in ("fgets", "fgets_unlocked"):
    getattr(libc, name).argtypes = (C.c_char_p, C.c_int, C.c_void_p)
libc.__fgets_chk.argtypes = (C.c_char_p, C.c_size_t, C.c_int, C.c_void_p)
libc.getline.argtypes = (C.POINTER(C.c_char_p), C.POINTER(C.c_size_t), C.c_void_p)
for name in ("getdelim", "__getdelim"):
    getattr(libc, name).argtypes = (C.POINTER(C.c_char_p), C.POINTER(C.c_size_t), C.c_int, C.c_void_p)
for name in ("fgetc", "getc", "fclose"):
    getattr(libc, name).argtypes = (C.c_void_p,)
for name in ("fread", "fread_unlocked"):
    getattr(libc, name).argtypes = (C.c_char_p, C.c_size_t, C.c_size_t, C.c_void_p)
libc.__fread_chk.argtypes = (C.c_char_p, C.c_size_t, C.c_size_t, C.c_size_t, C.c_void_p)
request = b"POST /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nContent-Length: 6\r\n\r\nabcdef"
s, th = rec_lib.one_client([request])
f = libc.fdopen(os.dup(s.fileno()), b"r")
buf = C.create_string_buffer(100)
got = []
def line(fn, *args):
    fn(buf, *args, f)
    got.append(buf.value)
def delim(fn, *args):
    p, cap = C.c_char_p(None), C.c_size_t(0)
    fn(C.byref(p), C.byref(cap), *args, f)
    got.append(p.value)
def block(fn, *args):
    n = fn(buf, *args, 1, 2, f)
    got.append(buf.raw[:n])
line(libc.fgets, 100)
delim(libc.getline)
delim(libc.__getdelim, 10)
delim(libc.getdelim, 10)
line(libc.__fgets_chk, 100, 100)
line(libc.fgets_unlocked, 100)
got.append(bytes([libc.fgetc(f), libc.getc(f)]))
block(libc.fread)
block(libc.fread_unlocked)
block(libc.__fread_chk, 100)
libc.fclose(f)
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
th.join()
s.close()
print("read whole:", b"".join(got) == request, len(got), "calls")
' 2>"$T/err"
echo "exit $?"
grep -v ' INFO ' "$T/err"
koala-dump --json "$T"/rec/*.pb | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    print("session:", repr(s["CallFromInbound"]["Request"]), "->", repr(s["ReturnInbound"]["Response"]))
'
