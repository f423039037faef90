"""The sync, in-process: ``run_import`` against a scripted server with a fake clock. Exactly once
across keys, journals and outages; updates, departures, drift and the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_fakes import ACCOUNTS, FakeSonoran, Harness, member_rows, results, write_roster

from bulk_ident.jobs import ImportReport
from bulk_ident.report.report import summary_line
from bulk_ident.sync.importer import Settings
from bulk_ident.sync.journal import Journal, State, payload_of
from bulk_ident.words import EventKind, Result, Stop


def roster(h: Harness, rows: list[list[str]], name: str = "roster.csv") -> Path:
    """Write a roster into the harness's folder."""
    return write_roster(h.tmp / name, rows)


# -- exactly once -------------------------------------------------------------------------------


def test_rows_are_created_once_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    """A first run checks each unseen account once and creates every row; a rerun sends nothing."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(4))
    first = h.run(path)
    assert (first.stop, first.exit_code) == (Stop.DONE, 0)
    assert h.server.count("GET") == 2  # one listing per account the journal never saw
    assert h.server.count("POST") == 4
    assert set(h.server.units().values()) == {1}
    assert {r for r, _ in results(first).values()} == {"created"}
    second = h.run(path)
    assert len(h.server.log) == 6
    assert {r for r, _ in results(second).values()} == {"unchanged"}
    assert second.requests == {}


@pytest.mark.parametrize("how", ["rotated key", "fresh state", "lost journal"])
def test_a_journal_that_cant_vouch_adopts_instead_of_creating(tmp_path: Path, how: str) -> None:
    """A rotated key, another --state or a deleted journal costs one GET per account, no POST:
    every row is 'already on server' with the server's identId."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(6))
    h.run(path)
    ids = {d["unitNum"]: i for i, d in h.server.held.items()}
    h.server.log.clear()
    if how == "rotated key":
        h.key = "rotated-key"
        again = h.run(path)
    elif how == "fresh state":
        again = h.run(path, state=tmp_path / "other.sqlite")
    else:
        for journal in (tmp_path / "state" / "bulk-ident").glob("journal-*"):
            journal.unlink()
        again = h.run(path)
    assert h.server.count("POST") == 0
    assert h.server.count("GET") == len(ACCOUNTS)
    assert set(h.server.units().values()) == {1}
    for unit, (result, _) in results(again).items():
        assert result == "already on server", unit
    assert {r.values[1]: r.ident_id for r in again.reports} == ids
    assert again.exit_code == 0


def test_no_match_existing_creates_them_again(tmp_path: Path) -> None:
    """Opting out of the check saves the GETs and, on a server that holds the units, duplicates
    them: the cost the README warns of."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(3))
    h.run(path)
    h.key = "rotated-key"
    h.server.log.clear()
    h.run(path, match_existing=False)
    assert h.server.count("GET") == 0
    assert h.server.count("POST") == 3
    assert set(h.server.units().values()) == {2}


def test_an_outage_fails_no_row_and_costs_no_attempt(tmp_path: Path) -> None:
    """With the server down the run stops resumably (exit 3) without failing a row; once it is
    back every row is created once, and attempts count only requests that reached it."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(3))
    h.server.scripts["GET"] = ["refused"] * 6
    down = h.run(path)
    assert (down.stop, down.exit_code) == (Stop.UNREACHABLE, 3)
    assert "can't reach the server" in (down.outcome.message if down.outcome else "")
    assert Result.FAILED not in down.counts
    waits = [e for e in h.events if e.kind is EventKind.UNREACHABLE]
    assert [e.detail for e in waits] == ["1/6", "2/6", "3/6", "4/6", "5/6"]
    assert [e.seconds for e in waits] == [1, 2, 4, 8, 16]
    up = h.run(path)
    assert up.exit_code == 0
    assert set(h.server.units().values()) == {1}
    assert len(h.server.units()) == 3
    with Journal.open(up.journal_path or Path(), f"{up.base_url}#{up.fingerprint}") as journal:
        assert {e.attempts for e in journal.entries().values()} == {1}


