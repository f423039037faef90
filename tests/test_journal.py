"""The journal: one process at a time, intent before outcome, every transition committed, and a
file it can't use refused with a message rather than a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_ident.errors import JournalError
from bulk_ident.sync.journal import (
    CREATED,
    FAILED,
    SENDING,
    UNKNOWN,
    Journal,
    default_journal_path,
    only_community,
    payload_hash,
)

KEY = ("3fa85f64-5717-4562-b3fc-2c963f66afa6", "1-adam-12")
PAYLOAD = {"unitNum": "1-ADAM-12", "status": 2}


def test_a_row_moves_through_intent_outcome_and_a_second_attempt(tmp_path: Path) -> None:
    """Intent is 'sending' with one attempt; each outcome replaces it; a new intent counts again."""
    with Journal.open(tmp_path / "j.sqlite", "c") as journal:
        journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r.csv", source_row=4)
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.attempts, entry.source_row) == (SENDING, 1, 4)
        assert entry.settled_state == UNKNOWN  # as a later run sees a dead process's intent
        journal.record_unknown(KEY, 500, "server error")
        journal.record_pending(KEY, None, "not on the server: posting again")
        journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r.csv", source_row=4)
        journal.record_created(KEY, 42, 200)
        entry = journal.get(KEY)
        assert entry is not None
        assert (entry.state, entry.ident_id, entry.attempts, entry.error) == (CREATED, 42, 2, None)
        assert entry.payload_hash == payload_hash(PAYLOAD)


def test_outcomes_survive_the_process(tmp_path: Path) -> None:
    """Each record is committed at once: a new connection sees it without any close."""
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path, "c")
    journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r", source_row=2)
    journal.record_failed(KEY, 400, "Invalid accountUuid format")
    state = sqlite3.connect(path).execute("SELECT state, error FROM rows").fetchone()
    assert state == (FAILED, "Invalid accountUuid format")
    journal.close()


def test_communities_are_kept_apart(tmp_path: Path) -> None:
    """Two communities in one file never see each other's rows."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "one") as journal:
        journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r", source_row=2)
    with Journal.open(path, "two") as journal:
        assert journal.entries() == {}
        assert journal.get(KEY) is None


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
    finally:
        holder.kill()
        holder.communicate()
    Journal.open(path, "c").close()


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    """Pointing --state at some other file gives a message, not a traceback."""
    path = tmp_path / "roster.xlsx"
    path.write_bytes(b"PK\x03\x04 not a database at all" * 100)
    with pytest.raises(JournalError, match="is not a bulk-ident journal"):
        Journal.open(path, "c")


def test_a_journal_from_another_schema_is_refused(tmp_path: Path) -> None:
    """A journal written by another version says so instead of being misread."""
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(JournalError, match="another version of bulk-ident"):
        Journal.open(path, "c")


def test_only_community_names_the_single_community_or_says_why_not(tmp_path: Path) -> None:
    """`results --state` without a key finds the one community a journal holds."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "http://127.0.0.1:1#key-abc") as journal:
        journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r", source_row=2)
    assert only_community(path) == "http://127.0.0.1:1#key-abc"
    with Journal.open(path, "other") as journal:
        journal.record_intent(KEY, "1-ADAM-12", PAYLOAD, source_file="r", source_row=2)
    with pytest.raises(JournalError, match="holds 2 communities"):
        only_community(path)


def test_the_default_path_is_one_file_per_community_under_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$XDG_STATE_HOME/bulk-ident/journal-<hash>.sqlite, a different file per community."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    one = default_journal_path("https://api.sonorancad.com#key-1")
    two = default_journal_path("https://api.sonorancad.com#key-2")
    assert one.parent == tmp_path / "bulk-ident"
    assert one.name.startswith("journal-")
    assert one != two


def test_payload_hash_ignores_key_order_only() -> None:
    """The same body in another key order hashes alike; a changed value does not."""
    assert payload_hash({"a": 1, "b": "x"}) == payload_hash({"b": "x", "a": 1})
    assert payload_hash({"a": 1, "b": "x"}) != payload_hash({"a": 1, "b": "y"})
