"""Quoting a cell in a message: at most 40 characters, and look-alike letters named."""

from __future__ import annotations

import pytest

from bulk_ident.shown import lookalike, shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("On Patrol", "'On Patrol'"),
        ("Zoë Müller", "'Zoë Müller'"),
        ("Υ", "'Υ' (U+03A5 GREEK CAPITAL LETTER UPSILON)"),
        ("Yеs", "'Yеs' ('е' U+0435 CYRILLIC SMALL LETTER IE)"),
        (
            "ＹＥＳ",
            "'ＹＥＳ' ('Ｙ' U+FF39 FULLWIDTH LATIN CAPITAL LETTER Y, 'Ｅ' U+FF25 "
            "FULLWIDTH LATIN CAPITAL LETTER E, 'Ｓ' U+FF33 FULLWIDTH LATIN CAPITAL LETTER S)",
        ),
        ("a\u200bb", "'a\\u200bb' ('\u200b' U+200B ZERO WIDTH SPACE)"),
    ],
)
def test_shown_names_lookalikes(text: str, expected: str) -> None:
    """Letters that only look like ASCII are named by code point; ordinary accents are not."""
    assert shown(text) == expected


def test_a_huge_cell_is_cut_to_forty_characters() -> None:
    """A 1 MB cell is quoted by its first 40 characters and its length."""
    text = "x" * 1_000_000
    assert shown(text) == "'" + "x" * 40 + "…' (1,000,000 characters)"


def test_latin1_is_never_suspicious() -> None:
    """Every Latin-1 character (é, ñ, ß) is taken as written."""
    assert not any(lookalike(chr(n)) for n in range(256))
