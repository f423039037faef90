"""The Sonoran unit identifier: its properties, defaults, enums, header aliases and column
templates, and the pure step that turns one roster row into the JSON body the API receives (and
how the row names its account), or into that row's problems.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict, cast

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
    "username": ("Username", "User Name", "CAD Username", "CAD User Name", "Sonoran Username"),
    "communityUserId": (
        "Community User ID",
        "Community ID",
        "Community User",
        "Community Member ID",
    ),
    "discord": ("Discord ID", "Discord", "Discord User ID"),
    "roblox": ("Roblox ID", "Roblox", "Roblox User ID"),
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


# -- templates: one property built from several columns ----------------------------------------


@dataclass(frozen=True)
class Template:
    """``--map 'name={First Name} {Last Name}'``: text with column names in braces.

    ``parts`` are literal text and column positions. A blank column takes the spaces around it
    with it ("Ann Lee", never "Ann  Lee"); when every column is blank the value is blank, so the
    property's default applies.
    """

    prop: str
    text: str
    parts: tuple[str | int, ...]
    sources: tuple[str, ...]  # the columns read, as the file writes them, in order of use

    @property
    def label(self) -> str:
        """How problems name it: ``name={First Name} {Last Name}``."""
        return f"{self.prop}={self.text}"

    def render(self, values: Sequence[str]) -> str:
        """The value for one row (``values`` are the row's cells)."""
        out = ""
        gap: str | None = None  # after a blank column: the spaces it swallowed
        filled = False
        for part in self.parts:
            if type(part) is int:
                text = values[part]
                if not text:
                    if gap is None:
                        kept = out.rstrip()
                        gap, out = out[len(kept) :], kept
                    continue
                filled = True
            else:
                text = cast(str, part)
            if gap is not None:
                body = text.lstrip()
                if not body:  # only spaces between two columns: part of the same gap
                    gap = gap or text
                    continue
                if out:
                    out += gap or text[: len(text) - len(body)]
                text, gap = body, None
            out += text
        return out.strip() if filled else ""


def template_names(text: str) -> tuple[str, ...] | None:
    """The column names a template reads, or None when ``text`` is not a template (no ``{``).

    Raises ValueError for a brace without its partner or an empty ``{}``.
    """
    if "{" not in text:
        return None
    return tuple(p for p in _split_template(text) if isinstance(p, _Name))


class _Name(str):
    """A column name inside a template, as opposed to literal text."""

    __slots__ = ()


def _split_template(text: str) -> list[str]:
    parts: list[str] = []
    literal = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i : i + 2] == ch * 2:
            literal += ch
            i += 2
        elif ch == "}":
            raise ValueError("a '}' without its '{' (write }} for a brace)")
        elif ch == "{":
            close = text.find("}", i + 1)
            if close < 0:
                raise ValueError("a '{' without its '}' (write {{ for a brace)")
            name = text[i + 1 : close].strip()
            if not name or "{" in name:
                raise ValueError("write a column name between '{' and '}'")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_Name(name))
            i = close + 1
        else:
            literal += ch
            i += 1
    if literal:
        parts.append(literal)
    return parts


def compile_template(
    prop: str, text: str, columns: Sequence[str], *, option: str, where: str
) -> Template:
    """A template's column names matched to ``columns`` (as headers are: case, spaces and
    punctuation ignored); InputError names the option and lists the columns there are."""
    try:
        pieces = _split_template(text)
    except ValueError as err:
        raise InputError(f"{option}: {err}") from None
    keys: dict[str, int] = {}
    for i, col in enumerate(columns):
        keys.setdefault(header_key(col), i)
    parts: list[str | int] = []
    sources: list[str] = []
    for piece in pieces:
        if not isinstance(piece, _Name):
            parts.append(piece)
            continue
        pos = keys.get(header_key(piece))
        if pos is None:
            raise InputError(
                f"{option}: {where} has no column '{piece}'; its columns are "
                + ", ".join(f"'{c}'" for c in columns if c)
            )
        parts.append(pos)
        if columns[pos] not in sources:
            sources.append(columns[pos])
    return Template(prop, text, tuple(parts), tuple(sources))


