"""What the commands print: a run's head, plan and end, problems, the progress bar, the log
file, stop signals, the resume command, and the ``--json`` object."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click

from bulk_ident.cad.client import RequestRecord
from bulk_ident.errors import ApiError, BulkIdentError, InputError
from bulk_ident.jobs import EXIT_INPUT, EXIT_STOPPED, ImportReport
from bulk_ident.prepare import Prepared
from bulk_ident.report.report import RowReport, summary_line
from bulk_ident.sync.importer import Event
from bulk_ident.sync.plan import change_text
from bulk_ident.words import SUMMARY_ORDER, EventKind, Result, Stop, plural

_ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp1252": "Windows-1252"}
_DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}


_human_to_stderr = False  # --json: stdout holds the JSON object alone


def say(text: str = "", *, err: bool = False) -> None:
    """One line to stdout (or stderr; always stderr while ``--json`` keeps stdout for JSON)."""
    click.echo(text, err=err or _human_to_stderr)


@contextlib.contextmanager
def human_output_to_stderr(on: bool) -> Iterator[None]:
    """While ``on``, every line ``say`` prints goes to stderr."""
    global _human_to_stderr  # noqa: PLW0603 - one switch for every printing helper
    was = _human_to_stderr
    _human_to_stderr = on or was
    try:
        yield
    finally:
        _human_to_stderr = was


def roster_head(prep: Prepared) -> str:
    """``roster.csv (header on row 3, UTF-8 with BOM, comma-separated)``."""
    roster = prep.roster
    details = [f"header on row {roster.header_row}"]
    if roster.encoding:
        details.append(_ENCODINGS.get(roster.encoding, roster.encoding))
    if roster.delimiter:
        details.append(f"{_DELIMITERS.get(roster.delimiter, roster.delimiter)}-separated")
    return f"{prep.where} ({', '.join(details)})"


def print_problems(prep: Prepared) -> None:
    """The first problems found, then how many more the sheet holds."""
    for number, problem in prep.problems_seen:
        sep = ", " if problem.startswith("column ") else ": "
        say(f"  row {number}{sep}{problem}")
    more = prep.problems_total - len(prep.problems_seen)
    if more > 0:
        say(f"  ... and {more} more in the results sheet")


def print_warnings(warnings: Iterable[str]) -> None:
    """Each warning on its own line."""
    for warning in warnings:
        say(f"  warning: {warning}")


def clock_text(seconds: float) -> str:
    """``0:42``, ``1:05:00``."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def print_failed(reports: Iterable[RowReport], results: Path | None, limit: int = 10) -> None:
    """``row 14: failed (404 Account not found)`` for the first few, then how many more."""
    bad = [r for r in reports if r.result in (Result.FAILED, Result.UNKNOWN)]
    for r in bad[:limit]:
        where = f"row {r.row}" if r.row is not None else f"unit {r.values and r.account}"
        say(f"  {where}: {r.result} ({r.error})" if r.error else f"  {where}: {r.result}")
    if len(bad) > limit:
        place = f" in {results}" if results is not None else ""
        say(f"  ... and {len(bad) - limit} more{place}")


def summary(counts: Any) -> str:
    """The summary line."""
    return summary_line(counts)


