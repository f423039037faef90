"""What one launch of the page holds in memory, and the library call behind each of its steps.

One admin, one roster at a time: where it came from, how it is read and mapped, the cells fixed
in the page, the connection (the API key lives here and nowhere else), the last plan and the last
run. Nothing here knows about HTTP; `app.py` turns requests into these calls.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulk_ident.cad.accounts import STATUS_WORDS, AccountDirectory, FetchResult
from bulk_ident.cad.client import SonoranClient, Transport
from bulk_ident.errors import InputError
from bulk_ident.identifier import ACCOUNT
from bulk_ident.jobs import Hooks, ImportOptions, ImportReport, community_of, run_import
from bulk_ident.jobs import rebuild_results as rebuild_from_journal
from bulk_ident.net import API_KEY_ENV, DEFAULT_BASE_URL, check_base_url, load_api_key
from bulk_ident.prepare import Checked, Duplicates, Prepared, ReadOptions, prepare
from bulk_ident.rates import DEFAULT_RATE, Rate, parse_rate
from bulk_ident.read.roster import HEADER_SEARCH_ROWS, CellNote, Row, read_roster
from bulk_ident.read.sources import MAX_BYTES, display_url, google_export_url, is_url, open_source
from bulk_ident.read.workbook import sheet_names
from bulk_ident.report.results import write_table
from bulk_ident.sync import state
from bulk_ident.sync.importer import Event
from bulk_ident.sync.pacing import Pacer
from bulk_ident.web.columns import default_strings, map_strings, suggest, template_strings
from bulk_ident.words import Result

EXCEL = (".xlsx", ".xlsm")
ROSTER_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".tsv", ".txt")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class Secret:
    """The API key, held so that no repr, log line or traceback of locals can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself: only for the library calls that send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class RosterSource:
    """Where the roster came from, and the file on this computer the library reads."""

    kind: str  # "upload" (dropped into the page), "path" (a file here) or "url"
    shown: str  # how the page names it: the file name, the path, the URL without secrets
    origin: str  # what a config file's ``source`` says: the absolute path or the URL; "" upload
    local: Path
    stem: str  # the roster's name in the journal (its scope), as the command line names it
    google: bool = False  # a Google Sheets link, which can also be read as a whole workbook
    whole_workbook: bool = False


@dataclass
class SyncChoices:
    """What the sync does beyond creating and updating, chosen on the Preview step."""

    skip_invalid: bool = False
    delete_missing: bool = False
    max_delete: int | None = None


@dataclass(frozen=True)
class AccountIssue:
    """A row whose account the community's account list doesn't show as validated."""

    row: int
    column: int  # position of the account column
    account: str
    reason: str


