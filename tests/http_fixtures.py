"""Loopback HTTP helpers for download tests: a route-table web server and a recording proxy.

Both listen on 127.0.0.1 only, on a free port, in a daemon thread; ``with`` stops them.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

Responder = Callable[[BaseHTTPRequestHandler], None]
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class Seen:
    """One request the server received: its path (with query) and headers (names lower-case)."""

    path: str
    headers: Mapping[str, str]


@dataclass
class LocalServer:
    """A threaded HTTP/1.0 server on 127.0.0.1 answering each path with its responder."""

    routes: dict[str, Responder]
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append(Seen(self.path, headers))
                responder = server.routes.get(urllib.parse.unquote(self.path.partition("?")[0]))
                try:
                    if responder is None:
                        send(self, 404, b"no such route", "text/plain")
                    else:
                        responder(self)
                except _GONE:
                    pass  # the client hung up on purpose (a refused download)

            def log_message(self, format: str, *args: object) -> None:
                del format, args  # keep test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        """The http://127.0.0.1:PORT address of ``path``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [seen.path for seen in self.seen]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    content_type: str | None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer with ``data`` and a Content-Length."""
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def body(data: bytes, content_type: str | None, status: int = 200, **headers: str) -> Responder:
    """A responder answering ``data`` (header names given with underscores for dashes)."""
    named = {key.replace("_", "-"): value for key, value in headers.items()}
    return lambda handler: send(handler, status, data, content_type, named)


def redirect(location: str, status: int = 302, **headers: str) -> Responder:
    """A responder redirecting to ``location``."""
    named = {"Location": location, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return lambda handler: send(handler, status, b"", None, named)


def large(size: int, *, declare_length: bool) -> Responder:
    """A responder generating ``size`` bytes on the fly, with or without a Content-Length
    (without one, the end of the answer is the end of the connection)."""
    block = b"a,b\n" * (1 << 18)  # 1 MiB

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        if declare_length:
            handler.send_header("Content-Length", str(size))
        handler.end_headers()
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            handler.wfile.write(piece)
            left -= len(piece)

    return respond


def dripping(size: int, every: float) -> Responder:
    """A responder sending ``size`` bytes one at a time, one every ``every`` seconds."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        for _ in range(size):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(every)

    return respond


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        self.request.settimeout(5)
        received = b""
        try:
            while b"\r\n\r\n" not in received and len(received) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        self.server.seen.append(received.decode("latin-1"))
        with contextlib.suppress(OSError):
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    seen: list[str]


class RecordingProxy:
    """A loopback 'proxy' that records what each connection sent and refuses it (403)."""

    def __init__(self) -> None:
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.seen = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The proxy's http://127.0.0.1:PORT address."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        """The request head each connection sent, in order."""
        return self._server.seen

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
