"""Streaming scans of an xlsx package: its sheets, styles and strings, and each sheet's rows.

Everything is read from the zip in chunks with byte-level regular expressions, so memory stays
bounded and time stays linear in the size of the XML. Every sheet is scanned twice: a cheap first
pass (its size, far cells, merged ranges, whether it is complete) before anything is decoded, then
the rows. A fast pattern parses cells as Excel, openpyxl and most writers lay them out; a chunk it
can't account for in full is parsed by expat instead.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import cast
from xml.etree import ElementTree

from bulk_ident.read.numfmt import BUILTIN_FORMATS, Format, compile_format, general_number
from bulk_ident.read.numfmt import serial_from_iso as _serial_from_iso

__all__ = [
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_XML_BYTES",
    "Package",
    "PackageError",
    "SheetInfo",
    "SheetLayout",
    "SheetRow",
    "Work",
    "column_index",
    "column_letters",
    "read_rows",
    "scan_layout",
    "unescape",
]

MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
MAX_XML_BYTES = 500 * 2**20
MAX_RATIO = 100  # uncompressed / compressed, for entries bigger than BIG_ENTRY
BIG_ENTRY = 10 * 2**20
CHUNK = 1 << 20

_REL_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class PackageError(Exception):
    """The package can't be read; the message completes "<file> ..." and says what to do."""


def column_letters(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str | bytes) -> int:
    """'A' -> 0, 'AA' -> 26 (the inverse of column_letters)."""
    index = 0
    for ch in letters.encode() if isinstance(letters, str) else letters:
        index = index * 26 + (ch & 0xDF) - 64
    return index - 1


_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if 0 < code < 0x110000 else "\ufffd"


def unescape(text: str) -> str:
    """XML character references and OOXML's _xHHHH_ escapes (Excel writes CR as _x000D_)."""
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    if "_x" in text:
        text = _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


# --------------------------------------------------------------------------- the package


@dataclass(frozen=True, slots=True)
class SheetInfo:
    """A sheet of the workbook as its tab shows it."""

    name: str
    part: str | None  # the zip entry of its XML
    visible: bool
    kind: str  # worksheet, chartsheet, dialogsheet, macrosheet


def _refuse_dtd(xml: bytes, part: str) -> None:
    if b"<!DOCTYPE" in xml[:4096] or b"<!ENTITY" in xml[:4096]:
        raise PackageError(f"has a document type declaration in {part}, which Excel never writes")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class Package:
    """The parts of an xlsx that reading one sheet needs, with limits checked before decoding."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        workbook = self._tree("xl/workbook.xml")
        rels = self._rels("xl/_rels/workbook.xml.rels")
        self.date1904 = False
        self.sheets: list[SheetInfo] = []
        self._styles_part = self._shared_part = None
        for rel_type, target in rels.values():
            if rel_type == "styles":
                self._styles_part = target
            elif rel_type == "sharedStrings":
                self._shared_part = target
        for element in workbook.iter():
            tag = _local(element.tag)
            if tag == "workbookPr":
                self.date1904 = element.get("date1904", "").lower() in {"1", "true"}
            elif tag == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
                rel_type, target = rels.get(rid, ("", ""))
                self.sheets.append(
                    SheetInfo(
                        name=element.get("name", ""),
                        part=target or None,
                        visible=element.get("state", "visible") == "visible",
                        kind=rel_type or "worksheet",
                    )
                )

    def entry(self, part: str) -> zipfile.ZipInfo | None:
        """The zip entry of a part, refused if its size says it is a bomb or far too big."""
        try:
            info = self.archive.getinfo(part)
        except KeyError:
            return None
        size = info.file_size
        if size > MAX_XML_BYTES:
            raise PackageError(
                f"has a part ({part}) of {size // 2**20:,} MB uncompressed, far more than a "
                f"roster needs ({MAX_XML_BYTES // 2**20} MB at most): save the roster alone as "
                "a new workbook"
            )
        if size > BIG_ENTRY and size > MAX_RATIO * max(info.compress_size, 1):
            raise PackageError(
                f"has a part ({part}) that expands {size // max(info.compress_size, 1):,} times "
                "when unpacked, as no spreadsheet does: open it in Excel and save it again"
            )
        return info

    def chunks(self, part: str) -> Iterator[bytes]:
        """The part's bytes in pieces of about CHUNK bytes."""
        info = self.entry(part)
        if info is None:
            raise PackageError(f"is missing {part}")
        with self.archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def _tree(self, part: str) -> ElementTree.Element:
        info = self.entry(part)
        if info is None:
            raise PackageError(f"is missing {part}")
        xml = self.archive.read(info)
        _refuse_dtd(xml, part)
        return ElementTree.fromstring(xml)

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type's last word, target part)."""
        out = {}
        for rel in self._tree(part):
            target = rel.get("Target", "")
            if rel.get("TargetMode", "") == "External":
                continue
            target = target[1:] if target.startswith("/") else str(PurePosixPath("xl") / target)
            out[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], _normalise(target))
        return out

    def formats(self) -> list[str]:
        """Format code of each cell style (cellXfs), by style index."""
        if self._styles_part is None or self.entry(self._styles_part) is None:
            return []
        styles = self._tree(self._styles_part)
        codes = dict(BUILTIN_FORMATS)
        out: list[str] = []
        for element in styles:
            if _local(element.tag) == "numFmts":
                for fmt in element:
                    num = fmt.get("numFmtId", "")
                    if num.isdigit():
                        codes[int(num)] = fmt.get("formatCode", "")
            elif _local(element.tag) == "cellXfs":
                for xf in element:
                    num = xf.get("numFmtId", "0")
                    code = codes.get(int(num)) if num.isdigit() else None
                    # An id that is neither built in (for en-US) nor defined: another locale's.
                    out.append(code if code is not None else f"[built-in format {num}]")
        return out

    def shared_strings(self) -> list[str]:
        """The shared string table, parsed in chunks."""
        if self._shared_part is None or self.entry(self._shared_part) is None:
            return []
        return [text.strip() for text in _shared_strings(self.chunks(self._shared_part))]


