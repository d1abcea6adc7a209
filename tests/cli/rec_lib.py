"""rec_lib.py - what the recorder's CLI tests (rec-*.sh) share: reading `koala-dump --json`
output back into bytes, splitting HTTP/1.x byte streams into messages, and curl --trace files.
Imported from the checkers those tests run with /usr/bin/python3 from the repository root."""
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
