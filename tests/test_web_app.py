"""The page's routes in-process (Starlette TestClient): the token gate, each step's library call,
review and edits, preview, the sync in its worker thread, and that the key never comes back."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path

import httpx
import pytest
from conftest import ACCOUNT_A, ACCOUNT_B, RosterWriter
from starlette.testclient import TestClient
from web_helpers import (
    KEY,
    SAMPLES,
    TOKEN,
    FakeCommunity,
    accounts_json,
    cell,
    events,
    page_under_test,
    wait_until,
)

from bulk_ident.prepare import ReadOptions, prepare
from bulk_ident.web.app import XLSX, PageSettings, create_app
from bulk_ident.web.workspace import Workspace
from bulk_ident.words import Result

STATUS = 6  # the sample roster's Status column
ROSTER = SAMPLES / "roster.xlsx"
STATIC = Path(__file__).resolve().parent.parent / "bulk_ident" / "web" / "static"


# -- the gate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/roster", "/review", "/events", "/static/htmx.min.js"])
def test_every_request_without_the_token_is_forbidden(tmp_path: Path, path: str) -> None:
    """Pages, the event stream and static files all answer 403 without this launch's token."""
    with page_under_test(tmp_path, login=False) as t:
        assert t.get(path).status_code == 403
        assert t.get(f"{path}?token=wrong").status_code == 403
        t.client.cookies.set("bulk_ident", "guess")
        assert t.get(path).status_code == 403


def test_posts_without_the_token_are_forbidden_and_change_nothing(tmp_path: Path) -> None:
    """A form post from elsewhere (no cookie: SameSite=Strict keeps it home) is refused."""
    with page_under_test(tmp_path, login=False) as t:
        answer = t.post("/connect", data={"base_url": "http://127.0.0.1:1", "api_key": "x"})
        assert answer.status_code == 403
        assert not t.ws.has_key


