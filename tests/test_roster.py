"""Tests for bulk_ident.read.roster: each cell arrives as the text the user sees, by row."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import os
import random
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from bulk_ident.errors import InputError
from bulk_ident.read.roster import (
    HEADER_SEARCH_ROWS,
    Layout,
    NoteKind,
    Plain,
    Record,
    Roster,
    Row,
    RowStream,
    format_number,
    general_number,
    is_simple_format,
    read_roster,
)
from bulk_ident.read.sources import Source

HEADERS = {"unit number", "account uuid", "name"}


def is_header(cells: Sequence[str]) -> bool:
    """The header test the real caller passes: any known column name."""
    return any(c.lower() in HEADERS for c in cells)


@dataclass
class Read:
    """A roster with its streamed rows read to the end, so its warnings are complete."""

    roster: Roster
    rows: list[Row]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.roster, name)


def read(path: Path, **options: Any) -> Read:
    roster = read_roster(path, is_header=is_header, **options)
    return Read(roster, list(roster.rows))


def save(tmp_path: Path, build: Callable[[Workbook], None], name: str = "roster.xlsx") -> Path:
    """Builds a workbook with openpyxl (its default sheet is named 'Roster') and saves it."""
    wb = openpyxl.Workbook()
    assert wb.active is not None
    wb.active.title = "Roster"
    build(wb)
    path = tmp_path / name
    wb.save(path)
    return path


def sheet_of(wb: Workbook, name: str = "Roster") -> Worksheet:
    ws = wb[name]
    assert isinstance(ws, Worksheet)
    return ws


def table(*rows: Sequence[object]) -> Callable[[Workbook], None]:
    """A builder that writes rows from A1 on the 'Roster' sheet."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        for row in rows:
            ws.append(list(row))

    return build


def patch_part(path: Path, part: str, change: Callable[[bytes], bytes]) -> None:
    """Rewrites one part of an xlsx package, as Excel or another writer might have saved it."""
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in items:
            dst.writestr(info, change(data) if info.filename == part else data)


