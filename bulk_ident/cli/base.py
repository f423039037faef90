"""The ``bulk-ident`` command group and its entry point: the library's errors become one line and
an exit code. The ``cli`` package is the only part of bulk_ident that prints, draws or exits."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from bulk_ident import __version__
from bulk_ident.errors import ApiError, BulkIdentError
from bulk_ident.jobs import EXIT_INPUT, EXIT_OK, EXIT_ROWS, EXIT_STOPPED


class _InOrder(click.Group):
    """Lists the commands in the order of the work, not alphabetically."""

    order = ("template", "accounts", "check", "import", "results", "sync", "ui", "sandbox")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda n: self.order.index(n) if n in self.order else 99)


@click.group(cls=_InOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulk-ident")
def cli() -> None:
    """Import a department roster (CSV or Excel) into Sonoran CAD as unit identifiers."""


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: the library's errors become one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="bulk-ident")
    except ApiError as err:
        click.echo(f"bulk-ident: stopped: {err}", err=True)
        sys.exit(EXIT_STOPPED)
    except BulkIdentError as err:
        click.echo(f"bulk-ident: {err}", err=True)
        sys.exit(EXIT_INPUT)


def run() -> None:
    """The process entry point (console script, ``python -m bulk_ident``): `main`, then a fast exit.

    A large roster leaves millions of small objects behind; freeing them one by one as the
    interpreter shuts down costs a tenth of a second or more for nothing, so once every stream is
    flushed the process ends with ``os._exit``. Files the commands write are closed by then.
    Under coverage measurement the normal exit is kept, so that the data is saved.
    """
    try:
        main()
        code = EXIT_OK
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or EXIT_OK
        else:
            click.echo(str(exc.code), err=True)
            code = EXIT_ROWS
    sys.stdout.flush()
    sys.stderr.flush()
    if "COVERAGE_PROCESS_START" in os.environ or "coverage" in sys.modules:
        sys.exit(code)
    os._exit(code)