def test_refused_connections_mid_run_are_retried_not_failed(tmp_path: Path) -> None:
    """A POST that never left is sent again after a back-off; the row is created once."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(2))
    h.server.scripts["POST"] = ["refused", "refused"]
    report = h.run(path)
    assert report.exit_code == 0
    assert h.server.count("POST") == 4
    assert set(h.server.units().values()) == {1}


def test_unknown_host_stops_at_once(tmp_path: Path) -> None:
    """A host that can't be found stops after one request: waiting can't help."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(2))
    h.server.scripts["GET"] = ["dns"]
    report = h.run(path)
    assert report.stop is Stop.HOST_NOT_FOUND
    assert report.outcome is not None
    assert report.outcome.message == "can't find host '127.0.0.1:9': check --base-url"
    assert len(h.server.log) == 1
    assert report.exit_code == 3


def test_a_refused_key_stops_at_once(tmp_path: Path) -> None:
    """401 stops the run after one request and says what to check."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(2))
    h.server.scripts["GET"] = [401]
    report = h.run(path)
    assert report.stop is Stop.UNAUTHORISED
    assert report.outcome is not None
    assert "refused the API key (401" in report.outcome.message
    assert "check SONORAN_API_KEY or --api-key-file; nothing else was sent" in (
        report.outcome.message
    )
    assert len(h.server.log) == 1
    assert report.results_path is None  # nothing sent: an earlier sheet is not replaced


@pytest.mark.parametrize("fault", ["store500", "lose"])
def test_a_lost_answer_is_settled_by_listing_never_posted_twice(tmp_path: Path, fault: str) -> None:
    """A POST that may have landed is looked up before it is ever sent again."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(2))
    h.server.scripts["POST"] = [fault]
    report = h.run(path)
    assert report.exit_code == 0
    assert set(h.server.units().values()) == {1}
    assert h.server.count("POST") == 2
    assert h.server.count("GET") == 3  # two accounts checked first, one settle
    assert {r for r, _ in results(report).values()} == {"created"}


def test_a_500_that_stored_nothing_is_posted_again_after_settling(tmp_path: Path) -> None:
    """A 500 before storing: the listing shows it absent, so it is posted again."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(1))
    h.server.scripts["POST"] = [500]
    report = h.run(path)
    assert report.exit_code == 0
    assert h.server.count("POST") == 2
    assert set(h.server.units().values()) == {1}


def test_a_row_gives_up_for_the_run_and_the_next_run_finishes_it(tmp_path: Path) -> None:
    """After 5 unknown outcomes a row is left for the next run, which settles it first."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(1))
    h.server.scripts["POST"] = [500] * 5
    first = h.run(path, settings=Settings(max_faults=50))
    assert results(first)["U-0"][0] == "failed"
    assert results(first)["U-0"][1].startswith("gave up for this run after 5 requests")
    assert h.server.count("POST") == 5
    second = h.run(path)
    assert results(second)["U-0"][0] == "created"
    assert h.server.count("POST") == 6
    assert set(h.server.units().values()) == {1}


