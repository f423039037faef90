"""A scheduled sync from the page: the config file (TOML) for ``bulk-ident sync``, and the cron and
Task Scheduler lines that run it. The key is never written: the file names the variable holding it.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bulk_ident.net import API_KEY_ENV
from bulk_ident.web.columns import split_assignment


@dataclass(frozen=True)
class SyncFile:
    """What one roster's scheduled sync says."""

    base_url: str
    rate: str
    name: str
    source: str
    sheet: str | None
    maps: Sequence[str]  # the --map strings: COLUMN=property, or property=template
    defaults: Sequence[str]  # the --default strings: property=value
    delete_missing: bool
    max_delete: int | None = None
    skip_invalid: bool = False
    encoding: str | None = None


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _table(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return "{}"
    return "{ " + ", ".join(f"{toml_string(k)} = {toml_string(v)}" for k, v in pairs.items()) + " }"


def config_text(sync: SyncFile) -> str:
    """The config file, in the format ``bulk-ident sync`` reads: the community, then the roster."""
    maps = dict(split_assignment(m) for m in sync.maps)
    defaults = dict(split_assignment(d) for d in sync.defaults)
    lines = [
        "# Written by `bulk-ident ui`. The API key is not in this file: the sync reads it from",
        f"# the {API_KEY_ENV} variable of the account that runs it.",
        "",
        "[community]",
        f"base_url = {toml_string(sync.base_url)}",
        f"api_key_env = {toml_string(API_KEY_ENV)}",
        f"rate = {toml_string(sync.rate)}",
        "",
        "[[roster]]",
        f"name = {toml_string(sync.name)}",
        f"source = {toml_string(sync.source)}",
    ]
    if sync.sheet is not None:
        lines.append(f"sheet = {toml_string(sync.sheet)}")
    if sync.encoding is not None:
        lines.append(f"encoding = {toml_string(sync.encoding)}")
    lines.append(f"map = {_table(maps)}")
    lines.append(f"defaults = {_table(defaults)}")
    if sync.skip_invalid:
        lines.append("skip_invalid = true")
    lines.append(f"delete_missing = {'true' if sync.delete_missing else 'false'}")
    if sync.max_delete is not None:
        lines.append(f"max_delete = {sync.max_delete}")
    return "\n".join(lines) + "\n"


def write_config(path: Path, text: str) -> None:
    """Write the file atomically, readable by its owner only (it names the roster's source)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Schedule:
    """The command a scheduler runs, and the lines that schedule it hourly."""

    command: list[str]
    cron: str
    task_scheduler: str


def schedule(program: Sequence[str], config: Path, log_file: Path, minute: int = 17) -> Schedule:
    """``bulk-ident sync CONFIG --json --log-file LOG`` as a crontab line (hourly, at ``minute``
    past) and as a Windows ``schtasks`` command."""
    command = [*program, "sync", str(config), "--json", "--log-file", str(log_file)]
    cron = f"{minute} * * * * {shlex.join(command)}"
    quoted = " ".join(f'\\"{part}\\"' if " " in part else part for part in command)
    task = f'schtasks /Create /SC HOURLY /TN "bulk-ident sync" /TR "{quoted}"'
    return Schedule(command, cron, task)