@dataclass
class Review:
    """The roster's rows as the page shows them: the cells fixed in the page applied, each row
    checked by the roster's own Normaliser and duplicates found by the library's Duplicates."""

    prep: Prepared
    rows: list[Checked]
    edited: dict[int, frozenset[int]]  # row number -> column positions fixed in the page
    _position: dict[int, int] = field(default_factory=dict)  # row number -> index in rows

    def __post_init__(self) -> None:
        self._position = {c.row.number: i for i, c in enumerate(self.rows)}
        self.find_duplicates()

    @classmethod
    def of(cls, prep: Prepared, edits: Mapping[int, Mapping[int, str]]) -> Review:
        """Every row of ``prep``, with ``edits`` (row number -> position -> text) applied."""
        rows = []
        edited: dict[int, frozenset[int]] = {}
        for c in prep.rows:
            fixed = edits.get(c.row.number)
            if fixed:
                values = list(c.row.values)
                for pos, text in fixed.items():
                    values[pos] = text
                notes = _notes_left(c.row, fixed)
                rows.append(prep.check_row(Row(c.row.number, tuple(values), notes)))
                edited[c.row.number] = frozenset(fixed)
            else:
                rows.append(Checked(c.row, c.norm, None, c.key, c.unsettled))
        return cls(prep, rows, edited)

    @property
    def columns(self) -> tuple[str, ...]:
        """The header, as read."""
        return self.prep.roster.columns

    def row(self, number: int) -> Checked:
        """One row by its number; KeyError when the roster has no such row."""
        return self.rows[self._position[number]]

    def find_duplicates(self) -> list[int]:
        """Mark repeats of an earlier row's account and unit number; return the rows whose mark
        changed."""
        dupes = Duplicates()
        changed = []
        for c in self.rows:
            first, c.key = dupes.first_of(c.norm)
            if first != c.duplicate_of:
                changed.append(c.row.number)
                c.duplicate_of = first
        return changed

    def set_cell(self, number: int, position: int, text: str) -> list[int]:
        """Change one cell and check its row again at once; returns the other rows whose
        duplicate mark changed with it."""
        old = self.row(number)
        if not 0 <= position < len(old.row.values):
            raise InputError(f"row {number} has no column {position + 1}")
        values = list(old.row.values)
        values[position] = text
        notes = _notes_left(old.row, {position})
        self.rows[self._position[number]] = self.prep.check_row(Row(number, tuple(values), notes))
        self.edited[number] = self.edited.get(number, frozenset()) | {position}
        return [n for n in self.find_duplicates() if n != number]

    def cell_problems(self, c: Checked) -> dict[int, list[str]]:
        """Column position -> the problems of that cell (-1: problems of no one cell)."""
        headers = self.prep.headers
        by_name = {headers.column_name(p): pos for p, pos in headers.index.items()}
        out: dict[int, list[str]] = {}
        for problem in c.norm.problems:
            out.setdefault(by_name.get(problem.column, -1), []).append(problem.message)
        if c.duplicate_of is not None:
            why = f"duplicate of row {c.duplicate_of} (same account and unit number)"
            for prop in (ACCOUNT, "unitNum"):
                out.setdefault(headers.index.get(prop, -1), []).append(why)
        return out

    def tally(self) -> Counter[Result]:
        """valid / invalid / duplicate, as ``check`` counts them."""
        return Counter(c.verdict for c in self.rows)

    @property
    def fixed_cells(self) -> int:
        """How many cells were changed in the page."""
        return sum(len(cells) for cells in self.edited.values())

    def lines(self) -> dict[int, tuple[str, ...]]:
        """Sheet row number -> cells: the header and every row, as the corrected roster holds
        them (blank rows are left out: the reader skips them, as it does in any roster)."""
        lines = {self.prep.roster.header_row: self.columns}
        for c in self.rows:
            if any(c.row.values):
                lines[c.row.number] = c.row.values
        return lines


def write_corrected(path: Path, lines: Mapping[int, Sequence[str]], sheet: str) -> None:
    """Write the corrected roster as an .xlsx whose rows sit at their original row numbers (rows
    above the header and between rows are left empty), every cell stored as text."""
    last = max(lines)
    table = [list(lines.get(n, ())) for n in range(1, last + 1)]
    write_table(path, table[0], table[1:], sheet=sheet)


