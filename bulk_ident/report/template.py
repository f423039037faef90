"""The blank roster template (.xlsx): canonical headers, dropdowns, and a sheet explaining each
column. The only module that imports openpyxl."""

from __future__ import annotations

import json
from pathlib import Path

from bulk_ident.columns import ALIASES
from bulk_ident.identifier import DEFAULTS, MAX_LENGTH, PAGES, STATUSES

_EXPLAIN: dict[str, str] = {
    "accountUuid": "Required. The member's Sonoran account UUID "
    "(like 3fa85f64-5717-4562-b3fc-2c963f66afa6); braces and upper case are fine.",
    "unitNum": "The unit number or callsign, kept exactly as typed (leading zeros stay).",
    "name": "The name shown on the unit.",
    "department": "Department or agency, e.g. LSPD.",
    "rank": "Rank, e.g. Sergeant.",
    "district": "District.",
    "subdivision": "Subdivision or division, e.g. Traffic.",
    "group": "Unit group.",
    "aop": "Area of patrol.",
    "status": "Starting status: " + ", ".join(STATUSES) + " (or their numbers 0-4, 100).",
    "page": "Page: " + ", ".join(PAGES) + " (or their numbers 0, 1, 2, 3, -1).",
    "isDispatch": "Whether the unit is a dispatcher: yes/no, true/false, y/n, 1/0, x; "
    "blank means no.",
}
TEMPLATE_ORDER = (
    "accountUuid",
    "unitNum",
    "name",
    "department",
    "rank",
    "district",
    "subdivision",
    "group",
    "aop",
    "status",
    "page",
    "isDispatch",
)


def write_template(path: Path, rows: int = 1000) -> None:
    """An empty roster with the canonical headers, dropdowns, and a sheet explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has one sheet
    ws.title = "Roster"
    headers = [ALIASES[p][0] for p in TEMPLATE_ORDER]
    ws.append(headers)
    for i, _ in enumerate(headers, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True)
        ws.column_dimensions[get_column_letter(i)].width = 38 if i == 1 else 16
        # Text format keeps "007" as typed in every data cell.
        for r in range(2, rows + 2):
            ws.cell(row=r, column=i).number_format = "@"
    ws.freeze_panes = "A2"
    lists = {
        "status": ",".join(n.replace("_", " ").title() for n in STATUSES),
        "page": ",".join(n.title() if len(n) > 3 else n for n in PAGES),
        "isDispatch": "Yes,No",
    }
    for prop, choices in lists.items():
        col = get_column_letter(TEMPLATE_ORDER.index(prop) + 1)
        dv = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True)
        dv.error = f"Choose one of: {choices}"
        dv.add(f"{col}2:{col}{rows + 1}")
        ws.add_data_validation(dv)
    info = wb.create_sheet("Columns")
    info.append(["Column", "API property", "Default when blank", "What to put in it", "Also read"])
    for cell in info[1]:
        cell.font = Font(bold=True)
    for prop in TEMPLATE_ORDER:
        default = "(required)" if prop == "accountUuid" else json.dumps(DEFAULTS[prop])
        limit = f" At most {MAX_LENGTH[prop]} characters." if prop in MAX_LENGTH else ""
        info.append(
            [
                ALIASES[prop][0],
                prop,
                default,
                _EXPLAIN[prop] + limit,
                ", ".join(ALIASES[prop][1:]),
            ]
        )
    for col, width in zip("ABCDE", (16, 14, 18, 80, 50), strict=True):
        info.column_dimensions[col].width = width
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