def write_text(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def values(roster: Read) -> list[tuple[str, ...]]:
    return [row.values for row in roster.rows]


# --------------------------------------------------------------------------- workbooks: layout


def test_header_below_title_rows_and_merged_title(tmp_path: Path) -> None:
    """Title rows (one merged across columns) above the header are skipped; row numbers hold."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws["A1"] = "Department roster, January"
        ws.merge_cells("A1:C1")
        ws.append([])
        ws.append(["Name", "Unit Number", "Account UUID"])
        ws.append(["Zoë", "007", "abc"])

    roster = read(save(tmp_path, build))
    assert (roster.kind, roster.sheet, roster.encoding, roster.delimiter) == (
        "xlsx",
        "Roster",
        None,
        None,
    )
    assert roster.header_row == 3
    assert roster.columns == ("Name", "Unit Number", "Account UUID")
    assert [(r.number, r.values) for r in roster.rows] == [(4, ("Zoë", "007", "abc"))]
    assert roster.warnings == []


def test_merged_title_is_never_the_header_even_if_it_names_a_column(tmp_path: Path) -> None:
    """A title merged across columns is not taken for the header even when its text matches."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws["A1"] = "Name"
        ws.merge_cells("A1:B1")
        ws.append(["Name", "Unit Number"])
        ws.append(["Ana", "1"])

    roster = read(save(tmp_path, build))
    assert roster.header_row == 2
    assert values(roster) == [("Ana", "1")]


def test_blank_rows_are_skipped_counted_and_numbers_kept(tmp_path: Path) -> None:
    """Blank rows (whitespace only counts as blank) between data rows are counted, not returned."""
    build = table(
        ["Name", "Unit Number"],
        ["A", "1"],
        [],
        ["  ", "\u00a0"],
        ["B", "2"],
        [],
    )
    roster = read(save(tmp_path, build))
    assert [r.number for r in roster.rows] == [2, 5]
    assert roster.blank_rows == 2


def test_blank_header_cell_keeps_its_position_and_short_rows_are_padded(tmp_path: Path) -> None:
    """A blank header cell becomes "" in place; trailing blank header cells are dropped."""
    build = table(["Name", None, "Unit Number", None], ["A"], ["B", "x", "2"])
    roster = read(save(tmp_path, build))
    assert roster.columns == ("Name", "", "Unit Number")
    assert values(roster) == [("A", "", ""), ("B", "x", "2")]


def test_cells_beyond_the_header_give_one_warning(tmp_path: Path) -> None:
    """Text to the right of the last header column is dropped with a single warning."""
    build = table(["Name", "Unit Number"], ["A", "1", "stray"], ["B", "2", "", "more"], ["C", "3"])
    roster = read(save(tmp_path, build))
    assert values(roster) == [("A", "1"), ("B", "2"), ("C", "3")]
    assert len(roster.warnings) == 1
    assert "2 rows have values to the right of the last header column" in roster.warnings[0]
    assert "row 2, column C" in roster.warnings[0]


def test_header_without_rows_is_an_empty_roster(tmp_path: Path) -> None:
    """A header with nothing below it is not an error: there are simply no rows."""
    roster = read(save(tmp_path, table(["Name", "Unit Number"])))
    assert roster.rows == []
    assert roster.blank_rows == 0


def test_header_must_be_in_the_first_rows(tmp_path: Path) -> None:
    """A header below row 20 is not found, and the error names the file, sheet and expectation."""
    rows: list[list[object]] = [["title"] for _ in range(HEADER_SEARCH_ROWS)]
    path = save(tmp_path, table(*rows, ["Name", "Unit Number"], ["A", "1"]))
    with pytest.raises(InputError) as caught:
        read(path)
    message = str(caught.value)
    assert "roster.xlsx" in message
    assert "sheet 'Roster'" in message
    assert "first 20 rows" in message
    assert "'Unit Number'" in message


# --------------------------------------------------------------------------- workbooks: sheets


def three_sheets(wb: Workbook) -> None:
    """'Secret' (hidden) first, then 'First' and 'Second', each with its own roster."""
    assert wb.active is not None
    wb.remove(wb.active)
    for name in ("Secret", "First", "Second"):
        ws = wb.create_sheet(name)
        ws.append(["Name", "Unit Number"])
        ws.append([name, "1"])
    wb["Secret"].sheet_state = "hidden"
    wb.active = 1


def test_first_visible_sheet_is_read_and_hidden_sheets_are_named(tmp_path: Path) -> None:
    """With a hidden sheet first, the first visible one is read and the hidden one is named."""
    roster = read(save(tmp_path, three_sheets))
    assert roster.sheet == "First"
    assert values(roster) == [("First", "1")]
    assert len(roster.warnings) == 1
    assert "hidden sheets ('Secret')" in roster.warnings[0]
    assert "--sheet" in roster.warnings[0]


@pytest.mark.parametrize(
    ("wanted", "sheet"),
    [
        ("1", "First"),
        ("2", "Second"),
        ("Second", "Second"),
        (" second ", "Second"),
    ],
)
def test_sheet_by_number_or_name(tmp_path: Path, wanted: str, sheet: str) -> None:
    """--sheet takes a name (case and spaces forgiven) or a number counting the visible tabs."""
    roster = read(save(tmp_path, three_sheets), sheet=wanted)
    assert roster.sheet == sheet
    assert values(roster) == [(sheet, "1")]
    assert roster.warnings == []


def test_named_hidden_sheet_is_read_with_a_warning(tmp_path: Path) -> None:
    """A hidden sheet named explicitly is read, but never silently."""
    roster = read(save(tmp_path, three_sheets), sheet="Secret")
    assert values(roster) == [("Secret", "1")]
    assert roster.warnings == [
        f"{tmp_path / 'roster.xlsx'}: sheet 'Secret' is hidden in Excel; reading it as asked."
    ]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("Missing", "no sheet named 'Missing'; its sheets are: 1 'First', 2 'Second'; hidden: "),
        ("3", "no sheet number 3: it has 2 visible sheets: 1 'First', 2 'Second'"),
        ("0", "no sheet number 0"),
    ],
)
def test_unknown_sheet_lists_the_sheets(tmp_path: Path, wanted: str, expected: str) -> None:
    """An unknown sheet name or number is an error that lists the sheets there are."""
    with pytest.raises(InputError, match=r"roster\.xlsx") as caught:
        read(save(tmp_path, three_sheets), sheet=wanted)
    assert expected in str(caught.value)


