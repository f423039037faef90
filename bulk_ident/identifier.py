"""The Sonoran unit identifier: its properties, defaults and enums, and the pure step that turns
one roster row into the JSON body the API receives (and how the row names its account), or into
that row's problems. Which column feeds which property is `columns.py`'s job.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, cast

from bulk_ident.shown import shown as quoted

if TYPE_CHECKING:
    from bulk_ident.columns import HeaderMap

ACCOUNT = "accountUuid"


class Payload(TypedDict):
    """The create body: all eleven documented properties, always sent (defaults filled in)."""

    status: int
    aop: str
    unitNum: str
    name: str
    district: str
    department: str
    subdivision: str
    rank: str
    group: str
    page: int
    isDispatch: bool


# The create body, in the order of Sonoran's documentation, with the documented defaults.
DEFAULTS: dict[str, Any] = {
    "status": 0,
    "aop": "",
    "unitNum": "NEW UNIT",
    "name": "NO NAME",
    "district": "NOT SET",
    "department": "NOT SET",
    "subdivision": "NOT SET",
    "rank": "NOT SET",
    "group": "",
    "page": -1,
    "isDispatch": False,
}
PAYLOAD_FIELDS: tuple[str, ...] = tuple(DEFAULTS)
PROPERTIES: tuple[str, ...] = (ACCOUNT, *DEFAULTS)

# Other ways a roster names an account, resolved to its UUID through the community's account
# list (``cad/accounts.py``); the value is the kind the account directory takes.
ACCOUNT_KEYS: dict[str, str] = {
    "username": "username",
    "communityUserId": "community user id",
    "discord": "discord",
    "roblox": "roblox",
}
# How messages name each kind ("27 rows name accounts by Discord ID").
ACCOUNT_KEY_WORDS: dict[str, str] = {
    "username": "username",
    "communityUserId": "community user ID",
    "discord": "Discord ID",
    "roblox": "Roblox ID",
}
ACCOUNT_COLUMNS: tuple[str, ...] = (ACCOUNT, *ACCOUNT_KEYS)
# Everything --map and --default can name.
NAMEABLE: tuple[str, ...] = (*PROPERTIES, *ACCOUNT_KEYS)
TEXT_PROPERTIES = frozenset(p for p, v in DEFAULTS.items() if isinstance(v, str))

# Sonoran documents no maximum lengths; these keep a typo (a whole paragraph pasted into a cell)
# from reaching the server, and are generous for anything a roster really holds.
MAX_LENGTH: dict[str, int] = {
    p: (64 if p == "unitNum" else 255) for p in (*TEXT_PROPERTIES, *ACCOUNT_KEYS)
}

STATUSES: dict[str, int] = {
    "UNAVAILABLE": 0,
    "BUSY": 1,
    "AVAILABLE": 2,
    "ENROUTE": 3,
    "ON_SCENE": 4,
    "OFFLINE": 100,
}
PAGES: dict[str, int] = {"POLICE": 0, "FIRE": 1, "EMS": 2, "DISPATCH": 3, "UNKNOWN": -1}
_TRUE = frozenset({"true", "yes", "y", "1", "x"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell; ``column`` is the header as written in the file (or the
    option, such as ``--account``, that gave the value)."""

    column: str
    message: str
    sources: tuple[str, ...] = ()  # a templated value: the columns it was built from

    def __str__(self) -> str:
        if self.sources:
            noun = "column" if len(self.sources) == 1 else "columns"
            names = ", ".join(f"'{c}'" for c in self.sources)
            return f"{noun} {names} ({self.column}): {self.message}"
        if self.column.startswith("--"):
            return f"{self.column}: {self.message}"
        return f"column '{self.column}': {self.message}"


# -- values ----------------------------------------------------------------------------------


def _enum_key(text: str) -> str:
    # Hyphens go too ("On-Scene"): numbers such as "-1" are matched on the original text.
    return re.sub(r"[^A-Z0-9]", "", text.upper())


_STATUS_INDEX = {_enum_key(k): v for k, v in STATUSES.items()}
_PAGE_INDEX = {_enum_key(k): v for k, v in PAGES.items()}


def _parse_enum(text: str, names: Mapping[str, int], index: Mapping[str, int]) -> int | None:
    key = _enum_key(text)
    if key in index:
        return index[key]
    if re.fullmatch(r"-?\d+", text) and int(text) in names.values():
        return int(text)
    return None


# Control characters (Unicode category Cc), and the Unicode line and paragraph separators that
# break a line just the same.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@functools.lru_cache(maxsize=4096)
def _parse_choice(prop: str, text: str) -> tuple[Any, str | None]:
    """Status, page and yes/no cells repeat a handful of spellings: parse each spelling once."""
    if prop == "status":
        value = _parse_enum(text, STATUSES, _STATUS_INDEX)
        if value is None:
            return None, (
                f"{quoted(text)} is not a status; use 0, 1, 2, 3, 4, 100 or "
                + ", ".join(n.replace("_", " ").title() for n in STATUSES)
            )
        return value, None
    if prop == "page":
        value = _parse_enum(text, PAGES, _PAGE_INDEX)
        if value is None:
            return None, f"{quoted(text)} is not a page; use 0, 1, 2, 3, -1 or " + ", ".join(PAGES)
        return value, None
    folded = text.casefold()
    if folded in _TRUE:
        return True, None
    if folded in _FALSE:
        return False, None
    return None, f"{quoted(text)} is not yes or no; use true/false, yes/no, y/n, 1/0, x or blank"


