"""Results sheets, in the roster's own format: the file writer.

XLSX results are streamed as plain SpreadsheetML with every cell an inline string: that keeps text
exactly as read (no "007" -> 7, no formulas) and writes 100k rows x 26 columns in about a second,
where openpyxl's and XlsxWriter's write-only modes take 14-17 s on this machine. They are made
easy to scan by style indexes alone: the header bold, frozen and filtered, the Result column
coloured by its word, columns sized from a sample, and an optional Summary sheet.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import html
import io
import itertools
import os
import queue
import re
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bulk_ident.errors import InputError
from bulk_ident.read.xlsx_scan import column_letters
from bulk_ident.words import Result

if TYPE_CHECKING:
    from bulk_ident.report.report import Sheet

Summary = Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]]
"""The Summary sheet's lines (label, value), or a function giving them once the rows are written
(a streamed sheet's counts are known only then). A ("", "") line is left blank."""

_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids most control characters; a roster cell holding one would make Excel refuse
# the whole file, so they are dropped from the XML (the problems column already names them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A cell (after the \x00 that joins them) that starts like a formula and is not a plain number.
_CSV_RISK = re.compile(r"\x00(?:[=@\t\r]|[+-](?!\d+(?:[.,]\d+)?(?:\x00|$)))")
# The same over a batch of rows (each cell after a NUL, rows ending in LF).
_CSV_BATCH_RISK = re.compile(r"\x00(?:[=@\t\r]|[+-](?!\d+(?:[.,]\d+)?(?:[\x00\n]|$)))")
_CSV_BATCH = 2000
# A whole number a spreadsheet holds exactly and shows as written ("007" would lose its zeros).
_WHOLE = re.compile(r"-?(?:0|[1-9]\d{0,14})")
_NEEDS_CARE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
XLSX_CELL_LIMIT = 32_767  # the most characters Excel keeps in a cell; it refuses longer ones
CUT_MARKER = " [cut: the cell was longer than Excel allows]"


def cut_for_xlsx(text: str) -> str:
    """A cell's text within Excel's limit, marked where it was cut."""
    if len(text) <= XLSX_CELL_LIMIT:
        return text
    return text[: XLSX_CELL_LIMIT - len(CUT_MARKER)] + CUT_MARKER


def neutralise_csv(text: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe.

    Plain numbers such as "-5" or "+12" stay as they are: spreadsheets read them as numbers.
    """
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def check_output(path: Path) -> None:
    """Refuse, before anything is sent, an output that can't be written or must not be replaced:
    anything but a regular file (a device, a pipe, a folder), or a folder we can't write in."""
    try:
        info = path.stat()  # follows links: /proc/self/fd/1 is whatever it points at
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None
    system = ("/proc/", "/dev/", "/sys/")
    special = os.path.abspath(path).startswith(system) or os.path.realpath(path).startswith(system)
    if special or (info is not None and not stat.S_ISREG(info.st_mode)):
        raise InputError(
            f"{path} is not a regular file (a folder, device or pipe): give a file name for "
            "the output"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"can't write in {folder}: choose another place for {path.name}")


def write_sheet(
    path: Path, sheet: Sheet, *, delimiter: str = ",", summary: Summary | None = None
) -> None:
    """Write a report sheet atomically; InputError (one line) if the file can't be written."""
    try:
        write_table(
            path,
            sheet.header,
            sheet.rows,
            delimiter=delimiter,
            numbers=sheet.numbers,
            summary=summary,
        )
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None


@contextlib.contextmanager
def write_lines(path: Path) -> Iterator[Callable[[str], None]]:
    """Open a text file for JSON Lines; yields a function that writes one line."""
    check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w", encoding="utf-8", newline="\n")
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None
    with fh:

        def write(line: str) -> None:
            fh.write(line + "\n")

        yield write


def write_table(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str = ",",
    sheet: str = "Results",
    numbers: Collection[int] = (),
    summary: Summary | None = None,
) -> None:
    """Write a table atomically (temporary file + rename): XLSX for .xlsx/.xlsm, else CSV.

    In XLSX every cell is text, except whole numbers in the ``numbers`` columns (row numbers,
    identIds), which are stored as numbers so that they sort as numbers. A column headed
    ``Result`` is coloured by its words; ``summary`` adds a Summary sheet (XLSX only: a CSV
    file has one table).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.suffix.lower() in (".xlsx", ".xlsm"):
                _write_xlsx(raw, header, rows, sheet, frozenset(numbers), summary)
            else:
                _write_csv(raw, header, rows, delimiter)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, else those of any new file: mkstemp's are owner-only."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)  # the only way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask


def _write_csv(
    raw: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[str]], delimiter: str
) -> None:
    """CSV exactly as the csv module writes it (minimal quoting, CRLF), UTF-8 with a BOM so that
    Excel shows accented names correctly when the file is double-clicked.

    Most rows need no quoting and no neutralising. Rows are taken in batches, each joined once
    (every cell after a NUL, rows by LF) and searched once; a clean batch is written by two
    replaces, at a small fraction of the csv module's cost per row. A batch with anything to
    quote or neutralise goes row by row, the rows needing it through the csv module.
    """
    needs_quotes = re.compile(f'[{re.escape(delimiter)}"\r\n]')
    one_row = io.StringIO()
    writer = csv.writer(one_row, delimiter=delimiter)
    raw.write(codecs.BOM_UTF8)
    for batch in _batched(itertools.chain([header], rows), _CSV_BATCH):
        text = "\x00" + "\n\x00".join(map("\x00".join, batch))
        if (
            text.count("\x00") == sum(map(len, batch))  # no NUL inside a cell
            and text.count("\n") == len(batch) - 1  # nor a line break
            and delimiter not in text
            and '"' not in text
            and "\r" not in text
            and not _CSV_BATCH_RISK.search(text)
        ):
            lines = text.replace("\n\x00", "\r\n").replace("\x00", delimiter)
            raw.write((lines[1:] + "\r\n").encode())
            continue
        chunk: list[str] = []
        for row in batch:
            joined = "\x00".join(row)
            if (
                joined.count("\x00") == len(row) - 1
                and not needs_quotes.search(joined)
                and not _CSV_RISK.search("\x00" + joined)
            ):
                chunk.append(joined.replace("\x00", delimiter) + "\r\n")
            else:
                writer.writerow([neutralise_csv(v) for v in row])
                chunk.append(one_row.getvalue())
                one_row.seek(0)
                one_row.truncate()
        raw.write("".join(chunk).encode())


# -- xlsx ------------------------------------------------------------------------------------

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
{sheets}\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
</Types>"""
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" \
Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<sheets>{sheets}</sheets>{names}</workbook>"""
# Sheet n is rId(n+1): rId1 is the styles part.
_WORKBOOK_SHEET = '<sheet name="{name}" sheetId="{n}" r:id="rId{rid}"/>'
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" \
Target="styles.xml"/>{sheets}</Relationships>"""
_SHEET_REL = (
    '<Relationship Id="rId{rid}" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet{n}.xml"/>'
)

# Cell styles (cellXfs), all with numFmt 49 ("@", text): 0 plain, 1 bold (headers and labels),
# then one per tone, in the fills and font colours Excel itself offers as Good, Bad and Neutral.
_PLAIN, _BOLD, _GOOD, _BAD, _WARN = 0, 1, 2, 3, 4
_TONE_COLOURS = (("FFC6EFCE", "FF006100"), ("FFFFC7CE", "FF9C0006"), ("FFFFEB9C", "FF9C5700"))
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="5"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font>'
    + "".join(
        f'<font><sz val="11"/><color rgb="{font}"/><name val="Calibri"/></font>'
        for _, font in _TONE_COLOURS
    )
    + '</fonts><fills count="5"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    + "".join(
        f'<fill><patternFill patternType="solid"><fgColor rgb="{fill}"/>'
        '<bgColor indexed="64"/></patternFill></fill>'
        for fill, _ in _TONE_COLOURS
    )
    + '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="5">'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyNumberFormat="1"/>'
    + "".join(
        f'<xf numFmtId="49" fontId="{i}" fillId="{i}" borderId="0" xfId="0" applyFont="1" '
        'applyFill="1" applyNumberFormat="1"/>'
        for i in (2, 3, 4)
    )
    + '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)
# The words of the Result column (and of the Summary's counts) and the style each is shown in.
_TONES: dict[str, int] = {
    **dict.fromkeys(
        (Result.CREATED, Result.UPDATED, Result.RECREATED, Result.RESTORED, Result.VALID), _GOOD
    ),
    **dict.fromkeys((Result.FAILED, Result.INVALID, Result.DUPLICATE), _BAD),
    **dict.fromkeys((Result.UNKNOWN, Result.NOT_ATTEMPTED), _WARN),
}
TONED_COLUMN = "Result"

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_WORKSHEET = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
_FROZEN_HEADER = (
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
    'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
)
_WIDTH_SAMPLE = 1000  # rows whose text sizes the columns: enough to be typical, never all
_MIN_WIDTH, _MAX_WIDTH = 6, 60
_CHUNK = 2000

_OPEN = '<c t="inlineStr"><is><t>'
_CLOSE = "</t></is></c>"
_EMPTY = _OPEN + _CLOSE
_TONE_OPEN = {s: _OPEN.replace("<c ", f'<c s="{s}" ') for s in (_GOOD, _BAD, _WARN)}
_TONE_CELLS = {word: f"{_TONE_OPEN[tone]}{word}{_CLOSE}" for word, tone in _TONES.items()}
_PRESERVED = '<t xml:space="preserve">'


def _xlsx_rows(
    rows: Iterable[Sequence[str]],
    style: str = "",
    numbers: frozenset[int] = frozenset(),
    toned: int | None = None,
) -> str:
    """SpreadsheetML rows, every non-empty cell an inline string (so text stays text), but
    whole numbers in the ``numbers`` columns; the ``toned`` column's cells styled by their word.

    Writing 100k x 26 cells is the slow part of ``check`` on a large roster, so a chunk of rows
    is built by joins and by column, not cell by cell: the text is checked once for anything to
    escape or cut; the few special columns (row numbers, identIds, the result) are built column
    by column and the runs of plain cells between them by one join per row. Cells are marked
    xml:space="preserve" only in a chunk with a cell that needs it (spaces at either end, tabs or
    line breaks, which a reader may trim or fold): the mark on every cell made the XML a third
    bigger, to be encoded, checksummed and compressed.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    open_, empty = _OPEN.replace("<c ", f"<c{style} "), _EMPTY.replace("<c ", f"<c{style} ")
    every = "\n".join(itertools.chain.from_iterable(rows))  # each cell between two LFs
    cells = sum(map(len, rows))
    special = sorted(numbers | ({toned} if toned is not None else set()))
    widths = set(map(len, rows))
    width = widths.pop() if len(widths) == 1 else 0
    fitted = False
    if _NEEDS_CARE.search(every):
        rows, fitted = [_fit(values) for values in rows], True
    while True:
        if special and width:
            pieces = _by_columns(rows, width, open_, special, numbers, toned)
        else:
            pieces = _by_rows(rows, open_, special, numbers, toned)
        # A cell too long for Excel makes its piece of XML longer still: rarely worth a look.
        if fitted or max(map(len, pieces), default=0) <= XLSX_CELL_LIMIT:
            break
        rows, fitted = [_fit(values) for values in rows], True
    xml = "".join(pieces)
    # Escaped values hold no "<", so the only empty inline strings are the empty cells.
    xml = xml.replace(empty, "<c/>")
    if (
        every.count("\n") != cells - 1  # a line break inside a cell (or a row without cells)
        or "\n " in every
        or " \n" in every
        or every.startswith(" ")
        or every.endswith(" ")
        or "\t" in every
        or "\r" in every
    ):
        xml = xml.replace("<t>", _PRESERVED)
    return xml


def _fit(values: Sequence[str]) -> Sequence[str]:
    """A row's cells cut to Excel's limit and escaped for XML, where they need it."""
    joined = "".join(values)
    if len(joined) > XLSX_CELL_LIMIT:
        values = [cut_for_xlsx(v) for v in values]
    if _NEEDS_CARE.search(joined):
        values = [html.escape(_XML_ILLEGAL.sub("", v), quote=False) for v in values]
    return values


def _by_columns(
    rows: list[Sequence[str]],
    width: int,
    open_: str,
    special: list[int],
    numbers: frozenset[int],
    toned: int | None,
) -> list[str]:
    """Rows all ``width`` cells wide, each as XML: each special column's cells in one pass down
    the column, each run of plain cells between them by one join per row, then zipped."""
    sep = _CLOSE + open_
    pieces: list[list[str]] = []
    start = 0
    for i in special:
        if i >= width:
            break
        if i > start:
            pieces.append([f"{open_}{sep.join(v[start:i])}{_CLOSE}" for v in rows])
        column = [v[i] for v in rows]
        tones = _TONE_CELLS if i == toned else {}
        if i in numbers:
            pieces.append(
                [
                    tones.get(v)
                    or (f"<c><v>{v}</v></c>" if _WHOLE.fullmatch(v) else f"{open_}{v}{_CLOSE}")
                    for v in column
                ]
            )
        else:
            pieces.append([tones.get(v) or f"{open_}{v}{_CLOSE}" for v in column])
        start = i + 1
    if start < width:
        pieces.append([f"{open_}{sep.join(v[start:])}{_CLOSE}" for v in rows])
    return [f"<row>{''.join(cells)}</row>" for cells in zip(*pieces, strict=True)]


def _by_rows(
    rows: list[Sequence[str]],
    open_: str,
    special: list[int],
    numbers: frozenset[int],
    toned: int | None,
) -> list[str]:
    """Rows of any widths, each as XML, one by one."""
    sep = _CLOSE + open_
    out = []
    for values in rows:
        if not special:
            out.append(f"<row>{open_}{sep.join(values)}{_CLOSE}</row>")
            continue
        parts = ["<row>"]
        start, width = 0, len(values)
        for i in special:
            if i >= width:
                break
            if i > start:
                parts.append(f"{open_}{sep.join(values[start:i])}{_CLOSE}")
            v = values[i]
            tone = _TONES.get(v) if i == toned else None
            if tone is not None:
                parts.append(f"{_TONE_OPEN[tone]}{v}{_CLOSE}")
            elif i in numbers and _WHOLE.fullmatch(v):
                parts.append(f"<c><v>{v}</v></c>")
            else:
                parts.append(f"{open_}{v}{_CLOSE}")
            start = i + 1
        if start < width:
            parts.append(f"{open_}{sep.join(values[start:])}{_CLOSE}")
        parts.append("</row>")
        out.append("".join(parts))
    return out


def _cols(header: Sequence[str], sample: Sequence[Sequence[str]]) -> str:
    """Column widths fitted to the header (with room for the filter button) and a sample."""
    widths = [len(h) + 4 for h in header]
    for values in sample:
        for i, v in enumerate(values[: len(widths)]):
            widths[i] = max(widths[i], len(v))
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{min(max(w + 1, _MIN_WIDTH), _MAX_WIDTH)}" '
        'customWidth="1"/>'
        for i, w in enumerate(widths, start=1)
    )
    return f"<cols>{cols}</cols>" if cols else ""


def _write_xlsx(
    raw: IO[bytes],
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    sheet: str,
    numbers: frozenset[int],
    summary: Summary | None,
) -> None:
    name = _sheet_name(sheet, "Results")
    toned = header.index(TONED_COLUMN) if TONED_COLUMN in header else None
    sheets = 2 if summary is not None else 1
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        kinds = "".join(_SHEET_TYPE.format(n=n) for n in range(1, sheets + 1))
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=kinds))
        zf.writestr("_rels/.rels", _ROOT_RELS)
        rels = "".join(_SHEET_REL.format(rid=n + 1, n=n) for n in range(1, sheets + 1))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS.format(sheets=rels))
        zf.writestr("xl/styles.xml", _STYLES)
        remaining = iter(rows)
        sample = list(itertools.islice(remaining, _WIDTH_SAMPLE))
        count = 0
        with (
            zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part,
            _Behind(part) as out,
        ):
            head = _XML_HEAD + _WORKSHEET + _FROZEN_HEADER + _cols(header, sample) + "<sheetData>"
            out.write(head.encode())
            out.write(_xlsx_rows([header], f' s="{_BOLD}"').encode())
            for chunk in itertools.chain(_batched(sample, _CHUNK), _batched(remaining, _CHUNK)):
                out.write(_xlsx_rows(chunk, numbers=numbers, toned=toned).encode())
                count += len(chunk)
            area = f"A1:{column_letters(max(len(header), 1) - 1)}{count + 1}"
            out.write(f'</sheetData><autoFilter ref="{area}"/></worksheet>'.encode())
        entries = [_WORKBOOK_SHEET.format(name=name, n=1, rid=2)]
        if summary is not None:
            lines = summary() if callable(summary) else summary
            zf.writestr("xl/worksheets/sheet2.xml", _summary_sheet(lines))
            entries.append(_WORKBOOK_SHEET.format(name="Summary", n=2, rid=3))
        # Excel keeps a filter's range in this hidden name too, and repairs files without it.
        quoted = html.escape(name.replace("'", "''"), quote=True)
        area_abs = re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", area)
        names = (
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" '
            f"hidden=\"1\">'{quoted}'!{area_abs}</definedName></definedNames>"
        )
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(sheets="".join(entries), names=names))


class _Behind:
    """Writes to a file one step behind, in a second thread, while the next rows are built.

    Compressing and checksumming the sheet (zlib, which lets other threads run meanwhile) is a
    fifth of writing a large check sheet; on a second core it costs no time. A write that fails
    raises from the next ``write`` or from leaving the ``with`` block, which waits for the
    rest to be written.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="results-writer", daemon=True)

    def __enter__(self) -> _Behind:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:  # after a failure, only drain the queue
                try:
                    self._out.write(data)
                except BaseException as err:  # raised in the caller's thread
                    self._error = err


