"""Cells the reader can't use as shown (Excel errors, formulas never calculated, redaction rows
merged across the table) make a row invalid when their columns are sent; footers are skipped."""

from __future__ import annotations

from pathlib import Path

from conftest import ACCOUNT_A, ACCOUNT_B
from openpyxl import Workbook

from bulk_ident.prepare import prepare
from bulk_ident.words import Result

HEADER = ["Account UUID", "Unit #", "Name", "District", "Notes"]


def workbook(tmp_path: Path) -> Path:
    """A roster with one good row and each kind of unusable cell, then a footer."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Roster"
    ws.append(HEADER)
    ws.append([ACCOUNT_A, "1-A-1", "Ann", "North", ""])  # row 2: fine
    ws.append(["REDACTED"])  # row 3: merged across the table
    ws.merge_cells("A3:E3")
    ws.append([ACCOUNT_B, "1-A-2", "Bob", None, ""])  # row 4: District shows #N/A
    ws["D4"].value = "#N/A"
    ws["D4"].data_type = "e"
    ws.append([ACCOUNT_B, "1-A-3", "Cy", "South", None])  # row 5: #REF! in an unsent column
    ws["E5"].value = "#REF!"
    ws["E5"].data_type = "e"
    ws.append([ACCOUNT_A, "1-A-4", "=A1&B1", "East", ""])  # row 6: a formula never calculated
    ws.append([])
    ws.append(["Source: county HR, 2026"])  # row 8: a footer
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    return path


def test_unusable_cells_in_sent_columns_invalidate_their_rows(tmp_path: Path) -> None:
    """Errors, uncalculated formulas and a merged redaction row are problems naming the cell;
    the same in a column that isn't sent is not; the footer is skipped with a warning."""
    prep = prepare(workbook(tmp_path))
    rows = {c.row.number: c for c in prep.rows}
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert rows[2].verdict is Result.VALID
    assert rows[5].verdict is Result.VALID
    assert rows[3].verdict is Result.INVALID
    assert any('cells A3:E3 are merged ("REDACTED")' in p for p in rows[3].problems)
    assert rows[4].problems == ["column 'District': D4 shows #N/A"]
    assert rows[6].verdict is Result.INVALID
    assert rows[6].problems == [
        "column 'Name': C6 is a formula that was never calculated: open and save the file in Excel"
    ]
    assert any("footer" in w and "Source: county HR" in w for w in prep.warnings)


def test_lookalike_letters_and_huge_cells_are_quoted_honestly(tmp_path: Path) -> None:
    """A Greek capital upsilon in a status names its code point; a 5,000-character unit number
    is quoted by its first 40 characters, and the message stays one short line (the reader
    refuses a field over 32,767 characters itself)."""
    path = tmp_path / "roster.csv"
    path.write_text(
        f"Account UUID,Unit #,Status\n{ACCOUNT_A},1,\u03a5\n{ACCOUNT_B},{'9' * 5_000},Busy\n",
        encoding="utf-8",
    )
    prep = prepare(path)
    greek, huge = prep.rows
    assert greek.problems == [
        "column 'Status': '\u03a5' (U+03A5 GREEK CAPITAL LETTER UPSILON) is not a status; use 0,"
        " 1, 2, 3, 4, 100 or Unavailable, Busy, Available, Enroute, On Scene, Offline"
    ]
    assert huge.problems == [
        "column 'Unit #': '" + "9" * 40 + "…' (5,000 characters) is too long: at most 64 characters"
    ]
