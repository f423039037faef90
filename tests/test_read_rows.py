"""Tests for the rows read_roster streams: golden rows of dates as Excel shows them (and their CSV
twins, saved as Excel saves them), merged redaction rows, footers, error cells, short rows and
formulas without values."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles.numbers import BUILTIN_FORMATS as OPENPYXL_BUILTIN
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from bulk_ident.read.roster import CellNote, NoteKind, Row, read_roster

HEADER = ["Unit Number", "Account UUID", "Name", "When"]
SECOND = 1 / 86400

# (serial, number format as openpyxl names it (built-in ids 14-22 and 45-47), what Excel shows)
GOLDEN: list[tuple[float, str, str]] = [
    (33605, OPENPYXL_BUILTIN[14], "1/2/1992"),
    (39566, OPENPYXL_BUILTIN[15], "28-Apr-08"),
    (39566, OPENPYXL_BUILTIN[16], "28-Apr"),
    (39566, OPENPYXL_BUILTIN[17], "Apr-08"),
    (0.5, OPENPYXL_BUILTIN[18], "12:00 PM"),
    (0.75, OPENPYXL_BUILTIN[19], "6:00:00 PM"),
    (0.75, OPENPYXL_BUILTIN[20], "18:00"),
    (0.75 + 5 * SECOND, OPENPYXL_BUILTIN[21], "18:00:05"),
    (38289 + 16 / 24, OPENPYXL_BUILTIN[22], "10/29/2004 16:00"),
    (83 * SECOND, OPENPYXL_BUILTIN[45], "01:23"),
    (1.5, OPENPYXL_BUILTIN[46], "36:00:00"),
    (1.5 * SECOND, OPENPYXL_BUILTIN[47], "00:01.5"),
    (39566, "d-mmm-yy", "28-Apr-08"),
    (39566, "dddd, mmmm d, yyyy", "Monday, April 28, 2008"),
    (39566, "yyyy-mm-dd", "2008-04-28"),
    (39566 + 0.5 + 65 * SECOND, "m/d/yy h:mm:ss AM/PM", "4/28/08 12:01:05 PM"),
    (0.25, "hh:mm A/P", "06:00 A"),
    (2.75, "[h]:mm", "66:00"),
    (1.5, "[m]", "2160"),
    (0.5, "[s]", "43200"),
    (10 / 24 + 59.96 * SECOND, "h:mm:ss.0", "10:01:00.0"),
    (39566, '"on "d mmm', "on 28 Apr"),
    (39566, "dd\\.mm\\.yyyy", "28.04.2008"),
    (39566, "[$-409]mmm d", "Apr 28"),
    (39566, "[Red]d-mmm", "28-Apr"),
    (60, "m/d/yyyy", "2/29/1900"),
    (7, "000", "007"),
]


def golden_workbook(path: Path) -> None:
    """One row per golden case: a unit number, an account, a name and the formatted serial."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Roster"
    ws.append(HEADER)
    for i, (serial, code, _) in enumerate(GOLDEN):
        ws.append([str(100 + i), f"acct-{i}", f"Name {i}", serial])
        ws.cell(i + 2, 4).number_format = code
    wb.save(path)


def golden_csv(path: Path) -> None:
    """The same roster as Excel's 'CSV UTF-8' export: the displayed text, UTF-8 with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for i, (_, _, shown) in enumerate(GOLDEN):
        writer.writerow([str(100 + i), f"acct-{i}", f"Name {i}", shown])
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())


def is_header(cells: Sequence[str]) -> bool:
    """The header test: the roster's first column name."""
    return "Unit Number" in cells


def keys(header: Sequence[str]) -> list[int]:
    """Unit number and account columns, as the normaliser would name them."""
    return [i for i, name in enumerate(header) if name in {"Unit Number", "Account UUID"}]


def read_all(path: Path) -> tuple[list[Row], list[str]]:
    roster = read_roster(path, is_header=is_header, key_columns=keys)
    rows = list(roster.rows)
    return rows, roster.warnings


def test_golden_dates_read_as_displayed_and_match_the_csv_twin(tmp_path: Path) -> None:
    """Every date/time format reads as Excel shows it, identical to Excel's CSV export of it."""
    golden_workbook(tmp_path / "roster.xlsx")
    golden_csv(tmp_path / "roster.csv")
    xlsx_rows, xlsx_warnings = read_all(tmp_path / "roster.xlsx")
    csv_rows, csv_warnings = read_all(tmp_path / "roster.csv")
    assert [r.values[3] for r in xlsx_rows] == [shown for _, _, shown in GOLDEN]
    assert [(r.number, r.values) for r in xlsx_rows] == [(r.number, r.values) for r in csv_rows]
    assert xlsx_warnings == csv_warnings == []


def test_a_date_system_of_1904_is_followed(tmp_path: Path) -> None:
    """A workbook saved with the 1904 date system shows its serials from 1904-01-01."""
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "When"])
    ws.append(["1", 0])
    ws["B2"].number_format = "yyyy-mm-dd"
    wb.save(tmp_path / "mac.xlsx")
    rows, _ = read_all(tmp_path / "mac.xlsx")
    assert rows[0].values == ("1", "1904-01-01")


