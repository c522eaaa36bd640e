"""A loopback HTTP proxy in front of moto that stalls one chosen Query action: the request is
forwarded to moto first (so the action takes effect) or not at all, and the answer never comes
back. A test then ``kill -9``s the stscache waiting on it: the binary dies exactly after (or
before) that IAM/STS call, the way a crash or a closed laptop would stop it. Everything else is
passed through unchanged, Host header included, so moto checks the client's own signature."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class StallProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.stall_action: str | None = None
        self.stall_occurrence = 1
        self.forward_first = True
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[-1]
                with proxy._lock:
                    proxy.counts[action] = proxy.counts.get(action, 0) + 1
                    stall = action == proxy.stall_action and proxy.counts[action] == proxy.stall_occurrence
                if stall and not proxy.forward_first:
                    proxy.stalled.set()
                    proxy.release.wait(120)
                    return
                status, headers, answer = proxy._forward(self.command, self.path, self.headers.items(), body)
                if stall:
                    proxy.stalled.set()
                    proxy.release.wait(120)
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(self, method: str, path: str, headers, body: bytes):
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in ("connection", "proxy-connection"):
                connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        return response.status, response.getheaders(), answer

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "StallProxy":
        self.thread.start()
        return self

    def stall(self, action: str | None, occurrence: int = 1, forward_first: bool = True) -> None:
        with self._lock:
            self.stall_action, self.stall_occurrence, self.forward_first = action, occurrence, forward_first
            self.counts = {}
        self.stalled.clear()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
