"""The Sonoran unit identifier: its properties, defaults, enums and header aliases, and the pure
step that turns one roster row into the JSON body the API receives, or into that row's problems.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from bulk_ident.errors import InputError

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
TEXT_PROPERTIES = frozenset(p for p, v in DEFAULTS.items() if isinstance(v, str))

# Sonoran documents no maximum lengths; these keep a typo (a whole paragraph pasted into a cell)
# from reaching the server, and are generous for anything a roster really holds.
MAX_LENGTH: dict[str, int] = {p: (64 if p == "unitNum" else 255) for p in TEXT_PROPERTIES}

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

# Header aliases, compared after `header_key` (case, spaces, underscores and punctuation ignored).
ALIASES: dict[str, tuple[str, ...]] = {
    ACCOUNT: ("Account UUID", "Account", "Account ID", "UUID", "Acc UUID", "User UUID"),
    "unitNum": ("Unit Number", "Unit Num", "Unit #", "Unit No", "Unit", "Callsign", "Call Sign"),
    "name": ("Name", "Full Name", "Unit Name", "Officer", "Officer Name", "Member", "Member Name"),
    "district": ("District",),
    "department": ("Department", "Dept", "Agency"),
    "subdivision": ("Subdivision", "Division", "Sub Division"),
    "rank": ("Rank",),
    "group": ("Group", "Unit Group"),
    "aop": ("AOP", "Area of Patrol"),
    "status": ("Status", "Unit Status"),
    "page": ("Page", "Unit Page"),
    "isDispatch": ("Is Dispatch", "Dispatch", "Dispatcher"),
}


def header_key(text: str) -> str:
    """Fold a header for matching: lower case, letters and digits only ("Unit #" -> "unit")."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


_ALIAS_INDEX: dict[str, str] = {
    header_key(alias): prop for prop, aliases in ALIASES.items() for alias in (prop, *aliases)
}


def property_for(name: str) -> str | None:
    """The API property a header or a property name means, or None."""
    return _ALIAS_INDEX.get(header_key(name))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell; ``column`` is the header as written in the file."""

    column: str
    message: str

    def __str__(self) -> str:
        return f"column '{self.column}': {self.message}"


@dataclass(frozen=True)
class HeaderMap:
    """Which roster column feeds which property."""

    columns: tuple[str, ...]
    index: Mapping[str, int]  # property -> column position
    unmapped: tuple[str, ...]  # non-blank headers that feed nothing

    def column_name(self, prop: str) -> str:
        """The header as written for a property, or the property name when no column feeds it."""
        pos = self.index.get(prop)
        return self.columns[pos] if pos is not None else prop

    @functools.cached_property
    def slots(self) -> tuple[tuple[str, int, str, int], ...]:
        """(property, column position or -1, column name, text length limit or 0) for every
        property, in payload order: what `normalise` needs, worked out once per roster."""
        return tuple(
            (p, self.index.get(p, -1), self.column_name(p), MAX_LENGTH.get(p, 0))
            for p in PROPERTIES
        )


def parse_assignments(options: Sequence[str], option: str) -> list[tuple[str, str]]:
    """Split repeated ``LEFT=RIGHT`` options; InputError names the option and the bad value."""
    pairs = []
    for text in options:
        left, sep, right = text.partition("=")
        if not sep or not left.strip():
            raise InputError(f"{option} {text!r}: write it as NAME=VALUE, e.g. {option} Dept=LSPD")
        pairs.append((left.strip(), right.strip()))
    return pairs


def map_headers(
    columns: Sequence[str], overrides: Sequence[tuple[str, str]] = (), *, where: str = "the roster"
) -> HeaderMap:
    """Map headers to properties; ``overrides`` are ``--map COLUMN=property`` pairs.

    Raises InputError when an override names no column or property, when two columns feed one
    property, or when no column holds the account.
    """
    forced: dict[int, str] = {}
    for col, prop_name in overrides:
        prop = property_for(prop_name)
        if prop is None:
            raise InputError(
                f"--map {col}={prop_name}: '{prop_name}' is not a property; use one of "
                + ", ".join(PROPERTIES)
            )
        matches = [i for i, c in enumerate(columns) if header_key(c) == header_key(col)]
        if not matches:
            raise InputError(
                f"--map {col}={prop_name}: {where} has no column '{col}'; its columns are "
                + ", ".join(f"'{c}'" for c in columns if c)
            )
        for i in matches:
            forced[i] = prop
    index: dict[str, int] = {}
    unmapped: list[str] = []
    chosen = set(forced.values())
    for i, col in enumerate(columns):
        prop = forced.get(i) or property_for(col)
        if i not in forced and prop in chosen:
            # --map picked another column for this property: this one is not sent.
            prop = None
        if prop is None:
            if col:
                unmapped.append(col)
            continue
        if prop in index:
            raise InputError(
                f"{where}: columns '{columns[index[prop]]}' and '{col}' both mean {prop}; "
                f"rename one, or choose with --map '{col}={prop}'"
            )
        index[prop] = i
    if ACCOUNT not in index:
        raise InputError(
            f"{where} has no column for the account (a header such as 'Account UUID'); "
            f"add one, or name yours with --map 'YourColumn=accountUuid'"
        )
    return HeaderMap(tuple(columns), index, tuple(unmapped))


def looks_like_header(cells: Sequence[str], overrides: Sequence[tuple[str, str]] = ()) -> bool:
    """True when a row names at least two properties (so a title row never passes)."""
    forced = {header_key(col) for col, _ in overrides}
    found = {property_for(c) or (c if header_key(c) in forced else None) for c in cells if c}
    found.discard(None)
    return len(found) >= 2


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
                f"{text!r} is not a status; use 0, 1, 2, 3, 4, 100 or "
                + ", ".join(n.replace("_", " ").title() for n in STATUSES)
            )
        return value, None
    if prop == "page":
        value = _parse_enum(text, PAGES, _PAGE_INDEX)
        if value is None:
            return None, f"{text!r} is not a page; use 0, 1, 2, 3, -1 or " + ", ".join(PAGES)
        return value, None
    folded = text.casefold()
    if folded in _TRUE:
        return True, None
    if folded in _FALSE:
        return False, None
    return None, f"{text!r} is not yes or no; use true/false, yes/no, y/n, 1/0, x or blank"


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
        raise ValueError(f"is {len(text)} characters long; the limit is {MAX_LENGTH[prop]}")
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
            f"{text!r} is not an account UUID (like 3fa85f64-5717-4562-b3fc-2c963f66afa6)"
        )
    return str(uuid.UUID("".join(match.group(2, 4, 5, 6, 7))))


def parse_defaults(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``--default property=value`` pairs as API values; InputError for a bad one."""
    out: dict[str, Any] = {}
    for name, text in pairs:
        prop = property_for(name)
        if prop is None:
            raise InputError(
                f"--default {name}={text}: '{name}' is not a property; use one of "
                + ", ".join(PROPERTIES)
            )
        if not text:
            raise InputError(f"--default {name}=: give a value after '='")
        try:
            out[prop] = parse_value(prop, text)
        except ValueError as err:
            raise InputError(f"--default {name}={text}: {err}") from None
    return out


