"""The identifier model: header aliases, --map and --default, and row normalisation."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bulk_ident.columns import (
    HeaderMap,
    looks_like_header,
    map_headers,
    parse_assignments,
    parse_defaults,
    property_for,
)
from bulk_ident.errors import InputError
from bulk_ident.identifier import (
    ACCOUNT,
    ACCOUNT_KEYS,
    DEFAULTS,
    MAX_LENGTH,
    PROPERTIES,
    TEXT_PROPERTIES,
    AccountRef,
    Normalised,
    Normaliser,
    canonical_uuid,
    parse_value,
)

ACCOUNT_A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
ACCOUNT_B = "9c1f0e2a-7b3d-4e5f-8a6b-1c2d3e4f5a6b"

# -- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Unit Number", "unitNum"),
        ("unit_num", "unitNum"),
        ("Unit #", "unitNum"),
        ("Callsign", "unitNum"),
        ("CALL SIGN", "unitNum"),
        ("unitNum", "unitNum"),
        ("Name", "name"),
        ("Full Name", "name"),
        ("full-name", "name"),
        ("Account UUID", ACCOUNT),
        ("account", ACCOUNT),
        ("Account ID", ACCOUNT),
        ("uuid", ACCOUNT),
        ("accountUuid", ACCOUNT),
        ("Dispatcher", "isDispatch"),
        ("Is Dispatch", "isDispatch"),
        ("is_dispatch", "isDispatch"),
        ("Dept", "department"),
        ("Dept.", "department"),
        ("Department", "department"),
        ("Status", "status"),
        ("STATUS", "status"),
        ("Page", "page"),
        ("Rank", "rank"),
        ("Group", "group"),
        ("AOP", "aop"),
        ("aop", "aop"),
        ("District", "district"),
        ("Subdivision", "subdivision"),
        ("Division", "subdivision"),
        ("Username", "username"),
        ("CAD Username", "username"),
        ("User Name", "username"),
        ("user_name", "username"),
        ("Community User ID", "communityUserId"),
        ("Community ID", "communityUserId"),
        ("Community User Id", "communityUserId"),
        ("communityUserId", "communityUserId"),
        ("Discord ID", "discord"),
        ("Discord", "discord"),
        ("Discord User ID", "discord"),
        ("discord-id", "discord"),
        ("Roblox ID", "roblox"),
        ("Roblox", "roblox"),
        ("Roblox User ID", "roblox"),
        ("Notes", None),
        ("", None),
        ("Unit Roster", None),
    ],
)
def test_property_for_aliases(header: str, expected: str | None) -> None:
    """Headers match their property ignoring case, spaces, underscores and punctuation."""
    assert property_for(header) == expected


def test_map_headers_maps_each_column_and_lists_the_rest() -> None:
    """Each recognised column feeds its property; other non-blank headers are listed as unmapped."""
    headers = map_headers(["Account UUID", "unit #", "Full Name", "Notes", "", "RANK"])
    assert dict(headers.index) == {ACCOUNT: 0, "unitNum": 1, "name": 2, "rank": 5}
    assert headers.unmapped == ("Notes",)
    assert headers.column_name("unitNum") == "unit #"
    assert headers.column_name("status") == "status"


@pytest.mark.parametrize(
    ("columns", "overrides", "expected"),
    [
        (["Account", "Badge"], [("Badge", "unitNum")], {ACCOUNT: 0, "unitNum": 1}),
        (["Account", "Badge"], [("badge", "Unit Number")], {ACCOUNT: 0, "unitNum": 1}),
        (["Member", "Unit"], [("Member", "accountUuid")], {ACCOUNT: 0, "unitNum": 1}),
        (["Account", "Unit", "Callsign"], [("Callsign", "unitNum")], {ACCOUNT: 0, "unitNum": 2}),
        (["Account", "Unit"], [("Unit", "name")], {ACCOUNT: 0, "name": 1}),
    ],
)
def test_map_overrides(
    columns: list[str], overrides: list[tuple[str, str]], expected: dict[str, int]
) -> None:
    """--map COLUMN=property wins over the aliases, matching the column like any header."""
    assert dict(map_headers(columns, overrides).index) == expected


def test_map_override_leaves_the_aliased_column_unmapped() -> None:
    """A column displaced by --map is no longer sent, and is listed with the unmapped ones."""
    headers = map_headers(["Account", "Unit", "Callsign"], [("Callsign", "unitNum")])
    assert headers.unmapped == ("Unit",)


@pytest.mark.parametrize(
    ("columns", "overrides", "message"),
    [
        (["Account", "Badge"], [("Badge", "serial")], r"'serial' is not a property; use one of"),
        (["Account", "Unit"], [("Badge", "unitNum")], r"has no column 'Badge'; its columns are"),
        (["Account", "Unit", "Callsign"], [], r"'Unit' and 'Callsign' both mean unitNum"),
        (
            ["Account", "Unit", "Badge"],
            [("Unit", "unitNum"), ("Badge", "unitNum")],
            r"'Unit' and 'Badge' both mean unitNum",
        ),
        (["Account UUID", "Account ID"], [], r"both mean accountUuid"),
        (["Unit", "Name"], [], r"has no column for the account"),
        (["Member", "Unit"], [("Member", "name")], r"has no column for the account"),
        (["Username", "User Name"], [], r"'Username' and 'User Name' both mean username"),
        (["Account", "First"], [("name", "{First} {Last}")], r"has no column 'Last'; its columns"),
        (["Account", "First"], [("serial", "{First}")], r"'serial' is not a property"),
        (["Account", "First"], [("{First}", "name")], r"--map 'name=\{First\}'"),
        (["Account", "First"], [("name", "{First")], r"a '\{' without its '\}'"),
        (["Account", "First"], [("name", "{First} }")], r"a '\}' without its '\{'"),
        (["Account", "First"], [("name", "{} x")], r"write a column name between"),
        (
            ["Account", "First", "Name"],
            [("Name", "name"), ("name", "{First}")],
            r"column 'Name' and --map name=\{First\} both mean name",
        ),
        (
            ["Account", "First"],
            [("name", "{First}"), ("Full Name", "{First}!")],
            r"name already has a template",
        ),
    ],
)
def test_map_headers_errors(
    columns: list[str], overrides: list[tuple[str, str]], message: str
) -> None:
    """Bad --map values, two columns for one property and no account column are InputErrors."""
    with pytest.raises(InputError, match=message):
        map_headers(columns, overrides, where="roster.csv")


def test_map_headers_error_names_the_file() -> None:
    """The missing-account message names the file and says how to fix it."""
    with pytest.raises(InputError) as err:
        map_headers(["Unit", "Name"], where="roster.csv")
    assert str(err.value).startswith("roster.csv has no column for the account")
    assert "'Username', 'Community User ID', 'Discord ID' or 'Roblox ID'" in str(err.value)
    assert "--map 'YourColumn=accountUuid'" in str(err.value)
    assert "--account" in str(err.value)


@pytest.mark.parametrize(
    "columns",
    [
        ["CAD Username", "Unit"],
        ["Community ID", "Unit"],
        ["Discord", "Unit"],
        ["Roblox User ID", "Unit"],
        ["Account UUID", "Discord ID", "Username"],
    ],
)
def test_any_account_column_names_the_account(columns: list[str]) -> None:
    """A username, community user ID, Discord or Roblox ID column is enough of an account."""
    headers = map_headers(columns)
    assert headers.account_columns
    assert all(headers.column_name(p) in columns for p in headers.account_columns)


def test_a_default_account_stands_in_for_the_column() -> None:
    """With --account (or a default account) a roster needs no account column at all."""
    headers = map_headers(["Unit", "Name"], account_given=True)
    assert headers.account_columns == ()
    assert dict(headers.index) == {"unitNum": 0, "name": 1}


# -- templates -------------------------------------------------------------------------------

NAMES = ["Account", "First Name", "Middle", "Last Name", "Badge", "Notes"]


def _render(template: str, values: Sequence[str], prop: str = "name") -> str:
    headers = map_headers(NAMES, [(prop, template)])
    return headers.templates[0].render(values)


@pytest.mark.parametrize(
    ("template", "first", "middle", "last", "expected"),
    [
        ("{First Name} {Last Name}", "Ann", "", "Lee", "Ann Lee"),
        ("{First Name} {Middle} {Last Name}", "Ann", "B", "Lee", "Ann B Lee"),
        ("{First Name} {Middle} {Last Name}", "Ann", "", "Lee", "Ann Lee"),
        ("{First Name} {Middle} {Last Name}", "", "", "Lee", "Lee"),
        ("{First Name} {Middle} {Last Name}", "Ann", "", "", "Ann"),
        ("{First Name} {Middle} {Last Name}", "", "B", "", "B"),
        ("{First Name} {Middle} {Last Name}", "", "", "", ""),
        ("{Last Name}, {First Name}", "Ann", "", "Lee", "Lee, Ann"),
        ("{Last Name}, {First Name}", "", "", "Lee", "Lee,"),
        ("{first name}.{LAST_NAME}", "Ann", "", "Lee", "Ann.Lee"),
        ("{{{First Name}}}", "Ann", "", "", "{Ann}"),
        ("Officer {Last Name}", "", "", "", ""),
        ("Officer {Last Name}", "", "", "Lee", "Officer Lee"),
        ("  {First Name}   {Middle}   {Last Name}  ", "Ann", "", "Lee", "Ann   Lee"),
    ],
)
def test_template_values(template: str, first: str, middle: str, last: str, expected: str) -> None:
    """Blank columns take their surrounding spaces with them; all blank gives blank."""
    assert _render(template, ["x", first, middle, last, "", ""]) == expected


def test_template_of_unit_numbers() -> None:
    """A prefix template builds unit numbers; a blank badge leaves the unit number blank."""
    assert _render("1A-{Badge}", ["x", "", "", "", "12", ""], "unitNum") == "1A-12"
    assert _render("1A-{Badge}", ["x", "", "", "", "", ""], "unitNum") == ""


def test_template_columns_count_as_used() -> None:
    """Columns a template reads are not reported unmapped; the column it displaces is."""
    headers = map_headers(
        ["Account", "First Name", "Last Name", "Name"], [("name", "{First Name} {Last Name}")]
    )
    assert headers.unmapped == ("Name",)
    assert headers.column_name("name") == "name={First Name} {Last Name}"
    assert headers.sources("name") == ("First Name", "Last Name")
    assert headers.index["name"] == 4  # after the roster's own columns


def test_looks_like_header_counts_template_columns() -> None:
    """Columns a --map template reads count towards the header test."""
    assert not looks_like_header(["Given", "Family"])
    assert looks_like_header(["Given", "Family"], [("name", "{Given} {Family}")])
    assert not looks_like_header(["Given", "Family"], [("name", "{Given")])


def test_templated_values_are_validated_naming_their_columns() -> None:
    """A templated value is checked like a cell; its problem names the columns it came from."""
    headers = map_headers(NAMES, [("name", "{First Name} {Last Name}"), ("unitNum", "1A-{Badge}")])
    normalise = Normaliser(headers, {})
    norm = normalise(2, [ACCOUNT_A, "A" * 200, "", "B" * 60, "X" * 70, ""])
    assert norm.payload is None
    assert [str(p) for p in norm.problems] == [
        "column 'Badge' (unitNum=1A-{Badge}): '1A-" + "X" * 37 + "…' (73 characters) is too long:"
        " at most 64 characters",
        "columns 'First Name', 'Last Name' (name={First Name} {Last Name}): '"
        + "A" * 40
        + "…' (261 characters) is too long: at most 255 characters",
    ]
    fine = normalise(3, [ACCOUNT_A, "Ann", "", "Lee", "12", "n"])
    assert fine.payload is not None
    assert (fine.payload["name"], fine.payload["unitNum"]) == ("Ann Lee", "1A-12")
    blank = Normaliser(headers, {"name": "Unnamed"})(4, [ACCOUNT_A, "", "", "", "", ""])
    assert blank.payload is not None
    assert (blank.payload["name"], blank.payload["unitNum"]) == ("Unnamed", "NEW UNIT")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["Badge=unitNum"], [("Badge", "unitNum")]),
        ([" Badge = unitNum "], [("Badge", "unitNum")]),
        (["a=b=c"], [("a", "b=c")]),
        (["department="], [("department", "")]),
        ([], []),
    ],
)
def test_parse_assignments(options: list[str], expected: list[tuple[str, str]]) -> None:
    """Repeated NAME=VALUE options split on the first '=' and are trimmed."""
    assert parse_assignments(options, "--map") == expected


@pytest.mark.parametrize("option", ["Badge", "=unitNum", "", "  =x"])
def test_parse_assignments_rejects_malformed(option: str) -> None:
    """An option without NAME= is an InputError that shows the expected form."""
    with pytest.raises(InputError, match=r"--map .*: write it as NAME=VALUE"):
        parse_assignments([option], "--map")


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["Los Santos Police Department - unit roster (updated 2026-11-01)", "", ""], False),
        (["Unit roster", "", "2026"], False),
        (["Name", "", ""], False),
        (["Name", "Full Name"], False),
        (["Account UUID", "unit #"], True),
        (["", "Callsign", "Dept"], True),
        ([], False),
    ],
)
def test_looks_like_header(cells: list[str], expected: bool) -> None:
    """A header names at least two properties, so a title row (even one word) never passes."""
    assert looks_like_header(cells) is expected


def test_looks_like_header_counts_mapped_columns() -> None:
    """Columns named by --map count towards the header test."""
    assert not looks_like_header(["Member", "Badge"])
    assert looks_like_header(["Member", "Badge"], [("Member", "accountUuid"), ("Badge", "unitNum")])


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("4", 4),
        ("100", 100),
        ("Unavailable", 0),
        ("busy", 1),
        ("available", 2),
        ("AVAILABLE", 2),
        ("Enroute", 3),
        ("en route", 3),
        ("EN_ROUTE", 3),
        ("On Scene", 4),
        ("ON_SCENE", 4),
        ("on scene", 4),
        ("on-scene", 4),
        ("OnScene", 4),
        ("Offline", 100),
    ],
)
def test_status_values(text: str, expected: int) -> None:
    """Status takes its numbers or its names in any case and spacing, and sends the number."""
    assert parse_value("status", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("-1", -1),
        ("Police", 0),
        ("fire", 1),
        ("EMS", 2),
        ("ems", 2),
        ("Dispatch", 3),
        ("UNKNOWN", -1),
    ],
)
def test_page_values(text: str, expected: int) -> None:
    """Page takes 0/1/2/3/-1 or its names in any case, and sends the number."""
    assert parse_value("page", text) == expected


@pytest.mark.parametrize(
    ("prop", "text"),
    [
        ("status", "On Patrol"),
        ("status", "5"),
        ("status", "-1"),
        ("status", "2.5"),
        ("page", "Cruiser"),
        ("page", "4"),
        ("page", "100"),
        ("isDispatch", "maybe"),
        ("isDispatch", "2"),
        ("isDispatch", "yess"),
    ],
)
def test_bad_enum_and_boolean_values(prop: str, text: str) -> None:
    """Values outside the documented ones are refused with what is accepted."""
    with pytest.raises(ValueError, match="use "):
        parse_value(prop, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("y", True),
        ("Y", True),
        ("1", True),
        ("x", True),
        ("X", True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("N", False),
        ("0", False),
    ],
)
def test_boolean_values(text: str, expected: bool) -> None:
    """isDispatch takes true/false, yes/no, y/n, 1/0 and x in any case."""
    assert parse_value("isDispatch", text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
        "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
        "{3FA85F64-5717-4562-B3FC-2C963F66AFA6}",
        " 3fa85f64-5717-4562-b3fc-2c963f66afa6 ",
        "3fa85f6457174562b3fc2c963f66afa6",
        "{3FA85F6457174562B3FC2C963F66AFA6}",
    ],
)
def test_uuid_canonical(text: str) -> None:
    """Account UUIDs in upper case or braces are sent in lower-case canonical form."""
    assert canonical_uuid(text) == ACCOUNT_A
    assert parse_value(ACCOUNT, text) == ACCOUNT_A


@pytest.mark.parametrize(
    "text",
    [
        "3fa85f64-5717-4562-b3fc",
        "not-a-uuid",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6x",
        "{{3fa85f64-5717-4562-b3fc-2c963f66afa6}}x",
        "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6x",
        # Typos that uuid.UUID would quietly turn into a different account:
        "+fa85f6457174562b3fc2c963f66afa6",
        "+fa85f64-5717-4562-b3fc-2c963f66afa6",
        "3fa85f64-5717-4562-b3fc-2c963f66af_a",
        "3-fa85f6457174562b3fc2c963f66afa6",
        "3fa85f64-5717-4562b3fc-2c963f66afa6",
        "{3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6}",
        "{{3fa85f64-5717-4562-b3fc-2c963f66afa6}}",
        "3fa85f64-5717-4562-b3fc-2c963f66afa٦",
        "",
    ],
)
def test_uuid_malformed(text: str) -> None:
    """Anything but a UUID is refused with an example of one."""
    with pytest.raises(ValueError, match="is not an account UUID"):
        canonical_uuid(text)


@pytest.mark.parametrize("text", ["=1+1", "@x", "+12", "-5", '=HYPERLINK("x")', "007"])
def test_formula_looking_text_is_sent_verbatim(text: str) -> None:
    """Text that looks like a formula or a number is data, sent exactly as written."""
    for prop in sorted(TEXT_PROPERTIES):
        assert parse_value(prop, text) == text


@pytest.mark.parametrize(
    "text",
    ["a\tb", "a\nb", "a\rb", "nul\x00", "esc\x1b[0m", "del\x7f", "c1\x85", "ls\u2028", "ps\u2029"],
)
def test_control_characters_are_refused(text: str) -> None:
    """Line breaks, tabs and other control characters in text are a problem."""
    with pytest.raises(ValueError, match="control character"):
        parse_value("name", text)


@pytest.mark.parametrize("text", ["a\u00a0b", "zero\u200bwidth", "Zoë", "🚓", "'quoted'"])
def test_other_unusual_text_is_kept(text: str) -> None:
    """Non-breaking and zero-width spaces, accents and emoji are not control characters."""
    assert parse_value("name", text) == text


def test_limits_cover_every_text_property() -> None:
    """Every text property (and account key) has a limit: 64 for unitNum, 255 for the others."""
    assert set(MAX_LENGTH) == TEXT_PROPERTIES | set(ACCOUNT_KEYS)
    assert MAX_LENGTH["unitNum"] == 64
    assert {v for p, v in MAX_LENGTH.items() if p != "unitNum"} == {255}


@pytest.mark.parametrize("prop", sorted(TEXT_PROPERTIES | set(ACCOUNT_KEYS)))
def test_length_limit(prop: str) -> None:
    """Text up to the limit passes; one character more is a problem naming both lengths."""
    limit = MAX_LENGTH[prop]
    assert parse_value(prop, "é" * limit) == "é" * limit
    with pytest.raises(
        ValueError, match=rf"…' \({limit + 1} characters\) is too long: at most {limit} characters"
    ):
        parse_value(prop, "é" * (limit + 1))


# -- --default -------------------------------------------------------------------------------


def test_parse_defaults_gives_api_values() -> None:
    """--default values are parsed like cells, keyed by property, whatever alias names them."""
    pairs = [("Dept", "LSPD"), ("status", "on scene"), ("page", "Fire"), ("Dispatcher", "yes")]
    assert parse_defaults(pairs) == {
        "department": "LSPD",
        "status": 4,
        "page": 1,
        "isDispatch": True,
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("badge", "1")], r"--default badge=1: 'badge' is not a property"),
        ([("department", "")], r"--default department=: give a value after '='"),
        ([("status", "On Patrol")], r"--default status=On Patrol: 'On Patrol' is not a status"),
        ([("accountUuid", "nope")], r"--default accountUuid=nope: 'nope' is not an account UUID"),
        ([("name", "a\tb")], r"--default name=a\tb: holds a line break"),
    ],
)
def test_parse_defaults_errors(pairs: list[tuple[str, str]], message: str) -> None:
    """A bad --default is an InputError naming the option."""
    with pytest.raises(InputError, match=message):
        parse_defaults(pairs)


# -- normalise -------------------------------------------------------------------------------


def _norm(
    columns: Sequence[str],
    values: Sequence[str],
    defaults: Mapping[str, Any] | None = None,
    row: int = 2,
) -> Normalised:
    headers: HeaderMap = map_headers(columns)
    return Normaliser(headers, defaults or {})(row, values)


def test_normalise_fills_all_defaults() -> None:
    """With only an account, all 11 properties are sent with the documented defaults, in order."""
    norm = _norm(["Account UUID"], [ACCOUNT_A])
    assert norm.payload == {
        "status": 0,
        "aop": "",
        "unitNum": "NEW UNIT",
        "name": "NO NAME",
        "district": "NOT SET",
        "department": "NOT SET",
        "subdivision": "NOT SET",
        "rank": "NOT SET",
        "group": "",
        "page": -1,
        "isDispatch": False,
    }
    assert norm.payload is not None
    assert list(norm.payload) == list(DEFAULTS)
    assert (norm.account, norm.unit_num, norm.problems) == (ACCOUNT_A, "NEW UNIT", ())


def test_normalise_blank_cells_take_defaults() -> None:
    """Blank cells in present columns take the API defaults too."""
    columns = ["Account", *PROPERTIES[1:]]
    norm = _norm(columns, [ACCOUNT_A] + [""] * (len(columns) - 1))
    assert norm.payload == DEFAULTS


def test_normalise_full_row() -> None:
    """Every column is parsed into its API value."""
    columns = ["Account", "Unit #", "Name", "District", "Dept", "Division", "Rank", "Group", "AOP"]
    columns += ["Status", "Page", "Dispatcher"]
    values = ["{" + ACCOUNT_A.upper() + "}", "007", "José Álvarez", "Mission Row", "LSPD"]
    values += ["Patrol", "Sergeant", "Adam", "Los Santos", "On Scene", "police", "x"]
    norm = _norm(columns, values)
    assert norm.account == ACCOUNT_A
    assert norm.payload == {
        "status": 4,
        "aop": "Los Santos",
        "unitNum": "007",
        "name": "José Álvarez",
        "district": "Mission Row",
        "department": "LSPD",
        "subdivision": "Patrol",
        "rank": "Sergeant",
        "group": "Adam",
        "page": 0,
        "isDispatch": True,
    }


def test_default_option_fills_blanks_only() -> None:
    """--default fills blank cells and missing columns; cells with text keep their own value."""
    defaults = parse_defaults([("department", "LSPD"), ("status", "available"), ("rank", "Cadet")])
    columns = ["Account", "Dept", "Status"]
    filled = _norm(columns, [ACCOUNT_A, "", ""], defaults)
    kept = _norm(columns, [ACCOUNT_A, "BCSO", "Busy"], defaults)
    assert filled.payload is not None
    assert kept.payload is not None
    assert (filled.payload["department"], filled.payload["status"]) == ("LSPD", 2)
    assert (kept.payload["department"], kept.payload["status"]) == ("BCSO", 1)
    assert filled.payload["rank"] == kept.payload["rank"] == "Cadet"


def test_normalise_reports_every_problem_naming_columns_as_written() -> None:
    """All of a row's problems are reported, each naming its column as the file writes it."""
    columns = ["Account ID", "Unit #", "Full Name", "Unit Status", "PAGE", "Dispatcher"]
    values = ["3fa85f64-5717-4562-b3fc", "x" * 65, "a\nb", "On Patrol", "Cruiser", "maybe"]
    norm = _norm(columns, values)
    assert norm.payload is None
    problems = {p.column: p.message for p in norm.problems}
    assert sorted(problems) == sorted(columns)
    assert problems["Account ID"].startswith("'3fa85f64-5717-4562-b3fc' is not an account UUID")
    assert (
        problems["Unit #"]
        == "'" + "x" * 40 + "…' (65 characters) is too long: at most 64 characters"
    )
    assert problems["Full Name"].startswith("holds a line break")
    assert problems["Unit Status"].startswith("'On Patrol' is not a status")
    assert problems["PAGE"].startswith("'Cruiser' is not a page")
    assert problems["Dispatcher"].startswith("'maybe' is not yes or no")
    assert str(norm.problems[0]).startswith("column 'Account ID': ")
    assert (norm.account, norm.unit_num) == (None, None)