def _normalise(part: str) -> str:
    stack: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if stack:
                stack.pop()
        elif piece and piece != ".":
            stack.append(piece)
    return "/".join(stack)


_PREFIX = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?(sst|sheetData|worksheet)\b")
_RPH = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_TEXT = re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?(?:/>|>([^<]*)</(?:\w+:)?t>)")


def _rich_text(xml: bytes) -> str:
    """The text of an <si> or <is>: every <t>, phonetic guides (<rPh>) left out."""
    if b"<rPh" in xml or b":rPh" in xml:
        xml = _RPH.sub(b"", xml)
    return unescape(b"".join(_TEXT.findall(xml)).decode("utf-8", "replace"))


def _shared_strings(chunks: Iterator[bytes]) -> Iterator[str]:
    buffer = b""
    prefix: bytes | None = None
    for chunk in chunks:
        buffer += chunk
        if prefix is None:
            head = _PREFIX.search(buffer)
            if head is None:
                if len(buffer) > CHUNK:
                    raise PackageError("has a damaged shared string table")
                continue
            prefix = head.group(1) + b":" if head.group(1) else b""
            p = re.escape(prefix)
            close = b"</" + prefix + b"si>"
            fast = re.compile(
                b"<"
                + p
                + b"si><"
                + p
                + b't(?: xml:space="preserve")?>([^<]*)</'
                + p
                + b"t></"
                + p
                + b"si>"
            )
            careful = re.compile(
                b"<" + p + rb"si\s*/>|<" + p + rb"si\b[^>]*>(.*?)</" + p + b"si>", re.S
            )
            starts = [b"<" + prefix + b"si" + end for end in (b">", b" ", b"/", b"\n", b"\t")]
        cut = buffer.rfind(close)
        if cut < 0:
            continue
        cut += len(close)
        yield from _strings_of(buffer[:cut], fast, careful, starts)
        buffer = buffer[cut:]
    if prefix is not None:
        yield from _strings_of(buffer, fast, careful, starts)


def _strings_of(
    body: bytes, fast: re.Pattern[bytes], careful: re.Pattern[bytes], starts: list[bytes]
) -> Iterator[str]:
    found = fast.findall(body)
    if len(found) == sum(body.count(s) for s in starts):
        for raw in found:
            text = raw.decode("utf-8", "replace")
            yield unescape(text) if "&" in text or "_x" in text else text
        return
    for item in careful.finditer(body):
        yield _rich_text(item.group(1) or b"")


# --------------------------------------------------------------------------- first pass


