#!/usr/bin/env python3
"""backend.py - the sample service's HTTP/1.1 backend: JSON answers derived only from the path.

Debian's python3 standard library only. Threaded, keep-alive (protocol_version HTTP/1.1).
  GET /profile/ID   {"id":ID,"name":"user-ID","tier":...} with Content-Length; 404 past ID 1000
  GET /price/ITEM   {"item":ITEM,"price":CENTS} sent chunked (Transfer-Encoding: chunked)
Prints "listening on HOST:PORT" once ready (port 0 picks a free one); SIGTERM stops it cleanly.
--delay MS holds each answer back that long: a slow backend, so that its callers' requests
overlap.
"""
import argparse
import json
import re
import signal
import socket
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIERS = ("bronze", "silver", "gold")
ITEM = re.compile(r"[A-Za-z0-9_-]{1,32}")


def profile(uid):
    return {"id": uid, "name": "user-%d" % uid, "tier": TIERS[uid % len(TIERS)]}


def price(item):
    return 100 + zlib.crc32(item.encode()) % 9900


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and each chunk are separate writes; with Nagle on, every answer would wait for
    # the caller's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    verbose = False
    delay = 0.0

    def version_string(self):
        return "sample-backend/1"

    def log_message(self, fmt, *args):
        if self.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        time.sleep(self.delay)
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) == 3 and parts[1] == "profile" and parts[2].isdigit():
            uid = int(parts[2])
            if 1 <= uid <= 1000:
                self.send_json(200, profile(uid))
            else:
                self.send_json(404, {"error": "no such profile", "id": uid})
        elif len(parts) == 3 and parts[1] == "price" and ITEM.fullmatch(parts[2]):
            self.send_chunked(200, {"item": parts[2], "price": price(parts[2])})
        else:
            self.send_json(404, {"error": "not found"})

    def send_json(self, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        half = len(body) // 2
        for chunk in (body[:half], body[half:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description="HTTP/1.1 backend of the koala sample service")
    ap.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT, port 0 picks one")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--delay", type=float, default=0, metavar="MS", help="hold each answer back MS ms")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    Handler.verbose = args.verbose
    Handler.delay = args.delay / 1000
    server = Server((host, int(port)), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    bound = server.server_address
    shown = "[%s]" % bound[0] if ":" in bound[0] else bound[0]
    print("listening on %s:%d" % (shown, bound[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