@dataclass(slots=True)  # not frozen: a frozen init costs 4x, and rosters have 100k rows
class Normalised:
    """One roster row turned into an API call, or the reasons it can't be. Read-only by use."""

    row: int
    account: str | None  # canonical UUID when readable, even if other cells have problems
    unit_num: str | None  # likewise
    payload: Payload | None  # all 11 properties; None when there are problems
    problems: tuple[Problem, ...] = field(default=())

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

    Most rows are plain: no control characters, every cell shorter than any length limit, a
    canonical UUID, and statuses spelled like the rows above. Those are built by one dict
    comprehension; any other row takes the careful path, which names every problem.
    """

    def __init__(self, headers: HeaderMap, defaults: Mapping[str, Any]) -> None:
        self.headers = headers
        self.defaults = defaults
        self._account = headers.index.get(ACCOUNT, -1)
        width = len(headers.columns)
        # Absent columns read the "" appended after the row's own cells.
        self._plan = tuple(
            (prop, pos if pos >= 0 else width, defaults.get(prop, DEFAULTS[prop]))
            for prop, pos, _, _ in headers.slots
            if prop != ACCOUNT
        )
        self._choices = tuple(p for p in _CHOICES if p in DEFAULTS)

    def __call__(self, row: int, values: Sequence[str]) -> Normalised:
        """One row's payload, or its problems."""
        account = values[self._account] if self._account >= 0 else ""
        if (
            _CANONICAL_UUID.fullmatch(account)
            and max(map(len, values), default=0) <= _SHORTEST_LIMIT
            and _BREAKS.search("".join(values)) is None
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
            return Normalised(row, account, payload["unitNum"], cast(Payload, payload))
        return self._careful(row, values)

    def _careful(self, row: int, values: Sequence[str]) -> Normalised:
        defaults = self.defaults
        problems: list[Problem] = []
        parsed: dict[str, Any] = {}
        clean = _BREAKS.search("".join(values)) is None
        for prop, pos, column, limit in self.headers.slots:
            text = values[pos] if pos >= 0 else ""
            if not text:
                if prop == ACCOUNT and ACCOUNT not in defaults:
                    problems.append(Problem(column, "the account is missing"))
                else:
                    parsed[prop] = defaults.get(prop, DEFAULTS.get(prop))
            elif clean and len(text) <= limit:
                parsed[prop] = text
            else:
                try:
                    parsed[prop] = parse_value(prop, text)
                except ValueError as err:
                    problems.append(Problem(column, str(err)))
        account = parsed.pop(ACCOUNT, None)
        unit_num = parsed.get("unitNum")
        if problems:
            return Normalised(row, account, unit_num, None, tuple(problems))
        return Normalised(row, account, unit_num, cast(Payload, parsed))
