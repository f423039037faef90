"""Tests for bulk_ident.read.numfmt: a number under a format code reads as en-US Excel shows it.

The expected texts follow Excel's documented rules: serial 1 is 1900-01-01 and serial 60 the
fictitious 1900-02-29 (so WEEKDAY(1) is a Sunday); the 1904 system starts at 0 = 1904-01-01; m
after an hour or before seconds is minutes; times are rounded to the finest unit shown (a second,
or ss.0's tenth) and each field is then truncated; negative dates and dates past 9999-12-31 show
##### (rendered here as None, so the caller falls back and warns).
"""

from __future__ import annotations

import pytest

from bulk_ident.read.datefmt import serial_from_iso
from bulk_ident.read.numfmt import BUILTIN_FORMATS, compile_format, format_number, is_date_format

SECOND = 1 / 86400

# (serial, format code or built-in id, what Excel shows)
DATES: list[tuple[float, str | int, str]] = [
    # The built-in formats, as en-US Excel shows them.
    (33605, 14, "1/2/1992"),
    (39566, 15, "28-Apr-08"),
    (39566, 16, "28-Apr"),
    (39566, 17, "Apr-08"),
    (0.5, 18, "12:00 PM"),
    (0, 18, "12:00 AM"),
    (0.75, 19, "6:00:00 PM"),
    (0.75, 20, "18:00"),
    (0.75, 21, "18:00:00"),
    (38289 + 16 / 24, 22, "10/29/2004 16:00"),
    (38289.6666666667, 22, "10/29/2004 16:00"),
    (83 * SECOND, 45, "01:23"),
    (1.5, 46, "36:00:00"),
    (1.5 * SECOND, 47, "00:01.5"),
    # Day, month and year codes.
    (39566, "d-mmm-yy", "28-Apr-08"),
    (39566, "dd/mm/yyyy", "28/04/2008"),
    (39546, "d m yy", "8 4 08"),
    (39546, "dd mm yyyy", "08 04 2008"),
    (39566, "ddd dddd", "Mon Monday"),
    (39566, "mmm mmmm mmmmm", "Apr April A"),
    (39566, "yyyy-mm-dd", "2008-04-28"),
    (39566, "e", "2008"),
    # Times: m after h or before s is minutes.
    (0.5 + 5 * 60 * SECOND, "h:m", "12:5"),
    (0.5 + 5 * 60 * SECOND, "hh:mm", "12:05"),
    (0.5 + 65 * SECOND, "m:ss", "1:05"),
    (39566 + 0.5 + 65 * SECOND, "m/d/yyyy h:mm:ss", "4/28/2008 12:01:05"),
    (39566, "mm/dd", "04/28"),
    (0.25, "hh:mm A/P", "06:00 A"),
    (0.75, "h:mm a/p", "6:00 p"),
    (0.75, "h:mm am/pm", "6:00 pm"),
    (0.99, "h AM/PM", "11 PM"),
    # Durations.
    (2.75, "[h]:mm", "66:00"),
    (1.5, "[mm]:ss", "2160:00"),
    (0.5, "[s]", "43200"),
    (0.5 + 30 * SECOND, "[hh]:mm:ss", "12:00:30"),
    # Literals, escapes, locale and colour parts.
    (39566, 'd "of" mmmm', "28 of April"),
    (39566, "dd\\/mm\\/yyyy", "28/04/2008"),
    (39566, "[$-409]mmmm d, yyyy", "April 28, 2008"),
    (39566, "[$-en-US]mmmm d", "April 28"),
    (39566, "[Red]d-mmm", "28-Apr"),
    (39546, "[$-F800]dddd, mmmm dd, yyyy", "Tuesday, April 8, 2008"),
    (0.75, "[$-F400]h:mm", "6:00:00 PM"),
    (39566, "d-mmm-yy;@", "28-Apr-08"),
    # Rounding to the second shown, then truncating the fields.
    (10 / 24 + 59.6 * SECOND, "h:mm", "10:01"),
    (10 / 24 + 40 * SECOND, "h:mm", "10:00"),
    (10 / 24 + 59.4 * SECOND, "h:mm:ss", "10:00:59"),
    (10 / 24 + 59.5 * SECOND, "h:mm:ss", "10:01:00"),
    (10 / 24 + 59.96 * SECOND, "h:mm:ss.0", "10:01:00.0"),
    (10 / 24 + 59.94 * SECOND, "h:mm:ss.0", "10:00:59.9"),
    (10 / 24 + 59.944 * SECOND, "h:mm:ss.00", "10:00:59.94"),
    (10 / 24 + 59.9444 * SECOND, "hh:mm:ss.000", "10:00:59.944"),
    (0.999994213, "h:mm:ss", "0:00:00"),
    (45000.999994213, "m/d/yyyy h:mm:ss", "3/16/2023 0:00:00"),
    (45000.999994213, "m/d/yyyy", "3/15/2023"),
    # The Lotus 1900-02-29 bug region: serial 60 exists, earlier weekdays follow Excel.
    (0, "m/d/yyyy", "1/0/1900"),
    (1, "m/d/yyyy dddd", "1/1/1900 Sunday"),
    (59, "m/d/yyyy dddd", "2/28/1900 Tuesday"),
    (60, "m/d/yyyy dddd", "2/29/1900 Wednesday"),
    (61, "m/d/yyyy dddd", "3/1/1900 Thursday"),
    (1, "yy yyyy", "00 1900"),
    (2958465, "yyyy-mm-dd", "9999-12-31"),
]


