"""The three jobs on the command line: ``check``, ``import`` and ``results``."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from bulk_ident.cad.client import DEFAULT_BASE_URL
from bulk_ident.cli.accounts_cmd import AccountsBar
from bulk_ident.cli.base import cli
from bulk_ident.cli.options import (
    api_key,
    import_options,
    read_options,
    reading_options,
    results_option,
    server_options,
    sync_options,
)
from bulk_ident.cli.output import (
    Progress,
    StopFlag,
    clock_text,
    open_log,
    print_failed,
    print_problems,
    print_warnings,
    roster_head,
    say,
    summary,
)
from bulk_ident.jobs import EXIT_OK, EXIT_ROWS, ImportReport
from bulk_ident.read.roster import collector_paused
from bulk_ident.sync.plan import change_text
from bulk_ident.sync.resolve import AccountProgress
from bulk_ident.words import Result, Stop, plural


@cli.command(short_help="Dry run: validate a roster and show what import would send.")
@reading_options
@results_option
@click.option(
    "--payloads",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the exact request bodies as JSON Lines, one per valid row.",
)
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="With the API key: whose cached account list resolves usernames (no network).",
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the API key from this file (default: SONORAN_API_KEY); only to find that list.",
)
def check(roster: Path, results_path: Path | None, payloads: Path | None, **values: Any) -> None:
    """Dry run: validate ROSTER and show what import would send. No network access.

    Accounts named by username or community user ID are checked against the list
    'bulk-ident accounts' fetched; rows it can't settle are "not checked" (they don't make
    check fail). Writes ROSTER.check.xlsx (or .csv). Exit 0 when every row is valid, 1 when
    some are invalid or duplicate, 2 when the file or the options can't be used.
    """
    from bulk_ident.jobs import check as run_check

    key = api_key(values.get("api_key_file"), required=False)
    with collector_paused():
        report = run_check(
            roster,
            read_options(values),
            results=results_path,
            payloads=payloads,
            base_url=values["base_url"],
            api_key=key,
        )
    prep = report.prep
    tally = report.counts
    say(f"Checked {roster_head(prep)}")
    read = sum(tally.values())
    unchecked = tally[Result.NOT_CHECKED]
    say(
        f"  {plural(read, 'row')} read: {tally[Result.VALID]} valid, "
        f"{tally[Result.INVALID]} invalid, {tally[Result.DUPLICATE]} duplicate"
        + (f", {unchecked} not checked" if unchecked else "")
        + f"; {plural(prep.roster.blank_rows, 'blank row')} skipped; "
        f"{plural(len(prep.warnings), 'warning')}"
    )
    for note in report.notes:
        say(f"  {note}")
    print_warnings(prep.warnings)
    print_problems(prep)
    say(f"Results: {report.results_path}")
    if payloads is not None:
        say(f"Payloads: {payloads} ({plural(tally[Result.VALID], 'row')})")
    sys.exit(report.exit_code)


@cli.command("import", short_help="Sync the server to a roster: create, update, delete; paced.")
@reading_options
@server_options
@sync_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append a start line, one line per request and the summary (never the key).",
)
def import_(roster: Path, quiet: bool, log_file: Path | None, **values: Any) -> None:
    """Sync the server to ROSTER: create new rows, update changed ones, and (asked) delete
    departures; paced at --rate, resumable, never twice.

    Re-running the same command resumes. --dry-run sends nothing and writes ROSTER.plan.xlsx.
    Exit 0 done; 1 some rows invalid, duplicate or failed; 2 unusable input; 3 stopped early
    (resumable); 130/143 interrupted.
    """
    from bulk_ident.jobs import Hooks, refuse_outputs, run_import

    options = import_options(values)
    key = api_key(values.get("api_key_file"))
    assert key is not None
    refuse_outputs(roster, log_file)
    log = open_log(log_file)
    progress = Progress(show=not quiet and sys.stderr.isatty(), log=log)
    accounts_bar = AccountsBar(show=progress.show)
    try:
        with StopFlag() as stop:

            def on_accounts(report: ImportReport, step: AccountProgress) -> None:
                _print_head(report, progress)
                accounts_bar(step)

            def on_listing(report: ImportReport, accounts: int) -> None:
                accounts_bar.close()
                _print_head(report, progress)
                say(
                    f"Checking {plural(accounts, 'account')} on the server first (units already "
                    "there are adopted, not created again)"
                )
                progress.start(accounts, report.interval)

            def on_plan(report: ImportReport) -> None:
                accounts_bar.close()
                progress.close()
                _print_plan(report, progress)
                if report.plan is not None and not options.dry_run:
                    progress.start(report.plan.requests, report.interval)

            hooks = Hooks(
                on_event=progress.on_event,
                on_wait=progress.on_wait if progress.show else None,
                on_request=progress.on_request,
                on_listing=on_listing,
                on_plan=on_plan,
                on_accounts=on_accounts,
                stop=stop,
            )
            try:
                report = run_import(roster, options, api_key=key, hooks=hooks)
            finally:
                accounts_bar.close()
                progress.close()
            if report.held:
                _print_plan(report, progress)
        _print_end(report, progress)
    finally:
        if log is not None:
            log.close()
    code = report.exit_code
    if report.stop is Stop.INTERRUPTED:
        say(f"Interrupted. To resume: {_resume_command()}", err=True)
        code = stop.exit_code
    sys.exit(code)


def _print_head(report: ImportReport, progress: Progress) -> None:
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


def _print_plan(report: ImportReport, progress: Progress) -> None:
    _print_head(report, progress)
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


def _print_end(report: ImportReport, progress: Progress) -> None:
    if report.held:
        print_problems(report.prep)
        bad = plural(report.prep.invalid_count, "row")
        say(f"Nothing sent: {bad} invalid or duplicate (see above).")
        say("Fix them and run again, or add --skip-invalid to send the valid rows.")
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
    say(f"To resume{when}: {_resume_command()}", err=True)


def _resume_command() -> str:
    return "bulk-ident " + shlex.join(sys.argv[1:])


@cli.command(short_help="Rebuild the results sheet from the journal (no network).")
@reading_options
@server_options
@results_option
@click.option("--scope", help="The roster's name in the journal (default: file name).")
def results(roster: Path, **values: Any) -> None:
    """Rebuild the results sheet of ROSTER from the journal, without network access."""
    from bulk_ident.jobs import ImportOptions, rebuild_results

    options = ImportOptions(
        read=read_options(values),
        base_url=values["base_url"],
        state=values.get("state"),
        results=values.get("results_path"),
        scope=values.get("scope"),
    )
    key = api_key(values.get("api_key_file"), required=options.state is None)
    report = rebuild_results(roster, options, api_key=key)
    say(f"Results of {roster_head(report.prep)} from the journal")
    say(f"Summary: {summary(report.counts)}")
    say(f"  results: {report.results_path}; journal: {report.journal_path}")
    bad = any(
        report.counts.get(r, 0)
        for r in (
            Result.FAILED,
            Result.UNKNOWN,
            Result.INVALID,
            Result.DUPLICATE,
            Result.NOT_ATTEMPTED,
        )
    )
    sys.exit(EXIT_ROWS if bad else EXIT_OK)
