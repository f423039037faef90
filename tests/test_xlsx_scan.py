"""Tests for bulk_ident.read.xlsx_scan: each fast scan agrees with a slow xml.etree reference on
many generated workbooks (openpyxl-written, and hand-written XML with namespace prefixes, shuffled
attributes, single quotes, inline and shared strings, rich text, cells and rows without r=)."""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import openpyxl
import pytest

from bulk_ident.read.xlsx_rows import SheetRow, Work, read_rows
from bulk_ident.read.xlsx_scan import (
    CHUNK,
    Package,
    column_index,
    column_letters,
    scan_layout,
    split_ref,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

# --------------------------------------------------------------------------- the slow reference


@dataclass
class RefRow:
    """What the reference finds in one row."""

    number: int
    cells: list[str]
    hidden: bool
    errors: list[tuple[int, str]]
    uncalculated: list[int]


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def ref_text(element: ElementTree.Element) -> str:
    """Text of an <si>/<is>: every <t> not inside <rPh>."""
    skip = {id(t) for r in element.iter() if local(r.tag) == "rPh" for t in r.iter()}
    return "".join(
        t.text or "" for t in element.iter() if local(t.tag) == "t" and id(t) not in skip
    )


def reference_rows(sheet: bytes, shared: list[str]) -> list[RefRow]:
    """The careful way: parse the whole sheet with ElementTree and walk it (General format only)."""
    root = ElementTree.fromstring(sheet)
    out: list[RefRow] = []
    last_row = 0
    for row in root.iter():
        if local(row.tag) != "row":
            continue
        number = int(row.get("r") or last_row + 1)
        last_row = number
        cells: list[str] = []
        errors: list[tuple[int, str]] = []
        uncalculated: list[int] = []
        col = -1
        for c in row:
            if local(c.tag) != "c":
                continue
            ref = c.get("r")
            col = column_index("".join(ch for ch in ref if ch.isalpha())) if ref else col + 1
            kind = c.get("t", "n")
            value = next((x.text or "" for x in c if local(x.tag) == "v"), None)
            formula = any(local(x.tag) == "f" for x in c)
            inline = next((ref_text(x) for x in c if local(x.tag) == "is"), "")
            if kind == "s":
                text = shared[int(value or "")]
            elif kind == "inlineStr":
                text = inline.strip()
            elif value is None or (not value.strip() and kind != "str"):
                text = ""
                if formula:
                    uncalculated.append(col)
                elif kind == "e":
                    errors.append((col, ""))
            elif kind == "e":
                text = value.strip()
                errors.append((col, text))
            elif kind == "b":
                text = "TRUE" if value.strip() == "1" else "FALSE"
            elif kind == "str":
                text = value.strip()
            else:
                number_value = float(value)
                text = str(int(number_value)) if number_value.is_integer() else repr(number_value)
            while len(cells) < col:
                cells.append("")
            if col < len(cells):
                cells[col] = text
            else:
                cells.append(text)
        if cells or row.get("hidden") in {"1", "true"}:
            out.append(
                RefRow(number, cells, row.get("hidden") in {"1", "true"}, errors, uncalculated)
            )
    return [r for r in out if r.cells]


def reference_layout(sheet: bytes) -> tuple[str | None, list[tuple[int, int, int, int]]]:
    root = ElementTree.fromstring(sheet)
    dimension = next((e.get("ref") for e in root.iter() if local(e.tag) == "dimension"), None)
    merged = []
    for e in root.iter():
        if local(e.tag) == "mergeCell":
            first, _, last = (e.get("ref") or "").partition(":")
            a, b = split_ref(first), split_ref(last or first)
            assert a is not None
            assert b is not None
            merged.append((a[0], a[1], b[0], b[1]))
    return dimension, sorted(set(merged))


# --------------------------------------------------------------------------- generated workbooks

WORDS = ["Ann", "José Müller", "a & b", "<tag>", "  padded ", "x\u00a0y", 'q"uote', "Zoë", "", "0"]


@dataclass
class Cell:
    """One generated cell: its kind and value."""

    kind: str  # n, s, inlineStr, str, b, e, f (formula without value), rich
    value: str


def random_grid(rng: random.Random) -> dict[int, dict[int, Cell]]:
    grid: dict[int, dict[int, Cell]] = {}
    for r in rng.sample(range(1, 40), rng.randint(1, 25)):
        row: dict[int, Cell] = {}
        for c in rng.sample(range(12), rng.randint(1, 8)):
            kind = rng.choice(["n", "s", "inlineStr", "str", "b", "e", "f", "rich"])
            if kind == "n":
                value = rng.choice(["0", "7", "101", "-5", "2.5", "1234567"])
            elif kind == "b":
                value = rng.choice(["0", "1"])
            elif kind == "e":
                value = rng.choice(["#N/A", "#REF!", "#DIV/0!", ""])
            else:
                value = rng.choice(WORDS)
            row[c] = Cell(kind, value)
        grid[r] = row
    return grid


def cell_xml(rng: random.Random, p: str, ref: str | None, cell: Cell, shared: list[str]) -> str:
    """One <c> in a randomly chosen dialect."""
    attrs: list[tuple[str, str]] = []
    if ref is not None:
        attrs.append(("r", ref))
    kind = {"rich": "inlineStr", "f": "n"}.get(cell.kind, cell.kind)
    if kind != "n" or rng.random() < 0.3:
        attrs.append(("t", kind))
    if rng.random() < 0.3:
        attrs.append(("s", "0"))
    rng.shuffle(attrs)
    single = rng.random() < 0.3
    attr_text = "".join(
        f" {k}='{escape(v)}'" if single else f" {k}={quoteattr(v)}" for k, v in attrs
    )
    value = escape(cell.value)
    if cell.kind == "s":
        shared.append(cell.value)
        body = f"<{p}v>{len(shared) - 1}</{p}v>"
    elif cell.kind == "inlineStr":
        space = ' xml:space="preserve"' if rng.random() < 0.5 else ""
        body = f"<{p}is><{p}t{space}>{value}</{p}t></{p}is>"
    elif cell.kind == "rich":
        body = (
            f"<{p}is><{p}r><{p}rPr><{p}b/></{p}rPr><{p}t>{value}</{p}t></{p}r>"
            f"<{p}r><{p}t>!</{p}t></{p}r><{p}rPh sb='0' eb='1'><{p}t>ふり</{p}t></{p}rPh></{p}is>"
        )
        cell.value += "!"
    elif cell.kind == "f":
        body = f"<{p}f>1+1</{p}f>" + rng.choice(["", f"<{p}v/>", f"<{p}v></{p}v>"])
    elif cell.kind == "e" and not cell.value:
        return f"<{p}c{attr_text}/>"
    else:
        body = f"<{p}v>{value}</{p}v>"
    return f"<{p}c{attr_text}>{body}</{p}c>"


def build(rng: random.Random, dialect: str) -> tuple[bytes, bytes, list[str]]:
    """(xlsx bytes, sheet XML, shared strings) of one random workbook in a dialect."""
    grid = random_grid(rng)
    p = "x:" if dialect == "prefixed" else ""
    shared: list[str] = []
    rows = []
    hidden = set(rng.sample(sorted(grid), min(2, len(grid))))
    for r in sorted(grid):
        with_refs = dialect != "no-refs" or rng.random() < 0.5
        cells = sorted(grid[r].items())
        if not with_refs:
            cells = [(i, cell) for i, (_, cell) in enumerate(cells)]
            grid[r] = dict(cells)
        body = "".join(
            cell_xml(rng, p, f"{column_letters(c)}{r}" if with_refs else None, cell, shared)
            for c, cell in cells
        )
        hide = ' hidden="1"' if r in hidden else ""
        rows.append(f'<{p}row r="{r}"{hide} spans="1:12">{body}</{p}row>')
    last = max(grid)
    merges = (
        f'<{p}mergeCells count="1"><{p}mergeCell ref="A{last + 1}:C{last + 2}"/></{p}mergeCells>'
    )
    ns = f'xmlns:x="{MAIN}"' if p else f'xmlns="{MAIN}"'
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}worksheet {ns}>'
        f'<{p}dimension ref="A1:L{last}"/><{p}sheetData>{"".join(rows)}</{p}sheetData>'
        f"{merges}</{p}worksheet>"
    ).encode()
    sst = (
        f'<sst xmlns="{MAIN}">'
        + "".join(
            f"<si><t>{escape(s)}</t></si>"
            if i % 2
            else f"<si><r><t>{escape(s)}</t></r><rPh><t>x</t></rPh></si>"
            for i, s in enumerate(shared)
        )
        + "</sst>"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/officeDocument'
            '/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", sst)
    return buffer.getvalue(), sheet, [ref_text(si) for si in ElementTree.fromstring(sst)]


def fast_rows(data: bytes) -> list[SheetRow]:
    package = Package(zipfile.ZipFile(io.BytesIO(data)))
    part = package.sheets[0].part
    assert part is not None
    return list(read_rows(package.chunks(part), package.shared_strings(), [], False))


def as_reference(rows: list[SheetRow]) -> list[RefRow]:
    return [
        RefRow(r.number, r.cells, r.hidden, r.errors or [], r.uncalculated or [])
        for r in rows
        if r.cells
    ]


@pytest.mark.parametrize("dialect", ["plain", "prefixed", "no-refs"])
@pytest.mark.parametrize("seed", range(12))
def test_rows_agree_with_the_reference(dialect: str, seed: int) -> None:
    """The streamed rows (values, hidden rows, errors, formulas without values) match etree's."""
    rng = random.Random(f"{dialect}-{seed}")
    data, sheet, shared = build(rng, dialect)
    shared_stripped = [s.strip() for s in shared]
    assert as_reference(fast_rows(data)) == reference_rows(sheet, shared_stripped)


@pytest.mark.parametrize("dialect", ["plain", "prefixed", "no-refs"])
@pytest.mark.parametrize("seed", range(6))
def test_layout_agrees_with_the_reference(dialect: str, seed: int) -> None:
    """The first pass finds the dimension and merged ranges etree finds, and a complete sheet."""
    data, sheet, _ = build(random.Random(f"layout-{dialect}-{seed}"), dialect)
    package = Package(zipfile.ZipFile(io.BytesIO(data)))
    layout = scan_layout(package.chunks("xl/worksheets/sheet1.xml"))
    assert (layout.dimension, layout.merged) == reference_layout(sheet)
    assert layout.complete
    assert layout.far_cell is None


def test_openpyxl_workbooks_agree_with_the_reference() -> None:
    """openpyxl's own output (inline strings, numbers, booleans, formulas) matches too."""
    rng = random.Random(7)
    for _ in range(10):
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        for _ in range(rng.randint(1, 30)):
            ws.append([rng.choice([*WORDS, 5, 2.5, True, "=A1", None]) for _ in range(6)])
        buffer = io.BytesIO()
        wb.save(buffer)
        data = buffer.getvalue()
        sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
        assert as_reference(fast_rows(data)) == reference_rows(sheet, [])


def test_a_large_sheet_is_read_across_chunks() -> None:
    """A sheet far larger than one read chunk gives the same rows as the reference."""
    rng = random.Random(3)
    rows = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{column_letters(c)}{r}" t="inlineStr"><is><t>v{r}-{c}</t></is></c>'
            for c in range(10)
        )
        + f'<c r="K{r}"><v>{rng.randint(0, 999)}</v></c></row>'
        for r in range(1, 30_001)
    )
    sheet = f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'.encode()
    assert len(sheet) > 3 * CHUNK
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}"/>')
        z.writestr("xl/_rels/workbook.xml.rels", "<Relationships/>")
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    package = Package(zipfile.ZipFile(io.BytesIO(buffer.getvalue())))
    streamed = list(read_rows(package.chunks("xl/worksheets/sheet1.xml"), [], [], False))
    assert as_reference(streamed) == reference_rows(sheet, [])