def test_missing_account_is_a_problem() -> None:
    """A blank account cell is a problem; the rest of the row is still checked."""
    norm = _norm(["Account UUID", "Unit", "Status"], ["", "1-ADAM-12", "nope"])
    assert str(norm.problems[0]) == "column 'Account UUID': the account is missing"
    assert len(norm.problems) == 2
    assert norm.unit_num == "1-ADAM-12"
    assert norm.key is None


def test_invalid_row_keeps_account_and_unit_for_duplicates() -> None:
    """A row with problems still exposes its readable account and unit number."""
    norm = _norm(["Account", "Unit", "Page"], [ACCOUNT_A.upper(), "1-Adam-12", "Cruiser"])
    assert norm.payload is None
    assert norm.key == (ACCOUNT_A, "1-adam-12")


def test_the_fast_path_agrees_with_the_careful_path_on_random_rows() -> None:
    """Normaliser's fast path gives exactly what the careful path gives, on 3,000 random rows."""
    rnd = random.Random(5)
    columns = ("Account", "Unit #", "Name", "Status", "Page", "Dispatcher", "Rank", "Notes")
    headers = map_headers(columns)
    pieces = {
        "Account": [ACCOUNT_A, ACCOUNT_A.upper(), "{" + ACCOUNT_B + "}", "", "not-a-uuid"],
        "Unit #": ["001", "1-ADAM-12", "", "=1+1", "x" * 65, "a\tb"],
        "Name": ["José", "", "Zoë\u2028", "n" * 256, "  "],
        "Status": ["On Scene", "4", "", "busy", "On Patrol", "100"],
        "Page": ["Police", "-1", "", "cruiser", "3"],
        "Dispatcher": ["yes", "", "x", "maybe", "0"],
        "Rank": ["Sergeant", "", "r" * 70],
        "Notes": ["anything", ""],
    }
    for defaults in ({}, {"department": "LSPD", "status": 2}):
        normaliser = Normaliser(headers, defaults)
        for n in range(1500):
            values = tuple(rnd.choice(pieces[c]) for c in columns)
            fast = normaliser(n, values)
            assert fast == normaliser._careful(n, values), values
            if fast.payload is not None:
                assert list(fast.payload) == list(DEFAULTS)  # the documented order


