"""Reads a roster file (CSV or Excel) into rows of the exact text the user sees, with row numbers.

The only module that opens spreadsheets: calamine for workbook values, small scans of the xlsx XML
for what calamine does not expose (number formats, hidden rows, formulas never calculated), and
the stdlib csv module for text files.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import gc
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path, PurePosixPath
from typing import Literal
from xml.etree import ElementTree

import python_calamine

from bulk_ident.errors import InputError
from bulk_ident.read.sources import local_source

__all__ = [
    "HEADER_SEARCH_ROWS",
    "Roster",
    "Row",
    "format_number",
    "general_number",
    "is_simple_format",
    "read_roster",
    "sheet_names",
]

HEADER_SEARCH_ROWS = 20
"""The header must be one of the first this-many rows (title rows may sit above it)."""

TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DELIMITERS = (",", ";", "\t", "|")

_EXPECTED = "a header row with columns such as 'Account UUID' and 'Unit Number'"
_SHOW = 5  # how many row numbers or cells a warning lists before saying "and N more"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls, or encrypted .xlsx
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50

_WRONG_FORMAT = {
    ".xls": "is in the old Excel format (.xls): open it in Excel and save it as .xlsx or .csv",
    ".xlsb": "is an Excel binary workbook (.xlsb): open it in Excel and save it as .xlsx or .csv",
    ".ods": "is an OpenDocument spreadsheet (.ods): save it as .xlsx or .csv",
    ".numbers": "is an Apple Numbers file: export it as .xlsx or .csv (File > Export To)",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number as the user sees it and the text of each header column."""

    number: int
    values: tuple[str, ...]


@dataclass
class Roster:
    """A roster as read: where it came from, its header, its rows and anything worth a warning."""

    path: Path
    kind: Literal["csv", "xlsx"]
    sheet: str | None
    encoding: str | None
    delimiter: str | None
    header_row: int
    columns: tuple[str, ...]
    rows: list[Row]
    blank_rows: int
    warnings: list[str]


def read_roster(
    path: Path,
    *,
    is_header: Callable[[Sequence[str]], bool],
    sheet: str | None = None,
    encoding: str | None = None,
) -> Roster:
    """Reads a .csv/.tsv/.txt or .xlsx/.xlsm roster; raises InputError for anything unusable.

    ``is_header(cells)`` says whether a row of trimmed cell texts is the header row; the first of
    the first HEADER_SEARCH_ROWS rows for which it is true is taken. ``sheet`` (a name, or a
    number counting the visible sheet tabs from 1) applies to workbooks, ``encoding`` to text.
    """
    suffix = path.suffix.lower()
    if suffix in _WRONG_FORMAT:
        raise InputError(f"{path} {_WRONG_FORMAT[suffix]}.")
    if suffix not in TEXT_SUFFIXES | EXCEL_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise InputError(
            f"{path}: unsupported file type ({shown}); use .xlsx, .xlsm, .csv, .tsv or .txt."
        )
    data = local_source(path).data
    if not data.strip():
        raise InputError(f"{path} is empty.")
    with collector_paused():
        if suffix in TEXT_SUFFIXES:
            roster = _read_text(path, data, is_header, encoding)
            if sheet is not None:
                roster.warnings.insert(0, f"{path} is a text file: --sheet is ignored.")
        else:
            roster = _read_workbook(path, data, is_header, sheet)
            if encoding is not None:
                roster.warnings.insert(0, f"{path} is a workbook: --encoding is ignored.")
    return roster


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a large roster is built (or validated, or
    written: the CLI holds it across all three).

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


# --------------------------------------------------------------------------- shared assembly


