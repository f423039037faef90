"""Shared by the page's tests: the app in-process behind Starlette's TestClient, with the network
replaced (a scripted Sonoran behind httpx.MockTransport) and every response kept for inspection."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient
from sync_fakes import FakeSonoran, FakeTime

from bulk_ident.web.app import Page, PageSettings, create_app
from bulk_ident.web.workspace import Workspace

TOKEN = "test-token-5f1c"
KEY = "page-secret-key-93ab71"
BASE = "http://127.0.0.1:9"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@dataclass
class FakeCommunity(FakeSonoran):
    """The scripted Sonoran, plus the documented account listing (paged, one status a time)."""

    members: list[dict[str, Any]] = field(default_factory=list)
    after_post: Callable[[int], None] | None = None  # called with the POST count so far

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/") == "/v2/general/accounts":
            self.log.append((request.method, request.url.path))
            status = int(request.url.params.get("status", "1"))
            offset = int(request.url.params.get("offset", "0"))
            limit = int(request.url.params.get("limit", "100"))
            chosen = [m for m in self.members if m["status"] == status]
            page = chosen[offset : offset + limit]
            pagination = {"limit": limit, "offset": offset, "total": len(chosen)}
            return httpx.Response(200, json={"pagination": pagination, "accounts": page})
        answer = super().handler(request)
        if request.method == "POST" and self.after_post is not None:
            self.after_post(self.count("POST"))
        return answer


@dataclass
class PageUnderTest:
    """The app, its workspace and page, the fake server and every response seen."""

    client: TestClient
    ws: Workspace
    page: Page
    server: FakeCommunity
    responses: list[httpx.Response]
    workdir: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.get(path, **kwargs)
        return response

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.post(path, **kwargs)
        return response

    def upload(self, path: Path) -> httpx.Response:
        """Drop a roster file into the page."""
        return self.post(
            "/roster/upload", files={"file": (path.name, path.read_bytes(), "application/x")}
        )

    def connect(self, rate: str = "600/min", key: str = KEY) -> httpx.Response:
        """Fill the Connect step."""
        return self.post("/connect", data={"base_url": BASE, "api_key": key, "rate": rate})

    def wait_for_job(self, timeout: float = 30.0) -> None:
        """Wait until the running job's thread has ended."""
        assert self.page.runner.wait(timeout), "the job did not end"


@contextmanager
def page_under_test(
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    server: FakeCommunity | None = None,
    settings: dict[str, Any] | None = None,
    login: bool = True,
    source_transport: httpx.BaseTransport | None = None,
) -> Iterator[PageUnderTest]:
    """The page in-process: fake time (pacing is instant), a fake server, state under tmp_path."""
    server = server or FakeCommunity()
    clock = FakeTime()
    workdir = tmp_path / "work"
    workdir.mkdir()
    environment = {"XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})}
    ws = Workspace(
        workdir,
        env=environment,
        transport=httpx.MockTransport(server.handler),
        source_transport=source_transport,
        clock=clock.clock,
        sleep=clock.sleep,
    )
    app = create_app(ws, PageSettings(token=TOKEN, cwd=tmp_path, **(settings or {})))
    responses: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        responses.append(response)

    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.event_hooks = {"response": [keep]}
        if login:
            client.get(f"/?token={TOKEN}")
        yield PageUnderTest(client, ws, app.state.page, server, responses, workdir)


def cell(html: str, row: int, col: int) -> str:
    """The opening <td ...> tag of one cell of the review table."""
    block = re.search(rf'<tr id="row-{row}".*?</tr>', html, re.S)
    assert block is not None, f"no row {row}"
    tag = re.search(rf'<td [^>]*data-col="{col}"[^>]*>', block.group(0))
    assert tag is not None, f"no column {col} in row {row}"
    return tag.group(0)


def events(text: str) -> list[tuple[str, str]]:
    """Server-sent events as (name, data)."""
    out = []
    for block in text.split("\n\n"):
        name, data = "", []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if name:
            out.append((name, "\n".join(data)))
    return out


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds (for a job in another thread); fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def accounts_json() -> list[dict[str, Any]]:
    """The sample community's accounts, as the listing returns them."""
    data: list[dict[str, Any]] = json.loads((SAMPLES / "accounts.json").read_text("utf-8"))
    return data