def test_sheet_named_like_a_number_wins_over_the_position(tmp_path: Path) -> None:
    """A sheet literally named '2' is taken by name before '2' is read as a position."""

    def build(wb: Workbook) -> None:
        sheet_of(wb).append(["Name"])
        ws = wb.create_sheet("Other")
        ws.append(["Name"])
        ws.append(["other"])
        named = wb.create_sheet("2")
        named.append(["Name"])
        named.append(["named two"])

    assert values(read(save(tmp_path, build), sheet="2")) == [("named two",)]


# --------------------------------------------------------------------------- workbooks: cells

CELL_CASES: list[tuple[str, object, str | None, str]] = [
    ("text digits", "007", None, "007"),
    ("integer", 101, None, "101"),
    ("whole float", 101.0, None, "101"),
    ("negative", -2.5, None, "-2.5"),
    ("float noise", 0.1 + 0.2, None, "0.3"),
    ("huge", 12345678901234567890, None, "12345678901234570000"),  # openpyxl keeps 16 digits
    ("tiny", 1e-7, None, "0.0000001"),
    ("zero padded", 1, "000", "001"),
    ("five digits", 42, "00000", "00042"),
    ("two sections", 7, "000;-000", "007"),
    ("decimals", 2.5, "0.00", "2.50"),
    ("thousands", 1234567, "#,##0", "1,234,567"),
    ("thousands decimals", 1234.5, "#,##0.00", "1,234.50"),
    ("text in padded format", "12", "000", "12"),
    ("true", True, None, "TRUE"),
    ("false", False, None, "FALSE"),
    ("date", dt.date(2024, 1, 31), None, "2024-01-31"),
    # openpyxl stores these with the formats yyyy-mm-dd h:mm:ss and h:mm:ss, shown as Excel does.
    ("datetime", dt.datetime(2024, 1, 31, 8, 30), None, "2024-01-31 8:30:00"),
    ("time", dt.time(8, 30), None, "8:30:00"),
    ("NA", "NA", None, "NA"),
    ("N/A", "N/A", None, "N/A"),
    ("null", "null", None, "null"),
    ("None", "None", None, "None"),
    ("nbsp", "\u00a0 José Müller\u00a0 ", None, "José Müller"),
    ("spaces", "  padded\t", None, "padded"),
]


@pytest.mark.parametrize(
    ("value", "number_format", "expected"),
    [case[1:] for case in CELL_CASES],
    ids=[case[0] for case in CELL_CASES],
)
def test_cell_reads_as_displayed(
    tmp_path: Path, value: object, number_format: str | None, expected: str
) -> None:
    """Each kind of cell arrives as the text Excel shows, never as Python's repr of the value."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws.append(["Name", "Unit Number"])
        ws.append(["x", value])
        if number_format is not None:
            ws["B2"].number_format = number_format

    roster = read(save(tmp_path, build))
    assert values(roster) == [("x", expected)]


def test_huge_number_is_never_scientific(tmp_path: Path) -> None:
    """A 20-digit number stored in full reads in plain digits, as Python's float holds it."""
    path = save(tmp_path, table(["Name", "Unit Number"], ["x", 1.0]))
    patch_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<v>1</v>", b"<v>12345678901234567890</v>"),
    )
    assert values(read(path)) == [("x", "12345678901234567000")]


