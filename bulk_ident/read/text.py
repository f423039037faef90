"""Reads a roster from a text file (CSV, TSV, TXT): picks the encoding and delimiter from the
bytes, then streams the records through the csv module without decoding the file to one string.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence

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
    find_header,
    header_columns,
)
from bulk_ident.read.sources import Source

__all__ = ["CELL_LIMIT", "ERROR_WORDS", "open_text"]

CELL_LIMIT = 32_767  # Excel's most characters in a cell; longer CSV fields are refused
ERROR_WORDS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!"}
    | {"#GETTING_DATA"}
)
DELIMITERS = (",", ";", "\t", "|")
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 64 * 1024
_SNIFF_RECORDS = 50
_CHECK_CHUNK = 1 << 20
# One valid multi-byte UTF-8 sequence: its presence means the file is UTF-8, not Windows-1252.
_UTF8_MULTI = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def open_text(
    source: Source,
    is_header: Callable[[Sequence[str]], bool],
    encoding: str | None,
    key_columns: KeyColumns | None,
) -> Roster:
    """Opens a text roster: encoding, delimiter and header now, the rows as they are read."""
    name, data = source.name, source.data
    if data.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{name} is an Excel workbook, not text: rename it to end in .xlsx and try again."
        )
    if data.startswith(_CFB_MAGIC):
        raise InputError(
            f"{name} is an old-format Excel file, not text: open it in Excel and save it as "
            "'CSV UTF-8' or .xlsx."
        )
    shown, codec = _choose_encoding(name, data, encoding)
    sample = data[:_SNIFF_BYTES].decode(codec, "replace")
    if "\x00" in sample:
        raise InputError(
            f"{name} contains NUL characters, so it is not {shown} text: if Excel saved it "
            "as 'Unicode Text', pass --encoding utf-16."
        )
    if len(data) <= _SNIFF_BYTES and not sample.replace("\ufeff", "").strip():
        raise InputError(f"{name} is empty.")
    delimiter = _choose_delimiter(sample, is_header, source.suffix.lower())
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=codec, newline="")
    layout = Layout(name, lambda j: str(j + 1), count_gaps=False, text=True)
    records = _records(name, stream, delimiter)
    header, _ = find_header(layout, records, is_header)
    columns = header_columns(header)
    roster = Roster(
        source,
        "csv",
        sheet=None,
        encoding=shown,
        delimiter=delimiter,
        header_row=header.number,
        columns=columns,
        rows=iter(()),
        warnings=[],
    )
    keys = key_columns(columns) if key_columns is not None else None
    roster.rows = iter(RowStream(roster, layout, records, keys))
    return roster


# --------------------------------------------------------------------------- encoding


def _choose_encoding(name: str, data: bytes, wanted: str | None) -> tuple[str, str]:
    """(encoding to report, codec to decode with), after checking every byte decodes.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are recognised; Windows-1252 is chosen
    only when no multi-byte UTF-8 sequence is present, so a UTF-8 file with a few stray bytes
    is refused with where they are, not silently read as mojibake.
    """
    if wanted is not None:
        try:
            codec = codecs.lookup(wanted).name
        except LookupError:
            raise InputError(
                f"{name}: unknown --encoding '{wanted}'; use a name such as utf-8, cp1252 "
                "or latin-1."
            ) from None
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        _check(
            name,
            data,
            codec,
            f"which isn't {wanted}: try another --encoding, e.g. utf-8 or cp1252.",
        )
        return wanted, codec
    if data.startswith(codecs.BOM_UTF8):
        _check(name, data, "utf-8-sig", _NOT_UTF8)
        return "utf-8-sig", "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" export: UTF-16 with a byte order mark.
        _check(name, data, "utf-16", "which isn't UTF-16: save it again as 'CSV UTF-8'.")
        return "utf-16", "utf-16"
    if data.isascii():
        return "utf-8", "utf-8"
    if _UTF8_MULTI.search(data):
        _check(name, data, "utf-8", _NOT_UTF8)
        return "utf-8", "utf-8"
    _check(
        name,
        data,
        "cp1252",
        "which is neither UTF-8 nor Windows-1252 text: pass --encoding with the right one, "
        "e.g. --encoding latin-1.",
    )
    return "cp1252", "cp1252"


_NOT_UTF8 = "which isn't UTF-8: save as 'CSV UTF-8', or pass --encoding cp1252."


def _check(name: str, data: bytes, codec: str, advice: str) -> None:
    """Decodes the whole file in pieces, keeping nothing, to find the first bad byte."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    view = memoryview(data)
    for start in range(0, len(data), _CHECK_CHUNK):
        state = decoder.getstate()
        buffered = len(state[0]) if isinstance(state, tuple) else 0
        try:
            decoder.decode(view[start : start + _CHECK_CHUNK], start + _CHECK_CHUNK >= len(data))
        except UnicodeDecodeError as err:
            at = max(0, start - buffered + err.start)
            line = _line_of(data, at, codec)
            raise InputError(f"{name}: line {line} has byte 0x{data[at]:02X}, {advice}") from None


