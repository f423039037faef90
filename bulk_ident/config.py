"""The sync file (TOML): one community, several rosters, turned into the option objects the command
line builds (an `ImportOptions` per roster), so ``sync`` runs ``jobs.run_import`` like ``import``.

Every mistake is one line naming the file, the line and the key, and what to write instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bulk_ident.config_lines import KeyPath, key_lines
from bulk_ident.errors import InputError
from bulk_ident.jobs import ImportOptions
from bulk_ident.net import API_KEY_ENV, DEFAULT_BASE_URL, check_base_url, load_api_key
from bulk_ident.prepare import ReadOptions, check_read_options
from bulk_ident.rates import DEFAULT_RATE, Rate, parse_rate
from bulk_ident.read.sources import display_url, is_url

__all__ = [
    "EXAMPLE",
    "Community",
    "RosterConfig",
    "SyncConfig",
    "load_config",
    "parse_config",
    "write_example",
]

COMMUNITY_KEYS: Final = (
    "base_url",
    "api_key_env",
    "api_key_file",
    "rate",
    "proxy",
    "state",
    "log_file",
)
ROSTER_KEYS: Final = (
    "name",
    "source",
    "sheet",
    "encoding",
    "map",
    "defaults",
    "results",
    "skip_invalid",
    "match_existing",
    "update",
    "delete_missing",
    "max_delete",
    "retry_failed",
    "verify",
    "dry_run",
)
# Keys written in the wrong place, or that can't be keys, and what to do instead.
_MISPLACED: Final = {
    "roster": {
        **dict.fromkeys(
            COMMUNITY_KEYS,
            "set it in [community]: the rosters share one key, one pace, one journal and one log",
        ),
        "scope": "the roster's name is its scope in the journal: set name",
        "api_key": "never write the key in this file: use api_key_file or api_key_env in "
        "[community]",
    },
    "community": {
        **dict.fromkeys(ROSTER_KEYS, "set it in each [[roster]]"),
        "api_key": "never write the key in this file: use api_key_file (a file only you can "
        "read) or api_key_env (the variable holding it)",
    },
}
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Community:
    """What every roster of the file shares: the server, the key, its pace, journal and log."""

    base_url: str = DEFAULT_BASE_URL
    rate: Rate = DEFAULT_RATE
    api_key_env: str = API_KEY_ENV
    api_key_file: Path | None = None
    proxy: str | None = None
    state: Path | None = None
    log_file: Path | None = None
    where: str = ""  # "sync.toml, line 3: [community]", for messages about the key


@dataclass(frozen=True)
class RosterConfig:
    """One ``[[roster]]``: its name (its scope), where it comes from, and its import options."""

    name: str
    source: str  # an https URL, or an absolute path (relative ones resolved against the file)
    options: ImportOptions
    where: str  # "sync.toml, line 9: [[roster]] 'lspd'"
    source_where: str  # the same, on the line of ``source``

    @property
    def is_url(self) -> bool:
        """True when the roster is downloaded."""
        return is_url(self.source)

    @property
    def shown(self) -> str:
        """The source as messages show it (a URL without its secrets)."""
        return display_url(self.source) if self.is_url else self.source

    def with_proxy(self, proxy: str) -> RosterConfig:
        """The same roster fetched and sent through ``proxy`` (the command line's --proxy)."""
        options = dataclasses.replace(self.options, proxy=proxy)
        return dataclasses.replace(self, options=options)

    def check_source(self) -> None:
        """InputError naming the file's line when a local roster is missing (a URL is checked
        when it is downloaded)."""
        if self.is_url:
            return
        path = Path(self.source)
        if not path.exists():
            raise InputError(
                f"{self.source_where}: source {path} not found: check the path (a relative "
                "path is read from the config file's folder)"
            )
        if path.is_dir():
            raise InputError(f"{self.source_where}: source {path} is a folder, not a roster")


@dataclass(frozen=True)
class SyncConfig:
    """A whole sync file."""

    path: Path
    community: Community
    rosters: tuple[RosterConfig, ...]

    def select(self, only: Sequence[str]) -> tuple[RosterConfig, ...]:
        """The rosters named by ``--only`` (all when none), in the file's order."""
        if not only:
            return self.rosters
        names = {r.name.casefold(): r for r in self.rosters}
        for wanted in only:
            if wanted.casefold() not in names:
                listing = ", ".join(r.name for r in self.rosters)
                raise InputError(
                    f"{self.path.name} has no roster named '{wanted}' (--only): its rosters are "
                    f"{listing}"
                )
        chosen = {w.casefold() for w in only}
        return tuple(r for r in self.rosters if r.name.casefold() in chosen)

    def api_key(self, env: Mapping[str, str]) -> str:
        """The key, from ``api_key_file`` or the ``api_key_env`` variable; never echoed."""
        community = self.community
        if community.api_key_file is not None:
            try:
                return load_api_key(env={}, key_file=community.api_key_file)
            except InputError as err:
                raise InputError(f"{community.where}: {err}") from None
        name = community.api_key_env
        value = env.get(name, "")
        if not value.strip():
            raise InputError(
                f"{community.where}: no API key: the variable {name} is not set (set it, or "
                "name a file holding the key with api_key_file)"
            )
        try:
            return load_api_key(env={API_KEY_ENV: value}, key_file=None)
        except InputError as err:
            raise InputError(f"{community.where}: {str(err).replace(API_KEY_ENV, name)}") from None


def load_config(path: Path, *, env: Mapping[str, str], dry_run: bool = False) -> SyncConfig:
    """Read and check a sync file; InputError (one line: file, line, key) for any mistake.
    ``dry_run`` (the command's --dry-run) makes every roster a dry run."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{path}: config file not found (bulk-ident sync --init {path} writes an example)"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a config file") from None
    except OSError as err:
        raise InputError(f"{path} can't be read: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    return parse_config(
        text, name=str(path), folder=path.resolve().parent, env=env, dry_run=dry_run
    )


def parse_config(
    text: str, *, name: str, folder: Path, env: Mapping[str, str], dry_run: bool = False
) -> SyncConfig:
    """A sync file's text (``name`` for messages, ``folder`` for relative paths)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        said = str(err)
        found = re.search(r"\(at line (\d+), column \d+\)$", said)
        reason = said[: found.start()].strip() if found else said
        where = f"{name}, line {found.group(1)}" if found else name
        raise InputError(f"{where}: not valid TOML ({reason[:1].lower()}{reason[1:]})") from None
    reader = _Reader(name, folder, env, key_lines(text))
    return reader.config(data, dry_run)


# -- reading the tables ---------------------------------------------------------------------------


@dataclass
class _Reader:
    name: str
    folder: Path
    env: Mapping[str, str]
    lines: dict[KeyPath, int]
    label: str = ""  # "[community]", "[[roster]] 'lspd'"
    section: KeyPath = ()
    names: dict[str, int] = field(default_factory=dict)

    def where(self, *key: str | int) -> str:
        """``sync.toml, line 12: [[roster]] 'lspd'`` for the key (or its table)."""
        path = (*self.section, *key)
        line = None
        while path and line is None:
            line = self.lines.get(path)
            path = path[:-1]
        head = f"{self.name}, line {line}" if line is not None else self.name
        return f"{head}: {self.label}" if self.label else head

    def fail(self, key: str | int | KeyPath, message: str) -> InputError:
        """The error for ``key`` (or a path of keys: ``("map", "Badge")``)."""
        path = key if isinstance(key, tuple) else (key,)
        return InputError(f"{self.where(*path)}: {message}")

    def config(self, data: dict[str, Any], dry_run: bool) -> SyncConfig:
        path = Path(self.name)
        for key, value in data.items():
            if key in ("community", "roster"):
                continue
            if isinstance(value, dict | list):
                hint = _did_you_mean(key, ("community", "roster")).replace("'", "")
                hint = hint.replace("community", "[community]").replace("roster", "[[roster]]")
                shown = f"[{key}]" if isinstance(value, dict) else f"[[{key}]]"
                raise InputError(
                    f"{self._top(key)}: unknown table {shown}{hint}: the file has [community] "
                    "and [[roster]] tables"
                )
            raise InputError(
                f"{self._top(key)}: '{key}' is outside any table: put it under [community] or "
                "a [[roster]]"
            )
        community_data = data.get("community", {})
        if not isinstance(community_data, dict):
            raise InputError(f"{self._top('community')}: write [community] as a table")
        community = self._community(community_data)
        rosters_data = data.get("roster")
        if rosters_data is None:
            raise InputError(
                f"{self.name}: no [[roster]] tables: add one per roster to sync (bulk-ident "
                "sync --init FILE writes an example)"
            )
        if not isinstance(rosters_data, list):
            raise InputError(
                f"{self._top('roster')}: write each roster as [[roster]] (two pairs of brackets)"
            )
        rosters = tuple(
            self._roster(i, table, community, dry_run) for i, table in enumerate(rosters_data)
        )
        return SyncConfig(path, community, rosters)

    def _top(self, key: str) -> str:
        line = self.lines.get((key,))
        return f"{self.name}, line {line}" if line is not None else self.name

    # -- [community]

    def _community(self, table: dict[str, Any]) -> Community:
        self.section, self.label = ("community",), "[community]"
        self._unknown(table, COMMUNITY_KEYS, "community")
        if "api_key_env" in table and "api_key_file" in table:
            raise self.fail(
                "api_key_file", "give api_key_env or api_key_file, not both: which key is meant?"
            )
        base_url = self._text(table, "base_url")
        if base_url is not None:
            try:
                base_url = check_base_url(base_url)
            except InputError as err:
                raise self.fail("base_url", str(err)) from None
        rate = self._text(table, "rate")
        parsed_rate = DEFAULT_RATE
        if rate is not None:
            try:
                parsed_rate = parse_rate(rate)
            except InputError as err:
                raise self.fail("rate", str(err)) from None
        key_env = self._text(table, "api_key_env")
        if key_env is not None and not _VARIABLE_NAME.fullmatch(key_env):
            raise self.fail(
                "api_key_env",
                f"api_key_env is the name of the variable holding the key (like {API_KEY_ENV}), "
                "not the key itself",
            )
        key_file = self._path(table, "api_key_file")
        if key_file is not None and not key_file.is_file():
            raise self.fail(
                "api_key_file",
                f"api_key_file {key_file} not found: check the path (relative paths are read "
                "from the config file's folder)",
            )
        return Community(
            base_url=base_url or DEFAULT_BASE_URL,
            rate=parsed_rate,
            api_key_env=key_env or API_KEY_ENV,
            api_key_file=key_file,
            proxy=self._text(table, "proxy"),
            state=self._path(table, "state"),
            log_file=self._path(table, "log_file"),
            where=self.where("api_key_file" if key_file is not None else "api_key_env"),
        )

    # -- [[roster]]

    def _roster(
        self, index: int, table: object, community: Community, dry_run: bool
    ) -> RosterConfig:
        self.section, self.label = ("roster", index), f"[[roster]] number {index + 1}"
        if not isinstance(table, dict):
            raise self.fail(index, "write each roster as a [[roster]] table")
        raw_name = table.get("name")
        if raw_name is None:
            raise InputError(
                f"{self.where()}: 'name' is missing: give each roster a name (its scope in the "
                "journal, and its results file's name)"
            )
        name = self._text(table, "name")
        assert name is not None
        if not _NAME.fullmatch(name):
            raise self.fail(
                "name",
                f"the name {name!r} can't be used: use letters, digits, spaces, '.', '_' or '-' "
                "(at most 64), starting with a letter or digit",
            )
        self.label = f"[[roster]] '{name}'"
        self._unknown(table, ROSTER_KEYS, "roster")
        earlier = self.names.get(name.casefold())
        if earlier is not None:
            raise self.fail(
                "name",
                f"the name '{name}' is already used by the roster on line {earlier}: give each "
                "roster its own name",
            )
        self.names[name.casefold()] = self.lines.get(("roster", index, "name"), 0)
        source = self._text(table, "source")
        if source is None:
            raise InputError(
                f"{self.where()}: 'source' is missing: give the roster's file (a path) or its "
                "https:// address"
            )
        if not is_url(source):
            source = str(self._resolve(source))
        maps = self._map(table)
        defaults = self._defaults(table)
        read = ReadOptions(
            sheet=self._sheet(table),
            encoding=self._text(table, "encoding"),
            maps=maps,
            defaults=defaults,
        )
        # Checked one by one, as the command line checks them, so a message names its line.
        for entry in maps:
            self._check(ReadOptions(maps=(entry,)), "map", entry)
        for entry in defaults:
            self._check(ReadOptions(defaults=(entry,)), "defaults", entry)
        dry = dry_run or self._bool(table, "dry_run", default=False)
        results = self._path(table, "results")
        if results is None:
            results = self.folder / f"{name}.{'plan' if dry else 'results'}.xlsx"
        options = ImportOptions(
            read=read,
            base_url=community.base_url,
            rate=community.rate,
            state=community.state,
            results=results,
            scope=name,
            skip_invalid=self._bool(table, "skip_invalid", default=False),
            match_existing=self._bool(table, "match_existing", default=True),
            update=self._bool(table, "update", default=True),
            delete_missing=self._bool(table, "delete_missing", default=False),
            max_delete=self._count(table, "max_delete"),
            retry_failed=self._bool(table, "retry_failed", default=False),
            verify=self._bool(table, "verify", default=False),
            dry_run=dry,
            proxy=community.proxy,
        )
        return RosterConfig(name, source, options, self.where(), self.where("source"))

    def _map(self, table: dict[str, Any]) -> tuple[str, ...]:
        """``map`` as the command line's --map values: COLUMN=property, or property=template."""
        out = []
        for key, value in self._table(table, "map").items():
            if not isinstance(value, str):
                raise self.fail(
                    ("map", key),
                    f"map: the value for '{key}' must be text in quotes: a property such as "
                    '"unitNum", or a template such as "{First} {Last}"',
                )
            if "=" in key or not key.strip():
                raise self.fail(("map", key), f"map: the column name {key!r} can't be mapped")
            if not value.strip():
                raise self.fail(("map", key), f"map: give '{key}' a property or a template")
            out.append(f"{key}={self._expand(value, 'map')}")
        return tuple(out)

    def _defaults(self, table: dict[str, Any]) -> tuple[str, ...]:
        """``defaults`` as the command line's --default values: property=value."""
        out = []
        for key, value in self._table(table, "defaults").items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int):
                text = str(value)
            elif isinstance(value, str):
                text = self._expand(value, "defaults")
            else:
                raise self.fail(
                    ("defaults", key),
                    f"defaults: the value for '{key}' must be text, a whole number, or true/false",
                )
            out.append(f"{key}={text}")
        return tuple(out)

    def _check(self, read: ReadOptions, key: str, entry: str) -> None:
        try:
            check_read_options(read)
        except InputError as err:
            option = "--map " if key == "map" else "--default "
            said = str(err).replace(option, f"{key}: ", 1)
            raise self.fail((key, entry.partition("=")[0]), said) from None

    # -- values

    def _unknown(self, table: dict[str, Any], known: Sequence[str], kind: str) -> None:
        for key in table:
            if key in known:
                continue
            hint = _MISPLACED[kind].get(key)
            if hint is not None:
                raise self.fail(key, f"'{key}' does not belong here: {hint}")
            raise self.fail(key, f"unknown key '{key}'{_did_you_mean(key, known)}")

    def _text(self, table: dict[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"{key} must be text in quotes, not {_shown(value)}")
        value = self._expand(value, key)
        if not value.strip():
            raise self.fail(key, f"{key} is empty: give a value, or leave the line out")
        return value.strip()

    def _sheet(self, table: dict[str, Any]) -> str | None:
        value = table.get("sheet")
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise self.fail("sheet", "sheet numbers count from 1 (the first tab)")
            return str(value)
        if value is not None and not isinstance(value, str):
            raise self.fail(
                "sheet", f"sheet must be a tab's name in quotes or its number, not {_shown(value)}"
            )
        return self._text(table, "sheet")

    def _bool(self, table: dict[str, Any], key: str, *, default: bool = False) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"{key} must be true or false (no quotes), not {_shown(value)}")
        return value

    def _count(self, table: dict[str, Any], key: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"{key} must be a whole number of 0 or more, not {_shown(value)}")
        return value

    def _table(self, table: dict[str, Any], key: str) -> dict[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict):
            example = '{ "Badge" = "unitNum" }' if key == "map" else '{ department = "LSPD" }'
            raise self.fail(key, f"{key} must be a table such as {example}, not {_shown(value)}")
        return value

    def _path(self, table: dict[str, Any], key: str) -> Path | None:
        value = self._text(table, key)
        return None if value is None else self._resolve(value)

    def _resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.folder / path

    def _expand(self, value: str, key: str) -> str:
        """``${NAME}`` replaced by the variable's value; an unset one is an error."""

        def one(match: re.Match[str]) -> str:
            variable = match.group(1)
            if not _VARIABLE_NAME.fullmatch(variable):
                raise self.fail(key, f"{key}: ${{{variable}}} is not a variable name")
            if variable not in self.env:
                raise self.fail(
                    key,
                    f"{key} uses ${{{variable}}}, which is not set: set it in the environment "
                    "(or write the value itself)",
                )
            return self.env[variable]

        return _VARIABLE.sub(one, value) if "${" in value else value


