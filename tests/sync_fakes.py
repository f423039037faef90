"""A scripted Sonoran for in-process sync tests (behind httpx.MockTransport), a fake clock, and a
helper that runs ``run_import`` against them in milliseconds."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bulk_ident.identifier import DEFAULTS
from bulk_ident.jobs import Hooks, ImportOptions, ImportReport, run_import
from bulk_ident.prepare import ReadOptions
from bulk_ident.rates import Rate
from bulk_ident.sync.importer import Event, Settings

BASE = "http://127.0.0.1:9"
KEY = "sync-test-key"
ACCOUNTS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]
NESTED = ("unitNum", "name", "district", "department", "subdivision", "rank", "group", "page")


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# A script step: an int status, "store500" (apply, then 500), "lose" (apply, then drop the
# connection), "refused" (connect error), "dns" (host not found) or "ok".
Step = int | str


@dataclass
class FakeSonoran:
    """Identifiers by account; ``scripts[method]`` answers that method's requests in order."""

    scripts: dict[str, list[Step]] = field(default_factory=dict)
    held: dict[int, dict[str, Any]] = field(default_factory=dict)  # identId -> item
    log: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1
    accounts: set[str] | None = None  # None: every account exists

    def handler(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        account = parts[4]
        method = request.method
        self.log.append((method, request.url.path))
        script = self.scripts.get(method, [])
        step: Step = script.pop(0) if script else "ok"
        if step == "refused":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if step == "dns":
            import socket

            try:
                raise socket.gaierror(-2, "Name or service not known")
            except socket.gaierror as cause:
                raise httpx.ConnectError(
                    "[Errno -2] Name or service not known", request=request
                ) from cause
        if isinstance(step, int) and step != 200:
            if step == 429:
                return httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "limit"})
            return httpx.Response(step, json={"title": "Bad", "detail": f"refused with {step}"})
        if self.accounts is not None and account not in self.accounts:
            return httpx.Response(404, json={"title": "Not Found", "detail": "Account not found"})
        answer = self._apply(method, account, parts, request)
        if step == "lose":
            raise httpx.RemoteProtocolError("dropped", request=request)
        if step == "store500":
            return httpx.Response(500, text="oops")
        return answer

    def _apply(
        self, method: str, account: str, parts: list[str], request: httpx.Request
    ) -> httpx.Response:
        if method == "GET":
            items = [self._item(i, d) for i, d in self.held.items() if d["account"] == account]
            return httpx.Response(200, json={"SelectedIdent": None, "Identifiers": items})
        if method == "POST":
            ident = self.next_id
            self.next_id += 1
            self.held[ident] = {"account": account, **DEFAULTS, **json.loads(request.content)}
            return httpx.Response(200, json={"identId": ident})
        ident = int(parts[6])
        if ident not in self.held or self.held[ident]["account"] != account:
            return httpx.Response(404, json={"title": "Not Found", "detail": "no such identifier"})
        if method == "PATCH":
            self.held[ident].update(json.loads(request.content))
            return httpx.Response(200, json={"identId": ident, "serverId": 1})
        del self.held[ident]  # DELETE
        return httpx.Response(200, json={"identId": ident, "serverId": 1})

    @staticmethod
    def _item(ident: int, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": ident,
            "accId": data["account"],
            "status": data["status"],
            "aop": data["aop"],
            "isDispatch": data["isDispatch"],
            "data": {k: data[k] for k in NESTED},
        }

    def count(self, method: str) -> int:
        """How many requests of a method arrived."""
        return sum(1 for m, _ in self.log if m == method)

    def units(self) -> dict[tuple[str, str], int]:
        """(account, unit number) -> how many identifiers hold it."""
        out: dict[tuple[str, str], int] = {}
        for data in self.held.values():
            key = (data["account"], data["unitNum"])
            out[key] = out.get(key, 0) + 1
        return out

    def by_unit(self, unit: str) -> dict[str, Any]:
        """The one identifier with this unit number."""
        (found,) = [d for d in self.held.values() if d["unitNum"] == unit]
        return found


def write_roster(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """A CSV roster with the given rows under the usual header."""
    header = header or ["Account UUID", "Unit Number", "Name", "Rank"]
    lines = [",".join(header), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def member_rows(n: int, rank: str = "Officer") -> list[list[str]]:
    """``n`` members on two accounts, units U-0, U-1, ..."""
    return [[ACCOUNTS[i % 2], f"U-{i}", f"Member {i}", rank] for i in range(n)]


@dataclass
class Harness:
    """One roster, one server, one state folder; ``run`` imports with the given options."""

    tmp: Path
    server: FakeSonoran = field(default_factory=FakeSonoran)
    time: FakeTime = field(default_factory=FakeTime)
    events: list[Event] = field(default_factory=list)
    key: str = KEY

    def run(
        self,
        roster: Path,
        *,
        settings: Settings | None = None,
        stop: Callable[[], bool] = lambda: False,
        state: Path | None = None,
        **options: Any,
    ) -> ImportReport:
        """run_import in-process, fast: fake clock, scripted server, a private state folder."""
        read = options.pop("read", ReadOptions())
        hooks = Hooks(
            on_event=self.events.append,
            stop=stop,
            clock=self.time.clock,
            sleep=self.time.sleep,
            monotonic=self.time.clock,
            transport=httpx.MockTransport(self.server.handler),
            settings=settings,
            env={"XDG_STATE_HOME": str(self.tmp / "state")},
        )
        opts = ImportOptions(
            read=read,
            base_url=BASE,
            rate=Rate(10, 60.0),
            state=state,
            results=self.tmp / "results.csv",
            **options,
        )
        return run_import(roster, opts, api_key=self.key, hooks=hooks)


def results(report: ImportReport) -> dict[str, tuple[str, str]]:
    """Unit number (or identId for rows outside the roster) -> (result, error) from the report."""
    out = {}
    for r in report.reports:
        unit = r.values[1] if len(r.values) > 1 else ""
        out[unit or str(r.ident_id)] = (str(r.result), r.error)
    return out
