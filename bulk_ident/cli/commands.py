"""The three jobs on the command line: ``check``, ``import`` and ``results``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import click

from bulk_ident.cli.accounts_cmd import AccountsBar
from bulk_ident.cli.base import cli
from bulk_ident.cli.options import (
    api_key,
    import_options,
    json_option,
    proxy_option,
    read_options,
    reading_options,
    results_option,
    roster_source,
    server_options,
    sync_options,
)
from bulk_ident.cli.output import (
    Progress,
    StopFlag,
    emit_json,
    failed_json,
    human_output_to_stderr,
    open_log,
    print_end,
    print_head,
    print_plan,
    print_problems,
    print_warnings,
    resume_command,
    roster_head,
    run_json,
    say,
    summary,
)
from bulk_ident.errors import BulkIdentError
from bulk_ident.jobs import EXIT_OK, EXIT_ROWS, Hooks, ImportOptions, ImportReport
from bulk_ident.net import DEFAULT_BASE_URL
from bulk_ident.read.roster import collector_paused
from bulk_ident.read.sources import Source
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
@proxy_option
def check(roster: str, results_path: Path | None, payloads: Path | None, **values: Any) -> None:
    """Dry run: validate ROSTER and show what import would send. Nothing is sent to Sonoran.

    ROSTER is a file (.xlsx, .csv) or an https:// address (a Google Sheets link is read as
    the tab it shows). Accounts named by username or community user ID are checked against
    the list 'bulk-ident accounts' fetched; rows it can't settle are "not checked" (they don't
    make check fail). Writes ROSTER.check.xlsx (or .csv). Exit 0 when every row is valid, 1
    when some are invalid or duplicate, 2 when the file or the options can't be used.
    """
    from bulk_ident.jobs import check as run_check

    values["roster"] = roster
    key = api_key(values.get("api_key_file"), required=False)
    source = roster_source(values)
    with collector_paused():
        report = run_check(
            source,
            read_options(values),
            results=results_path,
            payloads=payloads,
            command=resume_command(),
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
@proxy_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append a start line, one line per request and the summary (never the key).",
)
@json_option
def import_(roster: str, quiet: bool, log_file: Path | None, as_json: bool, **values: Any) -> None:
    """Sync the server to ROSTER: create new rows, update changed ones, and (asked) delete
    departures; paced at --rate, resumable, never twice.

    ROSTER is a file (.xlsx, .csv) or an https:// address (a Google Sheets link is read as
    the tab it shows; with --sheet, as the whole workbook). Re-running the same command
    resumes. --dry-run sends nothing and writes ROSTER.plan.xlsx. Exit 0 done; 1 some rows
    invalid, duplicate or failed; 2 unusable input; 3 stopped early (resumable); 130/143
    interrupted.
    """
    from bulk_ident.jobs import refuse_outputs

    values["roster"] = roster
    with human_output_to_stderr(as_json):
        try:
            options = import_options(values)
            key = api_key(values.get("api_key_file"))
            assert key is not None
            refuse_outputs(None, log_file)  # before a download, which may take a while
            source = roster_source(values)
            refuse_outputs(source, log_file)  # nor may it be the roster itself
            log = open_log(log_file)
            try:
                with StopFlag() as stop, collector_paused():
                    report = run_one(source, options, key, quiet=quiet, log=log, stop=stop)
            finally:
                if log is not None:
                    log.close()
        except BulkIdentError as err:
            if as_json:
                emit_json({"command": "import", **failed_json(roster, err)})
            raise
        code = finish_code(report, stop)
    if as_json:
        emit_json({"command": "import", **run_json(report, code)})
    sys.exit(code)


def run_one(
    source: Source,
    options: ImportOptions,
    key: str,
    *,
    quiet: bool,
    log: TextIO | None,
    stop: StopFlag,
    command: str | None = None,
    skip: str = "add --skip-invalid",
) -> ImportReport:
    """One import with its progress bar, head, plan and end printed: what ``import`` does, and
    ``sync`` for each roster. ``command`` is the resume command (default: this process's);
    ``skip`` how to send the valid rows of a roster with invalid ones."""
    from bulk_ident.jobs import run_import

    progress = Progress(show=not quiet and sys.stderr.isatty(), log=log)
    accounts_bar = AccountsBar(show=progress.show)
    resume = command or resume_command()

    def on_accounts(report: ImportReport, step: AccountProgress) -> None:
        print_head(report, progress)
        accounts_bar(step)

    def on_listing(report: ImportReport, accounts: int) -> None:
        accounts_bar.close()
        print_head(report, progress)
        say(
            f"Checking {plural(accounts, 'account')} on the server first (units already "
            "there are adopted, not created again)"
        )
        progress.start(accounts, report.interval)

    def on_plan(report: ImportReport) -> None:
        accounts_bar.close()
        progress.close()
        print_plan(report, progress)
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
        report = run_import(source, options, api_key=key, hooks=hooks, command=resume)
    finally:
        accounts_bar.close()
        progress.close()
    if report.held:
        print_plan(report, progress)
    print_end(report, progress, resume, skip)
    if report.stop is Stop.INTERRUPTED:
        say(f"Interrupted. To resume: {resume}", err=True)
    return report


def finish_code(report: ImportReport, stop: StopFlag) -> int:
    """The run's exit code; 130 or 143 (by the signal) when it was interrupted."""
    return stop.exit_code if report.stop is Stop.INTERRUPTED else report.exit_code


@cli.command(short_help="Rebuild the results sheet from the journal (no network).")
@reading_options
@server_options
@results_option
@click.option("--scope", help="The roster's name in the journal (default: file name).")
@proxy_option
def results(roster: str, **values: Any) -> None:
    """Rebuild the results sheet of ROSTER from the journal, without sending anything to
    Sonoran (a ROSTER given as an https:// address is downloaded)."""
    from bulk_ident.jobs import rebuild_results

    options = ImportOptions(
        read=read_options(values),
        base_url=values["base_url"],
        state=values.get("state"),
        results=values.get("results_path"),
        scope=values.get("scope"),
    )
    key = api_key(values.get("api_key_file"), required=options.state is None)
    values["roster"] = roster
    with collector_paused():
        report = rebuild_results(
            roster_source(values), options, api_key=key, command=resume_command()
        )
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
