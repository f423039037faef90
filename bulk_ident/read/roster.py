"""Reads a roster file (CSV or Excel) into rows of the exact text the user sees, with row numbers.

``read_roster`` finds the header and returns a ``Roster`` whose rows are streamed once: each row
as the header's width of display strings, with notes on cells that can't be used as shown
(errors, formulas never calculated, merged ranges). Text files are read by ``text.py``, workbooks
by ``workbook.py`` over the XML scans of ``xlsx_scan.py``.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from pathlib import Path
from typing import Literal

from bulk_ident.errors import InputError
from bulk_ident.read.numfmt import format_number, general_number, is_simple_format
from bulk_ident.read.sources import Source, local_source

__all__ = [
    "HEADER_SEARCH_ROWS",
    "CellNote",
    "NoteKind",
    "Roster",
    "Row",
    "collector_paused",
    "format_number",
    "general_number",
    "is_simple_format",
    "read_roster",
]

HEADER_SEARCH_ROWS = 20
"""The header must be one of the first this-many rows (title rows may sit above it)."""

TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
SHOW = 5  # how many row numbers or cells a warning lists before saying "and N more"
QUOTE = 40  # how many characters of a cell a message quotes
_FOOTER_BUFFER = 1000  # rows held back while deciding whether a one-cell row is a footer
_EXPECTED = "a header row with columns such as 'Account UUID' and 'Unit Number'"
_NUMBER = re.compile(r"[-+(]?[$€£]?[0-9][0-9,.]*%?\)?")

_WRONG_FORMAT = {
    ".xls": "is in the old Excel format (.xls): open it in Excel and save it as .xlsx or .csv",
    ".xlsb": "is an Excel binary workbook (.xlsb): open it in Excel and save it as .xlsx or .csv",
    ".ods": "is an OpenDocument spreadsheet (.ods): save it as .xlsx or .csv",
    ".numbers": "is an Apple Numbers file: export it as .xlsx or .csv (File > Export To)",
}

KeyColumns = Callable[[Sequence[str]], Collection[int]]
Plain = tuple[int, Sequence[str]]
"""A row with no notes, flags or fallbacks, as readers hand it over: (number, cells)."""


class NoteKind(StrEnum):
    """Why a cell can't be used as shown."""

    ERROR = "error"  # the cell shows an Excel error such as #N/A
    UNCALCULATED = "uncalculated"  # a formula saved without its value
    MERGED = "merged"  # one merged range spans several columns of the row


@dataclass(frozen=True, slots=True)
class CellNote:
    """A cell (or merged range of cells) of a row that can't be used as shown."""

    first: int  # column position (0-based) of the first cell concerned
    last: int  # last column position (same as first for one cell)
    kind: NoteKind
    message: str  # e.g. "D700 shows #N/A", 'cells A12:O12 are merged ("REDACTED")'


@dataclass(slots=True)  # not frozen: a frozen init costs 3x, and rosters have 100k rows
class Row:
    """One data row: its number as the user sees it and the text of each header column.
    Read-only by use."""

    number: int
    values: tuple[str, ...]
    notes: tuple[CellNote, ...] = ()


@dataclass(slots=True)
class Record:
    """One row as a reader found it, before the header is known (an internal hand-over).
    A row with nothing to note is handed over as a plain ``(number, cells)`` tuple instead."""

    number: int
    cells: Sequence[str]
    notes: tuple[CellNote, ...] = ()
    title: bool = False  # only a title merged across columns: never the header
    hidden: bool = False
    fallbacks: list[str] | None = None  # cells whose format could not be shown exactly


class Roster:
    """A roster as read: where it came from, its header, its rows (streamed once), warnings.

    ``blank_rows`` and ``warnings`` are complete once ``rows`` is exhausted; the warnings known
    when the file was opened come first.
    """

    def __init__(
        self,
        source: Source,
        kind: Literal["csv", "xlsx"],
        *,
        sheet: str | None,
        encoding: str | None,
        delimiter: str | None,
        header_row: int,
        columns: tuple[str, ...],
        rows: Iterator[Row],
        warnings: list[str],
    ) -> None:
        self.source = source
        self.kind = kind
        self.sheet = sheet
        self.encoding = encoding
        self.delimiter = delimiter
        self.header_row = header_row
        self.columns = columns
        self.rows = rows
        self.blank_rows = 0
        self.warnings = warnings

    @property
    def path(self) -> Path | None:
        """The local file, when the roster came from one."""
        return self.source.path


