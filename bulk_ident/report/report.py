"""What the check, plan and results sheets say: their columns and one line per row. Pure.

The one owner of those sheets' layout; ``results.py`` only writes tables to files. Every sheet
starts with the columns people scan (Row, Result, identId, Error), then the roster's own columns
exactly as read, then the details.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bulk_ident.cad.accounts import STATUS_WORDS
from bulk_ident.cad.client import Account
from bulk_ident.identifier import ACCOUNT, PROPERTIES
from bulk_ident.prepare import Checked, Prepared, api_text
from bulk_ident.sync.importer import RunOutcome
from bulk_ident.sync.journal import Entries, Entry, Run
from bulk_ident.sync.plan import Act, Plan, Step, change_text
from bulk_ident.words import ALWAYS_SHOWN, SUMMARY_ORDER, Result

CHECK_COLUMNS = ("Row", "Result", "Problems")
API_COLUMNS = tuple(f"API {p}" for p in PROPERTIES)
LEAD_COLUMNS = ("Row", "Result", "identId", "Error", "Changes", "Account")
TAIL_COLUMNS = ("HTTP status", "Attempts", "Time")
NUMBER_COLUMNS = frozenset({"Row", "identId", "HTTP status", "Attempts"})


@dataclass(frozen=True)
class Sheet:
    """A table to write: its header, its rows (possibly streamed) and which columns hold numbers."""

    header: list[str]
    rows: Iterable[list[str]]
    numbers: frozenset[int]


def _numbers(header: Sequence[str], own: range) -> frozenset[int]:
    return frozenset(i for i, name in enumerate(header) if name in NUMBER_COLUMNS and i not in own)


# -- check ----------------------------------------------------------------------------------------


def check_sheet(prep: Prepared, rows: Iterable[Checked]) -> Sheet:
    """The ``check`` sheet: verdict and problems, the row as read, and the exact API values."""
    columns = list(prep.roster.columns)
    header = [*CHECK_COLUMNS, *columns, *API_COLUMNS]
    own = range(len(CHECK_COLUMNS), len(CHECK_COLUMNS) + len(columns))

    def lines() -> Iterator[list[str]]:
        blank = [""] * len(API_COLUMNS)
        valid = Result.VALID
        for c in rows:
            norm = c.norm
            payload = norm.payload
            row = c.row
            if payload is None:
                yield [str(row.number), Result.INVALID, "; ".join(c.problems), *row.values, *blank]
                continue
            # The common case, inlined: this runs for every row of a large roster.
            api = [
                v
                if type(v) is str
                else ("true" if v is True else "false" if v is False else str(v))
                for v in payload.values()
            ]
            if c.duplicate_of is None and norm.pending is None:
                yield [str(row.number), valid, "", *row.values, norm.account or "", *api]
            else:
                lead = [str(row.number), c.verdict, "; ".join(c.problems)]
                yield [*lead, *row.values, norm.account or "", *api]

    return Sheet(header, lines(), _numbers(header, own))


def payload_lines(rows: Iterable[Checked]) -> Iterator[str]:
    """The JSON Lines of ``--payloads``: one object per valid row, the body import will POST."""
    for c in rows:
        if c.valid:
            yield json.dumps(
                {"row": c.row.number, "accountUuid": c.norm.account, "payload": c.norm.payload},
                ensure_ascii=False,
            )


# -- import: each row's line --------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: one per row of a large roster
class RowReport:
    """What became of one row (or departure, or stray identifier) in a run. Read-only by use."""

    row: int | None
    result: Result
    values: tuple[str, ...]  # the roster row's cells (departures: account and unit filled in)
    ident_id: int | None = None
    error: str = ""
    changes: str = ""
    account: str = ""
    entry: Entry | None = None


# Last results whose sheet line needs the whole entry (an error or the changes made).
_DETAILED = frozenset({"failed", "unknown", "updated", "restored"})

_DRY: Mapping[Act, Result] = {
    Act.CREATE: Result.WOULD_CREATE,
    Act.RECREATE: Result.WOULD_CREATE,
    Act.SETTLE: Result.WOULD_RETRY,
    Act.UPDATE: Result.WOULD_UPDATE,
    Act.DELETE: Result.WOULD_DELETE,
}


def row_reports(
    prep: Prepared,
    plan: Plan | None,
    entries: Entries,
    *,
    outcome: RunOutcome | None = None,
    dry_run: bool = False,
    held: str = "",
    last_run: Run | None = None,
) -> list[RowReport]:
    """Every row's result: roster rows in order, then departures, then stray identifiers.

    ``outcome`` is what this run did; without it (``results`` rebuilding from the journal alone)
    each row says what the journal remembers of the scope's last run (``last_run``).
    """
    steps = {s.key: s for s in plan.steps} if plan is not None else {}
    unchanged = plan.unchanged if plan is not None else {}
    done = outcome.outcomes if outcome is not None else {}
    lights = entries.lights
    last_id = last_run.id if last_run is not None and outcome is None and not dry_run else None
    out: list[RowReport] = []
    for c in prep.rows:
        key = c.key
        account = c.norm.account or ""
        if key in unchanged and c.valid and key not in done and not held:
            # The common case of a re-run, without reading the whole entry: unchanged, or
            # (rebuilding) what the scope's last run did to it.
            light = lights.get(key) if last_id is not None else None
            last = light[5] if light is not None and light[4] == last_id else None
            if last not in _DETAILED:
                result = Result(last) if last else Result.UNCHANGED
                ident = unchanged[key]
                out.append(RowReport(c.row.number, result, c.row.values, ident, account=account))
                continue
        entry = entries.get(key) if key is not None else None
        if not c.valid:
            result = c.verdict  # invalid, duplicate, or not checked (its account)
            out.append(
                RowReport(
                    c.row.number,
                    result,
                    c.row.values,
                    error="; ".join(c.problems),
                    account=account,
                    entry=entry,
                )
            )
            continue
        step = steps.get(key) if key is not None else None
        if step is None and key in unchanged:
            step = Step(key, Act.NOTHING, Result.UNCHANGED, c, entry, unchanged[key])
        result, error, changes = _row_result(step, entry, outcome, dry_run, held, last_run)
        ident = entry.ident_id if entry is not None else None
        if step is not None and ident is None:
            ident = step.ident_id
        out.append(
            RowReport(c.row.number, result, c.row.values, ident, error, changes, account, entry)
        )
    if plan is not None:
        for step in plan.steps:
            if step.checked is None:
                out.append(_extra_report(prep, step, outcome, dry_run, entries.get(step.key)))
    return out


def _row_result(
    step: Step | None,
    entry: Entry | None,
    outcome: RunOutcome | None,
    dry_run: bool,
    held: str,
    last_run: Run | None,
) -> tuple[Result, str, str]:
    """(result, error, changes) of one valid roster row."""
    if held:
        return Result.NOT_ATTEMPTED, held, ""
    if step is None:
        return Result.NOT_ATTEMPTED, "", ""
    changes = change_text(step.changes)
    if dry_run:
        if step.act is Act.ADOPT:
            return (Result.WOULD_UPDATE if step.changes else Result.ADOPTED), step.note, changes
        if step.act is Act.SETTLE and (entry is None or entry.settled_state != "unknown"):
            # A new row on an account the journal never saw: created unless already there.
            note = "unless the server already holds it (the account is checked first)"
            return Result.WOULD_CREATE, note, changes
        return _DRY.get(step.act, step.result), step.note, changes
    if outcome is not None:
        done = outcome.outcomes.get(step.key)
        if done is not None:
            shown = (
                changes
                if done.result in (Result.UPDATED, Result.RESTORED, Result.WOULD_UPDATE)
                else ""
            )
            error = done.note if done.result not in (Result.UPDATED, Result.RESTORED) else ""
            return done.result, error, shown
        if step.act is Act.NOTHING:
            return step.result, step.note, changes
        if outcome.refused.get(step.account):
            return Result.FAILED, outcome.refused[step.account], ""
        return _unreached(entry)
    # Rebuilt from the journal: what the scope's last run did to this row, if anything.
    if (
        entry is not None
        and last_run is not None
        and entry.last_run == last_run.id
        and entry.last_result
    ):
        result = Result(entry.last_result)
        error = entry.error or "" if result in (Result.FAILED, Result.UNKNOWN) else ""
        shown = entry.changes or "" if result in (Result.UPDATED, Result.RESTORED) else ""
        return result, error, shown
    if step.act is Act.NOTHING:
        return step.result, step.note, changes
    return _unreached(entry)


def _unreached(entry: Entry | None) -> tuple[Result, str, str]:
    """A row the run did not get to (it stopped early), or one whose outcome is in doubt."""
    if entry is not None and entry.settled_state == "unknown":
        why = entry.error or "the answer was lost"
        return Result.UNKNOWN, f"{why}; the next run checks the server before sending again", ""
    return Result.NOT_ATTEMPTED, "", ""


def _extra_report(
    prep: Prepared, step: Step, outcome: RunOutcome | None, dry_run: bool, entry: Entry | None
) -> RowReport:
    """A departure or a stray identifier, laid out in the roster's columns where it can be."""
    result, error = step.result, step.note
    if dry_run:
        result = _DRY.get(step.act, step.result)
    elif outcome is not None and step.key in outcome.outcomes:
        done = outcome.outcomes[step.key]
        result, error = done.result, done.note
    elif outcome is not None and step.act is not Act.NOTHING:
        result, error = Result.NOT_IN_ROSTER, "not deleted: the run stopped first"
    cells = [""] * len(prep.roster.columns)
    index = prep.headers.index
    if "unitNum" in index:
        cells[index["unitNum"]] = step.unit_num
    if ACCOUNT in index:
        cells[index[ACCOUNT]] = step.account
    return RowReport(None, result, tuple(cells), step.ident_id, error, "", step.account, entry)


