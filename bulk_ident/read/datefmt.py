"""Excel dates and times: the text en-US Excel shows for a serial number under a date section's
tokens (1900 system with Lotus's 1900-02-29, and 1904), and ISO date-times as serial numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_MS_PER_DAY = 86_400_000
_LAST_SERIAL = 2_958_466  # 10000-01-01 in the 1900 system: Excel shows ##### from here on


def serial_from_iso(text: str, date1904: bool = False) -> float | None:
    """An ISO 8601 date-time (a t="d" cell) as an Excel serial number, or None if unreadable."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        try:
            moment = dt.datetime.combine(dt.date(1899, 12, 30), dt.time.fromisoformat(text))
        except ValueError:
            return None
    base = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
    serial = (moment.replace(tzinfo=None) - base) / dt.timedelta(days=1)
    if not date1904 and serial < 61:
        serial -= 1  # before Lotus's 1900-02-29, serials are one lower than the real calendar
    return serial


def render_date(tokens: Sequence[tuple[str, str]], value: float, date1904: bool) -> str | None:
    """The text Excel shows for a serial date-time under a date section's tokens (a system
    format already replaced by the one it names), or None when that can't be shown exactly
    (negative or past 9999-12-31, where Excel shows #####, or finer than a millisecond)."""
    if value < 0:
        return None  # Excel fills the cell with ##### for negative dates and times
    fields = [(i, k, v) for i, (k, v) in enumerate(tokens) if k not in {"lit", "frac", "ampm"}]
    minute_at = _minute_positions(fields)
    twelve_hour = any(k == "ampm" for k, _ in tokens)
    decimals = max((len(v) for k, v in tokens if k == "frac"), default=0)
    if decimals > 3:
        return None
    has_time = any(k in {"h", "s", "elapsed", "ampm"} for _, k, _ in fields) or bool(minute_at)
    # Excel rounds to the finest unit it shows (a tenth of a second for ss.0, else a second),
    # then truncates each field; a date alone is only rounded to the millisecond.
    unit = 10 ** (3 - decimals) if has_time else 1
    total = math.floor(value * _MS_PER_DAY / unit + 0.5) * unit
    days, ms = divmod(total, _MS_PER_DAY)
    date = _calendar_date(days, date1904)
    if date is None:
        return None
    year, month, day = date
    weekday = (days + (1462 if date1904 else 0) + 6) % 7  # Excel: serial 1 is a Sunday
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)

    out: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        width = len(text)
        if kind == "lit":
            out.append(text)
        elif kind == "y":
            out.append(f"{year % 100:02d}" if width <= 2 else f"{year:04d}")
        elif kind == "m" and i in minute_at:
            out.append(f"{minutes:02d}" if width >= 2 else str(minutes))
        elif kind == "m":
            out.append(
                str(month)
                if width == 1
                else f"{month:02d}"
                if width == 2
                else _MONTHS[month - 1][:3]
                if width == 3
                else _MONTHS[month - 1][0]
                if width == 5
                else _MONTHS[month - 1]
            )
        elif kind == "d":
            out.append(
                str(day)
                if width == 1
                else f"{day:02d}"
                if width == 2
                else _DAYS[weekday][:3]
                if width == 3
                else _DAYS[weekday]
            )
        elif kind == "h":
            hour = (hours % 12 or 12) if twelve_hour else hours
            out.append(f"{hour:02d}" if width >= 2 else str(hour))
        elif kind == "s":
            out.append(f"{seconds:02d}" if width >= 2 else str(seconds))
        elif kind == "frac":
            out.append("." + f"{millis:03d}"[: len(text)])
        elif kind == "ampm":
            pm = hours >= 12
            if len(text) == 5:
                word = "PM" if pm else "AM"
                out.append(word.lower() if text[0].islower() else word)
            else:
                letter = "P" if pm else "A"
                out.append(letter.lower() if text[0].islower() else letter)
        elif kind == "elapsed":
            unit_ms = {"h": 3_600_000, "m": 60_000, "s": 1000}[text[0]]
            amount = total // unit_ms
            out.append(str(amount).rjust(len(text), "0"))
    return "".join(out)


def _minute_positions(fields: list[tuple[int, str, str]]) -> set[int]:
    """Token positions of m/mm that mean minutes: right after an hour, or right before seconds."""
    minutes = set()
    for j, (index, kind, text) in enumerate(fields):
        if kind != "m" or len(text) > 2:
            continue
        before = fields[j - 1] if j else None
        after = fields[j + 1] if j + 1 < len(fields) else None
        after_hour = before is not None and (
            before[1] == "h" or (before[1] == "elapsed" and before[2][0] == "h")
        )
        before_seconds = after is not None and (
            after[1] == "s" or (after[1] == "elapsed" and after[2][0] == "s")
        )
        if after_hour or before_seconds:
            minutes.add(index)
    return minutes


def _calendar_date(days: int, date1904: bool) -> tuple[int, int, int] | None:
    """(year, month, day) of a serial day, as Excel counts them (None past 9999-12-31)."""
    if date1904:
        if days + 1462 >= _LAST_SERIAL:
            return None
        real = dt.date(1904, 1, 1) + dt.timedelta(days=days)
        return real.year, real.month, real.day
    if days >= _LAST_SERIAL:
        return None
    if days == 0:
        return 1900, 1, 0  # Excel shows serial 0 as January 0, 1900
    if days == 60:
        return 1900, 2, 29  # Lotus 1-2-3's leap day, kept by Excel
    real = dt.date(1899, 12, 31 if days < 60 else 30) + dt.timedelta(days=days)
    return real.year, real.month, real.day
