# plain-http.py PORTFILE - a plain HTTP server on 127.0.0.1 (a free port, written
# to PORTFILE); it stops by itself after 120 s. Tests point https:// at it.
import http.server, sys
s = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
open(sys.argv[1], "w").write(str(s.server_address[1]))
import threading; threading.Timer(120, lambda: __import__("os")._exit(0)).start()
s.serve_forever()