@dataclass(frozen=True)
class HeaderMap:
    """Which roster column (or template) feeds which property."""

    columns: tuple[str, ...]
    index: Mapping[str, int]  # property -> column position (templates: after the columns)
    unmapped: tuple[str, ...]  # non-blank headers that feed nothing
    templates: tuple[Template, ...] = ()  # their values sit after the row's own cells

    def column_name(self, prop: str) -> str:
        """The header as written for a property, its template (``name={First} {Last}``), or the
        property name when nothing feeds it."""
        pos = self.index.get(prop)
        if pos is None:
            return prop
        if pos >= len(self.columns):
            return self.templates[pos - len(self.columns)].label
        return self.columns[pos]

    def sources(self, prop: str) -> tuple[str, ...]:
        """The columns a templated property is built from; () for a plain column."""
        pos = self.index.get(prop, -1)
        if pos >= len(self.columns):
            return self.templates[pos - len(self.columns)].sources
        return ()

    @property
    def account_columns(self) -> tuple[str, ...]:
        """The properties that name the account which the roster has columns for."""
        return tuple(p for p in ACCOUNT_COLUMNS if p in self.index)

    @functools.cached_property
    def slots(self) -> tuple[tuple[str, int, str, int, tuple[str, ...]], ...]:
        """(property, column position or -1, column name, text length limit or 0, template
        sources) for the account UUID and every payload property, in payload order: what
        `Normaliser` needs, worked out once per roster."""
        return tuple(
            (p, self.index.get(p, -1), self.column_name(p), MAX_LENGTH.get(p, 0), self.sources(p))
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


def _not_a_property(option: str, name: str) -> InputError:
    return InputError(f"{option}: '{name}' is not a property; use one of " + ", ".join(NAMEABLE))


def map_headers(
    columns: Sequence[str],
    overrides: Sequence[tuple[str, str]] = (),
    *,
    where: str = "the roster",
    account_given: bool = False,
) -> HeaderMap:
    """Map headers to properties. ``overrides`` are ``--map`` pairs: ``COLUMN=property`` reads a
    column as a property; ``property=TEMPLATE`` (a value with ``{``) builds one from columns.

    Raises InputError when an override names no column or property, when two columns (or
    templates) feed one property, or when nothing names the account and ``account_given``
    (``--account``, or a default account) is false.
    """
    forced: dict[int, str] = {}
    templates: dict[str, Template] = {}
    for left, right in overrides:
        option = f"--map {left}={right}"
        if "{" in right:
            prop = property_for(left)
            if prop is None:
                raise _not_a_property(option, left)
            if prop in templates:
                raise InputError(f"{option}: {prop} already has a template; give one")
            templates[prop] = compile_template(prop, right, columns, option=option, where=where)
            continue
        if "{" in left:
            raise InputError(
                f"{option}: a template goes on the right, after the property: "
                f"--map '{right}={left}'"
            )
        prop = property_for(right)
        if prop is None:
            raise _not_a_property(option, right)
        matches = [i for i, c in enumerate(columns) if header_key(c) == header_key(left)]
        if not matches:
            raise InputError(
                f"{option}: {where} has no column '{left}'; its columns are "
                + ", ".join(f"'{c}'" for c in columns if c)
            )
        for i in matches:
            forced[i] = prop
    index: dict[str, int] = {}
    unmapped: list[str] = []
    chosen = set(forced.values()) | set(templates)
    used = {c for t in templates.values() for c in t.sources}
    for i, col in enumerate(columns):
        prop = forced.get(i) or property_for(col)
        if i not in forced and prop in chosen:
            # --map picked another column (or a template) for this property: this one is not sent.
            prop = None
        if prop is None:
            if col and col not in used:
                unmapped.append(col)
            continue
        if prop in index:
            raise InputError(
                f"{where}: columns '{columns[index[prop]]}' and '{col}' both mean {prop}; "
                f"rename one, or choose with --map '{col}={prop}'"
            )
        index[prop] = i
    for n, (prop, template) in enumerate(templates.items()):
        if prop in index:
            raise InputError(
                f"{where}: column '{columns[index[prop]]}' and --map {template.label} both "
                f"mean {prop}; give one"
            )
        index[prop] = len(columns) + n
    if not account_given and not any(p in index for p in ACCOUNT_COLUMNS):
        raise InputError(
            f"{where} has no column for the account (a header such as 'Account UUID', "
            "'Username', 'Community User ID', 'Discord ID' or 'Roblox ID'); add one, name yours "
            "with --map 'YourColumn=accountUuid' (or =username), or give --account for every row"
        )
    return HeaderMap(tuple(columns), index, tuple(unmapped), tuple(templates.values()))


def looks_like_header(cells: Sequence[str], overrides: Sequence[tuple[str, str]] = ()) -> bool:
    """True when a row names at least two properties (so a title row never passes); columns
    that --map names, or that a --map template reads, count too."""
    forced = set()
    for left, right in overrides:
        try:
            names = template_names(right)
        except ValueError:
            names = None
        if names is None:
            forced.add(header_key(left))
        else:
            forced.update(header_key(n) for n in names)
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
    """``--default property=value`` pairs as API values; InputError for a bad one.

    The account may be given as a UUID (``accountUuid``) or by any other account property
    (``username=jdoe``), once: it names the account of rows that name none themselves.
    """
    out: dict[str, Any] = {}
    for name, text in pairs:
        prop = property_for(name)
        if prop is None:
            raise _not_a_property(f"--default {name}={text}", name)
        if not text:
            raise InputError(f"--default {name}=: give a value after '='")
        try:
            out[prop] = parse_value(prop, text)
        except ValueError as err:
            raise InputError(f"--default {name}={text}: {err}") from None
    accounts = [p for p in ACCOUNT_COLUMNS if p in out]
    if len(accounts) > 1:
        raise InputError(
            "--default: " + " and ".join(accounts) + " both name the account of every row; give one"
        )
    return out


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
        return f"{ACCOUNT_KEYS.get(self.kind, 'account')} {self.value!r}"

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
        if (
            max(map(len, values), default=0) <= _SHORTEST_LIMIT
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
