"""Test daemon: an HTTP(S) server on 127.0.0.1:PORT that answers every GET with the status
read from STATUSFILE at that moment (200 if missing). With CERT and KEY it speaks TLS.

    httpstatus.py PORT STATUSFILE [CERT KEY]
"""
import http.server
import sys

port, statusfile = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with open(statusfile) as f:
                code = int(f.read().strip() or 200)
        except (OSError, ValueError):
            code = 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
if len(sys.argv) == 5:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
