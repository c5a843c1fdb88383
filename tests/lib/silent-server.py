#!/usr/bin/env python3
"""silent-server.py MODE PORTFILE - servers on 127.0.0.1 that never finish
answering (DEFECTS 35, 39, 40). Binds port 0 and writes the port to PORTFILE.
  accept    accepts connections and never sends a byte
  dribble   sends a status line, then one header byte every 3 s, forever
  registry  a registry that answers GET /v2/ and HEAD .../manifests/REF (200,
            with a digest) and stalls everything else (manifest and blob
            GETs, uploads): a lookup succeeds, a transfer never ends
  registry-miss  the same, but every HEAD answers 404: a lookup finds
            nothing, so a --push goes ahead and stalls
Runs until killed."""
import socket
import sys
import threading
import time

mode, portfile = sys.argv[1], sys.argv[2]
DIGEST = "sha256:" + "ab" * 32


def stall(conn):
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def dribble(conn):
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            conn.sendall(b"X")
            time.sleep(3)
    except OSError:
        pass


def registry(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, path = line.decode().split()[:2]
            length = 0
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            if length:
                f.read(length)
            if method == "GET" and path.rstrip("/") == "/v2":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}")
            elif method == "HEAD" and mode == "registry-miss" and "/manifests/" in path:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif method == "HEAD" and "/manifests/" in path:
                conn.sendall(("HTTP/1.1 200 OK\r\nDocker-Content-Digest: %s\r\n"
                              "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"
                              "Docker-Distribution-API-Version: registry/2.0\r\n"
                              "Content-Length: 500\r\n\r\n" % DIGEST).encode())
            else:
                stall(conn)  # the transfer never comes
                return
    except (OSError, ValueError):
        pass


def serve(conn):
    with conn:
        {"accept": stall, "dribble": dribble, "registry": registry, "registry-miss": registry}[mode](conn)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(portfile + ".tmp", "w") as p:
    p.write(str(s.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
