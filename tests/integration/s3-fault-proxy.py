#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An HTTP proxy between chronofs and an S3 server that misbehaves on purpose.

    s3-fault-proxy.py LISTEN_PORT UPSTREAM_PORT [--rate R] [--seed S]
                      [--ready FILE] [--down-after N --down-for S]

Every request is forwarded to 127.0.0.1:UPSTREAM_PORT as received (the Host
header too: it is part of the SigV4 signature). A share R of them (0..1,
default 0) is answered badly, one of these with equal odds:

  503-before   503 SlowDown, the request never reaches the server;
  500-after    the server did the work (a PUT is stored), the client is
               told 500 InternalError (an ambiguous failure: retries must be
               idempotent, a conditional PUT meets its own object);
  reset        the response's headers and half its body, then a TCP reset
               (for bodiless responses: a reset before any byte);
  slow         the right answer, after 1 to 3 s.

GET /__proxy/stats answers a JSON object of request counts by method ("GET
range" apart) and bytes each way (the benchmarks' requests per GiB); those requests are not
counted. --ready FILE is written once the port listens. Output: one line per
injected fault on stderr.

--down-after N --down-for S: the server goes away after the Nth request,
once: that answer closes its connection, the port stops listening (a new
connection is refused), any other open connection is reset at its next
request, and S seconds later the port listens again and all is forwarded
as before (a server restarting, a network outage after the repository was
reached).
"""
import argparse
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_method = {}
        self.bytes_up = 0
        self.bytes_down = 0
        self.faults = {}

    def count(self, method, up, down, fault):
        with self.lock:
            self.by_method[method] = self.by_method.get(method, 0) + 1
            self.bytes_up += up
            self.bytes_down += down
            if fault:
                self.faults[fault] = self.faults.get(fault, 0) + 1

    def as_json(self):
        with self.lock:
            return json.dumps({"requests": self.by_method, "bytes_up": self.bytes_up,
                               "bytes_down": self.bytes_down, "faults": self.faults}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-fault-proxy"

    def log_message(self, fmt, *args):  # quiet: faults are logged on their own
        pass

    def _reset(self):
        # SO_LINGER 0: close() sends RST, as a dropped connection would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _fault(self):
        srv = self.server
        with srv.rnd_lock:
            if srv.rnd.random() >= srv.rate:
                return None
            return srv.rnd.choice(["503-before", "500-after", "reset", "slow"])

    def _error(self, code, s3code):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                "<Message>injected by s3-fault-proxy</Message></Error>" % s3code).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        outage = self.server.outage
        if outage.down:
            print("down: reset %s %s" % (self.command, self.path), file=sys.stderr, flush=True)
            self._reset()
            return
        if self.command == "GET" and self.path == "/__proxy/stats":
            data = self.server.stats.as_json()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        # Range GETs (blob reads) apart from whole-object GETs and lists.
        kind = self.command + (" range" if self.headers.get("Range") else "")
        fault = self._fault()
        if fault:
            print("fault %s: %s %s" % (fault, self.command, self.path), file=sys.stderr, flush=True)
        if fault == "503-before":
            self.server.stats.count(kind, len(body), 0, fault)
            self._error(503, "SlowDown")
            return
        up = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=120)
        try:
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    up.putheader(k, v)
            if body or self.command in ("PUT", "POST"):
                up.putheader("Content-Length", str(len(body)))
            up.endheaders()
            if body:
                up.send(body)
            resp = up.getresponse()
            data = resp.read()
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
            status, reason = resp.status, resp.reason
            # HEAD answers carry the object's length without a body.
            clen = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        finally:
            up.close()
        self.server.stats.count(kind, len(body), len(data), fault)
        if fault == "500-after":
            self._error(500, "InternalError")
            return
        if fault == "reset":
            if data:
                self.send_response(status, reason)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", clen)
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
            self._reset()
            return
        if fault == "slow":
            time.sleep(1 + 2 * self.server.rnd.random())
        going_down = outage.count()
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        if clen is not None:
            self.send_header("Content-Length", clen)
        if going_down:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        if going_down:
            self.wfile.flush()
            print("down after %s %s, for %.1f s" % (self.command, self.path, outage.down_for),
                  file=sys.stderr, flush=True)
            threading.Thread(target=self.server.shutdown, daemon=True).start()

    def _safe(self):
        try:
            self._handle()
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError) as e:
            print("connection dropped: %s %s: %s" % (self.command, self.path, e), file=sys.stderr, flush=True)
            self.close_connection = True

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _safe


class Outage:
    """--down-after/--down-for: counts the forwarded requests."""

    def __init__(self, after, down_for):
        self.lock = threading.Lock()
        self.after = after
        self.down_for = down_for
        self.seen = 0
        self.down = False

    def count(self):
        """True for the request after which the server goes away."""
        with self.lock:
            self.seen += 1
            if self.after and self.seen == self.after:
                self.down = True
                return True
            return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("listen", type=int)
    ap.add_argument("upstream", type=int)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ready")
    ap.add_argument("--down-after", type=int, default=0)
    ap.add_argument("--down-for", type=float, default=2.0)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    rnd_lock = threading.Lock()
    stats = Stats()
    outage = Outage(a.down_after, a.down_for)
    ready = a.ready
    while True:
        srv = ThreadingHTTPServer(("127.0.0.1", a.listen), Handler)
        srv.daemon_threads = True
        srv.upstream = a.upstream
        srv.rate = a.rate
        srv.rnd = rnd
        srv.rnd_lock = rnd_lock
        srv.stats = stats
        srv.outage = outage
        if ready:
            with open(ready, "w") as f:
                f.write("%d\n" % a.listen)
            ready = None
        srv.serve_forever()
        # Only an outage stops serve_forever: no port for a while.
        srv.server_close()
        time.sleep(outage.down_for)
        outage.down = False
        print("up again", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
