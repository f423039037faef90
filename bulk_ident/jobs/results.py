"""The ``results`` job (`rebuild_results`): a roster's results sheet rebuilt from the journal
alone, with no network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from bulk_ident.errors import InputError
from bulk_ident.jobs.shared import (
    ImportOptions,
    ImportReport,
    cached_accounts,
    community_of,
    refuse_outputs,
    summary_lines,
)
from bulk_ident.prepare import prepare
from bulk_ident.read.sources import Source
from bulk_ident.report.report import default_output, results_sheet, row_reports
from bulk_ident.report.results import write_sheet
from bulk_ident.sync import state
from bulk_ident.sync.journal import Entries, Journal, only_community
from bulk_ident.sync.plan import PlanOptions, plan_sync


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
        prep.resolver = cached_accounts(prep, community, env, time.time)
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
