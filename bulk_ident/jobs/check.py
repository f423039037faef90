"""The ``check`` job: validate a roster into the check sheet, with no network."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bulk_ident.jobs.shared import (
    EXIT_OK,
    EXIT_ROWS,
    cached_accounts,
    command_lines,
    community_of,
    count_lines,
    refuse_outputs,
)
from bulk_ident.net import DEFAULT_BASE_URL
from bulk_ident.prepare import Checked, Prepared, ReadOptions, prepare
from bulk_ident.read.sources import Source
from bulk_ident.report.report import check_sheet, default_output, payload_lines
from bulk_ident.report.results import write_lines, write_sheet
from bulk_ident.sync.resolve import DEFAULT_MAX_AGE, age_text
from bulk_ident.words import Result


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
        directory = cached_accounts(prep, community_of(base_url, api_key)[2], env, clock)
        prep.resolver = directory
    rows = prep.stream()
    if payloads is not None:
        rows = _tee_payloads(rows, payloads)
    sheet = check_sheet(prep, rows)

    def summary() -> list[tuple[str, str]]:  # the tally is complete once the rows are written
        head = [("Sheet", "check (nothing was sent)"), ("Roster", prep.where)]
        return [*head, *command_lines(command, started), *count_lines(prep.tally)]

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


def _tee_payloads(rows: Iterator[Checked], path: Path) -> Iterator[Checked]:
    """Pass rows on while writing the valid ones' bodies to ``path`` (JSON Lines)."""
    with write_lines(path) as out:
        for c in rows:
            if c.valid:
                for line in payload_lines((c,)):
                    out(line)
            yield c
