"""Shared fixtures: small rosters built in tmp_path."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
ACCOUNT_A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
ACCOUNT_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

RosterWriter = Callable[..., Path]


@pytest.fixture
def csv_roster(tmp_path: Path) -> RosterWriter:
    """Write rows (header first) as a CSV in tmp_path and return its path."""

    def write(
        rows: Sequence[Sequence[str]],
        name: str = "roster.csv",
        *,
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> Path:
        path = tmp_path / name
        with path.open("w", encoding=encoding, newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
        return path

    return write


@pytest.fixture
def xlsx_roster(tmp_path: Path) -> RosterWriter:
    """Write rows (header first) as the first sheet of an xlsx in tmp_path; cells stay text."""

    def write(rows: Sequence[Sequence[object]], name: str = "roster.xlsx") -> Path:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "Roster"
        for row in rows:
            ws.append(list(row))
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula, as a user typed it
        path = tmp_path / name
        wb.save(path)
        return path

    return write
