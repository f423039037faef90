"""Excel number formats: the text en-US Excel shows for a number under a format code.

Pure functions over (value, format code): General numbers, digit formats (0 # ? , . % E+),
literal text, sections and conditions, and date sections (rendered by ``datefmt.py``). A format
this module can't reproduce exactly renders as None with a reason, so the caller can fall back
and say so.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from bulk_ident.read.datefmt import render_date

__all__ = [
    "BUILTIN_FORMATS",
    "Format",
    "compile_format",
    "format_number",
    "general_number",
    "is_date_format",
    "is_simple_format",
]

# en-US Excel's built-in formats. 14 and 22 follow the system short date (m/d/yyyy); 47 is
# listed as "mmss.0" in ECMA-376 but Excel shows it as mm:ss.0.
BUILTIN_FORMATS: dict[int, str] = {
    0: "General",
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    5: '"$"#,##0_);\\("$"#,##0\\)',
    6: '"$"#,##0_);[Red]\\("$"#,##0\\)',
    7: '"$"#,##0.00_);\\("$"#,##0.00\\)',
    8: '"$"#,##0.00_);[Red]\\("$"#,##0.00\\)',
    9: "0%",
    10: "0.00%",
    11: "0.00E+00",
    12: "# ?/?",
    13: "# ??/??",
    14: "m/d/yyyy",
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM",
    20: "h:mm",
    21: "h:mm:ss",
    22: "m/d/yyyy h:mm",
    37: "#,##0 ;(#,##0)",
    38: "#,##0 ;[Red](#,##0)",
    39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)",
    41: '_(* #,##0_);_(* \\(#,##0\\);_(* "-"_);_(@_)',
    42: '_("$"* #,##0_);_("$"* \\(#,##0\\);_("$"* "-"_);_(@_)',
    43: '_(* #,##0.00_);_(* \\(#,##0.00\\);_(* "-"??_);_(@_)',
    44: '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)',
    45: "mm:ss",
    46: "[h]:mm:ss",
    47: "mm:ss.0",
    48: "##0.0E+0",
    49: "@",
}

_LONG_DATE = "dddd, mmmm d, yyyy"  # [$-F800]: the en-US system long date
_LONG_TIME = "h:mm:ss AM/PM"  # [$-F400]: the en-US system time


def general_number(value: float) -> str:
    """A number as Excel's General format shows it, without ever switching to scientific notation.

    Whole numbers keep their shortest exact digits (101.0 -> "101"); fractions are rounded to 15
    significant digits, which removes binary noise (0.1 + 0.2 -> "0.3").
    """
    if value.is_integer():
        if abs(value) < 1e15:
            return str(int(value))
        return _plain(Decimal(repr(value)))
    return _plain(Decimal(format(value, ".15g")))


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


_SIMPLE_FORMAT = re.compile(r"[0#,]*[0#][0#,]*(?:\.[0#]*)?|\.[0#]+")


def is_simple_format(code: str) -> bool:
    """True for number formats made only of 0 # , . (first section)."""
    return _SIMPLE_FORMAT.fullmatch(code.split(";", 1)[0]) is not None


def format_number(value: float, code: str) -> str:
    """The text Excel shows for ``value`` under ``code``; General text if that can't be exact."""
    text = compile_format(code).render(float(value))
    return general_number(float(value)) if text is None else text


def is_date_format(code: str) -> bool:
    """True when the format shows dates, times or durations."""
    return any(s.kind == "date" for s in compile_format(code).sections)


# --------------------------------------------------------------------------- parsed formats

_COLOUR = re.compile(r"black|blue|cyan|green|magenta|red|white|yellow|color\s*\d+", re.IGNORECASE)
_CONDITION = re.compile(r"(<=|>=|<>|<|>|=)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")
_ELAPSED = re.compile(r"(h+|m+|s+)", re.IGNORECASE)


@dataclass
class _Section:
    """One ;-separated part of a format code, tokenised."""

    tokens: list[tuple[str, str]] = field(default_factory=list)
    condition: tuple[str, float] | None = None
    kind: str = "literal"  # literal | number | date | general | text
    problem: str = ""  # why this section can't be shown exactly, if it can't
    plan: _NumberPlan | None = None  # for number sections, worked out on first use

    def literal(self, text: str) -> None:
        if self.tokens and self.tokens[-1][0] == "lit":
            self.tokens[-1] = ("lit", self.tokens[-1][1] + text)
        else:
            self.tokens.append(("lit", text))


