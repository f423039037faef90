# ruff: noqa: E501  (the member table reads best one member a line)
"""Regenerate samples/roster.xlsx and samples/roster.csv (run: python samples/make_samples.py).

The two files hold the same department; the deliberate mistakes are explained in README.md here.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
TITLE = "Los Santos Police Department - unit roster (updated 2026-11-01)"
HEADER = [
    "Account UUID",
    "unit #",
    "Full Name",
    "Dept",
    "RANK",
    "Division",
    "Status",
    "Page",
    "Dispatcher",
    "Notes",
]


def account(n: int) -> str:
    """A stable, made-up account UUID for member n."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://example.invalid/member/{n}"))


# fmt: off
MEMBERS: list[list[str]] = [
    [account(1), "001", "Marcus Hale", "LSPD", "Chief of Police", "Command", "Available", "Police", "", ""],
    [account(2), "002", "Dana Whitfield", "LSPD", "Assistant Chief", "Command", "available", "police", "no", ""],
    [account(3), "1-ADAM-12", "José Álvarez", "LSPD", "Sergeant", "Patrol", "On Scene", "Police", "", "FTO"],
    [account(4).upper(), "1-ADAM-13", "Zoë Müller", "LSPD", "Officer", "Patrol", "ENROUTE", "0", "", "upper-case UUID"],
    ["{" + account(5) + "}", "1-ADAM-14", "Siobhán O'Neill", "LSPD", "Officer", "Patrol", "Busy", "Police", "", "braces"],
    [account(6), "1-ADAM-15", "Tomás Ruiz", "LSPD", "Officer", "Patrol", "Unavailable", "POLICE", "", ""],
    [account(7), "1-LINCOLN-2", "Grace Okafor", "LSPD", "Corporal", "Patrol", "available", "Police", "", ""],
    [account(8), "007", "Ethan Brooks", "LSPD", "Detective", "Investigations", "Offline", "Police", "", "leading zeros"],
    [account(9), "042", "Priya Raman", "LSPD", "Detective", "Investigations", "2", "Police", "", ""],
    [account(10), "T-01", "Connor Walsh", "LSPD", "Officer", "Traffic", "On_Scene", "Police", "", ""],
    [account(11), "T-02", "Aisha Bello", "LSPD", "Officer", "Traffic", "Available", "Police", "", ""],
    [account(12), "K9-1", "Lukas Novak", "LSPD", "Officer", "K-9", "Available", "Police", "", "Rex"],
    [account(13), "AIR-1", "Hana Sato", "LSPD", "Pilot", "Air Support", "Offline", "Police", "", ""],
    [account(14), "D-01", "Renée Dubois", "Communications", "Dispatcher", "Dispatch", "Available", "Dispatch", "yes", ""],
    [account(15), "D-02", "Kwame Mensah", "Communications", "Dispatcher", "Dispatch", "Available", "DISPATCH", "Y", ""],
    [account(16), "D-03", "Olivia Chen", "Communications", "Supervisor", "Dispatch", "Busy", "3", "x", ""],
    [account(17), "E-11", "Mateo Fernández", "LSFD", "Captain", "Station 1", "Available", "Fire", "", ""],
    [account(18), "E-12", "Sofia Rossi", "LSFD", "Firefighter", "Station 1", "available", "FIRE", "", ""],
    [account(19), "M-21", "Noah Fischer", "LSFD", "Paramedic", "EMS", "Available", "EMS", "", ""],
    [account(20), "M-22", "Amara Nwosu", "LSFD", "EMT", "EMS", "Enroute", "ems", "", ""],
    [account(21), "R-5", "Björn Lindqvist", "LSFD", "Lieutenant", "Rescue", "Busy", "1", "", ""],
    [account(22), "1-ADAM-16", "Chloé Martin", "LSPD", "Officer", "Patrol", "On Patrol", "Police", "", "MISTAKE 1: unknown status"],
    ["", "1-ADAM-17", "Daniel Kim", "LSPD", "Officer", "Patrol", "Available", "Police", "", "MISTAKE 2: no account"],
    ["3fa85f64-5717-4562-b3fc", "1-ADAM-18", "Fatima Zahra", "LSPD", "Officer", "Patrol", "Available", "Cruiser", "maybe", "MISTAKE 3: three problems"],
    [account(3), "1-adam-12", "José Álvarez", "LSPD", "Sergeant", "Patrol", "Available", "Police", "", "MISTAKE 4: duplicate of row 6"],
    [account(25), "S-01", "Ivan Petrov", "BCSO", "Deputy", "Sandy Shores", "Available", "Police", "", ""],
    [account(26), "S-02", "Léa Girard", "BCSO", "Deputy", "Paleto Bay", "", "", "", "blanks take defaults"],
    [account(27), "S-03", "Samuel Adeyemi", "BCSO", "Sergeant", "Paleto Bay", "available", "Police", "n", ""],
    [account(28), "=1+1", "Formula Text", "BCSO", "Reserve", "Paleto Bay", "Offline", "Police", "", "formula-looking text is data"],
]
# fmt: on


def write_xlsx(path: Path) -> None:
    """Title row (merged), a blank row, the header on row 3, then the members."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Roster"
    ws.append([TITLE])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    ws.append(HEADER)
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for member in MEMBERS:
        ws.append(member)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed text, not a formula: the importer sends it as is
    # Two unit numbers typed as numbers and shown with leading zeros (number format 000), as
    # spreadsheets often hold them; the importer reads what is displayed: "001", "002".
    for row in (4, 5):
        cell = ws.cell(row=row, column=2)
        cell.value = int(str(cell.value))
        cell.number_format = "000"
    for col, width in zip("ABCDEFGHIJ", (40, 12, 20, 16, 18, 16, 12, 10, 11, 30), strict=True):
        ws.column_dimensions[col].width = width
    # Data as typed: the unit-number column is text so "007" keeps its zeros when edited.
    for cells in ws.iter_rows(min_row=6, min_col=2, max_col=2):
        cells[0].number_format = "@"
    wb.save(path)


def write_csv(path: Path) -> None:
    """The same rows as Excel's "CSV UTF-8" export writes them (BOM, CRLF)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([TITLE] + [""] * (len(HEADER) - 1))
        writer.writerow([""] * len(HEADER))
        writer.writerow(HEADER)
        writer.writerows(MEMBERS)


if __name__ == "__main__":
    write_xlsx(HERE / "roster.xlsx")
    write_csv(HERE / "roster.csv")
    print("wrote", HERE / "roster.xlsx", "and", HERE / "roster.csv")
