"""A local stand-in for Sonoran CAD's v2 identifier and account endpoints, for rehearsals and tests.

Standard library only; it listens on loopback only. Besides the API it answers, without a key and
without counting or logging them: ``GET /_sandbox/identifiers`` and ``GET /_sandbox/requests``
(what it holds and what it was asked), ``POST /_sandbox/edit`` (change, delete or create an
identifier out of band, as a hand edit in the CAD would) and, with ``serve``, ``GET /_files/NAME``
(a roster to import "by URL").
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

from bulk_ident.cad.sandbox.behaviour import SandboxState, problem_answer
from bulk_ident.cad.sandbox.config import MAX_BODY, SandboxConfig
from bulk_ident.errors import InputError


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) makes the late answer fail; that is expected.
        self.sandbox.log_line("connection error while answering (client gone?)")


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every answer has a length
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    server_version = "bulk-ident-sandbox"
    timeout = 60
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's own stderr log; the sandbox logs one line per request itself."""

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            answer = problem_answer(411, "Length Required", "send a Content-Length", self.path)
            key_id, path = None, urllib.parse.urlsplit(self.path).path
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                answer = problem_answer(413, "Payload Too Large", "body over 1 MiB", self.path)
                key_id, path = None, urllib.parse.urlsplit(self.path).path
            else:
                body = self.rfile.read(length) if length > 0 else b""
                state = sandbox.state
                answer, key_id, path = state.answer(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
        sandbox.state.record(key_id, self.command, path, answer)
        sandbox.log_line(
            f"{self.command} {path} {'-' if answer.drop else answer.status} "
            f"{answer.outcome} {key_id or '-'}"
        )
        if answer.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.delay > 0:
            sandbox.sleep(answer.delay)
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class Sandbox:
    """The sandbox server; ``start()`` binds and serves in a thread, ``stop()`` shuts it down."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """``log`` receives one line per request (no key, a fingerprint at most)."""
        try:
            loopback = ipaddress.ip_address(config.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InputError(f"the sandbox only listens on loopback, not {config.host!r}")
        self.config = config
        self.state = SandboxState(config, clock)
        self.sleep = sleep
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients should use; only valid after ``start()``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        port = self._server.server_address[1]
        host = self.config.host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> str:
        """Bind (``port`` 0 picks a free one), serve in a background thread, return the URL."""
        server_class = _Server6 if ":" in self.config.host else _Server
        try:
            self._server = server_class((self.config.host, self.config.port), _Handler)
        except OSError as err:
            raise InputError(
                f"the sandbox can't listen on {self.config.host} port {self.config.port}: "
                f"{err.strerror}; pick another with --port, or --port 0 for any free port"
            ) from None
        self._server.sandbox = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, close the socket, and write the dump file if one was asked for."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.config.dump is not None:
            self.config.dump.write_text(
                json.dumps(self.state.snapshot(), indent=2) + "\n", encoding="utf-8"
            )

    def identifiers(self) -> list[dict[str, Any]]:
        """Every identifier held: accountUuid, identId and its fields in the create shape."""
        held: list[dict[str, Any]] = self.state.snapshot()["identifiers"]
        return held

    def requests(self) -> list[dict[str, Any]]:
        """The request log: time, key_fingerprint, method, path, status, outcome."""
        log: list[dict[str, Any]] = self.state.snapshot()["requests"]
        return log

    def log_line(self, message: str) -> None:
        """Send one timestamped line to the log callback, if any."""
        if self._log is not None:
            self._log(f"{datetime.now():%H:%M:%S.%f}"[:-3] + f" {message}")

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