_CHOICES = frozenset({"status", "page", "isDispatch"})


def parse_value(prop: str, text: str) -> Any:
    """Turn a non-blank cell into the property's API value; ValueError says what is accepted."""
    if prop in _CHOICES:
        value, error = _parse_choice(prop, text)
        if error is not None:
            raise ValueError(error)
        return value
    if prop == ACCOUNT:
        return canonical_uuid(text)
    if _BREAKS.search(text):
        raise ValueError("holds a line break, tab or other control character; remove it")
    if len(text) > MAX_LENGTH[prop]:
        raise ValueError(f"{quoted(text)} is too long: at most {MAX_LENGTH[prop]} characters")
    return text


# uuid.UUID alone is too lenient for user input: it drops hyphens anywhere and lets int() take a
# sign or underscores, so a typo such as "+fa85f64-..." would silently name another account.
_UUID_TEXT = re.compile(
    r"(\{)?([0-9a-f]{8})(-?)([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{12})(?(1)\})",
    re.IGNORECASE | re.ASCII,
)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(text: str) -> str:
    """Lower-case canonical form of a UUID given in any case, with or without braces."""
    if _CANONICAL_UUID.fullmatch(text):
        return text  # already canonical: the common case, and the fast one
    match = _UUID_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{quoted(text)} is not an account UUID (like 3fa85f64-5717-4562-b3fc-2c963f66afa6)"
        )
    return str(uuid.UUID("".join(match.group(2, 4, 5, 6, 7))))


class AccountRef(NamedTuple):  # a tuple: one is made per row, and dataclasses cost more
    """A row naming its account by something other than its UUID alone, before resolution.

    ``kind`` is ``accountUuid`` (``value`` canonical) or a key of ``ACCOUNT_KEYS``; ``column``
    the header as written (or the option that gave it), ``sources`` a template's columns.
    """

    kind: str
    value: str
    column: str
    sources: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """``username 'jdoe'``, as messages name it."""
        return f"{ACCOUNT_KEYS.get(self.kind, 'account')} {quoted(self.value)}"

    def problem(self, message: str) -> Problem:
        """A problem of this reference, naming where it came from."""
        return Problem(self.column, message, self.sources)


@dataclass(slots=True)  # not frozen: a frozen init costs 4x, and rosters have 100k rows
class Normalised:
    """One roster row turned into an API call, or the reasons it can't be. Read-only by use.

    A row that names its account by username, community user ID, Discord or Roblox ID has
    ``refs`` and ``pending`` set and no ``account`` until ``prepare.settle`` resolves it.
    """

    row: int
    account: str | None  # canonical UUID when readable, even if other cells have problems
    unit_num: str | None  # likewise
    payload: Payload | None  # all 11 properties; None when there are problems
    problems: tuple[Problem, ...] = field(default=())
    refs: tuple[AccountRef, ...] = field(default=())  # what names the account, to resolve
    pending: AccountRef | None = None  # the reference not resolved (yet): the row is not sent

    @property
    def key(self) -> tuple[str, str] | None:
        """Account and unit number as compared for duplicates and re-runs (case ignored)."""
        if self.account is None or self.unit_num is None:
            return None
        return (self.account, self.unit_num.casefold())


_SHORTEST_LIMIT = min(MAX_LENGTH.values())


