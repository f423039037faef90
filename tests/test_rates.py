"""The N/PERIOD rate syntax shared by import --rate and sandbox --rate."""

from __future__ import annotations

import pytest

from bulk_ident.errors import InputError
from bulk_ident.rates import DEFAULT_RATE, Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "count", "period", "shown"),
    [
        ("10/min", 10, 60.0, "10/min"),
        ("10/mins", 10, 60.0, "10/min"),
        ("300/minute", 300, 60.0, "300/min"),
        ("2/s", 2, 1.0, "2/s"),
        ("5/secs", 5, 1.0, "5/s"),
        (" 3 / hour ", 3, 3600.0, "3/h"),
        ("600/H", 600, 3600.0, "600/h"),
    ],
)
def test_rates_parse(text: str, count: int, period: float, shown: str) -> None:
    """Counts per second, minute or hour, in the spellings people type."""
    rate = parse_rate(text)
    assert (rate.count, rate.period, str(rate)) == (count, period, shown)


@pytest.mark.parametrize("text", ["", "10", "0/min", "-1/min", "10/day", "ten/min", "1.5/s"])
def test_bad_rates_say_what_is_accepted(text: str) -> None:
    """Anything else is an InputError that shows the accepted form."""
    with pytest.raises(InputError, match="write it as N/min, N/s or N/h"):
        parse_rate(text)


def test_the_default_is_sonorans_documented_limit() -> None:
    """10 requests a minute: one every 6 s when spread evenly."""
    assert Rate(10, 60.0) == DEFAULT_RATE
    assert DEFAULT_RATE.interval == 6.0


@pytest.mark.parametrize("text", ["99999999999999999999/s", "101/s", "7000/min", "12345678/h"])
def test_absurd_rates_are_refused_in_one_line(text: str) -> None:
    """A rate no key allows (or that overflows) is an InputError, not an OverflowError."""
    with pytest.raises(InputError, match="too fast: at most 100/s"):
        parse_rate(text)