def test_unrenderable_format_falls_back_with_a_warning(tmp_path: Path) -> None:
    """A cell in a format that can't be shown exactly reads in General and is named in a warning."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "When"])
    ws.append(["1", 39566])
    ws["B2"].number_format = "[$-407]mmmm"
    wb.save(tmp_path / "de.xlsx")
    rows, warnings = read_all(tmp_path / "de.xlsx")
    assert rows[0].values == ("1", "39566")
    assert warnings == [
        f"{tmp_path / 'de.xlsx'}, sheet 'Sheet': 1 cell in a format that can't be shown exactly, "
        "read in General format instead: B2 ('[$-407]mmmm', read as 39566)."
    ]


def roster_with_trouble(path: Path) -> None:
    """A roster with a merged redaction row, error cells, a formula never calculated, footers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Roster"
    ws.append(["Unit Number", "Account UUID", "Name", "Rank"])
    ws.append(["101", "a1", "Ann", "Officer"])
    ws.append(["REDACTED"])
    ws.merge_cells("A3:D3")
    ws.append(["103", "#N/A", "Cy", "=1/0"])
    ws["D4"] = "#DIV/0!"
    ws.append(["104", "a4", "Di", "=B5"])
    ws.append([])
    ws.append(["Source: county HR"])
    ws.append(["Printed 2024-01-31 by the clerk, whose note is long enough to be cut in a message"])
    wb.save(path)


def test_merged_rows_errors_formulas_and_footers(tmp_path: Path) -> None:
    """Merges, errors and uncalculated formulas are notes; trailing one-cell rows are a footer."""
    path = tmp_path / "roster.xlsx"
    roster_with_trouble(path)
    rows, warnings = read_all(path)
    assert [(r.number, r.values) for r in rows] == [
        (2, ("101", "a1", "Ann", "Officer")),
        (3, ("REDACTED", "", "", "")),
        (4, ("103", "#N/A", "Cy", "#DIV/0!")),
        (5, ("104", "a4", "Di", "")),
    ]
    assert [r.notes for r in rows] == [
        (),
        (CellNote(0, 3, NoteKind.MERGED, 'cells A3:D3 are merged ("REDACTED")'),),
        (
            CellNote(1, 1, NoteKind.ERROR, "B4 shows #N/A"),
            CellNote(3, 3, NoteKind.ERROR, "D4 shows #DIV/0!"),
        ),
        (
            CellNote(
                3,
                3,
                NoteKind.UNCALCULATED,
                "D5 is a formula that was never calculated: open and save the file in Excel",
            ),
        ),
    ]
    assert warnings == [
        f"{path}, sheet 'Roster': footer rows skipped: 7 (\"Source: county HR\"), "
        '8 ("Printed 2024-01-31 by the clerk, whos...") (one text cell below the last member).'
    ]


def test_one_cell_rows_followed_by_members_are_data(tmp_path: Path) -> None:
    """A one-cell row with member rows after it is not a footer: it stays, in order."""
    path = tmp_path / "r.csv"
    path.write_text("Unit Number,Account UUID,Name\n1,a,A\nNote in the middle\n2,b,B\nEnd\n")
    rows, warnings = read_all(path)
    assert [r.number for r in rows] == [2, 3, 4]
    assert warnings[0].startswith(f'{path}: footer rows skipped: 5 ("End")')


def test_csv_error_words_and_short_rows(tmp_path: Path) -> None:
    """A CSV field that is an Excel error word is an ERROR note; short rows get one warning."""
    path = tmp_path / "r.csv"
    lines = ["Unit Number,Account UUID,Name,Rank"]
    lines += ["1,#REF!,A,x", "2,b", *(f"{i},c{i}" for i in range(3, 10)), "10,d,D,#SPILL!"]
    path.write_text("\n".join(lines) + "\n")
    rows, warnings = read_all(path)
    assert rows[0].notes == (CellNote(1, 1, NoteKind.ERROR, "column 2 shows #REF!"),)
    assert rows[-1].notes == (CellNote(3, 3, NoteKind.ERROR, "column 4 shows #SPILL!"),)
    assert rows[1].values == ("2", "b", "", "")
    assert warnings == [
        f"{path}: 8 rows have fewer fields than the header (rows 3, 4, 5, 6, 7 and 3 more); "
        "the missing fields read as empty: check for a missing delimiter."
    ]


def test_rows_stream_once_and_blank_rows_are_counted_at_the_end(tmp_path: Path) -> None:
    """Rows come from an iterator read once; blank_rows is final when it is exhausted."""
    path = tmp_path / "r.csv"
    path.write_text("Unit Number,Name\n1,A\n\n\n2,B\n\n")
    roster = read_roster(path, is_header=is_header)
    assert roster.path == path
    assert roster.source.name == str(path)
    first = next(roster.rows)
    assert first.number == 2
    assert [r.number for r in roster.rows] == [5]
    assert list(roster.rows) == []
    assert roster.blank_rows == 2


def test_merged_range_within_one_column_is_not_a_note(tmp_path: Path) -> None:
    """A range merged down one column (a department written once) is not a row problem."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "Department"])
    ws.append(["1", "Police"])
    ws.append(["2", None])
    ws.merge_cells("B2:B3")
    wb.save(tmp_path / "m.xlsx")
    rows, _ = read_all(tmp_path / "m.xlsx")
    assert [(r.values, r.notes) for r in rows] == [(("1", "Police"), ()), (("2", ""), ())]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_key_columns_hook_is_called_once_with_the_header(tmp_path: Path, suffix: str) -> None:
    """key_columns is called once, with the header's cells."""
    calls: list[list[str]] = []

    def hook(header: Sequence[str]) -> list[int]:
        calls.append(list(header))
        return [0]

    path = tmp_path / f"r{suffix}"
    if suffix == ".csv":
        path.write_text("Unit Number,Name\n1,A\n")
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(["Unit Number", "Name"])
        ws.append(["1", "A"])
        wb.save(path)
    roster = read_roster(path, is_header=is_header, key_columns=hook)
    assert [r.values for r in roster.rows] == [("1", "A")]
    assert calls == [["Unit Number", "Name"]]
