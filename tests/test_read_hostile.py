"""Tests for hostile and broken rosters: far cells, zip bombs, floods of error cells, stray bytes,
giant fields and cells; and a seeded fuzz run that allows only InputError or success."""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import openpyxl
import pytest

from bulk_ident.errors import InputError
from bulk_ident.read.roster import Roster, read_roster
from bulk_ident.read.xlsx_rows import Work, read_rows
from bulk_ident.read.xlsx_scan import Package, scan_layout

SHEET = "xl/worksheets/sheet1.xml"


def is_header(cells: Sequence[str]) -> bool:
    """The header test: a 'Unit Number' column."""
    return "Unit Number" in cells


def read_all(path: Path) -> Roster:
    """Opens a roster and reads its rows to the end (late errors surface here)."""
    roster = read_roster(path, is_header=is_header, key_columns=lambda h: [0])
    roster.rows = iter(list(roster.rows))
    return roster


def small_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "Name"])
    ws.append(["1", "Ann"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """The package with each part passed through change(name, bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change(info.filename, src.read(info.filename)), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def with_sheet(rows_xml: bytes, dimension: bytes = b"A1:B2") -> bytes:
    """A small workbook whose sheet holds the given <row> elements after its own two rows."""

    def change(name: str, body: bytes) -> bytes:
        if name != SHEET:
            return body
        body = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + dimension + b'"', body)
        return body.replace(b"</sheetData>", rows_xml + b"</sheetData>")

    return rezip(small_xlsx(), change)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("ref", [b"XFD40000", b"XFD1048576", b"ALM3", b"A1000001"])
def test_a_far_cell_is_refused_before_any_row(tmp_path: Path, ref: bytes) -> None:
    """One cell far outside the table (while the dimension says A1:B2) is refused at open."""
    row = re.sub(rb"[A-Z]+", b"", ref)
    data = with_sheet(b'<row r="' + row + b'"><c r="' + ref + b'"><v>1</v></c></row>')
    assert len(data) < 10_000
    with pytest.raises(InputError) as caught:
        read_roster(write(tmp_path, "far.xlsx", data), is_header=is_header)
    assert str(caught.value) == (
        f"{tmp_path / 'far.xlsx'}, sheet 'Sheet': cell {ref.decode()} is far outside the table: "
        "delete the empty rows and columns in Excel and save it again."
    )


def test_a_far_declared_dimension_is_refused(tmp_path: Path) -> None:
    """A sheet whose declared used area ends far outside the table is refused at open."""
    path = write(tmp_path, "dim.xlsx", with_sheet(b"", dimension=b"A1:XFD40000"))
    with pytest.raises(InputError, match=r"cell XFD40000 is far outside the table"):
        read_roster(path, is_header=is_header)


def test_a_far_cell_without_references_is_refused_while_reading(tmp_path: Path) -> None:
    """Cells without r= (positions implied) past the column limit are refused as they come."""
    cells = b"<c><v>1</v></c>" * 1001
    path = write(tmp_path, "wide.xlsx", with_sheet(b"<row>" + cells + b"</row>"))
    with pytest.raises(InputError, match=r"has cell ALM3, far outside the table"):
        read_all(path)


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    """A sheet that expands more than 100 times (20 MB from a few KB) is refused before parsing."""
    padding = b" " * (20 * 2**20)

    def change(name: str, body: bytes) -> bytes:
        return body.replace(b"</sheetData>", b"</sheetData>" + padding) if name == SHEET else body

    data = rezip(small_xlsx(), change)
    assert len(data) < 200_000
    with pytest.raises(InputError, match=r"expands [0-9,]+ times when unpacked"):
        read_roster(write(tmp_path, "bomb.xlsx", data), is_header=is_header)


def test_80000_error_cells_take_linear_work(tmp_path: Path) -> None:
    """80,000 <c t="e"/> cells are read in one pass over the XML: the work is its size, not more."""
    xml = b"".join(b'<row r="%d">' % (r + 3) + b'<c t="e"/>' * 1000 + b"</row>" for r in range(80))
    data = with_sheet(xml)
    path = write(tmp_path, "errors.xlsx", data)
    roster = read_all(path)
    assert [r.number for r in roster.rows] == [2]  # error cells with no text show nothing

    package = Package(zipfile.ZipFile(io.BytesIO(data)))
    size = package.archive.getinfo(SHEET).file_size
    layout = scan_layout(package.chunks(SHEET))
    work = Work()
    rows = list(read_rows(package.chunks(SHEET), [], [], False, work))
    assert len(rows) == 82
    assert sum(len(r.errors or ()) for r in rows) == 80_000
    assert layout.scanned <= size + 512
    assert work.scanned <= size


def test_utf8_with_a_stray_byte_is_refused_with_line_and_byte(tmp_path: Path) -> None:
    """Valid UTF-8 but for one byte: refused naming the line and byte, never read as cp1252."""
    lines = ["Unit Number,Name", *(f"{i},José {i}" for i in range(12)), "13,Ren"]
    data = "\n".join(lines).encode() + b"\xf6e\n"
    path = write(tmp_path, "stray.csv", data)
    with pytest.raises(InputError) as caught:
        read_roster(path, is_header=is_header)
    assert str(caught.value) == (
        f"{path}: line 14 has byte 0xF6, which isn't UTF-8: save as 'CSV UTF-8', or pass "
        "--encoding cp1252."
    )


def test_cp1252_is_chosen_only_without_utf8_sequences(tmp_path: Path) -> None:
    """Windows-1252 bytes with no multi-byte UTF-8 sequence are read as Windows-1252."""
    path = write(tmp_path, "w.csv", "Unit Number,Name\n1,Zoë Müller\n".encode("cp1252"))
    roster = read_all(path)
    assert roster.encoding == "cp1252"
    assert [r.values for r in roster.rows] == [("1", "Zoë Müller")]


def test_a_field_beyond_a_cell_is_refused_clearly(tmp_path: Path) -> None:
    """A 131,072-character field is refused as longer than a cell can hold, not as a quote."""
    data = b"Unit Number,Name\n1,A\n2," + b"x" * 131_072 + b"\n3,C\n"
    path = write(tmp_path, "long.csv", data)
    with pytest.raises(InputError) as caught:
        read_all(path)
    message = str(caught.value)
    assert message == (
        f"{path}, line 3: a value is longer than 32,767 characters, more than a spreadsheet "
        "cell holds: check for a quote that is never closed."
    )


def test_a_field_at_the_cell_limit_is_read(tmp_path: Path) -> None:
    """A field of exactly 32,767 characters (Excel's limit) is read whole."""
    data = b"Unit Number,Name\n1," + b"y" * 32_767 + b"\n"
    roster = read_all(write(tmp_path, "edge.csv", data))
    assert len(next(roster.rows).values[1]) == 32_767


def test_a_megabyte_cell_is_never_echoed_whole(tmp_path: Path) -> None:
    """A 1 MB cell (in a footer, an error cell, a merged range) is quoted in ~40 characters."""
    big = "B" * 2**20
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "Name", "Rank"])
    ws.append(["1", big])
    ws.merge_cells("B2:C2")
    ws.append(["2", "x"])
    ws.append([big])
    wb.save(tmp_path / "big.xlsx")

    def error_text(name: str, body: bytes) -> bytes:
        if name != SHEET:
            return body
        return body.replace(
            b'<c r="B3" t="inlineStr"><is><t>x</t></is></c>',
            b'<c r="B3" t="e"><v>' + big.encode() + b"</v></c>",
        )

    data = rezip((tmp_path / "big.xlsx").read_bytes(), error_text)
    roster = read_all(write(tmp_path, "big2.xlsx", data))
    rows = list(roster.rows)
    messages = [n.message for r in rows for n in r.notes] + roster.warnings
    assert len(messages) == 3
    assert all(len(m) < 200 for m in messages)
    assert max(len(v) for r in rows for v in r.values) == 2**20


def test_utf16_with_bom_still_reads(tmp_path: Path) -> None:
    """Excel's 'Unicode Text' (UTF-16 with BOM, tab-separated) keeps working."""
    path = write(tmp_path, "u.txt", "Unit Number\tName\n1\tZoë\n".encode("utf-16"))
    assert [r.values for r in read_all(path).rows] == [("1", "Zoë")]


# --------------------------------------------------------------------------- fuzz

FUZZ_INPUTS = 300


def fuzz_inputs(seed: int) -> list[tuple[str, bytes]]:
    """Random bytes, random zips and mutated real workbooks and CSVs, from one seed."""
    rng = random.Random(seed)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Unit Number", "Name", "When"])
    for i in range(20):
        ws.append([str(i), f"N{i}", 39566 + i])
        ws.cell(i + 2, 3).number_format = "d-mmm-yy"
    ws.merge_cells("A5:B5")
    buffer = io.BytesIO()
    wb.save(buffer)
    real = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(real)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    csv_text = b"Unit Number,Name\n" + b"".join(b'%d,"N %d"\n' % (i, i) for i in range(30))
    out: list[tuple[str, bytes]] = []
    for i in range(FUZZ_INPUTS):
        kind = i % 5
        if kind == 0:
            suffix = rng.choice([".csv", ".xlsx", ".txt"])
            out.append((suffix, rng.randbytes(rng.randint(0, 2000))))
        elif kind == 1:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for name in rng.sample(sorted(parts), rng.randint(0, len(parts))):
                    z.writestr(name, rng.randbytes(rng.randint(0, 300)))
            out.append((".xlsx", buf.getvalue()))
        elif kind == 2:
            mutated = bytearray(real)
            for _ in range(rng.randint(1, 20)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            out.append((".xlsx", bytes(mutated)))
        elif kind == 3:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for name, original in parts.items():
                    body = bytearray(original)
                    if name.endswith(".xml") and rng.random() < 0.5:
                        for _ in range(rng.randint(1, 10)):
                            at = rng.randrange(len(body))
                            if rng.random() < 0.5:
                                body[at] = rng.choice(b'<>"/=&;x0 ')
                            else:
                                del body[at : at + rng.randint(1, 40)]
                    z.writestr(name, bytes(body))
            out.append((".xlsx", buf.getvalue()))
        else:
            mutated = bytearray(csv_text)
            for _ in range(rng.randint(1, 10)):
                mutated[rng.randrange(len(mutated))] = rng.choice(b'",\n\r\x00\xff\xc3;|\t')
            out.append((".csv", bytes(mutated)))
    return out


def test_fuzz_only_input_errors_or_rows(tmp_path: Path) -> None:
    """300 seeded random or mutated files give rows or one-line InputErrors, nothing else."""
    outcomes = {"read": 0, "refused": 0}
    messages: list[str] = []
    for n, (suffix, data) in enumerate(fuzz_inputs(seed=20240131)):
        path = write(tmp_path, f"f{n}{suffix}", data)
        try:
            roster = read_roster(path, is_header=any, key_columns=lambda h: [0])
            rows = list(roster.rows)
        except InputError as err:
            messages.append(str(err))
            outcomes["refused"] += 1
            continue
        assert all(len(r.values) == len(roster.columns) for r in rows)
        outcomes["read"] += 1
    assert all("\n" not in m for m in messages)
    assert sum(outcomes.values()) == FUZZ_INPUTS
    assert outcomes["read"] > 0
    assert outcomes["refused"] > 0


def test_results_cells_are_cut_at_excels_limit(tmp_path: Path) -> None:
    """A 1 MB value written to an xlsx results sheet is cut to 32,767 characters with a marker."""
    from bulk_ident.report.results import CUT_MARKER, XLSX_CELL_LIMIT, write_table

    out = tmp_path / "results.xlsx"
    write_table(out, ["Name"], [["C" * 2**20]])
    sheet = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    cell = re.findall(r"<t[^>]*>([^<]*)</t>", sheet)[-1]
    assert len(cell) == XLSX_CELL_LIMIT
    assert cell.endswith(CUT_MARKER)
