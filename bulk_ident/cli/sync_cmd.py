"""``bulk-ident sync CONFIG.toml``: every roster of a config file into one community, in order,
under one key and one pace; the same import as ``import``, once per roster."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from bulk_ident.cli.base import cli
from bulk_ident.cli.commands import finish_code, run_one
from bulk_ident.cli.options import json_option, proxy_option
from bulk_ident.cli.output import (
    StopFlag,
    clock_text,
    emit_json,
    error_exit_code,
    error_line,
    failed_json,
    human_output_to_stderr,
    log_line,
    open_log,
    resume_command,
    run_json,
    say,
    summary,
)
from bulk_ident.errors import BulkIdentError
from bulk_ident.jobs import EXIT_INPUT, EXIT_OK, EXIT_ROWS, EXIT_STOPPED
from bulk_ident.words import plural

if TYPE_CHECKING:
    from bulk_ident.config import RosterConfig

# The worst exit code wins: stopped early, then unusable, then rows needing attention.
_SEVERITY = {EXIT_OK: 0, EXIT_ROWS: 1, EXIT_INPUT: 2, EXIT_STOPPED: 3}


def worst(codes: list[int]) -> int:
    """The exit code of a sync: the worst of its rosters' (3 > 2 > 1 > 0)."""
    return max(codes, key=lambda c: _SEVERITY.get(c, 3), default=EXIT_OK)


@cli.command(short_help="Sync every roster of a config file (TOML) into one community.")
@click.argument("config", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--init",
    "init_path",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write a commented example config to FILE (never over an existing file) and stop.",
)
@click.option("--dry-run", is_flag=True, help="Send nothing; write each roster's plan.")
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Sync only the roster with this name (repeatable).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@proxy_option
@json_option
def sync(
    config: Path | None,
    init_path: Path | None,
    dry_run: bool,
    only: tuple[str, ...],
    quiet: bool,
    proxy: str | None,
    as_json: bool,
) -> None:
    """Sync every roster of CONFIG (a TOML file) into one Sonoran community, in order, under
    one key and one pace: for each, what `import` does. A roster that fails does not stop the
    others.

    Exit code: the worst of the rosters' (3 stopped early > 2 unusable > 1 rows need
    attention > 0 done); 130/143 when interrupted (the remaining rosters are not started).
    `bulk-ident sync --init sync.toml` writes a commented example to start from.
    """
    from bulk_ident.config import load_config, write_example

    if init_path is not None:
        if config is not None:
            raise click.UsageError("give either CONFIG or --init FILE, not both")
        write_example(init_path)
        say(f"Example config written: {init_path} (edit it, then: bulk-ident sync {init_path})")
        return
    if config is None:
        raise click.UsageError("give the config file (or --init FILE to write an example)")
    started = time.monotonic()
    with human_output_to_stderr(as_json):
        try:
            settings = load_config(config, env=os.environ, dry_run=dry_run)
            rosters = settings.select(only)
            if proxy is not None:  # the command line wins over the file, as everywhere
                rosters = tuple(r.with_proxy(proxy) for r in rosters)
            key = settings.api_key(os.environ)
            log = open_log(settings.community.log_file)
        except BulkIdentError as err:
            if as_json:
                emit_json(_sync_json(config, dry_run, error_exit_code(err), started, [], err))
            raise
        try:
            with StopFlag() as stop:
                entries = _run_all(rosters, key, quiet=quiet, log=log, stop=stop)
            stopped = stop()
            codes = [e["exit_code"] for e in entries if e["exit_code"] is not None]
            code = stop.exit_code if stopped else worst(codes)
            _print_overview(config, entries, code, time.monotonic() - started, log)
        finally:
            if log is not None:
                log.close()
    if as_json:
        emit_json(_sync_json(config, dry_run, code, started, entries, None, stopped=stopped))
    sys.exit(code)


def _run_all(
    rosters: tuple[RosterConfig, ...], key: str, *, quiet: bool, log: TextIO | None, stop: StopFlag
) -> list[dict[str, Any]]:
    """Each roster in turn; its JSON entry whatever happened to it."""
    from bulk_ident.read.sources import open_source

    entries: list[dict[str, Any]] = []
    resume = resume_command()
    log_line(log, f"sync {resume}: {plural(len(rosters), 'roster')}")
    for roster in rosters:
        if stop():
            entries.append({"name": roster.name, **failed_json(roster.shown, None, "not run")})
            continue
        say(f"== {roster.name}: {roster.shown}")
        try:
            roster.check_source()
            source = open_source(
                roster.source,
                proxy=roster.options.proxy,
                whole_workbook=roster.options.read.sheet is not None,
            )
            report = run_one(
                source,
                roster.options,
                key,
                quiet=quiet,
                log=log,
                stop=stop,
                command=resume,
                skip=f"set skip_invalid = true in the [[roster]] '{roster.name}'",
            )
        except BulkIdentError as err:
            say(f"{roster.name}: {error_line(err)}", err=True)
            log_line(log, f"{roster.name}: error: {err}")
            entries.append({"name": roster.name, **failed_json(roster.shown, err)})
            continue
        entries.append({"name": roster.name, **run_json(report, finish_code(report, stop))})
    return entries


def _print_overview(
    config: Path, entries: list[dict[str, Any]], code: int, seconds: float, log: TextIO | None
) -> None:
    """One line per roster and the overall exit code, on screen and in the log file."""
    say(f"Sync of {config}: {plural(len(entries), 'roster')} in {clock_text(seconds)}; exit {code}")
    for entry in entries:
        name = entry["name"]
        if entry["stop"] == "not run":
            say(f"  {name}: not run (interrupted first)")
        elif entry["error"] is not None:
            say(f"  {name}: exit {entry['exit_code']}: {entry['error']}")
        else:  # the counts are keyed by result word, which a Result equals
            say(f"  {name}: exit {entry['exit_code']}: {summary(entry['counts'])}")
    parts = ", ".join(
        f"{e['name']} {'-' if e['exit_code'] is None else e['exit_code']}" for e in entries
    )
    log_line(log, f"sync done: exit {code} ({parts})")


def _sync_json(
    config: Path,
    dry_run: bool,
    code: int,
    started: float,
    entries: list[dict[str, Any]],
    err: BaseException | None,
    *,
    stopped: bool = False,
) -> dict[str, Any]:
    return {
        "command": "sync",
        "config": str(config),
        "dry_run": dry_run,
        "exit_code": code,
        "stop": "error" if err is not None else ("interrupted" if stopped else "done"),
        "error": None if err is None else str(err),
        "elapsed_seconds": round(time.monotonic() - started, 3),
        "rosters": entries,
    }
