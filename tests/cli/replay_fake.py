"""replay_fake.py - a stand-in for the replayer's inbound server, for koala-replay's CLI tests
(replay-*.sh): it answers the POSTed koala.Session messages in the order they come, each as
the plan given on the command line says, so that every way an answer can go right or wrong is
met on purpose. Run with /usr/bin/python3 from the repository root:

    replay_fake.py PLAN [LOG]

PLAN is a comma-separated list of behaviours, one per request; requests past its end get "ok".
It prints "listening on 127.0.0.1:PORT" once it listens; with LOG it appends a line per request
there: "connection N: request M: SESSION-ID BEHAVIOUR".

ok          200, Content-Length, a ReplayedSession whose response is the recorded one
chunked     the same, chunked (a chunk extension, a trailer)
continue    an interim "100 Continue" answer first
calls       ok, with two CallOutbound actions (one matched #3, one unmatched) and recorded
            calls 5 and 7 never used
changed     ok, but the last letter at least 20 bytes from the response's end in the other case
error       ok, with one error in the ReplayedSession
errors      ok, with two errors
503         503 and a line of text
garbage     200 and bytes that are not a ReplayedSession
close-after ok, then the connection closes, saying nothing (as a server's idle timeout)
conn-close  ok with "Connection: close"
http10      HTTP/1.0 without length: the body runs until the close
hangup      the connection closes without an answer
slow        ok after 3 s
"""
import socket
import socketserver
import sys
import threading
import time

sys.path.insert(0, "tests/cli")
from rec_lib import _varint, pb_field, pb_fields  # noqa: E402

plan = sys.argv[1].split(",")
log = open(sys.argv[2], "a") if len(sys.argv) > 2 else None
lock = threading.Lock()
counts = {"connection": 0, "request": 0}


def varint_field(num, n):
    return _varint(num << 3) + _varint(n & 0xFFFFFFFFFFFFFFFF)


def replayed(session, behaviour):
    """A koala.ReplayedSession (proto/koala.proto) for the posted session."""
    f = pb_fields(session)
    sid = f.get(1, [b""])[0]
    request = pb_fields(f[12][0]).get(4, [b""])[0] if 12 in f else b""
    response = pb_fields(f[13][0]).get(3, [b""])[0] if 13 in f else b""
    answered = response
    if behaviour == "changed":
        i = max(i for i in range(len(response) - 19) if response[i:i + 1].isalpha())
        answered = response[:i] + response[i:i + 1].swapcase() + response[i + 1:]
    out = pb_field(1, sid) + pb_field(3, request) + pb_field(4, response) + pb_field(5, answered)
    if behaviour == "calls":
        for index, matched in (4, 3), (6, -1):
            # ReplayedAction: action = 1 {index = 1, call_outbound = 10 {request = 4}},
            # matched_index = 2
            action = varint_field(1, index) + pb_field(10, pb_field(4, b"GET /x HTTP/1.1\r\n\r\n"))
            out += pb_field(8, pb_field(1, action) + varint_field(2, matched))
        out += varint_field(9, 5) + varint_field(9, 7)
    if behaviour in ("error", "errors"):
        out += pb_field(10, b"the service answered nothing in 30 s")
    if behaviour == "errors":
        out += pb_field(10, b"an outbound call matched nothing")
    return sid.decode(), out


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        with lock:
            counts["connection"] += 1
            conn = counts["connection"]
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                more = self.request.recv(65536)
                if not more:
                    return
                data += more
            head, _, data = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(data) < length:
                more = self.request.recv(65536)
                if not more:
                    return
                data += more
            body, data = data[:length], data[length:]
            with lock:
                counts["request"] += 1
                n = counts["request"]
            behaviour = plan[n - 1] if n <= len(plan) else "ok"
            sid, answer = replayed(body, behaviour)
            if log:
                log.write("connection %d: request %d: %s %s\n" % (conn, n, sid, behaviour))
                log.flush()
            try:
                if not self.answer(behaviour, answer):
                    return
            except OSError:  # the client gave up (slow)
                return

    def answer(self, behaviour, answer):
        """Send the answer. @return whether the connection stays open."""
        s = self.request
        pb = b"Content-Type: application/x-protobuf\r\n"
        if behaviour == "hangup":
            return False
        if behaviour == "slow":
            time.sleep(3)
        if behaviour == "continue":
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if behaviour == "503":
            text = b"busy: try later\n"
            s.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
            return True
        if behaviour == "garbage":
            s.sendall(b"HTTP/1.1 200 OK\r\n" + pb + b"Content-Length: 3\r\n\r\n\xff\xff\xff")
            return True
        if behaviour == "chunked":
            parts = [answer[:5], answer[5:17], answer[17:]]
            body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts if p)
            s.sendall(b"HTTP/1.1 200 OK\r\n" + pb + b"Transfer-Encoding: chunked\r\n\r\n" + body +
                      b"0\r\nX-Trailer: yes\r\n\r\n")
            return True
        if behaviour == "http10":
            s.sendall(b"HTTP/1.0 200 OK\r\n" + pb + b"\r\n" + answer)
            return False
        close = behaviour == "conn-close"
        s.sendall(b"HTTP/1.1 200 OK\r\n" + pb + (b"Connection: close\r\n" if close else b"") +
                  b"Content-Length: %d\r\n\r\n" % len(answer) + answer)
        return behaviour not in ("close-after", "conn-close")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
