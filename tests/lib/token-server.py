#!/usr/bin/env python3
# token-server.py DIR PORT - a Docker registry token server for tests: the
# other half of docker-registry's `auth: token:` (the protocol Docker Hub,
# GHCR, Harbor and GitLab speak). Makes DIR/key.pem and DIR/cert.pem (a
# self-signed RSA cert: the registry's rootcertbundle), then answers
# GET /token?service=S&scope=repository:R:pull,push with a JWT signed RS256
# (by the openssl CLI: no Python crypto module needed) granting what was
# asked, but only with Basic auth gbuser:gbpass; anything else gets 401.
# Also answers the OAuth2 form (POST grant_type=password|refresh_token).
# Listens on 127.0.0.1:PORT until killed.
import base64, http.server, json, os, subprocess, sys, time, urllib.parse

d, port = sys.argv[1], int(sys.argv[2])
key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "2", "-subj", "/CN=gbtest-token"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                     stdout=subprocess.PIPE).stdout
ISSUER, SERVICE = "gbtest-issuer", "gbtest-registry"
GOOD = "Basic " + base64.b64encode(b"gbuser:gbpass").decode()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                           "actions": parts[-1].split(",")})
    now = int(time.time())
    hdr = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": ISSUER, "sub": "gbuser", "aud": SERVICE, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": str(time.time_ns()), "access": access}
    signing = b64u(json.dumps(hdr).encode()) + "." + b64u(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, stdout=subprocess.PIPE).stdout
    return signing + "." + b64u(sig)


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def grant(self, q, ok):
        if not ok:
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
        t = jwt(q.get("scope", []))
        self.reply(200, {"token": t, "access_token": t, "expires_in": 300})

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/ready":
            return self.reply(200, {})
        self.grant(urllib.parse.parse_qs(u.query), self.headers.get("Authorization") == GOOD)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        q = urllib.parse.parse_qs(self.rfile.read(n).decode())
        ok = (q.get("grant_type") == ["password"] and q.get("username") == ["gbuser"] and
              q.get("password") == ["gbpass"]) or q.get("refresh_token") == ["gbtest-refresh"]
        self.grant(q, ok)


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
