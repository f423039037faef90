"""Read a roster and validate every row as it streams by: what ``check`` reports is exactly what
``import`` sends. Pure apart from reading the file: no network.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_ident.errors import InputError
from bulk_ident.identifier import (
    ACCOUNT,
    HeaderMap,
    Normalised,
    Normaliser,
    Problem,
    header_key,
    looks_like_header,
    map_headers,
    parse_assignments,
    parse_defaults,
    property_for,
)
from bulk_ident.read.roster import NoteKind, Roster, Row, read_roster
from bulk_ident.read.sources import Source, local_source
from bulk_ident.words import Result

Key = tuple[str, str]


@dataclass(frozen=True)
class ReadOptions:
    """How to read and map a roster: the options ``check``, ``import`` and ``results`` share."""

    sheet: str | None = None
    encoding: str | None = None
    maps: Sequence[str] = ()  # "COLUMN=property"
    defaults: Sequence[str] = ()  # "property=value"


@dataclass(slots=True)  # not frozen: see Normalised
class Checked:
    """One roster row with its normalised payload, problems, and duplicate status."""

    row: Row
    norm: Normalised
    duplicate_of: int | None = None
    key: Key | None = None  # (account, unit number case-folded), worked out once

    @property
    def valid(self) -> bool:
        """True when the row would be sent."""
        return self.norm.payload is not None and self.duplicate_of is None

    @property
    def verdict(self) -> Result:
        """``valid``, ``invalid`` or ``duplicate``."""
        if self.norm.payload is None:
            return Result.INVALID
        return Result.DUPLICATE if self.duplicate_of is not None else Result.VALID

    @property
    def problems(self) -> list[str]:
        """Every problem of the row, as one-line texts naming the column."""
        out = [str(p) for p in self.norm.problems]
        if self.duplicate_of is not None:
            out.append(f"duplicate of row {self.duplicate_of} (same account and unit number)")
        return out


class Duplicates:
    """Finds rows repeating an earlier row's account and unit number (case ignored), keeping only
    what that needs: one entry per distinct key, the account strings shared."""

    def __init__(self) -> None:
        self._first: dict[Key, int] = {}
        self._accounts: dict[str, str] = {}

    def first_of(self, norm: Normalised) -> tuple[int | None, Key | None]:
        """The earlier row with the same key, or None (and remember this row's key); and the
        key itself."""
        if norm.account is None or norm.unit_num is None:
            return None, None
        account = self._accounts.setdefault(norm.account, norm.account)
        key = (account, norm.unit_num.casefold())
        first = self._first.get(key)
        if first is None:
            self._first[key] = norm.row
        return first, key


@dataclass
class Prepared:
    """A roster opened, mapped and ready to validate; its rows stream by once."""

    source: Source
    roster: Roster
    headers: HeaderMap
    normaliser: Normaliser
    warnings: list[str] = field(default_factory=list)
    tally: Counter[Result] = field(default_factory=Counter)
    problems_seen: list[tuple[int, str]] = field(default_factory=list)  # the first few
    problems_total: int = 0
    keep_problems: int = 10

    @property
    def where(self) -> str:
        """The file (and sheet) as the user names it."""
        return describe(self.roster)

    def stream(self) -> Iterator[Checked]:
        """Validate each row as it is read. Warnings and the tally are complete at the end."""
        dupes = Duplicates()
        normalise = self.normaliser
        tally = self.tally
        for row in self.roster.rows:
            norm = normalise(row.number, row.values)
            if row.notes:
                norm = self._with_notes(norm, row)
            first, key = dupes.first_of(norm)
            checked = Checked(row, norm, first, key)
            if norm.payload is not None and first is None:
                tally[Result.VALID] += 1
            else:
                tally[checked.verdict] += 1
                self._note_problems(checked)
            yield checked
        self.warnings.extend(self.roster.warnings)

    def _with_notes(self, norm: Normalised, row: Row) -> Normalised:
        """Cells that can't be used as shown (an error, a formula never calculated, a merge across
        columns) make the row invalid when the columns are sent."""
        columns = self._mapped
        problems = []
        for note in row.notes:
            hit = [pos for pos in range(note.first, note.last + 1) if pos in columns]
            if (len(hit) >= 2) if note.kind is NoteKind.MERGED else bool(hit):
                problems.append(Problem(columns[hit[0]], note.message))
        if not problems:
            return norm
        return Normalised(norm.row, norm.account, norm.unit_num, None, (*norm.problems, *problems))

    @functools.cached_property
    def _mapped(self) -> dict[int, str]:
        """Position -> header of every column that feeds a property."""
        return {pos: self.headers.columns[pos] for pos in self.headers.index.values()}

    def _note_problems(self, checked: Checked) -> None:
        for problem in checked.problems:
            self.problems_total += 1
            if len(self.problems_seen) < self.keep_problems:
                self.problems_seen.append((checked.row.number, problem))

    @functools.cached_property
    def rows(self) -> list[Checked]:
        """Every row, read and validated (for the import, which plans over all of them)."""
        return list(self.stream())

    @property
    def valid(self) -> list[Checked]:
        """The rows that would be sent."""
        return [c for c in self.rows if c.valid]

    @property
    def invalid_count(self) -> int:
        """Rows that would not be sent (invalid or duplicate), once the rows have been read."""
        return self.tally[Result.INVALID] + self.tally[Result.DUPLICATE]


def describe(roster: Roster) -> str:
    """``roster.xlsx, sheet 'Roster'`` or ``roster.csv``."""
    name = roster.path.name if roster.path is not None else roster.source.name
    return f"{name}, sheet '{roster.sheet}'" if roster.sheet is not None else name


def key_columns(cells: Sequence[str], overrides: Sequence[tuple[str, str]]) -> set[int]:
    """Positions of the header cells that name a member or a unit (the account and unit number
    columns): a row with none of them filled, after the last row that has one, is a footer."""
    forced = {header_key(col): property_for(prop) for col, prop in overrides}
    keys = {ACCOUNT, "unitNum"}
    found = set()
    for pos, cell in enumerate(cells):
        folded = header_key(cell)
        prop = forced[folded] if folded in forced else property_for(cell)
        if prop in keys:
            found.add(pos)
    return found


def open_source(roster: Path | Source) -> Source:
    """A roster given as a path or as bytes already fetched."""
    return roster if isinstance(roster, Source) else local_source(roster)


def _parse_options(options: ReadOptions) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(--map pairs, --default values); InputError for a malformed one."""
    overrides = parse_assignments(options.maps, "--map")
    return overrides, parse_defaults(parse_assignments(options.defaults, "--default"))


