"""The journal's SQLite file: its schema and how a payload's values are stored in it; opening,
checking, creating and migrating the file, with a one-line message for each way it can fail.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bulk_ident.errors import JournalError
from bulk_ident.identifier import PAYLOAD_FIELDS

SCHEMA_VERSION = 2
_SQLITE_MAGIC = b"SQLite format 3\x00"

Values = tuple[Any, ...]  # a payload's values in PAYLOAD_FIELDS order

# Declared without a type, so SQLite keeps each value as given: "007" stays text, 0 an integer.
VALUE_COLUMNS = tuple(f"v_{name}" for name in PAYLOAD_FIELDS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    community    TEXT NOT NULL,
    account      TEXT NOT NULL,
    unit_key     TEXT NOT NULL,
    unit_num     TEXT NOT NULL,
    scope        TEXT,
    state        TEXT NOT NULL,
    ident_id     INTEGER,
    vkey         TEXT,
    {", ".join(VALUE_COLUMNS)},
    want         TEXT,
    rejected     TEXT,
    http_status  INTEGER,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    source_file  TEXT,
    source_row   INTEGER,
    created_at   REAL,
    updated_at   REAL NOT NULL,
    last_run     INTEGER,
    last_result  TEXT,
    changes      TEXT,
    PRIMARY KEY (community, account, unit_key)
);
CREATE TABLE IF NOT EXISTS listed (
    community TEXT NOT NULL,
    account   TEXT NOT NULL,
    listed_at REAL NOT NULL,
    PRIMARY KEY (community, account)
);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    community   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    roster      TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL,
    stop        TEXT
);
"""


_PICK = operator.itemgetter(*PAYLOAD_FIELDS)


def values_of(payload: Mapping[str, Any]) -> Values:
    """A payload's values in the journal's column order (a full payload: every property)."""
    picked: Values = _PICK(payload)
    return picked


_DISPATCH = PAYLOAD_FIELDS.index("isDispatch")


def values_key(values: Values) -> str:
    """Values as one comparable text: equal values, equal text (a server's 0/1 for isDispatch
    reads as the boolean it means). Re-runs compare this one column instead of eleven."""
    flag = values[_DISPATCH]
    if type(flag) is int and flag in (0, 1):
        values = (*values[:_DISPATCH], bool(flag), *values[_DISPATCH + 1 :])
    return repr(values)


def _create_tables(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def write_problem(path: Path, err: sqlite3.Error) -> str:
    """The one-line message for a failed write."""
    text = str(err)
    if "readonly" in text or "read-only" in text:
        return f"can't write the journal {path}: it is read-only; check its permissions"
    if "full" in text:
        return f"can't write the journal {path}: the disk is full; free some space and run again"
    return f"can't write the journal {path}: {text}"


def connect(path: Path, real: Path) -> sqlite3.Connection:
    """Connect to an existing journal or a new private file; refuse anything else."""
    if real.exists():
        try:
            with real.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as err:
            raise JournalError(f"can't read the journal {path}: {err.strerror or err}") from None
        if not head:
            raise JournalError(
                f"{path} is empty, so it is not a journal: move it aside (the next run will "
                "check the server for every account before creating anything)"
            )
        if head != _SQLITE_MAGIC:
            raise JournalError(
                f"{path} is not a bulk-ident journal: point --state elsewhere, or move the "
                "file aside (the next run will check the server for every account)"
            )
    else:
        try:
            os.close(os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as err:
            raise JournalError(f"can't create the journal {path}: {err.strerror}") from None
    try:
        conn = sqlite3.connect(str(real), isolation_level=None, timeout=5.0)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
        conn.isolation_level = "DEFERRED"
    except sqlite3.Error as err:
        raise JournalError(f"{path} is not a bulk-ident journal ({err})") from None
    return conn


def prepare_schema(conn: sqlite3.Connection, path: Path, clock: Callable[[], float]) -> None:
    """Create, check or migrate the schema; a foreign database is refused untouched."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise JournalError(
                f"{path} is an SQLite file but not a bulk-ident journal: point --state elsewhere"
            )
        version = None
        if "meta" in tables:
            found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = found[0] if found else None
        with conn:
            if version == "1":
                _migrate_v1(conn)
            elif version is not None and version != str(SCHEMA_VERSION):
                raise JournalError(
                    f"the journal {path} was written by another version of bulk-ident "
                    f"(schema {version}); upgrade bulk-ident or use another --state"
                )
            if version is None:
                _create_tables(conn)
            conn.execute(
                "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT (key)"
                " DO UPDATE SET value=excluded.value",
                (str(SCHEMA_VERSION),),
            )
            # A real write at open: a read-only journal is refused now, before anything is sent.
            conn.execute(
                "INSERT INTO meta VALUES ('opened_at', ?) ON CONFLICT (key)"
                " DO UPDATE SET value=excluded.value",
                (repr(clock()),),
            )
    except sqlite3.DatabaseError as err:
        raise JournalError(_open_problem(path, err)) from None


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that only reads a journal of this schema; an empty in-memory journal when
    the file doesn't exist yet."""
    if not path.exists():
        conn = sqlite3.connect(":memory:")
        _create_tables(conn)
        return conn
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.Error as err:
        raise JournalError(_open_problem(path, err)) from None
    if "rows" not in tables or found is None or found[0] != str(SCHEMA_VERSION):
        conn.close()
        raise JournalError(
            f"the journal {path} is from an older run of bulk-ident: run the import once "
            "(it upgrades the journal), then try again"
        )
    return conn


def _open_problem(path: Path, err: sqlite3.Error) -> str:
    text = str(err)
    if "readonly" in text or "read-only" in text:
        return f"can't write the journal {path}: it is read-only; check its permissions"
    if "full" in text:
        return f"can't write the journal {path}: the disk is full; free some space and run again"
    return f"{path} is not a bulk-ident journal ({text}); point --state elsewhere"


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Round-1 journals (schema 1): the same rows, with values split into columns."""
    conn.execute("ALTER TABLE rows RENAME TO rows_v1")
    _create_tables(conn)
    cols = ", ".join(VALUE_COLUMNS)
    marks = ", ".join("?" for _ in VALUE_COLUMNS)
    old = conn.execute(
        "SELECT community, account, unit_key, unit_num, payload, state, ident_id, http_status,"
        " error, attempts, source_file, source_row, created_at, updated_at FROM rows_v1"
    ).fetchall()
    for row in old:
        payload = json.loads(row[4])
        state = row[5]
        confirmed = state == "created"
        conn.execute(
            f"INSERT INTO rows (community, account, unit_key, unit_num, state, ident_id,"
            f" vkey, {cols}, want, rejected, http_status, error, attempts, source_file,"
            f" source_row, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, {marks},"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *row[:4],
                state,
                row[6],
                values_key(values_of(payload)) if confirmed else None,
                *(values_of(payload) if confirmed else (None,) * len(VALUE_COLUMNS)),
                row[4] if state in ("sending", "unknown") else None,
                row[4] if state == "failed" else None,
                *row[7:],
            ),
        )
    conn.execute("DROP TABLE rows_v1")


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
