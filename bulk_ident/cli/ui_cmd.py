"""``bulk-ident ui``: the whole flow in a browser tab, served on this computer only."""

from __future__ import annotations

import os

import click

from bulk_ident.cli.base import cli
from bulk_ident.cli.output import say


@cli.command(short_help="Open the page: the whole flow in a browser tab on this computer.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 [default: a free one].",
)
@click.option("--no-browser", is_flag=True, help="Print the address only; don't open a browser.")
def ui(port: int, no_browser: bool) -> None:
    """Serve the page on 127.0.0.1 and open it in your browser: roster, columns, review and
    fixes, connection, preview, a paced journaled sync, results and a scheduled-sync file.

    The address holds a token made for this launch; without it the page answers 403. The API
    key is read from SONORAN_API_KEY or typed into the page, and kept in memory only. The sync
    uses the same journal as `bulk-ident import`, so either can resume the other's run.
    Ctrl-C stops the page (and a running sync, after the request in flight).
    """
    from bulk_ident.web.server import serve

    def announce(text: str) -> None:
        if text.startswith("http"):
            say(f"bulk-ident ui: open {text}")
            say("  (the address holds this launch's token; Ctrl-C stops the page)")
        else:
            say(f"bulk-ident ui: {text}", err=True)

    try:
        serve(port, open_browser=not no_browser, announce=announce, env=os.environ)
    except KeyboardInterrupt:
        # Ctrl-C is how the page is closed: the server has already stopped any sync cleanly.
        say("bulk-ident ui: stopped", err=True)