def _assemble(
    where: str,
    records: Sequence[tuple[int, list[str]]],
    is_header: Callable[[Sequence[str]], bool],
    column_name: Callable[[int], str],
    not_header: frozenset[int] = frozenset(),
) -> tuple[int, tuple[str, ...], list[Row], int, list[str]]:
    """Finds the header and turns the records below it into rows.

    Returns (header row number, columns, rows, blank rows, warnings). Blank rows are counted only
    between the header and the last data row: trailing empty rows are noise, not skipped data.
    """
    header_at = -1
    for i, (number, cells) in enumerate(records[:HEADER_SEARCH_ROWS]):
        if number not in not_header and any(cells) and is_header(cells):
            header_at = i
            break
    if header_at < 0:
        raise InputError(
            f"{where}: no header row found in the first {HEADER_SEARCH_ROWS} rows; expected "
            f"{_EXPECTED}."
        )
    header_number, header_cells = records[header_at]
    width = len(header_cells)
    while width and not header_cells[width - 1]:
        width -= 1
    columns = tuple(header_cells[:width])
    padding = [""] * width

    rows: list[Row] = []
    blank_rows = pending_blanks = 0
    extra_rows = 0
    first_extra = ""
    for number, cells in records[header_at + 1 :]:
        if not any(cells):
            pending_blanks += 1
            continue
        blank_rows += pending_blanks
        pending_blanks = 0
        n = len(cells)
        if n > width:
            if any(cells[width:]):
                extra_rows += 1
                if not first_extra:
                    col = next(j for j in range(width, n) if cells[j])
                    first_extra = f"row {number}, column {column_name(col)}"
            values = tuple(cells[:width])
        elif n < width:
            values = tuple(cells + padding[n:])
        else:
            values = tuple(cells)
        # A row with text only beyond the header is not data; the warning below covers it.
        if any(values):
            rows.append(Row(number, values))

    warnings: list[str] = []
    if extra_rows:
        plural = "s have" if extra_rows > 1 else " has"
        warnings.append(
            f"{where}: {extra_rows} row{plural} values to the right of the last header column "
            f"(first: {first_extra}); they are ignored: give that column a header to use it."
        )
    return header_number, columns, rows, blank_rows, warnings


def _count(n: int, noun: str) -> str:
    """'1 hidden row', '3 hidden rows'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _list_some(items: Sequence[str], total: int | None = None) -> str:
    """'5, 7, 9' or '5, 7, 9, 11, 13 and 40 more'."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:_SHOW])
    return f"{shown} and {total - _SHOW} more" if total > _SHOW else shown


# --------------------------------------------------------------------------- text files


def _read_text(
    path: Path,
    data: bytes,
    is_header: Callable[[Sequence[str]], bool],
    encoding: str | None,
) -> Roster:
    if data.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path} is an Excel workbook, not text: rename it to end in .xlsx and try again."
        )
    if data.startswith(_CFB_MAGIC):
        raise InputError(
            f"{path} is an old-format Excel file, not text: open it in Excel and save it as "
            "'CSV UTF-8' or .xlsx."
        )
    encoding, text = _decode(path, data, encoding)
    if "\x00" in text:
        raise InputError(
            f"{path} contains NUL characters, so it is not {encoding} text: if Excel saved it "
            "as 'Unicode Text', pass --encoding utf-16."
        )
    if not text.strip():
        raise InputError(f"{path} is empty.")
    delimiter = _choose_delimiter(text, is_header, path.suffix.lower())
    records = _parse_text(path, text, delimiter)
    header_row, columns, rows, blank_rows, warnings = _assemble(
        str(path), records, is_header, lambda j: str(j + 1)
    )
    return Roster(
        path=path,
        kind="csv",
        sheet=None,
        encoding=encoding,
        delimiter=delimiter,
        header_row=header_row,
        columns=columns,
        rows=rows,
        blank_rows=blank_rows,
        warnings=warnings,
    )


def _decode(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Returns (encoding used, text): UTF-8 (with or without BOM), else Windows-1252."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(
                f"{path}: unknown --encoding '{encoding}'; use a name such as utf-8, cp1252 "
                "or latin-1."
            ) from None
        try:
            return encoding, data.decode(encoding).removeprefix("\ufeff")
        except UnicodeError as err:
            raise InputError(
                f"{path} is not valid {encoding} text ({_where_bad(err)}): try another "
                "--encoding, e.g. utf-8 or cp1252."
            ) from None
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" export: UTF-16 with a byte order mark.
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252"]
    for name in candidates:
        try:
            return name, data.decode(name).removeprefix("\ufeff")
        except UnicodeError as err:
            last = err
    raise InputError(
        f"{path} is neither UTF-8 nor Windows-1252 text ({_where_bad(last)}): pass "
        "--encoding with the right one, e.g. --encoding latin-1."
    )