class StopFlag:
    """Set by the first SIGINT/SIGTERM; a second one interrupts the request in flight."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        say(
            f"\n{self.signal}: finishing the request in flight, then stopping "
            "(press Ctrl-C again to abandon it)",
            err=True,
        )

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def exit_code(self) -> int:
        """130 for Ctrl-C, 143 for SIGTERM."""
        return 143 if self.signal == "SIGTERM" else 130


class Progress:
    """The tqdm bar on stderr and the --log-file lines; both silent when not wanted."""

    def __init__(self, *, show: bool, log: TextIO | None) -> None:
        self.show = show
        self.log = log
        self.bar: Any = None
        self.interval = 0.0
        self.total = 0
        self.done: dict[str, int] = {"created": 0, "updated": 0, "failed": 0}
        self.row: int | None = None
        self.headed = False  # the run's first lines have been printed

    def start(self, total: int, interval: float) -> None:
        """Draw the bar for ``total`` requests spaced ``interval`` seconds."""
        from tqdm import tqdm

        self.total, self.interval = total, interval
        self.bar = tqdm(
            total=total,
            unit="req",
            file=sys.stderr,
            disable=not self.show,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )

    def _postfix(self, waiting: float | None = None) -> None:
        if self.bar is None:
            return
        left = max(self.total - self.bar.n, 0)
        eta = max(left * self.interval - self.interval, 0) + (waiting or 0)
        # Fixed width, so that the bar does not jump as the countdown comes and goes.
        doing = f"next in {waiting:3.0f}s" if waiting is not None and waiting >= 0.5 else "sending"
        done = ", ".join(f"{k} {v}" for k, v in self.done.items())
        self.bar.set_postfix_str(f"{done}, ETA {clock_text(eta)}, {doing:<12}", refresh=True)

    def write(self, line: str) -> None:
        """A line above the bar (and in the log file)."""
        if self.bar is not None and self.show:
            self.bar.write(line, file=sys.stderr)
        else:
            say(line, err=True)
        self.log_line(line)

    def log_line(self, line: str) -> None:
        """A line in the log file, time-stamped."""
        log_line(self.log, line)

    def on_event(self, event: Event) -> None:
        """Count and show what the run reports."""
        if event.kind in (EventKind.SENDING, EventKind.LISTING):
            self.row = event.row
            if self.bar is not None:
                self.bar.update(1)
        elif event.kind is EventKind.DONE and event.result is not None:
            word = {Result.RECREATED: "created", Result.RESTORED: "updated"}.get(
                event.result, str(event.result)
            )
            if word in self.done:
                self.done[word] += 1
        elif event.kind is EventKind.RATE_LIMITED:
            where = f"row {event.row}: " if event.row else ""
            self.write(
                f"{where}rate limited by the server; waiting {event.seconds:.0f}s and slowing "
                "down (is the key used elsewhere?)"
            )
        elif event.kind is EventKind.CLOCK_BACK:
            self.write(
                f"warning: the computer's clock went back about {clock_text(event.seconds)}; "
                "the pace restarts from now"
            )
        elif event.kind is EventKind.UNREACHABLE:
            self.write(f"server unreachable, retrying in {event.seconds:.0f} s ({event.detail})")
        self._postfix()

    def on_wait(self, seconds: float) -> None:
        """The countdown to the next request."""
        self._postfix(seconds)

    def on_request(self, record: RequestRecord) -> None:
        """One line per request in the log file: never the key, never the query."""
        status = record.status if record.status is not None else "-"
        row = self.row if self.row is not None else "-"
        self.log_line(
            f"row={row} {record.method} {record.path} status={status} {record.seconds * 1000:.0f}ms"
        )

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- a run's head, plan and end ----------------------------------------------------------------


def print_head(report: ImportReport, progress: Progress) -> None:
    """What is being imported where (printed once, and the log file's start line)."""
    if progress.headed:
        return
    progress.headed = True
    prep = report.prep
    verb = "Planning" if report.options.dry_run else "Importing"
    say(f"{verb} {roster_head(prep)}")
    say(
        f"  into {report.base_url} with {report.fingerprint} at {report.options.rate}; "
        f"scope '{report.scope}'; journal: {report.journal_path}"
    )
    progress.log_line(
        f"start {prep.where} into {report.base_url} ({report.fingerprint}), scope "
        f"'{report.scope}', {plural(len(prep.rows), 'row')}"
    )
    print_warnings(prep.warnings)


def print_plan(report: ImportReport, progress: Progress) -> None:
    """What the plan will do, and the first changes it makes."""
    print_head(report, progress)
    plan = report.plan
    if plan is None:
        return
    counts = {r: plan.count(r) for r in Result}
    todo = [
        (Result.CREATED, "to create"),
        (Result.RECREATED, "to create again"),
        (Result.UPDATED, "to update"),
        (Result.RESTORED, "to restore"),
        (Result.DELETED, "to delete"),
    ]
    parts = [f"{counts[r]} {words}" for r, words in todo if counts[r]]
    parts += [
        f"{counts[r]} {r}"
        for r in (
            Result.ADOPTED,
            Result.UNCHANGED,
            Result.WOULD_UPDATE,
            Result.NOT_IN_ROSTER,
            Result.ON_SERVER_ONLY,
            Result.FAILED,
        )
        if counts[r]
    ]
    checks = f", {plural(len(plan.lists), 'account')} to check first" if plan.lists else ""
    say(
        f"Plan: {', '.join(parts) or 'nothing to do'}{checks}; "
        f"{plural(plan.requests, 'request')}, about {clock_text(report.estimate)} at "
        f"{report.options.rate}"
    )
    changed = [s for s in plan.steps if s.changes and s.checked is not None]
    for step in changed[:10]:
        say(f"  row {step.row}: {change_text(step.changes)}")
    if len(changed) > 10:
        say(f"  ... and {len(changed) - 10} more changes")
    if plan.guard:
        say(f"  {plan.guard}")


def print_end(
    report: ImportReport, progress: Progress, resume: str, skip: str = "add --skip-invalid"
) -> None:
    """The summary (and the log file's summary line), failures, and how to resume. ``skip``
    says how to send the valid rows anyway (an option, or a config key)."""
    if report.held:
        print_problems(report.prep)
        bad = plural(report.prep.invalid_count, "row")
        say(f"Nothing sent: {bad} invalid or duplicate (see above).")
        say(f"Fix them and run again, or {skip} to send the valid rows.")
    line = summary(report.counts)
    say(f"Summary: {line}")
    progress.log_line(f"summary: {line}; stop: {report.stop}")
    requests = ", ".join(f"{n} {m}" for m, n in sorted(report.requests.items())) or "none"
    where = f"results: {report.results_path}" if report.results_path else "no results sheet written"
    say(
        f"  requests: {requests}; elapsed {clock_text(report.finished - report.started)}; "
        f"{where}; journal: {report.journal_path}"
    )
    print_failed(report.reports, report.results_path)
    if report.options.dry_run:
        say("Dry run: nothing was sent.")
    outcome = report.outcome
    stop = report.stop
    if stop is Stop.GUARD and report.plan is not None:
        say(f"Not deleted: {report.plan.guard}", err=True)
    if outcome is None or stop in (Stop.DONE, Stop.HELD, Stop.GUARD, Stop.INTERRUPTED):
        return
    if stop in (Stop.UNAUTHORISED, Stop.HOST_NOT_FOUND):
        say(f"bulk-ident: stopped: {outcome.message}", err=True)
        return
    when = ""
    if outcome.resume_after is not None:
        when = " after " + time.strftime("%Y-%m-%d %H:%M", time.localtime(outcome.resume_after))
    say(f"Stopped early: {outcome.message}.", err=True)
    say(f"To resume{when}: {resume}", err=True)


def resume_command(args: Sequence[str] | None = None, *, windows: bool | None = None) -> str:
    """The command that ran (default: this process's), quoted for the shell that ran it:
    cmd.exe / PowerShell rules on Windows, POSIX shell rules elsewhere."""
    args = sys.argv[1:] if args is None else list(args)
    if os.name == "nt" if windows is None else windows:
        import subprocess

        return "bulk-ident " + subprocess.list2cmdline(args)
    return "bulk-ident " + shlex.join(args)


# -- --json ---------------------------------------------------------------------------------------

JSON_SCHEMA = 1


def stop_message(report: ImportReport) -> str:
    """Why a run did not finish as the roster says, in one line ("" when it did)."""
    if report.held:
        return report.held
    outcome = report.outcome
    if report.stop is Stop.GUARD and report.plan is not None:
        return report.plan.guard
    if outcome is not None and report.stop is not Stop.DONE:
        return outcome.message
    return ""


def run_json(report: ImportReport, exit_code: int) -> dict[str, Any]:
    """One run as the ``--json`` object describes it (see docs/onboarding.md)."""
    counts = report.counts
    return {
        "roster": report.prep.source.name,
        "scope": report.scope,
        "base_url": report.base_url,
        "key": report.fingerprint,
        "dry_run": report.options.dry_run,
        "exit_code": exit_code,
        "stop": str(report.stop),
        "message": stop_message(report),
        "error": None,
        "rows": len(report.prep.rows),
        "counts": {str(r): counts.get(r, 0) for r in SUMMARY_ORDER},
        "requests": dict(sorted(report.requests.items())),
        "elapsed_seconds": round(max(report.finished - report.started, 0.0), 3),
        "results": None if report.results_path is None else str(report.results_path),
        "journal": None if report.journal_path is None else str(report.journal_path),
    }


def failed_json(roster: str, err: BaseException | None, stop: str = "error") -> dict[str, Any]:
    """A run that never got going (``err``: the one-line reason), or was not started at all
    (``stop`` "not run"), in the same shape as `run_json`."""
    return {
        "roster": roster,
        "scope": None,
        "base_url": None,
        "key": None,
        "dry_run": None,
        "exit_code": None if err is None else error_exit_code(err),
        "stop": stop,
        "message": "",
        "error": None if err is None else str(err),
        "rows": None,
        "counts": {str(r): 0 for r in SUMMARY_ORDER},
        "requests": {},
        "elapsed_seconds": 0.0,
        "results": None,
        "journal": None,
    }


def error_exit_code(err: BaseException) -> int:
    """The exit code the entry point gives an error: 3 for the server's refusal, else 2."""
    return EXIT_STOPPED if isinstance(err, ApiError) else EXIT_INPUT


def error_line(err: BulkIdentError) -> str:
    """The entry point's one line for an error."""
    return f"bulk-ident: stopped: {err}" if isinstance(err, ApiError) else f"bulk-ident: {err}"


def emit_json(obj: dict[str, Any]) -> None:
    """The ``--json`` object: one line on stdout."""
    click.echo(json.dumps({"schema": JSON_SCHEMA, **obj}, ensure_ascii=False))


def log_line(log: TextIO | None, line: str) -> None:
    """A time-stamped line in the --log-file (if there is one)."""
    if log is not None:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n")
        log.flush()


def open_log(path: Path | None) -> TextIO | None:
    """The --log-file, appended to."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8")
    except OSError as err:
        raise InputError(f"can't write the log file {path}: {err.strerror or err}") from None


__all__ = [
    "JSON_SCHEMA",
    "Progress",
    "StopFlag",
    "clock_text",
    "emit_json",
    "error_exit_code",
    "error_line",
    "failed_json",
    "human_output_to_stderr",
    "log_line",
    "open_log",
    "plural",
    "print_end",
    "print_failed",
    "print_head",
    "print_plan",
    "print_problems",
    "print_warnings",
    "resume_command",
    "roster_head",
    "run_json",
    "say",
    "stop_message",
    "summary",
]
