"""A local stand-in for Sonoran CAD's v2 identifier and account endpoints, for rehearsals and tests.

Standard library only; it listens on loopback only. Besides the API it answers, without a key and
without counting or logging them: ``GET /_sandbox/identifiers`` and ``GET /_sandbox/requests``
(what it holds and what it was asked), ``POST /_sandbox/edit`` (change, delete or create an
identifier out of band, as a hand edit in the CAD would) and, with ``serve``, ``GET /_files/NAME``
(a roster to import "by URL").
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import json
import math
import random
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
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
_NESTED: Final = (
    "unitNum",
    "name",
    "district",
    "department",
    "subdivision",
    "rank",
    "group",
    "page",
)
_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_IDENTIFIERS_PATH: Final = re.compile(
    r"^/v2/emergency/accounts/([^/]*)/identifiers(?:/([^/]*))?/?$"
)
_ACCOUNT_LOOKUPS: Final = ("username", "communityUserId", "discord", "roblox", "accountUuid")
# What the listing documents for each account; discord and roblox are not among them.
_LISTED_FIELDS: Final = ("uuid", "username", "communityUserId", "status", "joined", "lastLogin")
_MAX_BODY: Final = 1 << 20
DEFAULT_ACCOUNTS_LIMIT: Final = 20  # undocumented in the API; the client always sends a limit
SANDBOX_KEY_ENV: Final = "BULK_IDENT_SANDBOX_KEY"
_KEY_CHARS: Final = re.compile(r"^[\x21-\x7e]+$")
_FILE_TYPES: Final[Mapping[str, str]] = {
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
        if not isinstance(item, dict) or not _UUID.match(str(item.get("uuid", ""))):
            raise InputError(
                f"accounts file {str(path)!r}, account {number}: "
                'each account needs a "uuid" such as "7c0ef1b2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"'
            )
        account = _with_defaults(item)
        status = account["status"]
        if type(status) is not int or status not in ACCOUNT_STATUSES:
            raise InputError(
                f"accounts file {str(path)!r}, account {number}: "
                '"status" must be 0 (pending), 1 (validated), 2 (expired), 3 (removed) '
                "or 4 (banned)"
            )
        accounts.append(account)
    return tuple(accounts)


def _with_defaults(item: Mapping[str, Any]) -> dict[str, Any]:
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
    if not _KEY_CHARS.match(text):
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


# -- what to answer: pure logic behind the HTTP layer ------------------------------------------


@dataclass
class _Answer:
    """What the HTTP layer should do: answer, answer late, or drop the connection."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    raw: bytes | None = None  # sent as is instead of ``body`` as JSON
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    delay: float = 0.0
    drop: bool = False


def _problem(status: int, title: str, detail: str, path: str) -> _Answer:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
        "traceId": uuid.uuid4().hex,
    }
    return _Answer(status, body, "application/problem+json", outcome="rejected")


