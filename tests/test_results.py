"""Results sheets (xlsx and csv, written safely and atomically) and the roster template."""

from __future__ import annotations

import csv
import io
import os
import random
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, cast

import pytest
import python_calamine
from click.testing import CliRunner
from conftest import ACCOUNT_A, ACCOUNT_B, RosterWriter
from openpyxl import load_workbook

from bulk_ident.cli import cli
from bulk_ident.columns import property_for
from bulk_ident.errors import InputError
from bulk_ident.identifier import PROPERTIES
from bulk_ident.prepare import prepare
from bulk_ident.report.report import API_COLUMNS, default_output
from bulk_ident.report.results import (
    CUT_MARKER,
    _Behind,
    check_output,
    neutralise_csv,
    write_table,
)
from bulk_ident.report.template import TEMPLATE_ORDER, write_template

TRICKY = ["007", "=1+1", "@x", "+12", "-5", "-a", "+a", "Zoë Müller", "a & <b>", "  pad  ", "🚓"]


def _calamine_rows(path: Path, sheet: int = 0) -> Sequence[Sequence[object]]:
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        rows: Sequence[Sequence[object]] = workbook.get_sheet_by_index(sheet).to_python()
    finally:
        workbook.close()
    return rows


# -- xlsx ------------------------------------------------------------------------------------


def test_xlsx_keeps_text_as_text(tmp_path: Path) -> None:
    """Every cell is stored as a string: leading zeros stay and nothing becomes a formula."""
    path = tmp_path / "out.xlsx"
    write_table(path, ["Header", "=bad header"], [[v, ""] for v in TRICKY])
    ws = load_workbook(path).active
    assert ws is not None
    assert [c.value for c in ws[1]] == ["Header", "=bad header"]
    cells = [row[0] for row in ws.iter_rows(min_row=2)]
    assert [c.value for c in cells] == TRICKY
    assert {c.data_type for c in cells} == {"s"}
    assert ws.cell(row=1, column=2).data_type == "s"
    assert [row[0] for row in _calamine_rows(path)[1:]] == TRICKY


def test_xlsx_blank_cells_keep_positions(tmp_path: Path) -> None:
    """Empty strings leave gaps without shifting the cells after them."""
    path = tmp_path / "out.xlsx"
    write_table(path, ["a", "b", "c"], [["", "", "3"], ["1", "", ""], ["", "2", ""]])
    assert _calamine_rows(path) == [["a", "b", "c"], ["", "", "3"], ["1", "", ""], ["", "2", ""]]
    ws = load_workbook(path).active
    assert ws is not None
    assert [[c.value for c in r] for r in ws.iter_rows(min_row=2)] == [
        [None, None, "3"],
        ["1", None, None],
        [None, "2", None],
    ]


def test_xlsx_drops_characters_xml_forbids(tmp_path: Path) -> None:
    """Control characters a cell can't hold in XML are dropped so the file still opens."""
    path = tmp_path / "out.xlsx"
    write_table(path, ["h"], [["a\x00b\x1bc"], ["tab\there"], ["line\nbreak"]])
    assert _calamine_rows(path) == [["h"], ["abc"], ["tab\there"], ["line\nbreak"]]


def test_xlsx_sheet_name_is_made_legal(tmp_path: Path) -> None:
    """A sheet name with characters Excel forbids is cleaned and cut to 31 characters."""
    path = tmp_path / "out.xlsx"
    write_table(path, ["h"], [["v"]], sheet="a/b:c*d?" + "x" * 40)
    assert load_workbook(path).sheetnames == ["a_b_c_d_" + "x" * 23]


