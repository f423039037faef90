"""Reads a roster from an Excel workbook (.xlsx/.xlsm): picks the sheet, refuses hostile or
damaged packages before decoding anything, then streams the rows of the sheet with notes.
"""

from __future__ import annotations

import io
import itertools
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from xml.etree import ElementTree

from bulk_ident.errors import InputError
from bulk_ident.read.roster import (
    HEADER_SEARCH_ROWS,
    CellNote,
    KeyColumns,
    Layout,
    NoteKind,
    Plain,
    Record,
    Roster,
    RowStream,
    count,
    find_header,
    header_columns,
    quote,
)
from bulk_ident.read.sources import Source, local_source
from bulk_ident.read.xlsx_rows import SheetRow, read_rows
from bulk_ident.read.xlsx_scan import (
    Package,
    PackageError,
    SheetInfo,
    column_letters,
    scan_layout,
)

__all__ = ["open_workbook"]

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls, or encrypted .xlsx
_ZIP_MAGIC = b"PK\x03\x04"
# What a damaged zip or XML part can raise from zipfile, zlib and expat.
_DAMAGE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    ElementTree.ParseError,
    KeyError,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,  # a compression method zipfile lacks
    RuntimeError,  # an encrypted zip entry
)
_FAR = "is far outside the table: delete the empty rows and columns in Excel and save it again"


def open_workbook(
    source: Source,
    is_header: Callable[[Sequence[str]], bool],
    sheet: str | None,
    key_columns: KeyColumns | None,
) -> Roster:
    """Opens a workbook roster: sheet, limits and header now, the rows as they are read."""
    name = source.name
    package = _package(source)
    damaged = _damaged(source)

    warnings: list[str] = []
    info = _choose_sheet(name, package.sheets, sheet, warnings)
    where = f"{name}, sheet '{info.name}'"
    try:
        if info.part is None or package.entry(info.part) is None:
            raise InputError(f"{where} can't be read: its XML is missing from the file.")
        layout = scan_layout(package.chunks(info.part))
        if layout.far_cell is not None:
            raise InputError(f"{where}: cell {layout.far_cell} {_FAR}.")
        if not layout.complete:
            raise InputError(
                f"{where} can't be read: its XML is cut short or damaged: open it in Excel and "
                "save it again."
            )
        shared = package.shared_strings()
        codes = package.formats()
    except PackageError as err:
        raise InputError(f"{where} {err}.") from None
    except _DAMAGE as err:
        raise InputError(f"{where} can't be read ({type(err).__name__}): {damaged}") from None

    sheet_rows = read_rows(package.chunks(info.part), shared, codes, package.date1904)
    records = _guarded(where, _records(sheet_rows, layout.merged))
    shape = Layout(where, column_letters, count_gaps=True, text=False)
    try:
        first = next(records)
    except StopIteration:
        raise InputError(
            f"{where} is empty: pick the sheet with the roster using --sheet."
        ) from None
    header, _ = find_header(shape, itertools.chain([first], records), is_header)
    columns = header_columns(header)
    roster = Roster(
        source,
        "xlsx",
        sheet=info.name,
        encoding=None,
        delimiter=None,
        header_row=header.number,
        columns=columns,
        rows=iter(()),
        warnings=warnings,
    )
    keys = key_columns(columns) if key_columns is not None else None
    roster.rows = iter(RowStream(roster, shape, records, keys))
    return roster


def _guarded(where: str, records: Iterator[Record | Plain]) -> Iterator[Record | Plain]:
    """Damage found deep in the sheet, while streaming, as an InputError naming the sheet."""
    try:
        yield from records
    except PackageError as err:
        raise InputError(f"{where} {err}.") from None
    except _DAMAGE as err:
        raise InputError(
            f"{where} can't be read ({type(err).__name__}): open it in Excel and save it again."
        ) from None


