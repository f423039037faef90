"""The jobs as library calls: ``check``, ``run_import``, ``rebuild_results`` and
``fetch_accounts``.

Each takes a roster (a path, or a `Source` already fetched) and plain option objects, returns a
report, and never prints or exits: the CLI, a config-file sync, a script or a web page drive them
alike. Progress, stop requests and request logs come in through `Hooks`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulk_ident.cad.accounts import STATUS_WORDS, AccountDirectory
from bulk_ident.cad.client import (
    Account,
    RemoteIdentifier,
    RequestRecord,
    SonoranClient,
    Transport,
)
from bulk_ident.errors import InputError, JournalError
from bulk_ident.net import DEFAULT_BASE_URL, check_base_url, choose_proxy, key_fingerprint
from bulk_ident.prepare import Checked, Prepared, ReadOptions, prepare
from bulk_ident.rates import DEFAULT_RATE, Rate
from bulk_ident.read.sources import Source
from bulk_ident.report.report import (
    RowReport,
    accounts_sheet,
    check_sheet,
    count,
    default_output,
    payload_lines,
    results_sheet,
    row_reports,
)
from bulk_ident.report.results import check_output, write_lines, write_sheet, write_table
from bulk_ident.sync import state
from bulk_ident.sync.importer import Event, Importer, RunOutcome, Settings
from bulk_ident.sync.journal import Entries, Journal, Key, only_community
from bulk_ident.sync.pacing import Pacer
from bulk_ident.sync.plan import (
    Act,
    Plan,
    PlanOptions,
    Step,
    plan_sync,
    replan_row,
    vouched_accounts,
)
from bulk_ident.sync.resolve import DEFAULT_MAX_AGE, AccountProgress, AccountRun, age_text
from bulk_ident.words import ALWAYS_SHOWN, PROBLEM_RESULTS, SUMMARY_ORDER, EventKind, Result, Stop

EXIT_OK = 0
EXIT_ROWS = 1  # finished, but some rows are invalid, duplicate or failed
EXIT_INPUT = 2  # the roster or an option can't be used; nothing was sent
EXIT_STOPPED = 3  # stopped early (key refused, rate limited, unreachable); resumable


# -- check ---------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """What ``check`` found."""

    prep: Prepared
    results_path: Path
    payloads_path: Path | None
    notes: list[str] = field(default_factory=list)  # about accounts it could not check

    @property
    def counts(self) -> Counter[Result]:
        """valid / invalid / duplicate / not checked."""
        return self.prep.tally

    @property
    def exit_code(self) -> int:
        """0 when every row is valid (rows whose account is not checked included), else 1."""
        return EXIT_OK if self.prep.invalid_count == 0 else EXIT_ROWS


def check(
    roster: Path | Source,
    options: ReadOptions | None = None,
    *,
    results: Path | None = None,
    payloads: Path | None = None,
    command: str = "",
    base_url: str = DEFAULT_BASE_URL,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> CheckReport:
    """Validate a roster, streaming it into the check sheet; no network. Accounts named by
    username (etc.) are resolved from the community's cached account list, which ``base_url``
    and ``api_key`` locate; rows it can't settle are ``not checked`` and ``notes`` say why.
    ``command`` (the command line, if any) is written on the sheet's Summary."""
    started = time.time()
    prep = prepare(roster, options or ReadOptions())
    source = prep.source
    out = results or default_output(source.path, source.stem, source.suffix, "check")
    refuse_outputs(source, out, payloads)
    directory = None
    if prep.names_accounts and api_key is not None:
        directory = _cached_accounts(prep, community_of(base_url, api_key)[2], env, clock)
        prep.resolver = directory
    rows = prep.stream()
    if payloads is not None:
        rows = _tee_payloads(rows, payloads)
    sheet = check_sheet(prep, rows)

    def summary() -> list[tuple[str, str]]:  # the tally is complete once the rows are written
        head = [("Sheet", "check (nothing was sent)"), ("Roster", prep.where)]
        return [*head, *_command_lines(command, started), *_count_lines(prep.tally)]

    write_sheet(out, sheet, delimiter=prep.roster.delimiter or ",", summary=summary)
    advice = "" if api_key is not None else " (set SONORAN_API_KEY or --api-key-file to find it)"
    notes = prep.unchecked_notes(advice=advice)
    if directory is not None and directory.fetched_at is not None:
        age = clock() - directory.fetched_at
        read = sum(prep.tally.values())
        if age > DEFAULT_MAX_AGE and prep.tally[Result.NOT_CHECKED] < read:
            notes.append(
                f"accounts checked against the list fetched {age_text(age)} ago; "
                "'bulk-ident accounts' fetches it again (import does so itself)"
            )
    return CheckReport(prep, out, payloads, notes)


