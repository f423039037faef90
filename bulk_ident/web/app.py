"""The page as an ASGI app (Starlette): one screen per step, each a thin layer over a library call.

Every request must carry this launch's token: in the address opened first (then it becomes an
HttpOnly, SameSite=Strict cookie) or in that cookie; anything else gets 403. Pages are rendered
on the server (Jinja2) and swapped in by htmx; a sync's progress is pushed as server-sent events.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bulk_ident import __version__
from bulk_ident.cad.accounts import STATUS_WORDS, FetchResult
from bulk_ident.cad.client import NotSent, RateLimited, Rejected, Unauthorised, Unknown
from bulk_ident.errors import BulkIdentError, InputError
from bulk_ident.identifier import PAYLOAD_FIELDS, PROPERTIES
from bulk_ident.jobs import ImportReport
from bulk_ident.read.sources import MAX_BYTES, TIMEOUT
from bulk_ident.report.report import summary_line
from bulk_ident.web.columns import LABELS, mapped_columns, suggest
from bulk_ident.web.present import ending, plan_counts, plan_groups
from bulk_ident.web.runner import SHOWN_COUNTS, Job, Runner
from bulk_ident.web.syncfile import SyncFile, config_text, schedule, write_config
from bulk_ident.web.workspace import Workspace
from bulk_ident.words import plural

STEPS: tuple[tuple[str, str], ...] = (
    ("roster", "Roster"),
    ("columns", "Columns"),
    ("review", "Review"),
    ("connect", "Connect"),
    ("preview", "Preview"),
    ("sync", "Sync"),
    ("results", "Results"),
    ("schedule", "Schedule"),
)
ROWS_PER_PAGE = 200
UPLOAD_LIMIT = MAX_BYTES + 1024 * 1024  # the file, plus the form's own few bytes
UPLOAD_SECONDS = TIMEOUT  # as long as a download of a roster may take
EVENT_INTERVAL = 0.25  # seconds between progress pushes (the countdown needs a steady beat)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


class _TooLarge(Exception):
    """A request body went past the limit while it was being read."""


class TokenGate:
    """Lets a request through only with this launch's token, with a body no larger than the
    limit; adds the page's security headers to every answer.

    The token arrives once in the address (``?token=``): the answer sets it as a cookie and sends
    the browser to the same page without it, so that it stays out of history and logs. Requests
    naming another host (DNS rebinding) are refused too.
    """

    def __init__(self, app: ASGIApp, *, token: str, cookie: str, body_limit: int) -> None:
        self.app = app
        self._token = token.encode()
        self.cookie = cookie
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the page has none: refuse before anything else
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        host = (conn.url.hostname or "").lower()
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        if host not in _LOCAL_HOSTS:
            await PlainTextResponse("this page answers only at 127.0.0.1", 403)(
                scope, receive, send_with_headers
            )
            return
        if self._matches(conn.cookies.get(self.cookie)):
            length = conn.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.body_limit:
                await self._too_large()(scope, receive, send_with_headers)
                return
            received = 0

            async def limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.body_limit:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, limited, send_with_headers)
            except _TooLarge:
                if started:
                    raise
                await self._too_large()(scope, receive, send_with_headers)
            return
        if self._matches(conn.query_params.get("token")):
            query = "&".join(f"{k}={v}" for k, v in conn.query_params.multi_items() if k != "token")
            target = conn.url.path + (f"?{query}" if query else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                self.cookie, self._token.decode(), httponly=True, samesite="strict", path="/"
            )
            await response(scope, receive, send_with_headers)
            return
        await PlainTextResponse(
            "403 Forbidden: open the address that `bulk-ident ui` printed (it holds this "
            "launch's token)",
            403,
        )(scope, receive, send_with_headers)

    def _too_large(self) -> Response:
        # A fragment htmx can swap into the page (#main), and a readable page without it.
        size = f"{self.body_limit / (1024 * 1024):.0f} MB"
        text = html.escape(
            f"the upload is larger than {size}: a roster must be smaller (remove unused sheets "
            "or columns, or save it as .csv), or give its path instead"
        )
        return HTMLResponse(
            f'<!doctype html><title>Too large</title><main id="main"><p class="error" '
            f'id="error">{text}</p></main>',
            413,
        )

    def _matches(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._token)


def default_program() -> list[str]:
    """How a scheduler should start bulk-ident: the script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("bulk-ident")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bulk_ident"]