@dataclass
class SheetLayout:
    """What the first pass over a sheet's XML found."""

    dimension: str | None = None
    far_cell: str | None = None  # the first cell reference beyond MAX_ROWS / MAX_COLUMNS
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # 0-based r1 c1 r2 c2
    complete: bool = False  # the XML reaches the end of its rows
    scanned: int = 0  # bytes examined, summed over every search (work, for tests)


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref\s*=\s*["\']([A-Za-z0-9:$]+)["\']')
# Starts with a literal so that the engine skips ahead fast; `r = "..."` with spaces escapes it
# but not the row parser, which checks every position it places.
_SUSPECT = re.compile(rb'r="\$?([A-Z]{3,}\$?[0-9]+|[A-Z]*\$?[0-9]{7,})"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref\s*=\s*["\']([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)')
_REF = re.compile(r"\$?([A-Za-z]{1,4})\$?([0-9]{1,9})")
_END_DATA = re.compile(rb"</(?:\w+:)?sheetData>|<(?:\w+:)?sheetData\s*/>")
_OVERLAP = 256


def split_ref(ref: str) -> tuple[int, int] | None:
    """'B3' -> (row 2, column 1), 0-based; None if it is not a cell reference."""
    match = _REF.fullmatch(ref)
    if match is None:
        return None
    return int(match.group(2)) - 1, column_index(match.group(1).upper())


def _beyond(ref: str) -> bool:
    where = split_ref(ref)
    return where is not None and (where[0] >= MAX_ROWS or where[1] >= MAX_COLUMNS)


def scan_layout(chunks: Iterator[bytes]) -> SheetLayout:
    """One cheap pass over the sheet XML: dimension, far cells, merged ranges, completeness."""
    layout = SheetLayout()
    tail = b""
    seen_head = False
    for chunk in chunks:
        window = tail + chunk
        layout.scanned += len(window)
        if not seen_head:
            found = _DIMENSION.search(window)
            if found is not None:
                layout.dimension = found.group(1).decode("ascii", "replace")
                for ref in layout.dimension.split(":"):
                    if layout.far_cell is None and _beyond(ref.replace("$", "")):
                        layout.far_cell = ref.replace("$", "")
            seen_head = b"sheetData" in window
        if layout.far_cell is None:
            far_row = None
            for hit in _SUSPECT.findall(window):
                ref = hit.decode("ascii").replace("$", "")
                if ref.isdigit():
                    if far_row is None and int(ref) > MAX_ROWS:
                        far_row = f"A{ref}"  # a row; a cell in it names the place better
                elif _beyond(ref):
                    layout.far_cell = ref
                    break
            if layout.far_cell is None and far_row is not None:
                layout.far_cell = far_row
        if not layout.complete and b"sheetData" in window and _END_DATA.search(window):
            layout.complete = True
        if b"mergeCell" in window:
            for hit in _MERGE.findall(window):
                first, _, last = hit.decode("ascii").partition(":")
                a, b = split_ref(first), split_ref(last or first)
                if a is not None and b is not None:
                    layout.merged.append((a[0], a[1], b[0], b[1]))
        # Keep the end of this chunk, so a tag split between two chunks is still found (once:
        # merged ranges are deduplicated below).
        tail = chunk[-_OVERLAP:]
    layout.merged = sorted(set(layout.merged))
    return layout


# --------------------------------------------------------------------------- the rows


@dataclass(slots=True)
class SheetRow:
    """One row as Excel shows it: the text of each cell by column, and what is wrong with any."""

    number: int  # 1-based, as Excel shows it
    cells: list[str]
    hidden: bool = False
    errors: list[tuple[int, str]] | None = None  # (column, "#N/A")
    uncalculated: list[int] | None = None  # columns of formulas without a saved value
    fallbacks: list[tuple[int, str, str]] | None = None  # (column, format code, shown as)


class _Styles:
    """Per style index: how a number and a text in that style are shown."""

    def __init__(self, codes: list[str], date1904: bool) -> None:
        self.date1904 = date1904
        self.codes = codes
        self.number: list[Format | None] = []
        self.text: list[Format | None] = []
        for code in codes:
            fmt = None if code.strip().lower() in {"general", ""} else compile_format(code)
            self.number.append(fmt)
            has_text = fmt is not None and any(s.kind == "text" for s in fmt.sections)
            self.text.append(fmt if has_text and code != "@" else None)


