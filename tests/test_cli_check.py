"""`bulk-ident check` and `template` through the command line: exit codes, output, golden files."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ACCOUNT_A, ACCOUNT_B, GOLDEN, SAMPLES, RosterWriter

from bulk_ident.cli import cli, main

HEADER = ["Account UUID", "Unit #", "Name", "Status"]
GOLDEN_PAYLOADS = GOLDEN / "roster.payloads.jsonl"
GOLDEN_SUMMARY = GOLDEN / "check_summary.txt"


def run_check(*args: str | Path) -> Result:
    """Run `bulk-ident check ARGS` in-process with click's runner."""
    return CliRunner().invoke(cli, ["check", *map(str, args)])


def run_main(
    args: Sequence[str | Path], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the console-script entry point; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


# -- golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["roster.xlsx", "roster.csv"])
def test_samples_match_golden_payloads(tmp_path: Path, sample: str) -> None:
    """check of either sample writes exactly the golden payloads file."""
    payloads = tmp_path / "out.jsonl"
    result = run_check(SAMPLES / sample, "--results", tmp_path / sample, "--payloads", payloads)
    assert result.exit_code == 1, result.output
    assert payloads.read_bytes() == GOLDEN_PAYLOADS.read_bytes()
    assert f"Payloads: {payloads} (25 rows)" in result.output


def test_windows_1252_semicolon_copy_matches_golden(tmp_path: Path) -> None:
    """A Windows-1252 copy of the sample CSV with ; keeps accents and gives the same bodies."""
    with (SAMPLES / "roster.csv").open(encoding="utf-8-sig", newline="") as fh:
        records = list(csv.reader(fh))
    copy = tmp_path / "roster-ansi.csv"
    with copy.open("w", encoding="cp1252", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(records)
    assert "Zoë Müller".encode("cp1252") in copy.read_bytes()
    payloads = tmp_path / "out.jsonl"
    result = run_check(copy, "--payloads", payloads)
    assert result.exit_code == 1, result.output
    assert payloads.read_bytes() == GOLDEN_PAYLOADS.read_bytes()
    assert result.output.startswith(
        "Checked roster-ansi.csv (header on row 3, Windows-1252, semicolon-separated)\n"
    )
    results = tmp_path / "roster-ansi.check.csv"
    text = results.read_text(encoding="utf-8-sig")
    assert "Zoë Müller" in text
    assert text.splitlines()[0].startswith("Row;Result;Problems;Account UUID;unit #;Full Name;")


def test_summary_matches_golden(tmp_path: Path) -> None:
    """The printed summary of samples/roster.xlsx is exactly the golden text (paths normalised)."""
    result = run_check(
        SAMPLES / "roster.xlsx",
        "--results",
        tmp_path / "roster.results.xlsx",
        "--payloads",
        tmp_path / "roster.payloads.jsonl",
    )
    assert result.exit_code == 1
    assert result.output.replace(str(tmp_path), "<tmp>") == GOLDEN_SUMMARY.read_text("utf-8")


# -- exit codes and output -------------------------------------------------------------------


def test_all_valid_exits_0(csv_roster: RosterWriter) -> None:
    """A roster whose rows are all valid exits 0 and says so."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "Ann", "Busy"], [ACCOUNT_B, "2", "Bob", ""]])
    result = run_check(path)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Checked roster.csv (header on row 1, UTF-8, comma-separated)\n"
        "  2 rows read: 2 valid, 0 invalid, 0 duplicate; 0 blank rows skipped; 0 warnings\n"
        f"Results: {path.with_name('roster.check.csv')}\n"
    )


@pytest.mark.parametrize(
    ("rows", "counts"),
    [
        ([[ACCOUNT_A, "1", "Ann", "Nope"]], "1 row read: 0 valid, 1 invalid, 0 duplicate"),
        (
            [[ACCOUNT_A, "1", "A", ""], [ACCOUNT_A, "1", "B", ""]],
            "2 rows read: 1 valid, 0 invalid, 1",
        ),
        ([["", "1", "Ann", ""], [ACCOUNT_B, "2", "Bob", ""]], "2 rows read: 1 valid, 1 invalid"),
    ],
)
def test_invalid_or_duplicate_exits_1(
    csv_roster: RosterWriter, rows: list[list[str]], counts: str
) -> None:
    """Any invalid or duplicate row makes check exit 1."""
    result = run_check(csv_roster([HEADER, *rows]))
    assert result.exit_code == 1, result.output
    assert counts in result.output


def test_summary_lists_warnings_and_problems_with_rows(csv_roster: RosterWriter) -> None:
    """The summary shows warnings, blank rows, and each problem with its row number."""
    path = csv_roster(
        [
            ["Roster title", "", "", "", ""],
            [*HEADER, "Notes"],
            [ACCOUNT_A, "1", "Ann", "On Patrol", ""],
            ["", "", "", "", ""],
            [ACCOUNT_A, "1", "Ann", "", ""],
            ["bad", "2", "x\ty", "", ""],
        ]
    )
    result = run_check(path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1] == (
        "  3 rows read: 0 valid, 2 invalid, 1 duplicate; 1 blank row skipped; 1 warning"
    )
    assert lines[2].startswith("  warning: columns not sent (no matching property): 'Notes'")
    assert lines[3].startswith("  row 3, column 'Status': 'On Patrol' is not a status")
    assert lines[4] == "  row 5: duplicate of row 3 (same account and unit number)"
    assert lines[5].startswith("  row 6, column 'Account UUID': 'bad' is not an account UUID")
    assert lines[6].startswith("  row 6, column 'Name': holds a line break, tab")


def test_summary_shows_the_first_ten_problems(csv_roster: RosterWriter) -> None:
    """Past ten problems the summary points to the results sheet for the rest."""
    path = csv_roster([HEADER, *([f"bad{i}", str(i), "", ""] for i in range(12))])
    result = run_check(path)
    assert result.exit_code == 1
    problem_lines = [ln for ln in result.output.splitlines() if ln.startswith("  row ")]
    assert len(problem_lines) == 10
    assert problem_lines[-1].startswith("  row 11, ")
    assert "  ... and 2 more in the results sheet" in result.output


@pytest.mark.parametrize(
    ("name", "results_name"),
    [
        ("roster.xlsx", "roster.check.xlsx"),
        ("roster.xlsm", "roster.check.xlsx"),
        ("roster.csv", "roster.check.csv"),
        ("roster.tsv", "roster.check.tsv"),
        ("Roster.CSV", "Roster.check.csv"),
    ],
)
def test_default_results_path_beside_roster(
    csv_roster: RosterWriter, xlsx_roster: RosterWriter, name: str, results_name: str
) -> None:
    """Without --results the results sheet goes beside the roster, in the roster's format."""
    rows = [HEADER, [ACCOUNT_A, "1", "Ann", ""]]
    if name.endswith((".xlsx", ".xlsm")):
        path = xlsx_roster(rows, name)
    else:
        path = csv_roster(rows, name, delimiter="\t" if name.endswith(".tsv") else ",")
    result = run_check(path)
    assert result.exit_code == 0, result.output
    out = path.with_name(results_name)
    assert out.exists()
    assert f"Results: {out}\n" in result.output
    head = out.read_bytes()[:4]
    assert (head == b"PK\x03\x04") is results_name.endswith(".xlsx")


def test_results_and_payloads_options(tmp_path: Path, csv_roster: RosterWriter) -> None:
    """--results and --payloads write where asked (creating folders), in the asked format."""
    path = csv_roster([HEADER, [ACCOUNT_A, "007", "Ann", "busy"], ["", "2", "", ""]])
    results = tmp_path / "out" / "check.xlsx"
    payloads = tmp_path / "out" / "bodies.jsonl"
    result = run_check(path, "--results", results, "--payloads", payloads)
    assert result.exit_code == 1
    assert results.read_bytes()[:2] == b"PK"
    assert not path.with_name("roster.check.csv").exists()
    lines = payloads.read_text("utf-8").splitlines()
    assert [json.loads(x)["payload"]["unitNum"] for x in lines] == ["007"]
    assert result.output.endswith(f"Results: {results}\nPayloads: {payloads} (1 row)\n")


# -- every bad input: exit 2, one short message, no traceback --------------------------------


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _folder(tmp: Path) -> Path:
    path = tmp / "roster.csv"
    path.mkdir()
    return path


def _csv(rows: list[list[str]], name: str = "roster.csv") -> Callable[[Path], Path]:
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    return _write(name, text.encode())


_OLE = bytes.fromhex("D0CF11E0A1B11AE1")
_GOOD = _csv([HEADER, [ACCOUNT_A, "1", "Ann", ""]])
_GOOD_XLSX = "roster.xlsx"  # built by the test with openpyxl

BAD_INPUTS: list[tuple[str, Callable[[Path], Path] | str, list[str], str, str]] = [
    # id, file maker, extra options, name in message, what the message says
    ("missing", lambda t: t / "nope.csv", [], "nope.csv", "file not found"),
    ("folder", _folder, [], "roster.csv", "is a folder"),
    ("xls", _write("roster.xls", _OLE + b"junk"), [], "roster.xls", "save it as .xlsx or .csv"),
    ("ods", _write("roster.ods", b"PK\x03\x04junk"), [], "roster.ods", "save it as .xlsx or .csv"),
    ("numbers", _write("roster.numbers", b"junk"), [], "roster.numbers", "export it as .xlsx"),
    ("unknown-ext", _write("roster.pdf", b"%PDF-1.4"), [], "roster.pdf", "unsupported file type"),
    ("no-ext", _write("roster", b"a,b"), [], "roster", "unsupported file type"),
    ("empty-csv", _write("roster.csv", b""), [], "roster.csv", "is empty"),
    ("blank-csv", _write("roster.csv", b"\r\n  \r\n"), [], "roster.csv", "is empty"),
    ("empty-xlsx", _write("roster.xlsx", b""), [], "roster.xlsx", "is empty"),
    ("corrupt-xlsx", _write("roster.xlsx", os.urandom(512)), [], "roster.xlsx", "not a valid"),
    ("bad-zip-xlsx", _write("roster.xlsx", b"PK\x03\x04" + b"\0" * 64), [], "roster.xlsx", "valid"),
    ("ole-xlsx", _write("roster.xlsx", _OLE + os.urandom(600)), [], "roster.xlsx", "save it"),
    (
        "encrypted-xlsx",
        _write(
            "roster.xlsx", _OLE + b"\0" * 64 + "EncryptionInfo".encode("utf-16-le") + b"\0" * 64
        ),
        [],
        "roster.xlsx",
        "password-protected",
    ),
    ("no-header", _csv([["a", "b"], ["1", "2"]]), [], "roster.csv", "no header row found"),
    (
        "no-account",
        _csv([["Unit #", "Name"], ["1", "Ann"]]),
        [],
        "roster.csv",
        "no column for the account",
    ),
    (
        "two-columns",
        _csv([["Account", "Unit", "Callsign"], [ACCOUNT_A, "1", "2"]]),
        [],
        "roster.csv",
        "columns 'Unit' and 'Callsign' both mean unitNum",
    ),
    ("map-no-column", _GOOD, ["--map", "Badge=unitNum"], "roster.csv", "has no column 'Badge'"),
    ("sheet-name", _GOOD_XLSX, ["--sheet", "Nope"], "roster.xlsx", "no sheet named 'Nope'"),
    ("sheet-number", _GOOD_XLSX, ["--sheet", "3"], "roster.xlsx", "no sheet number 3"),
    ("encoding", _GOOD, ["--encoding", "klingon"], "roster.csv", "unknown --encoding 'klingon'"),
    (
        "wrong-encoding",
        _write("roster.csv", "Account,Unit\r\n\u00e9\u00e9,1\r\n".encode("utf-16-le")),
        ["--encoding", "utf-8"],
        "roster.csv",
        "--encoding",
    ),
]


@pytest.mark.parametrize(
    ("make", "options", "name", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    xlsx_roster: RosterWriter,
    make: Callable[[Path], Path] | str,
    options: list[str],
    name: str,
    message: str,
) -> None:
    """A file or option that can't be used: exit 2, one or two lines naming the file, no trace."""
    path = (
        xlsx_roster([HEADER, [ACCOUNT_A, "1", "Ann", ""]], make)
        if isinstance(make, str)
        else (make(tmp_path))
    )
    code, out, err = run_main(["check", path, *options], capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("bulk-ident: ")
    assert 1 <= len(err.splitlines()) <= 2
    assert name in err
    assert message in err
    assert not list(tmp_path.glob("*.check.*"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--map", "Badge"], "--map 'Badge': write it as NAME=VALUE"),
        (["--map", "Name=serial"], "--map Name=serial: 'serial' is not a property"),
        (["--default", "status=On Patrol"], "--default status=On Patrol: 'On Patrol' is not"),
        (["--default", "rank"], "--default 'rank': write it as NAME=VALUE"),
        (["--default", "rank="], "--default rank=: give a value after '='"),
        (["--default", "badge=1"], "--default badge=1: 'badge' is not a property"),
    ],
)
def test_bad_option_exits_2(
    csv_roster: RosterWriter, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    """A malformed --map or --default exits 2 with one line naming the option (before reading)."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "Ann", ""]])
    code, out, err = run_main(["check", path, *options], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"bulk-ident: {message}")
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_bad_option_is_reported_even_for_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Option errors are found before the file is opened."""
    code, _, err = run_main(["check", tmp_path / "nope.csv", "--default", "x=1"], capsys)
    assert code == 2
    assert "'x' is not a property" in err


def test_results_cannot_overwrite_the_roster(
    csv_roster: RosterWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """--results or --payloads naming the roster itself is refused and the roster is untouched."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "Ann", ""]])
    before = path.read_bytes()
    for option in ("--results", "--payloads"):
        code, out, err = run_main(["check", path, option, path], capsys)
        assert (code, out) == (2, "")
        assert "roster.csv" in err
        assert path.read_bytes() == before


def test_unwritable_results_exits_2(
    tmp_path: Path, csv_roster: RosterWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A results path that can't be written is one line and exit 2."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "Ann", ""]])
    (tmp_path / "file").write_text("not a folder")
    code, _, err = run_main(["check", path, "--results", tmp_path / "file" / "out.csv"], capsys)
    assert code == 2
    assert err.startswith("bulk-ident: can't write ")
    assert "out.csv" in err
    assert len(err.splitlines()) == 1


def test_main_exits_0_through_the_entry_point(
    csv_roster: RosterWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console-script entry point passes check's own exit code through."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "Ann", ""]])
    code, out, err = run_main(["check", path], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("Checked roster.csv")


# -- template --------------------------------------------------------------------------------


def test_template_command(tmp_path: Path) -> None:
    """template writes the xlsx and says what to do with it."""
    path = tmp_path / "new.xlsx"
    result = CliRunner().invoke(cli, ["template", str(path)])
    assert result.exit_code == 0
    assert result.output == (
        f"Template written: {path} (fill in the 'Roster' sheet; 'Columns' explains each)\n"
    )
    assert path.read_bytes()[:2] == b"PK"


def test_template_needs_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """template refuses any other extension with exit 2."""
    code, out, err = run_main(["template", tmp_path / "new.csv"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"bulk-ident: {tmp_path / 'new.csv'}: the template is an Excel file; give a "
        "name ending in .xlsx\n"
    )


def test_template_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """template refuses an existing file (it may be the filled-in roster) and leaves it alone."""
    path = tmp_path / "roster.xlsx"
    path.write_bytes(b"the department's roster")
    code, out, err = run_main(["template", path], capsys)
    assert (code, out) == (2, "")
    assert err == f"bulk-ident: {path} already exists: give a new file name for the template\n"
    assert path.read_bytes() == b"the department's roster"
