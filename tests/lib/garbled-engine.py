#!/usr/bin/env python3
"""garbled-engine.py - an engine that answers the handshake (/_ping,
/version) like dockerd 20.10 and everything else badly, to test what the
client makes of it (the garbled engine is the thing under test: a real
dockerd never sends these). Usage: garbled-engine.py MODE PORTFILE
  MODE malformed: 200 with JSON cut short
       wrongtype: 200 with JSON of the wrong type (an object for a list, ...)
       ansi:      500 whose body is ANSI escapes, a newline and 100 KB
       ansijson:  the same as the JSON error body's "message"
Listens on 127.0.0.1 (port 0: the kernel picks; written to PORTFILE),
logs every request line to stderr, runs until killed."""
import http.server
import json
import sys

MODE = sys.argv[1]
VERSION = {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24", "Os": "linux", "Arch": "amd64"}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Api-Version", "1.41")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        path = self.path.split("?")[0]
        if path == "/_ping":
            return self.reply(200, "OK", "text/plain")
        if path.endswith("/version"):
            return self.reply(200, json.dumps(VERSION))
        if MODE == "malformed":
            return self.reply(200, '[{"Id": "abc", "Names": ["/x"')
        if MODE == "wrongtype":
            if path.endswith("/json") and ("/containers/" in path or "/images/" in path) and not path.endswith("s/json"):
                return self.reply(200, '["inspect", "wants", "an", "object"]')
            if path.endswith("/volumes"):
                return self.reply(200, '{"Volumes": "none"}')
            return self.reply(200, '{"Id": 7, "message": "a list was asked for"}')
        if MODE == "ansi":
            return self.reply(500, "\x1b[31mRED\x1b]0;title\x07\nsecond line " + "x" * 100000, "text/plain")
        if MODE == "ansijson":
            return self.reply(500, json.dumps({"message": "\x1b[31mRED\x1b]0;title\x07\nsecond line " + "x" * 100000}))
        return self.reply(500, '{"message": "unknown mode"}')

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = handle_any

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (self.requestline,))


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
import os
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