class _RowBuilder:
    """Turns parsed cells into SheetRows; shared by the fast and the careful parser."""

    def __init__(self, shared: list[str], styles: _Styles) -> None:
        self.shared = shared
        self.styles = styles
        self.row: SheetRow | None = None
        self.done: list[SheetRow] = []
        self.hidden: set[int] = set()

    def start(self, number: int) -> SheetRow:
        if number > MAX_ROWS:
            raise PackageError(
                f"has cell A{number}, far outside the table: delete the empty rows and "
                "columns in Excel"
            )
        row = self.row
        if row is not None:
            if row.number == number:
                return row
            self.done.append(row)
        row = self.row = SheetRow(number, [], number in self.hidden)
        return row

    def put(self, row: SheetRow, col: int, text: str) -> None:
        cells = row.cells
        n = len(cells)
        if col == n and col < MAX_COLUMNS:
            cells.append(text)
        elif col >= n:
            if col >= MAX_COLUMNS:
                raise PackageError(
                    f"has cell {column_letters(col)}{row.number}, far outside the table: delete "
                    "the empty rows and columns in Excel"
                )
            cells.extend([""] * (col - n))
            cells.append(text)
        else:
            cells[col] = text

    def value(
        self,
        row: SheetRow,
        col: int,
        kind: str,
        style: int,
        raw: str | None,
        inline: str | None,
        formula: bool,
    ) -> str:
        """The text Excel shows for one cell, noting errors, missing values and odd formats."""
        if kind == "s":
            try:
                return self.shared[int(raw or "")]
            except (ValueError, IndexError):
                raise PackageError(
                    f"is damaged: cell {column_letters(col)}{row.number} points to a missing "
                    "shared text: open it in Excel and save it again"
                ) from None
        if kind == "inlineStr":
            text = unescape(inline or "").strip()
            return self._styled_text(style, text)
        if raw is None or (not raw.strip() and kind != "str"):
            if formula:
                (row.uncalculated if row.uncalculated is not None else self._new_list(row)).append(
                    col
                )
            elif kind == "e":
                self._error(row, col, "")
            return ""
        if kind == "str":
            return unescape(raw).strip()
        if kind == "b":
            return "TRUE" if raw.strip() in {"1", "true"} else "FALSE"
        if kind == "e":
            text = unescape(raw).strip()
            self._error(row, col, text)
            return text
        if kind == "d":
            serial = _serial_from_iso(unescape(raw), self.styles.date1904)
            if serial is None:
                return unescape(raw).strip()
            raw = repr(serial)
        elif kind not in {"n", ""}:
            return unescape(raw).strip()
        try:
            number = float(raw)
        except ValueError:
            return unescape(raw).strip()
        fmt = self.styles.number[style] if style < len(self.styles.number) else None
        if fmt is None:
            return general_number(number)
        shown = fmt.render(number, self.styles.date1904)
        if shown is None:
            shown = general_number(number)
            self._fallback(row, col, fmt.code, shown)
        return shown.strip()

    def format_of(self, style: int) -> Format | None:
        """The number format of a style, None for General (or an unknown style: see value())."""
        return self.styles.number[style] if style < len(self.styles.number) else None

    def _styled_text(self, style: int, text: str) -> str:
        fmt = self.styles.text[style] if style < len(self.styles.text) else None
        return text if fmt is None else fmt.render_text(text).strip()

    @staticmethod
    def _new_list(row: SheetRow) -> list[int]:
        row.uncalculated = []
        return row.uncalculated

    @staticmethod
    def _error(row: SheetRow, col: int, text: str) -> None:
        if row.errors is None:
            row.errors = []
        row.errors.append((col, text))

    @staticmethod
    def _fallback(row: SheetRow, col: int, code: str, shown: str) -> None:
        if row.fallbacks is None:
            row.fallbacks = []
        row.fallbacks.append((col, code, shown))

    def take(self) -> list[SheetRow]:
        out, self.done = self.done, []
        return out

    def finish(self) -> list[SheetRow]:
        if self.row is not None:
            self.done.append(self.row)
            self.row = None
        return self.take()


_UNSEEN = object()
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\s([^>]*)>")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')


def _hidden_rows(body: bytes) -> set[int]:
    rows = set()
    for attrs in _ROW_TAG.findall(body):
        found = {k.split(b":")[-1]: a or b for k, a, b in _ATTR.findall(attrs)}
        if found.get(b"hidden") in {b"1", b"true"} and found.get(b"r", b"").isdigit():
            rows.add(int(found[b"r"]))
    return rows


