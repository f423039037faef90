"""An httpx transport with an overall deadline on every request: a server that trickles one byte
at a time can't hold a request open past it. Built from httpcore's public parts."""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final

import httpcore
import httpx

from bulk_ident.net import Proxy


class Deadline:
    """When the request in flight must be over (monotonic seconds), or None between requests."""

    def __init__(self) -> None:
        self.at: float | None = None

    def cap(self, timeout: float | None, error: type[Exception]) -> float | None:
        """The timeout for the next socket operation, never past the deadline."""
        if self.at is None:
            return timeout
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("the overall deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write stops at the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with each connection's streams bound to a deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - never used: the API is reached over TCP
        raise httpcore.UnsupportedProtocol("unix sockets are not used")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only for httpcore's retries
        time.sleep(seconds)


# Most specific first: the first match names the httpx error the rest of this module expects.
_HTTPCORE_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.RequestError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        for core, mapped in _HTTPCORE_ERRORS:
            if isinstance(err, core):
                raise mapped(str(err)) from err
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport rebuilt on public httpcore parts, to add the deadline."""

    def __init__(self, deadline: Deadline, proxy: Proxy | None) -> None:
        backend = _DeadlineBackend(deadline)
        ssl_context = httpx.create_ssl_context()
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=ssl_context, max_connections=4, network_backend=backend
            )
        else:
            # Only https targets get here, so httpcore tunnels (CONNECT): the proxy never sees
            # the request or its key, only the host name and port.
            self._pool = httpcore.HTTPProxy(
                proxy_url=proxy.url,
                proxy_auth=None if proxy.auth is None else _utf8(proxy.auth),
                ssl_context=ssl_context,
                proxy_ssl_context=(
                    httpx.create_ssl_context() if proxy.url.startswith("https:") else None
                ),
                max_connections=4,
                network_backend=backend,
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _utf8(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    return pair[0].encode("utf-8"), pair[1].encode("utf-8")