def _records(
    rows: Iterator[SheetRow], merged: list[tuple[int, int, int, int]]
) -> Iterator[Record | Plain]:
    """Sheet rows as records: errors, uncalculated formulas and merged ranges become notes."""
    # Ranges across two or more columns, by first row; `active` holds those covering this row.
    wide = sorted(m for m in merged if m[3] > m[1])
    next_range = 0
    active: list[tuple[int, int, int, int]] = []
    texts: dict[tuple[int, int, int, int], str] = {}
    for row in rows:
        index = row.number - 1
        notes: list[CellNote] = []
        title = False
        if wide:
            while next_range < len(wide) and wide[next_range][0] <= index:
                active.append(wide[next_range])
                next_range += 1
            if active:
                active = [m for m in active if m[2] >= index]
                for m in active:
                    top, left, bottom, right = m
                    if top == index:
                        texts[m] = row.cells[left] if left < len(row.cells) else ""
                        others = any(v for j, v in enumerate(row.cells) if v and j != left)
                        title = title or (not others and index < HEADER_SEARCH_ROWS)
                    span = f"{column_letters(left)}{top + 1}:{column_letters(right)}{bottom + 1}"
                    text = texts.get(m, "")
                    shown = f' ("{quote(text)}")' if text else ""
                    notes.append(
                        CellNote(left, right, NoteKind.MERGED, f"cells {span} are merged{shown}")
                    )
        if row.errors:
            for col, text in row.errors:
                ref = f"{column_letters(col)}{row.number}"
                shown = text or "an error"
                notes.append(CellNote(col, col, NoteKind.ERROR, f"{ref} shows {quote(shown)}"))
        if row.uncalculated:
            for col in row.uncalculated:
                ref = f"{column_letters(col)}{row.number}"
                notes.append(
                    CellNote(
                        col,
                        col,
                        NoteKind.UNCALCULATED,
                        f"{ref} is a formula that was never calculated: open and save the file "
                        "in Excel",
                    )
                )
        if not (notes or title or row.hidden or row.fallbacks):
            yield row.number, row.cells
            continue
        fallbacks = None
        if row.fallbacks:
            fallbacks = [
                f"{column_letters(col)}{row.number} ('{quote(code)}', read as {shown})"
                for col, code, shown in row.fallbacks
            ]
        yield Record(
            row.number,
            row.cells,
            tuple(sorted(notes, key=lambda n: n.first)) if notes else (),
            title,
            row.hidden,
            fallbacks,
        )


def _choose_sheet(
    name: str, sheets: list[SheetInfo], wanted: str | None, warnings: list[str]
) -> SheetInfo:
    """Picks the sheet to read and warns about hidden sheets, which are never read silently."""
    worksheets = [s for s in sheets if s.kind == "worksheet"]
    visible = [s for s in worksheets if s.visible]
    hidden = [s for s in worksheets if not s.visible]
    listing = ", ".join(f"{i} '{s.name}'" for i, s in enumerate(visible, 1))
    if hidden:
        listing += "; hidden: " + ", ".join(f"'{s.name}'" for s in hidden)

    if wanted is None:
        if not visible:
            raise InputError(
                f"{name} has no visible worksheet: name one with --sheet (sheets: {listing})."
            )
        if hidden:
            names = ", ".join(f"'{s.name}'" for s in hidden)
            warnings.append(
                f"{name} also has hidden sheets ({names}) that were not read; "
                "use --sheet NAME to read one instead."
            )
        return visible[0]

    chosen = next((s for s in sheets if s.name == wanted), None)
    if chosen is None:
        folded = [s for s in sheets if s.name.strip().casefold() == wanted.strip().casefold()]
        chosen = folded[0] if len(folded) == 1 else None
    if chosen is None and re.fullmatch(r"[0-9]+", wanted.strip()):
        number = int(wanted)
        if not 1 <= number <= len(visible):
            raise InputError(
                f"{name} has no sheet number {number}: it has "
                f"{count(len(visible), 'visible sheet')}: {listing}."
            )
        return visible[number - 1]
    if chosen is None:
        raise InputError(f"{name} has no sheet named '{wanted}'; its sheets are: {listing}.")
    if chosen.kind != "worksheet":
        raise InputError(f"{name}: sheet '{chosen.name}' is a chart, not a table of rows.")
    if not chosen.visible:
        warnings.append(f"{name}: sheet '{chosen.name}' is hidden in Excel; reading it as asked.")
    return chosen


def sheet_names(source: Source | Path) -> list[tuple[str, bool]]:
    """The worksheets of an .xlsx/.xlsm in tab order, each with whether it is visible (for a page
    that lets the user pick one; ``read_roster(sheet=NAME)`` then reads it). Charts are left out;
    InputError for a file that is not a readable workbook, as reading it would say."""
    package = _package(local_source(source) if isinstance(source, Path) else source)
    return [(s.name, s.visible) for s in package.sheets if s.kind == "worksheet"]


def _package(source: Source) -> Package:
    """The workbook's package, its limits checked; InputError saying what the file really is."""
    name, data = source.name, source.data
    if data.startswith(_CFB_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise InputError(
                f"{name} is password-protected (encrypted): open it in Excel, remove the "
                "password (File > Info > Protect Workbook) and save it again."
            )
        raise InputError(
            f"{name} is really an old-format .xls file: open it in Excel and save it as .xlsx."
        )
    damaged = _damaged(source)
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(damaged)
    try:
        return Package(zipfile.ZipFile(io.BytesIO(data)))
    except PackageError as err:
        raise InputError(f"{name} {err}.") from None
    except _DAMAGE:
        raise InputError(damaged) from None


def _damaged(source: Source) -> str:
    return (
        f"{source.name} is not a valid Excel workbook (damaged, or not really "
        f"{source.suffix.lower()}): open it in Excel and save it again as .xlsx."
    )
