#!/usr/bin/env python3
"""A small HTTP server for the integration tests of ingest and deploy.

Usage: httpd.py PORTFILE [LIFETIME_S]
Binds 127.0.0.1 on a free port, writes the port to PORTFILE once it listens, and exits after
LIFETIME_S seconds (default 300) so that a test killed midway leaves nothing behind.

Routes (GET):
  /ok                        200, body "hello from httpd.py\n"
  /status/N                  status N with a short body
  /flaky/KEY?fails=N         500 for the first N requests of KEY, then 200 "flaky ok\n"
  /health/after/KEY?fails=N  503 for the first N requests of KEY, then 200 "healthy\n"
  /slow?s=N                  waits N seconds, then 200 "slow\n"
  /redirect?to=URL           302 to URL (e.g. file:///etc/passwd, or /ok)
  /loop                      302 to itself
  /big?n=N                   200 with Content-Length N, N bytes of 'x'
  /stream?n=N                200 without Content-Length (closed when done), N bytes of 'y'
"""
import http.server
import os
import sys
import threading
import time
import urllib.parse

counters = {}
counters_lock = threading.Lock()


def bump(key):
    with counters_lock:
        counters[key] = counters.get(key, 0) + 1
        return counters[key]


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, and a body may end at the close.
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, length=True, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if length:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_bytes(self, n, fill, length):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        chunk = fill * 65536
        try:
            while n > 0:
                part = chunk[: min(n, len(chunk))]
                self.wfile.write(part)
                n -= len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a size cap): expected

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        if url.path == "/ok":
            self.reply(200, b"hello from httpd.py\n")
        elif len(parts) == 2 and parts[0] == "status":
            self.reply(int(parts[1]), b"status %s\n" % parts[1].encode())
        elif len(parts) == 2 and parts[0] == "flaky":
            if bump("flaky/" + parts[1]) <= int(query.get("fails", "1")):
                self.reply(500, b"try again\n")
            else:
                self.reply(200, b"flaky ok\n")
        elif len(parts) == 3 and parts[:2] == ["health", "after"]:
            if bump("health/" + parts[2]) <= int(query.get("fails", "1")):
                self.reply(503, b"starting\n")
            else:
                self.reply(200, b"healthy\n")
        elif url.path == "/slow":
            time.sleep(float(query.get("s", "5")))
            try:
                self.reply(200, b"slow\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif url.path == "/redirect":
            self.reply(302, b"", headers={"Location": query.get("to", "/ok")})
        elif url.path == "/loop":
            self.reply(302, b"", headers={"Location": "/loop"})
        elif url.path == "/big":
            self.send_bytes(int(query.get("n", "0")), b"x", True)
        elif url.path == "/stream":
            self.send_bytes(int(query.get("n", "0")), b"y", False)
        else:
            self.reply(404, b"not found\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 300
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, sys.argv[1])
    threading.Timer(lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
