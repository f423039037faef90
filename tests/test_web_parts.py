"""The page's pure parts: column suggestions and --map strings, the config file's TOML, the
workspace's corrected roster and its safety check, the runner's one-job rule and progress."""

from __future__ import annotations

import shlex
import threading
import tomllib
from pathlib import Path

import pytest
from conftest import ACCOUNT_A, ACCOUNT_B, RosterWriter
from openpyxl import Workbook

from bulk_ident.errors import InputError
from bulk_ident.read.workbook import sheet_names
from bulk_ident.sync.importer import Event
from bulk_ident.web.columns import map_strings, suggest
from bulk_ident.web.runner import Busy, Job, Runner
from bulk_ident.web.syncfile import SyncFile, config_text, schedule, toml_string
from bulk_ident.web.workspace import Secret, Workspace, _safe_name
from bulk_ident.words import EventKind, Result

# -- columns --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "prop", "why", "like"),
    [
        ("unit #", "unitNum", "name", ""),
        ("Full Name", "name", "name", ""),
        ("Acount UUID", "accountUuid", "similar", "Account UUID"),
        ("Callsign No", "unitNum", "similar", "Callsign"),
        ("Departement", "department", "similar", "Department"),
        ("Notes", None, "", ""),
        ("First Name", None, "", ""),
        ("", None, "", ""),
    ],
)
def test_suggest_takes_aliases_first_then_close_spellings(
    header: str, prop: str | None, why: str, like: str
) -> None:
    """An alias maps by name; a near miss is suggested with the alias it resembles; others none."""
    s = suggest(header)
    assert (s.prop, s.why, s.like) == (prop, why, like)


def test_map_strings_name_only_what_the_headers_do_not_say() -> None:
    """Columns chosen as their names say need no --map; others do; a hand-picked header maps all."""
    choices: dict[str, str | None] = {"Unit #": "unitNum", "Badge": "rank", "Notes": None}
    assert map_strings(choices) == ["Badge=rank"]
    assert map_strings(choices, force=True) == ["Unit #=unitNum", "Badge=rank"]


def test_a_named_column_can_be_left_out_only_when_another_takes_its_property() -> None:
    """'Not sent' for an alias column is refused, unless another column is mapped to it."""
    with pytest.raises(ValueError, match="read as rank by its name"):
        map_strings({"Rank": None, "Unit": "unitNum"})
    assert map_strings({"Rank": None, "Grade": "rank"}) == ["Grade=rank"]


# -- the config file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['LS "PD"', "back\\slash", "tab\there", "line\nbreak", "bell\x07", "Zoë 🚓", ""]
)
def test_toml_strings_read_back_exactly(text: str) -> None:
    """Quotes, backslashes, control characters and any Unicode survive a TOML round trip."""
    assert tomllib.loads(f"v = {toml_string(text)}")["v"] == text


def test_config_text_reads_back_as_the_documented_format() -> None:
    """community (base_url, api_key_env, rate) and one [[roster]] with map and defaults tables."""
    text = config_text(
        SyncFile(
            base_url="https://api.sonorancad.com",
            rate="10/min",
            name="lspd",
            source="https://docs.google.com/spreadsheets/d/abcdefghijkl/edit#gid=0",
            sheet="Roster",
            maps=["Badge=unitNum", "name={First Name} {Last Name}"],
            defaults=["department=LSPD"],
            delete_missing=False,
        )
    )
    data = tomllib.loads(text)
    assert data["community"]["api_key_env"] == "SONORAN_API_KEY"
    assert data["roster"][0]["map"] == {"Badge": "unitNum", "name": "{First Name} {Last Name}"}
    assert data["roster"][0]["defaults"] == {"department": "LSPD"}
    assert data["roster"][0]["sheet"] == "Roster"
    assert "max_delete" not in data["roster"][0]


def test_the_cron_line_quotes_paths_with_spaces() -> None:
    """The cron line is a shell command whose words are the command's, spaces and all."""
    config = Path("/home/me/My Rosters/sync.toml")
    lines = schedule(["/opt/bulk ident/bin/bulk-ident"], config, Path("/var/log/sync.log"))
    words = shlex.split(lines.cron.split(" ", 5)[5])
    assert words == [
        "/opt/bulk ident/bin/bulk-ident",
        "sync",
        str(config),
        "--json",
        "--log-file",
        "/var/log/sync.log",
    ]
    assert lines.cron.startswith("17 * * * * ")
    assert "/SC HOURLY" in lines.task_scheduler


# -- the workspace --------------------------------------------------------------------------------


def test_the_key_is_hidden_from_repr_and_str() -> None:
    """A Secret shows nothing of the key when printed, logged or shown in a traceback."""
    secret = Secret("k-123456")
    assert "k-123456" not in repr(secret)
    assert "k-123456" not in str(secret)
    assert secret.reveal() == "k-123456"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("roster.xlsx", "roster.xlsx"),
        ("../../etc/roster.csv", "roster.csv"),
        ("C:\\Users\\me\\Dept Roster.xlsx", "Dept Roster.xlsx"),
        ("bad\x00name?.csv", "bad_name_.csv"),
        ("..", "roster.csv"),
    ],
)
def test_a_dropped_file_keeps_its_own_name_and_nothing_else(given: str, kept: str) -> None:
    """The browser's file name loses any folder and characters no file name may hold."""
    assert _safe_name(given) == kept