def read_roster(
    source: Source | Path,
    *,
    is_header: Callable[[Sequence[str]], bool],
    sheet: str | None = None,
    encoding: str | None = None,
    key_columns: KeyColumns | None = None,
) -> Roster:
    """Opens a .csv/.tsv/.txt or .xlsx/.xlsm roster; raises InputError for anything unusable.

    ``is_header(cells)`` says whether a row of trimmed cell texts is the header row; the first of
    the first HEADER_SEARCH_ROWS rows for which it is true is taken. ``key_columns(header)``
    gives the positions of the columns that identify a member or unit (unit number, account):
    one-cell rows after the last row with any of them filled are a footer. ``sheet`` (a name, or
    a number counting the visible sheet tabs from 1) applies to workbooks, ``encoding`` to text.

    Problems with the file as a whole raise here, before any row is read. A few can only be found
    while streaming and raise InputError from ``rows``: a CSV quote never closed or a field too
    long for a cell, and damage deep inside a workbook's sheet.
    """
    if isinstance(source, Path):
        source = _checked_local(source)
    suffix = source.suffix.lower()
    name = source.name
    if suffix in _WRONG_FORMAT:
        raise InputError(f"{name} {_WRONG_FORMAT[suffix]}.")
    if suffix not in TEXT_SUFFIXES | EXCEL_SUFFIXES:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise InputError(
            f"{name}: unsupported file type ({shown}); use .xlsx, .xlsm, .csv, .tsv or .txt."
        )
    if not source.data.strip():
        raise InputError(f"{name} is empty.")
    if suffix in TEXT_SUFFIXES:
        from bulk_ident.read.text import open_text

        roster = open_text(source, is_header, encoding, key_columns)
        if sheet is not None:
            roster.warnings.insert(0, f"{name} is a text file: --sheet is ignored.")
    else:
        from bulk_ident.read.workbook import open_workbook

        roster = open_workbook(source, is_header, sheet, key_columns)
        if encoding is not None:
            roster.warnings.insert(0, f"{name} is a workbook: --encoding is ignored.")
    return roster


def _checked_local(path: Path) -> Source:
    suffix = path.suffix.lower()
    if suffix in _WRONG_FORMAT or suffix not in TEXT_SUFFIXES | EXCEL_SUFFIXES:
        # Refuse by name before reading what may be a large file of the wrong kind.
        return Source(str(path), suffix, b"x", path, path.stem)
    return local_source(path)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a large roster is read, validated and written.

    A 100k-row sheet creates over a million small lists and strings, which triggers many full
    collections that find no garbage (nothing here forms cycles); pausing it saves ~20% of the
    read and a third of a whole `check`.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- messages


def count(n: int, noun: str) -> str:
    """'1 hidden row', '3 hidden rows'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def list_some(items: Sequence[str], total: int | None = None) -> str:
    """'5, 7, 9' or '5, 7, 9, 11, 13 and 40 more'."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:SHOW])
    return f"{shown} and {total - SHOW} more" if total > SHOW else shown


def quote(text: str) -> str:
    """A cell's text for a message: on one line, at most QUOTE characters."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE else text[: QUOTE - 3] + "..."


# --------------------------------------------------------------------------- the header and rows


@dataclass
class Layout:
    """How a reader names things, for the assembler."""

    where: str  # "roster.csv" or "roster.xlsx, sheet 'Roster'"
    column_name: Callable[[int], str]
    count_gaps: bool  # row numbers are spreadsheet rows: a gap is blank rows
    text: bool  # a text file: short rows are worth a warning


def find_header(
    layout: Layout,
    records: Iterator[Record | Plain],
    is_header: Callable[[Sequence[str]], bool],
) -> tuple[Record, list[Record]]:
    """Reads records until the header; returns it and the records read after it (none, today)."""
    for seen, item in enumerate(records, 1):
        record = Record(*item) if type(item) is tuple else item
        assert isinstance(record, Record)
        if layout.count_gaps and record.number > HEADER_SEARCH_ROWS:
            break
        cells = record.cells
        if not record.title and any(cells) and is_header(cells):
            return record, []
        if not layout.count_gaps and seen >= HEADER_SEARCH_ROWS:
            break
    raise InputError(
        f"{layout.where}: no header row found in the first {HEADER_SEARCH_ROWS} rows; expected "
        f"{_EXPECTED}."
    )


def header_columns(header: Record) -> tuple[str, ...]:
    """The header's cells up to its last non-blank one."""
    cells = header.cells
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return tuple(cells[:width])


