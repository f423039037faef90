"""Reading, mapping and validating a whole roster: duplicates, verdicts, payload lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ACCOUNT_A, ACCOUNT_B, RosterWriter

from bulk_ident.errors import InputError
from bulk_ident.identifier import DEFAULTS, Normalised
from bulk_ident.prepare import Duplicates, ReadOptions, api_text, prepare
from bulk_ident.report.report import API_COLUMNS, check_sheet, payload_lines
from bulk_ident.words import Result

DUPLICATE, INVALID, WOULD_CREATE = Result.DUPLICATE, Result.INVALID, Result.VALID

HEADER = ["Account UUID", "Unit #", "Name", "Status"]


def find_duplicates(rows: list[Normalised]) -> dict[int, int]:
    """Row number -> the earlier row it repeats, as the streaming check finds them."""
    dupes = Duplicates()
    found = {n.row: dupes.first_of(n)[0] for n in rows}
    return {row: first for row, first in found.items() if first is not None}


def _n(row: int, account: str | None, unit: str | None, valid: bool = True) -> Normalised:
    return Normalised(row, account, unit, {} if valid else None)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([_n(2, ACCOUNT_A, "1-ADAM-12"), _n(3, ACCOUNT_A, "1-adam-12")], {3: 2}),
        ([_n(2, ACCOUNT_A, "007"), _n(3, ACCOUNT_B, "007")], {}),
        ([_n(2, ACCOUNT_A, "007"), _n(3, ACCOUNT_A, "7")], {}),
        ([_n(2, ACCOUNT_A, "A"), _n(3, ACCOUNT_A, "a"), _n(4, ACCOUNT_A, "A")], {3: 2, 4: 2}),
        ([_n(2, None, "A"), _n(3, None, "A")], {}),
        ([_n(2, ACCOUNT_A, None), _n(3, ACCOUNT_A, None)], {}),
        ([_n(2, ACCOUNT_A, "A", valid=False), _n(3, ACCOUNT_A, "A")], {3: 2}),
        ([_n(5, ACCOUNT_A, "Straße"), _n(9, ACCOUNT_A, "STRASSE")], {9: 5}),
    ],
)
def test_find_duplicates(rows: list[Normalised], expected: dict[int, int]) -> None:
    """Later rows with the same account and unit number (case ignored) point at the first one."""
    assert find_duplicates(rows) == expected


def test_prepare_verdicts_and_duplicates(csv_roster: RosterWriter) -> None:
    """prepare() gives each row a verdict; a duplicate keeps its payload but is not sent."""
    path = csv_roster(
        [
            HEADER,
            [ACCOUNT_A, "1-ADAM-12", "José", "Available"],
            [ACCOUNT_A.upper(), "1-adam-12", "José again", "Busy"],
            [ACCOUNT_B, "1-ADAM-12", "Other account", ""],
            ["", "1-ADAM-13", "No account", ""],
        ]
    )
    prep = prepare(path)
    assert [c.row.number for c in prep.rows] == [2, 3, 4, 5]
    assert [c.verdict for c in prep.rows] == [WOULD_CREATE, DUPLICATE, WOULD_CREATE, INVALID]
    assert [c.row.number for c in prep.valid] == [2, 4]
    dup = prep.rows[1]
    assert dup.duplicate_of == 2
    assert not dup.valid
    assert dup.norm.payload is not None
    assert dup.problems == ["duplicate of row 2 (same account and unit number)"]
    assert prep.rows[3].problems == ["column 'Account UUID': the account is missing"]
    assert (prep.tally[WOULD_CREATE], prep.tally[INVALID], prep.tally[DUPLICATE]) == (2, 1, 1)
    assert prep.where == "roster.csv"
    assert prep.warnings == []


def test_duplicate_of_an_invalid_row_lists_both_problems(csv_roster: RosterWriter) -> None:
    """An invalid row that repeats an earlier one reports its own problems and the duplicate."""
    path = csv_roster(
        [HEADER, [ACCOUNT_A, "A", "x", "Busy"], [ACCOUNT_A, "a", "y", "On Patrol"]],
    )
    second = prepare(path).rows[1]
    assert second.verdict == INVALID
    assert second.problems[0].startswith("column 'Status': 'On Patrol' is not a status")
    assert second.problems[1] == "duplicate of row 2 (same account and unit number)"


def test_prepare_applies_map_and_default(csv_roster: RosterWriter) -> None:
    """--map and --default reach the payload; unmapped columns become one warning."""
    path = csv_roster(
        [
            ["Member", "Badge", "Dept", "Notes"],
            [ACCOUNT_A, "101", "", "n"],
            [ACCOUNT_B, "102", "X", ""],
        ]
    )
    prep = prepare(
        path,
        ReadOptions(
            maps=["Member=accountUuid", "Badge=unitNum"],
            defaults=["department=LSPD", "status=on scene"],
        ),
    )
    payloads = [c.norm.payload for c in prep.valid]
    assert [(p["unitNum"], p["department"], p["status"]) for p in payloads if p] == [
        ("101", "LSPD", 4),
        ("102", "X", 4),
    ]
    assert prep.warnings == [
        "columns not sent (no matching property): 'Notes'; name them with --map "
        "'Column=property' if they should be"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"maps": ["Badge"]}, r"--map 'Badge': write it as NAME=VALUE"),
        ({"maps": ["Badge=unitNum"]}, r"roster.csv has no column 'Badge'"),
        ({"maps": ["Name=serial"]}, r"'serial' is not a property"),
        ({"defaults": ["status=On Patrol"]}, r"--default status=On Patrol: 'On Patrol' is not"),
        ({"defaults": ["department"]}, r"--default 'department': write it as NAME=VALUE"),
    ],
)
def test_prepare_option_errors(
    csv_roster: RosterWriter, kwargs: dict[str, list[str]], message: str
) -> None:
    """Bad --map and --default values raise InputError before any row is judged."""
    path = csv_roster([HEADER, [ACCOUNT_A, "1", "a", ""]])
    with pytest.raises(InputError, match=message):
        prepare(path, ReadOptions(**kwargs))  # type: ignore[arg-type]


def test_prepare_two_columns_for_one_property(csv_roster: RosterWriter) -> None:
    """Two columns meaning one property are an InputError naming the file and both columns."""
    path = csv_roster([["Account", "Unit", "Callsign"], [ACCOUNT_A, "1", "2"]])
    with pytest.raises(InputError, match=r"roster.csv: columns 'Unit' and 'Callsign' both mean"):
        prepare(path)
    prep = prepare(path, ReadOptions(maps=["Callsign=unitNum"]))
    assert [c.norm.unit_num for c in prep.rows] == ["2"]
    assert "'Unit'" in prep.warnings[0]


def test_prepare_xlsx_names_the_sheet(xlsx_roster: RosterWriter) -> None:
    """An xlsx roster is described with its sheet, and numeric cells read as displayed."""
    path = xlsx_roster([["Title row"], HEADER, [ACCOUNT_A, 101, "Ann", 2]])
    prep = prepare(path)
    assert prep.where == "roster.xlsx, sheet 'Roster'"
    assert prep.rows[0].row.number == 3
    assert prep.rows[0].norm.payload is not None
    assert prep.rows[0].norm.payload["unitNum"] == "101"
    assert prep.rows[0].norm.payload["status"] == 2


def test_payload_lines_exact_shape(csv_roster: RosterWriter) -> None:
    """Each valid row is one JSON line: row, canonical accountUuid, and all 11 properties."""
    path = csv_roster(
        [
            ["Title"],
            [*HEADER, "Dispatcher"],
            ["{" + ACCOUNT_A.upper() + "}", "007", "Zoë Müller", "On Scene", "x"],
            ["", "bad", "", "", ""],
            [ACCOUNT_B, "=1+1", "", "", ""],
        ]
    )
    lines = list(payload_lines(prepare(path).rows))
    assert lines[0] == (
        '{"row": 3, "accountUuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "payload": '
        '{"status": 4, "aop": "", "unitNum": "007", "name": "Zoë Müller", "district": '
        '"NOT SET", "department": "NOT SET", "subdivision": "NOT SET", "rank": "NOT SET", '
        '"group": "", "page": -1, "isDispatch": true}}'
    )
    second = json.loads(lines[1])
    assert list(second) == ["row", "accountUuid", "payload"]
    assert second["row"] == 5
    assert second["payload"] == {**DEFAULTS, "unitNum": "=1+1"}
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [("LSPD", "LSPD"), ("", ""), (4, "4"), (-1, "-1"), (True, "true"), (False, "false")],
)
def test_api_text(value: object, expected: str) -> None:
    """Payload values appear in the results sheet as they appear in JSON."""
    assert api_text(value) == expected


def test_check_table_shape(csv_roster: RosterWriter) -> None:
    """The results table is every original column, then Row, Result, Problems and API values."""
    path = csv_roster(
        [
            [*HEADER, "Notes"],
            [ACCOUNT_A, "007", "Ann", "Busy", "n1"],
            [ACCOUNT_A, "007", "Ann", "", ""],
            ["nope", "008", "Bob", "", ""],
        ]
    )
    prep = prepare(path)
    sheet = check_sheet(prep, prep.stream())
    header = sheet.header
    assert header == ["Row", "Result", "Problems", *HEADER, "Notes", *API_COLUMNS]
    assert API_COLUMNS[0] == "API accountUuid"
    assert len(API_COLUMNS) == 12
    assert sheet.numbers == {0}
    table = [[*r[3:8], *r[:3], *r[8:]] for r in sheet.rows]  # roster columns first, as before
    assert table[0] == [
        ACCOUNT_A,
        "007",
        "Ann",
        "Busy",
        "n1",
        "2",
        "valid",
        "",
        ACCOUNT_A,
        "1",
        "",
        "007",
        "Ann",
        "NOT SET",
        "NOT SET",
        "NOT SET",
        "NOT SET",
        "",
        "-1",
        "false",
    ]
    assert table[1][5:8] == ["3", "duplicate", "duplicate of row 2 (same account and unit number)"]
    assert table[1][8] == ACCOUNT_A
    assert table[2][5:7] == ["4", "invalid"]
    assert table[2][7].startswith("column 'Account UUID': 'nope' is not an account UUID")
    assert table[2][8:] == [""] * 12
    assert all(len(r) == len(header) for r in table)


def test_prepare_reads_samples_consistently() -> None:
    """The xlsx and csv samples give the same verdicts on the same row numbers."""
    samples = Path(__file__).resolve().parent.parent / "samples"
    xlsx, csv = prepare(samples / "roster.xlsx"), prepare(samples / "roster.csv")
    assert [(c.row.number, c.verdict, c.problems) for c in xlsx.rows] == [
        (c.row.number, c.verdict, c.problems) for c in csv.rows
    ]
    assert (len(xlsx.rows), len(xlsx.valid), xlsx.tally[INVALID], xlsx.tally[DUPLICATE]) == (
        29,
        25,
        3,
        1,
    )