def test_a_rejected_row_is_not_resent_until_it_changes(tmp_path: Path) -> None:
    """A 4xx is reported again without a request; a changed row, or --retry-failed, resends."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(1))
    h.server.scripts["POST"] = [422]
    first = h.run(path)
    assert results(first)["U-0"] == ("failed", "422 refused with 422")
    assert first.exit_code == 1
    posts = h.server.count("POST")
    again = h.run(path)
    assert h.server.count("POST") == posts
    result, error = results(again)["U-0"]
    assert result == "failed"
    assert "not sent again: change the row, or pass --retry-failed" in error
    h.run(path, retry_failed=True)
    assert h.server.count("POST") == posts + 1
    assert len(h.server.units()) == 1


def test_a_second_journal_open_for_the_community_is_refused(tmp_path: Path) -> None:
    """Two imports into one community on one machine are refused whatever their --state."""
    from bulk_ident.errors import JournalError
    from bulk_ident.jobs import community_of
    from bulk_ident.sync import state

    h = Harness(tmp_path)
    path = roster(h, member_rows(1))
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    _, _, community = community_of("http://127.0.0.1:9/", h.key)
    lock = state.community_lock(community, env).acquire()
    try:
        with pytest.raises(JournalError, match="another bulk-ident run is importing"):
            h.run(path, state=tmp_path / "elsewhere.sqlite")
    finally:
        lock.release()
    assert h.server.log == []


# -- updates ------------------------------------------------------------------------------------


def test_a_promotion_is_one_patch_of_the_changed_field(tmp_path: Path) -> None:
    """Rank edited: one PATCH carrying only rank, no POST; the result names the change."""
    h = Harness(tmp_path)
    rows = member_rows(3)
    path = roster(h, rows)
    h.run(path)
    h.server.log.clear()
    rows[1][3] = "Sergeant"
    roster(h, rows)
    report = h.run(path)
    assert [m for m, _ in h.server.log] == ["PATCH"]
    assert results(report)["U-1"] == ("updated", "")
    (changed,) = [r for r in report.reports if r.result is Result.UPDATED]
    assert changed.changes == "rank: Officer → Sergeant"
    assert h.server.by_unit("U-1")["rank"] == "Sergeant"
    assert "created 0, updated 1, unchanged 2" in _summary(report)


def test_no_update_reports_the_change_without_sending_it(tmp_path: Path) -> None:
    """--no-update: the change is listed as 'would update' and nothing is sent."""
    h = Harness(tmp_path)
    rows = member_rows(2)
    path = roster(h, rows)
    h.run(path)
    h.server.log.clear()
    rows[0][2] = "Renamed"
    roster(h, rows)
    report = h.run(path, update=False)
    assert h.server.log == []
    assert results(report)["U-0"][0] == "would update"


def test_a_patch_to_a_deleted_identifier_recreates_it(tmp_path: Path) -> None:
    """PATCH 404: the listing confirms it is gone, then it is created again ('recreated')."""
    h = Harness(tmp_path)
    rows = member_rows(1)
    path = roster(h, rows)
    h.run(path)
    h.server.held.clear()
    h.server.log.clear()
    rows[0][3] = "Captain"
    roster(h, rows)
    report = h.run(path)
    assert [m for m, _ in h.server.log] == ["PATCH", "GET", "POST"]
    assert results(report)["U-0"][0] == "recreated"
    assert h.server.by_unit("U-0")["rank"] == "Captain"


def test_an_unknown_patch_is_sent_again(tmp_path: Path) -> None:
    """PATCH is idempotent: a lost answer is settled by sending it again."""
    h = Harness(tmp_path)
    rows = member_rows(1)
    path = roster(h, rows)
    h.run(path)
    rows[0][3] = "Captain"
    roster(h, rows)
    h.server.log.clear()
    h.server.scripts["PATCH"] = ["lose"]
    report = h.run(path)
    assert [m for m, _ in h.server.log] == ["PATCH", "PATCH"]
    assert results(report)["U-0"][0] == "updated"


def test_an_update_in_flight_at_a_crash_is_finished_by_the_next_run(tmp_path: Path) -> None:
    """A run stopped between PATCH intent and answer leaves 'updating'; the next run sends the
    touched fields again even if the roster went back to the old value."""
    h = Harness(tmp_path)
    rows = member_rows(1)
    path = roster(h, rows)
    first = h.run(path)
    journal_path = first.journal_path or Path()
    community = f"{first.base_url}#{first.fingerprint}"
    with Journal.open(journal_path, community) as journal:
        (entry,) = journal.entries().values()
        assert entry.values is not None
        promoted = {**payload_of(entry.values), "rank": "Sergeant"}
        journal.record_update_intent(entry.key, promoted, "rank: Officer → Sergeant")
    ident = next(iter(h.server.held))
    h.server.held[ident]["rank"] = "Sergeant"  # the PATCH landed; its answer was lost
    h.server.log.clear()
    report = h.run(path)  # the roster still says Officer
    assert [m for m, _ in h.server.log] == ["PATCH"]
    assert h.server.held[ident]["rank"] == "Officer"
    assert results(report)["U-0"][0] == "updated"


# -- departures ---------------------------------------------------------------------------------


def test_departures_are_reported_and_deleted_only_when_asked(tmp_path: Path) -> None:
    """A member who left is 'not in roster'; --delete-missing deletes them ('deleted')."""
    h = Harness(tmp_path)
    rows = member_rows(12)
    path = roster(h, rows)
    h.run(path)
    gone = rows.pop(5)
    roster(h, rows)
    h.server.log.clear()
    report = h.run(path)
    assert h.server.log == []
    assert results(report)[gone[1]][0] == "not in roster"
    deleted = h.run(path, delete_missing=True)
    assert [m for m, _ in h.server.log] == ["DELETE"]
    assert results(deleted)[gone[1]][0] == "deleted"
    assert (ACCOUNTS[1], gone[1]) not in h.server.units()
    last = h.run(path, delete_missing=True)
    assert gone[1] not in results(last)
    assert len(h.server.log) == 1


def test_the_guard_refuses_a_mass_deletion(tmp_path: Path) -> None:
    """A truncated roster would delete most of the scope: none are deleted, exit 1, and the
    message says how many and how to proceed."""
    h = Harness(tmp_path)
    rows = member_rows(20)
    path = roster(h, rows)
    h.run(path)
    roster(h, rows[:4])
    h.server.log.clear()
    report = h.run(path, delete_missing=True)
    assert h.server.log == []
    assert report.stop is Stop.GUARD
    assert report.exit_code == 1
    assert report.plan is not None
    assert "would delete 16 identifiers, more than --max-delete 5: none were deleted" in (
        report.plan.guard
    )
    assert report.counts[Result.NOT_IN_ROSTER] == 16
    allowed = h.run(path, delete_missing=True, max_delete=16)
    assert allowed.counts[Result.DELETED] == 16
    assert len(h.server.held) == 4


def test_rows_without_a_readable_key_hold_deletions_back(tmp_path: Path) -> None:
    """A roster row whose account can't be read might be a 'departure': nothing is deleted."""
    h = Harness(tmp_path)
    rows = member_rows(10)
    path = roster(h, rows)
    h.run(path)
    rows[3][0] = "not-a-uuid"
    roster(h, rows)
    h.server.log.clear()
    report = h.run(path, delete_missing=True, skip_invalid=True)
    assert h.server.log == []
    assert report.plan is not None
    assert "1 roster row without a readable account or unit number" in report.plan.guard


