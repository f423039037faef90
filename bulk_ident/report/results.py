"""Results sheets, in the roster's own format: the file writer.

XLSX results are streamed as plain SpreadsheetML with every cell an inline string: that keeps text
exactly as read (no "007" -> 7, no formulas) and writes 100k rows x 26 columns in about a second,
where openpyxl's and XlsxWriter's write-only modes take 14-17 s on this machine.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import html
import io
import itertools
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bulk_ident.errors import InputError

if TYPE_CHECKING:
    from bulk_ident.report.report import Sheet

_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids most control characters; a roster cell holding one would make Excel refuse
# the whole file, so they are dropped from the XML (the problems column already names them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A cell (after the \x00 that joins them) that starts like a formula and is not a plain number.
_CSV_RISK = re.compile(r"\x00(?:[=@\t\r]|[+-](?!\d+(?:[.,]\d+)?(?:\x00|$)))")
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


def write_sheet(path: Path, sheet: Sheet, *, delimiter: str = ",") -> None:
    """Write a report sheet atomically; InputError (one line) if the file can't be written."""
    try:
        write_table(path, sheet.header, sheet.rows, delimiter=delimiter, numbers=sheet.numbers)
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
) -> None:
    """Write a table atomically (temporary file + rename): XLSX for .xlsx/.xlsm, else CSV.

    In XLSX every cell is text, except whole numbers in the ``numbers`` columns (row numbers,
    identIds), which are stored as numbers so that they sort as numbers.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.suffix.lower() in (".xlsx", ".xlsm"):
                _write_xlsx(raw, header, rows, sheet, frozenset(numbers))
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

    Most rows need no quoting and no neutralising: one join and two searches per row find those
    and write them directly, at a quarter of the csv module's cost per row; the rest go through
    the csv module.
    """
    needs_quotes = re.compile(f'[{re.escape(delimiter)}"\r\n]')
    one_row = io.StringIO()
    writer = csv.writer(one_row, delimiter=delimiter)
    raw.write(codecs.BOM_UTF8)
    chunk: list[str] = []
    for row in itertools.chain([header], rows):
        joined = "\x00".join(row)
        if (
            joined.count("\x00") == len(row) - 1  # no NUL inside a cell
            and not needs_quotes.search(joined)
            and not _CSV_RISK.search("\x00" + joined)
        ):
            chunk.append(joined.replace("\x00", delimiter) + "\r\n")
        else:
            writer.writerow([neutralise_csv(v) for v in row])
            chunk.append(one_row.getvalue())
            one_row.seek(0)
            one_row.truncate()
        if len(chunk) >= 2000:
            raw.write("".join(chunk).encode())
            chunk.clear()
    raw.write("".join(chunk).encode())


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
</Types>"""
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" \
Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" \
Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" \
Target="styles.xml"/></Relationships>"""
# Style 0: default; style 1: bold (the header row). numFmt 49 is "@" (text).
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="2"><xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" \
applyNumberFormat="1"/><xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" \
applyFont="1" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
    'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>'
)


_OPEN = '<c t="inlineStr"><is><t xml:space="preserve">'
_CLOSE = "</t></is></c>"
_EMPTY = _OPEN + _CLOSE


def _xlsx_rows(
    rows: Iterable[Sequence[str]], style: str = "", numbers: frozenset[int] = frozenset()
) -> str:
    """SpreadsheetML rows, every non-empty cell an inline string (so text stays text), but
    whole numbers in the ``numbers`` columns.

    Built with joins over whole rows and chunks rather than per cell: writing 100k x 26 cells is
    the slow part of ``check`` on a large roster. The ``numbers`` columns come after the roster's
    own, so only the cells from the first of them on are built one by one.
    """
    open_, empty = _OPEN.replace("<c ", f"<c{style} "), _EMPTY.replace("<c ", f"<c{style} ")
    sep = _CLOSE + open_
    first = min(numbers, default=None)
    out = []
    for values in rows:
        joined = "".join(values)
        if len(joined) > XLSX_CELL_LIMIT:
            values = [cut_for_xlsx(v) for v in values]  # noqa: PLW2901
        if _NEEDS_CARE.search(joined):
            values = [  # noqa: PLW2901
                html.escape(_XML_ILLEGAL.sub("", v), quote=False) for v in values
            ]
        if first is None:
            out.append(f"<row>{open_}{sep.join(values)}{_CLOSE}</row>")
            continue
        tail = "".join(
            f"<c><v>{v}</v></c>" if i in numbers and _WHOLE.fullmatch(v) else f"{open_}{v}{_CLOSE}"
            for i, v in enumerate(values[first:], start=first)
        )
        head = f"{open_}{sep.join(values[:first])}{_CLOSE}" if first else ""
        out.append(f"<row>{head}{tail}</row>")
    # Escaped values hold no "<", so the only empty inline strings are the empty cells.
    return "".join(out).replace(empty, "<c/>")


def _write_xlsx(
    raw: IO[bytes],
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    sheet: str,
    numbers: frozenset[int],
) -> None:
    name = html.escape(re.sub(r"[\[\]:*?/\\]", "_", sheet)[:31] or "Results")  # an attribute
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(name=name))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/styles.xml", _STYLES)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(_SHEET_HEAD.encode())
            out.write(_xlsx_rows([header], ' s="1"').encode())
            chunk: list[Sequence[str]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= 2000:
                    out.write(_xlsx_rows(chunk, numbers=numbers).encode())
                    chunk.clear()
            out.write(_xlsx_rows(chunk, numbers=numbers).encode())
            out.write(b"</sheetData></worksheet>")
