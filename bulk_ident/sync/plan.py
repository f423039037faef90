"""Decide, from the journal, what an import does with each valid row, and say afterwards what
became of every row (the results sheet). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bulk_ident.prepare import Checked, Prepared
from bulk_ident.sync.journal import CREATED, FAILED, UNKNOWN, Entry, Key, payload_hash

CREATE = "create"
SETTLE = "settle"
ALREADY = "already created"

# Row results, as the results sheet and the summary name them.
R_CREATED = "created"
R_ALREADY = "already created"
R_FAILED = "failed"
R_INVALID = "invalid"
R_DUPLICATE = "duplicate"
R_UNKNOWN = "unknown"
R_NOT_ATTEMPTED = "not attempted"
RESULTS = (R_CREATED, R_ALREADY, R_FAILED, R_INVALID, R_DUPLICATE, R_UNKNOWN, R_NOT_ATTEMPTED)


@dataclass(frozen=True)
class Step:
    """One valid row and what the run must do for it."""

    checked: Checked
    action: str

    @property
    def key(self) -> Key:
        """The journal key (account, unit number case-folded)."""
        key = self.checked.norm.key
        assert key is not None  # valid rows always have both
        return key

    @property
    def row(self) -> int:
        """The row number as the user sees it."""
        return self.checked.row.number


def plan_import(valid: Sequence[Checked], entries: Mapping[Key, Entry]) -> list[Step]:
    """Rows to settle first (a past run may have created them), then rows to create, in order.

    A row the journal already holds as created is never posted again, whatever file or row order
    it now comes from.
    """
    settle, create, done = [], [], []
    for c in valid:
        key = c.norm.key
        entry = entries.get(key) if key is not None else None
        state = entry.settled_state if entry is not None else None
        if state == CREATED:
            done.append(Step(c, ALREADY))
        elif state == UNKNOWN:
            settle.append(Step(c, SETTLE))
        else:
            create.append(Step(c, CREATE))
    return settle + create + done


@dataclass(frozen=True)
class RowResult:
    """What became of one roster row."""

    checked: Checked
    result: str
    entry: Entry | None = None
    error: str = ""


def row_results(
    prep: Prepared,
    entries: Mapping[Key, Entry],
    *,
    run_started: float | None,
    held_back: str | None = None,
) -> list[RowResult]:
    """Every roster row's result. ``run_started`` tells "created" (by this run) from "already
    created"; None (rebuilding from the journal alone) calls every created row "created".
    ``held_back`` is why valid rows were not sent at all (invalid rows and no --skip-invalid).
    """
    out = []
    for c in prep.rows:
        if not c.valid:
            result = R_INVALID if c.norm.payload is None else R_DUPLICATE
            out.append(RowResult(c, result, None, "; ".join(c.problems)))
            continue
        key = c.norm.key
        entry = entries.get(key) if key is not None else None
        if entry is None:
            out.append(RowResult(c, R_NOT_ATTEMPTED, None, held_back or ""))
            continue
        state = entry.settled_state
        if state == CREATED:
            fresh = run_started is None or (entry.created_at or 0) >= run_started
            note = ""
            if c.norm.payload is not None and payload_hash(c.norm.payload) != entry.payload_hash:
                note = "the roster's values changed since it was created; it was not updated"
            out.append(RowResult(c, R_CREATED if fresh else R_ALREADY, entry, note))
        elif state == FAILED:
            out.append(RowResult(c, R_FAILED, entry, entry.error or ""))
        elif state == UNKNOWN:
            why = entry.error or "the request may have reached the server"
            out.append(
                RowResult(c, R_UNKNOWN, entry, f"{why}; the next run checks before resending")
            )
        else:
            out.append(RowResult(c, R_NOT_ATTEMPTED, entry, held_back or entry.error or ""))
    return out


def count_results(results: Sequence[RowResult]) -> dict[str, int]:
    """How many rows have each result, in the summary's order."""
    counts = dict.fromkeys(RESULTS, 0)
    for r in results:
        counts[r.result] += 1
    return counts


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


IMPORT_COLUMNS = ("Row", "Result", "identId", "Error", "HTTP status", "Attempts", "Time")


def import_table(
    prep: Prepared, results: Sequence[RowResult]
) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of the import results sheet: each original row plus what became of it."""
    header = [*prep.roster.columns, *IMPORT_COLUMNS]

    def rows() -> Iterator[list[str]]:
        for r in results:
            e = r.entry
            extra = [
                str(r.checked.row.number),
                r.result,
                str(e.ident_id) if e is not None and e.ident_id is not None else "",
                r.error,
                str(e.http_status) if e is not None and e.http_status is not None else "",
                str(e.attempts) if e is not None else "",
                _when(e.updated_at) if e is not None else "",
            ]
            yield [*r.checked.row.values, *extra]

    return header, rows()