@dataclass
class Work:
    """What a row scan did, counted for tests that must catch superlinear behaviour."""

    scanned: int = 0  # bytes handed to a parser, summed over every parse
    careful: int = 0  # of which parsed by expat


def read_rows(
    chunks: Iterator[bytes],
    shared: list[str],
    codes: list[str],
    date1904: bool,
    work: Work | None = None,
) -> Iterator[SheetRow]:
    """The rows of a sheet, in order, each built from one streamed chunk of XML."""
    builder = _RowBuilder(shared, _Styles(codes, date1904))
    buffer = b""
    parser: _Parser | None = None
    for chunk in chunks:
        buffer += chunk
        if parser is None:
            found = _find_sheet_data(buffer)
            if found is None:
                if len(buffer) > 4 * CHUNK:
                    raise PackageError("is damaged: its sheet has no table of rows")
                continue
            parser = _Parser(found[0], buffer[: found[1]], builder, work or Work())
            buffer = buffer[found[1] :]
        end = _END_DATA.search(buffer) if b"sheetData" in buffer else None
        if end is not None:
            parser.parse(buffer[: end.start()])
            yield from builder.finish()
            return
        cut = buffer.rfind(parser.row_close)
        if cut < 0:
            continue
        cut += len(parser.row_close)
        parser.parse(buffer[:cut])
        buffer = buffer[cut:]
        yield from builder.take()
    if parser is not None:
        parser.parse(buffer)
    yield from builder.finish()


_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData\s*(/?)>")


def _find_sheet_data(buffer: bytes) -> tuple[bytes, int] | None:
    """(namespace prefix with its colon, offset just after <sheetData>) once it is in the buffer."""
    found = _SHEET_DATA.search(buffer)
    if found is None:
        return None
    prefix = found.group(1) + b":" if found.group(1) else b""
    return prefix, found.end()


