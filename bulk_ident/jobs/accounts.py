"""The ``accounts`` job (`fetch_accounts`): download the community's account list, cache it
for ``import`` and ``check``, and write it as a sheet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bulk_ident.cad.accounts import STATUS_WORDS, AccountDirectory
from bulk_ident.cad.client import Account
from bulk_ident.errors import InputError
from bulk_ident.jobs.shared import (
    EXIT_OK,
    EXIT_STOPPED,
    Hooks,
    account_run,
    community_of,
    open_client,
    open_pacer,
    refuse_outputs,
    unwatched,
)
from bulk_ident.net import DEFAULT_BASE_URL
from bulk_ident.rates import DEFAULT_RATE, Rate
from bulk_ident.report.report import accounts_sheet
from bulk_ident.report.results import write_table
from bulk_ident.sync import state
from bulk_ident.sync.importer import RunOutcome
from bulk_ident.sync.resolve import AccountProgress
from bulk_ident.words import Stop


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
    on_progress: Callable[[AccountProgress], None] = unwatched,
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
    with (
        open_pacer(options.rate, fingerprint, hooks) as pacer,
        open_client(url, api_key, hooks) as client,
    ):
        run = account_run(client, pacer, directory, report.outcome, hooks, on_progress)
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