def _batched(rows: Iterable[Sequence[str]], size: int) -> Iterator[list[Sequence[str]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _sheet_name(text: str, fallback: str) -> str:
    """A legal sheet name (no []:*?/\\, at most 31 characters), escaped for an attribute."""
    return html.escape(re.sub(r"[\[\]:*?/\\]", "_", text)[:31] or fallback)


def _summary_sheet(lines: Sequence[tuple[str, str]]) -> str:
    """The Summary sheet: a bold label and its value per line; result words in their tone and
    whole numbers as numbers."""
    out = []
    for label, value in lines:
        if not label and not value:
            out.append("<row/>")
            continue
        style = _TONES.get(label, _BOLD)
        text = html.escape(_XML_ILLEGAL.sub("", label), quote=False)
        cells = f'<c s="{style}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
        if _WHOLE.fullmatch(value):
            cells += f"<c><v>{value}</v></c>"
        elif value:
            shown = html.escape(_XML_ILLEGAL.sub("", value), quote=False)
            cells += f'<c t="inlineStr"><is><t xml:space="preserve">{shown}</t></is></c>'
        out.append(f"<row>{cells}</row>")
    width = max((len(label) for label, _ in lines), default=8) + 2
    value_width = max((len(value) for _, value in lines), default=8) + 2
    cols = (
        f'<cols><col min="1" max="1" width="{min(max(width, _MIN_WIDTH), _MAX_WIDTH)}" '
        f'customWidth="1"/><col min="2" max="2" '
        f'width="{min(max(value_width, _MIN_WIDTH), 100)}" customWidth="1"/></cols>'
    )
    return f"{_XML_HEAD}{_WORKSHEET}{cols}<sheetData>{''.join(out)}</sheetData></worksheet>"
