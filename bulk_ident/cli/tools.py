"""The helper commands: the roster template and the local sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import click

from bulk_ident.cli.base import cli
from bulk_ident.errors import InputError


@cli.command(short_help="Write an empty roster template (.xlsx) with dropdowns.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def template(path: Path) -> None:
    """Write an empty roster PATH.xlsx with the canonical headers and dropdowns."""
    from bulk_ident.report.template import write_template

    if path.suffix.lower() != ".xlsx":
        raise InputError(f"{path}: the template is an Excel file; give a name ending in .xlsx")
    if path.exists():
        # It may well be the filled-in roster: never replace it with an empty one.
        raise InputError(f"{path} already exists: give a new file name for the template")
    try:
        write_template(path)
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None
    click.echo(f"Template written: {path} (fill in the 'Roster' sheet; 'Columns' explains each)")


@cli.command(short_help="Run a local Sonoran stand-in on 127.0.0.1 for rehearsals.")
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
    help="Requests allowed per key, e.g. 10/min, 300/min, 2/s. Every API call shares it.",
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
    help="JSON list of accounts (uuid, username, communityUserId, discord, roblox, status): "
    "other accounts get 404; the account listing and look-up serve these.",
)
@click.option(
    "--fail",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="With probability P, answer a write (create, update, delete) with 500, not applied.",
)
@click.option(
    "--lose",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="With probability P, apply a write, then drop the connection without answering.",
)
@click.option(
    "--slow",
    "slow_text",
    metavar="P:SECONDS",
    help="With probability P, apply a write, then answer after SECONDS.",
)
@click.option("--seed", type=int, help="Seed the fault draws, for repeatable rehearsals.")
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Accept only the key in this file (or set BULK_IDENT_SANDBOX_KEY); default: any key.",
)
@click.option(
    "--api-key",
    metavar="KEY",
    help="Accept only this key; visible in ps, so prefer --api-key-file.",
)
@click.option(
    "--serve",
    "serve_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Also serve this folder's files at GET /_files/NAME, to import rosters by URL.",
)
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
    api_key_file: Path | None,
    api_key: str | None,
    serve_dir: Path | None,
    dump: Path | None,
) -> None:
    """Run a local stand-in for Sonoran CAD on 127.0.0.1, for rehearsals and tests.

    It answers identifier create, list, update and delete, and the account listing and
    look-up, as the documented v2 API does: bearer keys (401 otherwise), a per-key rate limit
    (429 with Retry-After), validation (400 problem+json). Faults (--fail, --lose, --slow)
    apply to writes only, so listing stays reliable for settling unknown outcomes.
    GET /_sandbox/identifiers and /_sandbox/requests show what it holds and what it was asked;
    POST /_sandbox/edit changes identifiers out of band. Ctrl-C stops it.
    """
    import signal
    import threading

    from bulk_ident.cad.sandbox import (
        SANDBOX_KEY_ENV,
        Sandbox,
        SandboxConfig,
        fingerprint,
        load_accounts,
        parse_slow,
        sandbox_key,
    )
    from bulk_ident.rates import parse_rate

    if api_key is not None and api_key_file is None:
        click.echo(
            f"warning: --api-key is visible to other users in ps; use --api-key-file FILE "
            f"or {SANDBOX_KEY_ENV} instead",
            err=True,
        )
    only_key = sandbox_key(key=api_key, key_file=api_key_file, env=os.environ)
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
        api_key=only_key,
        dump=dump,
        serve=serve_dir,
    )
    server = Sandbox(config, log=lambda line: click.echo(line, err=True))
    url = server.start()
    click.echo(f"sandbox listening on {url}")  # first stdout line: parents read the URL here
    keys = f"only the key {fingerprint(only_key)}" if only_key else "any non-empty key"
    files = f"; files of {serve_dir} at {url}/_files/NAME" if serve_dir else ""
    click.echo(
        f"  accepting {keys} at {config.rate}; use --base-url {url}; "
        f"GET {url}/_sandbox/identifiers shows what it holds{files}; Ctrl-C stops it",
        err=True,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    server.stop()
    click.echo(f"sandbox stopped, holding {len(server.identifiers())} identifier(s)", err=True)