def _cached_accounts(
    prep: Prepared, community: str, env: Mapping[str, str] | None, clock: Callable[[], float]
) -> AccountDirectory:
    """The community's account list as cached (no network); a damaged cache is a warning."""
    directory = AccountDirectory.load(state.accounts_cache_path(community, env), clock=clock)
    if directory.warning:
        prep.warnings.append(directory.warning)
    return directory


def _tee_payloads(rows: Iterator[Checked], path: Path) -> Iterator[Checked]:
    """Pass rows on while writing the valid ones' bodies to ``path`` (JSON Lines)."""
    with write_lines(path) as out:
        for c in rows:
            if c.valid:
                for line in payload_lines((c,)):
                    out(line)
            yield c


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


# -- import ---------------------------------------------------------------------------------------


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


def run_import(
    roster: Path | Source,
    options: ImportOptions,
    *,
    api_key: str,
    hooks: Hooks | None = None,
    command: str = "",
) -> ImportReport:
    """Sync the server to a roster: plan against the journal (and the server where the journal
    can't vouch), then create, update and delete at the pace allowed. Dry runs send nothing
    (but the listings ``verify`` needs). ``command`` is written on the sheet's Summary."""
    hooks = hooks or Hooks()
    url, fingerprint, community = community_of(options.base_url, api_key)
    choose_proxy(url, proxy=options.proxy, env=hooks.env)  # a bad proxy is refused before reading
    prep = prepare(roster, options.read)
    source = prep.source
    scope = options.scope or source.stem
    kind = "plan" if options.dry_run else "results"
    out = options.results or default_output(source.path, source.stem, source.suffix, kind)
    refuse_outputs(source, out, options.state)
    journal_path = options.state or state.default_journal_path(community, hooks.env)
    rows = prep.rows  # the plan joins every row, so the roster is read whole here
    report = ImportReport(
        prep, options, url, fingerprint, scope, journal_path, started=hooks.clock()
    )
    pace_path = state.pace_state_path(fingerprint, hooks.env)
    with contextlib.ExitStack() as stack:
        if options.dry_run:
            journal = stack.enter_context(Journal.open_read_only(journal_path, community))
        else:
            stack.enter_context(state.community_lock(community, hooks.env))
            journal = stack.enter_context(Journal.open(journal_path, community, clock=hooks.clock))
            journal.begin_run(scope, source.name)
        pacer = stack.enter_context(
            Pacer(
                options.rate,
                state_path=pace_path,
                key_id=fingerprint,
                clock=hooks.clock,
                sleep=hooks.sleep,
                on_clock_back=lambda seconds: hooks.on_event(
                    Event(EventKind.CLOCK_BACK, seconds=seconds)
                ),
            )
        )
        report.interval = pacer.interval
        entries = Entries(journal)
        plan_options = PlanOptions(
            scope=scope,
            update=options.update,
            delete_missing=options.delete_missing,
            max_delete=options.max_delete,
            retry_failed=options.retry_failed,
            match_existing=options.match_existing,
            verify=options.verify,
        )
        vouched = vouched_accounts(entries, journal.listed_accounts())
        client = stack.enter_context(
            SonoranClient(
                url,
                api_key,
                transport=hooks.transport,
                proxy=options.proxy,
                env=hooks.env,
                on_request=hooks.on_request,
            )
        )
        importer = Importer(
            client,
            journal,
            pacer,
            scope=scope,
            source_file=source.name,
            replan=lambda step, listing: _replan(step, listing, journal, plan_options, vouched),
            settings=hooks.settings,
            stop=hooks.stop,
            on_event=hooks.on_event,
            on_wait=hooks.on_wait,
            clock=hooks.clock,
            sleep=hooks.sleep,
            monotonic=hooks.monotonic,
            record_listings=not options.dry_run,
        )
        report.outcome = importer.outcome
        claimed: list[Key] = []
        if prep.names_accounts and not _resolve_accounts(report, client, pacer, importer, hooks):
            # Stopped before anything was written: no sheet replaces an earlier run's.
            report.reports = row_reports(prep, None, entries, outcome=importer.outcome)
            _finish(report, journal, out, hooks, command)
            return report
        if prep.invalid_count and not options.skip_invalid:
            report.held = (
                f"not sent: {prep.invalid_count} rows are invalid or duplicate; fix them, or run "
                "again with --skip-invalid"
            )
            report.reports = row_reports(prep, None, entries, held=report.held)
            _finish(report, journal, out, hooks, command)
            return report
        valid = [c for c in rows if c.valid]
        present = {c.key for c in rows if c.key is not None}
        unkeyed = sum(1 for c in rows if c.key is None)

        def make_plan(listings: Mapping[str, Sequence[RemoteIdentifier]]) -> Plan:
            return plan_sync(
                valid,
                entries,
                plan_options,
                vouched=vouched,
                present=present,
                unkeyed=unkeyed,
                listings=listings,
            )

        plan = make_plan({})
        try:
            if plan.lists and (not options.dry_run or options.verify):
                if hooks.on_listing is not None:
                    hooks.on_listing(report, len(plan.lists))
                plan = make_plan(importer.list_accounts(plan.lists))
            report.plan = plan
            if not options.dry_run:
                claimed = _claimed(valid, entries, scope)
                if claimed:
                    journal.claim(claimed, scope)
            if hooks.on_plan is not None:
                hooks.on_plan(report)
            if not options.dry_run and importer.outcome.stop is Stop.DONE:
                try:
                    importer.run(plan)
                except KeyboardInterrupt:
                    importer.interrupted()
        except JournalError as err:
            if not importer.outcome.writes:
                raise
            importer.outcome.stop = Stop.JOURNAL
            importer.outcome.message = str(err)
        finally:
            # Whatever stopped the run, the sheet still says where every row stands.
            report.plan = plan
            entries.refresh([*claimed, *(s.key for s in plan.steps if s.act is not Act.NOTHING)])
            report.reports = row_reports(
                prep, plan, entries, outcome=importer.outcome, dry_run=options.dry_run
            )
            _finish(report, journal, out, hooks, command)
    return report


