"""Reading, mapping and validating a whole roster: duplicates, verdicts, payload lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import cast

import pytest
from conftest import ACCOUNT_A, ACCOUNT_B, RosterWriter

from bulk_ident.cad.accounts import AccountDirectory
from bulk_ident.errors import InputError
from bulk_ident.identifier import DEFAULTS, Normalised, Payload
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
    # An empty payload: duplicates are found by key, whatever the payload holds.
    return Normalised(row, account, unit, cast(Payload, {}) if valid else None)


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


# -- accounts named by username, community user ID, Discord or Roblox ID ------------------------

UUID_JDOE = "00000001-0000-4000-8000-000000000001"
UUID_ASMITH = "00000002-0000-4000-8000-000000000002"


def _account(uuid: str, username: str, status: int = 1, **ids: str) -> dict[str, object]:
    return {
        "uuid": uuid,
        "username": username,
        "communityUserId": ids.get("community"),
        "discord": ids.get("discord"),
        "roblox": ids.get("roblox"),
        "status": status,
        "joined": None,
        "lastLogin": None,
    }


ACCOUNTS = [
    _account(UUID_JDOE, "JDoe", community="1001", discord="111"),
    _account(UUID_ASMITH, "asmith", community="1002"),
    _account("00000003-0000-4000-8000-000000000003", "newbie", 0),
    _account("00000004-0000-4000-8000-000000000004", "troll", 4),
    _account("00000005-0000-4000-8000-000000000005", "twin"),
    _account("00000006-0000-4000-8000-000000000006", "TWIN"),
]


def cached_directory(tmp_path: Path) -> AccountDirectory:
    """An account directory as `bulk-ident accounts` leaves it: the list, and two look-ups."""
    path = tmp_path / "accounts.json"
    lookups = [
        {"kind": "discord", "value": "111", "at": 1.0, "account": ACCOUNTS[0]},
        {"kind": "discord", "value": "999", "at": 1.0, "account": None},
    ]
    data = {
        "version": 1,
        "fetched_at": 1.0,
        "status_filter": "all",
        "accounts": ACCOUNTS,
        "lookups": lookups,
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return AccountDirectory.load(path, clock=lambda: 2.0)


MIXED_HEADER = ["Account UUID", "Username", "Discord ID", "Unit"]


def test_a_mixed_roster_resolves_each_row_to_its_account(
    csv_roster: RosterWriter, tmp_path: Path
) -> None:
    """UUID, username (any case) and Discord rows each settle on their account's UUID."""
    path = csv_roster(
        [
            MIXED_HEADER,
            [UUID_ASMITH.upper(), "", "", "1"],
            ["", "JDOE", "", "2"],
            ["", "", "111", "3"],
            [UUID_JDOE, "jdoe", "111", "4"],
        ]
    )
    prep = prepare(path)
    prep.resolver = cached_directory(tmp_path)
    rows = prep.rows
    assert [c.verdict for c in rows] == [WOULD_CREATE] * 4
    assert [c.norm.account for c in rows] == [UUID_ASMITH, UUID_JDOE, UUID_JDOE, UUID_JDOE]
    sheet = check_sheet(prep, rows)
    account_column = sheet.header.index("API accountUuid")
    assert [r[account_column] for r in sheet.rows] == [c.norm.account for c in rows]


def test_duplicates_are_found_on_the_resolved_account(
    csv_roster: RosterWriter, tmp_path: Path
) -> None:
    """A username row repeating a UUID row's account and unit number is its duplicate."""
    path = csv_roster([MIXED_HEADER, [UUID_JDOE, "", "", "1-A"], ["", "jdoe", "", "1-a"]])
    prep = prepare(path)
    prep.resolver = cached_directory(tmp_path)
    assert [c.duplicate_of for c in prep.rows] == [None, 2]


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        (
            ["", "newbie", ""],
            "column 'Username': username 'newbie' is pending approval in the CAD",
        ),
        (["", "troll", ""], "column 'Username': username 'troll' is banned in the CAD"),
        (["", "nobody", ""], "column 'Username': username 'nobody' matches no account in the CAD"),
        (
            ["", "Twin", ""],
            "column 'Username': username 'Twin' matches 2 accounts in the CAD "
            "(00000005-0000-4000-8000-000000000005, 00000006-0000-4000-8000-000000000006): "
            "give the Account UUID instead",
        ),
        (["", "", "999"], "column 'Discord ID': discord '999' matches no account in the CAD"),
        (
            [UUID_ASMITH, "jdoe", ""],
            f"column 'Username': username 'jdoe' is account {UUID_JDOE}, but column "
            f"'Account UUID' says {UUID_ASMITH}: they must name the same account",
        ),
        (
            ["", "asmith", "111"],
            f"column 'Discord ID': discord '111' is account {UUID_JDOE}, but column 'Username' "
            f"(username 'asmith') is {UUID_ASMITH}: they must name the same account",
        ),
    ],
)
def test_accounts_that_do_not_resolve_make_the_row_invalid(
    csv_roster: RosterWriter, tmp_path: Path, cells: list[str], problem: str
) -> None:
    """No match, an inactive or doubled account, or cells naming two accounts: invalid, why."""
    prep = prepare(csv_roster([MIXED_HEADER, [*cells, "1"]]))
    prep.resolver = cached_directory(tmp_path)
    [row] = prep.rows
    assert row.verdict == INVALID
    assert row.problems == [problem]
    assert row.norm.key is None


