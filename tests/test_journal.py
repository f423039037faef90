"""The journal: one process at a time (whatever the path's spelling), intent before outcome,
every transition committed, round-1 journals upgraded, and files it can't use refused with a
one-line message rather than a traceback."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulk_ident.errors import JournalError
from bulk_ident.identifier import DEFAULTS
from bulk_ident.sync.journal import Journal, State, only_community, payload_json, values_of
from bulk_ident.sync.state import RunLock

KEY = ("3fa85f64-5717-4562-b3fc-2c963f66afa6", "1-adam-12")
PAYLOAD = {**DEFAULTS, "unitNum": "1-ADAM-12", "status": 2, "rank": "Officer"}
PROMOTED = {**PAYLOAD, "rank": "Sergeant"}


def intent(journal: Journal, payload: dict[str, object] = PAYLOAD) -> None:
    """Record the intent to POST the test row."""
    journal.record_intent(KEY, "1-ADAM-12", payload, scope="s", source_file="r.csv", source_row=4)


def test_a_row_moves_through_intent_outcome_and_a_second_attempt(tmp_path: Path) -> None:
    """Intent is 'sending' with one attempt; each outcome replaces it; a new intent counts again."""
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        intent(journal)
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.attempts, entry.source_row, entry.scope) == (
            State.SENDING,
            1,
            4,
            "s",
        )
        assert entry.settled_state is State.UNKNOWN  # as a later run sees a dead process's intent
        assert entry.values is None
        journal.record_unknown(KEY, 500, "server error")
        journal.record_pending(KEY, None, "not on the server: posting again")
        intent(journal)
        journal.record_created(KEY, 42, 200, "created")
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.ident_id, entry.attempts, entry.error) == (
            State.CREATED,
            42,
            2,
            None,
        )
        assert entry.values == values_of(PAYLOAD)
        assert entry.want is None
        assert entry.on_server


def test_values_keep_their_types(tmp_path: Path) -> None:
    """'007' stays text and booleans come back as booleans' equals, so re-runs compare equal."""
    payload = {**PAYLOAD, "unitNum": "007", "isDispatch": True, "page": -1}
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        intent(journal, payload)
        journal.record_created(KEY, 7, 200, "created")
        entry = journal.get(KEY)
        assert entry is not None
        assert entry.values == values_of(payload)
        assert entry.values is not None
        assert entry.values[2] == "007"


def test_update_and_delete_transitions(tmp_path: Path) -> None:
    """PATCH intent keeps the old values until confirmed; 404 forgets the id; DELETE keeps a
    record marked deleted."""
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        intent(journal)
        journal.record_created(KEY, 42, 200, "created")
        journal.record_update_intent(KEY, PROMOTED, "rank: Officer → Sergeant")
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.values, entry.wanted()) == (
            State.UPDATING,
            values_of(PAYLOAD),
            PROMOTED,
        )
        journal.record_updated(KEY, 200, "updated")
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.values, entry.last_result) == (
            State.CREATED,
            values_of(PROMOTED),
            "updated",
        )
        assert entry.changes == "rank: Officer → Sergeant"
        journal.record_update_intent(KEY, PAYLOAD, "rank: Sergeant → Officer")
        journal.record_update_failed(KEY, 400, "bad rank")
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.values, entry.error) == (
            State.CREATED,
            values_of(PROMOTED),
            "bad rank",
        )
        journal.record_delete_intent(KEY)
        journal.record_deleted(KEY, 200)
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.ident_id, entry.on_server) == (State.DELETED, 42, False)
        journal.record_gone(KEY, 404)
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.ident_id, entry.values) == (State.PENDING, None, None)


def test_a_refused_post_keeps_the_refused_payload(tmp_path: Path) -> None:
    """A 4xx keeps the body that was refused, so a later run can tell whether the row changed."""
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        intent(journal)
        journal.record_failed(KEY, 404, "Account not found")
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.rejected, entry.error) == (
            State.FAILED,
            payload_json(PAYLOAD),
            "Account not found",
        )


def test_outcomes_survive_the_process(tmp_path: Path) -> None:
    """Each record is committed at once, in the database file itself (no WAL to lose)."""
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path, "c")
    intent(journal)
    journal.record_failed(KEY, 400, "Invalid accountUuid format")
    assert not Path(str(path) + "-wal").exists()
    found = sqlite3.connect(path).execute("SELECT state, error FROM rows").fetchone()
    assert found == ("failed", "Invalid accountUuid format")
    journal.close()


def test_communities_are_kept_apart(tmp_path: Path) -> None:
    """Two communities in one file never see each other's rows or listings."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "one") as journal:
        intent(journal)
        journal.record_listed(KEY[0])
    with Journal.open(path, "two") as journal:
        assert journal.entries() == {}
        assert journal.get(KEY) is None
        assert journal.listed_accounts() == set()


def test_listings_and_runs_are_remembered(tmp_path: Path) -> None:
    """An account listed once stays listed; runs are numbered per scope."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "c") as journal:
        journal.record_listed(KEY[0])
        first = journal.begin_run("lspd", "lspd.xlsx")
        journal.finish_run("done")
        second = journal.begin_run("lspd", "lspd.xlsx")
    with Journal.open(path, "c") as journal:
        assert journal.listed_accounts() == {KEY[0]}
        run = journal.last_run("lspd")
        assert run is not None
        assert (run.id, run.stop) == (second, None)
        assert second > first
        assert journal.last_run("bcso") is None


def test_claim_moves_rows_into_a_scope(tmp_path: Path) -> None:
    """A row another roster now lists moves to that roster's scope."""
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        intent(journal)
        assert journal.claim([KEY], "fire") == 1
        entry = journal.get(KEY)
        assert entry is not None
        assert entry.scope == "fire"
        assert journal.claim([KEY], "fire") == 0


