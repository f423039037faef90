"""Allow ``python -m bulk_ident``."""

from __future__ import annotations

from bulk_ident.cli import run

run()
