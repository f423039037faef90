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


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@click.option(
    "--rate",
    "rate_text",
    default="10/min",
    show_default=True,
    metavar="N/PERIOD",
    help="Requests allowed per key, e.g. 10/min, 300/min, 2/s. GET and POST share it.",
)
@click.option(
    "--block",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Lock a key this long after it is rate limited, as production does (about 3600).",
)
@click.option(
    "--accounts",
    "accounts_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON list of account objects: other accounts get 404; the account listing serves these.",
)
@click.option(
    "--fail",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="With probability P, answer a create with 500 before storing.",
)
@click.option(
    "--lose",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="With probability P, store a create, then drop the connection without answering.",
)
@click.option(
    "--slow",
    "slow_text",
    metavar="P:SECONDS",
    help="With probability P, store a create, then answer after SECONDS.",
)
@click.option("--seed", type=int, help="Seed the fault draws, for repeatable rehearsals.")
@click.option("--api-key", metavar="KEY", help="Accept only this key (default: any non-empty one).")
@click.option(
    "--dump",
    type=click.Path(path_type=Path, dir_okay=False),
    help="On exit, write the identifiers held and the request log to this JSON file.",
)
def sandbox(
    port: int,
    rate_text: str,
    block: float,
    accounts_file: Path | None,
    fail: float,
    lose: float,
    slow_text: str | None,
    seed: int | None,
    api_key: str | None,
    dump: Path | None,
) -> None:
    """Run a local stand-in for Sonoran CAD on 127.0.0.1, for rehearsals and tests.

    It answers identifier create and list, and the account look-ups, as the documented v2 API
    does: bearer keys (401 otherwise), a per-key rate limit (429 with Retry-After), validation
    (400 problem+json). Faults (--fail, --lose, --slow) apply to creates only, so listing stays
    reliable for settling unknown outcomes. GET /_sandbox/identifiers and /_sandbox/requests
    show what it holds and what it was asked. Ctrl-C stops it.
    """
    import signal
    import threading

    from bulk_ident.rates import parse_rate
    from bulk_ident.sandbox import Sandbox, SandboxConfig, load_accounts, parse_slow

    slow, slow_seconds = parse_slow(slow_text) if slow_text else (0.0, 0.0)
    config = SandboxConfig(
        port=port,
        rate=parse_rate(rate_text),
        block=block,
        accounts=load_accounts(accounts_file) if accounts_file else None,
        fail=fail,
        lose=lose,
        slow=slow,
        slow_seconds=slow_seconds,
        seed=seed,
        api_key=api_key,
        dump=dump,
    )
    server = Sandbox(config, log=lambda line: click.echo(line, err=True))
    url = server.start()
    click.echo(f"sandbox listening on {url}")  # first stdout line: parents read the URL here
    keys = "only the --api-key key" if api_key else "any non-empty key"
    click.echo(
        f"  accepting {keys} at {config.rate}; use --base-url {url}; "
        f"GET {url}/_sandbox/identifiers shows what it holds; Ctrl-C stops it",
        err=True,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    server.stop()
    click.echo(f"sandbox stopped, holding {len(server.identifiers())} identifier(s)", err=True)


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
