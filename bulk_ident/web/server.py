"""Serve the page on 127.0.0.1 with uvicorn, for one launch with its own random token.

The socket is bound before the address is announced, so the printed address always works, even
with ``--port 0``; the browser is opened (Python's ``webbrowser``) once the socket listens.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import uvicorn

from bulk_ident.errors import InputError
from bulk_ident.web.app import PageSettings, create_app
from bulk_ident.web.workspace import Workspace, make_workdir

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Launch:
    """One launch: its socket, its token and the address that carries the token."""

    sock: socket.socket
    port: int
    token: str

    @property
    def url(self) -> str:
        """The address to open: the token in it once, then in a cookie."""
        return f"http://{HOST}:{self.port}/?token={self.token}"


def bind(port: int) -> Launch:
    """Listen on 127.0.0.1:``port`` (0: a free port); InputError when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError as err:
        sock.close()
        raise InputError(
            f"can't listen on {HOST}:{port} ({err.strerror or err}): choose another --port, or "
            "leave it out to take a free one"
        ) from None
    return Launch(sock, sock.getsockname()[1], secrets.token_urlsafe(32))


def serve(
    port: int,
    *,
    open_browser: bool,
    announce: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    opener: Callable[[str], bool] = webbrowser.open,
) -> None:
    """Serve the page until interrupted (Ctrl-C stops a running sync as the command line does,
    then exits). ``announce`` shows the address (the command line prints it)."""
    launch = bind(port)
    workdir = make_workdir()
    try:
        ws = Workspace(workdir, env=env)
        app = create_app(ws, PageSettings(token=launch.token, port=launch.port))
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # the first address holds the token; requests are not logged
            timeout_graceful_shutdown=5,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        announce(launch.url)
        if open_browser and not opener(launch.url):
            announce("no browser could be opened here: open the address above in yours")
        server.run(sockets=[launch.sock])
    finally:
        launch.sock.close()
        shutil.rmtree(workdir, ignore_errors=True)


__all__ = ["HOST", "Launch", "bind", "serve"]