def test_namespace_prefixed_sheet_xml(tmp_path: Path) -> None:
    """Sheet XML written with a namespace prefix (<x:c>, as some generators do) is scanned too."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws.append(["Name", "Unit Number", "Copy"])
        ws.append(["a", 5, "=B2"])
        ws.append(["b", 6, "#N/A"])
        ws["B2"].number_format = "000"
        ws.row_dimensions[3].hidden = True

    path = save(tmp_path, build)

    def add_prefix(xml: bytes) -> bytes:
        xml = xml.replace(b'<worksheet xmlns="', b'<x:worksheet xmlns:x="')
        return re.sub(rb"<(/?)(?!x:)([a-zA-Z]+)", rb"<\1x:\2", xml)

    patch_part(path, "xl/worksheets/sheet1.xml", add_prefix)
    assert b"<x:c " in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    roster = read(path)
    assert values(roster) == [("a", "005", ""), ("b", "6", "#N/A")]
    assert [w.split(": ", 1)[1] for w in roster.warnings] == [
        "1 hidden row read like the others: 3.",
    ]
    assert [[(n.first, n.kind, n.message) for n in r.notes] for r in roster.rows] == [
        [
            (
                2,
                NoteKind.UNCALCULATED,
                "C2 is a formula that was never calculated: open and save the file in Excel",
            )
        ],
        [(2, NoteKind.ERROR, "C3 shows #N/A")],
    ]


def test_hidden_true_spelling(tmp_path: Path) -> None:
    """hidden="true" marks a hidden row just as hidden="1" does."""
    path = save(tmp_path, table(["Name"], ["a"], ["b"]))
    patch_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<row r="3">', b'<row hidden="true" r="3">'),
    )
    assert read(path).warnings[0].endswith("1 hidden row read like the others: 3.")


def test_options_that_do_not_apply_are_reported(tmp_path: Path) -> None:
    """--sheet on a CSV and --encoding on a workbook are ignored with a warning, not silently."""
    csv_roster = read(write_text(tmp_path, "Name\nA\n"), sheet="2")
    assert csv_roster.warnings == [f"{tmp_path / 'r.csv'} is a text file: --sheet is ignored."]
    xlsx_roster = read(save(tmp_path, table(["Name"], ["A"])), encoding="cp1252")
    assert xlsx_roster.warnings == [
        f"{tmp_path / 'roster.xlsx'} is a workbook: --encoding is ignored."
    ]


def test_formats_apply_whatever_the_attribute_order(tmp_path: Path) -> None:
    """Cells written with s= before r= (and a styled row element) still get their '000' format."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws.append(["Name", "Unit Number"])
        for i in range(1, 4):
            ws.append([f"n{i}", i])
            ws.cell(i + 1, 2).number_format = "000"

    path = save(tmp_path, build)

    def reorder(xml: bytes) -> bytes:
        xml = re.sub(rb'<c r="(B\d+)" s="(\d+)" t="n">', rb'<c s="\2"\n t="n" r="\1">', xml)
        return xml.replace(b'<row r="2">', b'<row r="2" s="1" customFormat="1">')

    patch_part(path, "xl/worksheets/sheet1.xml", reorder)
    assert b's="1"\n t="n" r="B2"' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert values(read(path)) == [("n1", "001"), ("n2", "002"), ("n3", "003")]


def formula_sheet(wb: Workbook) -> None:
    ws = sheet_of(wb)
    ws.append(["Name", "Unit Number", "Double"])
    ws.append(["A", 101, "=B2*2"])
    ws.append(["B", 102, "=B3*2"])


def test_formula_without_cached_value_is_a_note(tmp_path: Path) -> None:
    """Formulas saved without a calculated value (openpyxl output) read empty, with a cell note."""
    roster = read(save(tmp_path, formula_sheet))
    assert values(roster) == [("A", "101", ""), ("B", "102", "")]
    assert roster.warnings == []
    assert [[(n.first, n.last, n.kind, n.message) for n in r.notes] for r in roster.rows] == [
        [
            (
                2,
                2,
                NoteKind.UNCALCULATED,
                f"C{n} is a formula that was never calculated: open and save the file in Excel",
            )
        ]
        for n in (2, 3)
    ]


def test_formula_with_cached_value_reads_the_value(tmp_path: Path) -> None:
    """Formulas with a cached value (as Excel saves them) read as that value, with no warning."""
    path = save(tmp_path, formula_sheet)

    def add_values(xml: bytes) -> bytes:
        xml = xml.replace(b"<f>B2*2</f><v />", b"<f>B2*2</f><v>202</v>")
        return xml.replace(b"<f>B3*2</f><v />", b"<f>B3*2</f><v>204</v>")

    patch_part(path, "xl/worksheets/sheet1.xml", add_values)
    roster = read(path)
    assert values(roster) == [("A", "101", "202"), ("B", "102", "204")]
    assert roster.warnings == []


