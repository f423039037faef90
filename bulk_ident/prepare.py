"""Read a roster and validate every row: what ``check`` reports is exactly what ``import`` sends."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_ident.errors import InputError
from bulk_ident.identifier import (
    ACCOUNT,
    DEFAULTS,
    HeaderMap,
    Normalised,
    Normaliser,
    looks_like_header,
    map_headers,
    parse_assignments,
    parse_defaults,
)
from bulk_ident.read.roster import Roster, Row, read_roster

WOULD_CREATE = "would create"
INVALID = "invalid"
DUPLICATE = "duplicate"


@dataclass(slots=True)  # not frozen: see Normalised
class Checked:
    """One roster row with its normalised payload, problems, and duplicate status."""

    row: Row
    norm: Normalised
    duplicate_of: int | None = None

    @property
    def valid(self) -> bool:
        """True when the row would be sent."""
        return self.norm.payload is not None and self.duplicate_of is None

    @property
    def verdict(self) -> str:
        """``would create``, ``invalid`` or ``duplicate``."""
        if self.norm.payload is None:
            return INVALID
        return DUPLICATE if self.duplicate_of is not None else WOULD_CREATE

    @property
    def problems(self) -> list[str]:
        """Every problem of the row, as one-line texts naming the column."""
        out = [str(p) for p in self.norm.problems]
        if self.duplicate_of is not None:
            out.append(f"duplicate of row {self.duplicate_of} (same account and unit number)")
        return out


def find_duplicates(rows: Sequence[Normalised]) -> dict[int, int]:
    """Row number -> the earlier row with the same account and unit number (case ignored)."""
    first: dict[tuple[str, str], int] = {}
    dupes: dict[int, int] = {}
    for norm in rows:
        key = norm.key
        if key is None:
            continue
        if key in first:
            dupes[norm.row] = first[key]
        else:
            first[key] = norm.row
    return dupes


@dataclass
class Prepared:
    """A roster read, mapped and validated."""

    roster: Roster
    headers: HeaderMap
    rows: list[Checked]
    warnings: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The file (and sheet) as the user names it."""
        return describe(self.roster)

    @functools.cached_property
    def valid(self) -> list[Checked]:
        """Rows that would be sent."""
        return [c for c in self.rows if c.valid]

    @functools.cached_property
    def flawed(self) -> list[Checked]:
        """Rows that would not be sent (invalid or duplicate), in roster order."""
        return [c for c in self.rows if not c.valid]

    def count(self, verdict: str) -> int:
        """How many rows have this verdict."""
        if verdict == WOULD_CREATE:
            return len(self.valid)
        return sum(1 for c in self.flawed if c.verdict == verdict)


def describe(roster: Roster) -> str:
    """``roster.xlsx, sheet 'Roster'`` or ``roster.csv``."""
    name = roster.path.name if roster.path is not None else roster.source.name
    return f"{name}, sheet '{roster.sheet}'" if roster.sheet is not None else name


def prepare(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    maps: Sequence[str] = (),
    defaults: Sequence[str] = (),
) -> Prepared:
    """Read, map and validate a roster. Raises InputError when the file or options can't be used."""
    if sheet is not None and path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(
            f"{path.name}: --sheet is for Excel workbooks (.xlsx); a {path.suffix or 'text'} "
            "file has no sheets, so leave it out"
        )
    overrides = parse_assignments(maps, "--map")
    default_values = parse_defaults(parse_assignments(defaults, "--default"))
    roster = read_roster(
        path,
        is_header=lambda cells: looks_like_header(cells, overrides),
        sheet=sheet,
        encoding=encoding,
    )
    read = list(roster.rows)  # the reader streams; its warnings are complete after this
    where = describe(roster)
    headers = map_headers(roster.columns, overrides, where=where)
    warnings = list(roster.warnings)
    if headers.unmapped:
        warnings.append(
            "columns not sent (no matching property): "
            + ", ".join(f"'{c}'" for c in headers.unmapped)
            + "; name them with --map 'Column=property' if they should be"
        )
    normaliser = Normaliser(headers, default_values)
    norms = [normaliser(r.number, r.values) for r in read]
    dupes = find_duplicates(norms)
    rows = [Checked(r, n, dupes.get(r.number)) for r, n in zip(read, norms, strict=True)]
    return Prepared(roster, headers, rows, warnings)


# -- what check writes -----------------------------------------------------------------------

NORMALISED_COLUMNS = tuple(f"API {p}" for p in (ACCOUNT, *DEFAULTS))


def api_text(value: Any) -> str:
    """A payload value as it appears in JSON (``true``, ``4``, ``LSPD``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_table(prep: Prepared) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of the ``check`` results sheet: the original row, verdict, problems, API."""
    header = [*prep.roster.columns, "Row", "Result", "Problems", *NORMALISED_COLUMNS]

    def rows() -> Iterator[list[str]]:
        blank = [""] * len(NORMALISED_COLUMNS)
        for c in prep.rows:
            norm = c.norm
            payload = norm.payload
            if payload is None:
                yield [*c.row.values, str(c.row.number), INVALID, "; ".join(c.problems), *blank]
                continue
            # The common case, inlined: this runs for every row of a large roster.
            api = [
                v
                if type(v) is str
                else ("true" if v is True else "false" if v is False else str(v))
                for v in payload.values()
            ]
            if c.duplicate_of is None:
                verdict, problems = WOULD_CREATE, ""
            else:
                verdict, problems = DUPLICATE, "; ".join(c.problems)
            yield [*c.row.values, str(c.row.number), verdict, problems, norm.account or "", *api]

    return header, rows()


def payload_lines(prep: Prepared) -> Iterator[str]:
    """The JSON Lines of ``--payloads``: one object per valid row, the body import will POST."""
    for c in prep.valid:
        yield json.dumps(
            {"row": c.row.number, "accountUuid": c.norm.account, "payload": c.norm.payload},
            ensure_ascii=False,
        )