def test_xlsx_results_hold_every_row_and_column(tmp_path: Path, xlsx_roster: RosterWriter) -> None:
    """check's xlsx results repeat the roster's columns and rows in order, then its own columns."""
    header = ["Account UUID", "Unit #", "Name", "Status", "Notes"]
    rows: list[list[object]] = [
        [ACCOUNT_A.upper(), "007", "Zoë", "on scene", "=1+1"],
        ["nope", 101, "@x", "Patrol", ""],
        [ACCOUNT_A, "007", "", "", "dup"],
    ]
    path = xlsx_roster([["Title"], header, *rows])
    results = tmp_path / "roster.results.xlsx"
    result = CliRunner().invoke(cli, ["check", str(path), "--results", str(results)])
    assert result.exit_code == 1, result.output
    ws = load_workbook(results).active
    assert ws is not None
    found = [[c.value or "" for c in r] for r in ws.iter_rows()]
    assert found[0] == ["Row", "Result", "Problems", *header, *API_COLUMNS]
    values = [[*r[3:8], *r[:3], *r[8:]] for r in found]  # the roster's columns first, below
    assert [r[:5] for r in values[1:]] == [
        [ACCOUNT_A.upper(), "007", "Zoë", "on scene", "=1+1"],
        ["nope", "101", "@x", "Patrol", ""],
        [ACCOUNT_A, "007", "", "", "dup"],
    ]
    assert [r[5:7] for r in values[1:]] == [  # row numbers are numbers, so they sort
        [3, "valid"],
        [4, "invalid"],
        [5, "duplicate"],
    ]
    problems = values[2][7]
    assert isinstance(problems, str)
    assert problems.startswith("column 'Account UUID': 'nope' is not an account UUID (like ")
    assert "column 'Status': 'Patrol' is not a status" in problems
    assert values[3][7] == "duplicate of row 3 (same account and unit number)"
    api = dict(zip(values[0][8:], values[1][8:], strict=True))
    assert api["API accountUuid"] == ACCOUNT_A
    assert (api["API unitNum"], api["API status"], api["API isDispatch"]) == ("007", "4", "false")
    assert ws.cell(row=2, column=5).data_type == "s"
    assert [r[:8] for r in _calamine_rows(results)] == [r[:8] for r in found]


