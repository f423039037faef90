"""Which property each roster column feeds, as the page proposes it: the library's header aliases
first, then the closest alias by spelling (difflib) for a header the aliases don't know.

The page's choices become the command line's own ``--map`` and ``--default`` strings, so the
library maps them exactly as it does for ``check``, ``import`` and a config-file sync.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bulk_ident.columns import ALIASES, header_key, property_for
from bulk_ident.identifier import ACCOUNT, PROPERTIES

# A header this close to an alias (difflib's ratio on the folded texts) is offered as that
# property: "Acount UUID" and "Callsign No" are, "Notes" and "Joined" are not.
SIMILAR_CUTOFF = 0.75

_ALIAS_KEYS: dict[str, str] = {
    header_key(alias): prop for prop, aliases in ALIASES.items() for alias in (prop, *aliases)
}

LABELS: dict[str, str] = {
    prop: (ALIASES[prop][0] if ALIASES.get(prop) else prop) for prop in PROPERTIES
}
"""How the page names each property beside its API name (``unitNum`` "Unit Number")."""


@dataclass(frozen=True)
class Suggestion:
    """What the page proposes for one column, and why."""

    column: str
    prop: str | None  # None: the column is not sent
    why: str  # "name" (an alias), "similar" (close to an alias), "" (nothing found)
    like: str = ""  # for "similar": the alias it resembles


def suggest(column: str) -> Suggestion:
    """The property a header names (an alias, exactly as ``map_headers`` reads it), else the
    property of the closest alias by spelling, else none."""
    prop = property_for(column)
    if prop is not None:
        return Suggestion(column, prop, "name")
    key = header_key(column)
    if not key:
        return Suggestion(column, None, "")
    close = difflib.get_close_matches(key, list(_ALIAS_KEYS), n=1, cutoff=SIMILAR_CUTOFF)
    if not close:
        return Suggestion(column, None, "")
    prop = _ALIAS_KEYS[close[0]]
    like = next(
        (a for a in (*ALIASES.get(prop, ()), prop) if header_key(a) == close[0]),
        prop,
    )
    return Suggestion(column, prop, "similar", like)


def map_strings(
    choices: Mapping[str, str | None],
    *,
    force: bool = False,
) -> list[str]:
    """``COLUMN=property`` strings for the columns whose chosen property differs from what their
    name already says (all mapped columns when ``force``: a header row picked by hand must be
    named by maps to be found). A column chosen "not sent" that its name would send raises
    ValueError: neither the page nor the command line can leave such a column out."""
    maps = []
    for column, prop in choices.items():
        named = property_for(column)
        if prop is None:
            if named is not None and not _taken_by_other(choices, column, named):
                raise ValueError(
                    f"column '{column}' is read as {named} by its name: to leave it out, map "
                    f"another column to {named}, or rename the header in the roster"
                )
            continue
        if force or prop != named:
            maps.append(f"{column}={prop}")
    return maps


def _taken_by_other(choices: Mapping[str, str | None], column: str, prop: str) -> bool:
    return any(p == prop and c != column for c, p in choices.items())


def template_strings(templates: Mapping[str, str]) -> list[str]:
    """``property={Column} {Other}`` strings (the --map template form) for non-blank templates."""
    return [f"{prop}={text.strip()}" for prop, text in templates.items() if text.strip()]


def default_strings(defaults: Mapping[str, str]) -> list[str]:
    """``property=value`` strings (the --default form) for non-blank values."""
    return [f"{prop}={text.strip()}" for prop, text in defaults.items() if text.strip()]


def split_assignment(text: str) -> tuple[str, str]:
    """``LEFT=RIGHT`` as the library splits it (at the first ``=``), for a config file's tables."""
    left, _, right = text.partition("=")
    return left.strip(), right.strip()


def mapped_columns(columns: Sequence[str], index: Mapping[str, int]) -> dict[int, str]:
    """Column position -> the property it feeds, from a ``HeaderMap.index``."""
    return {pos: prop for prop, pos in index.items() if 0 <= pos < len(columns)}


__all__ = [
    "ACCOUNT",
    "LABELS",
    "SIMILAR_CUTOFF",
    "Suggestion",
    "default_strings",
    "map_strings",
    "mapped_columns",
    "split_assignment",
    "suggest",
    "template_strings",
]
