"""The ``bulk-ident`` command line: the only module that prints, draws progress or exits."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from bulk_ident import __version__
from bulk_ident.errors import ApiError, BulkIdentError, InputError, JournalError
from bulk_ident.read.roster import collector_paused
from bulk_ident.report.results import default_results_path, number_columns, write_table

if TYPE_CHECKING:
    from bulk_ident.cad.client import RequestRecord
    from bulk_ident.sync.importer import Event

EXIT_OK = 0
EXIT_ROWS = 1  # finished, but some rows are invalid, duplicate or failed
EXIT_INPUT = 2  # the roster or an option can't be used; nothing was sent
EXIT_STOPPED = 3  # stopped early (unauthorised, rate limited, repeated faults); resumable

F = TypeVar("F", bound=Callable[..., Any])


class _InOrder(click.Group):
    """Lists the commands in the order of the work, not alphabetically."""

    order = ("template", "check", "import", "results", "sandbox")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda n: self.order.index(n) if n in self.order else 99)


@click.group(cls=_InOrder, context_settings={"help_option_names": ["-h", "--help"]})
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


results_option = click.option(
    "--results",
    "results_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the results sheet (default: ROSTER.results.xlsx/.csv beside the roster).",
)


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
    for c in prep.flawed:
        for problem in c.problems:
            total += 1
            if shown < limit:
                sep = ", " if problem.startswith("column ") else ": "
                click.echo(f"  row {c.row.number}{sep}{problem}")
                shown += 1
    if total > shown:
        click.echo(f"  ... and {total - shown} more in the results sheet")


@cli.command(short_help="Dry run: validate a roster and show what import would send.")
@reading_options
@results_option
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
    from bulk_ident.prepare import DUPLICATE, INVALID, check_table, payload_lines, prepare

    with collector_paused():
        prep = prepare(roster, sheet=sheet, encoding=encoding, maps=maps, defaults=defaults)
        out = results_path or default_results_path(roster)
        _refuse_overwriting(roster, out, payloads)
        header, rows = check_table(prep)
        _write_results(prep, out, header, rows)
        if payloads is not None:
            _write(lambda: _write_lines(payloads, payload_lines(prep)), payloads)

    valid, invalid, dupes = len(prep.valid), prep.count(INVALID), prep.count(DUPLICATE)
    click.echo(f"Checked {_summary_head(prep)}")
    click.echo(
        f"  {_plural(len(prep.rows), 'row')} read: {valid} valid, {invalid} invalid, "
        f"{dupes} duplicate; "
        f"{_plural(prep.roster.blank_rows, 'blank row')} skipped; "
        f"{_plural(len(prep.warnings), 'warning')}"
    )
    for warning in prep.warnings:
        click.echo(f"  warning: {warning}")
    _print_problems(prep)
    click.echo(f"Results: {out}")
    if payloads is not None:
        click.echo(f"Payloads: {payloads} ({_plural(valid, 'row')})")
    sys.exit(EXIT_OK if invalid + dupes == 0 else EXIT_ROWS)


def _write_lines(path: Path, lines: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")


def _write_results(prep: Any, out: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    """The results sheet in the roster's format; bulk-ident's number columns as numbers."""
    numbers = number_columns(header, len(prep.roster.columns))
    delimiter = prep.roster.delimiter or ","
    _write(lambda: write_table(out, header, rows, delimiter=delimiter, numbers=numbers), out)


def _refuse_overwriting(roster: Path, *outputs: Path | None) -> None:
    """A results or payloads path naming the roster itself would destroy the user's data."""
    for out in outputs:
        if out is not None and out.exists() and os.path.samefile(out, roster):
            raise InputError(f"{out} is the roster itself: choose another path for the output")


def _write(action: Callable[[], None], path: Path) -> None:
    try:
        action()
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None


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
    _write(lambda: write_template(path), path)
    click.echo(f"Template written: {path} (fill in the 'Roster' sheet; 'Columns' explains each)")


# -- commands are added below; keep each one a thin layer over the library --


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


# -- import: the main job ----------------------------------------------------------------------

_EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