class Normaliser:
    """Turns each row of one roster into its payload or its problems; the column plan is worked
    out once.

    Most rows are plain: no control characters, every cell shorter than any length limit, the
    account as one canonical UUID (or one username, ...), and statuses spelled like the rows
    above. Those are built by one dict comprehension; any other row takes the careful path,
    which names every problem.
    """

    def __init__(
        self, headers: HeaderMap, defaults: Mapping[str, Any], *, account_option: str = ""
    ) -> None:
        """``defaults`` are API values by property (``parse_defaults``); ``account_option`` is
        how problems name a default account (``--account``; else ``--default PROPERTY``)."""
        self.headers = headers
        self.defaults = defaults
        self._account = headers.index.get(ACCOUNT, -1)
        self._templates = headers.templates
        width = len(headers.columns) + len(headers.templates)
        # Absent columns read the "" appended after the row's own cells (and template values).
        self._plan = tuple(
            (prop, pos if pos >= 0 else width, defaults.get(prop, DEFAULTS[prop]))
            for prop, pos, _, _, _ in headers.slots
            if prop != ACCOUNT
        )
        self._choices = tuple(p for p in _CHOICES if p in DEFAULTS)
        self._keys = tuple(
            (prop, headers.index[prop], headers.column_name(prop), headers.sources(prop))
            for prop in ACCOUNT_KEYS
            if prop in headers.index
        )
        self._default = next(
            (
                AccountRef(prop, defaults[prop], account_option or f"--default {prop}")
                for prop in ACCOUNT_COLUMNS
                if prop in defaults
            ),
            None,
        )
        names = [headers.column_name(p) for p in headers.account_columns]
        self._missing = Problem(
            names[0] if names else ACCOUNT,
            "the account is missing"
            + (": fill one of " + ", ".join(f"'{n}'" for n in names) if len(names) > 1 else ""),
            headers.sources(headers.account_columns[0]) if names else (),
        )

    @property
    def default_account(self) -> AccountRef | None:
        """The account of rows that name none (``--account`` or a default), if given."""
        return self._default

    def __call__(self, row: int, values: Sequence[str]) -> Normalised:
        """One row's payload, or its problems."""
        if self._templates:
            values = (*values, *(t.render(values) for t in self._templates))
        account = values[self._account] if self._account >= 0 else ""
        refs: tuple[AccountRef, ...] = ()
        if self._keys:
            keys = self._keys
            given = keys if len(keys) == 1 else [k for k in keys if values[k[1]]]
            if account or len(given) != 1 or not values[given[0][1]]:
                if any(values[k[1]] for k in keys) or not _CANONICAL_UUID.fullmatch(account):
                    return self._careful(row, values)
            else:
                prop, pos, column, sources = given[0]
                refs = (AccountRef(prop, values[pos], column, sources),)
        elif not account and self._default is not None:
            if self._default.kind == ACCOUNT:
                account = self._default.value
            else:
                refs = (self._default,)
        elif not _CANONICAL_UUID.fullmatch(account):
            return self._careful(row, values)
        joined = "".join(values)
        # Every cell is within the shortest limit when all of them together are (the usual
        # roster row); only a longer row needs the cell-by-cell look.
        if _BREAKS.search(joined) is None and (
            len(joined) <= _SHORTEST_LIMIT or max(map(len, values)) <= _SHORTEST_LIMIT
        ):
            cells = (*values, "")
            payload = {prop: cells[pos] or fill for prop, pos, fill in self._plan}
            for prop in self._choices:
                text = payload[prop]
                if type(text) is str:
                    value, error = _parse_choice(prop, text)
                    if error is not None:
                        return self._careful(row, values)
                    payload[prop] = value
            if refs:  # one reference, and not a UUID
                return Normalised(
                    row, None, payload["unitNum"], cast(Payload, payload), (), refs, refs[0]
                )
            return Normalised(row, account, payload["unitNum"], cast(Payload, payload))
        return self._careful(row, values)

    def _careful(self, row: int, values: Sequence[str]) -> Normalised:
        defaults = self.defaults
        parsed: dict[str, Any] = {}
        clean = _BREAKS.search("".join(values)) is None
        account, refs, problems = self._account_of(values)
        for prop, pos, column, limit, sources in self.headers.slots:
            if prop == ACCOUNT:
                continue
            text = values[pos] if pos >= 0 else ""
            if not text:
                parsed[prop] = defaults.get(prop, DEFAULTS.get(prop))
            elif clean and len(text) <= limit:
                parsed[prop] = text
            else:
                try:
                    parsed[prop] = parse_value(prop, text)
                except ValueError as err:
                    problems.append(Problem(column, str(err), sources))
        unit_num = parsed.get("unitNum")
        pending = _first(refs)
        if problems:
            return Normalised(row, account, unit_num, None, tuple(problems), refs, pending)
        return Normalised(row, account, unit_num, cast(Payload, parsed), (), refs, pending)

    def _account_of(
        self, values: Sequence[str]
    ) -> tuple[str | None, tuple[AccountRef, ...], list[Problem]]:
        """The row's account UUID when it gives only that; else what it names it by (to be
        resolved); and the problems of those cells."""
        problems: list[Problem] = []
        refs: list[AccountRef] = []
        uuid_ref: AccountRef | None = None
        cell = values[self._account] if self._account >= 0 else ""
        if cell:
            _, _, column, _, sources = self.headers.slots[0]
            try:
                uuid_ref = AccountRef(ACCOUNT, canonical_uuid(cell), column, sources)
            except ValueError as err:
                problems.append(Problem(column, str(err), sources))
        for prop, pos, column, sources in self._keys:
            text = values[pos]
            if not text:
                continue
            try:
                refs.append(AccountRef(prop, parse_value(prop, text), column, sources))
            except ValueError as err:
                problems.append(Problem(column, str(err), sources))
        if not cell and not refs and not problems:
            if self._default is None:
                problems.append(self._missing)
            elif self._default.kind == ACCOUNT:
                uuid_ref = self._default
            else:
                refs.append(self._default)
        if not refs:
            return (uuid_ref.value if uuid_ref is not None else None), (), problems
        if uuid_ref is not None:
            refs.insert(0, uuid_ref)  # compared with the others when they are resolved
        return None, tuple(refs), problems


def _first(refs: Sequence[AccountRef]) -> AccountRef | None:
    """The first reference that needs resolving (not the UUID), if any."""
    for ref in refs:
        if ref.kind != ACCOUNT:
            return ref
    return None