def _split_sections(code: str) -> list[str]:
    sections, start, i, quoted = [], 0, 0, False
    while i < len(code):
        ch = code[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\\_*":
            i += 1
        elif not quoted and ch == ";":
            sections.append(code[start:i])
            start = i + 1
        i += 1
    sections.append(code[start:])
    return sections


def _has_date_tokens(text: str) -> bool:
    """Whether a section shows a date or time (letters outside quotes, escapes and brackets)."""
    cleaned = re.sub(r'"[^"]*"?|\\.|[_*].', "", text)
    if re.search(r"\[(?:h+|m+|s+)\]", cleaned, re.IGNORECASE):
        return True
    cleaned = re.sub(r"\[[^]]*\]?|general|[eE][-+]", "", cleaned, flags=re.IGNORECASE)
    return re.search(r"[ymdhse]|am/pm|a/p", cleaned, re.IGNORECASE) is not None


def _parse_section(text: str) -> _Section:
    section = _Section()
    is_date = _has_date_tokens(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        low = ch.lower()
        if ch == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            section.literal(text[i + 1 : end])
            i = end + 1
        elif ch == "\\":
            section.literal(text[i + 1 : i + 2])
            i += 2
        elif ch == "_":
            section.literal(" " if i + 1 < n else "")
            i += 2
        elif ch == "*":
            section.problem = section.problem or "it repeats a character to fill the cell"
            i += 2
        elif ch == "[":
            end = text.find("]", i)
            end = n if end < 0 else end
            _bracket(section, text[i + 1 : end], is_date)
            i = end + 1
        elif text[i : i + 7].lower() == "general":
            section.tokens.append(("general", ""))
            i += 7
        elif ch == "@":
            section.tokens.append(("text", ""))
            i += 1
        elif is_date and text[i : i + 5].lower() == "am/pm":
            section.tokens.append(("ampm", text[i : i + 5]))
            i += 5
        elif is_date and text[i : i + 3].lower() == "a/p":
            section.tokens.append(("ampm", text[i : i + 3]))
            i += 3
        elif is_date and low in "ymdhse":
            j = i
            while j < n and text[j].lower() == low:
                j += 1
            if low == "e":  # the era year, which in English is the year
                section.tokens.append(("y", "yyyy"))
            else:
                section.tokens.append((low, low * (j - i)))
            i = j
        elif is_date and ch == "." and i + 1 < n and text[i + 1] == "0":
            j = i + 1
            while j < n and text[j] == "0":
                j += 1
            section.tokens.append(("frac", text[i + 1 : j]))
            i = j
        elif is_date and low in "gb":
            section.problem = section.problem or "it uses a non-Gregorian calendar or era"
            i += 1
        elif not is_date and ch in "0#?.,%":
            section.tokens.append(("digit", ch))
            i += 1
        elif not is_date and low == "e" and i + 1 < n and text[i + 1] in "+-":
            section.tokens.append(("exp", text[i + 1]))
            i += 2
        elif not is_date and ch == "/" and any(t[0] == "digit" for t in section.tokens):
            section.problem = section.problem or "it shows fractions"
            section.literal(ch)
            i += 1
        else:
            section.literal(ch)
            i += 1
    kinds = {kind for kind, _ in section.tokens}
    if is_date:
        section.kind = "date"
    elif "digit" in kinds or "exp" in kinds:
        section.kind = "number"
    elif "general" in kinds:
        section.kind = "general"
    elif "text" in kinds:
        section.kind = "text"
    return section


def _bracket(section: _Section, inner: str, is_date: bool) -> None:
    """[Red], [<=100], [$-409], [$€-407], [h], [mm], [ss]."""
    if _COLOUR.fullmatch(inner.strip()):
        return
    condition = _CONDITION.fullmatch(inner.strip())
    if condition:
        section.condition = (condition.group(1), float(condition.group(2)))
        return
    if _ELAPSED.fullmatch(inner):
        section.tokens.append(("elapsed", inner.lower()))
        return
    if inner.startswith("$"):
        symbol, _, locale = inner[1:].partition("-")
        if symbol:
            section.literal(symbol)
        code = locale.strip().upper()
        if code in {"F800", "X-SYSDATE"}:
            section.tokens.append(("system", _LONG_DATE))
        elif code in {"F400", "X-SYSTIME"}:
            section.tokens.append(("system", _LONG_TIME))
        elif code and is_date and not code.startswith("EN"):
            try:
                lcid = int(code, 16)
            except ValueError:
                lcid = -1
            # The low 10 bits are the language (9 = English); higher bytes pick a calendar or
            # digits, which only the plain Gregorian ones (0, 1) leave as written.
            if lcid < 0 or lcid & 0x3FF != 0x09 or (lcid >> 16) & 0xFF > 1 or lcid >> 24:
                section.problem = section.problem or f"it is written for locale [$-{locale}]"
        return
    section.problem = section.problem or f"it has an unknown [{inner}] part"


@dataclass
class Format:
    """A compiled format code; ``render(value)`` gives Excel's text or None (see ``problem``)."""

    code: str
    sections: list[_Section]
    numeric: list[_Section] = field(init=False)
    conditional: bool = field(init=False)

    def __post_init__(self) -> None:
        self.numeric = [s for s in self.sections if s.kind != "text"] or [_Section()]
        self.conditional = any(s.condition for s in self.numeric)

    @property
    def problem(self) -> str:
        """Why some values can't be shown exactly ("" if every value can)."""
        return next((s.problem for s in self.sections if s.problem), "")

    def render(self, value: float, date1904: bool = False) -> str | None:
        """The text Excel shows for a number, or None when this module can't reproduce it."""
        value = float(value)
        if not math.isfinite(value):
            return None
        chosen = self._choose(value)
        if chosen is None:
            return None
        section, number = chosen
        if section.problem:
            return None
        if section.kind == "date":
            return render_date(_date_tokens(section), number, date1904)
        if section.kind == "number":
            rendered = _render_number(section, abs(number))
            if rendered is None:
                return None
            text, shows_zero = rendered
            return "-" + text if number < 0 and not shows_zero else text
        out = []
        for kind, text in section.tokens:
            if kind == "general":
                out.append(general_number(abs(number)))
            elif kind == "lit":
                out.append(text)
        joined = "".join(out)
        return "-" + joined if number < 0 else joined

    def render_text(self, text: str) -> str:
        """The text Excel shows for a text cell: the text section's literals around it, if any."""
        sections = self.sections
        section = next((s for s in sections if s.kind == "text"), None)
        if section is None and len(sections) >= 4:
            section = sections[3]
        if section is None:
            return text
        return "".join(text if kind == "text" else value for kind, value in section.tokens)

    def _choose(self, value: float) -> tuple[_Section, float] | None:
        """The section for this value and the number it shows (its sign already given)."""
        sections = self.numeric
        if self.conditional:
            if value < 0:
                return None  # the sign rules of conditional sections are not reproduced
            for section in sections[:2]:
                if section.condition and _meets(value, section.condition):
                    return section, value
            rest = [s for s in sections if not s.condition]
            return (rest[0], value) if rest else None
        if len(sections) == 1 or value > 0 or (value == 0 and len(sections) == 2):
            return sections[0], value
        if value < 0:
            return sections[1], abs(value)
        return sections[2], value


def _date_tokens(section: _Section) -> list[tuple[str, str]]:
    """A date section's tokens; a system format ([$-F800]) stands for the en-US one it names."""
    system = next((t for t in section.tokens if t[0] == "system"), None)
    if system is None:
        return section.tokens
    return compile_format(system[1]).sections[0].tokens


def _meets(value: float, condition: tuple[str, float]) -> bool:
    op, limit = condition
    return {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
        "=": value == limit,
        "<>": value != limit,
    }[op]


@functools.lru_cache(maxsize=256)
def compile_format(code: str) -> Format:
    """Parses a format code once; the same code is shared by many cells."""
    if code.strip().lower() in {"general", ""}:
        return Format(code, [_Section([("general", "")], kind="general")])
    sections = [_parse_section(part) for part in _split_sections(code)[:4]]
    return Format(code, sections)


# --------------------------------------------------------------------------- numbers


@dataclass(frozen=True, slots=True)
class _NumberPlan:
    """The digit layout of a number section, worked out once."""

    scientific: bool
    percent: int
    scale: int  # each comma right of the digits divides by 1000
    grouping: bool
    int_slots: str
    frac_slots: str
    simple: int | None  # minimum digits, when the section is only 0 and # placeholders


def _plan(section: _Section) -> _NumberPlan:
    places = "".join(v for k, v in section.tokens if k == "digit")
    percent = places.count("%")
    int_part, _, frac_part = places.replace("%", "").partition(".")
    scale = 0
    while int_part.endswith(","):
        int_part, scale = int_part[:-1], scale + 1
    int_slots = "".join(c for c in int_part if c in "0#?")
    frac_slots = "".join(c for c in frac_part if c in "0#?")
    simple = None
    only_digits = all(k == "digit" and v in "0#" for k, v in section.tokens)
    if only_digits and re.fullmatch("#*0*", int_slots) and not frac_slots and "." not in places:
        simple = int_slots.count("0")
    plan = _NumberPlan(
        scientific=any(k == "exp" for k, _ in section.tokens),
        percent=percent,
        scale=scale,
        grouping="," in int_part.strip(","),
        int_slots=int_slots,
        frac_slots=frac_slots,
        simple=simple,
    )
    section.plan = plan
    return plan


def _render_number(section: _Section, value: float) -> tuple[str, bool] | None:
    """Digits into the placeholders of a number section (value is already non-negative), and
    whether the number shown is zero, which Excel shows without a minus sign."""
    plan = section.plan or _plan(section)
    whole_number = value.is_integer() and value < 1e15
    if plan.simple is not None and whole_number:
        return (str(int(value)) if value else "").rjust(plan.simple, "0"), value == 0
    if plan.scientific:
        text = _render_scientific(section, value)
        return None if text is None else (text, value == 0)
    int_slots, frac_slots = plan.int_slots, plan.frac_slots
    if whole_number and not plan.percent and not plan.scale:
        number = Decimal(int(value))
        whole, frac = str(int(value)) if value else "", "0" * len(frac_slots)
    else:
        number = Decimal(format(value, ".15g")).scaleb(2 * plan.percent - 3 * plan.scale)
        number = number.quantize(Decimal(1).scaleb(-len(frac_slots)), rounding=ROUND_HALF_UP)
        whole, _, frac = format(number, "f").partition(".")
        whole = whole.lstrip("0")
        frac = frac.ljust(len(frac_slots), "0")
    grouping = plan.grouping
    point = "." in "".join(v for k, v in section.tokens if k == "digit")
    tokens = section.tokens

    # Integer slots are filled from the right; leftover digits go to the leftmost slot.
    int_text: list[str] = []
    remaining = whole
    for slot in reversed(int_slots):
        if remaining:
            int_text.append(remaining[-1])
            remaining = remaining[:-1]
        else:
            int_text.append({"0": "0", "?": " ", "#": ""}[slot])
    int_text.reverse()
    if int_text:
        int_text[0] = remaining + int_text[0]
    elif remaining:
        int_text = [remaining]
    if grouping:
        joined = "".join(int_text)
        core = joined.lstrip(" ")
        pad = joined[: len(joined) - len(core)]
        grouped = _group(core)
        int_text = [pad + grouped] + [""] * (len(int_text) - 1)

    frac_text = list(frac)
    for i in range(len(frac_slots) - 1, -1, -1):
        if frac_text[i] != "0" or frac_slots[i] == "0":
            break
        frac_text[i] = " " if frac_slots[i] == "?" else ""

    out: list[str] = []
    int_iter = iter(int_text)
    frac_iter = iter(frac_text)
    in_fraction = False
    for kind, text in tokens:
        if kind == "lit":
            out.append(text)
        elif kind == "general":
            out.append(general_number(value))
        elif kind == "text":
            continue
        elif text == ".":
            if not in_fraction:
                out.append(".")
            in_fraction = True
        elif text == "%":
            out.append("%")
        elif text in "0#?":
            out.append(next(frac_iter, "") if in_fraction else next(int_iter, ""))
    if point and not in_fraction:
        out.append(".")
    return "".join(out), number == 0


def _group(digits: str) -> str:
    if len(digits) <= 3:
        return digits
    head = len(digits) % 3 or 3
    return ",".join([digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))])


