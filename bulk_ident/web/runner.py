"""One long job at a time (a sync, or fetching the account list) in a worker thread, and what the
page shows of it as it goes: requests sent of the total, rows created, updated and failed, the
countdown to the next request. A stop request is the page's Ctrl-C: the library's ``stop`` hook.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bulk_ident.errors import BulkIdentError
from bulk_ident.jobs import ImportReport
from bulk_ident.sync.importer import Event
from bulk_ident.words import EventKind, Result

# The page's counters: a row's result as the progress line words it.
_COUNTED: dict[Result, str] = {
    Result.CREATED: Result.CREATED.value,
    Result.RECREATED: Result.CREATED.value,
    Result.UPDATED: Result.UPDATED.value,
    Result.RESTORED: Result.UPDATED.value,
    Result.ADOPTED: Result.ADOPTED.value,
    Result.DELETED: Result.DELETED.value,
    Result.FAILED: Result.FAILED.value,
    Result.UNKNOWN: Result.UNKNOWN.value,
}
SHOWN_COUNTS = (Result.CREATED.value, Result.UPDATED.value, Result.FAILED.value)


class Busy(BulkIdentError):
    """Another job is running: one at a time."""


@dataclass(frozen=True)
class Snapshot:
    """A job as the page draws it at one moment."""

    kind: str
    running: bool
    stopping: bool
    phase: str
    sent: int
    total: int
    counts: dict[str, int]
    wait: float | None  # seconds to the next request, while waiting for one
    message: str
    error: str
    elapsed: float


@dataclass
class Job:
    """A job's progress, fed by the library's hooks from the worker thread."""

    kind: str
    clock: Callable[[], float] = time.monotonic
    phase: str = "starting"
    sent: int = 0
    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    message: str = ""
    error: str = ""
    result: Any = None
    started: float = 0.0
    finished: float | None = None
    _next_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.started = self.clock()

    # -- the library's hooks ---------------------------------------------------------------------

    def stopped(self) -> bool:
        """The ``stop`` hook: True once Stop was pressed."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop after the request in flight, as Ctrl-C does."""
        self._stop.set()

    def on_event(self, event: Event) -> None:
        """Count requests and results."""
        with self._lock:
            self._next_at = None
            if event.kind in (EventKind.SENDING, EventKind.LISTING):
                self.sent += 1
            elif event.kind is EventKind.DONE and event.result is not None:
                word = _COUNTED.get(event.result)
                if word is not None:
                    self.counts[word] += 1
            elif event.kind is EventKind.RATE_LIMITED:
                self.message = (
                    f"rate limited by the server: waiting {event.seconds:.0f} s and slowing down "
                    "(is the key used elsewhere?)"
                )
            elif event.kind is EventKind.UNREACHABLE:
                self.message = (
                    f"server unreachable, retrying in {event.seconds:.0f} s ({event.detail})"
                )

    def on_wait(self, seconds: float) -> None:
        """The countdown to the next request."""
        with self._lock:
            self._next_at = self.clock() + seconds

    def on_listing(self, report: ImportReport, accounts: int) -> None:
        """Before the run lists accounts the journal can't vouch for."""
        with self._lock:
            self.phase = f"checking {accounts} accounts on the server first"
            self.sent, self.total = 0, accounts

    def on_plan(self, report: ImportReport) -> None:
        """The plan is made: now the rows are sent."""
        with self._lock:
            self.phase = "sending" if not report.options.dry_run else "planned"
            self.sent = 0
            self.total = report.plan.requests if report.plan is not None else 0

    def on_page(self, fetched: int, total: int | None) -> None:
        """A page of the account list arrived."""
        with self._lock:
            self.phase = "fetching the account list"
            self.sent, self.total = fetched, total or fetched

    # -- the page's view --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The job as it stands."""
        with self._lock:
            now = self.clock()
            wait = None
            if self._next_at is not None and self.finished is None:
                wait = max(self._next_at - now, 0.0)
            return Snapshot(
                kind=self.kind,
                running=self.finished is None,
                stopping=self._stop.is_set() and self.finished is None,
                phase=self.phase,
                sent=self.sent,
                total=self.total,
                counts=dict(self.counts),
                wait=wait,
                message=self.message,
                error=self.error,
                elapsed=(self.finished or now) - self.started,
            )


class Runner:
    """Runs one job at a time in a worker thread."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.job: Job | None = None

    @property
    def running(self) -> bool:
        """True while a job's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        kind: str,
        work: Callable[[Job], Any],
        done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Start ``work(job)`` in a new thread; Busy while another job runs."""
        with self._lock:
            if self.running:
                assert self.job is not None
                raise Busy(f"a {self.job.kind} is running: wait for it to end, or stop it, first")
            job = Job(kind, self._clock)
            self.job = job
            # Not a daemon: a run stopped by the server's shutdown still records its last answer.
            self._thread = threading.Thread(
                target=self._run, args=(job, work, done), name=f"bulk-ident-{kind}"
            )
            self._thread.start()
            return job

    def _run(
        self, job: Job, work: Callable[[Job], Any], done: Callable[[Job], None] | None
    ) -> None:
        try:
            job.result = work(job)
        except BulkIdentError as err:
            job.error = str(err)
        except Exception as err:  # the page must say what happened, not hang on "running"
            job.error = f"unexpected error ({type(err).__name__}): {err}"
        finally:
            with job._lock:
                job.finished = self._clock()
                job._next_at = None
            if done is not None:
                done(job)

    def stop(self) -> bool:
        """Ask the running job to stop; False when none runs."""
        if self.job is None or not self.running:
            return False
        self.job.request_stop()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job's thread to end; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop any job and wait for it (the request in flight finishes and is recorded)."""
        self.stop()
        self.wait(timeout)