def _resolve_accounts(
    report: ImportReport,
    client: SonoranClient,
    pacer: Pacer,
    importer: Importer,
    hooks: Hooks,
) -> bool:
    """Settle the accounts rows name by username, community user, Discord or Roblox ID, from the
    cached list, fetched again or looked up first as `AccountRun.prepare` decides (paced, before
    any plan). False when the run stopped; the reason is in ``importer.outcome``."""
    prep = report.prep
    community = state.community_id(report.base_url, report.fingerprint)
    directory = _cached_accounts(prep, community, hooks.env, hooks.clock)
    on_accounts = hooks.on_accounts
    run = AccountRun(
        client,
        pacer,
        directory,
        outcome=importer.outcome,
        settings=hooks.settings,
        stop=hooks.stop,
        on_event=hooks.on_event,
        on_wait=hooks.on_wait,
        on_progress=(lambda p: on_accounts(report, p)) if on_accounts is not None else _ignore,
        clock=hooks.clock,
        sleep=hooks.sleep,
    )
    try:
        ready = run.prepare(prep.account_needs(), max_age=report.options.accounts_max_age)
    except KeyboardInterrupt:
        importer.interrupted()
        ready = False
    prep.resolve_accounts(run)
    return ready


def _ignore(progress: AccountProgress) -> None:
    """No one watches the account work."""


def _claimed(rows: Sequence[Checked], entries: Entries, scope: str) -> list[Key]:
    """Rows of this roster that the journal holds under another scope (or none)."""
    lights = entries.lights
    keys = []
    for c in rows:
        light = lights.get(c.key) if c.key is not None else None
        if light is not None and light[1] != scope and c.key is not None:
            keys.append(c.key)
    return keys