def test_a_second_process_is_refused_and_a_killed_ones_lock_is_not(tmp_path: Path) -> None:
    """While a process holds the journal another is refused; once it is killed, it opens."""
    path = tmp_path / "j.sqlite"
    code = (
        "import sys, time; from pathlib import Path; from bulk_ident.sync.journal import Journal;"
        f"j = Journal.open(Path({str(path)!r}), 'c'); print('open', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(JournalError, match="in use by another bulk-ident run"):
            Journal.open(path, "c")
        link = tmp_path / "link.sqlite"
        link.symlink_to(path)
        with pytest.raises(JournalError, match=r"in use by another bulk-ident run \(process"):
            Journal.open(link, "c")
    finally:
        holder.kill()
        holder.communicate()
    Journal.open(path, "c").close()


def test_a_new_journal_is_private(tmp_path: Path) -> None:
    """The journal holds members' names and account UUIDs: 0600 in a 0700 folder."""
    path = tmp_path / "state" / "j.sqlite"
    Journal.open(path, "c").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty, so it is not a journal: move it aside"),
        (b"PK\x03\x04 not a database at all" * 100, "is not a bulk-ident journal"),
    ],
)
def test_a_file_that_is_not_a_journal_is_refused_untouched(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """An empty or foreign file is refused (never taken as a new journal) and left as it was."""
    path = tmp_path / "j.sqlite"
    path.write_bytes(content)
    with pytest.raises(JournalError, match=message) as err:
        Journal.open(path, "c")
    assert "check the server for every account" in str(err.value)
    assert path.read_bytes() == content


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    """Another program's SQLite database is not mistaken for a journal."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(JournalError, match="SQLite file but not a bulk-ident journal"):
        Journal.open(path, "c")


def test_a_journal_from_another_schema_is_refused(tmp_path: Path) -> None:
    """A journal written by a newer version says so instead of being misread."""
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(JournalError, match="another version of bulk-ident"):
        Journal.open(path, "c")


def test_a_round_one_journal_is_upgraded_in_place(tmp_path: Path) -> None:
    """Schema 1 journals keep every row: created rows their id and values, lost answers their
    body (to settle), refused rows the refused body."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema', '1');"
            "CREATE TABLE rows (community TEXT NOT NULL, account TEXT NOT NULL, unit_key TEXT"
            " NOT NULL, unit_num TEXT NOT NULL, payload_hash TEXT NOT NULL, payload TEXT NOT"
            " NULL, state TEXT NOT NULL, ident_id INTEGER, http_status INTEGER, error TEXT,"
            " attempts INTEGER NOT NULL DEFAULT 0, source_file TEXT, source_row INTEGER,"
            " created_at REAL, updated_at REAL NOT NULL,"
            " PRIMARY KEY (community, account, unit_key));"
        )
        body = json.dumps(PAYLOAD, sort_keys=True)
        for unit, state, ident in (
            ("a", "created", 5),
            ("b", "sending", None),
            ("c", "failed", None),
        ):
            conn.execute(
                "INSERT INTO rows VALUES ('c', ?, ?, ?, 'h', ?, ?, ?, NULL, NULL, 1, 'r', 2, 1.0,"
                " 2.0)",
                (KEY[0], unit, unit.upper(), body, state, ident),
            )
    with Journal.open(path, "c") as journal:
        entries = journal.entries()
    created, sending, failed = (entries[(KEY[0], u)] for u in "abc")
    assert (created.state, created.ident_id, created.values) == (
        State.CREATED,
        5,
        values_of(PAYLOAD),
    )
    assert sending.settled_state is State.UNKNOWN
    assert sending.wanted() == PAYLOAD
    assert failed.rejected == body
    assert created.scope is None


def test_a_read_only_journal_is_refused_in_one_line(tmp_path: Path) -> None:
    """Writes to a journal that can't be written end in a JournalError that says why."""
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    journal = Journal(path, "c", conn, RunLock(tmp_path / "x.lock", ""), time.time)
    with pytest.raises(JournalError, match="it is read-only; check its permissions"):
        intent(journal)


def test_a_full_disk_is_reported_in_one_line(tmp_path: Path) -> None:
    """A journal that can't grow says the disk is full, not an sqlite traceback."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "c") as journal:
        pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
        journal._conn.execute(f"PRAGMA max_page_count={pages}")
        big = {**PAYLOAD, "name": "x" * 3000}

        def fill() -> None:
            for n in range(200):
                journal.record_intent(
                    (KEY[0], f"u{n}"), "u", big, scope="s", source_file="r", source_row=n
                )

        with pytest.raises(JournalError, match="the disk is full"):
            fill()


def test_read_only_opening_needs_no_lock_and_reads_a_missing_journal_as_empty(
    tmp_path: Path,
) -> None:
    """A dry run reads the journal while an import holds it; no journal yet reads as empty."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "c") as journal:
        intent(journal)
        with Journal.open_read_only(path, "c") as reader:
            assert set(reader.entries()) == {KEY}
    with Journal.open_read_only(tmp_path / "none.sqlite", "c") as reader:
        assert reader.entries() == {}
    assert not (tmp_path / "none.sqlite").exists()


def test_only_community_names_the_single_community_or_says_why_not(tmp_path: Path) -> None:
    """`results --state` without a key finds the one community a journal holds."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "http://127.0.0.1:1#key-abc") as journal:
        intent(journal)
    assert only_community(path) == "http://127.0.0.1:1#key-abc"
    with Journal.open(path, "other") as journal:
        intent(journal)
    with pytest.raises(JournalError, match="holds 2 communities"):
        only_community(path)