class RowStream:
    """Turns the records below the header into Rows, holding back a possible footer."""

    def __init__(
        self,
        roster: Roster,
        layout: Layout,
        records: Iterator[Record | Plain],
        keys: Collection[int] | None,
    ) -> None:
        self.roster = roster
        self.layout = layout
        self.records = records
        self.width = len(roster.columns)
        # Without key columns there is no telling a footer from a one-column roster's rows.
        chosen = sorted(k for k in keys or () if 0 <= k < self.width)
        self.keys = chosen or None
        self.extra_rows = 0
        self.first_extra = ""
        self.short: list[str] = []
        self.hidden: list[str] = []
        self.fallbacks: list[str] = []
        self.footers: list[tuple[Row, int, bool, bool]] = []  # held back: row, blanks, flags

    def __iter__(self) -> Iterator[Row]:
        width = self.width
        padding = ("",) * width
        keys = self.keys
        # The key cells of a row as a tuple, however many keys there are.
        key_cells = itemgetter(*keys, keys[0]) if keys is not None else None
        count_gaps = self.layout.count_gaps
        roster = self.roster
        last = roster.header_row
        pending = 0
        held = self.footers
        for record in self.records:
            if type(record) is tuple:
                number, cells = record
                # The common row, inline: the header's width, nothing to note, two or more cells
                # filled (so never a footer line), nothing held back: emitted as it is.
                if len(cells) == width and not held:
                    values = tuple(cells)
                    if values.count("") < width - 1:
                        if count_gaps:
                            pending += number - last - 1
                        last = number
                        if pending:
                            roster.blank_rows += pending
                            pending = 0
                        yield Row(number, values)
                        continue
                notes: tuple[CellNote, ...] = ()
                hidden = False
                fallbacks = None
            else:
                assert isinstance(record, Record)
                number, cells = record.number, record.cells
                notes, hidden, fallbacks = record.notes, record.hidden, record.fallbacks
            if count_gaps:
                pending += number - last - 1
            last = number
            if not any(cells):
                pending += 1
                continue
            n = len(cells)
            short = False
            if n > width:
                if any(cells[width:]):
                    self._extra(number, cells)
                values = tuple(cells[:width])
            elif n < width:
                values = (*cells, *padding[n:])
                short = self.layout.text
            else:
                values = tuple(cells)
            filled = width - values.count("")
            if not filled:
                continue  # text only beyond the header: the warning above covers it
            row = Row(number, values, _clip(notes, width) if notes else ())
            if fallbacks:
                self.fallbacks.extend(fallbacks)
            # A footer line often sits in column A, which may be the unit number's: a row whose
            # only cell is text never counts as a member's.
            footer_like = keys is not None and filled == 1 and _is_text(values)
            keyed = key_cells is None or (not footer_like and any(key_cells(values)))
            if keyed or ((held or footer_like) and len(held) >= _FOOTER_BUFFER):
                for item in held:
                    yield self._emit(*item)
                held.clear()
                yield self._emit(row, pending, short, hidden)
            elif held or footer_like:
                held.append((row, pending, short, hidden))
            else:
                yield self._emit(row, pending, short, hidden)
            pending = 0
        for item in held:
            if not _is_one_text(item[0].values):
                yield self._emit(*item)
        self._finish()

    def _emit(self, row: Row, blanks: int, short: bool, hidden: bool) -> Row:
        self.roster.blank_rows += blanks
        if short:
            self.short.append(str(row.number))
        if hidden:
            self.hidden.append(str(row.number))
        return row

    def _extra(self, number: int, cells: Sequence[str]) -> None:
        self.extra_rows += 1
        if not self.first_extra:
            col = next(j for j in range(self.width, len(cells)) if cells[j])
            self.first_extra = f"row {number}, column {self.layout.column_name(col)}"

    def _finish(self) -> None:
        """Sets the footer aside and writes the warnings only the whole file could tell."""
        where = self.layout.where
        warnings = self.roster.warnings
        footer = [r for r, _, _, _ in self.footers if _is_one_text(r.values)]
        if footer:
            shown = [f'{r.number} ("{quote(next(v for v in r.values if v))}")' for r in footer]
            warnings.append(
                f"{where}: footer rows skipped: {list_some(shown)} (one text cell below the "
                "last member)."
            )
        if self.extra_rows:
            plural = "s have" if self.extra_rows > 1 else " has"
            warnings.append(
                f"{where}: {self.extra_rows} row{plural} values to the right of the last header "
                f"column (first: {self.first_extra}); they are ignored: give that column a "
                "header to use it."
            )
        if self.short:
            plural = "s have" if len(self.short) > 1 else " has"
            warnings.append(
                f"{where}: {len(self.short)} row{plural} fewer fields than the header "
                f"(rows {list_some(self.short)}); the missing fields read as empty: check for "
                "a missing delimiter."
            )
        if self.hidden:
            warnings.append(
                f"{where}: {count(len(self.hidden), 'hidden row')} read like the others: "
                f"{list_some(self.hidden)}."
            )
        if self.fallbacks:
            warnings.append(
                f"{where}: {count(len(self.fallbacks), 'cell')} in a format that can't be shown "
                f"exactly, read in General format instead: {list_some(self.fallbacks)}."
            )


def _is_text(values: tuple[str, ...]) -> bool:
    """Whether the one filled cell of a row is text rather than a number."""
    return any(v and not _NUMBER.fullmatch(v) for v in values)


def _is_one_text(values: tuple[str, ...]) -> bool:
    """A footer line: one filled cell, and it is text."""
    return len(values) - values.count("") == 1 and _is_text(values)


def _clip(notes: tuple[CellNote, ...], width: int) -> tuple[CellNote, ...]:
    """Notes within the header's columns; a merged range must still span two of them."""
    out = []
    for note in notes:
        if note.first >= width:
            continue
        last = min(note.last, width - 1)
        if note.kind is NoteKind.MERGED and last == note.first:
            continue
        out.append(
            note if last == note.last else CellNote(note.first, last, note.kind, note.message)
        )
    return tuple(out)
