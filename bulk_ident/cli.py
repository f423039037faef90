"""The ``bulk-ident`` command line: the only module that prints, draws progress or exits."""

from __future__ import annotations

import click

from bulk_ident import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulk-ident")
def cli() -> None:
    """Import a department roster (CSV or Excel) into Sonoran CAD as unit identifiers."""


# -- commands are added below; keep each one a thin layer over the library --


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="bulk-ident")
