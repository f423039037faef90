"""The ``import`` job (`run_import`): plan a roster against the journal and the server, then
create, update and delete at the pace allowed, and write the results sheet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from bulk_ident.cad.client import RemoteIdentifier, SonoranClient
from bulk_ident.errors import JournalError
from bulk_ident.jobs.shared import (
    Hooks,
    ImportOptions,
    ImportReport,
    account_run,
    cached_accounts,
    community_of,
    open_client,
    open_pacer,
    refuse_outputs,
    summary_lines,
    unwatched,
)
from bulk_ident.net import choose_proxy
from bulk_ident.prepare import Checked, prepare
from bulk_ident.read.sources import Source
from bulk_ident.report.report import default_output, results_sheet, row_reports
from bulk_ident.report.results import write_sheet
from bulk_ident.sync import state
from bulk_ident.sync.importer import Importer
from bulk_ident.sync.journal import Entries, Journal, Key
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
from bulk_ident.words import Stop


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
    with contextlib.ExitStack() as stack:
        if options.dry_run:
            journal = stack.enter_context(Journal.open_read_only(journal_path, community))
        else:
            stack.enter_context(state.community_lock(community, hooks.env))
            journal = stack.enter_context(Journal.open(journal_path, community, clock=hooks.clock))
            journal.begin_run(scope, source.name)
        pacer = stack.enter_context(open_pacer(options.rate, fingerprint, hooks))
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
        client = stack.enter_context(open_client(url, api_key, hooks, options.proxy))
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
    directory = cached_accounts(prep, community, hooks.env, hooks.clock)
    on_accounts = hooks.on_accounts
    watch = (lambda p: on_accounts(report, p)) if on_accounts is not None else unwatched
    run = account_run(client, pacer, directory, importer.outcome, hooks, watch)
    try:
        ready = run.prepare(prep.account_needs(), max_age=report.options.accounts_max_age)
    except KeyboardInterrupt:
        importer.interrupted()
        ready = False
    prep.resolve_accounts(run)
    return ready


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
