"""What the jobs share: their options (`ImportOptions`), how a caller watches a run (`Hooks`),
the report of an import (`ImportReport`), exit codes, output checks and the Summary sheet's lines.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bulk_ident.cad.accounts import AccountDirectory
from bulk_ident.cad.client import RequestRecord, SonoranClient, Transport
from bulk_ident.errors import InputError
from bulk_ident.net import DEFAULT_BASE_URL, check_base_url, key_fingerprint
from bulk_ident.prepare import Prepared, ReadOptions
from bulk_ident.rates import DEFAULT_RATE, Rate
from bulk_ident.read.sources import Source
from bulk_ident.report.report import RowReport, count
from bulk_ident.report.results import check_output
from bulk_ident.sync import state
from bulk_ident.sync.importer import Event, RunOutcome, Settings
from bulk_ident.sync.pacing import Pacer
from bulk_ident.sync.plan import Plan
from bulk_ident.sync.resolve import DEFAULT_MAX_AGE, AccountProgress, AccountRun
from bulk_ident.words import ALWAYS_SHOWN, PROBLEM_RESULTS, SUMMARY_ORDER, EventKind, Result, Stop

EXIT_OK = 0
EXIT_ROWS = 1  # finished, but some rows are invalid, duplicate or failed
EXIT_INPUT = 2  # the roster or an option can't be used; nothing was sent
EXIT_STOPPED = 3  # stopped early (key refused, rate limited, unreachable); resumable


def cached_accounts(
    prep: Prepared, community: str, env: Mapping[str, str] | None, clock: Callable[[], float]
) -> AccountDirectory:
    """The community's account list as cached (no network); a damaged cache is a warning."""
    directory = AccountDirectory.load(state.accounts_cache_path(community, env), clock=clock)
    if directory.warning:
        prep.warnings.append(directory.warning)
    return directory


def refuse_outputs(roster: Path | Source | None, *outputs: Path | None) -> None:
    """Outputs must not be the roster itself, nor anything but a regular file; checked before
    anything is read further or sent."""
    local = roster.path if isinstance(roster, Source) else roster
    for out in outputs:
        if out is None:
            continue
        if local is not None and out.exists() and local.exists() and os.path.samefile(out, local):
            raise InputError(f"{out} is the roster itself: choose another path for the output")
        check_output(out)


@dataclass(frozen=True)
class ImportOptions:
    """Everything ``import`` (and each roster of a config-file sync) can be told."""

    read: ReadOptions = field(default_factory=ReadOptions)
    base_url: str = DEFAULT_BASE_URL
    rate: Rate = DEFAULT_RATE
    state: Path | None = None  # the journal; default: one per community in the state folder
    results: Path | None = None
    scope: str | None = None  # default: the roster's file name without its extension
    skip_invalid: bool = False
    match_existing: bool = True
    update: bool = True
    delete_missing: bool = False
    max_delete: int | None = None
    retry_failed: bool = False
    verify: bool = False
    dry_run: bool = False
    proxy: str | None = None  # for an https base URL; default: HTTPS_PROXY / ALL_PROXY
    accounts_max_age: float = DEFAULT_MAX_AGE  # seconds; an older account list is fetched again


@dataclass
class Hooks:
    """How a caller watches and steers a run. Every field is optional."""

    on_event: Callable[[Event], None] = lambda event: None
    on_wait: Callable[[float], None] | None = None
    on_request: Callable[[RequestRecord], None] | None = None
    on_listing: Callable[[ImportReport, int], None] | None = None  # before listing N accounts
    on_plan: Callable[[ImportReport], None] | None = None  # after planning, before sending
    # Fetching accounts named by username (etc.): a phase starts (``why`` set), or goes on.
    on_accounts: Callable[[ImportReport, AccountProgress], None] | None = None
    stop: Callable[[], bool] = lambda: False
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    transport: Transport | None = None  # tests: an httpx.MockTransport
    settings: Settings | None = None
    env: Mapping[str, str] | None = None  # where the state folder and proxy variables are read