# --------------------------------------------------------------------------- the quickest pass


def plain_cell_xml(rng: random.Random, ref: str, cell: Cell, shared: list[str]) -> str:
    """One <c> as Excel and openpyxl write plain cells: r=, then s= and t=, a value or inline
    text; styled or not, a type for numbers or not, self-closing when empty."""
    style = ' s="0"' if rng.random() < 0.3 else ""
    kind = "" if cell.kind == "n" and rng.random() < 0.5 else f' t="{cell.kind}"'
    if cell.kind == "s":
        shared.append(cell.value)
        return f'<c r="{ref}"{style}{kind}><v>{len(shared) - 1}</v></c>'
    if cell.kind == "inlineStr":
        space = ' xml:space="preserve"' if rng.random() < 0.5 else ""
        return f'<c r="{ref}"{style}{kind}><is><t{space}>{escape(cell.value)}</t></is></c>'
    if cell.kind == "e" and not cell.value:
        return f'<c r="{ref}"{style}{kind}/>'
    return f'<c r="{ref}"{style}{kind}><v>{escape(cell.value)}</v></c>'


@pytest.mark.parametrize("seed", range(12))
def test_plain_cells_take_the_quickest_pass_and_agree_with_the_reference(seed: int) -> None:
    """Sheets of plain cells (numbers, shared and inline text, booleans, errors, formula text) are
    parsed by the quickest pattern alone, with the rows etree finds."""
    rng = random.Random(f"plain-{seed}")
    grid = random_grid(rng)
    shared: list[str] = []
    rows = []
    for r in sorted(grid):
        for c, cell in grid[r].items():
            if cell.kind in {"f", "rich"}:
                grid[r][c] = Cell("inlineStr", cell.value)
        body = "".join(
            plain_cell_xml(rng, f"{column_letters(c)}{r}", cell, shared)
            for c, cell in sorted(grid[r].items())
        )
        rows.append(f'<row r="{r}">{body}</row>')
    sheet = f'<worksheet xmlns="{MAIN}"><sheetData>{"".join(rows)}</sheetData></worksheet>'
    stripped = [s.strip() for s in shared]
    xml = sheet.encode()
    for size in (len(xml), 300):  # small pieces: some runs of rows hold no escaped text
        work = Work()
        chunks = iter([xml[i : i + size] for i in range(0, len(xml), size)])
        streamed = list(read_rows(chunks, stripped, [], False, work))
        assert as_reference(streamed) == reference_rows(xml, stripped)
        assert work.quick == work.scanned > 0


@pytest.mark.parametrize(
    ("ref", "far"),
    [
        ("ALL1", False),
        ("ALM1", True),
        ("$ALM$1", True),
        ("AAA1", False),
        ("ZZ1000000", False),
        ("ZZ1000001", True),
        ("A$1000001", True),
        ("$B$9999999", True),
        ("XFD1048576", True),
        ("Z99", False),
    ],
)
def test_the_first_pass_finds_a_far_cell_anywhere_in_a_chunk(ref: str, far: bool) -> None:
    """A far reference among thousands of ordinary ones, in any chunk, is found (and only a far
    one): the cheap test that skips chunks never hides one."""
    cells = "".join(f'<c r="{column_letters(c % 12)}{c}"><v>{c}</v></c>' for c in range(1, 5000))
    xml = (
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">{cells}<c r="{ref}"><v>1</v></c>'
        f"{cells}</row></sheetData></worksheet>"
    ).encode()
    for size in (len(xml), 4096, 333):
        chunks = [xml[i : i + size] for i in range(0, len(xml), size)]
        layout = scan_layout(iter(chunks))
        assert layout.far_cell == (ref.replace("$", "") if far else None)
        assert layout.complete
