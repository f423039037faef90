"""The ``bulk-ident`` command line: a thin layer of click commands over the library's jobs."""

from __future__ import annotations

from bulk_ident.cli import (  # noqa: F401 - importing registers the commands
    accounts_cmd,
    commands,
    sync_cmd,
    tools,
    ui_cmd,
)
from bulk_ident.cli.base import cli, main, run

__all__ = ["cli", "main", "run"]
