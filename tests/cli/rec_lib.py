"""rec_lib.py - what the recorder's, replayer's and witch's CLI tests (rec-*.sh, rp-*.sh,
witch-*.sh) share: reading `koala-dump --json` output back into bytes, a connection read to its
end, a client thread asking a listener, a condition polled, splitting HTTP/1.x byte streams into
messages, a replayed response judged against the recorded one, curl --trace files, a session's
actions printed, and koala.Session messages built by hand for the replayer's inbound server.
Imported from the checkers and clients those tests run with /usr/bin/python3 from the repository
root; run as `python3 tests/cli/rec_lib.py show [DIR]` it prints the sessions of `koala-dump
--json` on stdin."""
import json
import re

_ESC = re.compile(rb"\\x([0-9a-fA-F]{2})")


def unescape(s):
    """The bytes of a Request, Response or Content field (the original koala's escaping:
    JSON-unescaped text, every other byte as the text \\xHH, a backslash as \\x5c)."""
    return _ESC.sub(lambda m: bytes([int(m.group(1), 16)]), s.encode("utf-8"))


def sessions(path, by_time=False):
    """Every session of a `koala-dump --json` output file, in file order, or by the time of
    their inbound request."""
    with open(path, encoding="utf-8") as f:
        out = [json.loads(line) for line in f if line.strip()]
    if by_time:
        out.sort(key=lambda s: s["CallFromInbound"]["OccurredAt"])
    return out


def recv_all(sock):
    """Everything sock receives until its peer closes the connection."""
    data = b""
    while True:
        more = sock.recv(65536)
        if not more:
            return data
        data += more


def one_client(requests):
    """A client thread on a loopback listener, sending each of requests in turn on one
    connection and printing the first 100 bytes of each answer: (the accepted socket, the
    thread, already started). The listener is closed once the connection is accepted."""
    import socket
    import threading
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen()

    def ask():
        c = socket.create_connection(ls.getsockname())
        for q in requests:
            c.sendall(q)
            print(c.recv(100))
        c.close()
    t = threading.Thread(target=ask)
    t.start()
    s, _ = ls.accept()
    ls.close()
    return s, t


def poll_until(fetch, done, seconds=5):
    """fetch() every 0.1 s until done(its result), for `seconds` at most: the last result."""
    import time
    for _ in range(int(seconds * 10)):
        got = fetch()
        if done(got):
            break
        time.sleep(0.1)
    return got


def http_messages(data):
    """Split a stream of HTTP/1.x messages whose bodies have a Content-Length (or none)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
        n = int(m.group(1)) if m else 0
        out.append(head + sep + rest[:n])
        data = rest[n:]
    return out


def head_body(msg):
    """An HTTP message's head (without the blank line) and body."""
    head, _, body = msg.partition(b"\r\n\r\n")
    return head, body


def _date_apart(head):
    """An HTTP head without its Date header, and that header's time (None when none)."""
    from email.utils import parsedate_to_datetime
    lines, when = [], None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"date: "):
            when = parsedate_to_datetime(line[6:].decode()).timestamp()
        else:
            lines.append(line)
    return b"\r\n".join(lines), when


def same_answer(replayed, recorded):
    """Whether a replayed HTTP response is the recorded one: byte for byte, but for a Date
    header a second either side. The replayed clock runs on from the recorded request, so a
    replay slower or faster than the recording (an ASan build, a first request that loads
    modules) may cross a second boundary the recording did not. A response that differs
    otherwise has both heads printed to stderr."""
    if replayed == recorded:
        return True
    (h1, b1), (h2, b2) = head_body(replayed), head_body(recorded)
    (r1, t1), (r2, t2) = _date_apart(h1), _date_apart(h2)
    if b1 == b2 and r1 == r2 and t1 is not None and t2 is not None and abs(t1 - t2) <= 1:
        return True
    import sys
    print("replayed", h1, "\nrecorded", h2, file=sys.stderr)
    return False