def _replan(
    step: Step,
    listing: Sequence[RemoteIdentifier],
    journal: Journal,
    options: PlanOptions,
    vouched: set[str],
) -> Step:
    assert step.checked is not None
    entry = journal.get(step.key)
    return replan_row(step.checked, entry, options, vouched, {step.account: listing})


def _finish(report: ImportReport, journal: Journal, out: Path, hooks: Hooks, command: str) -> None:
    """Record how the run ended and write its sheet (unless it stopped before sending anything,
    which must not replace the sheet of an earlier run)."""
    report.finished = hooks.clock()
    if not report.options.dry_run:
        journal.finish_run(report.stop)
    outcome = report.outcome
    stopped_early = outcome is not None and outcome.stop is not Stop.DONE and not outcome.writes
    if stopped_early and not report.options.dry_run:
        return
    sheet = results_sheet(report.prep, report.reports)
    kind = "plan (dry run: nothing was sent)" if report.options.dry_run else "results"
    summary = summary_lines(report, kind, command)
    write_sheet(out, sheet, delimiter=report.prep.roster.delimiter or ",", summary=summary)
    report.results_path = out


def summary_lines(report: ImportReport, kind: str, command: str = "") -> list[tuple[str, str]]:
    """The Summary sheet of a run: what ran, when, against what, how it ended, and the counts."""
    requests = ", ".join(f"{m} {n}" for m, n in sorted(report.requests.items()))
    lines = [
        ("Sheet", kind),
        ("Roster", report.prep.where),
        ("Scope", report.scope),
        ("Community", f"{report.base_url} ({report.fingerprint})"),
        *_command_lines(command, report.started),
    ]
    if report.finished:
        lines += [
            ("Finished", _local_time(report.finished)),
            ("Stopped", str(report.stop)),
            ("Exit code", str(report.exit_code)),
            ("Requests", requests or "none"),
        ]
    lines.append(("Journal", str(report.journal_path)))
    return lines + _count_lines(report.counts)


def _command_lines(command: str, started: float) -> list[tuple[str, str]]:
    lines = [("Command", command)] if command else []
    return [*lines, ("Started", _local_time(started))] if started else lines


def _count_lines(counts: Mapping[Result, int]) -> list[tuple[str, str]]:
    shown = [r for r in SUMMARY_ORDER if counts.get(r, 0) or r in ALWAYS_SHOWN]
    return [("", ""), ("Result", "Rows"), *((str(r), str(counts.get(r, 0))) for r in shown)]


