"""Planning an import from the journal, and what the results sheet says of every row."""

from __future__ import annotations

from pathlib import Path

from bulk_ident.prepare import Prepared, prepare
from bulk_ident.sync.journal import Journal
from bulk_ident.sync.plan import (
    ALREADY,
    CREATE,
    R_ALREADY,
    R_CREATED,
    R_DUPLICATE,
    R_FAILED,
    R_INVALID,
    R_NOT_ATTEMPTED,
    R_UNKNOWN,
    SETTLE,
    count_results,
    import_table,
    plan_import,
    row_results,
)

A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def roster(tmp_path: Path) -> Prepared:
    """Five valid units, one invalid row and one duplicate."""
    path = tmp_path / "roster.csv"
    lines = ["Account UUID,Unit Number,Status"]
    lines += [f"{A},U-{i},Available" for i in range(5)]
    lines += [f"{A},X-1,Patrolling", f"{A},u-0,Busy"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(path)


class Clock:
    """A settable clock for journal timestamps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rows_to_settle_come_first_then_creates_in_order_and_created_rows_are_left_alone(
    tmp_path: Path,
) -> None:
    """An intent without an outcome is settled before anything new; created rows are skipped;
    failed and pending rows are created again."""
    prep = roster(tmp_path)
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        rows = {c.norm.unit_num: c for c in prep.valid}
        for unit in ("U-1", "U-2", "U-3", "U-4"):
            norm = rows[unit].norm
            assert norm.key is not None
            assert norm.payload is not None
            journal.record_intent(norm.key, unit, norm.payload, source_file="r", source_row=1)
        journal.record_created((A, "u-1"), 7, 200)
        journal.record_failed((A, "u-2"), 400, "bad")
        journal.record_pending((A, "u-3"), 429, "rate limited")
        steps = plan_import(prep.valid, journal.entries())
    assert [(s.checked.norm.unit_num, s.action) for s in steps] == [
        ("U-4", SETTLE),
        ("U-0", CREATE),
        ("U-2", CREATE),
        ("U-3", CREATE),
        ("U-1", ALREADY),
    ]


def test_every_row_gets_one_result_with_its_journal_facts(tmp_path: Path) -> None:
    """created (this run), already created (before it), failed, unknown, not attempted, invalid,
    duplicate: each row's result, identId, error and attempts come from the journal."""
    prep = roster(tmp_path)
    clock = Clock()
    with Journal.open(tmp_path / "j.sqlite", "c", clock=clock) as journal:
        payloads = {c.norm.unit_num: c.norm.payload for c in prep.valid}
        for unit in ("U-0", "U-1", "U-2", "U-3"):
            payload = payloads[unit]
            assert payload is not None
            key = (A, unit.casefold())
            journal.record_intent(key, unit, payload, source_file="r", source_row=1)
        journal.record_created((A, "u-0"), 5, 200)
        clock.now = 2000.0
        journal.record_created((A, "u-1"), 6, 201)
        journal.record_failed((A, "u-2"), 404, "account not found")
        results = row_results(prep, journal.entries(), run_started=1500.0)
    by_unit = {r.checked.row.values[1]: r for r in results}
    assert {u: r.result for u, r in by_unit.items()} == {
        "U-0": R_ALREADY,
        "U-1": R_CREATED,
        "U-2": R_FAILED,
        "U-3": R_UNKNOWN,
        "U-4": R_NOT_ATTEMPTED,
        "X-1": R_INVALID,
        "u-0": R_DUPLICATE,
    }
    assert by_unit["U-2"].error == "account not found"
    assert "the next run checks before resending" in by_unit["U-3"].error
    assert count_results(results)[R_INVALID] == 1
    header, rows = import_table(prep, results)
    table = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert table["U-1"]["identId"] == "6"
    assert table["U-1"]["HTTP status"] == "201"
    assert table["U-1"]["Attempts"] == "1"
    assert table["U-1"]["Time"] == "1970-01-01T00:33:20Z"
    assert table["U-4"]["identId"] == ""


def test_a_created_row_whose_values_changed_is_reported_not_resent(tmp_path: Path) -> None:
    """A unit created earlier with other values stays 'already created', with a note."""
    prep = roster(tmp_path)
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        key = (A, "u-0")
        journal.record_intent(
            key, "U-0", {"unitNum": "U-0", "status": 0}, source_file="r", source_row=1
        )
        journal.record_created(key, 5, 200)
        results = row_results(prep, journal.entries(), run_started=None)
        steps = plan_import(prep.valid, journal.entries())
    first = next(r for r in results if r.checked.row.values[1] == "U-0")
    assert first.result == R_CREATED  # rebuilt from the journal alone: no run to compare with
    assert "changed since it was created" in first.error
    assert next(s for s in steps if s.checked.norm.unit_num == "U-0").action == ALREADY


def test_rows_held_back_by_invalid_ones_say_why(tmp_path: Path) -> None:
    """Without --skip-invalid, valid rows are 'not attempted' with the reason."""
    prep = roster(tmp_path)
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        results = row_results(prep, journal.entries(), run_started=0.0, held_back="fix them")
    assert {r.error for r in results if r.result == R_NOT_ATTEMPTED} == {"fix them"}