def check_read_options(options: ReadOptions) -> None:
    """InputError for a malformed --map or --default: found before a roster is read or fetched."""
    _parse_options(options)


def prepare(roster: Path | Source, options: ReadOptions = ReadOptions()) -> Prepared:
    """Open, map and get ready to validate a roster; InputError if the file or options can't be
    used. Rows are read as ``stream()`` (or ``rows``) is consumed."""
    overrides, default_values = _parse_options(options)
    source = open_source(roster)
    if options.sheet is not None and source.suffix not in (".xlsx", ".xlsm"):
        raise InputError(
            f"{Path(source.name).name}: --sheet is for Excel workbooks (.xlsx); a "
            f"{source.suffix or 'text'} file has no sheets, so leave it out"
        )
    read = read_roster(
        source,
        is_header=lambda cells: looks_like_header(cells, overrides),
        sheet=options.sheet,
        encoding=options.encoding,
        key_columns=lambda cells: key_columns(cells, overrides),
    )
    where = describe(read)
    headers = map_headers(read.columns, overrides, where=where)
    warnings = []
    if headers.unmapped:
        warnings.append(
            "columns not sent (no matching property): "
            + ", ".join(f"'{c}'" for c in headers.unmapped)
            + "; name them with --map 'Column=property' if they should be"
        )
    return Prepared(source, read, headers, Normaliser(headers, default_values), warnings)


def api_text(value: Any) -> str:
    """A payload value as it appears in JSON (``true``, ``4``, ``LSPD``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
