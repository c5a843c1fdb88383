#!/usr/bin/env python3
"""ping-relay.py ENGINE_SOCK RELAY_SOCK REG_PORT PORTFILE STATEFILE - stages
"a registry ping still in flight when the command ends" (DEFECTS 10) without
a clock. Two relays, HTTP/1.1 framed (keep-alive, Content-Length, chunked):
  engine   unix RELAY_SOCK -> unix ENGINE_SOCK. In the reply to a push
           (POST /images/NAME/push) it adds, just before the stream's last
           chunk, the engine's own retry status line ({"status":"Retrying in
           1 second"}), on which graphbuild's watcher pings the registry.
  registry 127.0.0.1:PORT (written to PORTFILE) -> 127.0.0.1:REG_PORT. Once
           that line is sent, a GET /v2/ without a User-Agent (graphbuild's
           ping; the engine's requests carry one) is held: never forwarded,
           never answered. So the push ends while the ping is in flight.
STATEFILE gets "injected N held M". Everything else passes through."""
import os
import socket
import sys
import threading

engine_sock, relay_sock, reg_port, portfile, statefile = sys.argv[1:6]
lock = threading.Lock()
state = {"injected": 0, "held": 0}
RETRY = b'{"status":"Retrying in 1 second"}\r\n'


def write_state():
    with lock:
        s = "injected %d held %d\n" % (state["injected"], state["held"])
    with open(statefile + ".tmp", "w") as f:
        f.write(s)
    os.replace(statefile + ".tmp", statefile)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def more(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError
        self.buf += b

    def line(self):
        while b"\r\n" not in self.buf:
            self.more()
        i = self.buf.index(b"\r\n") + 2
        l, self.buf = self.buf[:i], self.buf[i:]
        return l

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self.more()
        i = self.buf.index(b"\r\n\r\n") + 4
        h, self.buf = self.buf[:i], self.buf[i:]
        return h

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def rest(self):
        b, self.buf = self.buf, b""
        return b


def header(h, name):
    for l in h.split(b"\r\n")[1:]:
        k, _, v = l.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def body(r, out, h, no_body=False, before_end=None):
    """Forwards the body of the message whose head is h; before_end() may
    return bytes to send as one more chunk before a chunked body ends.
    Returns False when the body runs to the end of the connection."""
    if no_body:
        return True
    te = header(h, b"transfer-encoding")
    cl = header(h, b"content-length")
    if te and b"chunked" in te.lower():
        while True:
            sl = r.line()
            n = int(sl.split(b";")[0].strip() or b"0", 16)
            if n == 0:
                extra = before_end() if before_end else None
                if extra:
                    out.sendall(b"%x\r\n%s\r\n" % (len(extra), extra))
                out.sendall(sl)
                while True:  # trailers, then the empty line
                    t = r.line()
                    out.sendall(t)
                    if t == b"\r\n":
                        return True
            out.sendall(sl + r.take(n + 2))
    if cl is not None:
        n = int(cl)
        while n > 0:
            if not r.buf:
                r.more()
            b = r.buf[:n]
            r.buf = r.buf[len(b):]
            out.sendall(b)
            n -= len(b)
        return True
    return False


def no_framing(h):
    """A request without Content-Length or chunking has no body."""
    return header(h, b"transfer-encoding") is None and header(h, b"content-length") is None


def raw(r, src, out):
    b = r.rest()
    while True:
        if b:
            out.sendall(b)
        b = src.recv(65536)
        if not b:
            return


def relay_engine(c):
    u = socket.socket(socket.AF_UNIX)
    u.connect(engine_sock)
    pending = []  # (method, is_push) of the requests sent, in order
    cv = threading.Condition()

    def up():
        r = Reader(c)
        try:
            while True:
                h = r.head()
                method, target = h.split(b" ")[:2]
                with cv:
                    pending.append((method, b"/push" in target.split(b"?")[0]))
                    cv.notify()
                u.sendall(h)
                if header(h, b"upgrade") is not None:
                    return raw(r, c, u)
                body(r, u, h, no_framing(h))
        except (EOFError, OSError):
            pass
        finally:
            try:
                u.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def inject():
        with lock:
            state["injected"] += 1
        write_state()
        return RETRY

    threading.Thread(target=up, daemon=True).start()
    r = Reader(u)
    try:
        while True:
            h = r.head()
            status = int(h.split(b" ")[1])
            if 100 <= status < 200 and status != 101:  # 100 Continue: the reply is still to come
                c.sendall(h)
                continue
            with cv:
                while not pending:
                    cv.wait()
                method, push = pending.pop(0)
            c.sendall(h)
            if status == 101:
                return raw(r, u, c)
            nb = method == b"HEAD" or status in (204, 304)
            if not body(r, c, h, nb, inject if push and status == 200 else None):
                return raw(r, u, c)
    except (EOFError, OSError):
        pass
    finally:
        c.close()
        u.close()


def relay_registry(c):
    u = socket.create_connection(("127.0.0.1", int(reg_port)))

    def down():
        try:
            while True:
                b = u.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        try:
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=down, daemon=True).start()
    r = Reader(c)
    try:
        r.more()
        if r.buf[:1] == b"\x16":  # the engine tries TLS first: the registry says no at once
            return raw(r, c, u)
        while True:
            h = r.head()
            method, target = h.split(b" ")[:2]
            with lock:
                hold = state["injected"] and method == b"GET" and target == b"/v2/" and \
                    header(h, b"user-agent") is None
                if hold:
                    state["held"] += 1
            if hold:
                write_state()
                threading.Event().wait()  # never forwarded, never answered
            u.sendall(h)
            body(r, u, h, no_framing(h))
    except (EOFError, OSError):
        pass


def serve(ls, fn):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()


es = socket.socket(socket.AF_UNIX)
if os.path.exists(relay_sock):
    os.unlink(relay_sock)
es.bind(relay_sock)
es.listen(64)
rs = socket.socket()
rs.bind(("127.0.0.1", 0))
rs.listen(64)
write_state()
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % rs.getsockname()[1])
os.replace(portfile + ".tmp", portfile)
threading.Thread(target=serve, args=(es, relay_engine), daemon=True).start()
serve(rs, relay_registry)