def count(reports: Iterable[RowReport]) -> Counter[Result]:
    """How many rows have each result."""
    return Counter(r.result for r in reports)


def summary_line(counts: Mapping[Result, int]) -> str:
    """``created 3, updated 2, unchanged 140, deleted 1, failed 0``: the usual words always
    shown, the rest when they happened."""
    parts = [
        f"{result} {counts.get(result, 0)}"
        for result in SUMMARY_ORDER
        if counts.get(result, 0) or result in ALWAYS_SHOWN
    ]
    return ", ".join(parts)


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def results_sheet(prep: Prepared, reports: Sequence[RowReport]) -> Sheet:
    """The results (or plan) sheet: what became of each row, then the row as read."""
    columns = list(prep.roster.columns)
    header = [*LEAD_COLUMNS, *columns, *TAIL_COLUMNS]
    own = range(len(LEAD_COLUMNS), len(LEAD_COLUMNS) + len(columns))

    def lines() -> Iterator[list[str]]:
        for r in reports:
            e = r.entry
            yield [
                "" if r.row is None else str(r.row),
                r.result,
                "" if r.ident_id is None else str(r.ident_id),
                r.error,
                r.changes,
                r.account,
                *r.values,
                str(e.http_status) if e is not None and e.http_status is not None else "",
                str(e.attempts) if e is not None and e.attempts else "",
                _when(e.updated_at) if e is not None else "",
            ]

    return Sheet(header, lines(), _numbers(header, own))


