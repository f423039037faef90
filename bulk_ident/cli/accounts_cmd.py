"""``bulk-ident accounts``: the community's account list as a sheet (and the local cache that
``import`` and ``check`` resolve usernames from), and the progress bar of any account fetching."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from bulk_ident.cad.accounts import STATUS_WORDS
from bulk_ident.cli.base import cli
from bulk_ident.cli.options import api_key
from bulk_ident.cli.output import Progress, StopFlag, clock_text, say
from bulk_ident.net import DEFAULT_BASE_URL
from bulk_ident.rates import DEFAULT_RATE
from bulk_ident.sync.resolve import AccountProgress
from bulk_ident.words import Stop, plural

_STATUS_ORDER = (1, 0, 2, 3, 4)  # validated first: the accounts a roster may name
_STATUS_CHOICES = ("all", *(STATUS_WORDS[n] for n in _STATUS_ORDER))
_STATUS_NUMBERS = {word: number for number, word in STATUS_WORDS.items()}


class AccountsBar:
    """A tqdm bar over accounts read (or look-ups made), with one line saying why at the start."""

    def __init__(self, *, show: bool) -> None:
        self.show = show
        self.bar: Any = None
        self.phase = ""

    def __call__(self, progress: AccountProgress) -> None:
        """Start a phase (saying why, if known) or move its bar on."""
        if self.bar is None or progress.phase != self.phase or progress.why:
            self.close()
            if progress.why:
                what = (
                    "Fetching the community's account list"
                    if progress.phase == "list"
                    else "Looking up accounts in the CAD"
                )
                say(f"{what} ({progress.why})")
            from tqdm import tqdm

            self.phase = progress.phase
            self.bar = tqdm(
                total=progress.total,
                unit=" accounts" if progress.phase == "list" else " look-ups",
                file=sys.stderr,
                disable=not self.show,
                dynamic_ncols=True,
            )
        self.bar.total = progress.total
        self.bar.n = progress.done
        self.bar.refresh()

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@cli.command(short_help="Download the community's accounts as a sheet (username -> UUID).")
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The Sonoran API (http only for loopback, e.g. the sandbox).",
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the API key from this file (default: the SONORAN_API_KEY variable).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default="accounts.xlsx",
    show_default=True,
    help="The sheet to write: .xlsx, or .csv (any other name is written as CSV).",
)
@click.option(
    "--status",
    type=click.Choice(_STATUS_CHOICES, case_sensitive=False),
    default="all",
    show_default=True,
    help="Which accounts: every status, or one.",
)
@click.option(
    "--rate",
    default=str(DEFAULT_RATE),
    show_default=True,
    metavar="N/PERIOD",
    help="Requests your key allows: 10/min, 2/s, 300/h (shared with any import using it).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def accounts(
    base_url: str,
    api_key_file: Path | None,
    output: Path,
    status: str,
    rate: str,
    quiet: bool,
) -> None:
    """Download the community's account list (usernames, account UUIDs, community user IDs,
    status) into a sheet sorted by username, to fill a roster's account column from.

    Paged at 100 accounts a request and paced at --rate. The list is also kept (every status,
    or validated only) in the state folder, where import and check resolve usernames and
    community user IDs from it. Exit 0 done; 2 unusable option; 3 stopped (key refused, rate
    limited, unreachable: run it again); 130/143 interrupted.
    """
    from bulk_ident.jobs import AccountsOptions, Hooks, fetch_accounts
    from bulk_ident.rates import parse_rate

    key = api_key(api_key_file)
    assert key is not None
    status = status.lower()
    options = AccountsOptions(
        base_url=base_url,
        rate=parse_rate(rate),
        status=None if status == "all" else _STATUS_NUMBERS[status],
        output=output,
    )
    bar = AccountsBar(show=not quiet and sys.stderr.isatty())
    lines = Progress(show=False, log=None)  # the one-line notices (429, unreachable)
    which = "every status" if status == "all" else f"{status} only"
    say(f"Fetching the accounts of {base_url} ({which}) at {options.rate}")
    with StopFlag() as stop:
        hooks = Hooks(on_event=lines.on_event, stop=stop)
        try:
            report = fetch_accounts(options, api_key=key, hooks=hooks, on_progress=bar)
        finally:
            bar.close()
    if report.warning:
        say(f"  warning: {report.warning}")
    requests = report.outcome.requests.get("GET", 0)
    elapsed = clock_text(report.finished - report.started)
    stopped = report.outcome.stop
    if stopped is Stop.DONE:
        counts = report.counts
        detail = ", ".join(f"{counts[w]} {w}" for w in _STATUS_CHOICES[1:] if counts[w])
        say(
            f"  {plural(len(report.accounts), 'account')}"
            + (f" ({detail})" if detail else "")
            + f"; {plural(requests, 'request')} in {elapsed}"
        )
        say(f"Sheet: {report.output} (by username: copy Username or Account UUID into a roster)")
        if report.cache is not None:
            say(f"Cached for import and check: {report.cache}")
        sys.exit(report.exit_code)
    if stopped is Stop.INTERRUPTED:
        say(f"Interrupted. To start again: {_command()}", err=True)
        sys.exit(stop.exit_code)
    if stopped in (Stop.UNAUTHORISED, Stop.HOST_NOT_FOUND):
        say(f"bulk-ident: stopped: {report.outcome.message}", err=True)
        sys.exit(report.exit_code)
    when = ""
    if report.outcome.resume_after is not None:
        when = " after " + time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(report.outcome.resume_after)
        )
    say(f"Stopped early: {report.outcome.message}.", err=True)
    say(f"To try again{when}: {_command()}", err=True)
    sys.exit(report.exit_code)


def _command() -> str:
    return "bulk-ident " + shlex.join(sys.argv[1:])
