"""The write-ahead journal (SQLite): our memory of what we did to the server.

Every write request's intent is committed before it is sent and its outcome after, so no crash
can lose an identifier or create one twice. The server is the truth: when the journal can't vouch
for a row (an account it never listed, an answer it never got) the run asks the server first.

A row's state moves like this::

    (none) --intent--> sending --2xx--> created
                          |    --4xx--> failed      (sent again only if its values change)
                          |    --429 / not sent--> pending
                          |    --5xx / lost--> unknown --settled: found--> created
                          |                            --settled: absent--> pending
    created --intent--> updating --2xx--> created (new values)
                                 --404--> pending (gone from the server: created again)
                                 --4xx--> created (old values, error kept)
                                 --5xx / lost--> updating (PATCH is idempotent: sent again)
    created --intent--> deleting --2xx / 404--> deleted (the record stays)
                                 --5xx / lost--> deleting (DELETE is idempotent: sent again)

A process that dies while ``sending`` leaves the row ``sending``, which a later run reads as
``unknown``; ``updating`` and ``deleting`` are simply sent again.

Journals are kept in SQLite's rollback-journal mode with full syncs, not WAL: a committed intent
lives in the database file itself, so deleting stray files after a crash can't lose it.
"""

from __future__ import annotations

import contextlib
import enum
import json
import operator
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from bulk_ident.errors import JournalError
from bulk_ident.identifier import PAYLOAD_FIELDS, Payload
from bulk_ident.sync.journal_db import (
    VALUE_COLUMNS,
    Values,
    connect,
    connect_read_only,
    only_community,
    prepare_schema,
    values_key,
    values_of,
    write_problem,
)
from bulk_ident.sync.state import RunLock, private_dir

__all__ = [
    "Entries",
    "Entry",
    "Journal",
    "Key",
    "Light",
    "Run",
    "State",
    "Values",
    "only_community",
    "payload_json",
    "payload_of",
    "values_key",
    "values_of",
]

Key = tuple[str, str]  # (account UUID, unit number case-folded)


class State(enum.StrEnum):
    """Where a row stands with the server, as far as this journal knows."""

    PENDING = "pending"
    SENDING = "sending"
    CREATED = "created"
    FAILED = "failed"
    UNKNOWN = "unknown"
    UPDATING = "updating"
    DELETING = "deleting"
    DELETED = "deleted"


def payload_of(values: Values) -> Payload:
    """The payload a values tuple stands for (booleans come back from SQLite as 0/1)."""
    out = dict(zip(PAYLOAD_FIELDS, values, strict=True))
    if isinstance(out.get("isDispatch"), int):
        out["isDispatch"] = bool(out["isDispatch"])
    return out  # type: ignore[return-value]  # the keys are exactly PAYLOAD_FIELDS


def payload_json(payload: Mapping[str, Any]) -> str:
    """A payload as the journal stores it (sorted keys), so equal payloads compare equal."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


class Entry(NamedTuple):
    """What the journal knows about one (account, unit number).

    A named tuple, not a dataclass: a sync reads every entry of the community, and building
    100k tuples costs a fifth of building 100k frozen dataclasses.
    """

    account: str
    unit_key: str
    unit_num: str
    scope: str | None
    state: State
    ident_id: int | None
    values: Values | None  # what the server holds, as far as we know; None if never confirmed
    want: str | None  # JSON of the payload of a write in flight
    rejected: str | None  # JSON of the payload the server last refused (4xx)
    http_status: int | None
    error: str | None
    attempts: int
    source_row: int | None
    created_at: float | None
    updated_at: float
    last_run: int | None
    last_result: str | None
    changes: str | None

    @property
    def key(self) -> Key:
        """The journal key."""
        return (self.account, self.unit_key)

    @property
    def settled_state(self) -> State:
        """The state as a new run sees it: ``sending`` left by a dead process is ``unknown``."""
        return State.UNKNOWN if self.state == State.SENDING else self.state

    @property
    def on_server(self) -> bool:
        """The identifier exists (as far as we know) and this tool created or adopted it."""
        return self.state in (State.CREATED, State.UPDATING, State.DELETING)

    def wanted(self) -> dict[str, Any] | None:
        """The payload of the write in flight, if any."""
        return None if self.want is None else dict(json.loads(self.want))


_ENTRY_SQL = (
    "SELECT account, unit_key, unit_num, scope, state, ident_id, vkey, "
    + ", ".join(VALUE_COLUMNS)
    + ", want, rejected, http_status, error, attempts, source_row, created_at, updated_at,"
    " last_run, last_result, changes FROM rows"
)
_NV = len(VALUE_COLUMNS)


_STATE_OF = {state.value: state for state in State}
_REST = 7 + _NV


def _entry(row: tuple[Any, ...]) -> Entry:
    values = row[7:_REST] if row[6] is not None else None
    return Entry(row[0], row[1], row[2], row[3], _STATE_OF[row[4]], row[5], values, *row[_REST:])


Light = tuple[Any, ...]
"""An entry's state, scope, identId, values key, last run and last result (then its key): what
a re-run (or a rebuilt results sheet) needs for most rows."""
_ACCOUNT_OF = operator.itemgetter(6)
_UNIT_OF = operator.itemgetter(7)


class Entries(Mapping[Key, Entry]):
    """Every entry of a community: a light index read at once, full entries read on demand.

    A re-run of a large roster reads four columns per row instead of thirty, and builds an
    `Entry` only for the rows that need more than "unchanged".
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.lights: dict[Key, Light] = journal.index()
        self._full: dict[Key, Entry] = {}

    def __getitem__(self, key: Key) -> Entry:
        found = self._full.get(key)
        if found is None:
            if key not in self.lights:
                raise KeyError(key)
            entry = self._journal.get(key)
            if entry is None:
                raise KeyError(key)
            found = self._full[key] = entry
        return found

    def __iter__(self) -> Iterator[Key]:
        return iter(self.lights)

    def __len__(self) -> int:
        return len(self.lights)

    def __contains__(self, key: object) -> bool:
        return key in self.lights

    def refresh(self, keys: Iterable[Key]) -> None:
        """Read these rows again (after a run wrote them)."""
        for key in keys:
            self._full.pop(key, None)
            entry = self._journal.get(key)
            if entry is None:
                self.lights.pop(key, None)
            else:
                self._full[key] = entry
                self.lights[key] = (
                    entry.state,
                    entry.scope,
                    entry.ident_id,
                    _vkey(entry),
                    entry.last_run,
                    entry.last_result,
                    *key,
                )