def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_address(
    tmp_path: Path,
) -> None:
    """The address's token is swapped for an HttpOnly, SameSite=Strict cookie and a redirect to
    the same page without it; the cookie then opens every page."""
    with page_under_test(tmp_path, login=False) as t:
        first = t.get(f"/review?token={TOKEN}&problems=1", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/review?problems=1"
        cookie = first.headers["set-cookie"]
        assert f"bulk_ident={TOKEN}" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert t.get("/roster").status_code == 200


def test_the_cookie_is_named_for_the_port_so_two_launches_keep_their_own(tmp_path: Path) -> None:
    """With a port, the cookie is ``bulk_ident_PORT`` (cookies ignore ports: one name each)."""
    ws = Workspace(tmp_path, env={})
    app = create_app(ws, PageSettings(token=TOKEN, port=8123))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.get(f"/?token={TOKEN}", follow_redirects=False)
        assert answer.headers["set-cookie"].startswith(f"bulk_ident_8123={TOKEN}")


def test_another_host_name_is_refused_even_with_the_cookie(tmp_path: Path) -> None:
    """A request naming another host (DNS rebinding) gets 403."""
    with page_under_test(tmp_path) as t:
        assert t.get("/roster", headers={"host": "attacker.example"}).status_code == 403
        assert t.get("/roster", headers={"host": "localhost:8000"}).status_code == 200


def test_pages_forbid_framing_caching_and_foreign_scripts(tmp_path: Path) -> None:
    """Every answer carries no-store, nosniff, no-referrer, DENY and a same-origin-only CSP."""
    with page_under_test(tmp_path) as t:
        headers = t.get("/roster").headers
        assert headers["cache-control"] == "no-store"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_htmx_is_served_from_the_package_at_the_noted_version(tmp_path: Path) -> None:
    """htmx 2.0.11 ships in the package (no CDN) and matches the checksum in VENDORED.txt."""
    with page_under_test(tmp_path) as t:
        served = t.get("/static/htmx.min.js")
        assert served.status_code == 200
        assert 'version:"2.0.11"' in served.text
    digest = hashlib.sha256((STATIC / "htmx.min.js").read_bytes()).hexdigest()
    assert digest in (STATIC / "VENDORED.txt").read_text("utf-8")
    page = (Path(__file__).parent.parent / "bulk_ident/web/templates/base.html").read_text()
    assert not re.search(r'src="(https?:)?//', page), "no script from another site"


# -- 1. roster ------------------------------------------------------------------------------------


def test_a_dropped_roster_shows_its_sheet_header_row_and_warnings(tmp_path: Path) -> None:
    """The sample xlsx: sheet 'Roster', header on row 3, the unmapped Notes column warned."""
    with page_under_test(tmp_path) as t:
        page = t.upload(ROSTER)
        assert page.status_code == 200
        assert str(page.url).endswith("/roster")
        assert 'id="header-found">Header on <strong>row 3</strong>' in page.text
        assert '<option value="Roster" selected>Roster</option>' in page.text
        assert "columns not sent (no matching property): &#39;Notes&#39;" in page.text
        assert "29 rows read" in page.text


def test_a_file_of_another_kind_is_refused_with_the_reader_s_advice(tmp_path: Path) -> None:
    """An .xls is refused in one line saying what to do; nothing is kept."""
    bad = tmp_path / "old.xls"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with page_under_test(tmp_path) as t:
        page = t.upload(bad)
        assert page.status_code == 422
        assert "unsupported file type" in page.text
        assert t.ws.source is None


def test_an_upload_over_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    """A body over the size limit is refused (413) before it is read whole."""
    big = tmp_path / "big.csv"
    big.write_bytes(b"Account UUID,Unit\n" + b"x" * 5000)
    with page_under_test(tmp_path, settings={"upload_limit": 2000}) as t:
        answer = t.upload(big)
        assert answer.status_code == 413
        assert "larger than" in answer.text
        assert t.ws.source is None


def test_a_path_on_this_computer_is_read_in_place(tmp_path: Path, csv_roster: RosterWriter) -> None:
    """A typed path is read where it is (no copy), and a relative one is refused."""
    roster = csv_roster([["Account UUID", "Unit Number"], [ACCOUNT_A, "1-A-1"]])
    with page_under_test(tmp_path) as t:
        assert "full path" in t.post("/roster/open", data={"location": "roster.csv"}).text
        page = t.post("/roster/open", data={"location": str(roster)})
        assert page.status_code == 200
        assert t.ws.source is not None
        assert t.ws.source.local == roster
        assert t.ws.source.origin == str(roster)


def test_a_header_the_aliases_miss_is_picked_by_hand_then_mapped(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """No header found: the page lists the first rows; picking one maps its columns (aliases,
    then similar names) as --map strings, and the roster reads."""
    roster = csv_roster(
        [
            ["Member roster"],
            ["Member Key", "Callsign No", "Badge holder"],
            [ACCOUNT_A, "1-A-1", "Ann"],
        ]
    )
    with page_under_test(tmp_path) as t:
        page = t.post("/roster/open", data={"location": str(roster)})
        assert "no header row found" in page.text
        rows = t.get("/roster/header-rows").text
        assert 'value="2" id="header-2"' in rows
        assert "Callsign No" in rows
        chosen = t.post("/roster/header", data={"row": "2"})
        assert str(chosen.url).endswith("/columns")
        assert "suggested" not in chosen.text or "Callsign No" in chosen.text
        # "Member Key" is no alias: map it by hand, as a user picks from the list.
        applied = t.post("/columns", data={"col-0": "accountUuid", "col-1": "unitNum", "col-2": ""})
        assert str(applied.url).endswith("/review"), applied.text[-800:]
        assert t.ws.prep is not None
        assert t.ws.prep.roster.header_row == 2
        assert "Member Key=accountUuid" in t.ws.read_options().maps
        assert t.ws.review is not None
        assert t.ws.review.rows[0].valid


# -- 2. columns -----------------------------------------------------------------------------------


def test_columns_show_aliases_and_suggest_close_names(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """A column named by an alias is selected 'by its name'; a near miss is pre-selected as a
    suggestion, and applying it sends it as a --map."""
    roster = csv_roster([["Account UUID", "Callsign No", "Rank"], [ACCOUNT_A, "7", "Officer"]])
    with page_under_test(tmp_path) as t:
        t.post("/roster/open", data={"location": str(roster)})
        page = t.get("/columns").text
        assert "suggested: close to 'Callsign'" in page
        assert re.search(r'name="col-1".*?<option value="unitNum" selected>', page, re.S)
        assert t.ws.read_options().maps == ()
        t.post("/columns", data={"col-0": "accountUuid", "col-1": "unitNum", "col-2": "rank"})
        assert t.ws.read_options().maps == ("Callsign No=unitNum",)
        review = t.ws.review
        assert review is not None
        assert review.rows[0].norm.unit_num == "7"


def test_defaults_fill_blank_cells_and_a_bad_default_is_one_line(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """Defaults are passed as --default strings: a good one fills blanks, a bad one is refused
    with the library's message."""
    roster = csv_roster([["Account UUID", "Unit Number", "Department"], [ACCOUNT_A, "1", ""]])
    with page_under_test(tmp_path) as t:
        t.post("/roster/open", data={"location": str(roster)})
        form = {"col-0": "accountUuid", "col-1": "unitNum", "col-2": "department"}
        bad = t.post("/columns", data={**form, "default-status": "Patrolling"})
        assert bad.status_code == 422
        assert "--default status=Patrolling" in bad.text
        t.post("/columns", data={**form, "default-department": "LSPD"})
        review = t.ws.review
        assert review is not None
        payload = review.rows[0].norm.payload
        assert payload is not None
        assert payload["department"] == "LSPD"


def test_leaving_out_a_column_its_name_sends_is_refused_plainly(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """'Not sent' for a column the aliases map can't be expressed as options: said so."""
    roster = csv_roster([["Account UUID", "Unit Number", "Rank"], [ACCOUNT_A, "1", "Officer"]])
    with page_under_test(tmp_path) as t:
        t.post("/roster/open", data={"location": str(roster)})
        page = t.post("/columns", data={"col-0": "accountUuid", "col-1": "unitNum", "col-2": ""})
        assert page.status_code == 422
        assert "column &#39;Rank&#39; is read as rank by its name" in page.text


# -- 3. review ------------------------------------------------------------------------------------


def test_review_marks_each_problem_on_its_cell_with_the_message(tmp_path: Path) -> None:
    """Problems sit on the very cell (class and hover text); a duplicate marks account and unit;
    the filter shows only rows with problems."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        page = t.get("/review").text
        status = cell(page, 25, STATUS)
        assert "problem" in status
        assert "&#39;On Patrol&#39; is not a status" in status
        assert "problem" not in cell(page, 25, 0)
        assert "the account is missing" in cell(page, 26, 0)
        for col, words in ((0, "is not an account UUID"), (7, "is not a page"), (8, "yes or no")):
            assert words in cell(page, 27, col)
        for col in (0, 1):
            assert "duplicate of row 6" in cell(page, 28, col)
        assert "25 valid" in page
        only = t.get("/review?problems=1").text
        assert sorted(map(int, re.findall(r'<tr id="row-(\d+)"', only))) == [25, 26, 27, 28]


def test_editing_a_cell_rechecks_its_row_with_the_library_s_normaliser(tmp_path: Path) -> None:
    """A fixed cell clears its problem at once; the payload equals what prepare() makes of the
    same text (one Normaliser, not a copy); a new mistake is marked just as check marks it."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        fixed = t.post(
            "/review/cell", data={"row": "25", "col": str(STATUS), "value": " On Scene "}
        )
        assert fixed.status_code == 200
        assert 'class="valid"' in fixed.text
        assert "problem" not in cell(fixed.text, 25, STATUS)
        assert "26 valid" in fixed.text  # the tally, swapped out of band
        review = t.ws.review
        assert review is not None
        edited = review.row(25)
        assert edited.row.values[STATUS] == "On Scene"
        prep = prepare(ROSTER)
        again = prep.normaliser(25, edited.row.values)
        assert again.payload == edited.norm.payload
        assert edited.norm.payload is not None
        assert edited.norm.payload["status"] == 4
        broken = t.post("/review/cell", data={"row": "4", "col": "7", "value": "Boat"})
        assert "&#39;Boat&#39; is not a page" in cell(broken.text, 4, 7)


def test_an_edit_that_ends_a_duplicate_redraws_the_other_row_too(tmp_path: Path) -> None:
    """Changing row 6's unit frees row 28 (its duplicate): both rows come back, the other out of
    band; changing it back makes row 28 a duplicate again."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        answer = t.post("/review/cell", data={"row": "6", "col": "1", "value": "1-ADAM-99"})
        assert '<tr id="row-28" class="valid" hx-swap-oob="true"' in answer.text
        review = t.ws.review
        assert review is not None
        assert review.row(28).valid
        back = t.post("/review/cell", data={"row": "6", "col": "1", "value": "1-ADAM-12"})
        assert '<tr id="row-28" class="invalid" hx-swap-oob="true"' in back.text


def test_an_edit_of_a_row_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    """Row and column must name a cell of the roster."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        assert (
            t.post("/review/cell", data={"row": "999", "col": "1", "value": "x"}).status_code == 422
        )
        assert (
            t.post("/review/cell", data={"row": "4", "col": "99", "value": "x"}).status_code == 422
        )


def test_the_corrected_roster_keeps_rows_where_they_were_with_the_fix(tmp_path: Path) -> None:
    """The downloaded xlsx reads back (header on row 3, same row numbers) with the fixed cell and
    every other cell exactly as the original."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        t.post("/review/cell", data={"row": "25", "col": str(STATUS), "value": "Available"})
        answer = t.get("/review/corrected.xlsx")
        assert answer.status_code == 200
        assert 'filename="roster.corrected.xlsx"' in answer.headers["content-disposition"]
        path = tmp_path / "corrected.xlsx"
        path.write_bytes(answer.content)
    original = {c.row.number: c.row.values for c in prepare(ROSTER).rows}
    back = prepare(path, ReadOptions())
    assert back.roster.header_row == 3
    got = {c.row.number: c.row.values for c in back.rows}
    assert got.keys() == original.keys()
    assert got[25][STATUS] == "Available"
    assert {n: v for n, v in got.items() if n != 25} == {
        n: v for n, v in original.items() if n != 25
    }
    assert back.tally[Result.INVALID] == 2


# -- 4. connect -----------------------------------------------------------------------------------


def test_a_key_is_taken_and_never_shown_again(tmp_path: Path) -> None:
    """The key typed is kept in memory; the page shows its fingerprint and an empty field."""
    with page_under_test(tmp_path) as t:
        page = t.connect()
        assert t.ws.has_key
        assert KEY not in page.text
        assert 'value=""' in re.search(r'<input type="password"[^>]*>', page.text).group(0)  # type: ignore[union-attr]
        assert "key-" in page.text
        assert "forget-key" in page.text
        t.post("/connect/forget-key")
        assert not t.ws.has_key


def test_the_key_comes_from_the_environment_without_being_shown(tmp_path: Path) -> None:
    """SONORAN_API_KEY at launch is held and named by its fingerprint only."""
    with page_under_test(tmp_path, env={"SONORAN_API_KEY": KEY}) as t:
        page = t.get("/connect").text
        assert t.ws.has_key
        assert "from the SONORAN_API_KEY variable" in page
        assert KEY not in page


def test_connection_settings_are_checked_as_the_command_line_checks_them(tmp_path: Path) -> None:
    """Plain http to another host and a bad rate are refused in one line each."""
    with page_under_test(tmp_path) as t:
        page = t.post("/connect", data={"base_url": "http://cad.example", "api_key": KEY})
        assert page.status_code == 422
        assert "plain http" in page.text
        page = t.post("/connect", data={"base_url": "http://127.0.0.1:9", "rate": "fast"})
        assert "rate &#39;fast&#39; is not understood" in page.text
        page = t.post("/connect", data={"base_url": "http://127.0.0.1:9", "api_key": "a b"})
        assert "paste only the key" in page.text
        assert not t.ws.has_key


def test_the_account_list_names_rows_whose_member_is_missing_or_not_validated(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """Fetching the list (every status, paced) names a row whose account is not in the CAD and
    one whose account is banned, with the reason."""
    members = accounts_json()
    banned = next(m for m in members if m["status"] == 4)
    roster = csv_roster(
        [
            ["Account UUID", "Unit Number"],
            [members[0]["uuid"], "1"],
            [banned["uuid"], "2"],
            [ACCOUNT_B, "3"],
        ]
    )
    server = FakeCommunity(members=members)
    with page_under_test(tmp_path, server=server) as t:
        t.post("/roster/open", data={"location": str(roster)})
        t.connect()
        t.post("/connect/accounts")
        t.wait_for_job()
        page = t.get("/connect").text
        assert f"{len(members)} accounts" in page
        assert f"account {banned['uuid']} ({banned['username']}) is banned in the CAD" in page
        assert f"account {ACCOUNT_B} is not in the CAD&#39;s account list" in page
        assert f"account {members[0]['uuid']} " not in page
        assert server.count("GET") == 5  # one page for each of the five statuses
        review = t.get("/review").text
        assert "is banned in the CAD" in review


# -- 5-7. preview, sync, results ------------------------------------------------------------------


def test_preview_shows_the_plan_and_its_time_and_sends_nothing(tmp_path: Path) -> None:
    """A dry run: rows to create, invalid and duplicate rows with why, the estimate at the rate;
    the server hears nothing; invalid rows hold the sync back unless skipped."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        t.connect(rate="10/min")
        held = t.post("/preview", data={}).text
        assert "not sent: 4 rows are invalid or duplicate" in held
        page = t.post("/preview", data={"skip_invalid": "on"}).text
        assert 'id="plan-summary">25 to create, 3 invalid, 1 duplicate<' in page
        assert re.search(
            r'id="estimate">\d+ requests, about <strong>\d+:\d\d</strong> at 10/min', page
        )
        assert "duplicate of row 6" in page
        assert t.server.log == []


def test_the_sync_runs_in_a_worker_and_pushes_progress_as_server_sent_events(
    tmp_path: Path,
) -> None:
    """Start answers at once; /events streams progress (sent/total, created) until an end
    event; the results show the counts and the server holds each valid row once."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        started = t.post("/sync/start")
        assert started.status_code == 200
        with t.client.stream("GET", "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            text = "".join(stream.iter_text())
        seen = events(text)
        assert seen[-1] == ("end", "sync")
        last = [data for name, data in seen if name == "progress"][-1]
        assert 'id="count-created">25<' in last
        assert 'data-state="ended"' in last
        t.wait_for_job()
        results = t.get("/results").text
        assert (
            'id="summary" class="summary">created 25, updated 0, unchanged 0, failed 0' in results
        )
        assert all(n == 1 for n in t.server.units().values())
        assert len(t.server.units()) == 25
        download = t.get("/results/download")
        assert download.status_code == 200
        assert download.content.startswith(b"PK")


def test_stop_then_resume_creates_each_row_exactly_once(tmp_path: Path) -> None:
    """Stop (the page's Ctrl-C) after the third create leaves the rest for Resume, which goes on
    from the same journal: 25 identifiers, none twice."""
    server = FakeCommunity()
    with page_under_test(tmp_path, server=server) as t:

        def stop_after_three(posts: int) -> None:
            if posts == 3:
                t.page.runner.stop()

        server.after_post = stop_after_three
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        t.wait_for_job()
        stopped = t.get("/sync").text
        assert "stopped: press Resume" in stopped
        assert ">Resume</button>" in stopped
        assert len(server.units()) == 3
        server.after_post = None
        t.post("/sync/start")
        t.wait_for_job()
        assert len(server.units()) == 25
        assert all(n == 1 for n in server.units().values())
        results = t.get("/results").text
        assert "created 22, updated 0, unchanged 3" in results


def test_only_one_job_runs_at_a_time(tmp_path: Path) -> None:
    """While a sync runs, another start (or a preview) is refused with a plain message."""
    server = FakeCommunity()
    release = __import__("threading").Event()
    server.after_post = lambda posts: release.wait(10)
    with page_under_test(tmp_path, server=server) as t:
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        wait_until(lambda: server.count("POST") >= 1)
        again = t.post("/sync/start")
        assert again.status_code == 422
        assert "a sync is running" in again.text
        assert "a job is running" in t.post("/preview", data={"skip_invalid": "on"}).text
        release.set()
        server.after_post = None
        t.wait_for_job()


def test_a_failed_row_is_listed_with_the_server_s_reason(tmp_path: Path) -> None:
    """A row the server refuses is in the results with its reason; the others are created."""
    server = FakeCommunity(scripts={"POST": [404]})
    with page_under_test(tmp_path, server=server) as t:
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        t.wait_for_job()
        page = t.get("/results").text
        assert "created 24" in page
        failed = re.search(r'<table class="plan" id="failed">.*?</table>', page, re.S)
        assert failed is not None
        assert "refused with 404" in failed.group(0)


def test_results_rebuild_from_the_journal_for_a_run_made_elsewhere(tmp_path: Path) -> None:
    """After a run, a new launch of the page (same state folder) rebuilds the results from the
    journal without sending anything."""
    server = FakeCommunity()
    with page_under_test(tmp_path, server=server) as t:
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        t.wait_for_job()
    second = tmp_path / "again"
    second.mkdir()
    with page_under_test(
        second, server=server, env={"XDG_STATE_HOME": str(tmp_path / "state")}
    ) as t:
        t.upload(ROSTER)
        t.connect()
        sent = len(server.log)
        page = t.post("/results/rebuild").text
        assert "created 25" in page
        assert len(server.log) == sent


def test_events_without_a_job_say_there_is_nothing_to_stream(tmp_path: Path) -> None:
    """No job yet: /events answers 204, so the browser does not retry forever."""
    with page_under_test(tmp_path) as t:
        assert t.get("/events").status_code == 204


# -- 8. schedule ----------------------------------------------------------------------------------


def test_the_scheduled_sync_file_holds_source_mapping_and_defaults_but_no_key(
    tmp_path: Path, csv_roster: RosterWriter
) -> None:
    """The TOML names the community, the key's variable (never the key), the roster's path, its
    maps and defaults; it is private; the cron line runs `sync --json --log-file`."""
    roster = csv_roster([["Account UUID", "Callsign No", "Dept"], [ACCOUNT_A, "7", ""]])
    with page_under_test(tmp_path) as t:
        t.post("/roster/open", data={"location": str(roster)})
        t.post(
            "/columns",
            data={
                "col-0": "accountUuid",
                "col-1": "unitNum",
                "col-2": "department",
                "default-department": 'LS "PD"',
            },
        )
        t.connect(rate="10/min")
        t.post("/preview", data={"skip_invalid": "on", "delete_missing": "on", "max_delete": "3"})
        config = tmp_path / "conf" / "sync.toml"
        page = t.post(
            "/schedule",
            data={
                "source": str(roster),
                "config_path": str(config),
                "log_path": str(tmp_path / "sync.log"),
            },
        )
        assert page.status_code == 200, page.text[-1500:]
        text = config.read_text("utf-8")
        assert KEY not in text
        data = tomllib.loads(text)
        assert data["community"] == {
            "base_url": "http://127.0.0.1:9",
            "api_key_env": "SONORAN_API_KEY",
            "rate": "10/min",
        }
        assert data["roster"] == [
            {
                "name": "roster",
                "source": str(roster),
                "map": {"Callsign No": "unitNum"},
                "defaults": {"department": 'LS "PD"'},
                "skip_invalid": True,
                "delete_missing": True,
                "max_delete": 3,
            }
        ]
        assert os.stat(config).st_mode & 0o777 == 0o600
        cron = re.search(r'<pre id="cron-line">([^<]*)</pre>', page.text)
        assert cron is not None
        assert f" sync {config} --json --log-file {tmp_path / 'sync.log'}" in cron.group(1)
        again = t.post(
            "/schedule",
            data={
                "source": str(roster),
                "config_path": str(config),
                "log_path": str(tmp_path / "sync.log"),
            },
        )
        assert "exists: tick" in again.text


def test_a_dropped_file_needs_its_path_for_the_schedule(tmp_path: Path) -> None:
    """The page can't know where a dropped file lives: the schedule asks for it plainly."""
    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        page = t.post(
            "/schedule",
            data={
                "source": "",
                "config_path": str(tmp_path / "s.toml"),
                "log_path": str(tmp_path / "s.log"),
            },
        )
        assert page.status_code == 422
        assert "needs the roster&#39;s path or link" in page.text


# -- the key --------------------------------------------------------------------------------------


def test_the_key_never_appears_in_any_response_or_file(tmp_path: Path) -> None:
    """Through every step (connect, accounts, preview, sync, results, schedule), no response
    body or header holds the key, nor any file the page or the library wrote."""
    server = FakeCommunity(members=accounts_json())
    with page_under_test(tmp_path, server=server) as t:
        t.upload(ROSTER)
        t.post("/review/cell", data={"row": "25", "col": str(STATUS), "value": "Available"})
        t.connect()
        t.post("/connect/accounts")
        t.wait_for_job()
        for path in ("/roster", "/columns", "/review", "/connect", "/sync", "/results"):
            t.get(path)
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        with t.client.stream("GET", "/events") as stream:
            "".join(stream.iter_text())
        t.wait_for_job()
        t.get("/results")
        t.get("/results/download")
        t.get("/review/corrected.xlsx")
        t.post("/results/rebuild")
        t.post(
            "/schedule",
            data={
                "source": str(ROSTER),
                "config_path": str(tmp_path / "s.toml"),
                "log_path": str(tmp_path / "s.log"),
            },
        )
        assert len(t.responses) > 20
        for response in t.responses:
            assert KEY not in response.text, response.request.url
            assert all(KEY not in v for v in response.headers.values()), response.request.url
        assert len(server.units()) == 26
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 5
    for file in written:
        assert KEY.encode() not in file.read_bytes(), file


def test_a_google_sheets_link_reads_its_tab_then_any_tab_of_the_workbook(tmp_path: Path) -> None:
    """A shared link is read as the CSV export of its tab; 'another tab' downloads the whole
    workbook (xlsx export) to pick from; the schedule then names the link and the tab."""
    asked: list[str] = []
    link = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0"

    def google(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.params.get("format") == "xlsx":
            return httpx.Response(200, content=ROSTER.read_bytes(), headers={"content-type": XLSX})
        csv = (SAMPLES / "roster.csv").read_bytes()
        return httpx.Response(200, content=csv, headers={"content-type": "text/csv"})

    with page_under_test(tmp_path, source_transport=httpx.MockTransport(google)) as t:
        page = t.post("/roster/open", data={"location": link}).text
        assert asked == [
            "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/export?format=csv&gid=0"
        ]
        assert 'id="header-found">Header on <strong>row 3</strong>' in page
        assert 'id="tabs"' in page
        page = t.post("/roster/tabs").text
        assert asked[-1].endswith("/export?format=xlsx")
        assert '<option value="Roster" selected>Roster</option>' in page
        assert t.ws.source is not None
        assert t.ws.source.stem == "sheet-1AbCdEfG"
        t.connect()
        config = tmp_path / "google.toml"
        t.post(
            "/schedule",
            data={"source": link, "config_path": str(config), "log_path": str(tmp_path / "g.log")},
        )
        roster = tomllib.loads(config.read_text("utf-8"))["roster"][0]
        assert (roster["source"], roster["sheet"], roster["name"]) == (
            link,
            "Roster",
            "sheet-1AbCdEfG",
        )


def test_preview_after_a_sync_shows_updates_with_their_changes_and_deletions_with_the_guard(
    tmp_path: Path,
) -> None:
    """After a sync, a changed rank is 'to update' with old and new values, the rest unchanged;
    a renamed unit is a departure, held back while rows lack a readable account (the library's
    guard, shown), 'to delete' once they are fixed, and held again by a zero limit."""

    def counts(page: str) -> dict[str, int]:
        found = re.search(r'id="plan-summary">([^<]*)<', page)
        assert found is not None
        return {w: int(n) for n, w in (p.split(" ", 1) for p in found.group(1).split(", "))}

    with page_under_test(tmp_path) as t:
        t.upload(ROSTER)
        t.connect()
        t.post("/preview", data={"skip_invalid": "on"})
        t.post("/sync/start")
        t.wait_for_job()
        t.post("/review/cell", data={"row": "4", "col": "4", "value": "Captain"})
        t.post("/review/cell", data={"row": "5", "col": "1", "value": "002-B"})
        page = t.post("/preview", data={"skip_invalid": "on", "delete_missing": "on"}).text
        assert counts(page) == {
            "to update": 1,
            "to create": 1,
            "unchanged": 23,
            "not in roster": 1,
            "invalid": 3,
            "duplicate": 1,
        }
        update = re.search(r'data-group="to update">.*?</details>', page, re.S)
        assert update is not None
        assert "rank: Chief of Police → Captain" in update.group(0)
        assert 'id="guard">Not deleted: 2 roster rows without a readable account' in page
        for row in ("26", "27"):
            t.post("/review/cell", data={"row": row, "col": "0", "value": ACCOUNT_B})
        page = t.post("/preview", data={"skip_invalid": "on", "delete_missing": "on"}).text
        assert counts(page)["to delete"] == 1
        deleted = re.search(r'data-group="to delete">.*?</details>', page, re.S)
        assert deleted is not None
        assert "<td>002</td>" in deleted.group(0)
        guarded = t.post(
            "/preview", data={"skip_invalid": "on", "delete_missing": "on", "max_delete": "0"}
        ).text
        assert "more than --max-delete 0" in guarded
