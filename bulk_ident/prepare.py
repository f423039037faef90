"""Read a roster and validate every row as it streams by: what ``check`` reports is exactly what
``import`` sends. Accounts named by username (etc.) are settled through a resolver given in
(the account list as cached or fetched) before duplicates are looked for. Pure apart from reading
the file: no network.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bulk_ident.columns import (
    HeaderMap,
    header_key,
    looks_like_header,
    map_headers,
    parse_assignments,
    parse_defaults,
    property_for,
)
from bulk_ident.errors import InputError
from bulk_ident.identifier import (
    ACCOUNT,
    ACCOUNT_COLUMNS,
    ACCOUNT_KEY_WORDS,
    ACCOUNT_KEYS,
    AccountRef,
    Normalised,
    Normaliser,
    Problem,
    canonical_uuid,
    parse_value,
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
    maps: Sequence[str] = ()  # "COLUMN=property" or "property=TEMPLATE"
    defaults: Sequence[str] = ()  # "property=value"
    account: str | None = None  # --account: the account (UUID or username) of rows naming none


# -- accounts: settling what a row names its account by ------------------------------------------

# The account directory's word for "nothing known about this value yet" (cad/accounts.py).
NOT_LOOKED_UP = "not looked up"
# Kinds that the community's account list holds; the others need one look-up each.
LISTED_KINDS = frozenset({"username", "communityUserId"})


class Found(Protocol):
    """What a resolver says about one value: its account UUID, or the problem and why."""

    @property
    def uuid(self) -> str | None: ...

    @property
    def problem(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...


class Resolver(Protocol):
    """Resolves a username, community user id, Discord or Roblox id (``kind`` as the account
    directory names it) to one validated account, without network access."""

    def resolve(self, kind: str, value: str) -> Found: ...


def settle(norm: Normalised, resolver: Resolver | None) -> Normalised:
    """A row with its account resolved: the UUID its references agree on, or the problem (no
    such account, only an inactive one, several, or references naming different accounts), or
    ``pending`` when the resolver knows nothing of a value yet (or there is no resolver)."""
    if not norm.refs:
        return norm
    found: list[tuple[AccountRef, str]] = []
    problems: list[Problem] = []
    pending: AccountRef | None = None
    for ref in norm.refs:
        if ref.kind == ACCOUNT:
            found.append((ref, ref.value))
            continue
        answer = None if resolver is None else resolver.resolve(ACCOUNT_KEYS[ref.kind], ref.value)
        if answer is not None and answer.uuid is not None:
            found.append((ref, answer.uuid))
        elif answer is None or answer.problem == NOT_LOOKED_UP:
            pending = pending or ref
        else:
            problems.append(ref.problem(answer.reason or f"{ref.shown} names no usable account"))
    uuid = found[0][1] if found else None
    if found and not problems:
        first = found[0][0]
        other = next(((ref, u) for ref, u in found[1:] if u != uuid), None)
        if other is not None:
            said = "says" if first.kind == ACCOUNT else f"({first.shown}) is"
            problems.append(
                other[0].problem(
                    f"{other[0].shown} is account {other[1]}, but {_place(first)} {said} "
                    f"{uuid}: they must name the same account"
                )
            )
    if problems:
        both = (*problems, *norm.problems)
        return Normalised(norm.row, None, norm.unit_num, None, both, norm.refs)
    if pending is not None:
        return Normalised(
            norm.row, None, norm.unit_num, norm.payload, norm.problems, norm.refs, pending
        )
    return Normalised(norm.row, uuid, norm.unit_num, norm.payload, norm.problems, norm.refs)


def _place(ref: AccountRef) -> str:
    """Where a reference came from, as a message names it."""
    if ref.sources:
        return "columns " + ", ".join(f"'{c}'" for c in ref.sources)
    return ref.column if ref.column.startswith("--") else f"column '{ref.column}'"


def not_checked(ref: AccountRef) -> str:
    """Why a row naming its account by ``ref`` is not checked."""
    if ref.kind in LISTED_KINDS:
        return f"{ref.shown}: not checked; run 'bulk-ident accounts' first"
    return f"{ref.shown}: not checked; import looks it up in the CAD"


@dataclass(slots=True)  # not frozen: see Normalised
class Checked:
    """One roster row with its normalised payload, problems, and duplicate status."""

    row: Row
    norm: Normalised
    duplicate_of: int | None = None
    key: Key | None = None  # (account, unit number case-folded), worked out once
    unsettled: Normalised | None = None  # before its account was resolved (to resolve again)

    @property
    def valid(self) -> bool:
        """True when the row would be sent."""
        norm = self.norm
        return norm.payload is not None and self.duplicate_of is None and norm.pending is None

    @property
    def verdict(self) -> Result:
        """``valid``, ``invalid``, ``not checked`` (its account) or ``duplicate``."""
        if self.norm.payload is None:
            return Result.INVALID
        if self.norm.pending is not None:
            return Result.NOT_CHECKED
        return Result.DUPLICATE if self.duplicate_of is not None else Result.VALID

    @property
    def problems(self) -> list[str]:
        """Every problem of the row, as one-line texts naming the column."""
        out = [str(p) for p in self.norm.problems]
        if self.norm.pending is not None:
            out.append(not_checked(self.norm.pending))
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
    _streamed: bool = field(default=False, repr=False)
    resolver: Resolver | None = None  # settles accounts named by username (etc.)
    unchecked: Counter[str] = field(default_factory=Counter)  # property -> rows not checked

    @property
    def where(self) -> str:
        """The file (and sheet) as the user names it."""
        return describe(self.roster)

    @property
    def names_accounts(self) -> bool:
        """True when rows may name accounts other than by UUID (so a resolver is wanted)."""
        default = self.normaliser.default_account
        return any(p in self.headers.index for p in ACCOUNT_KEYS) or (
            default is not None and default.kind != ACCOUNT
        )

    def stream(self) -> Iterator[Checked]:
        """Validate each row as it is read. Warnings and the tally are complete at the end.
        The roster is read once: a second stream (or ``rows`` after a stream) is an error."""
        if self._streamed:
            raise RuntimeError("the roster's rows were already read: keep them with .rows")
        self._streamed = True
        normalise = self.normaliser
        resolver = self.resolver
        tally = self.tally
        # Duplicates.first_of, inline: this runs for every row of a large roster.
        dupes = Duplicates()
        firsts, accounts = dupes._first, dupes._accounts
        valid = Result.VALID
        for row in self.roster.rows:
            number = row.number
            norm = normalise(number, row.values)
            if row.notes:
                norm = self._with_notes(norm, row)
            unsettled = None
            if norm.refs:
                unsettled, norm = norm, settle(norm, resolver)
            account, unit = norm.account, norm.unit_num
            if account is None or unit is None:
                first = key = None
            else:
                key = (accounts.setdefault(account, account), unit.casefold())
                first = firsts.get(key)
                if first is None:
                    firsts[key] = norm.row
            checked = Checked(row, norm, first, key, unsettled)
            if first is None and norm.payload is not None and norm.pending is None:
                tally[valid] += 1
            else:
                self._count_problem(checked)
            yield checked
        self.warnings.extend(self.roster.warnings)

    def check_row(self, row: Row) -> Checked:
        """One row checked exactly as the stream checks it (cell notes, the normaliser, the
        account settled), but for duplicates, which need the other rows (`Duplicates`): for a
        page that edits a cell and checks its row again."""
        norm = self.normaliser(row.number, row.values)
        if row.notes:
            norm = self._with_notes(norm, row)
        unsettled = None
        if norm.refs:
            unsettled, norm = norm, settle(norm, self.resolver)
        return Checked(row, norm, None, None, unsettled)

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

    def _count_problem(self, checked: Checked) -> None:
        verdict = checked.verdict
        self.tally[verdict] += 1
        if verdict is Result.NOT_CHECKED:
            assert checked.norm.pending is not None
            self.unchecked[checked.norm.pending.kind] += 1
        else:
            self._note_problems(checked)

    def resolve_accounts(self, resolver: Resolver) -> None:
        """Settle every row's account again with ``resolver`` (the import, once it has fetched
        what the rows need), then find duplicates and count verdicts again."""
        self.resolver = resolver
        rows = self.rows
        self.tally.clear()
        self.unchecked.clear()
        self.problems_seen.clear()
        self.problems_total = 0
        dupes = Duplicates()
        for c in rows:
            if c.unsettled is not None:
                c.norm = settle(c.unsettled, resolver)
            c.duplicate_of, c.key = dupes.first_of(c.norm)
            if c.valid:
                self.tally[Result.VALID] += 1
            else:
                self._count_problem(c)

    def account_needs(self) -> list[tuple[str, str]]:
        """Every (kind, value) the rows name accounts by, other than UUIDs, once each (case and
        surrounding spaces ignored); ``kind`` as the account directory names it."""
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        for c in self.rows:
            if c.unsettled is None:
                continue
            for ref in c.unsettled.refs:
                if ref.kind != ACCOUNT:
                    kind, value = ACCOUNT_KEYS[ref.kind], ref.value.strip()
                    seen.setdefault((kind, value.casefold()), (kind, value))
        return list(seen.values())

    def unchecked_notes(self, *, advice: str = "") -> list[str]:
        """One line per kind of account reference left unchecked, e.g. ``27 rows name accounts
        by username: run 'bulk-ident accounts' first to check them``."""
        notes = []
        for prop in ACCOUNT_KEYS:
            n = self.unchecked.get(prop, 0)
            if not n:
                continue
            rows = f"{n} row{'' if n == 1 else 's'} name{'s' if n == 1 else ''} accounts by "
            them = "it" if n == 1 else "them"
            if prop in LISTED_KINDS:
                notes.append(
                    f"{rows}{ACCOUNT_KEY_WORDS[prop]}: run 'bulk-ident accounts' first to check "
                    f"{them}{advice}"
                )
            else:
                notes.append(
                    f"{rows}{ACCOUNT_KEY_WORDS[prop]}: not checked; import looks each up in the "
                    "CAD (one request each)"
                )
        return notes

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
    keys = {ACCOUNT, "unitNum", *ACCOUNT_COLUMNS}
    forced: dict[str, str | None] = {}
    for left, right in overrides:
        if "{" in right:  # property=TEMPLATE: the columns it names feed that property
            prop = property_for(left)
            for name in re.findall(r"(?<!\{)\{([^{}]+)\}", right):
                forced[header_key(name)] = prop
        else:
            forced[header_key(left)] = property_for(right)
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
    account_option = ""
    if options.account is not None:
        account_option = "--account"
        default_values.update(_account_option(options.account, default_values))
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
    account_given = any(p in default_values for p in ACCOUNT_COLUMNS)
    headers = map_headers(read.columns, overrides, where=where, account_given=account_given)
    warnings = []
    if headers.unmapped:
        warnings.append(
            "columns not sent (no matching property): "
            + ", ".join(f"'{c}'" for c in headers.unmapped)
            + "; name them with --map 'Column=property' if they should be"
        )
    normaliser = Normaliser(headers, default_values, account_option=account_option)
    return Prepared(source, read, headers, normaliser, warnings)


def _account_option(text: str, defaults: dict[str, Any]) -> dict[str, str]:
    """``--account UUID|username`` as a default account; InputError if it can't be one."""
    text = text.strip()
    given = [p for p in ACCOUNT_COLUMNS if p in defaults]
    if given:
        raise InputError(
            f"--account and --default {given[0]}=... both name the account of every row; give one"
        )
    if not text:
        raise InputError("--account: give an account UUID or a username")
    try:
        return {ACCOUNT: canonical_uuid(text)}
    except ValueError:
        pass
    try:
        return {"username": parse_value("username", text)}
    except ValueError as err:
        raise InputError(f"--account {text}: {err}") from None


def api_text(value: Any) -> str:
    """A payload value as it appears in JSON (``true``, ``4``, ``LSPD``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