@dataclass
class ImportReport:
    """What a run did (or, dry, would do), row by row."""

    prep: Prepared
    options: ImportOptions
    base_url: str
    fingerprint: str
    scope: str
    journal_path: Path | None
    results_path: Path | None = None  # None when no sheet was written
    plan: Plan | None = None
    reports: list[RowReport] = field(default_factory=list)
    outcome: RunOutcome | None = None
    held: str = ""  # why nothing was sent: invalid rows and no --skip-invalid
    started: float = 0.0
    finished: float = 0.0
    interval: float = 0.0  # seconds between requests at --rate
    _counted: tuple[list[RowReport], Counter[Result]] | None = field(default=None, repr=False)

    @property
    def counts(self) -> Counter[Result]:
        """How many rows have each result (worked out once the reports are complete)."""
        if self._counted is None or self._counted[0] is not self.reports:
            self._counted = (self.reports, count(self.reports))
        return self._counted[1]

    @property
    def stop(self) -> Stop:
        """Why the run ended."""
        if self.held:
            return Stop.HELD
        if self.outcome is not None and self.outcome.stop is not Stop.DONE:
            return self.outcome.stop
        if self.plan is not None and self.plan.guard and self.options.delete_missing:
            return Stop.GUARD
        return Stop.DONE

    @property
    def exit_code(self) -> int:
        """0 done; 1 some rows not as the roster says (or the delete guard held); 3 stopped."""
        stop = self.stop
        if stop in (Stop.DONE, Stop.GUARD, Stop.HELD):
            bad = any(self.counts.get(r, 0) for r in PROBLEM_RESULTS)
            return EXIT_ROWS if bad or stop is not Stop.DONE else EXIT_OK
        if stop is Stop.INTERRUPTED:
            return 130
        return EXIT_STOPPED

    @property
    def requests(self) -> Mapping[str, int]:
        """Requests sent, by method."""
        return self.outcome.requests if self.outcome is not None else {}

    @property
    def estimate(self) -> float:
        """Seconds the plan takes at --rate, when all goes well."""
        return self.plan.requests * self.interval if self.plan is not None else 0.0

    def failed_rows(self) -> list[RowReport]:
        """Rows that failed or whose outcome is unknown, in order."""
        return [r for r in self.reports if r.result in (Result.FAILED, Result.UNKNOWN)]


def community_of(base_url: str, api_key: str) -> tuple[str, str, str]:
    """(normalised base URL, key fingerprint, community id)."""
    url = check_base_url(base_url)
    fingerprint = key_fingerprint(api_key)
    return url, fingerprint, state.community_id(url, fingerprint)


def unwatched(progress: AccountProgress) -> None:
    """No one watches the account work."""


def summary_lines(report: ImportReport, kind: str, command: str = "") -> list[tuple[str, str]]:
    """The Summary sheet of a run: what ran, when, against what, how it ended, and the counts."""
    requests = ", ".join(f"{m} {n}" for m, n in sorted(report.requests.items()))
    lines = [
        ("Sheet", kind),
        ("Roster", report.prep.where),
        ("Scope", report.scope),
        ("Community", f"{report.base_url} ({report.fingerprint})"),
        *command_lines(command, report.started),
    ]
    if report.finished:
        lines += [
            ("Finished", _local_time(report.finished)),
            ("Stopped", str(report.stop)),
            ("Exit code", str(report.exit_code)),
            ("Requests", requests or "none"),
        ]
    lines.append(("Journal", str(report.journal_path)))
    return lines + count_lines(report.counts)


def command_lines(command: str, started: float) -> list[tuple[str, str]]:
    lines = [("Command", command)] if command else []
    return [*lines, ("Started", _local_time(started))] if started else lines


def count_lines(counts: Mapping[Result, int]) -> list[tuple[str, str]]:
    shown = [r for r in SUMMARY_ORDER if counts.get(r, 0) or r in ALWAYS_SHOWN]
    return [("", ""), ("Result", "Rows"), *((str(r), str(counts.get(r, 0))) for r in shown)]


def _local_time(ts: float) -> str:
    """``2026-11-30 02:00:05 +0100``: the computer's own time, with its offset."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


def open_pacer(rate: Rate, fingerprint: str, hooks: Hooks) -> Pacer:
    """The key's shared pace, in the state folder; a clock set back is reported as an event."""
    return Pacer(
        rate,
        state_path=state.pace_state_path(fingerprint, hooks.env),
        key_id=fingerprint,
        clock=hooks.clock,
        sleep=hooks.sleep,
        on_clock_back=lambda seconds: hooks.on_event(Event(EventKind.CLOCK_BACK, seconds=seconds)),
    )


def open_client(url: str, api_key: str, hooks: Hooks, proxy: str | None = None) -> SonoranClient:
    """The API client as every job makes it: the hooks' transport, environment and request log."""
    return SonoranClient(
        url,
        api_key,
        transport=hooks.transport,
        proxy=proxy,
        env=hooks.env,
        on_request=hooks.on_request,
    )


def account_run(
    client: SonoranClient,
    pacer: Pacer,
    directory: AccountDirectory,
    outcome: RunOutcome,
    hooks: Hooks,
    on_progress: Callable[[AccountProgress], None],
) -> AccountRun:
    """The paced account work (list fetched, IDs looked up) with the hooks' stop and clocks."""
    return AccountRun(
        client,
        pacer,
        directory,
        outcome=outcome,
        settings=hooks.settings,
        stop=hooks.stop,
        on_event=hooks.on_event,
        on_wait=hooks.on_wait,
        on_progress=on_progress,
        clock=hooks.clock,
        sleep=hooks.sleep,
        monotonic=hooks.monotonic,
    )
