"""The jobs as library calls: ``check``, ``run_import``, ``rebuild_results`` and
``fetch_accounts``, one module each (what they share is in ``shared.py``).

Each takes a roster (a path, or a `Source` already fetched) and plain option objects, returns a
report, and never prints or exits: the CLI, a config-file sync, a script or a web page drive them
alike. Progress, stop requests and request logs come in through `Hooks`.
"""

from __future__ import annotations

from bulk_ident.jobs.accounts import AccountsOptions, AccountsReport, fetch_accounts
from bulk_ident.jobs.check import CheckReport, check
from bulk_ident.jobs.importing import run_import
from bulk_ident.jobs.results import rebuild_results
from bulk_ident.jobs.shared import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_ROWS,
    EXIT_STOPPED,
    Hooks,
    ImportOptions,
    ImportReport,
    community_of,
    refuse_outputs,
    summary_lines,
)
from bulk_ident.sync.journal import Key

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
    "community_of",
    "fetch_accounts",
    "rebuild_results",
    "refuse_outputs",
    "run_import",
    "summary_lines",
]