def test_two_scopes_in_one_community_do_not_see_each_other_as_departures(tmp_path: Path) -> None:
    """Police and fire rosters share the community; each deletes only its own departures."""
    h = Harness(tmp_path)
    police = roster(h, member_rows(3), "police.csv")
    fire_rows = [[ACCOUNTS[0], f"F-{i}", f"Fire {i}", "FF"] for i in range(3)]
    fire = roster(h, fire_rows, "fire.csv")
    h.run(police)
    h.run(fire)
    h.server.log.clear()
    report = h.run(police, delete_missing=True)
    assert h.server.log == []
    assert report.counts.get(Result.NOT_IN_ROSTER, 0) == 0
    assert report.counts[Result.UNCHANGED] == 3


# -- drift --------------------------------------------------------------------------------------


def test_verify_repairs_drift_and_lists_strays(tmp_path: Path) -> None:
    """--verify: a unit deleted by hand is recreated, one edited by hand restored, and a unit
    nobody's roster holds is listed 'on server only' and left alone."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(4))
    h.run(path)
    ids = {d["unitNum"]: i for i, d in h.server.held.items()}
    del h.server.held[ids["U-0"]]
    h.server.held[ids["U-1"]]["name"] = "Edited by hand"
    h.server.held[99] = {**h.server.held[ids["U-2"]], "unitNum": "STRAY"}
    h.server.log.clear()
    report = h.run(path, verify=True)
    methods = sorted(m for m, _ in h.server.log)
    assert methods == ["GET", "GET", "PATCH", "POST"]
    found = results(report)
    assert found["U-0"][0] == "recreated"
    assert found["U-1"][0] == "restored"
    assert found["STRAY"][0] == "on server only"
    assert h.server.by_unit("U-1")["name"] == "Member 1"
    assert 99 in h.server.held
    assert report.exit_code == 0


# -- dry run ------------------------------------------------------------------------------------


def test_a_dry_run_sends_nothing_and_writes_the_plan(tmp_path: Path) -> None:
    """--dry-run: no request (the journal vouches or not), the plan's words, nothing recorded."""
    h = Harness(tmp_path)
    rows = member_rows(4)
    path = roster(h, rows)
    h.run(path)
    rows[0][3] = "Sergeant"
    rows.pop()
    rows.append([ACCOUNTS[0], "NEW-1", "New", "Cadet"])
    roster(h, rows)
    h.server.log.clear()
    report = h.run(path, dry_run=True, delete_missing=True)
    assert h.server.log == []
    found = results(report)
    assert found["U-0"][0] == "would update"
    assert found["NEW-1"][0] == "would create"
    assert found["U-3"][0] == "would delete"
    assert found["U-1"][0] == "unchanged"
    assert report.exit_code == 0
    assert report.plan is not None
    assert report.plan.requests == 3
    assert report.estimate == pytest.approx(3 * report.interval)
    again = h.run(path, dry_run=True, delete_missing=True)
    assert results(again) == found