@dataclass
class PageSettings:
    """What the page needs besides the workspace."""

    token: str
    port: int | None = None  # names the cookie, so that two launches don't share one
    program: Sequence[str] = field(default_factory=default_program)
    cwd: Path = field(default_factory=Path.cwd)
    upload_limit: int = UPLOAD_LIMIT  # bytes of one request body
    upload_seconds: float = UPLOAD_SECONDS


class Page:
    """The routes: one screen per step, and the small requests each screen makes."""

    def __init__(self, ws: Workspace, runner: Runner, settings: PageSettings) -> None:
        self.ws = ws
        self.runner = runner
        self.settings = settings
        self.closing = asyncio.Event()
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("bulk_ident.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["clock"] = _clock
        env.globals.update(
            steps=STEPS,
            step_titles=dict(STEPS),
            labels=LABELS,
            properties=PROPERTIES,
            payload_fields=PAYLOAD_FIELDS,
            plural=plural,
            version=__version__,
            shown_counts=SHOWN_COUNTS,
        )
        self.env = env
        self.templates = Jinja2Templates(env=env)

    # -- helpers ----------------------------------------------------------------------------

    def page(self, request: Request, step: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A whole step's page."""
        ws = self.ws
        job = self.runner.job
        context.setdefault("error", "")
        context.setdefault("message", "")
        base = {
            "step": step,
            "ws": ws,
            "review": ws.review,
            "job": job.snapshot() if job is not None else None,
            "running": self.runner.running,
        }
        return self.templates.TemplateResponse(
            request, f"{step}.html", {**base, **context}, status_code=status
        )

    def fragment(self, name: str, **context: Any) -> str:
        """A piece of a page (a table row, the progress box)."""
        return self.env.get_template(name).render(ws=self.ws, **context)

    @staticmethod
    def go(request: Request, path: str) -> Response:
        """To another page: htmx follows HX-Location; a plain form post a 303."""
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Location": path})
        return RedirectResponse(path, status_code=303)

    async def attempt(
        self,
        request: Request,
        step: str,
        call: Callable[[], Any],
        then: str | None = None,
        **context: Any,
    ) -> Response:
        """Run a library call off the event loop; its one-line error re-renders the step."""
        try:
            await run_in_threadpool(call)
        except BulkIdentError as err:
            return self.page(request, step, status=422, error=str(err), **context)
        return self.go(request, then or f"/{step}")

    # -- 1. roster ----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return RedirectResponse("/roster" if self.ws.source is None else "/review", 303)

    async def roster(self, request: Request) -> Response:
        return self.page(request, "roster")

    async def roster_upload(self, request: Request) -> Response:
        try:
            async with (
                asyncio.timeout(self.settings.upload_seconds),
                request.form(max_files=1, max_fields=10) as form,
            ):
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise InputError("choose a roster file (.xlsx or .csv) first")
                name = upload.filename
                data = await upload.read()
        except TimeoutError:
            return self.page(
                request,
                "roster",
                status=408,
                error=f"the upload took longer than {self.settings.upload_seconds:.0f} s: try "
                "again, or give "
                "the file's path instead",
            )
        except InputError as err:
            return self.page(request, "roster", status=422, error=str(err))
        return await self.attempt(request, "roster", lambda: self.ws.load_upload(name, data))

    async def roster_open(self, request: Request) -> Response:
        form = await request.form()
        location = _text(form, "location")
        return await self.attempt(
            request, "roster", lambda: self.ws.load_location(location), location=location
        )

    async def roster_reading(self, request: Request) -> Response:
        form = await request.form()
        sheet, encoding = _text(form, "sheet"), _text(form, "encoding")
        return await self.attempt(request, "roster", lambda: self.ws.set_reading(sheet, encoding))

    async def roster_reload(self, request: Request) -> Response:
        return await self.attempt(request, "roster", self.ws.reload)

    async def roster_tabs(self, request: Request) -> Response:
        return await self.attempt(request, "roster", self.ws.whole_workbook)

    async def header_rows(self, request: Request) -> Response:
        candidates = await run_in_threadpool(self.ws.header_candidates)
        return HTMLResponse(self.fragment("_header_rows.html", candidates=candidates))

    async def roster_header(self, request: Request) -> Response:
        form = await request.form()
        number = _number(form, "row")
        if number is None:
            return self.page(request, "roster", status=422, error="choose the header's row")
        return await self.attempt(
            request, "roster", lambda: self.ws.choose_header(number), then="/columns"
        )

    # -- 2. columns ---------------------------------------------------------------------------

    async def columns(self, request: Request) -> Response:
        return self.page(request, "columns", **self._columns_context())

    def _columns_context(self) -> dict[str, Any]:
        ws = self.ws
        columns = ws.columns()
        samples: dict[int, list[str]] = {i: [] for i in range(len(columns))}
        if ws.review is not None:
            for c in ws.review.rows[:50]:
                for i, value in enumerate(c.row.values):
                    if value and len(samples[i]) < 3 and value not in samples[i]:
                        samples[i].append(value)
        return {
            "columns": [
                {
                    "name": name,
                    "position": i,
                    "choice": ws.current_choice(name),
                    "suggestion": suggest(name),
                    "samples": samples.get(i, []),
                }
                for i, name in enumerate(columns)
            ]
        }

    async def columns_apply(self, request: Request) -> Response:
        form = await request.form()
        ws = self.ws
        columns = ws.columns()
        choices: dict[str, str | None] = {}
        for i, name in enumerate(columns):
            if not name:
                continue
            prop = _text(form, f"col-{i}")
            if prop and prop not in PROPERTIES:
                return self.page(
                    request,
                    "columns",
                    422,
                    error=f"'{prop}' is not a property",
                    **self._columns_context(),
                )
            choices[name] = prop or None
        templates = {p: _text(form, f"template-{p}") for p in PROPERTIES}
        defaults = {p: _text(form, f"default-{p}") for p in PAYLOAD_FIELDS}

        def apply() -> None:
            ws.apply_columns(choices, templates, defaults)
            if ws.error:
                raise InputError(ws.error)

        try:
            await run_in_threadpool(apply)
        except BulkIdentError as err:
            return self.page(request, "columns", 422, error=str(err), **self._columns_context())
        return self.go(request, "/review")

    # -- 3. review ----------------------------------------------------------------------------

    async def review(self, request: Request) -> Response:
        ws = self.ws
        if ws.review is None:
            return self.page(request, "review", rows=[], pages=0, current=1, only_problems=False)
        only = request.query_params.get("problems") == "1"
        rows = [c for c in ws.review.rows if not only or not c.valid]
        pages = max(1, -(-len(rows) // ROWS_PER_PAGE))
        current = min(max(_int(request.query_params.get("page"), 1), 1), pages)
        shown = rows[(current - 1) * ROWS_PER_PAGE : current * ROWS_PER_PAGE]
        return self.page(
            request,
            "review",
            rows=shown,
            pages=pages,
            current=current,
            only_problems=only,
            mapped=mapped_columns(ws.review.columns, ws.review.prep.headers.index),
            issues=self._issues_by_row(),
        )

    def _issues_by_row(self) -> dict[int, str]:
        return {i.row: i.reason for i in self.ws.account_issues()}

    async def review_cell(self, request: Request) -> Response:
        form = await request.form()
        number, position = _number(form, "row"), _number(form, "col")
        value = _text(form, "value", strip=False)
        if number is None or position is None:
            return PlainTextResponse("row and col are required", 400)
        try:
            others = await run_in_threadpool(self.ws.edit, number, position, value)
        except (BulkIdentError, KeyError) as err:
            message = str(err) if isinstance(err, BulkIdentError) else f"no row {number}"
            return PlainTextResponse(message, 422)
        review = self.ws.review
        assert review is not None
        issues = self._issues_by_row()
        mapped = mapped_columns(review.columns, review.prep.headers.index)
        parts = [
            self.fragment(
                "_row.html", c=review.row(number), review=review, issues=issues, mapped=mapped
            )
        ]
        for n in others:
            row = self.fragment(
                "_row.html",
                c=review.row(n),
                review=review,
                issues=issues,
                mapped=mapped,
                oob=True,
            )
            parts.append(f"<template>{row}</template>")
        tally = self.fragment("_tally.html", review=review, oob=True)
        parts.append(f"<template>{tally}</template>")
        return HTMLResponse("".join(parts))

    async def corrected(self, request: Request) -> Response:
        try:
            path = await run_in_threadpool(self.ws.corrected_roster)
        except BulkIdentError as err:
            return self.page(
                request,
                "review",
                422,
                error=str(err),
                rows=[],
                pages=0,
                current=1,
                only_problems=False,
            )
        source = self.ws.need_source()
        return FileResponse(path, media_type=XLSX, filename=f"{source.stem}.corrected.xlsx")

    # -- 4. connect ---------------------------------------------------------------------------

    async def connect(self, request: Request) -> Response:
        return self.page(request, "connect", **self._connect_context())

    def _connect_context(self) -> dict[str, Any]:
        ws = self.ws
        directory = None
        fingerprint = ""
        if ws.has_key:
            try:
                _, fingerprint, _ = ws.community()
                directory = ws.account_directory()
            except BulkIdentError:
                directory = None
        counts: dict[str, int] = {}
        if directory is not None:
            for account in directory.accounts:
                word = STATUS_WORDS.get(account.status, str(account.status))
                counts[word] = counts.get(word, 0) + 1
        return {
            "fingerprint": fingerprint,
            "directory": directory,
            "status_counts": counts,
            "issues": ws.account_issues() if directory is not None else [],
        }

    async def connect_save(self, request: Request) -> Response:
        form = await request.form()
        base_url, rate = _text(form, "base_url"), _text(form, "rate")
        key = _text(form, "api_key", strip=False)
        del form  # the key is not kept anywhere but in the workspace
        return await self.attempt(
            request,
            "connect",
            lambda: self.ws.set_connection(base_url, rate, key),
            **self._connect_context(),
        )

    async def connect_forget(self, request: Request) -> Response:
        self.ws.forget_key()
        return self.go(request, "/connect")

    async def connect_accounts(self, request: Request) -> Response:
        ws = self.ws

        def start() -> None:
            ws.community()  # the key and URL are usable, before a thread is started

            def work(job: Job) -> Any:
                result = ws.fetch_accounts(
                    stop=job.stopped, on_wait=job.on_wait, on_page=job.on_page
                )
                if result.failure is not None:
                    job.phase = "stopped"
                    job.error = f"the account list could not be fetched: {_failure(result)}"
                elif result.stopped:
                    job.phase = "stopped: fetch again to go on from the last page"
                else:
                    job.phase = f"fetched {plural(result.fetched, 'account')}"
                return result

            self.runner.start("account list", work)

        return await self.attempt(request, "connect", start, **self._connect_context())

    # -- 5. preview ---------------------------------------------------------------------------

    async def preview(self, request: Request) -> Response:
        return self.page(request, "preview", **self._preview_context(self.ws.preview))

    def _preview_context(self, report: ImportReport | None) -> dict[str, Any]:
        if report is None:
            return {"report": None, "groups": {}, "counts_text": ""}
        groups = plan_groups(report)
        return {"report": report, "groups": groups, "counts_text": plan_counts(groups)}

    async def preview_run(self, request: Request) -> Response:
        form = await request.form()
        ws = self.ws
        ws.sync.skip_invalid = form.get("skip_invalid") == "on"
        ws.sync.delete_missing = form.get("delete_missing") == "on"
        max_delete = _text(form, "max_delete")
        if max_delete and not max_delete.isdigit():
            return self.page(
                request,
                "preview",
                422,
                error="the most to delete is a whole number, or blank",
                **self._preview_context(None),
            )
        ws.sync.max_delete = int(max_delete) if max_delete else None
        if self.runner.running:
            return self.page(
                request,
                "preview",
                409,
                error="a job is running: preview when it has ended",
                **self._preview_context(ws.preview),
            )
        try:
            report = await run_in_threadpool(ws.run_preview)
        except BulkIdentError as err:
            return self.page(request, "preview", 422, error=str(err), **self._preview_context(None))
        return self.page(request, "preview", **self._preview_context(report))

    # -- 6. sync ------------------------------------------------------------------------------

    async def sync(self, request: Request) -> Response:
        return self.page(request, "sync", last=self.ws.report)

    async def sync_start(self, request: Request) -> Response:
        ws = self.ws

        def start() -> None:
            ws.community()
            ws.need_review()

            def work(job: Job) -> ImportReport:
                hooks = ws.hooks(
                    on_event=job.on_event,
                    on_wait=job.on_wait,
                    on_listing=job.on_listing,
                    on_plan=job.on_plan,
                    stop=job.stopped,
                )
                report = ws.run_sync(hooks)
                job.phase = ending(report)
                return report

            self.runner.start("sync", work)

        return await self.attempt(request, "sync", start, last=ws.report)

    async def sync_stop(self, request: Request) -> Response:
        self.runner.stop()
        return self.go(request, "/sync")

    async def events(self, request: Request) -> Response:
        job = self.runner.job
        if job is None:
            return Response(status_code=204)

        async def stream() -> AsyncIterator[str]:
            last = ""
            while True:
                snap = job.snapshot()
                html = self.fragment("_progress.html", snap=snap)
                if html != last:
                    yield _event("progress", html)
                    last = html
                if not snap.running:
                    yield _event("end", snap.kind)
                    return
                if self.closing.is_set():
                    return
                await asyncio.sleep(EVENT_INTERVAL)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def progress(self, request: Request) -> Response:
        job = self.runner.job
        if job is None:
            return HTMLResponse("")
        return HTMLResponse(self.fragment("_progress.html", snap=job.snapshot()))

    # -- 7. results ---------------------------------------------------------------------------

    async def results(self, request: Request) -> Response:
        return self.page(request, "results", **self._results_context())

    def _results_context(self) -> dict[str, Any]:
        report = self.ws.report
        if report is None:
            return {"report": None, "summary": "", "failed": [], "stop_text": ""}
        return {
            "report": report,
            "summary": summary_line(report.counts),
            "failed": report.failed_rows(),
            "stop_text": ending(report),
        }

    async def results_rebuild(self, request: Request) -> Response:
        return await self.attempt(request, "results", self.ws.rebuild, **self._results_context())

    async def results_download(self, request: Request) -> Response:
        report = self.ws.report
        if report is None or report.results_path is None or not report.results_path.exists():
            return self.page(
                request,
                "results",
                404,
                error="no results sheet yet: run the sync, or rebuild the results from the journal",
                **self._results_context(),
            )
        return FileResponse(report.results_path, media_type=XLSX, filename=report.results_path.name)

    # -- 8. schedule --------------------------------------------------------------------------

    async def schedule_page(self, request: Request) -> Response:
        return self.page(request, "schedule", **self._schedule_defaults())

    def _schedule_defaults(self) -> dict[str, Any]:
        ws = self.ws
        cwd = self.settings.cwd
        source = ws.source
        return {
            "config_path": str(cwd / "bulk-ident-sync.toml"),
            "log_path": str(cwd / "bulk-ident-sync.log"),
            "source_text": source.origin if source is not None else "",
            "written": None,
        }

    async def schedule_save(self, request: Request) -> Response:
        form = await request.form()
        ws = self.ws
        config = Path(_text(form, "config_path")).expanduser()
        log = Path(_text(form, "log_path")).expanduser()
        source_text = _text(form, "source")
        replace = form.get("replace") == "on"
        context: dict[str, Any] = {
            "config_path": str(config),
            "log_path": str(log),
            "source_text": source_text,
            "written": None,
        }
        try:
            source = ws.need_source()
            if not config.is_absolute() or not log.is_absolute():
                raise InputError("give full paths for the config file and the log file")
            if config.suffix.lower() != ".toml":
                raise InputError(f"{config.name}: a config file's name ends in .toml")
            if not source_text:
                raise InputError(
                    "the scheduled sync needs the roster's path or link: a dropped file's place "
                    "on this computer is not known to the page"
                )
            if (
                not source_text.lower().startswith(("http://", "https://"))
                and not Path(source_text).expanduser().is_absolute()
            ):
                raise InputError(f"{source_text}: give the roster file's full path")
            if config.exists() and not replace:
                raise InputError(f"{config} exists: tick 'replace it' to write over it")
            options = ws.read_options()
            sheet = options.sheet
            if source.kind == "url":
                # A link is read as its linked tab (CSV) unless a tab was chosen from the whole
                # workbook: then the config names the tab the page read.
                read_sheet = ws.prep.roster.sheet if ws.prep is not None else None
                sheet = (sheet or read_sheet) if source.whole_workbook else None
            text = config_text(
                SyncFile(
                    base_url=ws.base_url,
                    rate=str(ws.rate),
                    name=source.stem,
                    source=source_text,
                    sheet=sheet,
                    maps=options.maps,
                    defaults=options.defaults,
                    delete_missing=ws.sync.delete_missing,
                    max_delete=ws.sync.max_delete,
                    skip_invalid=ws.sync.skip_invalid,
                    encoding=options.encoding,
                )
            )
            await run_in_threadpool(write_config, config, text)
        except BulkIdentError as err:
            return self.page(request, "schedule", 422, error=str(err), **context)
        except OSError as err:
            return self.page(
                request,
                "schedule",
                422,
                error=f"can't write {config}: {err.strerror or err}",
                **context,
            )
        context["written"] = {
            "text": text,
            "schedule": schedule(self.settings.program, config, log),
            "fixed": ws.review.fixed_cells if ws.review is not None else 0,
        }
        return self.page(request, "schedule", **context)

    # -- the app ------------------------------------------------------------------------------

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.index),
            Route("/roster", self.roster),
            Route("/roster/upload", self.roster_upload, methods=["POST"]),
            Route("/roster/open", self.roster_open, methods=["POST"]),
            Route("/roster/reading", self.roster_reading, methods=["POST"]),
            Route("/roster/reload", self.roster_reload, methods=["POST"]),
            Route("/roster/tabs", self.roster_tabs, methods=["POST"]),
            Route("/roster/header-rows", self.header_rows),
            Route("/roster/header", self.roster_header, methods=["POST"]),
            Route("/columns", self.columns),
            Route("/columns", self.columns_apply, methods=["POST"]),
            Route("/review", self.review),
            Route("/review/cell", self.review_cell, methods=["POST"]),
            Route("/review/corrected.xlsx", self.corrected),
            Route("/connect", self.connect),
            Route("/connect", self.connect_save, methods=["POST"]),
            Route("/connect/forget-key", self.connect_forget, methods=["POST"]),
            Route("/connect/accounts", self.connect_accounts, methods=["POST"]),
            Route("/preview", self.preview),
            Route("/preview", self.preview_run, methods=["POST"]),
            Route("/sync", self.sync),
            Route("/sync/start", self.sync_start, methods=["POST"]),
            Route("/sync/stop", self.sync_stop, methods=["POST"]),
            Route("/events", self.events),
            Route("/progress", self.progress),
            Route("/results", self.results),
            Route("/results/rebuild", self.results_rebuild, methods=["POST"]),
            Route("/results/download", self.results_download),
            Route("/schedule", self.schedule_page),
            Route("/schedule", self.schedule_save, methods=["POST"]),
            Mount("/static", StaticFiles(packages=[("bulk_ident.web", "static")]), name="static"),
        ]


def create_app(ws: Workspace, settings: PageSettings, runner: Runner | None = None) -> Starlette:
    """The page's app for one workspace and token. On shutdown a running job is stopped and
    waited for, as Ctrl-C stops the command line."""
    page = Page(ws, runner or Runner(), settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        page.closing.set()
        await run_in_threadpool(page.runner.shutdown)

    cookie = f"bulk_ident_{settings.port}" if settings.port else "bulk_ident"
    gate = Middleware(
        TokenGate, token=settings.token, cookie=cookie, body_limit=settings.upload_limit
    )
    app = Starlette(routes=page.routes(), middleware=[gate], lifespan=lifespan)
    app.state.page = page
    return app


# -- small helpers ----------------------------------------------------------------------------


def _text(form: FormData, name: str, *, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def _number(form: FormData, name: str) -> int | None:
    text = _text(form, name)
    return int(text) if text.isdigit() else None


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {name}\n{lines}\n"


def _clock(seconds: float | None) -> str:
    """``0:42``, ``1:05:00``."""
    seconds = int(max(seconds or 0, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _failure(result: FetchResult) -> str:
    failure = result.failure
    if isinstance(failure, Rejected | Unauthorised | RateLimited):
        return failure.message
    if isinstance(failure, NotSent | Unknown):
        return failure.reason
    return "no answer"


__all__ = ["STEPS", "Page", "PageSettings", "TokenGate", "create_app", "default_program"]