def _local_time(ts: float) -> str:
    """``2026-11-30 02:00:05 +0100``: the computer's own time, with its offset."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


# -- results --------------------------------------------------------------------------------------


def rebuild_results(
    roster: Path | Source,
    options: ImportOptions,
    *,
    api_key: str | None,
    env: Mapping[str, str] | None = None,
    command: str = "",
) -> ImportReport:
    """The results sheet of a roster rebuilt from the journal alone: no network.

    Without a key, ``options.state`` must name the journal, which then says its community.
    """
    prep = prepare(roster, options.read)
    source = prep.source
    if api_key is not None:
        url, fingerprint, community = community_of(options.base_url, api_key)
        journal_path = options.state or state.default_journal_path(community, env)
    elif options.state is not None:
        journal_path = options.state
        community = only_community(journal_path)
        url, _, fingerprint = community.rpartition("#")
    else:
        raise InputError("no API key: set SONORAN_API_KEY or pass --api-key-file, or --state")
    if not journal_path.exists():
        raise InputError(f"no journal at {journal_path}: has this roster been imported here?")
    scope = options.scope or source.stem
    out = options.results or default_output(source.path, source.stem, source.suffix, "results")
    refuse_outputs(source, out)
    report = ImportReport(prep, options, url, fingerprint, scope, journal_path)
    if prep.names_accounts:
        prep.resolver = _cached_accounts(prep, community, env, time.time)
    with Journal.open_read_only(journal_path, community) as journal:
        entries = Entries(journal)
        rows = prep.rows
        valid = [c for c in rows if c.valid]
        present = {c.key for c in rows if c.key is not None}
        plan_options = PlanOptions(scope=scope, match_existing=False)
        plan = plan_sync(
            valid,
            entries,
            plan_options,
            vouched=set(),
            present=present,
        )
        report.plan = plan
        report.reports = row_reports(prep, plan, entries, last_run=journal.last_run(scope))
    write_sheet(
        out,
        results_sheet(prep, report.reports),
        delimiter=prep.roster.delimiter or ",",
        summary=summary_lines(report, "results rebuilt from the journal", command),
    )
    report.results_path = out
    return report


# -- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountsOptions:
    """What ``bulk-ident accounts`` can be told."""

    base_url: str = DEFAULT_BASE_URL
    rate: Rate = DEFAULT_RATE
    status: int | None = None  # 0-4 as the API numbers them; None: every status
    output: Path = Path("accounts.xlsx")


@dataclass
class AccountsReport:
    """What ``fetch_accounts`` did: the accounts read, the sheet and the cache written."""

    options: AccountsOptions
    base_url: str
    fingerprint: str
    outcome: RunOutcome
    accounts: tuple[Account, ...] = ()
    output: Path | None = None  # None when no sheet was written (it stopped first)
    cache: Path | None = None  # None when the cache was left as it was
    warning: str | None = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def counts(self) -> Counter[str]:
        """Accounts by status word."""
        return Counter(STATUS_WORDS[a.status] for a in self.accounts)

    @property
    def exit_code(self) -> int:
        """0 done; 3 stopped (key refused, rate limited, unreachable); 130 interrupted."""
        stop = self.outcome.stop
        if stop is Stop.DONE:
            return EXIT_OK
        return 130 if stop is Stop.INTERRUPTED else EXIT_STOPPED


def fetch_accounts(
    options: AccountsOptions,
    *,
    api_key: str,
    hooks: Hooks | None = None,
    on_progress: Callable[[AccountProgress], None] = _ignore,
) -> AccountsReport:
    """Download the community's account list (paced, 100 a page), cache it for ``import`` and
    ``check`` (every status, or validated only: a list of other accounts only is not cached),
    and write it as a sheet sorted by username, from which a roster can be filled."""
    hooks = hooks or Hooks()
    url, fingerprint, community = community_of(options.base_url, api_key)
    refuse_outputs(None, options.output)
    report = AccountsReport(options, url, fingerprint, RunOutcome(), started=hooks.clock())
    cached = options.status in (None, 1)
    if cached:
        report.cache = state.accounts_cache_path(community, hooks.env)
        directory = AccountDirectory.load(report.cache, clock=hooks.clock)
        report.warning = directory.warning
    else:
        directory = AccountDirectory(clock=hooks.clock)
    pace_path = state.pace_state_path(fingerprint, hooks.env)
    with (
        Pacer(
            options.rate,
            state_path=pace_path,
            key_id=fingerprint,
            clock=hooks.clock,
            sleep=hooks.sleep,
        ) as pacer,
        SonoranClient(
            url, api_key, transport=hooks.transport, on_request=hooks.on_request
        ) as client,
    ):
        run = AccountRun(
            client,
            pacer,
            directory,
            outcome=report.outcome,
            settings=hooks.settings,
            stop=hooks.stop,
            on_event=hooks.on_event,
            on_wait=hooks.on_wait,
            on_progress=on_progress,
            clock=hooks.clock,
            sleep=hooks.sleep,
        )
        try:
            done = run.fetch(options.status)
        except KeyboardInterrupt:
            report.outcome.stop = Stop.INTERRUPTED
            report.outcome.message = "interrupted"
            done = False
    report.finished = hooks.clock()
    if not done:
        report.cache = None
        return report
    report.accounts = directory.accounts
    sheet = accounts_sheet(directory.accounts)
    try:
        write_table(
            options.output, sheet.header, sheet.rows, sheet="Accounts", numbers=sheet.numbers
        )
    except OSError as err:
        raise InputError(f"can't write {options.output}: {err.strerror or err}") from None
    report.output = options.output
    return report


__all__ = [
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_ROWS",
    "EXIT_STOPPED",
    "AccountsOptions",
    "AccountsReport",
    "CheckReport",
    "Hooks",
    "ImportOptions",
    "ImportReport",
    "Key",
    "check",
    "fetch_accounts",
    "rebuild_results",
    "refuse_outputs",
    "run_import",
    "summary_lines",
]