class _State:
    """Identifiers, accounts, rate windows and the request log, behind one lock."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self.next_id = 1
        self.identifiers: dict[str, list[dict[str, Any]]] = {}
        self.windows: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self.accounts = (
            None if config.accounts is None else [_with_defaults(a) for a in config.accounts]
        )
        self.log: list[dict[str, Any]] = []

    def answer(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> tuple[_Answer, str | None, str]:
        """Decide the answer to one request; returns it with the key fingerprint and path."""
        parts = urllib.parse.urlsplit(target)
        path, query = parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        if path.startswith("/_sandbox/"):
            return self._inspect(method, path, body), None, path
        if path.startswith("/_files/"):
            return self._file(method, path), None, path
        key = _bearer(authorization)
        if key is None or (
            self.config.api_key is not None
            and not hmac.compare_digest(key.encode(), self.config.api_key.encode())
        ):
            answer = _problem(401, "Unauthorized", "Missing or invalid API key", path)
            answer.headers["WWW-Authenticate"] = "Bearer"
            answer.outcome = "unauthorised"
            return answer, None, path
        key_id = fingerprint(key)
        with self.lock:
            limited = self._limit(key_id)
            if limited is not None:
                return limited, key_id, path
            return self._route(method, path, query, body), key_id, path

    def record(self, key_id: str | None, method: str, path: str, answer: _Answer) -> None:
        """Add one request to the log (inspection, edits and files are not API requests)."""
        if path.startswith(("/_sandbox/", "/_files/")):
            return
        entry = {
            "time": self.clock(),
            "key_fingerprint": key_id,
            "method": method,
            "path": path,
            "status": None if answer.drop else answer.status,
            "outcome": answer.outcome,
        }
        with self.lock:
            self.log.append(entry)

    def snapshot(self) -> dict[str, Any]:
        """Everything the sandbox holds and was asked, as JSON-ready data."""
        with self.lock:
            held = [
                {"accountUuid": account, "identId": item["id"], "data": _flat(item)}
                for account, items in self.identifiers.items()
                for item in items
            ]
            held.sort(key=lambda entry: entry["identId"])
            return {"identifiers": held, "requests": [dict(entry) for entry in self.log]}

    def _inspect(self, method: str, path: str, body: bytes) -> _Answer:
        name = path.removeprefix("/_sandbox/").strip("/")
        if method == "POST" and name == "edit":
            with self.lock:
                return self._edit(body, path)
        if method != "GET" or name not in ("identifiers", "requests"):
            detail = "try GET /_sandbox/identifiers or /requests, or POST /_sandbox/edit"
            return _problem(404, "Not Found", detail, path)
        return _Answer(200, self.snapshot()[name])

    def _edit(self, body: bytes, path: str) -> _Answer:
        """An out-of-band change, as someone editing the CAD by hand (the lock is held)."""
        try:
            edit = json.loads(body)
        except ValueError:
            return _problem(400, "Bad Request", "Request body is not valid JSON", path)
        usage = (
            'send {"identId": N, "set": {...}}, {"identId": N, "delete": true} '
            'or {"accountUuid": "...", "create": {...}}'
        )
        if not isinstance(edit, dict):
            return _problem(400, "Bad Request", usage, path)
        if "create" in edit:
            account, payload = edit.get("accountUuid"), edit["create"]
            if not isinstance(account, str) or not _UUID.match(account):
                return _problem(400, "Bad Request", "Invalid accountUuid format", path)
            if not self._account_exists(account):
                return _problem(404, "Not Found", "Account not found", path)
            if not isinstance(payload, dict):
                return _problem(400, "Bad Request", "create must be a JSON object", path)
            problem = _invalid_field(payload)
            if problem:
                return _problem(400, "Bad Request", problem, path)
            return _Answer(200, {"identId": self._store(account.lower(), payload)})
        ident_id = edit.get("identId")
        if type(ident_id) is not int:
            return _problem(400, "Bad Request", usage, path)
        found = self._find(ident_id)
        if found is None:
            return _problem(404, "Not Found", f"no identifier {ident_id}", path)
        account, item = found
        if edit.get("delete") is True:
            self.identifiers[account].remove(item)
            return _Answer(200, {"identId": ident_id, "deleted": True})
        changes = edit.get("set")
        if not isinstance(changes, dict):
            return _problem(400, "Bad Request", usage, path)
        problem = _invalid_field(changes)
        if problem:
            return _problem(400, "Bad Request", problem, path)
        _apply(item, changes)
        return _Answer(200, {"identId": ident_id, "data": _flat(item)})

    def _file(self, method: str, path: str) -> _Answer:
        """A file of the ``serve`` folder, read-only; never a listing, never outside it."""
        root = self.config.serve
        if root is None or method != "GET":
            return _problem(404, "Not Found", "no such file", path)
        name = urllib.parse.unquote(path.removeprefix("/_files/"))
        parts = name.split("/")
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or "\x00" in name
            or any(part in ("", ".", "..") for part in parts)
        ):
            return _problem(400, "Bad Request", "give a file name inside the served folder", path)
        base = root.resolve()
        target = (base / name).resolve()
        if not target.is_relative_to(base):  # a symbolic link pointing outside
            return _problem(400, "Bad Request", "give a file name inside the served folder", path)
        try:
            data = target.read_bytes() if target.is_file() else None
        except OSError:
            data = None
        if data is None:
            return _problem(404, "Not Found", f"no file {name!r} here", path)
        content_type = _FILE_TYPES.get(target.suffix.lower(), "application/octet-stream")
        return _Answer(200, raw=data, content_type=content_type, outcome="file")

    def _limit(self, key_id: str) -> _Answer | None:
        """Count this request against the key's window, or answer 429 (the lock is held)."""
        now = self.clock()
        rate, block = self.config.rate, self.config.block
        blocked = self.blocked_until.get(key_id, 0.0)
        if now < blocked:
            return _rate_limited(blocked - now, "blocked")
        window = self.windows.setdefault(key_id, deque())
        while window and window[0] <= now - rate.period:
            window.popleft()
        if len(window) < rate.count:
            window.append(now)
            return None
        if block > 0:
            self.blocked_until[key_id] = now + block
            return _rate_limited(block, "rate_limited")
        return _rate_limited(window[0] + rate.period - now, "rate_limited")

    def _route(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes
    ) -> _Answer:
        match = _IDENTIFIERS_PATH.match(path)
        if match:
            account = urllib.parse.unquote(match.group(1))
            if not _UUID.match(account):
                return _problem(400, "Bad Request", "Invalid accountUuid format", path)
            if not self._account_exists(account):
                return _problem(404, "Not Found", "Account not found", path)
            if match.group(2):
                return self._one_identifier(method, account.lower(), match.group(2), body, path)
            if method == "POST":
                return self._create(account.lower(), body, path)
            if method == "GET":
                items = self.identifiers.get(account.lower(), [])
                selected = items[0]["id"] if items else None
                return _Answer(200, {"SelectedIdent": selected, "Identifiers": items})
            return _problem(405, "Method Not Allowed", f"{method} is not supported here", path)
        if path.rstrip("/") == "/v2/general/accounts" and method == "GET":
            return self._list_accounts(query, path)
        if path.rstrip("/") == "/v2/general/accounts/account" and method == "GET":
            return self._find_account(query, path)
        return _problem(404, "Not Found", f"no such endpoint: {method} {path}", path)

    def _account_exists(self, account: str) -> bool:
        return self.accounts is None or any(
            a["uuid"].lower() == account.lower() for a in self.accounts
        )

    def _create(self, account: str, body: bytes, path: str) -> _Answer:
        payload = _json_object(body, path)
        if isinstance(payload, _Answer):
            return payload
        problem = _invalid_field(payload)
        if problem:
            return _problem(400, "Bad Request", problem, path)
        if self._draw(self.config.fail):
            return _failed(path)
        return self._after_write(_Answer(200, {"identId": self._store(account, payload)}))

    def _one_identifier(
        self, method: str, account: str, ident_text: str, body: bytes, path: str
    ) -> _Answer:
        """PATCH or DELETE one identifier of ``account`` (the lock is held)."""
        if method not in ("PATCH", "DELETE"):
            return _problem(405, "Method Not Allowed", f"{method} is not supported here", path)
        if not ident_text.isascii() or not ident_text.isdigit():
            return _problem(400, "Bad Request", "Invalid identId", path)
        ident_id = int(ident_text)
        changes: dict[str, Any] = {}
        if method == "PATCH":
            payload = _json_object(body, path)
            if isinstance(payload, _Answer):
                return payload
            problem = _invalid_field(payload)
            if problem:
                return _problem(400, "Bad Request", problem, path)
            changes = payload
        item = next((i for i in self.identifiers.get(account, []) if i["id"] == ident_id), None)
        if item is None:
            return _problem(404, "Not Found", "Identifier not found", path)
        if self._draw(self.config.fail):
            return _failed(path)
        if method == "DELETE":
            self.identifiers[account].remove(item)
            return self._after_write(_Answer(200, {"identId": ident_id, "serverId": 1}))
        _apply(item, changes)
        body_out = {"identId": ident_id, "serverId": 1, "identifier": json.loads(json.dumps(item))}
        return self._after_write(_Answer(200, body_out))

    def _store(self, account: str, payload: Mapping[str, Any]) -> int:
        """Store a new identifier (the lock is held) and return its identId."""
        ident_id = self.next_id
        self.next_id += 1
        fields = {
            **IDENTIFIER_DEFAULTS,
            **{k: payload[k] for k in IDENTIFIER_DEFAULTS if k in payload},
        }
        self.identifiers.setdefault(account, []).append(
            {
                "id": ident_id,
                "accId": account,
                "status": fields["status"],
                "isPanic": False,
                "location": "",
                "coordinates": None,
                "aop": fields["aop"],
                "data": {name: fields[name] for name in _NESTED},
                "isDispatch": fields["isDispatch"],
            }
        )
        return ident_id

    def _find(self, ident_id: int) -> tuple[str, dict[str, Any]] | None:
        for account, items in self.identifiers.items():
            for item in items:
                if item["id"] == ident_id:
                    return account, item
        return None

    def _after_write(self, answer: _Answer) -> _Answer:
        """The write is applied: maybe lose the answer, or send it late."""
        if self._draw(self.config.lose):
            answer.drop, answer.outcome = True, "lose"
        elif self._draw(self.config.slow):
            answer.delay, answer.outcome = self.config.slow_seconds, "slow"
        return answer

    def _draw(self, probability: float) -> bool:
        # No draw for a fault that is off, so one fault's sequence doesn't depend on the others.
        return probability > 0 and self.rng.random() < probability

    def _list_accounts(self, query: Mapping[str, list[str]], path: str) -> _Answer:
        try:
            limit = int(_one(query, "limit") or DEFAULT_ACCOUNTS_LIMIT)
            offset = int(_one(query, "offset") or 0)
            status = int(_one(query, "status") or 1)
        except ValueError:
            return _problem(400, "Bad Request", "limit, offset and status must be integers", path)
        if not 1 <= limit <= 100 or offset < 0 or status not in ACCOUNT_STATUSES:
            return _problem(
                400, "Bad Request", "limit must be 1-100, offset >= 0, status 0-4", path
            )
        username = _one(query, "username")
        matching = [
            a
            for a in self.accounts or ()
            if a.get("status", 1) == status
            and (username is None or str(a.get("username", "")).lower() == username.lower())
        ]
        pagination = {"limit": limit, "offset": offset, "total": len(matching)}
        listed = [
            {**{name: a.get(name) for name in _LISTED_FIELDS}, "permissions": a.get("permissions")}
            for a in matching[offset : offset + limit]
        ]
        return _Answer(200, {"pagination": pagination, "accounts": listed})

    def _find_account(self, query: Mapping[str, list[str]], path: str) -> _Answer:
        given = [name for name in _ACCOUNT_LOOKUPS if _one(query, name) is not None]
        wanted = str(_one(query, given[0]) or "").strip().lower() if len(given) == 1 else ""
        if not wanted:
            detail = "give exactly one of " + ", ".join(_ACCOUNT_LOOKUPS) + ", with a value"
            return _problem(400, "Bad Request", detail, path)
        field_name = "uuid" if given[0] == "accountUuid" else given[0]
        for account in self.accounts or ():
            value = account.get(field_name)
            if value is not None and str(value).strip().lower() == wanted:
                return _Answer(200, dict(account))
        return _problem(404, "Not Found", "Account not found", path)


