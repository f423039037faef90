"""How a cell's text is quoted in a message: short, one line, and honest about letters that only
look like ASCII (a Greek capital upsilon reads like a Y on screen, so its code point is named)."""

from __future__ import annotations

import unicodedata

QUOTE_LIMIT = 40
"""A message quotes at most this many characters of a cell (a 1 MB cell is not echoed)."""

_SCRIPTS = ("GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE", "LATIN", "FULLWIDTH", "MATHEMATICAL")
_NAMED = 3  # code points named in one message at most


def lookalike(ch: str) -> bool:
    """A character outside Latin-1 that can pass for ASCII on screen: Greek, Cyrillic and other
    letters shaped like Latin ones, fullwidth and mathematical forms, invisible or odd spaces."""
    if ord(ch) <= 0xFF:
        return False
    if unicodedata.category(ch) in ("Zs", "Cf"):
        return True
    if unicodedata.normalize("NFKC", ch).isascii():
        return True
    return unicodedata.name(ch, "").startswith(_SCRIPTS)


def shown(text: str) -> str:
    """``'text'`` as a message quotes a cell: cut to QUOTE_LIMIT characters (with ``…`` and the
    full length), then the code points of up to three look-alike characters."""
    quoted = text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + "…"
    out = repr(quoted)
    if len(text) > QUOTE_LIMIT:
        out += f" ({len(text):,} characters)"
    odd = list(dict.fromkeys(ch for ch in text[:QUOTE_LIMIT] if lookalike(ch)))
    if odd:
        names = ", ".join(
            ("" if quoted == ch else f"'{ch}' ") + f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}"
            for ch in odd[:_NAMED]
        )
        more = f" and {len(odd) - _NAMED} more" if len(odd) > _NAMED else ""
        out += f" ({names}{more})"
    return out
