#!/usr/bin/env python3
"""relay.py MODE PORTFILE TARGET_PORT STATEFILE [BYTES] - a TCP relay on
127.0.0.1 in front of a real server on 127.0.0.1:TARGET_PORT, so a test can
see what crosses it and synchronise on that instead of on time. Binds port 0
and writes the port to PORTFILE; runs until killed.
  gate   counts HEAD requests in flight (sent by the client, no reply byte yet)
         and writes the highest count seen to STATEFILE, before the request
         is forwarded. The first HEAD is held until a second one is in flight
         (or 10 s pass: only a bound, for a client that sends one at a time),
         so a client that keeps several requests open is seen to.
  cut    relays both ways until BYTES have gone one way on one connection
         (a download or an upload), then forwards nothing more on any
         connection and writes that count to STATEFILE: the test then kills
         the server mid-transfer at a point it observed."""
import os
import socket
import sys
import threading

mode, portfile, target, statefile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
limit = int(sys.argv[5]) if len(sys.argv) > 5 else 0
lock = threading.Condition()
inflight = maxin = 0
gate_open = False
frozen = threading.Event()


def write_state(v):
    with open(statefile + ".tmp", "w") as f:
        f.write("%d\n" % v)
    os.replace(statefile + ".tmp", statefile)


def cut(n, b):
    """cut mode: freezes every relay (for good) once a direction of one
    connection reaches the limit; returns the new count."""
    if frozen.is_set():
        threading.Event().wait()
    if mode == "cut" and n + len(b) >= limit:
        with lock:
            if not frozen.is_set():
                frozen.set()
                write_state(n)
        threading.Event().wait()
    return n + len(b)


def up(src, dst, pending):
    """client -> server; pending[0] counts this connection's open HEADs."""
    global inflight, maxin, gate_open
    n = 0
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if mode == "gate" and b.startswith(b"HEAD "):
                with lock:
                    inflight += 1
                    pending[0] += 1
                    if inflight > maxin:
                        maxin = inflight
                        write_state(maxin)
                    if inflight >= 2:
                        gate_open = True
                    lock.notify_all()
                    lock.wait_for(lambda: gate_open, timeout=10)
                    gate_open = True
            n = cut(n, b)
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def down(src, dst, pending):
    """server -> client; the first reply bytes end the open HEADs."""
    global inflight
    n = 0
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if mode == "gate" and pending[0]:
                with lock:
                    inflight -= pending[0]
                    pending[0] = 0
            n = cut(n, b)
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(c):
    try:
        s = socket.create_connection(("127.0.0.1", target))
    except OSError:
        c.close()
        return
    pending = [0]
    threading.Thread(target=up, args=(c, s, pending), daemon=True).start()
    threading.Thread(target=down, args=(s, c, pending), daemon=True).start()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(256)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.replace(portfile + ".tmp", portfile)
while True:
    conn, _ = ls.accept()
    serve(conn)