def _render_scientific(section: _Section, value: float) -> str | None:
    """0.00E+00 and friends, with a single integer digit (engineering forms are not reproduced)."""
    mantissa: list[str] = []
    exponent: list[str] = []
    sign = "+"
    target = mantissa
    lits_before: list[str] = []
    lits_after: list[str] = []
    for kind, text in section.tokens:
        if kind == "exp":
            sign, target = text, exponent
        elif kind == "digit":
            target.append(text)
        elif kind == "lit":
            (lits_before if not mantissa else lits_after).append(text)
    int_slots, _, frac_slots = "".join(mantissa).partition(".")
    if len(int_slots.replace(",", "")) != 1 or not exponent:
        return None
    decimals = len(frac_slots)
    if value == 0:
        coefficient, power = Decimal(0), 0
    else:
        power = math.floor(math.log10(value))
        coefficient = Decimal(format(value, ".15g")).scaleb(-power)
        coefficient = coefficient.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        if coefficient >= 10:
            power += 1
            coefficient = (coefficient / 10).quantize(
                Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
            )
    text = format(coefficient, "f")
    if "." in mantissa and "." not in text:
        text += "."
    exp_sign = "-" if power < 0 else ("+" if sign == "+" else "")
    exp_text = str(abs(power)).rjust(len(exponent), "0")
    return "".join(lits_before) + text + "E" + exp_sign + exp_text + "".join(lits_after)