def _where_bad(err: UnicodeError) -> str:
    if isinstance(err, UnicodeDecodeError):
        bad = err.object[err.start : err.start + 1].hex().upper()
        return f"byte 0x{bad} at offset {err.start}"
    return str(err)


def _sample_records(text: str, delimiter: str) -> list[list[str]]:
    sample = text[:_SNIFF_CHARS]
    records: list[list[str]] = []
    try:
        for fields in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            records.append([f.strip() for f in fields])
            if len(records) >= _SNIFF_RECORDS:
                break
    except csv.Error:
        pass  # the sample may end inside a quoted field; what was read so far is enough
    return records


def _choose_delimiter(text: str, is_header: Callable[[Sequence[str]], bool], suffix: str) -> str:
    """Picks the delimiter that yields a recognisable header, then the most regular field count.

    Trying each candidate with the caller's own header test is more reliable than a generic
    sniffer: a title line above the header or a comma inside a name can't fool it.
    """
    order = ("\t", ",", ";", "|") if suffix == ".tsv" else DELIMITERS
    best = order[0]
    best_score: tuple[bool, bool, float, int] = (False, False, 0.0, 0)
    for delimiter in order:
        records = _sample_records(text, delimiter)
        found = any(any(r) and is_header(r) for r in records[:HEADER_SEARCH_ROWS])
        counts = [len(r) for r in records if any(r)]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (found, mode > 1, counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _parse_text(path: Path, text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Parses every record, numbering each by the text line on which it starts.

    Strict quoting: a lenient parser would let one unclosed quote swallow every later row into
    a single field without a word.
    """
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for fields in reader:
            records.append((start, [f.strip() for f in fields]))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(
            f"{path}, line {start}: a quoted value is not closed, or has text after its closing "
            f'quote ({err}); fix the quotes (write a quote inside a value as "").'
        ) from None
    return records


# --------------------------------------------------------------------------- workbooks


def _read_workbook(
    path: Path,
    data: bytes,
    is_header: Callable[[Sequence[str]], bool],
    sheet: str | None,
) -> Roster:
    if data.startswith(_CFB_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise InputError(
                f"{path} is password-protected (encrypted): open it in Excel, remove the "
                "password (File > Info > Protect Workbook) and save it again."
            )
        raise InputError(
            f"{path} is really an old-format .xls file: open it in Excel and save it as .xlsx."
        )
    damaged = (
        f"{path} is not a valid Excel workbook (damaged, or not really {path.suffix.lower()}): "
        "open it in Excel and save it again as .xlsx."
    )
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(damaged)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = _WorkbookParts(archive)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError, EOFError):
        raise InputError(damaged) from None

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        metadata = list(workbook.sheets_metadata)
    except python_calamine.PasswordError:
        raise InputError(
            f"{path} is password-protected: remove the password in Excel and save it again."
        ) from None
    except Exception as err:  # calamine raises several types, some not CalamineError subclasses
        raise InputError(f"{damaged[:-1]} ({type(err).__name__}).") from None

    warnings: list[str] = []
    name = _choose_sheet(path, metadata, sheet, warnings)
    where = f"{path}, sheet '{name}'"
    try:
        sheet_data = workbook.get_sheet_by_name(name)
        grid: list[list[_Cell]] = sheet_data.to_python(skip_empty_area=False)
        merged = sheet_data.merged_cell_ranges or []
    except Exception as err:  # see above
        raise InputError(f"{where} can't be read: {err or type(err).__name__}.") from None
    finally:
        workbook.close()

    xml = parts.sheet_xml(name)
    scan = _SheetScan(xml, parts.simple_formats()) if xml is not None else None
    if scan is not None:
        scan.apply_formats(grid)
        scan.apply_errors(grid)

    records = [(i + 1, _texts(values)) for i, values in enumerate(grid)]
    if not any(any(cells) for _, cells in records):
        raise InputError(f"{where} is empty: pick the sheet with the roster using --sheet.")
    header_row, columns, rows, blank_rows, more = _assemble(
        where, records, is_header, _column_letters, _title_rows(merged, grid)
    )
    warnings.extend(more)
    if scan is not None:
        warnings.extend(scan.warnings(where, header_row, {r.number for r in rows}))
    return Roster(
        path=path,
        kind="xlsx",
        sheet=name,
        encoding=None,
        delimiter=None,
        header_row=header_row,
        columns=columns,
        rows=rows,
        blank_rows=blank_rows,
        warnings=warnings,
    )


def sheet_names(path: Path) -> list[tuple[str, bool]]:
    """The worksheets of an .xlsx/.xlsm in tab order, each with whether it is visible (for a page
    that lets the user pick one; ``read_roster(sheet=NAME)`` then reads it). Charts are left out;
    InputError as ``read_roster`` says it for a file that is not a readable workbook."""
    data = local_source(path).data
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path} is not a valid Excel workbook (damaged, or not really "
            f"{path.suffix.lower()}): open it in Excel and save it again as .xlsx."
        )
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        metadata = list(workbook.sheets_metadata)
        workbook.close()
    except python_calamine.PasswordError:
        raise InputError(
            f"{path} is password-protected: remove the password in Excel and save it again."
        ) from None
    except Exception as err:  # calamine raises several types, some not CalamineError subclasses
        raise InputError(f"{path} can't be read as a workbook ({type(err).__name__}).") from None
    visible = python_calamine.SheetVisibleEnum.Visible
    worksheet = python_calamine.SheetTypeEnum.WorkSheet
    return [(m.name, m.visible == visible) for m in metadata if m.typ == worksheet]


def _choose_sheet(
    path: Path,
    metadata: list[python_calamine.SheetMetadata],
    wanted: str | None,
    warnings: list[str],
) -> str:
    """Picks the sheet to read and warns about hidden sheets, which are never read silently."""
    visible_enum = python_calamine.SheetVisibleEnum.Visible
    worksheet_enum = python_calamine.SheetTypeEnum.WorkSheet
    worksheets = [m for m in metadata if m.typ == worksheet_enum]
    visible = [m.name for m in worksheets if m.visible == visible_enum]
    hidden = [m.name for m in worksheets if m.visible != visible_enum]
    listing = ", ".join(f"{i} '{n}'" for i, n in enumerate(visible, 1))
    if hidden:
        listing += "; hidden: " + ", ".join(f"'{n}'" for n in hidden)

    if wanted is None:
        if not visible:
            raise InputError(
                f"{path} has no visible worksheet: name one with --sheet (sheets: {listing})."
            )
        if hidden:
            names = ", ".join(f"'{n}'" for n in hidden)
            warnings.append(
                f"{path} also has hidden sheets ({names}) that were not read; "
                "use --sheet NAME to read one instead."
            )
        return visible[0]

    by_name = {m.name: m for m in metadata}
    chosen = by_name.get(wanted)
    if chosen is None:
        folded = [m for m in metadata if m.name.strip().casefold() == wanted.strip().casefold()]
        chosen = folded[0] if len(folded) == 1 else None
    if chosen is None and re.fullmatch(r"[0-9]+", wanted.strip()):
        number = int(wanted)
        if not 1 <= number <= len(visible):
            raise InputError(
                f"{path} has no sheet number {number}: it has "
                f"{_count(len(visible), 'visible sheet')}: {listing}."
            )
        return visible[number - 1]
    if chosen is None:
        raise InputError(f"{path} has no sheet named '{wanted}'; its sheets are: {listing}.")
    if chosen.typ != worksheet_enum:
        raise InputError(f"{path}: sheet '{chosen.name}' is a chart, not a table of rows.")
    if chosen.visible != visible_enum:
        warnings.append(f"{path}: sheet '{chosen.name}' is hidden in Excel; reading it as asked.")
    return chosen.name


def _title_rows(
    merged: list[tuple[tuple[int, int], tuple[int, int]]], grid: list[list[_Cell]]
) -> frozenset[int]:
    """Row numbers holding only a title merged across columns: never taken for the header."""
    titles = set()
    for (top, left), (_bottom, right) in merged:
        if right > left and top < min(len(grid), HEADER_SEARCH_ROWS):
            row = grid[top]
            others = [v for j, v in enumerate(row) if j != left and v != ""]
            if not others:
                titles.add(top + 1)
    return frozenset(titles)


# The text Excel shows for a cell, by calamine's value type.

_Cell = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta


def _texts(values: list[_Cell]) -> list[str]:
    return [v.strip() if type(v) is str else _text(v) for v in values]


def _text(value: object) -> str:
    if type(value) is float:
        if value.is_integer() and -1e15 < value < 1e15:
            return str(int(value))
        return general_number(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return general_number(float(value))
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value).strip()


def general_number(value: float) -> str:
    """A number as Excel's General format shows it, without ever switching to scientific notation.

    Whole numbers keep their shortest exact digits (101.0 -> "101"); fractions are rounded to 15
    significant digits, which removes binary noise (0.1 + 0.2 -> "0.3").
    """
    if value.is_integer():
        if abs(value) < 1e15:
            return str(int(value))
        return _plain(Decimal(repr(value)))
    return _plain(Decimal(format(value, ".15g")))


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


_SIMPLE_FORMAT = re.compile(r"[0#,]*[0#][0#,]*(?:\.[0#]*)?|\.[0#]+")
_BUILTIN_SIMPLE = {1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00"}


def is_simple_format(code: str) -> bool:
    """True for number formats made only of 0 # , . (first section), which format_number handles."""
    return _SIMPLE_FORMAT.fullmatch(code.split(";", 1)[0]) is not None


def format_number(value: float, code: str) -> str:
    """Formats a number with a simple Excel number format such as 000, 0.00 or #,##0."""
    return _compile_format(code)(float(value))


@dataclass(frozen=True)
class _NumberFormat:
    """A parsed simple number format; calling it formats one number."""

    min_int: int  # digits always shown before the point (the 0s)
    grouping: bool  # thousands separators
    scale: int  # each trailing comma divides by 1000
    point: str  # "." when the format has one, even with no decimals ("0." shows "5.")
    min_frac: int
    max_frac: int

    def __call__(self, value: float) -> str:
        magnitude = abs(value)
        if not self.scale and magnitude < 1e15 and value.is_integer():
            whole, frac, zero = str(int(magnitude)), "", magnitude == 0
        else:
            # Excel formats the value it displays, which has at most 15 significant digits.
            number = Decimal(format(magnitude, ".15g")).scaleb(-3 * self.scale)
            number = number.quantize(Decimal(1).scaleb(-self.max_frac), rounding=ROUND_HALF_UP)
            whole, _, frac = format(number, "f").partition(".")
            zero = number == 0
        whole = whole.lstrip("0").rjust(self.min_int, "0")
        if self.grouping and len(whole) > 3:
            head = len(whole) % 3 or 3
            groups = (whole[i : i + 3] for i in range(head, len(whole), 3))
            whole = ",".join([whole[:head], *groups])
        text = whole + self.point + frac.rstrip("0").ljust(self.min_frac, "0")
        return f"-{text}" if value < 0 and not zero else text


@functools.lru_cache(maxsize=64)
def _compile_format(code: str) -> _NumberFormat:
    int_part, point, frac_part = code.split(";", 1)[0].partition(".")
    scale = 0
    while int_part.endswith(",") and len(int_part) > 1:
        int_part, scale = int_part[:-1], scale + 1
    return _NumberFormat(
        min_int=int_part.count("0"),
        grouping="," in int_part,
        scale=scale,
        point=point,
        min_frac=frac_part.count("0"),
        max_frac=len(frac_part),
    )


def _column_letters(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_index(letters: bytes) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ch - 64
    return index - 1


# --------------------------------------------------------------------------- the xlsx XML

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _WorkbookParts:
    """Finds each sheet's XML part and the workbook's simple number formats."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        workbook = self._parse("xl/workbook.xml")
        rels = self._parse("xl/_rels/workbook.xml.rels")
        targets = {}
        for rel in rels:
            target = rel.get("Target", "")
            # Targets are relative to xl/ unless absolute within the package.
            target = target[1:] if target.startswith("/") else str(PurePosixPath("xl") / target)
            targets[rel.get("Id", "")] = target
        self._sheets: dict[str, str] = {}
        for element in workbook.iter():
            if _local(element.tag) == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
                if rid in targets:
                    self._sheets[element.get("name", "")] = targets[rid]

    def _parse(self, name: str) -> ElementTree.Element:
        return ElementTree.fromstring(self._archive.read(name))

    def sheet_xml(self, name: str) -> bytes | None:
        part = self._sheets.get(name)
        if part is None:
            return None
        try:
            return self._archive.read(_normalise(part))
        except (KeyError, zipfile.BadZipFile, OSError):
            return None

    def simple_formats(self) -> dict[int, str]:
        """Style index -> format code, for the styles whose number format format_number handles."""
        try:
            styles = self._parse("xl/styles.xml")
        except (KeyError, ElementTree.ParseError):
            return {}
        codes = dict(_BUILTIN_SIMPLE)
        cell_xfs: list[ElementTree.Element] = []
        for element in styles:
            if _local(element.tag) == "numFmts":
                for fmt in element:
                    code = fmt.get("formatCode", "")
                    if fmt.get("numFmtId", "").isdigit():
                        codes[int(fmt.get("numFmtId", ""))] = code
            elif _local(element.tag) == "cellXfs":
                cell_xfs = list(element)
        found = {}
        for index, xf in enumerate(cell_xfs):
            num_fmt = xf.get("numFmtId", "0")
            code = codes.get(int(num_fmt), "") if num_fmt.isdigit() else ""
            if code and is_simple_format(code):
                found[index] = code
        return found


def _normalise(part: str) -> str:
    stack: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if stack:
                stack.pop()
        elif piece and piece != ".":
            stack.append(piece)
    return "/".join(stack)


_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})([0-9]+)"')
_ROW_REF = re.compile(rb'\sr="([0-9]+)"')
_TYPE_ATTR = re.compile(rb'\st="([a-zA-Z]+)"')
_SPACE = b" \t\r\n"


class _SheetScan:
    """Fast byte scans of one sheet's XML for what calamine does not report.

    Every regex starts with a literal so the engine can skip ahead quickly; each hit is then
    checked against its enclosing tag, so attribute order and namespace prefixes don't matter.
    """

    def __init__(self, xml: bytes, formats: dict[int, str]) -> None:
        self._xml = xml
        root = re.match(rb"\s*(?:<\?[^>]*\?>\s*)?<(?:(\w+):)?worksheet\b", xml)
        prefix = root.group(1) + b":" if root and root.group(1) else b""
        self._prefix = prefix
        self._cell_tag = b"<" + prefix + b"c"
        self._row_tag = b"<" + prefix + b"row"
        self._v_open = b"<" + prefix + b"v"
        self._cell_close = b"</" + prefix + b"c>"
        self._formats = formats
        self._errors: list[tuple[int, int, str]] = []

    def _tag_of(self, pos: int, tag: bytes) -> tuple[int, int] | None:
        """Bounds of the start tag around pos if it is a `tag` element, else None."""
        if pos == 0 or self._xml[pos - 1] not in _SPACE:
            return None
        start = self._xml.rfind(b"<", 0, pos)
        after = start + len(tag)
        if start < 0 or self._xml[start:after] != tag or self._xml[after] not in _SPACE:
            return None
        return start, self._xml.find(b">", pos)

    def _cell_position(self, start: int, end: int) -> tuple[int, int] | None:
        ref = _CELL_REF.search(self._xml, start, end)
        if ref is None:
            return None
        return int(ref.group(2)) - 1, _column_index(ref.group(1))

    def apply_formats(self, grid: list[list[_Cell]]) -> None:
        """Replaces numbers in cells styled like '000' or '#,##0' by the text Excel shows."""
        if not self._formats:
            return
        formats = {str(i).encode(): _compile_format(code) for i, code in self._formats.items()}
        ids = b"|".join(formats)
        # Excel and openpyxl write r= then s=: one C-level pass finds those cells. It is trusted
        # only if it accounts for every s= hit; otherwise each hit's tag is examined.
        common = re.compile(
            re.escape(self._cell_tag) + rb' r="([A-Z]{1,3})([0-9]+)" s="(' + ids + rb')"'
        )
        cells = [(letters, row, fmt) for letters, row, fmt in common.findall(self._xml)]
        if len(cells) != len(re.findall(rb's="(?:' + ids + rb')"', self._xml)):
            cells = list(self._styled_cells(ids))
        columns: dict[bytes, int] = {}
        height = len(grid)
        for letters, row_text, fmt in cells:
            row = int(row_text) - 1
            col = columns.get(letters)
            if col is None:
                col = columns[letters] = _column_index(letters)
            if row < height and col < len(grid[row]):
                value = grid[row][col]
                if type(value) is float:
                    grid[row][col] = formats[fmt](value)

    def _styled_cells(self, ids: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
        """(column letters, row number, style id) of each cell with one of the style ids."""
        for hit in re.finditer(rb's="(' + ids + rb')"', self._xml):
            bounds = self._tag_of(hit.start(), self._cell_tag)
            if bounds is None:
                continue
            ref = _CELL_REF.search(self._xml, *bounds)
            if ref is not None:
                yield ref.group(1), ref.group(2), hit.group(1)

    def apply_errors(self, grid: list[list[_Cell]]) -> None:
        """Shows error cells (#N/A, #DIV/0!) as Excel does; calamine reads them as empty."""
        for hit in re.finditer(rb't="e"', self._xml):
            bounds = self._tag_of(hit.start(), self._cell_tag)
            if bounds is None:
                continue
            position = self._cell_position(*bounds)
            close = self._xml.find(self._cell_close, bounds[1])
            value = re.compile(re.escape(self._v_open) + rb">([^<]*)<").search(
                self._xml, bounds[1], max(close, bounds[1])
            )
            if position is None or value is None:
                continue
            row, col = position
            text = value.group(1).decode("utf-8", "replace").strip()
            self._errors.append((row + 1, col, text))
            if row < len(grid) and col < len(grid[row]):
                grid[row][col] = text

    def _hidden_rows(self) -> list[int]:
        if b'hidden="' not in self._xml:
            return []
        rows = []
        for hit in re.finditer(rb'hidden="(?:1|true)"', self._xml):
            bounds = self._tag_of(hit.start(), self._row_tag)
            if bounds is not None:
                ref = _ROW_REF.search(self._xml, *bounds)
                if ref is not None:
                    rows.append(int(ref.group(1)))
        return rows

    def _uncalculated(self) -> Iterator[tuple[int, int]]:
        """Cells holding a formula but no cached value (saved by a program that can't calculate)."""
        formula = re.compile(b"<" + re.escape(self._prefix) + rb"f[\s>/]")
        value = re.compile(re.escape(self._v_open) + rb"(?:\s[^>/]*)?>([^<]*)</")
        for hit in formula.finditer(self._xml):
            cell_end = self._xml.rfind(b">", 0, hit.start())
            start = self._xml.rfind(b"<", 0, cell_end)
            tag = self._xml[start : start + len(self._cell_tag) + 1]
            if tag[:-1] != self._cell_tag or tag[-1] not in _SPACE + b">":
                continue
            close = self._xml.find(self._cell_close, hit.end())
            if close < 0:
                continue
            cached = value.search(self._xml, hit.end(), close)
            kind = _TYPE_ATTR.search(self._xml, start, cell_end)
            is_text = kind is not None and kind.group(1) in {b"str", b"s", b"inlineStr"}
            if cached is None or (not cached.group(1).strip() and not is_text):
                position = self._cell_position(start, cell_end)
                if position is not None:
                    yield position

    def warnings(self, where: str, header_row: int, data_rows: set[int]) -> list[str]:
        """One line each for hidden data rows, formulas without values and error cells."""
        out: list[str] = []
        hidden = [str(r) for r in sorted(set(self._hidden_rows())) if r in data_rows]
        if hidden:
            out.append(
                f"{where}: {_count(len(hidden), 'hidden row')} read like the others: "
                f"{_list_some(hidden)}."
            )
        missing = [
            f"{_column_letters(col)}{row + 1}"
            for row, col in sorted(self._uncalculated())
            if row + 1 >= header_row
        ]
        if missing:
            out.append(
                f"{where}: {_count(len(missing), 'formula cell')} without a calculated value "
                f"read as empty ({_list_some(missing)}): open and save the file in Excel, "
                "then retry."
            )
        errors = [
            f"{_column_letters(col)}{row} {text}"
            for row, col, text in sorted(self._errors)
            if row >= header_row
        ]
        if errors:
            out.append(
                f"{where}: {_count(len(errors), 'cell')} showing an Excel error: "
                f"{_list_some(errors)}."
            )
        return out
