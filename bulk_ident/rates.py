"""The ``N/PERIOD`` rate syntax shared by ``import --rate`` and ``sandbox --rate``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bulk_ident.errors import InputError

_PERIODS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$", re.IGNORECASE)


MAX_WAIT = 7200.0
"""The longest wait any answer can impose (a 429's Retry-After, a pause): two hours."""
MAX_PER_SECOND = 100.0
"""The fastest rate accepted: Sonoran allows 10 a minute; faster is for local rehearsals only."""


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in any ``period`` seconds."""

    count: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds between two evenly spread requests."""
        return self.period / self.count

    def __str__(self) -> str:
        for name, seconds in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
            if self.period == seconds:
                return f"{self.count}/{name}"
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """Parse ``10/min``, ``2/s`` or ``300/h``; raise InputError saying what is accepted."""
    match = _RATE.match(text)
    unit = match.group(2).lower() if match else ""
    if unit not in _PERIODS and unit.endswith("s"):
        unit = unit[:-1]  # plurals: "secs", "mins", "hours"
    if not match or unit not in _PERIODS or int(match.group(1)) < 1:
        raise InputError(
            f"rate {text!r} is not understood: write it as N/min, N/s or N/h, e.g. 10/min"
        )
    digits = match.group(1)
    if len(digits) > 7 or int(digits) / _PERIODS[unit] > MAX_PER_SECOND:
        raise InputError(
            f"rate {text!r} is too fast: at most {MAX_PER_SECOND:g}/s "
            "(Sonoran allows 10/min per key)"
        )
    return Rate(int(digits), _PERIODS[unit])


DEFAULT_RATE = Rate(10, 60.0)
