"""The write-ahead journal (SQLite): every POST's intent is committed before it is sent and its
outcome after, so no crash can lose an identifier or create one twice.

A row's state moves like this::

    (none) --intent--> sending --201--> created
                          |    --4xx--> failed     (posted again only on a later run)
                          |    --429 / not sent--> pending
                          |    --5xx / lost--> unknown --settled: found--> created
                          |                            --settled: absent--> pending
    a process that dies while ``sending`` leaves the row ``sending``: read back as unknown.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from bulk_ident.errors import JournalError

SCHEMA_VERSION = 1
PENDING = "pending"
SENDING = "sending"
CREATED = "created"
FAILED = "failed"
UNKNOWN = "unknown"

Key = tuple[str, str]  # (account UUID, unit number case-folded)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    community    TEXT NOT NULL,
    account      TEXT NOT NULL,
    unit_key     TEXT NOT NULL,
    unit_num     TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    ident_id     INTEGER,
    http_status  INTEGER,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    source_file  TEXT,
    source_row   INTEGER,
    created_at   REAL,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (community, account, unit_key)
);
"""


def payload_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of a request body, to notice a row whose values changed since it was sent."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_journal_path(community: str) -> Path:
    """One file per community under $XDG_STATE_HOME/bulk-ident (else ~/.local/state/bulk-ident)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = hashlib.sha256(community.encode()).hexdigest()[:12]
    return Path(base) / "bulk-ident" / f"journal-{name}.sqlite"


def only_community(path: Path) -> str:
    """The community a journal file holds, when it holds exactly one (for ``results --state``)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = [r[0] for r in conn.execute("SELECT DISTINCT community FROM rows")]
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise JournalError(f"{path} is not a bulk-ident journal ({err})") from None
    if len(found) != 1:
        raise JournalError(
            f"{path} holds {len(found)} communities; set SONORAN_API_KEY (or --api-key-file) "
            "and --base-url so the right one is chosen"
        )
    return str(found[0])


@dataclass(frozen=True)
class Entry:
    """What the journal knows about one (account, unit number)."""

    account: str
    unit_key: str
    unit_num: str
    payload_hash: str
    state: str
    ident_id: int | None
    http_status: int | None
    error: str | None
    attempts: int
    source_row: int | None
    created_at: float | None
    updated_at: float

    @property
    def key(self) -> Key:
        """The journal key."""
        return (self.account, self.unit_key)

    @property
    def settled_state(self) -> str:
        """The state as a new run sees it: ``sending`` left by a dead process is ``unknown``."""
        return UNKNOWN if self.state == SENDING else self.state


