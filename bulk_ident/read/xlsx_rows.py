"""The rows of an xlsx sheet, streamed: each chunk of whole rows parsed by a fast pattern (cells
as Excel, openpyxl and most writers lay them out), or by expat when the pattern can't account for
every cell, into the text Excel shows per cell with errors and formulas without values noted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import cast
from xml.etree import ElementTree

from bulk_ident.read.datefmt import serial_from_iso as _serial_from_iso
from bulk_ident.read.numfmt import Format, compile_format, general_number
from bulk_ident.read.xlsx_scan import (
    CHUNK,
    END_DATA,
    MAX_COLUMNS,
    MAX_ROWS,
    PackageError,
    column_index,
    column_letters,
    local_name,
    split_ref,
    unescape,
)

__all__ = ["SheetRow", "Work", "read_rows"]

_END_DATA = END_DATA
_local = local_name


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
# How the quickest pass shows a cell: an inline string, a shared string, a General number, a
# number in a format, a boolean, or anything else by _RowBuilder.value().
_INLINE, _SHARED, _GENERAL, _FORMATTED, _BOOLEAN, _VALUE = range(6)
_TRUE = frozenset({"1", "true"})
_ATTRS = re.compile(r'(?: s="([0-9]{1,9})")?(?: t="([a-zA-Z]{1,9})")?\s*')
_SIMPLE_RETRY = 4  # chunks parsed by the fuller pattern before the quickest is tried again
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
    quick: int = 0  # of which parsed by the quickest pattern (plain cells only)


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
        # The cells most writers write, for the quickest pass: groups column letters, row, the
        # attributes after r= (checked against _ATTRS, see _plans), the value, the inline text.
        # A cell with anything else in it (a formula, rich text) fails to match, and the
        # chunk goes to the fuller pattern above.
        self.simple = re.compile(
            f'<{p}c r="([A-Z]{{1,3}})([0-9]{{1,7}})"([^>/]*)(?:/>|><(?:{p}v>([^<]*)</{p}v'
            f"|{p}is><{p}t[^>]*>([^<]*)</{p}t></{p}is)></{p}c>|></{p}c>)"
        )
        self.plans: dict[str, tuple[int, int, Format | None, str] | None] = {}
        self.skip_simple = 0  # chunks left before the quickest pass is tried again
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
        # Every "<c" in a run of rows starts a cell (text holds no "<"); a pattern is trusted
        # only if it parsed each of them.
        cells_in_body = body.count(self.cell_start)
        escapes = b"&" in body or b"_x" in body
        if self.skip_simple:
            self.skip_simple -= 1
        else:
            simple = self.simple.findall(text_body)
            if len(simple) == cells_in_body and self._plans(simple):
                self.work.quick += len(body)
                self._parse_simple(simple, escapes)
                return
            self.skip_simple = _SIMPLE_RETRY
        found = self.fast.findall(text_body)
        if len(found) != cells_in_body:
            self._careful(body)
            return
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

    def _plans(self, found: list[tuple[str, str, str, str, str]]) -> bool:
        """Works out how to show the cells of each distinct attribute text found (a handful in
        a sheet); False if one is not the plain ` s="N" t="T"` the quickest pass handles."""
        plans = self.plans
        for attrs in set(map(itemgetter(2), found)):
            if attrs not in plans:
                plans[attrs] = self._plan(attrs)
            if plans[attrs] is None:
                return False
        return True

    def _plan(self, attrs: str) -> tuple[int, int, Format | None, str] | None:
        """(how, style, number format, type) for cells with these attributes; None if unusual."""
        match = _ATTRS.fullmatch(attrs)
        if match is None:
            return None
        style, kind = match.group(1), match.group(2) or "n"
        index = int(style) if style else 0
        builder = self.builder
        if kind == "s":
            return _SHARED, index, None, kind
        if kind == "inlineStr":
            plain = builder.styles.text[index] if index < len(builder.styles.text) else None
            return (_INLINE if plain is None else _VALUE), index, None, kind
        if kind == "n":
            # As in the fuller pass: no s= reads digits as General (value() then uses style 0).
            fmt = builder.format_of(index) if style else None
            return (_GENERAL if fmt is None else _FORMATTED), index, fmt, kind
        return (_BOOLEAN if kind == "b" else _VALUE), index, None, kind

    def _parse_simple(self, found: list[tuple[str, str, str, str, str]], escapes: bool) -> None:
        """Builds the rows of a chunk of plain cells (see ``simple``)."""
        builder = self.builder
        columns = self.columns
        plans = self.plans
        value = builder.value
        put = builder.put
        start = builder.start
        shared = builder.shared
        n_shared = len(shared)
        date1904 = builder.styles.date1904
        row = builder.row
        cells: list[str] = []
        row_text = ""
        for letters, number, attrs, v, inline in found:
            if number != row_text:
                row = start(int(number))
                cells = row.cells
                row_text = number
            col = columns.get(letters)
            if col is None:
                col = columns[letters] = column_index(letters)
                if col >= MAX_COLUMNS:
                    put(row, col, "")  # type: ignore[arg-type]  # refuses it
            how, style, fmt, kind = plans[attrs]  # type: ignore[misc]  # every one planned
            text: str | None = None
            if how == _INLINE:
                if not escapes:
                    text = inline.strip()
            elif how == _SHARED:
                if v.isdigit() and int(v) < n_shared:
                    text = shared[int(v)]
            elif how == _GENERAL:
                # General numbers: digits as written when they are exact.
                if v.isdigit() and len(v) < 16 and (v[0] != "0" or len(v) == 1):
                    text = v
            elif how == _BOOLEAN:
                if v.strip():
                    text = "TRUE" if v.strip() in _TRUE else "FALSE"
            elif how == _FORMATTED and v:
                try:
                    shown = fmt.render(float(v), date1904)  # type: ignore[union-attr]
                except ValueError:
                    shown = None
                if shown is not None:
                    text = shown.strip()
            if text is None:
                # An absent <v> and an empty one read the same without a formula.
                text = value(
                    row,  # type: ignore[arg-type]
                    col,
                    kind,
                    style,
                    v,
                    inline if kind == "inlineStr" else None,
                    False,
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