@pytest.mark.parametrize(("serial", "code", "shown"), DATES, ids=[str(d[:2]) for d in DATES])
def test_dates_and_times_as_excel_shows_them(serial: float, code: str | int, shown: str) -> None:
    """Each (serial, format) pair renders as en-US Excel displays it."""
    text = BUILTIN_FORMATS[code] if isinstance(code, int) else code
    assert compile_format(text).render(serial) == shown


@pytest.mark.parametrize(
    ("serial", "code", "shown"),
    [
        (0, "m/d/yyyy", "1/1/1904"),
        (1, "dddd d mmmm yyyy", "Saturday 2 January 1904"),
        (1461, "m/d/yyyy", "1/1/1908"),  # 1904 is a leap year: 366 + 3 * 365
        (0.5, "m/d/yyyy h:mm", "1/1/1904 12:00"),
    ],
)
def test_the_1904_date_system(serial: float, code: str, shown: str) -> None:
    """With workbookPr date1904, serial 0 is 1904-01-01 (a Friday) and there is no Lotus day."""
    assert compile_format(code).render(serial, date1904=True) == shown


@pytest.mark.parametrize(
    ("serial", "code"),
    [
        (-1, "m/d/yyyy"),
        (-0.5, "[h]:mm"),
        (2958466, "m/d/yyyy"),
        (39566, "[$-407]mmmm"),
        (39566, "[$-ja-JP]mmmm"),
        (39566, "B2yyyy"),
        (1.5, "ss.0000"),
        (5, "# ?/?"),
        (5, "_(* #,##0_)"),
        (-5, "[<10]0;0"),
        (float("inf"), "0"),
    ],
)
def test_what_excel_shows_otherwise_is_not_guessed(serial: float, code: str) -> None:
    """Formats not reproduced exactly render None (Excel shows ##### or locale text)."""
    fmt = compile_format(code)
    assert fmt.render(serial) is None


@pytest.mark.parametrize(
    ("value", "code", "shown"),
    [
        (0.256, "0%", "26%"),
        (0.256, "0.0%", "25.6%"),
        (12345, "0.00E+00", "1.23E+04"),
        (0.000123, "0.00E+00", "1.23E-04"),
        (7, '"U"000', "U007"),
        (-1234, "#,##0;(#,##0)", "(1,234)"),
        (0, '0;-0;"zero"', "zero"),
        (-5, '"$"#,##0', "-$5"),
        (5551234, "[<=9999999]###-####;(###) ###-####", "555-1234"),
        (5551234567, "[<=9999999]###-####;(###) ###-####", "(555) 123-4567"),
        (123456789, "000-00-0000", "123-45-6789"),
        (5, "0_)", "5 "),
        (1234.5, "General", "1234.5"),
        (1234.5, '"ID "General', "ID 1234.5"),
        (1.5, "0.0?", "1.5 "),
        (12, "#", "12"),
    ],
)
def test_number_formats(value: float, code: str, shown: str) -> None:
    """Digit placeholders, literals, sections and conditions render as Excel shows them."""
    assert compile_format(code).render(value) == shown


def test_text_section_wraps_text() -> None:
    """A text cell under a format with a text section shows that section's literals around it."""
    assert compile_format('0;-0;0;"Unit "@').render_text("7") == "Unit 7"
    assert compile_format("@").render_text("007") == "007"
    assert compile_format("0.00").render_text("abc") == "abc"


def test_format_number_falls_back_to_general() -> None:
    """format_number gives General text where the format can't be reproduced."""
    assert format_number(5, "# ?/?") == "5"
    assert format_number(39566, "d-mmm-yy") == "28-Apr-08"


@pytest.mark.parametrize(
    ("code", "is_date"),
    [
        ("m/d/yyyy", True),
        ("[h]:mm", True),
        ("0.00E+00", False),
        ("General", False),
        ('"date"0', False),
        ("#,##0", False),
    ],
)
def test_is_date_format(code: str, is_date: bool) -> None:
    """Date, time and duration formats are told apart from number formats."""
    assert is_date_format(code) is is_date


@pytest.mark.parametrize(
    ("text", "date1904", "serial"),
    [
        ("2008-04-28T00:00:00", False, 39566),
        ("2008-04-28T12:00:00Z", False, 39566.5),
        ("1900-02-28", False, 59),
        ("1900-03-01", False, 61),
        ("1904-01-02", True, 1),
    ],
)
def test_serial_from_iso(text: str, date1904: bool, serial: float) -> None:
    """ISO dates of t="d" cells become the serial Excel stores, Lotus day included."""
    assert serial_from_iso(text, date1904) == serial