def test_formula_caching_an_empty_string_is_not_reported(tmp_path: Path) -> None:
    """A formula whose calculated value is "" (t="str", empty <v>) is a real, empty value."""
    path = save(tmp_path, formula_sheet)

    def add_values(xml: bytes) -> bytes:
        xml = xml.replace(b'<c r="C2"><f>B2*2</f><v />', b'<c r="C2" t="str"><f>B2*2</f><v></v>')
        return xml.replace(b"<f>B3*2</f><v />", b"<f>B3*2</f><v>204</v>")

    patch_part(path, "xl/worksheets/sheet1.xml", add_values)
    roster = read(path)
    assert values(roster) == [("A", "101", ""), ("B", "102", "204")]
    assert roster.warnings == []


def test_error_cells_show_their_error_with_a_note(tmp_path: Path) -> None:
    """Cells showing #N/A or #DIV/0! read as that text (not empty) and carry an ERROR note."""
    build = table(["Name", "Unit Number"], ["A", "#N/A"], ["B", "#DIV/0!"])
    roster = read(save(tmp_path, build))
    assert values(roster) == [("A", "#N/A"), ("B", "#DIV/0!")]
    assert roster.warnings == []
    assert [[(n.first, n.kind, n.message) for n in r.notes] for r in roster.rows] == [
        [(1, NoteKind.ERROR, "B2 shows #N/A")],
        [(1, NoteKind.ERROR, "B3 shows #DIV/0!")],
    ]


def test_hidden_rows_are_read_and_listed_once(tmp_path: Path) -> None:
    """Hidden rows are read like the others and reported in one warning: first few and a count."""

    def build(wb: Workbook) -> None:
        ws = sheet_of(wb)
        ws.append(["Name", "Unit Number"])
        for i in range(2, 12):
            ws.append([f"n{i}", str(i)])
        for number in (3, 5, 6, 7, 8, 9, 10):
            ws.row_dimensions[number].hidden = True

    roster = read(save(tmp_path, build))
    assert len(roster.rows) == 10
    assert roster.warnings == [
        f"{tmp_path / 'roster.xlsx'}, sheet 'Roster': 7 hidden rows read like the others: "
        "3, 5, 6, 7, 8 and 2 more."
    ]


# --------------------------------------------------------------------------- number formatting


@pytest.mark.parametrize(
    ("code", "value", "expected"),
    [
        ("000", 1, "001"),
        ("000", 1234, "1234"),
        ("000", 0, "000"),
        ("000", -5, "-005"),
        ("000", 7.6, "008"),
        ("0", 2.5, "3"),
        ("0", -0.4, "0"),
        ("0.00", 1.005, "1.01"),
        ("0.00", 0.1 + 0.2, "0.30"),
        ("#,##0", 0, "0"),
        ("#,##0", 999, "999"),
        ("#,##0", -1234.6, "-1,235"),
        ("#,##0.00", 1234567.891, "1,234,567.89"),
        ("000,000", 5, "000,005"),
        ("0.0#", 1.5, "1.5"),
        ("0.0#", 1.256, "1.26"),
        ("#.##", 0.5, ".5"),
        ("0.", 5, "5."),
        ("0,", 12345, "12"),
        ("000", 12345678901234567890, "12345678901234600000"),
    ],
)
def test_format_number(code: str, value: float, expected: str) -> None:
    """Simple Excel formats (0 # , . only) render as Excel renders them."""
    assert format_number(value, code) == expected


@pytest.mark.parametrize(
    ("code", "simple"),
    [
        ("000", True),
        ("#,##0.00", True),
        ("0.00;[Red]-0.00", True),
        ("General", False),
        ("@", False),
        ("0%", False),
        ('"U"000', False),
        ("yyyy-mm-dd", False),
        ("0.0.0", False),
    ],
)
def test_is_simple_format(code: str, simple: bool) -> None:
    """Only formats made of 0 # , . are formatted by the reader; others keep General text."""
    assert is_simple_format(code) is simple


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (101.0, "101"),
        (-0.0, "0"),
        (0.30000000000000004, "0.3"),
        (1e-7, "0.0000001"),
        (1.5e20, "150000000000000000000"),
        (1234567.1234567891, "1234567.12345679"),
    ],
)
def test_general_number(value: float, expected: str) -> None:
    """Numbers in General format: no '.0', no float noise, no scientific notation."""
    assert general_number(value) == expected