def _failed(path: str) -> _Answer:
    answer = _problem(500, "Internal Server Error", "Simulated failure (--fail)", path)
    answer.outcome = "fail"
    return answer


def _json_object(body: bytes, path: str) -> dict[str, Any] | _Answer:
    """The request body as a JSON object, or the 400 to answer instead."""
    try:
        payload = json.loads(body)
    except ValueError:
        return _problem(400, "Bad Request", "Request body is not valid JSON", path)
    if not isinstance(payload, dict):
        return _problem(400, "Bad Request", "Request body must be a JSON object", path)
    return payload


def _apply(item: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Change a stored identifier's known fields as given; unknown properties are ignored."""
    for name in IDENTIFIER_DEFAULTS:
        if name in changes:
            if name in _NESTED:
                item["data"][name] = changes[name]
            else:
                item[name] = changes[name]


def _rate_limited(seconds: float, outcome: str) -> _Answer:
    body = {"message": "API rate limit exceeded", "request_id": uuid.uuid4().hex}
    retry_after = str(max(1, math.ceil(seconds)))
    return _Answer(429, body, headers={"Retry-After": retry_after}, outcome=outcome)


def _bearer(authorization: str | None) -> str | None:
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _invalid_field(payload: Mapping[str, Any]) -> str | None:
    """Why a create payload is refused, or None. Unknown properties are ignored."""
    for name, default in IDENTIFIER_DEFAULTS.items():
        if name not in payload:
            continue
        value = payload[name]
        if name == "status" and (type(value) is not int or value not in UNIT_STATUSES):
            return "status must be one of 0, 1, 2, 3, 4, 100"
        if name == "page" and (type(value) is not int or value not in UNIT_PAGES):
            return "page must be one of 0, 1, 2, 3, -1"
        if isinstance(default, bool) and type(value) is not bool:
            return f"{name} must be a boolean"
        if isinstance(default, str) and not isinstance(value, str):
            return f"{name} must be a string"
    return None


def _flat(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored identifier in the create payload's shape."""
    nested = item["data"]
    return {name: nested[name] if name in _NESTED else item[name] for name in IDENTIFIER_DEFAULTS}


# -- the HTTP layer ------------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) makes the late answer fail; that is expected.
        self.sandbox.log_line("connection error while answering (client gone?)")


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every answer has a length
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    server_version = "bulk-ident-sandbox"
    timeout = 60
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's own stderr log; the sandbox logs one line per request itself."""

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            answer = _problem(411, "Length Required", "send a Content-Length", self.path)
            key_id, path = None, urllib.parse.urlsplit(self.path).path
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.close_connection = True
                answer = _problem(413, "Payload Too Large", "body over 1 MiB", self.path)
                key_id, path = None, urllib.parse.urlsplit(self.path).path
            else:
                body = self.rfile.read(length) if length > 0 else b""
                state = sandbox.state
                answer, key_id, path = state.answer(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
        sandbox.state.record(key_id, self.command, path, answer)
        sandbox.log_line(
            f"{self.command} {path} {'-' if answer.drop else answer.status} "
            f"{answer.outcome} {key_id or '-'}"
        )
        if answer.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.delay > 0:
            sandbox.sleep(answer.delay)
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class Sandbox:
    """The sandbox server; ``start()`` binds and serves in a thread, ``stop()`` shuts it down."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """``log`` receives one line per request (no key, a fingerprint at most)."""
        try:
            loopback = ipaddress.ip_address(config.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InputError(f"the sandbox only listens on loopback, not {config.host!r}")
        self.config = config
        self.state = _State(config, clock)
        self.sleep = sleep
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients should use; only valid after ``start()``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        port = self._server.server_address[1]
        host = self.config.host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> str:
        """Bind (``port`` 0 picks a free one), serve in a background thread, return the URL."""
        server_class = _Server6 if ":" in self.config.host else _Server
        try:
            self._server = server_class((self.config.host, self.config.port), _Handler)
        except OSError as err:
            raise InputError(
                f"the sandbox can't listen on {self.config.host} port {self.config.port}: "
                f"{err.strerror}; pick another with --port, or --port 0 for any free port"
            ) from None
        self._server.sandbox = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, close the socket, and write the dump file if one was asked for."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.config.dump is not None:
            self.config.dump.write_text(
                json.dumps(self.state.snapshot(), indent=2) + "\n", encoding="utf-8"
            )

    def identifiers(self) -> list[dict[str, Any]]:
        """Every identifier held: accountUuid, identId and its fields in the create shape."""
        held: list[dict[str, Any]] = self.state.snapshot()["identifiers"]
        return held

    def requests(self) -> list[dict[str, Any]]:
        """The request log: time, key_fingerprint, method, path, status, outcome."""
        log: list[dict[str, Any]] = self.state.snapshot()["requests"]
        return log

    def log_line(self, message: str) -> None:
        """Send one timestamped line to the log callback, if any."""
        if self._log is not None:
            self._log(f"{datetime.now():%H:%M:%S.%f}"[:-3] + f" {message}")

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
