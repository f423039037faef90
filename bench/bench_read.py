"""Times read_roster on generated 10k-, 100k- and 1M-row, 12-column rosters (xlsx and csv) and a
hostile workbook of 80,000 error cells, side by side with a bare python-calamine read and a bare
csv.reader pass of the same files, each in a fresh process so that peak RSS is the run's own.

Prints seconds, the ratio to the bare parse and peak RSS; never asserts on time. The generated
files are cached under bench/out/ (gitignored) so that reruns only time the reads.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SIZES = (10_000, 100_000)
RUNS = 3
HEADER = (
    "Account UUID",
    "Unit Number",
    "Name",
    "District",
    "Department",
    "Subdivision",
    "Rank",
    "Group",
    "Status",
    "Page",
    "Is Dispatch",
    "AOP",
)
UNIT_COLUMN = 2  # 1-based column of "Unit Number", stored as a number formatted '000'
_NAMES = ("José Müller", "Zoë Adams", "Li Wei", "Ana O'Neil", "Sam Smith", "Ravi Patel")


def is_header(cells: Sequence[str]) -> bool:
    """Recognise the header the way the real caller does: by known column names."""
    return any(c.lower() in {"account uuid", "unit number", "name"} for c in cells)


def _records(
    n: int,
) -> Iterator[tuple[str, int, str, str, str, str, str, str, int, int, bool, str]]:
    """Yields n deterministic roster rows (the unit number is an int, shown zero-padded)."""
    ns = uuid.UUID("12345678-1234-5678-1234-567812345678")
    for i in range(n):
        yield (
            str(uuid.uuid5(ns, str(i // 1000))),  # with the unit number below: no duplicates
            i % 1000,
            f"{_NAMES[i % len(_NAMES)]} {i}",
            f"District {i % 7}",
            "Police" if i % 3 else "Fire",
            f"Sub {i % 11}",
            ("Officer", "Sergeant", "Lieutenant")[i % 3],
            f"Group {i % 5}",
            i % 5,
            i % 3,
            i % 10 == 0,
            "Los Santos" if i % 2 else "Blaine County",
        )


def make_xlsx(path: Path, n: int) -> None:
    """Writes a roster workbook with a title row above the header, like real exports."""
    import openpyxl  # here, not at the top: the timed reader processes import this module

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Roster")
    ws.append(["Department roster (generated)"])
    ws.append(list(HEADER))
    pad = openpyxl.cell.WriteOnlyCell(ws, value=0)
    pad.number_format = "000"
    for rec in _records(n):
        row: list[object] = list(rec)
        cell = openpyxl.cell.WriteOnlyCell(ws, value=rec[UNIT_COLUMN - 1])
        cell.number_format = pad.number_format
        row[UNIT_COLUMN - 1] = cell
        ws.append(row)
    tmp = path.with_suffix(".tmp")
    wb.save(tmp)
    tmp.replace(path)


def make_csv(path: Path, n: int) -> None:
    """Writes the same roster as UTF-8 CSV, unit numbers already zero-padded as text."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for rec in _records(n):
            row = list(rec)
            row[UNIT_COLUMN - 1] = f"{rec[UNIT_COLUMN - 1]:03d}"
            w.writerow(row)
    tmp.replace(path)


def _cached(path: Path, n: int, make: Callable[[Path, int], None]) -> Path:
    if not path.exists():
        make(path, n)
    return path


_BARE_CALAMINE = """
import sys, python_calamine
wb = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
n = sum(1 for _ in wb.get_sheet_by_index(0).iter_rows())
"""
_BARE_CSV = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    n = sum(1 for _ in csv.reader(fh))
"""
_READER = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from bench_read import is_header
from bulk_ident.read.roster import collector_paused, read_roster
with collector_paused():
    roster = read_roster(Path(sys.argv[1]), is_header=is_header, key_columns=lambda h: [0, 1])
    n = sum(1 for _ in roster.rows)
"""


def _process(code: str, path: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a fresh Python process running code on path."""
    command = [sys.executable, "-c", code, str(path), str(Path(__file__).resolve().parent)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed on {path}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def _best(code: str, path: Path, runs: int) -> tuple[float, float]:
    results = [_process(code, path) for _ in range(runs)]
    return min(s for s, _ in results), max(m for _, m in results)


def make_error_cells(path: Path, n: int = 80_000) -> None:
    """A hostile workbook: n error cells without values (<c t="e"/>), 1,000 to a row."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(HEADER))
    buffer = io.BytesIO()
    wb.save(buffer)
    rows = b"".join(
        b'<row r="%d">' % (r + 2) + b'<c t="e"/>' * 1000 + b"</row>" for r in range(n // 1000)
    )
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"</sheetData>", rows + b"</sheetData>")
            dst.writestr(info.filename, body)


def main() -> None:
    """Generates (once) and reads each roster in fresh processes, side by side with the bare
    parsers: seconds (best of RUNS), the ratio to the bare parse, and peak RSS."""
    OUT.mkdir(parents=True, exist_ok=True)
    files = [
        (_cached(OUT / f"roster_{n // 1000}k.{kind}", n, make), n)
        for n in SIZES
        for kind, make in (("xlsx", make_xlsx), ("csv", make_csv))
    ]
    files.append((_cached(OUT / "roster_1000k.csv", 1_000_000, make_csv), 1_000_000))
    files.append((_cached(OUT / "errors_80k.xlsx", 80_000, make_error_cells), 80_000))
    print(
        f"{'file':<20} {'rows':>8} {'bare s':>7} {'bare MiB':>9} {'reader s':>9} "
        f"{'reader MiB':>11} {'ratio':>6}"
    )
    for path, n in files:
        runs = 1 if n >= 1_000_000 else RUNS
        bare = _BARE_CALAMINE if path.suffix == ".xlsx" else _BARE_CSV
        bare_s, bare_mib = _best(bare, path, runs)
        read_s, read_mib = _best(_READER, path, runs)
        print(
            f"{path.name:<20} {n:>8} {bare_s:>7.2f} {bare_mib:>9.0f} {read_s:>9.2f} "
            f"{read_mib:>11.0f} {read_s / bare_s:>6.2f}"
        )


if __name__ == "__main__":
    main()