class Workspace:
    """The page's memory for one launch. Methods raise InputError with the library's one-line
    messages; the caller shows them."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        source_transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``workdir`` is a private folder for uploads, the corrected roster and the sheets;
        ``env`` is where the key and the state folder are read from (default: the process
        environment); ``transport``/``source_transport`` replace the network in tests."""
        self.workdir = workdir
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.transport = transport
        self.source_transport = source_transport
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.RLock()
        # The roster
        self.source: RosterSource | None = None
        self.sheet: str | None = None
        self.encoding: str | None = None
        self.sheets: list[tuple[str, bool]] = []
        self.header_row: int | None = None  # chosen by hand; None: as the library finds it
        self.header_cells: tuple[str, ...] = ()
        self.choices: dict[str, str | None] = {}  # column -> property, as last applied
        self.templates: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        self.error = ""  # why the roster can't be read as it stands
        self.notice = ""
        self.prep: Prepared | None = None
        self.review: Review | None = None
        self._edits: dict[int, dict[int, str]] = {}
        self._edit_columns: tuple[str, ...] = ()
        self._candidates: list[tuple[int, tuple[str, ...]]] | None = None
        # The connection
        self.base_url = DEFAULT_BASE_URL
        self.rate: Rate = DEFAULT_RATE
        self._key: Secret | None = None
        self.key_origin = ""
        self.key_error = ""
        self.directory: AccountDirectory | None = None
        self.directory_community = ""
        # The plan and the run
        self.sync = SyncChoices()
        self.preview: ImportReport | None = None
        self.report: ImportReport | None = None
        if self.env.get(API_KEY_ENV, "").strip():
            try:
                self._key = Secret(load_api_key(env=self.env, key_file=None))
                self.key_origin = f"from the {API_KEY_ENV} variable"
            except InputError as err:
                self.key_error = str(err)

    # -- 1. the roster -----------------------------------------------------------------------

    def load_upload(self, filename: str, data: bytes) -> None:
        """A file dropped into the page: kept in the private folder under its own name."""
        name = _safe_name(filename)
        suffix = Path(name).suffix.lower()
        if suffix not in ROSTER_SUFFIXES:
            shown = f"'{suffix}'" if suffix else "no extension"
            raise InputError(
                f"{name}: unsupported file type ({shown}); use .xlsx, .xlsm, .csv, .tsv or .txt."
            )
        if len(data) > MAX_BYTES:
            raise InputError(f"{name} is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        local = self._private("source") / name
        local.write_bytes(data)
        self._new_source(RosterSource("upload", name, "", local, Path(name).stem))

    def load_location(self, text: str, *, whole_workbook: bool = False) -> None:
        """A path on this computer, or a link (Google Sheets included), read as the command
        line reads it: https only, size- and time-limited."""
        text = text.strip()
        if not text:
            raise InputError("give a file path or a link (https://...)")
        if is_url(text):
            source = open_source(
                text, whole_workbook=whole_workbook, transport=self.source_transport, env=self.env
            )
            local = self._private("source") / f"{source.stem}{source.suffix}"
            local.write_bytes(source.data)
            google = google_export_url(text) is not None
            self._new_source(
                RosterSource(
                    "url", display_url(text), text, local, source.stem, google, whole_workbook
                )
            )
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise InputError(
                f"{text}: give the file's full path (the page does not know your shell's folder)"
            )
        open_source(str(path))  # the reader's own messages for a missing or unreadable file
        self._new_source(RosterSource("path", str(path), str(path), path, path.stem))

    def _new_source(self, source: RosterSource) -> None:
        with self.lock:
            self.source = source
            self.sheet = self.encoding = None
            self.header_row = None
            self.header_cells = ()
            self.choices, self.templates, self.defaults = {}, {}, {}
            self._edits, self._edit_columns = {}, ()
            self.preview = self.report = None
            self.notice = ""
            self.sheets = []
            self.read()

    def reload(self) -> None:
        """Read the roster again (a link is downloaded again), keeping every choice."""
        source = self.need_source()
        if source.kind == "url":
            fresh = open_source(
                source.origin,
                whole_workbook=source.whole_workbook,
                transport=self.source_transport,
                env=self.env,
            )
            source.local.write_bytes(fresh.data)
        with self.lock:
            self.read()

    def whole_workbook(self) -> None:
        """Read a Google Sheets link as the whole workbook, so that any tab can be chosen."""
        source = self.need_source()
        if not source.google:
            raise InputError("only a Google Sheets link has other tabs to download")
        self.load_location(source.origin, whole_workbook=True)

    def need_source(self) -> RosterSource:
        """The roster's source; InputError when none was given yet."""
        if self.source is None:
            raise InputError("no roster yet: drop a file or paste a link on the Roster step")
        return self.source

    def read_options(self) -> ReadOptions:
        """The reading options as the command line would give them (--sheet, --map...)."""
        maps = map_strings(self.choices, force=self.header_row is not None) if self.choices else []
        return ReadOptions(
            sheet=self.sheet,
            encoding=self.encoding,
            maps=(*maps, *template_strings(self.templates)),
            defaults=tuple(default_strings(self.defaults)),
        )

    def read(self) -> None:
        """Open, map and check the roster with the current options; a problem that stops the
        whole roster is kept in ``error``."""
        source = self.need_source()
        self.error = ""
        self.prep = self.review = None
        self._candidates = None
        if source.local.suffix.lower() in EXCEL:
            try:
                self.sheets = sheet_names(source.local)
            except InputError as err:
                self.sheets = []
                self.error = str(err)
                return
        try:
            options = self.read_options()
            prep = prepare(source.local, options)
            prep.rows  # noqa: B018 - read and check every row now, not while a page is drawn
        except (InputError, ValueError) as err:
            self.error = str(err)
            return
        if self.header_row is not None and prep.roster.header_row != self.header_row:
            self.error = (
                f"row {prep.roster.header_row} also names known columns and comes first, so it is "
                f"read as the header, not row {self.header_row}: delete or rename it in the roster"
            )
            return
        if prep.roster.columns != self._edit_columns and self._edits:
            self.notice = (
                f"the header changed, so the {sum(map(len, self._edits.values()))} cells fixed "
                "in the page were dropped"
            )
            self._edits = {}
        self._edit_columns = prep.roster.columns
        self.prep = prep
        self.review = Review.of(prep, self._edits)

    def set_reading(self, sheet: str | None, encoding: str | None) -> None:
        """Choose the sheet of a workbook and the encoding of a text file."""
        with self.lock:
            self.sheet = sheet or None
            self.encoding = encoding or None
            self.header_row, self.header_cells = None, ()
            self.read()

    def header_candidates(self) -> list[tuple[int, tuple[str, ...]]]:
        """The rows that could be the header (the first HEADER_SEARCH_ROWS rows holding two or
        more cells), with their cells: read by the library's reader, taking the first such row
        as a provisional header."""
        if self._candidates is not None:
            return self._candidates
        source = self.need_source()
        try:
            roster = read_roster(
                source.local,
                is_header=lambda cells: sum(1 for c in cells if c) >= 2,
                sheet=self.sheet,
                encoding=self.encoding,
            )
        except InputError:
            return []
        rows = [(roster.header_row, roster.columns)]
        for r in roster.rows:
            if r.number > HEADER_SEARCH_ROWS:
                break  # rows come in order: the rest of the roster is not needed
            rows.append((r.number, r.values))
        self._candidates = [(n, _trimmed(cells)) for n, cells in rows]
        return self._candidates

    def choose_header(self, number: int) -> None:
        """Read row ``number`` as the header: its columns are mapped as the page suggests (the
        aliases, then similar spellings) and named by maps, as --map would name them."""
        cells = dict(self.header_candidates()).get(number)
        if cells is None:
            raise InputError(
                f"row {number} can't be the header: pick one of the first "
                f"{HEADER_SEARCH_ROWS} rows that hold two or more cells"
            )
        with self.lock:
            self.header_row, self.header_cells = number, cells
            self.choices = {c: suggest(c).prop for c in cells if c}
            self.read()

    def columns(self) -> tuple[str, ...]:
        """The header's columns: as read, or the row chosen by hand while it can't be read."""
        if self.prep is not None:
            return self.prep.roster.columns
        return self.header_cells

    def current_choice(self, column: str) -> str | None:
        """The property a column feeds now: as applied on the Columns step, else as the
        library maps it (by name)."""
        if column in self.choices:
            return self.choices[column]
        if self.prep is not None:
            headers = self.prep.headers
            for prop, pos in headers.index.items():
                if headers.columns[pos] == column:
                    return prop
            return None
        return suggest(column).prop

    def apply_columns(
        self,
        choices: Mapping[str, str | None],
        templates: Mapping[str, str],
        defaults: Mapping[str, str],
    ) -> None:
        """Map columns, templates and defaults; the roster is read again with them."""
        try:
            map_strings(choices, force=self.header_row is not None)
        except ValueError as err:
            raise InputError(str(err)) from None
        with self.lock:
            self.choices = dict(choices)
            self.templates = {p: t for p, t in templates.items() if t.strip()}
            self.defaults = {p: v for p, v in defaults.items() if v.strip()}
            self.read()

    # -- 3. review ---------------------------------------------------------------------------

    def need_review(self) -> Review:
        """The checked rows; InputError when the roster can't be read as it stands."""
        self.need_source()
        if self.review is None:
            raise InputError(self.error or "the roster could not be read")
        return self.review

    def edit(self, number: int, position: int, text: str) -> list[int]:
        """Fix one cell (trimmed, as the reader trims cells); the row is checked again at once.
        Returns the other rows whose duplicate mark changed."""
        with self.lock:
            review = self.need_review()
            text = text.strip()
            if "\n" in text or "\r" in text:
                text = " ".join(text.split())
            changed = review.set_cell(number, position, text)
            self._edits.setdefault(number, {})[position] = text
            self.preview = None
            return changed

    def corrected_roster(self) -> Path:
        """The roster with the page's fixes, as an .xlsx (cells as text, rows where they were),
        checked by reading it back: what the import reads is exactly what the page shows."""
        with self.lock:
            review = self.need_review()
            source = self.need_source()
            path = self._private("work") / f"{source.stem}.xlsx"
            roster = review.prep.roster
            write_corrected(path, review.lines(), roster.sheet or source.stem)
            options = self.read_options()
            back = prepare(path, ReadOptions(maps=options.maps, defaults=options.defaults))
            got = {c.row.number: c.row.values for c in back.rows}
            got[back.roster.header_row] = back.roster.columns
            for number, values in review.lines().items():
                if got.get(number) != tuple(values):
                    raise InputError(
                        f"row {number} holds characters an .xlsx file can't keep (control "
                        "characters): fix the row in the page or in the roster"
                    )
            return path

    def import_input(self) -> tuple[Path, ReadOptions]:
        """The file and options the library reads for a plan or a run: the roster itself, or the
        corrected copy once cells were fixed in the page."""
        source = self.need_source()
        review = self.need_review()
        if not review.edited:
            return source.local, self.read_options()
        options = self.read_options()
        path = self.corrected_roster()
        return path, ReadOptions(maps=options.maps, defaults=options.defaults)

    # -- 4. connect --------------------------------------------------------------------------

    def set_connection(self, base_url: str, rate: str, key: str) -> None:
        """Base URL and rate as the command line checks them; a key typed here replaces one
        read from the environment. The key is never shown again."""
        url = check_base_url(base_url or DEFAULT_BASE_URL)
        pace = parse_rate(rate or str(DEFAULT_RATE))
        typed = key.strip()
        if typed:
            try:
                checked = load_api_key(env={API_KEY_ENV: typed}, key_file=None)
            except InputError:
                raise InputError(
                    "the key typed holds spaces, line breaks or other characters a key never "
                    "has: paste only the key"
                ) from None
        with self.lock:
            self.base_url, self.rate = url, pace
            if typed:
                self._key = Secret(checked)
                self.key_origin = "typed in this page"
                self.key_error = ""
            self.directory = None
            self.preview = None

    def forget_key(self) -> None:
        """Drop the key from memory."""
        with self.lock:
            self._key = None
            self.key_origin = ""
            self.directory = None

    @property
    def has_key(self) -> bool:
        """True when a key is held."""
        return self._key is not None

    def need_key(self) -> str:
        """The key, for a library call; InputError when none is held."""
        if self._key is None:
            raise InputError(
                f"no API key: type it on the Connect step, or start the page with {API_KEY_ENV} set"
            )
        return self._key.reveal()

    def community(self) -> tuple[str, str, str]:
        """(base URL, key fingerprint, community id) of the connection."""
        return community_of(self.base_url, self.need_key())

    def account_directory(self) -> AccountDirectory:
        """The community's account list as last fetched here or by the command line."""
        _, _, community = self.community()
        if self.directory is None or self.directory_community != community:
            self.directory = AccountDirectory.load(
                state.accounts_cache_path(community, self.env), clock=self.clock
            )
            self.directory_community = community
        return self.directory

    def fetch_accounts(
        self,
        *,
        stop: Callable[[], bool],
        on_wait: Callable[[float], None] | None,
        on_page: Callable[[int, int | None], None],
    ) -> FetchResult:
        """Fetch the whole account list (every status, so inactive accounts can be named),
        paced with the same per-key state as every run of this key."""
        url, fingerprint, _ = self.community()
        directory = self.account_directory()
        with (
            SonoranClient(url, self.need_key(), transport=self.transport, env=self.env) as client,
            Pacer(
                self.rate,
                state_path=state.pace_state_path(fingerprint, self.env),
                key_id=fingerprint,
                clock=self.clock,
                sleep=self.sleep,
            ) as pacer,
        ):
            return directory.fetch_all(
                client,
                status=None,
                wait_turn=lambda: pacer.wait_turn(stop=stop, tick=on_wait),
                on_page=on_page,
            )

    def account_issues(self) -> list[AccountIssue]:
        """Rows whose account is not in the fetched list, or not validated there."""
        review = self.review
        directory = self.directory
        if review is None or directory is None or directory.fetched_at is None:
            return []
        by_uuid = {a.uuid: a for a in directory.accounts}
        column = review.prep.headers.index.get(ACCOUNT, -1)
        issues = []
        for c in review.rows:
            account = c.norm.account
            if account is None:
                continue
            found = by_uuid.get(account)
            if found is None:
                reason = f"account {account} is not in the CAD's account list"
            elif found.status != 1:
                who = f" ({found.username})" if found.username else ""
                word = STATUS_WORDS.get(found.status, str(found.status))
                reason = f"account {account}{who} is {word} in the CAD, not validated"
            else:
                continue
            issues.append(AccountIssue(c.row.number, column, account, reason))
        return issues

    # -- 5-7. preview, sync, results -----------------------------------------------------------

    def import_options(self, *, dry_run: bool) -> tuple[Path, ImportOptions]:
        """The roster file and the options of a plan or a run, as ``import`` would take them."""
        source = self.need_source()
        path, read = self.import_input()
        kind = "plan" if dry_run else "results"
        options = ImportOptions(
            read=read,
            base_url=self.base_url,
            rate=self.rate,
            results=self._private("out") / f"{source.stem}.{kind}.xlsx",
            scope=source.stem,
            skip_invalid=self.sync.skip_invalid,
            delete_missing=self.sync.delete_missing,
            max_delete=self.sync.max_delete,
            dry_run=dry_run,
        )
        return path, options

    def hooks(
        self,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
        on_listing: Callable[[ImportReport, int], None] | None = None,
        on_plan: Callable[[ImportReport], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Hooks:
        """Hooks for a library job, with this workspace's seams (clock, network, state folder)."""
        hooks = Hooks(
            on_wait=on_wait,
            on_listing=on_listing,
            on_plan=on_plan,
            clock=self.clock,
            sleep=self.sleep,
            transport=self.transport,
            env=self.env,
        )
        if on_event is not None:
            hooks.on_event = on_event
        if stop is not None:
            hooks.stop = stop
        return hooks

    def run_preview(self) -> ImportReport:
        """The sync plan: a dry run, which sends nothing."""
        path, options = self.import_options(dry_run=True)
        report = run_import(path, options, api_key=self.need_key(), hooks=self.hooks())
        self.preview = report
        return report

    def run_sync(self, hooks: Hooks) -> ImportReport:
        """The sync itself (in the runner's thread): the same journal, pace and community as
        the command line."""
        path, options = self.import_options(dry_run=False)
        report = run_import(path, options, api_key=self.need_key(), hooks=hooks)
        self.report = report
        return report

    def rebuild(self) -> ImportReport:
        """The results sheet rebuilt from the journal (no network): for a run made earlier, by
        the command line or another launch of the page."""
        source = self.need_source()
        path, read = self.import_input()
        options = ImportOptions(
            read=read,
            base_url=self.base_url,
            results=self._private("out") / f"{source.stem}.results.xlsx",
            scope=source.stem,
        )
        report = rebuild_from_journal(path, options, api_key=self.need_key(), env=self.env)
        self.report = report
        return report

    # -- files --------------------------------------------------------------------------------

    def _private(self, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder


def make_workdir() -> Path:
    """A private temporary folder for one launch (0700)."""
    return Path(tempfile.mkdtemp(prefix="bulk-ident-ui-"))


def _safe_name(filename: str) -> str:
    """A dropped file's own name, minus any folder and characters no file name may hold."""
    name = _UNSAFE_NAME.sub("_", filename.replace("\\", "/").rpartition("/")[2]).strip(" .")
    return name or "roster.csv"


def _trimmed(cells: Sequence[str]) -> tuple[str, ...]:
    out = list(cells)
    while out and not out[-1]:
        out.pop()
    return tuple(out)


def _notes_left(row: Row, edited: Iterable[int]) -> tuple[CellNote, ...]:
    """The reader's notes on cells the user has not retyped: an edit replaces what the cell
    showed (an error, a formula never calculated, a merge)."""
    changed = set(edited)
    return tuple(n for n in row.notes if not changed & set(range(n.first, n.last + 1)))
