"""Streaming scans of an xlsx package: its sheets, styles and strings, and a cheap first pass over
a sheet (size, far cells, merged ranges, completeness) before anything is decoded.

Everything is read from the zip in chunks with byte-level regular expressions, so memory stays
bounded and time stays linear in the size of the XML. The rows themselves: xlsx_rows.py.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from xml.etree import ElementTree

from bulk_ident.read.numfmt import BUILTIN_FORMATS

__all__ = [
    "CHUNK",
    "END_DATA",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_XML_BYTES",
    "Package",
    "PackageError",
    "SheetInfo",
    "SheetLayout",
    "column_index",
    "column_letters",
    "local_name",
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


def local_name(tag: str) -> str:
    """An ElementTree tag without its namespace."""
    return _local(tag)


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
# Every cell reference's letters read as A and digits as 0, dollar signs dropped: a reference
# _SUSPECT could match then shows one of these shapes, found by plain byte searches.
_REF_SHAPES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"A" * 26 + b"0" * 10)
_FAR_SHAPE = re.compile(rb'r="(?:AAA|A{0,2}0000000)')
END_DATA = _END_DATA = re.compile(rb"</(?:\w+:)?sheetData>|<(?:\w+:)?sheetData\s*/>")
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


def _may_be_far(window: bytes) -> bool:
    """False when no reference in the window can be a far one: a cheap test first, because the
    exact search examines every cell reference (a million in a 100k-row sheet)."""
    return _FAR_SHAPE.search(window.translate(_REF_SHAPES, b"$")) is not None


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
        if layout.far_cell is None and _may_be_far(window):
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