class Journal:
    """One community's ledger. Only one process may hold it open; see `open`."""

    def __init__(
        self,
        path: Path,
        community: str,
        conn: sqlite3.Connection,
        lock: FileLock,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self.community = community
        self._conn = conn
        self._lock = lock
        self._clock = clock

    @classmethod
    def open(cls, path: Path, community: str, *, clock: Callable[[], float] = time.time) -> Journal:
        """Open (creating if needed) and lock the journal; JournalError if another run holds it.

        The lock is an flock on ``PATH.lock``: the kernel drops it when its process dies, so a
        run killed with SIGKILL never blocks the next one.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JournalError(f"can't create the journal folder {path.parent}: {err}") from None
        lock = FileLock(str(path) + ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise JournalError(
                f"the journal {path} is in use by another bulk-ident run; wait for it to "
                f"finish, or give this run its own --state"
            ) from None
        except OSError as err:
            raise JournalError(f"can't lock the journal {path}: {err}") from None
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif found[0] != str(SCHEMA_VERSION):
                raise JournalError(
                    f"the journal {path} was written by another version of bulk-ident "
                    f"(schema {found[0]}); upgrade bulk-ident or use another --state"
                )
        except sqlite3.DatabaseError as err:
            lock.release()
            raise JournalError(
                f"{path} is not a bulk-ident journal ({err}); point --state elsewhere"
            ) from None
        except JournalError:
            lock.release()
            raise
        return cls(path, community, conn, lock, clock)

    def close(self) -> None:
        """Close the database and release the lock."""
        self._conn.close()
        self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    _COLUMNS = (
        "account, unit_key, unit_num, payload_hash, state, ident_id, http_status, error,"
        " attempts, source_row, created_at, updated_at"
    )

    def entries(self) -> dict[Key, Entry]:
        """Every entry of this community, by key."""
        cur = self._conn.execute(
            f"SELECT {self._COLUMNS} FROM rows WHERE community=?", (self.community,)
        )
        return {(e.account, e.unit_key): e for e in (Entry(*r) for r in cur)}

    def get(self, key: Key) -> Entry | None:
        """The entry for one key, if any."""
        row = self._conn.execute(
            f"SELECT {self._COLUMNS} FROM rows WHERE community=? AND account=? AND unit_key=?",
            (self.community, *key),
        ).fetchone()
        return None if row is None else Entry(*row)

    # -- writing: each call is one committed transaction ---------------------------------------

    def record_intent(
        self,
        key: Key,
        unit_num: str,
        payload: Mapping[str, Any],
        *,
        source_file: str,
        source_row: int,
    ) -> None:
        """Commit "about to POST this row" (attempts + 1) before the request leaves."""
        now = self._clock()
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        self._conn.execute(
            "INSERT INTO rows (community, account, unit_key, unit_num, payload_hash, payload,"
            " state, attempts, source_file, source_row, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (community, account, unit_key) DO UPDATE SET"
            " unit_num=excluded.unit_num, payload_hash=excluded.payload_hash,"
            " payload=excluded.payload, state=excluded.state, attempts=rows.attempts + 1,"
            " source_file=excluded.source_file, source_row=excluded.source_row,"
            " error=NULL, http_status=NULL, updated_at=excluded.updated_at",
            (
                self.community,
                *key,
                unit_num,
                payload_hash(payload),
                body,
                SENDING,
                source_file,
                source_row,
                now,
            ),
        )

    def record_adopted(
        self,
        key: Key,
        unit_num: str,
        payload: Mapping[str, Any],
        ident_id: int,
        *,
        source_file: str,
        source_row: int,
    ) -> None:
        """An identifier for this row was already on the server (made before this journal knew
        of it): recorded as created, by no run of this journal (``created_at`` stays empty)."""
        self._conn.execute(
            "INSERT INTO rows (community, account, unit_key, unit_num, payload_hash, payload,"
            " state, ident_id, attempts, source_file, source_row, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (
                self.community,
                *key,
                unit_num,
                payload_hash(payload),
                json.dumps(payload, ensure_ascii=False, sort_keys=True),
                CREATED,
                ident_id,
                source_file,
                source_row,
                self._clock(),
            ),
        )

    def _update(self, key: Key, **values: Any) -> None:
        values["updated_at"] = self._clock()
        cols = ", ".join(f"{name}=?" for name in values)
        cur = self._conn.execute(
            f"UPDATE rows SET {cols} WHERE community=? AND account=? AND unit_key=?",
            (*values.values(), self.community, *key),
        )
        if cur.rowcount != 1:
            raise JournalError(f"the journal {self.path} has no entry for {key}: was it edited?")

    def record_created(self, key: Key, ident_id: int, http_status: int | None) -> None:
        """The server holds the identifier (answered, or found when settling)."""
        now = self._clock()
        self._update(
            key,
            state=CREATED,
            ident_id=ident_id,
            http_status=http_status,
            error=None,
            created_at=now,
        )

    def record_failed(self, key: Key, http_status: int | None, error: str) -> None:
        """The server refused the row; nothing was created."""
        self._update(key, state=FAILED, http_status=http_status, error=error)

    def record_unknown(self, key: Key, http_status: int | None, error: str) -> None:
        """The request may have created the identifier: settle before posting again."""
        self._update(key, state=UNKNOWN, http_status=http_status, error=error)

    def record_pending(self, key: Key, http_status: int | None, error: str | None) -> None:
        """Nothing was created (429, never reached the server, or settled as absent)."""
        self._update(key, state=PENDING, http_status=http_status, error=error)