# -- accounts named other than by UUID -------------------------------------------------------


def test_a_username_row_waits_to_be_resolved() -> None:
    """A row naming its account by username keeps that reference, pending, and no account yet."""
    norm = _norm(["Username", "Unit"], ["jdoe", "1"])
    assert norm.account is None
    assert norm.refs == (AccountRef("username", "jdoe", "Username"),)
    assert norm.pending == norm.refs[0]
    assert norm.payload is not None
    assert norm.key is None


def test_every_account_cell_is_kept_for_comparison() -> None:
    """A row with a UUID, a username and a Discord ID keeps all three, the UUID first."""
    columns = ["Account UUID", "Username", "Discord ID", "Unit"]
    norm = _norm(columns, [ACCOUNT_A.upper(), "jdoe", "123", "1"])
    assert norm.refs == (
        AccountRef(ACCOUNT, ACCOUNT_A, "Account UUID"),
        AccountRef("username", "jdoe", "Username"),
        AccountRef("discord", "123", "Discord ID"),
    )
    assert norm.pending == norm.refs[1]
    only_uuid = _norm(columns, [ACCOUNT_A, "", "", "1"])
    assert (only_uuid.account, only_uuid.refs, only_uuid.pending) == (ACCOUNT_A, (), None)


def test_account_cells_are_checked_like_text() -> None:
    """A bad UUID or a username with a line break is a problem of its own column."""
    columns = ["Account UUID", "Username", "Unit"]
    norm = _norm(columns, ["not-a-uuid", "j\ndoe", "1"])
    assert [p.column for p in norm.problems] == ["Account UUID", "Username"]
    assert norm.payload is None
    kept = _norm(columns, ["not-a-uuid", "jdoe", "1"])
    assert kept.refs == (AccountRef("username", "jdoe", "Username"),)
    assert kept.payload is None