def _vkey(entry: Entry) -> str | None:
    return None if entry.values is None else values_key(entry.values)


@dataclass(frozen=True, slots=True)
class Run:
    """One import run, as the journal remembers it."""

    id: int
    scope: str
    roster: str
    started_at: float
    finished_at: float | None
    stop: str | None


class Journal:
    """One community's ledger. Only one process may hold it open; see `open`."""

    def __init__(
        self,
        path: Path,
        community: str,
        conn: sqlite3.Connection,
        lock: RunLock,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self.community = community
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self.run_id: int | None = None

    @classmethod
    def open(cls, path: Path, community: str, *, clock: Callable[[], float] = time.time) -> Journal:
        """Open (creating if needed) and lock the journal; JournalError if it can't be used.

        The lock is taken on the journal's real path, so a symlink or another spelling of the
        same file is the same journal. A file that exists but is empty or not a journal is
        refused rather than overwritten.
        """
        real = Path(os.path.realpath(path))
        lock = RunLock(
            real.with_name(real.name + ".lock"),
            f"the journal {path} is in use by another bulk-ident run ({{owner}}); "
            "wait for it to finish",
        )
        try:
            private_dir(real.parent)
        except OSError as err:
            raise JournalError(f"can't create the journal folder {real.parent}: {err}") from None
        lock.acquire()
        try:
            conn = connect(path, real)
            prepare_schema(conn, path, clock)
        except BaseException:
            lock.release()
            raise
        return cls(path, community, conn, lock, clock)

    @classmethod
    def open_read_only(cls, path: Path, community: str) -> Journal:
        """Open a journal for reading only, without taking its lock (a dry run, or ``results``
        while an import runs). A journal that doesn't exist yet reads as empty."""
        lock = RunLock(path.with_name(path.name + ".lock"), "")  # never acquired
        return cls(path, community, connect_read_only(path), lock, time.time)

    def close(self) -> None:
        """Close the database and release the lock."""
        self._conn.close()
        self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def entries(self) -> dict[Key, Entry]:
        """Every entry of this community, by key."""
        cur = self._conn.execute(f"{_ENTRY_SQL} WHERE community=?", (self.community,))
        return {(r[0], r[1]): _entry(r) for r in cur}

    def index(self) -> dict[Key, Light]:
        """Every entry's state, scope, identId and values key, by key."""
        rows = self._conn.execute(
            "SELECT state, scope, ident_id, vkey, last_run, last_result, account, unit_key"
            " FROM rows WHERE community=?",
            (self.community,),
        ).fetchall()
        # Keyed without a Python loop: a re-run reads 100k of these (the key columns trail).
        keys = zip(map(_ACCOUNT_OF, rows), map(_UNIT_OF, rows), strict=True)
        return dict(zip(keys, rows, strict=True))

    def get(self, key: Key) -> Entry | None:
        """The entry for one key, if any."""
        row = self._conn.execute(
            f"{_ENTRY_SQL} WHERE community=? AND account=? AND unit_key=?", (self.community, *key)
        ).fetchone()
        return None if row is None else _entry(row)

    def listed_accounts(self) -> set[str]:
        """Accounts whose identifiers this journal has listed (and so checked for adoption)."""
        cur = self._conn.execute("SELECT account FROM listed WHERE community=?", (self.community,))
        return {r[0] for r in cur}

    def last_run(self, scope: str) -> Run | None:
        """The latest run of a scope, if any."""
        row = self._conn.execute(
            "SELECT id, scope, roster, started_at, finished_at, stop FROM runs"
            " WHERE community=? AND scope=? ORDER BY id DESC LIMIT 1",
            (self.community, scope),
        ).fetchone()
        return None if row is None else Run(*row)

    # -- writing: each call is one committed transaction ---------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._conn:
                yield self._conn
        except sqlite3.Error as err:
            raise JournalError(write_problem(self.path, err)) from None

    def begin_run(self, scope: str, roster: str) -> int:
        """Record the start of a run; later writes carry its id."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (community, scope, roster, started_at) VALUES (?, ?, ?, ?)",
                (self.community, scope, roster, self._clock()),
            )
        self.run_id = cur.lastrowid
        return int(cur.lastrowid or 0)

    def finish_run(self, stop: str) -> None:
        """Record how the run ended."""
        if self.run_id is None:
            return
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET finished_at=?, stop=? WHERE id=?",
                (self._clock(), stop, self.run_id),
            )

    def record_listed(self, account: str) -> None:
        """This journal has now seen the account's identifiers."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO listed VALUES (?, ?, ?) ON CONFLICT (community, account)"
                " DO UPDATE SET listed_at=excluded.listed_at",
                (self.community, account, self._clock()),
            )

    def record_intent(
        self,
        key: Key,
        unit_num: str,
        payload: Mapping[str, Any],
        *,
        scope: str,
        source_file: str,
        source_row: int,
    ) -> None:
        """Commit "about to POST this row" before the request leaves."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO rows (community, account, unit_key, unit_num, scope, state, want,"
                " attempts, source_file, source_row, updated_at, last_run)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (community, account, unit_key) DO UPDATE SET"
                " unit_num=excluded.unit_num, scope=excluded.scope, state=excluded.state,"
                " want=excluded.want, attempts=rows.attempts + 1, ident_id=NULL, vkey=NULL,"
                " source_file=excluded.source_file, source_row=excluded.source_row,"
                " error=NULL, http_status=NULL, updated_at=excluded.updated_at,"
                " last_run=excluded.last_run",
                (
                    self.community,
                    *key,
                    unit_num,
                    scope,
                    State.SENDING,
                    payload_json(payload),
                    source_file,
                    source_row,
                    self._clock(),
                    self.run_id,
                ),
            )

    def record_adopted(
        self,
        key: Key,
        unit_num: str,
        ident_id: int,
        server_values: Values,
        *,
        scope: str,
        source_file: str,
        source_row: int,
        result: str,
    ) -> None:
        """An identifier for this row is on the server (made before this journal knew of it, or
        found when settling): recorded as created, with the values the server holds."""
        now = self._clock()
        cols = ", ".join(VALUE_COLUMNS)
        marks = ", ".join("?" for _ in VALUE_COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in VALUE_COLUMNS)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO rows (community, account, unit_key, unit_num, scope, state, ident_id,"
                f" vkey, {cols}, source_file, source_row, updated_at, last_run,"
                f" last_result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {marks}, ?, ?, ?, ?, ?)"
                " ON CONFLICT (community, account, unit_key) DO UPDATE SET"
                " unit_num=excluded.unit_num, scope=excluded.scope, state=excluded.state,"
                f" ident_id=excluded.ident_id, vkey=excluded.vkey, {updates}, want=NULL,"
                " error=NULL, http_status=NULL, source_file=excluded.source_file,"
                " source_row=excluded.source_row, updated_at=excluded.updated_at,"
                " last_run=excluded.last_run, last_result=excluded.last_result",
                (
                    self.community,
                    *key,
                    unit_num,
                    scope,
                    State.CREATED,
                    ident_id,
                    values_key(server_values),
                    *server_values,
                    source_file,
                    source_row,
                    now,
                    self.run_id,
                    result,
                ),
            )

    def _update(self, key: Key, *, sent: bool = False, **values: Any) -> None:
        """Set columns of one row; ``sent`` counts one more request that reached the server."""
        values["updated_at"] = self._clock()
        values["last_run"] = self.run_id
        cols = ", ".join(f"{name}=?" for name in values)
        if sent:
            cols += ", attempts=attempts + 1"
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE rows SET {cols} WHERE community=? AND account=? AND unit_key=?",
                (*values.values(), self.community, *key),
            )
        if cur.rowcount != 1:
            raise JournalError(f"the journal {self.path} has no entry for {key}: was it edited?")

    def _confirm(self, key: Key, state: State, **extra: Any) -> None:
        """The write in flight took effect: its payload is what the server now holds."""
        entry = self.get(key)
        want = entry.wanted() if entry is not None else None
        fields: dict[str, Any] = {}
        if want is not None:
            fields = dict(zip(VALUE_COLUMNS, values_of(want), strict=True))
            fields["vkey"] = values_key(values_of(want))
        self._update(key, state=state, want=None, error=None, **fields, **extra)

    def record_created(self, key: Key, ident_id: int, http_status: int | None, result: str) -> None:
        """The server answered the POST with the new identifier."""
        self._confirm(
            key,
            State.CREATED,
            ident_id=ident_id,
            http_status=http_status,
            created_at=self._clock(),
            rejected=None,
            last_result=result,
            changes=None,
        )

    def record_failed(self, key: Key, http_status: int | None, error: str) -> None:
        """The server refused the POST; nothing was created. Its payload is kept as refused."""
        entry = self.get(key)
        self._update(
            key,
            state=State.FAILED,
            http_status=http_status,
            error=error,
            rejected=entry.want if entry is not None else None,
            want=None,
            last_result="failed",
        )

    def record_unknown(self, key: Key, http_status: int | None, error: str) -> None:
        """The POST may have created the identifier: settle before posting again."""
        self._update(
            key, state=State.UNKNOWN, http_status=http_status, error=error, last_result="unknown"
        )

    def record_pending(self, key: Key, http_status: int | None, error: str | None) -> None:
        """Nothing was created (429, never reached the server, or settled as absent)."""
        self._update(key, state=State.PENDING, http_status=http_status, error=error)

    def record_gave_up(self, key: Key, error: str) -> None:
        """Too many unknown outcomes this run: left unknown (the next run settles it)."""
        self._update(key, state=State.UNKNOWN, error=error, last_result="failed")

    def record_update_intent(self, key: Key, payload: Mapping[str, Any], changes: str) -> None:
        """Commit "about to PATCH" with the full payload the identifier will have."""
        self._update(
            key,
            state=State.UPDATING,
            want=payload_json(payload),
            changes=changes,
            sent=True,
        )

    def record_updated(self, key: Key, http_status: int | None, result: str) -> None:
        """The PATCH took effect."""
        self._confirm(key, State.CREATED, http_status=http_status, last_result=result)

    def record_update_failed(self, key: Key, http_status: int | None, error: str) -> None:
        """The server refused the PATCH (not 404): the identifier keeps its old values."""
        self._update(
            key,
            state=State.CREATED,
            want=None,
            http_status=http_status,
            error=error,
            last_result="failed",
        )

    def record_gone(self, key: Key, http_status: int | None) -> None:
        """The identifier no longer exists on the server (404): the row is to be created again."""
        self._update(
            key,
            state=State.PENDING,
            ident_id=None,
            vkey=None,
            want=None,
            http_status=http_status,
            error="the identifier was gone from the server",
        )

    def record_delete_intent(self, key: Key) -> None:
        """Commit "about to DELETE"."""
        self._update(key, state=State.DELETING, want=None, sent=True)

    def record_deleted(self, key: Key, http_status: int | None) -> None:
        """The identifier is gone (deleted now, or already): the record stays, marked deleted."""
        self._update(
            key,
            state=State.DELETED,
            http_status=http_status,
            error=None,
            last_result="deleted",
            vkey=None,
        )

    def record_delete_failed(self, key: Key, http_status: int | None, error: str) -> None:
        """The server refused the DELETE: the identifier stays."""
        self._update(
            key, state=State.CREATED, http_status=http_status, error=error, last_result="failed"
        )

    def record_result(
        self, key: Key, result: str, *, scope: str | None = None, error: str | None = None
    ) -> None:
        """Remember a row's result for this run when no request changed its state."""
        extra: dict[str, Any] = {"last_result": result, "error": error}
        if scope is not None:
            extra["scope"] = scope
        self._update(key, **extra)

    def claim(self, keys: Iterable[Key], scope: str) -> int:
        """Move rows into a scope (a roster now lists them); return how many moved."""
        with self._write() as conn:
            cur = conn.executemany(
                "UPDATE rows SET scope=? WHERE community=? AND account=? AND unit_key=?"
                " AND scope IS NOT ?",
                ((scope, self.community, *key, scope) for key in keys),
            )
        return cur.rowcount
