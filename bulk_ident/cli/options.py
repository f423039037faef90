"""The command-line options the commands share, and how they become the library's option objects."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from bulk_ident.jobs import ImportOptions
from bulk_ident.net import DEFAULT_BASE_URL, load_api_key
from bulk_ident.prepare import ReadOptions
from bulk_ident.rates import DEFAULT_RATE, parse_rate
from bulk_ident.read.sources import Source
from bulk_ident.sync.resolve import parse_age

F = TypeVar("F", bound=Callable[..., Any])


def _apply(func: F, options: Sequence[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def reading_options(func: F) -> F:
    """The options that say how to read a roster, shared by check, import and results."""
    return _apply(
        func,
        [
            click.argument("roster", metavar="ROSTER"),
            click.option(
                "--sheet", help="Sheet name or number (1 = first); default: first visible."
            ),
            click.option(
                "--map",
                "maps",
                multiple=True,
                metavar="COLUMN=PROPERTY",
                help="Read COLUMN as PROPERTY, e.g. --map 'Badge=unitNum'; or build a property "
                "from columns, e.g. --map 'name={First Name} {Last Name}'. Repeatable.",
            ),
            click.option(
                "--account",
                metavar="UUID|USERNAME",
                help="The account of every row that names none (a roster without an account "
                "column): an account UUID or a CAD username.",
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
        ],
    )


proxy_option = click.option(
    "--proxy",
    metavar="URL",
    help="HTTP proxy for https addresses (the roster's URL, the API); default: HTTPS_PROXY.",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object at the end on stdout (the rest goes to stderr).",
)


def roster_source(values: dict[str, Any]) -> Source:
    """ROSTER, a path or an https URL (Google Sheets links included), read or downloaded.

    With --sheet a Google Sheets link is fetched as the whole workbook, so that any tab can be
    picked; without it, as the CSV of the tab the link shows.
    """
    from bulk_ident.prepare import check_read_options
    from bulk_ident.read.sources import open_source

    check_read_options(read_options(values))  # option mistakes first: a download takes a while
    return open_source(
        values["roster"], proxy=values.get("proxy"), whole_workbook=values.get("sheet") is not None
    )


def read_options(values: dict[str, Any]) -> ReadOptions:
    """The reading options out of a command's parameters."""
    return ReadOptions(
        sheet=values.get("sheet"),
        encoding=values.get("encoding"),
        maps=tuple(values.get("maps") or ()),
        defaults=tuple(values.get("defaults") or ()),
        account=values.get("account"),
    )


results_option = click.option(
    "--results",
    "results_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the sheet (default: beside the roster, ROSTER.results.xlsx or .csv).",
)


def server_options(func: F) -> F:
    """Where the server is and how to authenticate: shared by import and results."""
    return _apply(
        func,
        [
            click.option(
                "--base-url",
                default=DEFAULT_BASE_URL,
                show_default=True,
                help="The Sonoran API (http only for loopback, e.g. the sandbox).",
            ),
            click.option(
                "--api-key-file",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Read the API key from this file (default: the SONORAN_API_KEY variable).",
            ),
            click.option(
                "--state",
                type=click.Path(path_type=Path, dir_okay=False),
                help="The journal file (default: one per community in ~/.local/state/bulk-ident).",
            ),
        ],
    )


def sync_options(func: F) -> F:
    """What an import does: its pace, scope, and which changes it makes."""
    return _apply(
        func,
        [
            click.option(
                "--rate",
                default=str(DEFAULT_RATE),
                show_default=True,
                metavar="N/PERIOD",
                help="Requests your key allows: 10/min, 2/s, 300/h.",
            ),
            results_option,
            click.option(
                "--scope",
                help="The roster's name in the journal, for departures (default: file name).",
            ),
            click.option(
                "--skip-invalid", is_flag=True, help="Send the valid rows even if others are not."
            ),
            click.option(
                "--match-existing/--no-match-existing",
                default=True,
                help="Before creating on an account this journal never saw, list it (one request "
                "per account) and adopt units already there [default: on].",
            ),
            click.option(
                "--update/--no-update",
                default=True,
                help="PATCH rows whose values changed [default: on]; off reports them only.",
            ),
            click.option(
                "--delete-missing",
                is_flag=True,
                help="DELETE identifiers this tool made whose rows left the roster.",
            ),
            click.option(
                "--max-delete",
                type=click.IntRange(min=0),
                metavar="N",
                help="Refuse to delete more than N in one run (default: 10% of the scope, >= 5).",
            ),
            click.option(
                "--retry-failed",
                is_flag=True,
                help="Send again rows the server refused, even if they did not change.",
            ),
            click.option(
                "--verify",
                is_flag=True,
                help="List every account (one request each) and repair drift on the server.",
            ),
            click.option("--dry-run", is_flag=True, help="Send nothing; write the plan."),
            click.option(
                "--accounts-max-age",
                default="24h",
                show_default=True,
                metavar="AGE",
                help="Fetch the account list again when the cached one is older (90m, 24h, 2d); "
                "used when rows name accounts by username or community user ID.",
            ),
        ],
    )


def import_options(values: dict[str, Any]) -> ImportOptions:
    """The import options out of a command's parameters."""
    return ImportOptions(
        read=read_options(values),
        base_url=values["base_url"],
        rate=parse_rate(values["rate"]),
        state=values.get("state"),
        results=values.get("results_path"),
        scope=values.get("scope"),
        skip_invalid=values["skip_invalid"],
        match_existing=values["match_existing"],
        update=values["update"],
        delete_missing=values["delete_missing"],
        max_delete=values.get("max_delete"),
        retry_failed=values["retry_failed"],
        verify=values["verify"],
        dry_run=values["dry_run"],
        proxy=values.get("proxy"),
        accounts_max_age=parse_age(values.get("accounts_max_age") or "24h"),
    )


def api_key(key_file: Path | None, *, required: bool = True) -> str | None:
    """The key from --api-key-file or SONORAN_API_KEY; None if not required and not given."""
    from bulk_ident.errors import InputError

    try:
        return load_api_key(env=os.environ, key_file=key_file)
    except InputError:
        if required:
            raise
        return None