# -- accounts ------------------------------------------------------------------------------------

ACCOUNTS_COLUMNS = (
    "Username",
    "Account UUID",
    "Community User ID",
    "Account Status",  # not "Status": that header is read as the unit's status
    "Joined",
    "Last Login",
)


def accounts_sheet(accounts: Iterable[Account]) -> Sheet:
    """The ``accounts`` sheet: one account a line, by username (case ignored), so that a roster
    can be filled from it (its Username and Account UUID headers are read as such)."""
    ordered = sorted(
        accounts, key=lambda a: (a.username is None, (a.username or "").casefold(), a.uuid)
    )
    rows = (
        [
            a.username or "",
            a.uuid,
            a.community_user_id or "",
            STATUS_WORDS[a.status],
            a.joined or "",
            a.last_login or "",
        ]
        for a in ordered
    )
    return Sheet(list(ACCOUNTS_COLUMNS), rows, frozenset())


# -- where sheets go ------------------------------------------------------------------------------


def default_output(source_path: Path | None, stem: str, suffix: str, kind: str) -> Path:
    """``roster.xlsx`` -> ``roster.results.xlsx`` beside it (``kind`` is results, check or
    plan); a roster from a URL gets ``STEM.results.xlsx`` in the current folder. CSV-like
    rosters give CSV sheets."""
    ext = ".xlsx" if suffix in (".xlsx", ".xlsm") else (suffix or ".csv")
    name = f"{stem}.{kind}{ext}"
    return source_path.with_name(name) if source_path is not None else Path(name)


__all__ = [
    "ACCOUNTS_COLUMNS",
    "API_COLUMNS",
    "RowReport",
    "Sheet",
    "accounts_sheet",
    "api_text",
    "check_sheet",
    "count",
    "default_output",
    "payload_lines",
    "results_sheet",
    "row_reports",
    "summary_line",
]
