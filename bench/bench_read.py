"""Times read_roster on generated 10k- and 100k-row, 12-column rosters (xlsx and csv).

Prints seconds, rows per second and peak memory; never asserts on time. The generated files are
cached under bench/out/ (gitignored) so that reruns only time the read.
"""

from __future__ import annotations

import csv
import resource
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import openpyxl

# Run as a script from anywhere: make the checkout importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bulk_ident.read.roster import read_roster

OUT = Path(__file__).resolve().parent / "out"
SIZES = (10_000, 100_000)
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


def _time_read(path: Path) -> tuple[float, int, float]:
    """Returns (seconds, rows, peak traced MiB) for one read_roster call."""
    tracemalloc.start()
    t0 = time.perf_counter()
    roster = read_roster(path, is_header=is_header)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, len(roster.rows), peak / 2**20


def _time_read_untraced(path: Path) -> float:
    """tracemalloc slows Python code down; the headline time is measured without it."""
    t0 = time.perf_counter()
    read_roster(path, is_header=is_header)
    return time.perf_counter() - t0


def main() -> None:
    """Generates (once) and reads each roster, printing one line of figures per file."""
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'file':<22} {'rows':>8} {'seconds':>8} {'rows/s':>10} {'py peak MiB':>12}")
    for n in SIZES:
        for kind, make in (("xlsx", make_xlsx), ("csv", make_csv)):
            path = _cached(OUT / f"roster_{n // 1000}k.{kind}", n, make)
            best = min(_time_read_untraced(path) for _ in range(3))
            _, rows, peak = _time_read(path)
            print(f"{path.name:<22} {rows:>8} {best:>8.3f} {rows / best:>10.0f} {peak:>12.1f}")
    # ru_maxrss is in KiB on Linux; it includes calamine's native (Rust) allocations.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