def curl_trace(path):
    """What a `curl --trace FILE` run sent and received, each as one byte string in order."""
    sent, got = bytearray(), bytearray()
    dest, left = None, 0
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = re.match(r"(=>|<=) (Send|Recv) (header|data), ([0-9]+) bytes", line)
            if m:
                dest, left = (sent if m.group(1) == "=>" else got), int(m.group(4))
                continue
            if left > 0 and re.match(r"[0-9a-f]{4}: ", line):
                # "0000: 47 45 54 ... GET ..." - the hex pairs, then the text.
                n = min(16, left)
                dest.extend(bytes.fromhex(" ".join(line[6:].split(" ")[:n])))
                left -= n
    return bytes(sent), bytes(got)


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def pb_field(num, data):
    """A length-delimited protobuf field."""
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def pb_session(sid, request, response, redirect_dirs=(), mock_files=()):
    """A koala.Session (proto/koala.proto): id = 1, call_from_inbound = 12 {request = 4},
    return_inbound = 13 {response = 3}, redirect_dirs = 16 and mock_files = 17 (KeyValue
    {key = 1, value = 2}), from (key, value) byte pairs."""
    out = pb_field(1, sid.encode()) + pb_field(12, pb_field(4, request)) + pb_field(13, pb_field(3, response))
    for num, pairs in (16, redirect_dirs), (17, mock_files):
        for k, v in pairs:
            out += pb_field(num, pb_field(1, k) + pb_field(2, v))
    return out


def _read_varint(data, i):
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def pb_fields(data):
    """The length-delimited fields of a protobuf message, by number (repeated ones in a list)."""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _read_varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _read_varint(data, i)
            out.setdefault(num, []).append(data[i:i + n])
            i += n
        else:
            raise ValueError("wire type %d" % wire)
    return out


def post_session(port, body, path="/", timeout=10):
    """POST body to path on the replayer's inbound server on port (/json takes the original
    koala's JSON): (status, content type, answer)."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def _brief(text):
    """repr of text, its middle left out when it is long."""
    if len(text) <= 64:
        return repr(text)
    return "%r ... %r (%d bytes)" % (text[:10], text[-6:], len(text))


def show(lines, root=None):
    """Each session of `koala-dump --json` lines as its request and response, then one line per
    action: its type, what it sent (or appended, to a file named with root shown as T) and what
    came back."""
    for line in lines:
        s = json.loads(line)
        print("session:", repr(s["CallFromInbound"]["Request"]), "->", repr(s["ReturnInbound"]["Response"]))
        for a in s["Actions"]:
            if a["ActionType"] == "AppendFile":
                name = a["FileName"].replace(root, "T") if root else a["FileName"]
                print("   ", a["ActionType"], name, _brief(a["Content"]))
            else:
                print("   ", a["ActionType"], _brief(a.get("Request", a.get("Content", ""))),
                      _brief(a.get("Response", "")))


FCGI_NAMES = {1: "BEGIN", 3: "END", 4: "PARAMS", 5: "STDIN", 6: "STDOUT"}


def fcgi_records(data):
    """The FastCGI records in data as (type, content) pairs, and the bytes after the last whole
    one."""
    import struct
    out = []
    while len(data) >= 8:
        _, kind, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        if len(data) < 8 + clen + plen:
            break
        out.append((kind, data[8:8 + clen]))
        data = data[8 + clen + plen:]
    return out, data


def fcgi_params(data):
    """The name-value pairs of FCGI_PARAMS content, as a dict of str."""
    import struct
    out, i = {}, 0
    while i < len(data):
        lens = []
        for _ in range(2):
            n = data[i]
            if n >> 7:
                n = struct.unpack(">I", data[i:i + 4])[0] & 0x7fffffff
                i += 4
            else:
                i += 1
            lens.append(n)
        out[data[i:i + lens[0]].decode()] = data[i + lens[0]:i + lens[0] + lens[1]].decode()
        i += lens[0] + lens[1]
    return out


def show_actions(s, root, peers):
    """One line per action of session s but its ReturnInbound: a call with its peer (a port
    that peers, a dict, names by its name) and request -> response, an appended file with its
    name (root shown as T) and content, a datagram with its peer and content."""
    for a in s["Actions"]:
        t = a["ActionType"]
        peer = peers.get(a.get("Peer", {}).get("Port"), a.get("Peer", {}).get("Port"))
        if t == "CallOutbound":
            print("   ", t, peer, unescape(a["Request"]), "->", unescape(a["Response"]))
        elif t == "AppendFile":
            print("   ", t, a["FileName"].replace(root, "T"), unescape(a["Content"]))
        elif t == "SendUDP":
            print("   ", t, peer, unescape(a["Content"]))
        elif t != "ReturnInbound":
            print("   ", t)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] != ["show"] or len(sys.argv) > 3:
        sys.exit("usage: rec_lib.py show [DIR] < koala-dump --json output (DIR: shown as T in file names)")
    show(sys.stdin, sys.argv[2] if len(sys.argv) > 2 else None)
