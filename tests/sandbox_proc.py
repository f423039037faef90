"""Run ``bulk-ident sandbox`` as a separate process for tests: ``with running_sandbox() as sb``.

The process listens on a free loopback port; ``sb.url`` is its base URL, ``sb.identifiers()`` and
``sb.requests()`` read its inspection endpoints, and after ``stop()`` (or leaving the ``with``)
``sb.stdout`` and ``sb.stderr`` hold everything it printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

START_TIMEOUT = 15.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SandboxProcess:
    """A started sandbox process; use ``running_sandbox`` rather than building one directly."""

    def __init__(self, args: list[str], env: Mapping[str, str] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sandbox-proc-")
        self._out_path = Path(self._dir.name, "stdout.txt")
        self._err_path = Path(self._dir.name, "stderr.txt")
        self.args = args
        self.stdout = ""
        self.stderr = ""
        self.returncode: int | None = None
        command = [sys.executable, "-m", "bulk_ident", "sandbox"]
        if "--port" not in args:
            command += ["--port", "0"]
        with self._out_path.open("wb") as out, self._err_path.open("wb") as err:
            self._proc = subprocess.Popen(
                [*command, *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ if env is None else env),
            )
        self.url = self._read_url()

    def _read_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            first = self._out_path.read_text(encoding="utf-8").partition("\n")
            if first[1]:
                return first[0].rsplit(" ", 1)[-1]
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the sandbox did not start: {self.stderr.strip()[-2000:]}")

    def get(self, path: str) -> Any:
        """GET a sandbox path (no key) and return the parsed JSON."""
        with _NO_PROXY.open(self.url + path, timeout=10) as response:
            return json.load(response)

    def identifiers(self) -> list[dict[str, Any]]:
        """Every identifier held: ``accountUuid``, ``identId`` and ``data`` (create shape)."""
        held: list[dict[str, Any]] = self.get("/_sandbox/identifiers")
        return held

    def requests(self) -> list[dict[str, Any]]:
        """The request log: time, key_fingerprint, method, path, status, outcome."""
        log: list[dict[str, Any]] = self.get("/_sandbox/requests")
        return log

    def stop(self) -> int:
        """Stop the process (SIGTERM, then kill), keep its output, and return its exit code."""
        if self.returncode is None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self.returncode = self._proc.returncode
            self.stdout = self._out_path.read_text(encoding="utf-8", errors="replace")
            self.stderr = self._err_path.read_text(encoding="utf-8", errors="replace")
            self._dir.cleanup()
        return self.returncode


@contextmanager
def running_sandbox(*args: str, env: Mapping[str, str] | None = None) -> Iterator[SandboxProcess]:
    """Start ``bulk-ident sandbox ARGS`` (``--port 0`` unless given) and stop it afterwards."""
    sandbox = SandboxProcess(list(args), env)
    try:
        yield sandbox
    finally:
        sandbox.stop()