class _Parser:
    """Parses whole rows of cells: the fast pattern, or expat when it can't account for all."""

    def __init__(self, prefix: bytes, head: bytes, builder: _RowBuilder, work: Work) -> None:
        p = re.escape(prefix.decode("ascii"))
        self.prefix = prefix
        self.row_close = b"</" + prefix + b"row>"
        self.cell_start = b"<" + prefix + b"c"
        # Groups: column letters, row, style, type, formula, <v>...</v>, inline text.
        self.fast = re.compile(
            f'<{p}c r="([A-Z]{{1,3}})([0-9]{{1,7}})"(?: s="([0-9]{{1,9}})")?'
            f'(?: t="([a-zA-Z]{{1,9}})")?(?:\\s*/>|>'
            f"(<{p}f\\b[^>]*?(?:/>|>[^<]*</{p}f>))?"
            f"(<{p}v>[^<]*</{p}v>)?(?:<{p}v\\s*/>)?"
            f'(?:<{p}is><{p}t(?: xml:space="preserve")?>([^<]*)</{p}t></{p}is>)?'
            f"</{p}c>)"
        )
        self.v_len = len(b"<" + prefix + b"v>")
        self.v_end = len(b"</" + prefix + b"v>")
        root = re.search(rb"<(?:[\w.-]+:)?worksheet\b[^>]*>", head)
        self.root = root.group(0) if root else b"<worksheet>"
        self.root_close = b"</" + (self.root[1:].split(None, 1)[0].rstrip(b">")) + b">"
        self.builder = builder
        self.columns: dict[str, int] = {}
        self.formats: dict[str, Format | object | None] = {}
        self.last_row = 0
        self.work = work

    def parse(self, body: bytes) -> None:
        if not body:
            return
        self.work.scanned += len(body)
        builder = self.builder
        if b"hidden" in body:
            builder.hidden |= _hidden_rows(body)
        try:
            text_body = body.decode()
        except UnicodeDecodeError:
            self._careful(body)
            return
        found = self.fast.findall(text_body)
        # Every "<c" in a run of rows starts a cell (text holds no "<"); the fast pattern is
        # trusted only if it parsed each of them.
        if len(found) != body.count(self.cell_start):
            self._careful(body)
            return
        escapes = b"&" in body or b"_x" in body
        columns = self.columns
        value = builder.value
        put = builder.put
        shared = builder.shared
        n_shared = len(shared)
        formats = self.formats
        date1904 = builder.styles.date1904
        row = builder.row
        cells: list[str] = []
        row_text = ""
        v_len, v_end = self.v_len, self.v_end
        for letters, number, style, kind, formula, v, inline in found:
            if number != row_text:
                row = builder.start(int(number))
                cells = row.cells
                row_text = number
            col = columns.get(letters)
            if col is None:
                col = columns[letters] = column_index(letters)
                if col >= MAX_COLUMNS:
                    builder.put(row, col, "")  # type: ignore[arg-type]  # refuses it
            text: str | None = None
            # The common cells inline; anything else (formulas, errors, odd values) via value().
            if formula:
                pass
            elif kind == "inlineStr":
                if not style and not escapes:
                    text = inline.strip()
            elif kind == "s":
                index = v[v_len:-v_end]
                if index.isdigit() and int(index) < n_shared:
                    text = shared[int(index)]
            elif v and (not kind or kind == "n"):
                raw = v[v_len:-v_end]
                fmt = formats.get(style, _UNSEEN) if style else None
                if fmt is _UNSEEN:
                    fmt = formats[style] = builder.format_of(int(style))
                if fmt is None:
                    # General numbers: digits as written when they are exact.
                    if raw.isdigit() and len(raw) < 16 and (raw[0] != "0" or len(raw) == 1):
                        text = raw
                elif isinstance(fmt, Format):
                    try:
                        shown = fmt.render(float(raw), date1904)
                    except ValueError:
                        shown = None
                    if shown is not None:
                        text = shown.strip()
            if text is None:
                text = value(
                    row,  # type: ignore[arg-type]
                    col,
                    kind or "n",
                    int(style) if style else 0,
                    v[v_len:-v_end] if v else None,
                    inline if kind == "inlineStr" else None,
                    bool(formula),
                )
            if col == len(cells):
                cells.append(text)
            else:
                put(row, col, text)  # type: ignore[arg-type]
        if row is not None:
            self.last_row = row.number

    def _careful(self, body: bytes) -> None:
        """Any valid layout: attributes in any order or quoting, rows and cells without r=."""
        self.work.careful += len(body)
        parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
            events=("start", "end")
        )
        try:
            parser.feed(self.root)
            parser.feed(body)
            parser.feed(self.root_close)
            events = cast(list[tuple[str, ElementTree.Element]], list(parser.read_events()))
            parser.close()
        except ElementTree.ParseError as err:
            raise PackageError(
                f"is damaged (its sheet XML can't be parsed: {err}): open it in Excel and save "
                "it again"
            ) from None
        builder = self.builder
        row: SheetRow | None = None
        next_col = 0
        for event, element in events:
            tag = _local(element.tag)
            if tag == "row" and event == "start":
                r = element.get("r", "")
                number = int(r) if r.isdigit() else self.last_row + 1
                row = builder.start(number)
                if element.get("hidden", "") in {"1", "true"}:
                    row.hidden = True
                self.last_row = number
                next_col = 0
            elif tag == "c" and event == "end" and row is not None:
                ref = element.get("r")
                where = split_ref(ref) if ref else None
                col = where[1] if where is not None else next_col
                next_col = col + 1
                if col >= MAX_COLUMNS:
                    builder.put(row, col, "")  # refuses it, naming the cell
                kind = element.get("t", "n")
                style = element.get("s", "0")
                raw = inline = None
                formula = False
                for child in element:
                    name = _local(child.tag)
                    if name == "v":
                        raw = child.text or ""
                    elif name == "f":
                        formula = True
                    elif name == "is":
                        inline = _inline_text(child)
                if raw is not None and not raw and kind != "str" and not formula:
                    raw = None
                text = builder.value(
                    row,
                    col,
                    kind,
                    int(style) if style.isdigit() else 0,
                    _escape_back(raw),
                    _escape_back(inline),
                    formula,
                )
                builder.put(row, col, text)
                element.clear()


def _inline_text(element: ElementTree.Element) -> str:
    """The text of an <is>: its <t> elements, phonetic guides (<rPh>) left out."""
    skip: set[int] = set()
    for sub in element.iter():
        if _local(sub.tag) == "rPh":
            skip.update(id(t) for t in sub.iter())
    return "".join(
        t.text or "" for t in element.iter() if _local(t.tag) == "t" and id(t) not in skip
    )


def _escape_back(text: str | None) -> str | None:
    """expat has already decoded entities; escape & again so that unescape() is idempotent."""
    return None if text is None else text.replace("&", "&amp;")
