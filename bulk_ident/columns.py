"""Roster headers and the properties they feed: header aliases, ``--map`` (a column, or a
``{template}`` of columns) and ``--default``, worked out once per roster as a `HeaderMap`.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bulk_ident.errors import InputError
from bulk_ident.identifier import (
    ACCOUNT,
    ACCOUNT_COLUMNS,
    MAX_LENGTH,
    NAMEABLE,
    PROPERTIES,
    parse_value,
)

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