def _line_of(data: bytes, at: int, codec: str) -> int:
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        return data[:at].decode(codec, "replace").count("\n") + 1
    newlines = data.count(b"\n", 0, at)
    return (newlines if newlines or b"\r" not in data[:at] else data.count(b"\r", 0, at)) + 1


# --------------------------------------------------------------------------- delimiter


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        for fields in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            records.append([f.strip() for f in fields])
            if len(records) >= _SNIFF_RECORDS:
                break
    except csv.Error:
        pass  # the sample may end inside a quoted field; what was read so far is enough
    return records


def _choose_delimiter(sample: str, is_header: Callable[[Sequence[str]], bool], suffix: str) -> str:
    """Picks the delimiter that yields a recognisable header, then the most regular field count.

    Trying each candidate with the caller's own header test is more reliable than a generic
    sniffer: a title line above the header or a comma inside a name can't fool it.
    """
    order = ("\t", ",", ";", "|") if suffix == ".tsv" else DELIMITERS
    best = order[0]
    best_score: tuple[bool, bool, float, int] = (False, False, 0.0, 0)
    for delimiter in order:
        records = _sample_records(sample.removeprefix("\ufeff"), delimiter)
        found = any(any(r) and is_header(r) for r in records[:HEADER_SEARCH_ROWS])
        counts = [len(r) for r in records if any(r)]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (found, mode > 1, counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --------------------------------------------------------------------------- records


def _records(name: str, stream: io.TextIOWrapper, delimiter: str) -> Iterator[Record | Plain]:
    """Every record, numbered by the text line on which it starts.

    Strict quoting: a lenient parser would let one unclosed quote swallow every later row into
    a single field without a word. Fields are limited to what a spreadsheet cell holds.
    """
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    start = 1
    errors = ERROR_WORDS
    strip = str.strip
    previous = csv.field_size_limit(CELL_LIMIT)
    try:
        for fields in reader:
            cells = tuple(map(strip, fields))
            if errors.isdisjoint(cells):
                yield start, cells
            else:
                notes = tuple(
                    CellNote(j, j, NoteKind.ERROR, f"column {j + 1} shows {c}")
                    for j, c in enumerate(cells)
                    if c in errors
                )
                yield Record(start, cells, notes)
            start = reader.line_num + 1
    except csv.Error as err:
        text = str(err)
        if "field limit" in text:
            raise InputError(
                f"{name}, line {start}: a value is longer than {CELL_LIMIT:,} characters, more "
                "than a spreadsheet cell holds: check for a quote that is never closed."
            ) from None
        if "NUL" in text:
            raise InputError(
                f"{name}, line {start} contains a NUL character, so it is not text: save it "
                "again as 'CSV UTF-8'."
            ) from None
        raise InputError(
            f"{name}, line {start}: a quoted value is not closed, or has text after its closing "
            f'quote ({text}); fix the quotes (write a quote inside a value as "").'
        ) from None
    finally:
        csv.field_size_limit(previous)
