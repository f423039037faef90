"""The ``bulk-ident`` command line: a thin layer of click commands over the library's jobs."""

from __future__ import annotations

from bulk_ident.cli import commands, tools, ui_cmd  # noqa: F401 - importing registers them
from bulk_ident.cli.base import cli, main, run

__all__ = ["cli", "main", "run"]
