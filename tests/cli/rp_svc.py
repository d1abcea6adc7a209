"""rp_svc.py - a small threaded HTTP service for the replayer's CLI test (rp-python-svc.sh):
each path makes one kind of call koala replays. Its dependencies' ports come from the
environment; it prints "listening on 127.0.0.1:PORT" once it serves.

  /greet    a server that speaks first: read its greeting, send "LOGIN $RP_LOGIN", read the reply
  /bypass   one line to an echo server (the replayer leaves it alone: KOALA_OUTBOUND_BYPASS_PORT)
  /time     the wall clock, time.time()
  /udp      a statsd-style datagram
  /fn       to-koala!call-function and to-koala!return-function helper messages, and a
            call-function whose payload is not an action
  /file?P   the content of file P, or why it cannot be read
  /worker   /greet's calls and a datagram, made by a thread of its own

Each connection's thread first delegates to a virtual thread of its own
(to-koala!set-delegated-from-thread-id), as event-loop services do; /worker's thread delegates
to the same one, so that its calls belong to the request's session.
"""
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

GREET = int(os.environ["RP_GREET_PORT"])
ECHO = int(os.environ["RP_ECHO_PORT"])
UDP = int(os.environ["RP_UDP_PORT"])
LOGIN = os.environ.get("RP_LOGIN", "koala").encode()
HELPER = ("127.127.127.127", 127)
vtids = iter(range(7001, 1 << 30))


def delegate(vtid):
    """This thread's traffic goes to virtual thread vtid's session."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"to-koala!set-delegated-from-thread-id\n", vtid, HELPER)


def one_line_call(port, first, send):
    """Connect to port, read a first line when `first`, send `send`, read one line back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        hello = f.readline().strip() if first else b""
        s.sendall(send)
        return hello, f.readline().strip() or b"(closed)"


def greet():
    hello, reply = one_line_call(GREET, True, b"LOGIN " + LOGIN + b"\n")
    return b"greeting " + hello + b", reply " + reply


def datagram(text):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(text, ("127.0.0.1", UDP))


def on_worker(vtid):
    out = []
    def work():
        delegate(vtid)
        out.append(greet())
        datagram(b"rp.worker:1|c")
    t = threading.Thread(target=work)
    t.start()
    t.join()
    return b"worker: " + out[0]


def answer(path, vtid):
    if path == "/greet":
        return greet()
    if path == "/worker":
        return on_worker(vtid)
    if path == "/bypass":
        return b"echo " + one_line_call(ECHO, False, b"ping\n")[1]
    if path == "/time":
        return b"%.6f" % time.time()
    if path == "/udp":
        datagram(b"rp.requests:1|c")
        return b"sent"
    if path == "/fn":
        call = {"FuncName": "price", "CallFromFile": "rp_svc.py", "CallFromLine": 58,
                "CallIntoFile": "shop.py", "CallIntoLine": 3, "Args": [7, "lamp"]}
        ret = {"CallFunctionId": "1", "ReturnValue": {"price": 12}}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"to-koala!call-function\n" + json.dumps(call).encode(), HELPER)
            s.sendto(b"to-koala!return-function\n" + json.dumps(ret).encode(), HELPER)
            # not an action: a line number written as a word, refused with its path
            s.sendto(b"to-koala!call-function\n" + b'{"FuncName": "tax", "CallIntoLine": "three"}', HELPER)
        return b"called"
    if path.startswith("/file?"):
        name = urllib.parse.unquote(path[6:])
        try:
            with open(name, "rb") as f:
                return f.read()
        except OSError as e:
            return b"cannot read: " + e.strerror.encode()
    return b"no such path"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.vtid = next(vtids)
        delegate(self.vtid)
        super().setup()

    def do_GET(self):
        body = answer(self.path, self.vtid)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
