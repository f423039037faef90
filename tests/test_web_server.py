"""``bulk-ident ui`` as a real process: it listens on 127.0.0.1 only, prints an address holding a
fresh token, answers 403 without it, and Ctrl-C ends it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bulk_ident.web.server import bind

pytestmark = pytest.mark.e2e

_NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_NO_FOLLOW = urllib.request.build_opener(urllib.request.ProxyHandler({}), _Stay)


@contextmanager
def running_ui(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``bulk-ident ui --no-browser ARGS``; yield the process and the address it printed."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("SONORAN_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulk_ident", "ui", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("bulk-ident ui: open http://127.0.0.1:"), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.communicate()


def status_of(opener: urllib.request.OpenerDirector, url: str, cookie: str = "") -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def test_the_page_answers_only_with_this_launch_s_token(tmp_path: Path) -> None:
    """Without the token: 403; with it: a cookie named for the port, then every page opens;
    Ctrl-C ends the process."""
    with running_ui(tmp_path) as (proc, url):
        base, _, token = url.partition("/?token=")
        port = int(base.rsplit(":", 1)[1])
        assert len(token) >= 40
        assert status_of(_NO_REDIRECT, base + "/roster") == 403
        assert status_of(_NO_REDIRECT, base + "/roster?token=not-it") == 403
        with pytest.raises(urllib.error.HTTPError) as redirected:
            _NO_FOLLOW.open(url, timeout=10)
        assert redirected.value.code == 303
        cookie = redirected.value.headers["set-cookie"]
        redirected.value.close()
        assert cookie.startswith(f"bulk_ident_{port}={token};")
        assert "HttpOnly" in cookie
        pair = cookie.split(";", 1)[0]
        assert status_of(_NO_REDIRECT, base + "/roster", pair) == 200
        assert status_of(_NO_REDIRECT, base + "/static/app.js", pair) == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_a_port_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    """--port naming a busy port exits 2 saying what to do."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bulk_ident", "ui", "--no-browser", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 2
    assert f"can't listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another --port" in done.stderr


def test_each_launch_binds_loopback_with_a_new_token() -> None:
    """bind() listens on 127.0.0.1 only and makes a new token every time."""
    first, second = bind(0), bind(0)
    try:
        assert first.sock.getsockname()[0] == "127.0.0.1"
        assert first.token != second.token
        assert first.url == f"http://127.0.0.1:{first.port}/?token={first.token}"
    finally:
        first.sock.close()
        second.sock.close()
