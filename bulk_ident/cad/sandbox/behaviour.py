"""What the sandbox answers: the pure logic behind its HTTP layer (keys, the per-key limit,
identifiers, accounts, faults, out-of-band edits)."""

from __future__ import annotations

import hmac
import json
import math
import random
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulk_ident.cad.sandbox.config import (
    ACCOUNT_LOOKUPS,
    ACCOUNT_STATUSES,
    DEFAULT_ACCOUNTS_LIMIT,
    FILE_TYPES,
    IDENTIFIER_DEFAULTS,
    IDENTIFIERS_PATH,
    LISTED_FIELDS,
    NESTED,
    UNIT_PAGES,
    UNIT_STATUSES,
    UUID_TEXT,
    SandboxConfig,
    fingerprint,
    with_defaults,
)


@dataclass
class Answer:
    """What the HTTP layer should do: answer, answer late, or drop the connection."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    raw: bytes | None = None  # sent as is instead of ``body`` as JSON
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    delay: float = 0.0
    drop: bool = False


def problem_answer(status: int, title: str, detail: str, path: str) -> Answer:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
        "traceId": uuid.uuid4().hex,
    }
    return Answer(status, body, "application/problem+json", outcome="rejected")


class SandboxState:
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
            None if config.accounts is None else [with_defaults(a) for a in config.accounts]
        )
        self.log: list[dict[str, Any]] = []

    def answer(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> tuple[Answer, str | None, str]:
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
            answer = problem_answer(401, "Unauthorized", "Missing or invalid API key", path)
            answer.headers["WWW-Authenticate"] = "Bearer"
            answer.outcome = "unauthorised"
            return answer, None, path
        key_id = fingerprint(key)
        with self.lock:
            limited = self._limit(key_id)
            if limited is not None:
                return limited, key_id, path
            return self._route(method, path, query, body), key_id, path

    def record(self, key_id: str | None, method: str, path: str, answer: Answer) -> None:
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

    def _inspect(self, method: str, path: str, body: bytes) -> Answer:
        name = path.removeprefix("/_sandbox/").strip("/")
        if method == "POST" and name == "edit":
            with self.lock:
                return self._edit(body, path)
        if method != "GET" or name not in ("identifiers", "requests"):
            detail = "try GET /_sandbox/identifiers or /requests, or POST /_sandbox/edit"
            return problem_answer(404, "Not Found", detail, path)
        return Answer(200, self.snapshot()[name])

    def _edit(self, body: bytes, path: str) -> Answer:
        """An out-of-band change, as someone editing the CAD by hand (the lock is held)."""
        try:
            edit = json.loads(body)
        except ValueError:
            return problem_answer(400, "Bad Request", "Request body is not valid JSON", path)
        usage = (
            'send {"identId": N, "set": {...}}, {"identId": N, "delete": true} '
            'or {"accountUuid": "...", "create": {...}}'
        )
        if not isinstance(edit, dict):
            return problem_answer(400, "Bad Request", usage, path)
        if "create" in edit:
            account, payload = edit.get("accountUuid"), edit["create"]
            if not isinstance(account, str) or not UUID_TEXT.match(account):
                return problem_answer(400, "Bad Request", "Invalid accountUuid format", path)
            if not self._account_exists(account):
                return problem_answer(404, "Not Found", "Account not found", path)
            if not isinstance(payload, dict):
                return problem_answer(400, "Bad Request", "create must be a JSON object", path)
            problem = _invalid_field(payload)
            if problem:
                return problem_answer(400, "Bad Request", problem, path)
            return Answer(200, {"identId": self._store(account.lower(), payload)})
        ident_id = edit.get("identId")
        if type(ident_id) is not int:
            return problem_answer(400, "Bad Request", usage, path)
        found = self._find(ident_id)
        if found is None:
            return problem_answer(404, "Not Found", f"no identifier {ident_id}", path)
        account, item = found
        if edit.get("delete") is True:
            self.identifiers[account].remove(item)
            return Answer(200, {"identId": ident_id, "deleted": True})
        changes = edit.get("set")
        if not isinstance(changes, dict):
            return problem_answer(400, "Bad Request", usage, path)
        problem = _invalid_field(changes)
        if problem:
            return problem_answer(400, "Bad Request", problem, path)
        _apply(item, changes)
        return Answer(200, {"identId": ident_id, "data": _flat(item)})

    def _file(self, method: str, path: str) -> Answer:
        """A file of the ``serve`` folder, read-only; never a listing, never outside it."""
        root = self.config.serve
        if root is None or method != "GET":
            return problem_answer(404, "Not Found", "no such file", path)
        name = urllib.parse.unquote(path.removeprefix("/_files/"))
        parts = name.split("/")
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or "\x00" in name
            or any(part in ("", ".", "..") for part in parts)
        ):
            return problem_answer(
                400, "Bad Request", "give a file name inside the served folder", path
            )
        base = root.resolve()
        target = (base / name).resolve()
        if not target.is_relative_to(base):  # a symbolic link pointing outside
            return problem_answer(
                400, "Bad Request", "give a file name inside the served folder", path
            )
        try:
            data = target.read_bytes() if target.is_file() else None
        except OSError:
            data = None
        if data is None:
            return problem_answer(404, "Not Found", f"no file {name!r} here", path)
        content_type = FILE_TYPES.get(target.suffix.lower(), "application/octet-stream")
        return Answer(200, raw=data, content_type=content_type, outcome="file")

    def _limit(self, key_id: str) -> Answer | None:
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

    def _route(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Answer:
        match = IDENTIFIERS_PATH.match(path)
        if match:
            account = urllib.parse.unquote(match.group(1))
            if not UUID_TEXT.match(account):
                return problem_answer(400, "Bad Request", "Invalid accountUuid format", path)
            if not self._account_exists(account):
                return problem_answer(404, "Not Found", "Account not found", path)
            if match.group(2):
                return self._one_identifier(method, account.lower(), match.group(2), body, path)
            if method == "POST":
                return self._create(account.lower(), body, path)
            if method == "GET":
                items = self.identifiers.get(account.lower(), [])
                selected = items[0]["id"] if items else None
                return Answer(200, {"SelectedIdent": selected, "Identifiers": items})
            return problem_answer(
                405, "Method Not Allowed", f"{method} is not supported here", path
            )
        if path.rstrip("/") == "/v2/general/accounts" and method == "GET":
            return self._list_accounts(query, path)
        if path.rstrip("/") == "/v2/general/accounts/account" and method == "GET":
            return self._find_account(query, path)
        return problem_answer(404, "Not Found", f"no such endpoint: {method} {path}", path)

    def _account_exists(self, account: str) -> bool:
        return self.accounts is None or any(
            a["uuid"].lower() == account.lower() for a in self.accounts
        )

    def _create(self, account: str, body: bytes, path: str) -> Answer:
        payload = _json_object(body, path)
        if isinstance(payload, Answer):
            return payload
        problem = _invalid_field(payload)
        if problem:
            return problem_answer(400, "Bad Request", problem, path)
        if self._draw(self.config.fail):
            return _failed(path)
        return self._after_write(Answer(200, {"identId": self._store(account, payload)}))

    def _one_identifier(
        self, method: str, account: str, ident_text: str, body: bytes, path: str
    ) -> Answer:
        """PATCH or DELETE one identifier of ``account`` (the lock is held)."""
        if method not in ("PATCH", "DELETE"):
            return problem_answer(
                405, "Method Not Allowed", f"{method} is not supported here", path
            )
        if not ident_text.isascii() or not ident_text.isdigit():
            return problem_answer(400, "Bad Request", "Invalid identId", path)
        ident_id = int(ident_text)
        changes: dict[str, Any] = {}
        if method == "PATCH":
            payload = _json_object(body, path)
            if isinstance(payload, Answer):
                return payload
            problem = _invalid_field(payload)
            if problem:
                return problem_answer(400, "Bad Request", problem, path)
            changes = payload
        item = next((i for i in self.identifiers.get(account, []) if i["id"] == ident_id), None)
        if item is None:
            return problem_answer(404, "Not Found", "Identifier not found", path)
        if self._draw(self.config.fail):
            return _failed(path)
        if method == "DELETE":
            self.identifiers[account].remove(item)
            return self._after_write(Answer(200, {"identId": ident_id, "serverId": 1}))
        _apply(item, changes)
        body_out = {"identId": ident_id, "serverId": 1, "identifier": json.loads(json.dumps(item))}
        return self._after_write(Answer(200, body_out))

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
                "data": {name: fields[name] for name in NESTED},
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

    def _after_write(self, answer: Answer) -> Answer:
        """The write is applied: maybe lose the answer, or send it late."""
        if self._draw(self.config.lose):
            answer.drop, answer.outcome = True, "lose"
        elif self._draw(self.config.slow):
            answer.delay, answer.outcome = self.config.slow_seconds, "slow"
        return answer

    def _draw(self, probability: float) -> bool:
        # No draw for a fault that is off, so one fault's sequence doesn't depend on the others.
        return probability > 0 and self.rng.random() < probability

    def _list_accounts(self, query: Mapping[str, list[str]], path: str) -> Answer:
        try:
            limit = int(_one(query, "limit") or DEFAULT_ACCOUNTS_LIMIT)
            offset = int(_one(query, "offset") or 0)
            status = int(_one(query, "status") or 1)
        except ValueError:
            return problem_answer(
                400, "Bad Request", "limit, offset and status must be integers", path
            )
        if not 1 <= limit <= 100 or offset < 0 or status not in ACCOUNT_STATUSES:
            return problem_answer(
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
            {**{name: a.get(name) for name in LISTED_FIELDS}, "permissions": a.get("permissions")}
            for a in matching[offset : offset + limit]
        ]
        return Answer(200, {"pagination": pagination, "accounts": listed})

    def _find_account(self, query: Mapping[str, list[str]], path: str) -> Answer:
        given = [name for name in ACCOUNT_LOOKUPS if _one(query, name) is not None]
        wanted = str(_one(query, given[0]) or "").strip().lower() if len(given) == 1 else ""
        if not wanted:
            detail = "give exactly one of " + ", ".join(ACCOUNT_LOOKUPS) + ", with a value"
            return problem_answer(400, "Bad Request", detail, path)
        field_name = "uuid" if given[0] == "accountUuid" else given[0]
        for account in self.accounts or ():
            value = account.get(field_name)
            if value is not None and str(value).strip().lower() == wanted:
                return Answer(200, dict(account))
        return problem_answer(404, "Not Found", "Account not found", path)


def _failed(path: str) -> Answer:
    answer = problem_answer(500, "Internal Server Error", "Simulated failure (--fail)", path)
    answer.outcome = "fail"
    return answer


def _json_object(body: bytes, path: str) -> dict[str, Any] | Answer:
    """The request body as a JSON object, or the 400 to answer instead."""
    try:
        payload = json.loads(body)
    except ValueError:
        return problem_answer(400, "Bad Request", "Request body is not valid JSON", path)
    if not isinstance(payload, dict):
        return problem_answer(400, "Bad Request", "Request body must be a JSON object", path)
    return payload


def _apply(item: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Change a stored identifier's known fields as given; unknown properties are ignored."""
    for name in IDENTIFIER_DEFAULTS:
        if name in changes:
            if name in NESTED:
                item["data"][name] = changes[name]
            else:
                item[name] = changes[name]


def _rate_limited(seconds: float, outcome: str) -> Answer:
    body = {"message": "API rate limit exceeded", "request_id": uuid.uuid4().hex}
    retry_after = str(max(1, math.ceil(seconds)))
    return Answer(429, body, headers={"Retry-After": retry_after}, outcome=outcome)


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
    return {name: nested[name] if name in NESTED else item[name] for name in IDENTIFIER_DEFAULTS}