def test_missing_account_with_several_columns_names_them() -> None:
    """With several account columns, a row filling none is told which it may fill."""
    norm = _norm(["Username", "Discord ID", "Unit"], ["", "", "1"])
    assert [str(p) for p in norm.problems] == [
        "column 'Username': the account is missing: fill one of 'Username', 'Discord ID'"
    ]


def test_default_account_fills_rows_naming_none() -> None:
    """--account (a UUID or a username) is the account of every row that names none."""
    headers = map_headers(["Unit"], account_given=True)
    by_uuid = Normaliser(headers, parse_defaults([("accountUuid", ACCOUNT_A.upper())]))(2, ["1"])
    assert (by_uuid.account, by_uuid.refs) == (ACCOUNT_A, ())
    by_name = Normaliser(headers, {"username": "jdoe"}, account_option="--account")(2, ["1"])
    assert by_name.refs == (AccountRef("username", "jdoe", "--account"),)
    assert str(by_name.refs[0].problem("username 'jdoe' is banned")) == (
        "--account: username 'jdoe' is banned"
    )
    with_column = Normaliser(map_headers(["Username", "Unit"]), {ACCOUNT: ACCOUNT_B})
    assert with_column(2, ["", "1"]).account == ACCOUNT_B
    assert with_column(3, ["jdoe", "1"]).refs == (AccountRef("username", "jdoe", "Username"),)