# --------------------------------------------------------------------------- text files


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
        ("utf-16", "utf-16"),
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, expected: str) -> None:
    """UTF-8 with or without BOM, Windows-1252 and UTF-16 (with BOM) are detected; names survive."""
    path = write_text(tmp_path, "Name,Unit Number\nJosé Müller,101\nZoë,102\n", encoding)
    roster = read(path)
    assert roster.encoding == expected
    assert roster.columns == ("Name", "Unit Number")
    assert values(roster) == [("José Müller", "101"), ("Zoë", "102")]


def test_csv_encoding_override(tmp_path: Path) -> None:
    """--encoding is used as given and recorded in Roster.encoding."""
    path = write_text(tmp_path, "Name,Unit Number\nJosé,1\n", "latin-1")
    roster = read(path, encoding="latin-1")
    assert roster.encoding == "latin-1"
    assert values(roster) == [("José", "1")]


def test_csv_utf8_override_drops_a_bom(tmp_path: Path) -> None:
    """A BOM read with --encoding utf-8 does not end up in the first header cell."""
    path = write_text(tmp_path, "Name,Unit Number\nA,1\n", "utf-8-sig")
    assert read(path, encoding="utf-8").columns == ("Name", "Unit Number")


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "r.csv"), (";", "r.csv"), ("\t", "r.tsv"), ("\t", "r.txt"), ("|", "r.txt")],
)
def test_csv_delimiters(tmp_path: Path, delimiter: str, name: str) -> None:
    """Comma, semicolon, tab and pipe are detected whatever the text extension."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerows([["Name", "Unit Number", "Amount"], ["Zoë", "007", "1,5"]])
    roster = read(write_text(tmp_path, buffer.getvalue(), name=name))
    assert roster.delimiter == delimiter
    assert values(roster) == [("Zoë", "007", "1,5")]


def test_csv_quoted_delimiters_and_embedded_newlines(tmp_path: Path) -> None:
    """Quoted fields may hold delimiters and newlines; a row's number is the line it starts on."""
    text = (
        "Department roster\r\n"
        "\r\n"
        "Name,Unit Number,Notes\r\n"
        '"Smith, John",101,"two\r\nlines"\r\n'
        '"Say ""hi""",102,\r\n'
        "\r\n"
        "Zoë,103,x\r\n"
    )
    roster = read(write_text(tmp_path, text))
    assert roster.delimiter == ","
    assert roster.header_row == 3
    assert [(r.number, r.values) for r in roster.rows] == [
        (4, ("Smith, John", "101", "two\r\nlines")),
        (6, ('Say "hi"', "102", "")),
        (8, ("Zoë", "103", "x")),
    ]
    assert roster.blank_rows == 1


def test_csv_semicolons_with_decimal_commas(tmp_path: Path) -> None:
    """A European export (semicolons, decimal commas, a title line) is split on semicolons."""
    text = "Roster;\nName;Unit Number;Pay\nA;1;2,5\nB;2;3,5\n"
    roster = read(write_text(tmp_path, text, "cp1252"))
    assert (roster.delimiter, roster.header_row) == (";", 2)
    assert values(roster) == [("A", "1", "2,5"), ("B", "2", "3,5")]


def test_csv_text_stays_text_and_is_trimmed(tmp_path: Path) -> None:
    """CSV cells are never converted: leading zeros, NA and null stay; spaces and NBSP go."""
    text = "Name,Unit Number,Note\n\u00a0José\u00a0 , 007 ,NA\nnull,None,N/A\n"
    assert values(read(write_text(tmp_path, text))) == [
        ("José", "007", "NA"),
        ("null", "None", "N/A"),
    ]


