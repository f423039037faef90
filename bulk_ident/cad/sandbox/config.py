"""The sandbox's settings and what it is told: the config, its accounts file, its key, and the
documented identifier fields it checks bodies against."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bulk_ident.errors import InputError
from bulk_ident.net import key_fingerprint
from bulk_ident.rates import DEFAULT_RATE, Rate

UNIT_STATUSES: Final = frozenset({0, 1, 2, 3, 4, 100})
UNIT_PAGES: Final = frozenset({0, 1, 2, 3, -1})
ACCOUNT_STATUSES: Final = frozenset({0, 1, 2, 3, 4})
# The documented create properties and the value each takes when omitted. Kept apart from
# identifier.DEFAULTS on purpose: the stand-in is a second, independent reading of the docs, so a
# mistake in the importer's table shows up as a difference instead of being agreed with.
IDENTIFIER_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": 0,
    "aop": "",
    "unitNum": "NEW UNIT",
    "name": "NO NAME",
    "district": "NOT SET",
    "department": "NOT SET",
    "subdivision": "NOT SET",
    "rank": "NOT SET",
    "group": "",
    "page": -1,
    "isDispatch": False,
}
NESTED: Final = (
    "unitNum",
    "name",
    "district",
    "department",
    "subdivision",
    "rank",
    "group",
    "page",
)
UUID_TEXT: Final = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
IDENTIFIERS_PATH: Final = re.compile(r"^/v2/emergency/accounts/([^/]*)/identifiers(?:/([^/]*))?/?$")
ACCOUNT_LOOKUPS: Final = ("username", "communityUserId", "discord", "roblox", "accountUuid")
# What the listing documents for each account; discord and roblox are not among them.
LISTED_FIELDS: Final = ("uuid", "username", "communityUserId", "status", "joined", "lastLogin")
MAX_BODY: Final = 1 << 20
DEFAULT_ACCOUNTS_LIMIT: Final = 20  # undocumented in the API; the client always sends a limit
SANDBOX_KEY_ENV: Final = "BULK_IDENT_SANDBOX_KEY"
KEY_CHARS: Final = re.compile(r"^[\x21-\x7e]+$")
FILE_TYPES: Final[Mapping[str, str]] = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
}


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves; the ``bulk-ident sandbox`` options map onto these one to one.

    Faults apply to every write (POST, PATCH, DELETE) and never to listing or account look-ups,
    which the importer uses to settle unknown outcomes. Each is drawn from one RNG seeded by
    ``seed``: ``fail`` answers 500 without applying the write, ``lose`` applies it and drops the
    connection unanswered, ``slow`` applies it and answers after ``slow_seconds``.
    """

    port: int = 0
    rate: Rate = DEFAULT_RATE
    block: float = 0.0  # seconds a key stays locked after a 429; 0 = no lock
    accounts: tuple[Mapping[str, Any], ...] | None = None  # None = every account UUID exists
    fail: float = 0.0  # probability of a 500 before applying a write
    lose: float = 0.0  # probability of applying a write, then dropping the connection unanswered
    slow: float = 0.0  # probability of applying a write and answering after slow_seconds
    slow_seconds: float = 0.0
    seed: int | None = None
    api_key: str | None = None  # None = any non-empty bearer key is accepted
    dump: Path | None = None  # where to write identifiers and requests on stop
    host: str = "127.0.0.1"
    serve: Path | None = None  # a folder whose files are served at GET /_files/NAME


def load_accounts(path: Path) -> tuple[dict[str, Any], ...]:
    """Read ``--accounts FILE``: a JSON list of account objects (or the API's listing shape).

    Each needs a ``uuid``; ``username``, ``communityUserId``, ``discord``, ``roblox`` and
    ``status`` (0-4, default 1 = validated) are optional. Duplicate usernames are allowed, so
    a roster's ambiguous names can be rehearsed.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"can't read accounts file {str(path)!r}: {err.strerror}") from None
    except ValueError as err:
        raise InputError(f"accounts file {str(path)!r} is not valid JSON: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        data = data["accounts"]
    if not isinstance(data, list):
        raise InputError(f"accounts file {str(path)!r} must hold a JSON list of account objects")
    accounts: list[dict[str, Any]] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not UUID_TEXT.match(str(item.get("uuid", ""))):
            raise InputError(
                f"accounts file {str(path)!r}, account {number}: "
                'each account needs a "uuid" such as "7c0ef1b2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"'
            )
        account = with_defaults(item)
        status = account["status"]
        if type(status) is not int or status not in ACCOUNT_STATUSES:
            raise InputError(
                f"accounts file {str(path)!r}, account {number}: "
                '"status" must be 0 (pending), 1 (validated), 2 (expired), 3 (removed) '
                "or 4 (banned)"
            )
        accounts.append(account)
    return tuple(accounts)


def with_defaults(item: Mapping[str, Any]) -> dict[str, Any]:
    """An account object with every documented field, as the API would answer it."""
    return {
        "username": "",
        "communityUserId": None,
        "discord": None,
        "roblox": None,
        "status": 1,
        "joined": None,
        "lastLogin": None,
        "permissions": {},
        **item,
    }


def sandbox_key(*, key: str | None, key_file: Path | None, env: Mapping[str, str]) -> str | None:
    """The one key the sandbox accepts: from ``key_file``, ``key``, or ``BULK_IDENT_SANDBOX_KEY``.

    None (no restriction: any non-empty key) when none is given. Never echoes the key.
    """
    if key is not None and key_file is not None:
        raise InputError("give --api-key-file or --api-key, not both")
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not readable as UTF-8 text"
            raise InputError(f"can't read the key file {str(key_file)!r}: {reason}") from None
        source = f"the key file {str(key_file)!r}"
    elif key is not None:
        text, source = key.strip(), "--api-key"
    else:
        text, source = env.get(SANDBOX_KEY_ENV, "").strip(), SANDBOX_KEY_ENV
        if not text:
            return None
    if not text:
        raise InputError(f"{source} is empty: it should hold only the key")
    if not KEY_CHARS.match(text):
        raise InputError(
            f"{source} holds spaces, line breaks or non-ASCII characters: "
            "it should hold only the key, on one line"
        )
    return text


def parse_slow(text: str) -> tuple[float, float]:
    """Parse ``--slow P:SECONDS`` into (probability, seconds)."""
    probability, _, seconds = text.partition(":")
    try:
        p, s = float(probability), float(seconds)
    except ValueError:
        p = s = math.nan
    if not (0.0 <= p <= 1.0 and 0.0 <= s <= 3600.0):
        raise InputError(
            f"--slow {text!r} is not understood: write P:SECONDS with P from 0 to 1, e.g. 0.2:5"
        )
    return p, s


def fingerprint(api_key: str) -> str:
    """The short key id the client logs and stores (``net.key_fingerprint``)."""
    return key_fingerprint(api_key)