def _shown(value: object) -> str:
    """A TOML value as the user wrote it, roughly: "no", 5, true, a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _did_you_mean(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# -- the example ----------------------------------------------------------------------------------

EXAMPLE: Final = """\
# bulk-ident sync: one Sonoran CAD community, several department rosters.
# Run:    bulk-ident sync THIS_FILE            (add --dry-run to see the plan first)
# Paths are relative to this file's folder; "${NAME}" in any text is the variable NAME.

[community]
base_url = "https://api.sonorancad.com"
api_key_env = "SONORAN_API_KEY"        # the variable holding the key; or:
# api_key_file = "sonoran-key.txt"     # a file holding only the key (chmod 600)
rate = "10/min"                        # your key's limit; every roster shares it
# proxy = "http://proxy.example:3128"  # for https addresses (default: HTTPS_PROXY)
# state = "journal.sqlite"             # default: one journal per community in the state folder
# log_file = "sync.log"                # a start line, each request and a summary per roster

[[roster]]
name = "lspd"                          # its scope: departures are found within it
source = "https://docs.google.com/spreadsheets/d/YOUR-SHEET-ID/edit#gid=0"
# sheet = "Roster"                     # a tab by name or number (a Google link then reads them all)
map = { "Badge" = "unitNum" }          # COLUMN = property; or property = "{First} {Last}"
defaults = { department = "LSPD", page = "police" }
# results = "lspd.results.xlsx"        # the default: NAME.results.xlsx beside this file
# skip_invalid = false                 # send the valid rows even when others are invalid
# match_existing = true                # adopt units already on the server, never twice
# update = true                        # send changed values
delete_missing = false                 # delete identifiers whose rows left the roster
# max_delete = 5                       # ...but never more than this many in one run
# retry_failed = false                 # send rows the server refused again
# verify = false                       # list every account and repair edits made by hand
# dry_run = false                      # this roster only plans

[[roster]]
name = "fire"
source = "fire-roster.xlsx"            # a file beside this one
defaults = { department = "LSFD", page = "fire" }
"""


def write_example(path: Path) -> None:
    """Write `EXAMPLE` to ``path``; never over an existing file."""
    try:
        with path.open("x", encoding="utf-8", newline="\n") as fh:
            fh.write(EXAMPLE)
    except FileExistsError:
        raise InputError(
            f"{path} already exists: give a new file name for the example (it is never replaced)"
        ) from None
    except OSError as err:
        raise InputError(f"can't write {path}: {err.strerror or err}") from None