def test_csv_extra_fields_give_one_warning(tmp_path: Path) -> None:
    """Fields beyond the header in several rows give one warning naming the first."""
    text = "Name,Unit Number\nA,1,x\nB,2,y\n"
    roster = read(write_text(tmp_path, text))
    assert values(roster) == [("A", "1"), ("B", "2")]
    assert len(roster.warnings) == 1
    assert "(first: row 2, column 3)" in roster.warnings[0]


def test_csv_header_not_found_names_the_file(tmp_path: Path) -> None:
    """Without a recognisable header the error names the file and the columns expected."""
    with pytest.raises(InputError, match=r"r\.csv: no header row found in the first 20 rows"):
        read(write_text(tmp_path, "a,b\n1,2\n"))


# --------------------------------------------------------------------------- bad input


def encrypted_xlsx() -> bytes:
    """The start of an OLE compound file holding an EncryptionInfo stream, as Excel writes."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    return header + "EncryptionInfo".encode("utf-16-le") + bytes(64)


def real_xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def broken_sheet_xml() -> bytes:
    data = real_xlsx_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = b"<worksheet><sheetData><row r='1'><c r='A1' t='s'><v>99</v>"
            dst.writestr(info, body)
    return out.getvalue()


BAD_FILES: list[tuple[str, str, bytes, str]] = [
    ("xls", "roster.xls", b"\xd0\xcf\x11\xe0", "old Excel format (.xls)"),
    ("ods", "roster.ods", b"PK\x03\x04", "OpenDocument"),
    ("numbers", "roster.numbers", b"PK\x03\x04", "Apple Numbers"),
    ("pdf", "roster.pdf", b"%PDF-1.4", "unsupported file type ('.pdf')"),
    ("no extension", "roster", b"Name\n", "unsupported file type (no extension)"),
    ("encrypted", "roster.xlsx", encrypted_xlsx(), "password-protected (encrypted)"),
    ("xls renamed", "roster.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old-format"),
    ("not a zip", "roster.xlsx", b"Name,Unit Number\n", "not a valid Excel workbook"),
    ("bad zip", "roster.xlsm", b"PK\x03\x04garbage" * 10, "not a valid Excel workbook"),
    ("truncated", "roster.xlsx", real_xlsx_bytes()[:2000], "not a valid Excel workbook"),
    ("broken sheet", "roster.xlsx", broken_sheet_xml(), "can't be read"),
    ("empty xlsx", "roster.xlsx", b"", "is empty"),
    ("empty csv", "roster.csv", b"", "is empty"),
    ("blank csv", "roster.csv", b" \r\n\r\n ", "is empty"),
    ("bom only", "roster.csv", b"\xef\xbb\xbf", "is empty"),
    ("xlsx named csv", "roster.csv", real_xlsx_bytes(), "rename it to end in .xlsx"),
    ("xls named csv", "roster.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "old-format"),
    ("undecodable", "roster.csv", b"Name\n\x81\x8d\xff\n", "neither UTF-8 nor Windows-1252"),
    ("utf-16 no bom", "roster.txt", "Name\tUnit\n".encode("utf-16-le"), "--encoding utf-16"),
    ("unclosed quote", "roster.csv", b'Name,Unit Number\n"A,1\nB,2\n', "line 2: a quoted value"),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_files_raise_input_error(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    """Each unusable file gives one clear line that names the file and says what to do."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"encoding": "no-such-codec"}, "unknown --encoding 'no-such-codec'"),
        ({"encoding": "utf-8"}, "line 2 has byte 0xE9, which isn't utf-8"),
        ({"encoding": "ascii"}, "try another --encoding"),
    ],
)
def test_bad_encoding_option(tmp_path: Path, options: dict[str, str], expected: str) -> None:
    """A wrong or unknown --encoding is an error naming the file and suggesting --encoding."""
    path = write_text(tmp_path, "Name,Unit Number\nJos\u00e9,1\n", "cp1252")
    with pytest.raises(InputError) as caught:
        read(path, **options)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    """A missing path or a folder is an error naming it."""
    with pytest.raises(InputError, match=r"missing\.csv: file not found"):
        read(tmp_path / "missing.csv")
    (tmp_path / "folder.xlsx").mkdir()
    with pytest.raises(InputError, match=r"folder\.xlsx is a folder"):
        read(tmp_path / "folder.xlsx")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission is an error naming it."""
    path = write_text(tmp_path, "Name\nA\n")
    path.chmod(0)
    try:
        with pytest.raises(InputError, match=r"r\.csv can't be read \(permission denied\)"):
            read(path)
    finally:
        path.chmod(0o600)


def test_permission_denied_is_reported_even_when_running_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permission message is checked with a refusing read, since root could read the file."""

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    path = write_text(tmp_path, "Name\nA\n")
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match=r"r\.csv can't be read \(permission denied\)"):
        read(path)