def test_the_page_sends_the_original_file_until_a_cell_is_fixed(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """No fixes: the library reads the roster itself; a fix: an xlsx copy named for the roster,
    so the journal's scope stays the roster's name."""
    roster = csv_roster([["Account UUID", "Unit Number", "Status"], [ACCOUNT_A, "1", "Busy"]])
    ws = Workspace(tmp_path / "w", env={})
    (tmp_path / "w").mkdir()
    ws.load_location(str(roster))
    assert ws.import_input() == (roster, ws.read_options())
    ws.edit(2, 2, "Available")
    path, options = ws.import_input()
    assert path.name == "roster.xlsx"
    assert path.parent != roster.parent
    assert options.sheet is None
    _, import_options = ws.import_options(dry_run=True)
    assert import_options.scope == "roster"


def test_a_cell_an_xlsx_cannot_hold_stops_the_corrected_copy(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """A control character in a cell would be dropped by the xlsx: the copy is refused, naming
    the row, rather than sending something other than what the page shows."""
    roster = csv_roster(
        [
            ["Account UUID", "Unit Number", "Notes"],
            [ACCOUNT_A, "1", "bell\x07"],
            [ACCOUNT_B, "2", ""],
        ]
    )
    ws = Workspace(tmp_path / "w", env={})
    (tmp_path / "w").mkdir()
    ws.load_location(str(roster))
    ws.edit(3, 1, "3")
    with pytest.raises(InputError, match=r"row 2 holds characters an \.xlsx file can't keep"):
        ws.corrected_roster()


def test_sheet_names_list_every_worksheet_with_its_visibility(tmp_path: Path) -> None:
    """Tabs in order, hidden ones flagged, so the page can offer them; a non-workbook is refused."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "Roster"
    wb.create_sheet("Old").sheet_state = "hidden"
    wb.create_sheet("Fire")
    path = tmp_path / "tabs.xlsx"
    wb.save(path)
    assert sheet_names(path) == [("Roster", True), ("Old", False), ("Fire", True)]
    text = tmp_path / "not.xlsx"
    text.write_text("Account UUID,Unit\n", "utf-8")
    with pytest.raises(InputError, match="not a valid Excel workbook"):
        sheet_names(text)


# -- the runner -----------------------------------------------------------------------------------


def test_one_job_at_a_time_and_an_error_is_kept_as_one_line() -> None:
    """A second start while one runs raises Busy; a library error ends the job with its text."""
    runner = Runner()
    release = threading.Event()
    runner.start("sync", lambda job: release.wait(10))
    with pytest.raises(Busy, match="a sync is running"):
        runner.start("sync", lambda job: None)
    release.set()
    assert runner.wait(10)

    def fails(job: Job) -> None:
        raise InputError("roster.csv: file not found.")

    job = runner.start("sync", fails)
    assert runner.wait(10)
    assert job.error == "roster.csv: file not found."
    assert not job.snapshot().running


def test_stop_reaches_the_library_s_stop_hook() -> None:
    """Stop sets the flag the job passes to the library as ``stop``."""
    runner = Runner()
    seen = threading.Event()

    def work(job: Job) -> bool:
        while not job.stopped():
            seen.set()
            threading.Event().wait(0.01)
        return True

    job = runner.start("sync", work)
    assert seen.wait(10)
    assert runner.stop()
    assert runner.wait(10)
    assert job.result is True
    assert not runner.stop()


def test_progress_counts_requests_results_and_the_countdown() -> None:
    """Events become sent/created/failed counts; on_wait a countdown on the job's clock."""
    now = [100.0]
    job = Job("sync", clock=lambda: now[0])
    job.on_event(Event(EventKind.SENDING, 4))
    job.on_event(Event(EventKind.DONE, 4, result=Result.CREATED))
    job.on_event(Event(EventKind.SENDING, 5))
    job.on_event(Event(EventKind.DONE, 5, result=Result.FAILED))
    job.on_event(Event(EventKind.RATE_LIMITED, 6, seconds=60))
    job.on_wait(5.0)
    now[0] += 2.0
    snap = job.snapshot()
    assert (snap.sent, snap.counts) == (2, {"created": 1, "failed": 1})
    assert snap.wait == pytest.approx(3.0)
    assert "rate limited" in snap.message


def test_every_template_and_static_file_is_declared_package_data() -> None:
    """The wheel ships the page's files: each file under web/templates and web/static matches a
    [tool.setuptools.package-data] pattern (a built wheel was checked to hold them all)."""
    import fnmatch

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["bulk_ident.web"]
    web = root / "bulk_ident" / "web"
    files = [p for d in ("templates", "static") for p in (web / d).rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        relative = path.relative_to(web).as_posix()
        assert any(
            fnmatch.fnmatchcase(relative, p) and "/" not in relative[len(p.split("*")[0]) :]
            for p in patterns
        ), relative