def test_an_interrupted_run_resumes(tmp_path: Path) -> None:
    """A stop request ends the run between requests (exit 130); the rerun finishes the rest."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(5))
    posts = {"n": 0}

    def stop() -> bool:
        posts["n"] = h.server.count("POST")
        return posts["n"] >= 2

    first = h.run(path, stop=stop)
    assert first.stop is Stop.INTERRUPTED
    assert first.counts[Result.NOT_ATTEMPTED] == 3
    h.run(path)
    assert len(h.server.units()) == 5
    assert set(h.server.units().values()) == {1}


def test_a_crash_between_intent_and_answer_is_settled_not_reposted(tmp_path: Path) -> None:
    """A row left 'sending' (the process died mid-request) is looked up before anything else."""
    h = Harness(tmp_path)
    path = roster(h, member_rows(2))
    first = h.run(path)
    community = f"{first.base_url}#{first.fingerprint}"
    with Journal.open(first.journal_path or Path(), community) as journal:
        entry = next(iter(journal.entries().values()))
        journal.record_intent(
            entry.key,
            entry.unit_num,
            {"unitNum": entry.unit_num},
            scope="roster",
            source_file="roster.csv",
            source_row=2,
        )
        assert journal.get(entry.key).state is State.SENDING  # type: ignore[union-attr]
    h.server.log.clear()
    report = h.run(path)
    assert h.server.count("POST") == 0
    assert h.server.count("GET") == 1
    assert report.exit_code == 0


def test_a_refused_account_fails_its_rows_without_a_post(tmp_path: Path) -> None:
    """An account the server doesn't know (404 on listing) fails its rows; no POST is tried."""
    h = Harness(tmp_path, server=FakeSonoran(accounts={ACCOUNTS[0]}))
    path = roster(h, member_rows(4))
    report = h.run(path)
    found = results(report)
    assert found["U-1"] == ("failed", "404 Account not found")
    assert found["U-0"][0] == "created"
    assert h.server.count("POST") == 2
    assert report.exit_code == 1


def _summary(report: ImportReport) -> str:
    return summary_line(report.counts)


def test_the_state_folder_is_private(tmp_path: Path) -> None:
    """After a run the state folder is 0700 and every file in it 0600: it holds members' names
    and account UUIDs."""
    import stat

    h = Harness(tmp_path)
    h.run(roster(h, member_rows(2)))
    folder = tmp_path / "state" / "bulk-ident"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def test_a_clock_set_back_is_noticed_and_does_not_stall(tmp_path: Path) -> None:
    """A wall clock set back 30 minutes between runs: the next run warns and goes on at once."""
    h = Harness(tmp_path)
    rows = member_rows(2)
    path = roster(h, rows)
    h.run(path)
    h.time.now -= 30 * 60
    rows.append([ACCOUNTS[0], "NEW", "New", "Cadet"])
    roster(h, rows)
    before = h.time.now
    report = h.run(path)
    assert report.exit_code == 0
    assert h.time.now - before < 60
    assert [e.kind for e in h.events].count(EventKind.CLOCK_BACK) == 1


def test_a_dry_run_on_a_new_journal_says_would_create(tmp_path: Path) -> None:
    """A first dry run sends nothing and calls new rows 'would create' (the accounts would be
    checked first), never 'would retry'."""
    h = Harness(tmp_path)
    report = h.run(roster(h, member_rows(3)), dry_run=True)
    assert h.server.log == []
    found = results(report)
    assert {r for r, _ in found.values()} == {"would create"}
    assert "the account is checked first" in found["U-0"][1]


def test_the_plan_counts_each_listing_once(tmp_path: Path) -> None:
    """A new journal's plan costs one listing per account plus one POST per row, not two
    requests per row."""
    h = Harness(tmp_path)
    report = h.run(roster(h, member_rows(6)), dry_run=True)
    assert report.plan is not None
    assert report.plan.requests == len(ACCOUNTS) + 6
    h.run(roster(h, member_rows(6)))
    assert len(h.server.log) == len(ACCOUNTS) + 6