def test_without_the_account_list_rows_are_not_checked(csv_roster: RosterWriter) -> None:
    """With no resolver, rows named by username or Discord ID are "not checked", not invalid."""
    path = csv_roster(
        [
            MIXED_HEADER,
            [UUID_JDOE, "", "", "1"],
            ["", "jdoe", "", "2"],
            ["", "asmith", "", "3"],
            ["", "", "111", "4"],
        ]
    )
    prep = prepare(path)
    rows = prep.rows
    sheet = check_sheet(prep, rows)
    lines = list(sheet.rows)
    assert [line[1] for line in lines] == ["valid", *[Result.NOT_CHECKED] * 3]
    assert lines[1][2] == "username 'jdoe': not checked; run 'bulk-ident accounts' first"
    assert lines[3][2] == "discord '111': not checked; import looks it up in the CAD"
    assert (prep.tally[WOULD_CREATE], prep.tally[Result.NOT_CHECKED], prep.invalid_count) == (
        1,
        3,
        0,
    )
    assert prep.problems_seen == []
    assert prep.unchecked_notes() == [
        "2 rows name accounts by username: run 'bulk-ident accounts' first to check them",
        "1 row names accounts by Discord ID: not checked; import looks each up in the CAD "
        "(one request each)",
    ]
    assert [json.loads(line)["row"] for line in payload_lines(prep.rows)] == [2]


def test_resolving_again_settles_rows_and_finds_duplicates(
    csv_roster: RosterWriter, tmp_path: Path
) -> None:
    """The import settles rows once it has the list: verdicts and duplicates are counted again."""
    path = csv_roster(
        [MIXED_HEADER, [UUID_JDOE, "", "", "1"], ["", " jdoe", "", "1"], ["", "JDOE", "111", "2"]]
    )
    prep = prepare(path)
    assert [c.verdict for c in prep.rows] == [WOULD_CREATE, Result.NOT_CHECKED, Result.NOT_CHECKED]
    assert prep.account_needs() == [("username", "jdoe"), ("discord", "111")]
    prep.resolve_accounts(cached_directory(tmp_path))
    assert [c.verdict for c in prep.rows] == [WOULD_CREATE, DUPLICATE, WOULD_CREATE]
    assert (prep.tally[WOULD_CREATE], prep.tally[DUPLICATE], prep.tally[Result.NOT_CHECKED]) == (
        2,
        1,
        0,
    )
    assert prep.problems_seen == [(3, "duplicate of row 2 (same account and unit number)")]


def test_account_option_names_the_account_of_every_row(
    csv_roster: RosterWriter, tmp_path: Path
) -> None:
    """--account gives a roster without an account column one account: a UUID or a username."""
    path = csv_roster([["Unit", "Name"], ["D-1", "Desk"], ["D-2", "Radio"]])
    with pytest.raises(InputError, match="has no column for the account"):
        prepare(path)
    by_uuid = prepare(path, ReadOptions(account=UUID_ASMITH.upper()))
    assert [c.norm.account for c in by_uuid.rows] == [UUID_ASMITH] * 2
    assert not by_uuid.names_accounts
    by_name = prepare(path, ReadOptions(account="JDoe"))
    assert by_name.names_accounts
    by_name.resolver = cached_directory(tmp_path)
    assert [c.norm.account for c in by_name.rows] == [UUID_JDOE] * 2
    banned = prepare(path, ReadOptions(account="troll"))
    banned.resolver = cached_directory(tmp_path)
    assert banned.rows[0].problems == ["--account: username 'troll' is banned in the CAD"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ReadOptions(account=" "), "--account: give an account UUID or a username"),
        (
            ReadOptions(account="jdoe", defaults=["accountUuid=" + UUID_JDOE]),
            "--account and --default accountUuid=... both name the account",
        ),
        (ReadOptions(account="j\tdoe"), "--account j\tdoe: holds a line break, tab"),
    ],
)
def test_account_option_errors(
    csv_roster: RosterWriter, options: ReadOptions, message: str
) -> None:
    """An unusable --account is an InputError before any row is read."""
    path = csv_roster([["Unit"], ["1"]])
    with pytest.raises(InputError, match=re.escape(message)):
        prepare(path, options)


def test_sample_username_roster_with_a_name_template() -> None:
    """samples/roster_usernames.csv with --map 'name={First Name} {Last Name}' maps every column."""
    samples = Path(__file__).resolve().parent.parent / "samples"
    prep = prepare(
        samples / "roster_usernames.csv", ReadOptions(maps=["name={First Name} {Last Name}"])
    )
    assert prep.warnings == []
    assert prep.names_accounts
    payload = prep.rows[2].norm.payload
    assert payload is not None
    assert payload["name"] == "José Álvarez"
    assert len(prep.account_needs()) == len(prep.rows) == 12