def test_parse_defaults_takes_one_account() -> None:
    """--default may name the account by any account property, but only once."""
    assert parse_defaults([("CAD Username", "jdoe")]) == {"username": "jdoe"}
    with pytest.raises(InputError, match="accountUuid and username both name the account"):
        parse_defaults([("accountUuid", ACCOUNT_A), ("username", "jdoe")])


def test_the_fast_path_agrees_with_the_careful_path_with_account_keys_and_templates() -> None:
    """With account keys, a default account and a template, both paths still agree exactly."""
    rnd = random.Random(9)
    columns = ("Account", "Username", "Discord", "First", "Last", "Unit #", "Status")
    headers = map_headers(columns, [("name", "{First} {Last}")])
    pieces = {
        "Account": [ACCOUNT_A, "", "", "bad", ACCOUNT_B.upper()],
        "Username": ["jdoe", "", "", "x" * 300, "a\tb"],
        "Discord": ["123", "", ""],
        "First": ["Ann", "", "Zoë"],
        "Last": ["Lee", "", "y" * 250],
        "Unit #": ["1", "", "2-ADAM"],
        "Status": ["busy", "", "nope"],
    }
    for defaults in ({}, {"username": "fallback"}, {ACCOUNT: ACCOUNT_B}):
        normaliser = Normaliser(headers, defaults)
        for n in range(1500):
            values = tuple(rnd.choice(pieces[c]) for c in columns)
            extended = (*values, *(t.render(values) for t in headers.templates))
            assert normaliser(n, values) == normaliser._careful(n, extended), values