def test_empty_sheet_is_an_error(tmp_path: Path) -> None:
    """A sheet with no cells at all is an error that suggests --sheet."""
    with pytest.raises(InputError, match=r"roster\.xlsx, sheet 'Roster' is empty: .*--sheet"):
        read(save(tmp_path, lambda wb: None))


def test_no_visible_sheet(tmp_path: Path) -> None:
    """A workbook whose only worksheets are hidden is an error asking for --sheet."""

    def build(wb: Workbook) -> None:
        sheet_of(wb).append(["Name"])
        sheet_of(wb).sheet_state = "hidden"
        wb.create_chartsheet("Chart")

    with pytest.raises(InputError, match=r"has no visible worksheet: name one with --sheet"):
        read(save(tmp_path, build))


def test_chart_sheet_is_refused(tmp_path: Path) -> None:
    """Naming a chart sheet is an error, not an empty roster."""

    def build(wb: Workbook) -> None:
        sheet_of(wb).append(["Name"])
        wb.create_chartsheet("Chart")

    with pytest.raises(InputError, match=r"sheet 'Chart' is a chart"):
        read(save(tmp_path, build), sheet="Chart")


def test_reading_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    """The collector paused for speed is enabled again afterwards, even after an error."""
    assert gc.isenabled()
    read(write_text(tmp_path, "Name\nA\n"))
    assert gc.isenabled()
    with pytest.raises(InputError):
        read(write_text(tmp_path, "nothing here\n"))
    assert gc.isenabled()


def _stream(records: list[Record | Plain], count_gaps: bool, text: bool) -> tuple[Any, ...]:
    """The rows, blank-row count and warnings a RowStream makes of records below a header."""
    source = Source("r.csv", ".csv", b"x", None, "r")
    roster = Roster(
        source,
        "csv",
        sheet=None,
        encoding=None,
        delimiter=None,
        header_row=1,
        columns=("Unit Number", "Account UUID", "Name"),
        rows=iter(()),
        warnings=[],
    )
    layout = Layout("r.csv", str, count_gaps=count_gaps, text=text)
    rows = list(RowStream(roster, layout, iter(records), [0, 1]))
    return rows, roster.blank_rows, roster.warnings


@pytest.mark.parametrize("seed", range(20))
def test_plain_records_make_the_same_rows_as_full_records(seed: int) -> None:
    """Rows handed over as plain (number, cells) take the quick path; the rows, blank-row counts
    and warnings are those the same rows make as full records (blank, short, long, one-cell text
    or number rows, footers held back, gaps in the numbering)."""
    rng = random.Random(seed)
    cells_of = [
        ["", "", ""],
        ["7", "", ""],
        ["Total", "", ""],
        ["", "", "Ann"],
        ["7", "u", "Ann"],
        ["7", "u", ""],
        ["7", "u"],
        ["7"],
        ["7", "u", "Ann", "extra"],
        ["", "", "", "x"],
        ["Total: 3"],
    ]
    plain: list[Record | Plain] = []
    full: list[Record | Plain] = []
    number = 1
    for _ in range(rng.randint(0, 60)):
        number += rng.choice([1, 1, 1, 2, 5])
        cells = rng.choice(cells_of)
        plain.append((number, tuple(cells)))
        full.append(Record(number, list(cells)))
    for count_gaps, text in ((False, True), (True, False)):
        assert _stream(plain, count_gaps, text) == _stream(full, count_gaps, text)
