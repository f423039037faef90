"""The ``bulk-ident`` command line: the only module that prints, draws progress or exits."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from bulk_ident import __version__
from bulk_ident.errors import ApiError, BulkIdentError, InputError, JournalError

EXIT_OK = 0
EXIT_ROWS = 1  # finished, but some rows are invalid, duplicate or failed
EXIT_INPUT = 2  # the roster or an option can't be used; nothing was sent
EXIT_STOPPED = 3  # stopped early (unauthorised, rate limited, repeated faults); resumable

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulk-ident")
def cli() -> None:
    """Import a department roster (CSV or Excel) into Sonoran CAD as unit identifiers."""


def reading_options(func: F) -> F:
    """The options that say how to read a roster, shared by check and import."""
    options = [
        click.argument("roster", type=click.Path(path_type=Path, dir_okay=True, exists=False)),
        click.option("--sheet", help="Sheet name or number (1 = first); default: first visible."),
        click.option(
            "--map",
            "maps",
            multiple=True,
            metavar="COLUMN=PROPERTY",
            help="Read COLUMN as PROPERTY, e.g. --map 'Badge=unitNum'. Repeatable.",
        ),
        click.option(
            "--default",
            "defaults",
            multiple=True,
            metavar="PROPERTY=VALUE",
            help="Fill blank cells of PROPERTY, e.g. --default department=LSPD. Repeatable.",
        ),
        click.option(
            "--encoding",
            help="Text encoding of a CSV (default: UTF-8, else Windows-1252), e.g. latin-1.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _summary_head(prep: Any) -> str:
    roster = prep.roster
    details = [f"header on row {roster.header_row}"]
    if roster.encoding:
        names = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp1252": "Windows-1252"}
        details.append(names.get(roster.encoding, roster.encoding))
    if roster.delimiter:
        shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
        details.append(f"{shown.get(roster.delimiter, roster.delimiter)}-separated")
    return f"{prep.where} ({', '.join(details)})"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _print_problems(prep: Any, limit: int = 10) -> None:
    shown = 0
    total = 0
    for c in prep.rows:
        for problem in c.problems:
            total += 1
            if shown < limit:
                sep = ", " if problem.startswith("column ") else ": "
                click.echo(f"  row {c.row.number}{sep}{problem}")
                shown += 1
    if total > shown:
        click.echo(f"  ... and {total - shown} more in the results sheet")


@cli.command()
@reading_options
@click.option(
    "--results",
    "results_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the results sheet (default: ROSTER.results.xlsx/.csv beside the roster).",
)
@click.option(
    "--payloads",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the exact request bodies as JSON Lines, one per valid row.",
)
def check(
    roster: Path,
    sheet: str | None,
    maps: Sequence[str],
    defaults: Sequence[str],
    encoding: str | None,
    results_path: Path | None,
    payloads: Path | None,
) -> None:
    """Dry run: validate ROSTER and show what import would send. No network access.

    Exit 0 when every row is valid, 1 when some are invalid or duplicate, 2 when the file or the
    options can't be used.
    """
    from bulk_ident.check import DUPLICATE, INVALID, check_table, payload_lines, prepare
    from bulk_ident.results import default_results_path, write_table

    prep = prepare(roster, sheet=sheet, encoding=encoding, maps=maps, defaults=defaults)
    out = results_path or default_results_path(roster)
    header, rows = check_table(prep)
    _write(lambda: write_table(out, header, rows, delimiter=prep.roster.delimiter or ","), out)
    if payloads is not None:
        _write(lambda: _write_lines(payloads, payload_lines(prep)), payloads)

    valid, invalid, dupes = len(prep.valid), prep.count(INVALID), prep.count(DUPLICATE)
    click.echo(f"Checked {_summary_head(prep)}")
    click.echo(
        f"  {len(prep.rows)} rows read: {valid} valid, {invalid} invalid, {dupes} duplicate; "
        f"{_plural(prep.roster.blank_rows, 'blank row')} skipped; "
        f"{_plural(len(prep.warnings), 'warning')}"
    )
    for warning in prep.warnings:
        click.echo(f"  warning: {warning}")
    _print_problems(prep)
    click.echo(f"Results: {out}")
    if payloads is not None:
        click.echo(f"Payloads: {payloads} ({valid} rows)")
    sys.exit(EXIT_OK if invalid + dupes == 0 else EXIT_ROWS)


def _write_lines(path: Path, lines: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")


def _write(action: Callable[[], None], path: Path) -> None:
    try:
        action()
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def template(path: Path) -> None:
    """Write an empty roster PATH.xlsx with the canonical headers and dropdowns."""
    from bulk_ident.results import write_template

    if path.suffix.lower() != ".xlsx":
        raise InputError(f"{path}: the template is an Excel file; give a name ending in .xlsx")
    _write(lambda: write_template(path), path)
    click.echo(f"Template written: {path} (fill in the 'Roster' sheet; 'Columns' explains each)")


# -- commands are added below; keep each one a thin layer over the library --


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: the library's errors become one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="bulk-ident")
    except (InputError, JournalError) as err:
        click.echo(f"bulk-ident: {err}", err=True)
        sys.exit(EXIT_INPUT)
    except ApiError as err:
        click.echo(f"bulk-ident: stopped: {err}", err=True)
        sys.exit(EXIT_STOPPED)
    except BulkIdentError as err:
        click.echo(f"bulk-ident: {err}", err=True)
        sys.exit(EXIT_INPUT)