# -- csv -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("@x", "'@x"),
        ("+a", "'+a"),
        ("-a", "'-a"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("\tcmd", "'\tcmd"),
        ("-5", "-5"),
        ("+12", "+12"),
        ("-1.5", "-1.5"),
        ("-1,5", "-1,5"),
        ("-", "'-"),
        ("+1+1", "'+1+1"),
        ("007", "007"),
        ("a=b", "a=b"),
        ("", ""),
        ("Zoë", "Zoë"),
    ],
)
def test_neutralise_csv(text: str, expected: str) -> None:
    """Cells a spreadsheet would run as formulas get an apostrophe; plain numbers stay."""
    assert neutralise_csv(text) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_results_bom_delimiter_neutralised(
    tmp_path: Path, csv_roster: RosterWriter, delimiter: str
) -> None:
    """check's csv results are UTF-8 with BOM, keep the roster's delimiter, and defuse formulas."""
    header = ["Account UUID", "Unit #", "Name", "Notes"]
    path = csv_roster(
        [
            header,
            [ACCOUNT_A, "=1+1", "Zoë", "-5"],
            [ACCOUNT_B, "@x", "+a", "+12"],
            [ACCOUNT_B, "-a", "x;y,z|w", 'a"b'],
        ],
        delimiter=delimiter,
    )
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    data = path.with_name("roster.check.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))
    assert rows[0][:4] == ["Row", "Result", "Problems", header[0]]
    assert [r[3:7] for r in rows[1:]] == [
        [ACCOUNT_A, "'=1+1", "Zoë", "-5"],
        [ACCOUNT_B, "'@x", "'+a", "+12"],
        [ACCOUNT_B, "'-a", "x;y,z|w", 'a"b'],
    ]
    api_unit = rows[0].index("API unitNum")
    # The API columns are neutralised too: the payload itself is what check_table reports.
    assert [r[api_unit] for r in rows[1:]] == ["'=1+1", "'@x", "'-a"]
    assert data.count(b"\r\n") == 4


def test_results_from_csv_roster_can_be_xlsx(tmp_path: Path, csv_roster: RosterWriter) -> None:
    """--results ending in .xlsx gives xlsx whatever the roster's format, with text verbatim."""
    path = csv_roster([["Account", "Unit"], [ACCOUNT_A, "=1+1"]])
    results = tmp_path / "r.xlsx"
    result = CliRunner().invoke(cli, ["check", str(path), "--results", str(results)])
    assert result.exit_code == 0
    assert _calamine_rows(results)[1][3:5] == [ACCOUNT_A, "=1+1"]


@pytest.mark.parametrize(
    ("roster", "kind", "expected"),
    [
        ("r.xlsx", "results", "r.results.xlsx"),
        ("r.XLSM", "results", "r.results.xlsx"),
        ("r.csv", "check", "r.check.csv"),
        ("r.txt", "plan", "r.plan.txt"),
        ("dept.roster.tsv", "results", "dept.roster.results.tsv"),
    ],
)
def test_default_output(tmp_path: Path, roster: str, kind: str, expected: str) -> None:
    """Sheets sit beside the roster, named by what wrote them, in a format its user can open."""
    path = tmp_path / roster
    assert default_output(path, path.stem, path.suffix.lower(), kind) == tmp_path / expected


def test_default_output_for_a_url_roster_is_in_the_current_folder() -> None:
    """A roster fetched from a URL has no folder: its sheets go to the current one."""
    assert default_output(None, "sheet-1AbC", ".xlsx", "results") == Path("sheet-1AbC.results.xlsx")


@pytest.mark.parametrize("target", ["/dev/null", "/proc/self/fd/1", "."])
def test_outputs_that_are_not_regular_files_are_refused(target: str) -> None:
    """A device, a descriptor or a folder is never replaced by a results file."""
    with pytest.raises(InputError, match="not a regular file"):
        check_output(Path(target))


# -- atomic writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.xlsx", "out.csv"])
def test_write_replaces_existing_and_leaves_no_temp(tmp_path: Path, name: str) -> None:
    """Writing over an existing file replaces it whole and leaves no temporary file behind."""
    path = tmp_path / name
    path.write_text("old content")
    write_table(path, ["h"], [["new"]])
    assert path.read_bytes() != b"old content"
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize("name", ["out.xlsx", "out.csv"])
def test_failed_write_keeps_the_old_file(tmp_path: Path, name: str) -> None:
    """If producing the rows fails midway, the old file is untouched and no temp file remains."""
    path = tmp_path / name
    path.write_text("old content")

    def rows() -> Iterator[list[str]]:
        yield ["one"]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_table(path, ["h"], rows())
    assert path.read_text() == "old content"
    assert os.listdir(tmp_path) == [name]


def test_written_file_is_readable_like_any_new_file(tmp_path: Path) -> None:
    """The results file gets the usual permissions (umask), not the private temp-file ones."""
    path = tmp_path / "out.csv"
    write_table(path, ["h"], [["v"]])
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_rewrite_keeps_the_existing_permissions(tmp_path: Path) -> None:
    """Replacing a results file keeps the permissions its owner gave it."""
    path = tmp_path / "out.csv"
    path.write_text("old")
    path.chmod(0o640)
    write_table(path, ["h"], [["v"]])
    assert path.stat().st_mode & 0o777 == 0o640


# -- template --------------------------------------------------------------------------------


def test_template_headers_are_canonical(tmp_path: Path) -> None:
    """The template's headers are one per property and each maps back to it."""
    path = tmp_path / "t.xlsx"
    write_template(path, rows=20)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Roster", "Columns"]
    headers = [c.value for c in wb["Roster"][1]]
    assert headers == [
        "Account UUID",
        "Unit Number",
        "Name",
        "Department",
        "Rank",
        "District",
        "Subdivision",
        "Group",
        "AOP",
        "Status",
        "Page",
        "Is Dispatch",
    ]
    assert [property_for(str(h)) for h in headers] == list(TEMPLATE_ORDER)
    assert sorted(TEMPLATE_ORDER) == sorted(PROPERTIES)
    assert wb["Roster"].freeze_panes == "A2"
    assert wb["Roster"]["B2"].number_format == "@"


def test_template_dropdowns(tmp_path: Path) -> None:
    """Status, page and dispatcher have list validations whose every choice check accepts."""
    from bulk_ident.identifier import parse_value

    path = tmp_path / "t.xlsx"
    write_template(path, rows=20)
    ws = load_workbook(path)["Roster"]
    found = {}
    for dv in ws.data_validations.dataValidation:
        assert dv.type == "list"
        assert dv.allow_blank
        assert dv.formula1 is not None
        found[str(dv.sqref)] = dv.formula1.strip('"').split(",")
    assert found == {
        "J2:J21": ["Unavailable", "Busy", "Available", "Enroute", "On Scene", "Offline"],
        "K2:K21": ["Police", "Fire", "EMS", "Dispatch", "Unknown"],
        "L2:L21": ["Yes", "No"],
    }
    for ref, prop in (("J", "status"), ("K", "page"), ("L", "isDispatch")):
        choices = next(v for k, v in found.items() if k.startswith(ref))
        for choice in choices:
            parse_value(prop, choice)


def test_template_columns_sheet(tmp_path: Path) -> None:
    """The Columns sheet explains each column: property, default, what to put, other names."""
    path = tmp_path / "t.xlsx"
    write_template(path, rows=5)
    rows = [[c.value for c in r] for r in load_workbook(path)["Columns"].iter_rows()]
    assert rows[0] == [
        "Column",
        "API property",
        "Default when blank",
        "What to put in it",
        "Also read",
    ]
    by_prop = {r[1]: r for r in rows[1:]}
    assert list(by_prop) == list(TEMPLATE_ORDER)
    assert by_prop["accountUuid"][2] == "(required)"
    assert by_prop["unitNum"][2] == '"NEW UNIT"'
    assert by_prop["status"][2] == "0"
    assert by_prop["page"][2] == "-1"
    assert by_prop["isDispatch"][2] == "false"
    assert "At most 64 characters." in str(by_prop["unitNum"][3])
    assert "Callsign" in str(by_prop["unitNum"][4])


def test_filled_template_passes_check(tmp_path: Path) -> None:
    """A template filled in with dropdown choices reads back as valid rows, zeros kept."""
    path = tmp_path / "t.xlsx"
    write_template(path, rows=50)
    wb = load_workbook(path)
    ws = wb["Roster"]
    for r, values in enumerate(
        [
            [ACCOUNT_A, "007", "Ann", "LSPD", "", "", "", "", "", "On Scene", "Police", "No"],
            [ACCOUNT_B, "D-1", "Bob", "", "", "", "", "", "", "Available", "Dispatch", "Yes"],
        ],
        start=2,
    ):
        for c, value in enumerate(values, start=1):
            ws.cell(row=r, column=c, value=value or None)
    wb.save(path)
    prep = prepare(path)
    assert [c.verdict for c in prep.rows] == ["valid", "valid"]
    assert prep.warnings == []
    assert prep.roster.blank_rows == 0
    payloads = [c.norm.payload for c in prep.rows]
    assert payloads[0] is not None
    assert payloads[1] is not None
    assert (payloads[0]["unitNum"], payloads[0]["status"], payloads[0]["page"]) == ("007", 4, 0)
    assert (payloads[1]["isDispatch"], payloads[1]["page"]) == (True, 3)


def test_xlsx_number_columns_hold_numbers_and_everything_else_stays_text(tmp_path: Path) -> None:
    """Whole numbers in the named columns are numbers (they sort as numbers); the rest is text."""
    path = tmp_path / "r.xlsx"
    rows = [["007", "12", "x", "3"], ["=1+1", "007", "", "-4"], ["a&b", "", "<y>", "1e5"]]
    write_table(path, ["Unit", "Row", "Result", "identId"], rows, numbers={1, 3})
    ws = load_workbook(path).active
    assert ws is not None
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert got == [["007", 12, "x", 3], ["=1+1", "007", None, -4], ["a&b", None, "<y>", "1e5"]]
    assert ws["A3"].data_type == "s"


# -- easy to scan: styles, frozen header, filter, widths, Summary --------------------------------

GREEN, RED, AMBER = "FFC6EFCE", "FFFFC7CE", "FFFFEB9C"


def test_xlsx_result_cells_are_coloured_by_their_word(tmp_path: Path) -> None:
    """In the Result column, done words are green, failures and bad rows red, undecided amber,
    the rest plain; other columns and the bold header are never filled."""
    words = {
        "created": GREEN,
        "updated": GREEN,
        "recreated": GREEN,
        "restored": GREEN,
        "failed": RED,
        "invalid": RED,
        "duplicate": RED,
        "unknown": AMBER,
        "not attempted": AMBER,
        "unchanged": "00000000",
        "already on server": "00000000",
    }
    path = tmp_path / "out.xlsx"
    rows = [[str(i), word, "created"] for i, word in enumerate(words, start=2)]
    write_table(path, ["Row", "Result", "Notes"], rows, numbers={0})
    ws = load_workbook(path).active
    assert ws is not None
    got = {
        ws.cell(row=r, column=2).value: ws.cell(row=r, column=2).fill.fgColor.rgb
        for r in range(2, len(words) + 2)
    }
    assert got == words
    assert {ws.cell(row=r, column=3).fill.fill_type for r in range(2, len(words) + 2)} == {None}
    assert ws.cell(row=2, column=2).data_type == "s"
    assert ws["A2"].value == 2
    assert [c.font.b for c in ws[1]] == [True, True, True]
    assert ws["B2"].font.color.rgb == "FF006100"


def test_xlsx_header_frozen_filtered_and_columns_fitted(tmp_path: Path) -> None:
    """The header row is frozen, the filter covers every row, widths fit the header and the
    first 1,000 rows (capped), so a long cell further down does not widen its column."""
    path = tmp_path / "out.xlsx"
    rows = [["r", "short", "x" * 200] for _ in range(1000)]
    rows.append(["r", "y" * 40, "z"])
    write_table(path, ["Result", "Name", "Long"], rows)
    ws = load_workbook(path).active
    assert ws is not None
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C1002"
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    assert widths == {"A": 11, "B": 9, "C": 60}


def test_xlsx_summary_sheet_is_written_after_the_rows(tmp_path: Path) -> None:
    """A Summary given as a function is called once the rows are written (a streamed sheet's
    counts are complete only then); its labels are bold or in their result's colour and whole
    numbers are numbers; calamine reads both sheets."""
    path = tmp_path / "out.xlsx"
    seen: list[str] = []

    def rows() -> Iterator[list[str]]:
        for i in range(3):
            seen.append(f"row {i}")
            yield [str(i), "created"]

    def summary() -> list[tuple[str, str]]:
        seen.append("summary")
        return [("Command", "bulk-ident import r.csv & <more>"), ("", ""), ("created", "3")]

    write_table(path, ["Row", "Result"], rows(), summary=summary)
    assert seen == ["row 0", "row 1", "row 2", "summary"]
    wb = load_workbook(path)
    assert wb.sheetnames == ["Results", "Summary"]
    ws = wb["Summary"]
    assert [[c.value for c in r] for r in ws.iter_rows()] == [
        ["Command", "bulk-ident import r.csv & <more>"],
        [None, None],
        ["created", 3],
    ]
    assert ws["A1"].font.b
    assert ws["A3"].fill.fgColor.rgb == GREEN
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    assert workbook.sheet_names == ["Results", "Summary"]
    assert workbook.get_sheet_by_name("Summary").to_python()[2] == ["created", 3.0]
    workbook.close()


def test_csv_has_no_summary_sheet(tmp_path: Path) -> None:
    """A CSV holds one table: a Summary is not written into it, and never called."""
    path = tmp_path / "out.csv"

    def summary() -> list[tuple[str, str]]:
        raise AssertionError("not for csv")

    write_table(path, ["Row", "Result"], [["2", "created"]], summary=summary)
    assert path.read_bytes().decode("utf-8-sig") == "Row,Result\r\n2,created\r\n"


def test_check_sheet_summary_counts_the_rows(tmp_path: Path, csv_roster: RosterWriter) -> None:
    """check's xlsx sheet has a Summary with the command, the time and the counts."""
    path = csv_roster([["Account", "Unit"], [ACCOUNT_A, "1"], ["bad", "2"]])
    results = tmp_path / "check.xlsx"
    result = CliRunner().invoke(cli, ["check", str(path), "--results", str(results)])
    assert result.exit_code == 1
    lines = {r[0]: r[1] for r in load_workbook(results)["Summary"].iter_rows(values_only=True)}
    assert lines["Sheet"] == "check (nothing was sent)"
    assert lines["Roster"] == "roster.csv"
    assert str(lines["Command"]).startswith("bulk-ident ")
    assert (lines["valid"], lines["invalid"]) == (1, 1)
    assert "Started" in lines


# -- the writers' fast paths ---------------------------------------------------------------------


def _csv_module_bytes(rows: list[list[str]], delimiter: str) -> bytes:
    """What the csv module writes for these rows, formulas neutralised, after a UTF-8 BOM; but
    a row of one empty cell is an empty line, as the results writer has always written it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    for row in rows:
        if row == [""]:
            out.write("\r\n")
        else:
            writer.writerow([neutralise_csv(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_is_written_byte_for_byte_as_the_csv_module_writes_it(
    tmp_path: Path, delimiter: str
) -> None:
    """Thousands of rows, mostly plain and a few with quotes, delimiters, line breaks, NULs,
    formulas or signed numbers, come out exactly as the csv module writes them."""
    rng = random.Random(delimiter)
    plain = ["a", "Zoë", "007", "", "x y", "-5", "+1.5", "12", "🚓"]
    tricky = ['"', ",", ";", "\t", "|", "\n", "\r", "\r\n", "\x00", "=1", "@a", "-a", "+a", "\t1"]
    rows = [[rng.choice(plain) for _ in range(rng.randint(1, 8))] for _ in range(30_000)]
    for n, piece in enumerate(tricky):  # one of each, each in a batch of 2,000 rows of its own
        rows[n * 2000 + 17].insert(rng.randint(0, 3), rng.choice(["", "x"]) + piece)
    rows += [[""], ["a"], [""]]
    path = tmp_path / "out.csv"
    write_table(path, ["h1", "h2"], rows, delimiter=delimiter)
    assert path.read_bytes() == _csv_module_bytes([["h1", "h2"], *rows], delimiter)


def test_xlsx_marks_kept_spaces_only_where_a_chunk_needs_them(tmp_path: Path) -> None:
    """Spaces at either end of a cell, tabs and line breaks read back exactly; a sheet with none
    of them carries no xml:space marks (a mark on every cell made the XML a third bigger)."""
    spaced = [" lead", "trail ", "tab\there", "line\nbreak", "plain"]
    path = tmp_path / "spaced.xlsx"
    write_table(path, ["a", "b", "c", "d", "e"], [spaced] * 3)
    ws = load_workbook(path).active
    assert ws is not None
    assert [[c.value for c in r] for r in ws.iter_rows(min_row=2)] == [spaced] * 3
    assert _calamine_rows(path)[1:] == [spaced] * 3
    plain = tmp_path / "plain.xlsx"
    write_table(plain, ["a", "b"], [["x y", "z"]] * 3)
    assert b"xml:space" not in zipfile.ZipFile(plain).read("xl/worksheets/sheet1.xml")
    assert _calamine_rows(plain)[1:] == [["x y", "z"]] * 3


def test_xlsx_cells_too_long_are_cut_among_thousands_of_rows(tmp_path: Path) -> None:
    """A cell longer than Excel allows, deep in a large sheet and next to a special column, is
    cut and marked; its neighbours and the rows around it are untouched."""
    rows = [[str(n), "valid", f"name {n}"] for n in range(5000)]
    rows[4321][2] = "x" * 40_000
    path = tmp_path / "long.xlsx"
    write_table(path, ["Row", "Result", "Name"], rows, numbers=[0])
    read = _calamine_rows(path)
    assert len(str(read[4322][2])) == 32_767
    assert str(read[4322][2]).endswith(CUT_MARKER)
    assert read[4322][:2] == [4321, "valid"]
    assert read[4323] == [4322, "valid", "name 4322"]


def test_a_write_failing_in_the_writer_thread_is_raised_to_the_caller() -> None:
    """When the second thread's write fails (a full disk), the next write or the end of the
    block raises that error, and the thread is done."""

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    behind = _Behind(cast(IO[bytes], Full()))  # a raw stream that fails as a full disk does
    with pytest.raises(OSError, match="No space left"), behind as out:  # noqa: PT012
        for _ in range(10):
            out.write(b"x" * 10)
    assert not behind._thread.is_alive()
