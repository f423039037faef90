"""Where each key of a TOML text is written: its line number, by key path, for messages about
the sync file (tomllib gives values, not positions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

KeyPath = tuple[str | int, ...]  # ("roster", 0, "map", "Badge"): tables, array indexes, keys

_BARE: Final = r"[A-Za-z0-9_-]+"
_BASIC: Final = r'"(?:[^"\\]|\\.)*"'
_LITERAL: Final = r"'[^']*'"
_PART: Final = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED: Final = rf"{_PART}(?:\s*\.\s*{_PART})*"
_KEY_LINE: Final = re.compile(rf"\s*({_DOTTED})\s*=")
_TABLE_LINE: Final = re.compile(rf"\s*\[\s*({_DOTTED})\s*\]")
_ARRAY_LINE: Final = re.compile(rf"\s*\[\[\s*({_DOTTED})\s*\]\]")
_PARTS: Final = re.compile(_PART)


def _key_parts(text: str) -> list[str]:
    parts = []
    for raw in _PARTS.findall(text):
        if raw.startswith('"'):
            try:
                parts.append(str(json.loads(raw)))
            except ValueError:
                parts.append(raw[1:-1])
        elif raw.startswith("'"):
            parts.append(raw[1:-1])
        else:
            parts.append(raw)
    return parts


def key_lines(text: str) -> dict[KeyPath, int]:
    """The line of each key and table, by its path (``("roster", 0, "map", "Badge")``).

    tomllib gives no positions, so the text is scanned: table headers, then ``key =`` at the
    start of a line, outside multi-line strings. Only messages use it: a key it misses is
    reported at its table's line instead.
    """
    lines: dict[KeyPath, int] = {}
    counts: dict[str, int] = {}
    section: KeyPath = ()
    quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if quote is not None:
            if line.count(quote) % 2 == 1:
                quote = None
            continue
        array = _ARRAY_LINE.match(line)
        table = None if array else _TABLE_LINE.match(line)
        if array or table:
            found = array or table
            assert found is not None
            parts: KeyPath = tuple(_key_parts(found.group(1)))
            if array:
                head = str(parts[0])
                counts[head] = counts.get(head, -1) + 1
                section = (*parts, counts[head]) if len(parts) == 1 else parts
            else:
                section = _in_array(parts, counts)
            lines.setdefault(section, number)
            continue
        key = _KEY_LINE.match(line)
        if key is None:
            continue
        path = (*section, *_key_parts(key.group(1)))
        for end in range(len(section) + 1, len(path) + 1):
            lines.setdefault(path[:end], number)
        rest = line[key.end() :]
        for mark in ('"""', "'''"):
            if rest.count(mark) % 2 == 1:
                quote = mark
                break
    return lines


def _in_array(parts: KeyPath, counts: Mapping[str, int]) -> KeyPath:
    """``[roster.map]`` is the map of the latest ``[[roster]]``: ("roster", n, "map")."""
    head = str(parts[0])
    if head in counts and len(parts) > 1:
        return (head, counts[head], *parts[1:])
    return parts
