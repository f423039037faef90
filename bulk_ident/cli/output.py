"""What the commands print: summaries, problems, the progress bar, the log file, stop signals."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click

from bulk_ident.cad.client import RequestRecord
from bulk_ident.errors import InputError
from bulk_ident.prepare import Prepared
from bulk_ident.report.report import RowReport, summary_line
from bulk_ident.sync.importer import Event
from bulk_ident.words import EventKind, Result, plural

_ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp1252": "Windows-1252"}
_DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}


def say(text: str = "", *, err: bool = False) -> None:
    """One line to stdout (or stderr)."""
    click.echo(text, err=err)


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
        if self.log is not None:
            self.log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n")
            self.log.flush()

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
    "Progress",
    "StopFlag",
    "clock_text",
    "open_log",
    "plural",
    "print_failed",
    "print_problems",
    "print_warnings",
    "roster_head",
    "say",
    "summary",
]