class _StopFlag:
    """Set by the first SIGINT/SIGTERM; a second one interrupts the request in flight."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: object) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        click.echo(
            f"\n{self.signal}: finishing the request in flight, then stopping "
            "(press Ctrl-C again to abandon it)",
            err=True,
        )

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Progress:
    """The tqdm bar on stderr and the --log-file lines; both silent when not wanted."""

    def __init__(self, total: int, interval: float, *, show: bool, log: TextIO | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="row",
            file=sys.stderr,
            disable=not show,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )
        self.interval = interval
        self.total = total
        self.created = 0
        self.failed = 0
        self.row = 0
        self.log = log

    def _postfix(self, waiting: float | None = None) -> None:
        left = self.total - self.bar.n
        eta = max(left * self.interval - self.interval, 0) + (waiting or 0)
        # Fixed width, so that the bar does not jump as the countdown comes and goes.
        doing = f"next in {waiting:3.0f}s" if waiting is not None and waiting >= 0.5 else "sending"
        text = f"created {self.created}, failed {self.failed}, ETA {_clock_text(eta)}, {doing:<12}"
        self.bar.set_postfix_str(text, refresh=True)

    def on_event(self, event: Event) -> None:
        if event.kind == "send":
            self.row = event.row
        elif event.kind in ("created", "adopted"):
            self.created += 1
            self.bar.update(1)
        elif event.kind == "failed":
            self.failed += 1
            self.bar.update(1)
        elif event.kind == "rate_limited":
            self.bar.write(
                f"row {event.row}: rate limited by the server; waiting {event.detail}s and "
                "slowing down (is the key used elsewhere?)"
            )
        self._postfix()

    def on_wait(self, seconds: float) -> None:
        self._postfix(seconds)

    def on_request(self, record: RequestRecord) -> None:
        if self.log is not None:
            when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            status = record.status if record.status is not None else "-"
            self.log.write(
                f"{when} row={self.row} {record.method} {record.path} status={status} "
                f"{record.seconds * 1000:.0f}ms\n"
            )
            self.log.flush()

    def close(self) -> None:
        self.bar.close()


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def server_options(func: F) -> F:
    """Where the server is and how to authenticate: shared by import and results."""
    options = [
        click.option(
            "--base-url",
            default="https://api.sonorancad.com",
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
            help="The journal file (default: one per community under ~/.local/state/bulk-ident).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("import", short_help="Create one identifier per valid row: paced, resumable.")
@reading_options
@server_options
@click.option("--rate", default="10/min", show_default=True, help="Requests allowed: N/min, N/s.")
@results_option
@click.option("--skip-invalid", is_flag=True, help="Send the valid rows even if others are not.")
@click.option(
    "--match-existing",
    is_flag=True,
    help="Before creating a row this journal has never seen, list its account (one request "
    "per account) and adopt an identifier with the same unit number instead of creating it "
    "again. For a journal that was lost, or a sync from another computer.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append one line per request (time, row, method, path, status, duration).",
)
def import_(
    roster: Path,
    sheet: str | None,
    maps: Sequence[str],
    defaults: Sequence[str],
    encoding: str | None,
    base_url: str,
    api_key_file: Path | None,
    state: Path | None,
    rate: str,
    results_path: Path | None,
    skip_invalid: bool,
    match_existing: bool,
    quiet: bool,
    log_file: Path | None,
) -> None:
    """Create one identifier per valid row of ROSTER, paced, resumable, never twice.

    Re-running the same command resumes: rows already created are reported, not sent again.
    Exit 0 all created; 1 some rows invalid, duplicate or failed; 2 unusable input; 3 stopped
    early (resumable); 130/143 interrupted.
    """
    from bulk_ident.cad.client import SonoranClient, check_base_url, key_fingerprint, load_api_key
    from bulk_ident.prepare import prepare
    from bulk_ident.rates import parse_rate
    from bulk_ident.sync.importer import DONE, INTERRUPTED, Importer
    from bulk_ident.sync.journal import Journal, default_journal_path
    from bulk_ident.sync.pacing import Pacer, default_state_path
    from bulk_ident.sync.plan import ALREADY, plan_import

    pace = parse_rate(rate)
    url = check_base_url(base_url)
    api_key = load_api_key(env=os.environ, key_file=api_key_file)
    fingerprint = key_fingerprint(api_key)
    with collector_paused():
        prep = prepare(roster, sheet=sheet, encoding=encoding, maps=maps, defaults=defaults)
    out = results_path or default_results_path(roster)
    _refuse_overwriting(roster, out, log_file, state)
    community = f"{url}#{fingerprint}"
    journal_path = state or default_journal_path(community)
    started = time.time()
    with Journal.open(journal_path, community) as journal:
        click.echo(f"Importing {_summary_head(prep)}")
        click.echo(f"  into {url} with {fingerprint} at {pace}; journal: {journal_path}")
        for warning in prep.warnings:
            click.echo(f"  warning: {warning}")
        bad = len(prep.rows) - len(prep.valid)
        if bad and not skip_invalid:
            held = (
                f"not sent: {bad} rows are invalid or duplicate; fix them, or run again with "
                "--skip-invalid"
            )
            _print_problems(prep)
            _import_report(prep, journal, out, started, held, time.time() - started)
            click.echo(f"Nothing sent: {_plural(bad, 'row')} invalid or duplicate (see above).")
            click.echo("Fix them and run again, or add --skip-invalid to send the valid rows.")
            sys.exit(EXIT_ROWS)
        steps = plan_import(prep.valid, journal.entries())
        todo = sum(1 for s in steps if s.action != ALREADY)
        log = _open_log(log_file)
        try:
            with (
                Pacer(
                    pace, state_path=default_state_path(fingerprint), key_id=fingerprint
                ) as pacer,
                _StopFlag() as stop,
            ):
                show = not quiet and sys.stderr.isatty()
                progress = _Progress(todo, pacer.interval, show=show, log=log)
                client = SonoranClient(url, api_key, on_request=progress.on_request)
                importer = Importer(
                    client,
                    journal,
                    pacer,
                    source_file=str(roster),
                    stop=stop,
                    on_event=progress.on_event,
                    on_wait=progress.on_wait if show else None,
                    match_existing=match_existing,
                )
                try:
                    outcome = importer.run(steps)
                except KeyboardInterrupt:
                    stop.signal = stop.signal or "SIGINT"
                    outcome = importer.interrupted()
                finally:
                    progress.close()
                    client.close()
        except Exception:
            # Whatever stopped the run (a full disk, a bug), the sheet still says where every
            # row stands: the journal has each outcome.
            with contextlib.suppress(Exception):
                _import_report(prep, journal, out, started, None, time.time() - started)
            raise
        finally:
            if log is not None:
                log.close()
        counts = _import_report(prep, journal, out, started, None, time.time() - started)
    click.echo(f"  requests: {outcome.posts} POST, {outcome.lists} GET")
    if outcome.stop == DONE:
        sys.exit(EXIT_OK if counts_ok(counts) else EXIT_ROWS)
    resume = "bulk-ident " + shlex.join(sys.argv[1:])
    if outcome.stop == INTERRUPTED:
        click.echo(f"Interrupted. To resume: {resume}", err=True)
        sys.exit(_EXIT_SIGNAL.get(stop.signal or "SIGINT", 130))
    when = ""
    if outcome.resume_after is not None:
        when = " after " + time.strftime("%H:%M", time.localtime(outcome.resume_after))
    click.echo(f"Stopped early: {outcome.message}.", err=True)
    click.echo(f"To resume{when}: {resume}", err=True)
    sys.exit(EXIT_STOPPED)


def counts_ok(counts: dict[str, int]) -> bool:
    """Every row created or already created."""
    from bulk_ident.sync.plan import R_ALREADY, R_CREATED

    return all(n == 0 for result, n in counts.items() if result not in (R_CREATED, R_ALREADY))


def _open_log(path: Path | None) -> TextIO | None:
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8")
    except OSError as err:
        raise InputError(f"can't write the log file {path}: {err.strerror or err}") from None


def _import_report(
    prep: Any, journal: Any, out: Path, started: float | None, held: str | None, elapsed: float
) -> dict[str, int]:
    """Write the results sheet from the journal and print the summary; return the counts."""
    from bulk_ident.sync.plan import count_results, import_table, row_results

    results = row_results(prep, journal.entries(), run_started=started, held_back=held)
    header, rows = import_table(prep, results)
    _write_results(prep, out, header, rows)
    counts = count_results(results)
    click.echo("Summary: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    click.echo(f"  elapsed {_clock_text(elapsed)}; results: {out}; journal: {journal.path}")
    return counts


@cli.command(short_help="Rebuild the results sheet from the journal (no network).")
@reading_options
@server_options
@results_option
def results(
    roster: Path,
    sheet: str | None,
    maps: Sequence[str],
    defaults: Sequence[str],
    encoding: str | None,
    base_url: str,
    api_key_file: Path | None,
    state: Path | None,
    results_path: Path | None,
) -> None:
    """Rebuild the results sheet of ROSTER from the journal, without network access."""
    from bulk_ident.cad.client import check_base_url, key_fingerprint, load_api_key
    from bulk_ident.prepare import prepare
    from bulk_ident.sync.journal import Journal, default_journal_path, only_community

    url = check_base_url(base_url)
    try:
        api_key: str | None = load_api_key(env=os.environ, key_file=api_key_file)
    except InputError:
        if state is None:
            raise
        api_key = None  # the journal file was named: it tells the community itself
    prep = prepare(roster, sheet=sheet, encoding=encoding, maps=maps, defaults=defaults)
    if api_key is not None:
        community = f"{url}#{key_fingerprint(api_key)}"
        journal_path = state or default_journal_path(community)
    else:
        assert state is not None
        journal_path = state
        community = only_community(state)
    if not journal_path.exists():
        raise InputError(f"no journal at {journal_path}: has this roster been imported here?")
    out = results_path or default_results_path(roster)
    _refuse_overwriting(roster, out)
    with Journal.open(journal_path, community) as journal:
        click.echo(f"Results of {_summary_head(prep)} from the journal")
        counts = _import_report(prep, journal, out, None, None, 0.0)
    sys.exit(EXIT_OK if counts_ok(counts) else EXIT_ROWS)


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


def run() -> None:
    """The process entry point (console script, ``python -m bulk_ident``): `main`, then a fast exit.

    A large roster leaves millions of small objects behind; freeing them one by one as the
    interpreter shuts down costs a tenth of a second or more for nothing, so once every stream is
    flushed the process ends with ``os._exit``. Files the commands write are closed by then.
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
    os._exit(code)
