"""The HTTP client for Sonoran CAD's v2 API: one method per call, each returning an outcome.

What each reply means lives in ``answers.py`` (the outcome tree and table); the deadline on every
request in ``transport.py``. The caller paces: this module neither waits nor retries.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final

import httpx

from bulk_ident import __version__
from bulk_ident.cad.answers import (
    ACCOUNTS_PAGE_SIZE,
    MAX_ANSWER_BYTES,
    MAX_IDENT_ID,
    MAX_LIST_BYTES,
    MAX_RETRY_AFTER,
    Account,
    AccountsPage,
    AccountsPageOutcome,
    Created,
    CreateOutcome,
    Deleted,
    DeleteOutcome,
    Failure,
    FindAccountOutcome,
    Listed,
    ListOutcome,
    NotSent,
    NotSentKind,
    RateLimited,
    Rejected,
    RemoteIdentifier,
    Reply,
    RequestRecord,
    Unauthorised,
    Unknown,
    Updated,
    UpdateOutcome,
    classify,
    ident_id_of,
    read_accounts_page,
    read_created,
    read_found_account,
    read_listed,
    read_same_ident,
)
from bulk_ident.cad.transport import Deadline, DeadlineTransport
from bulk_ident.errors import InputError
from bulk_ident.net import check_base_url, choose_proxy, key_fingerprint, sendable_key

USER_AGENT: Final = f"bulk-ident/{__version__}"
DEFAULT_DEADLINE: Final = 60.0
Transport = httpx.BaseTransport  # the test seam: callers pass an httpx.MockTransport

# The outcomes are part of the client's interface: callers import them from here.
__all__ = [
    "ACCOUNTS_PAGE_SIZE",
    "DEFAULT_DEADLINE",
    "MAX_ANSWER_BYTES",
    "MAX_IDENT_ID",
    "MAX_LIST_BYTES",
    "MAX_RETRY_AFTER",
    "USER_AGENT",
    "Account",
    "AccountsPage",
    "AccountsPageOutcome",
    "CreateOutcome",
    "Created",
    "DeleteOutcome",
    "Deleted",
    "Failure",
    "FindAccountOutcome",
    "ListOutcome",
    "Listed",
    "NotSent",
    "NotSentKind",
    "RateLimited",
    "Rejected",
    "RemoteIdentifier",
    "RequestRecord",
    "SonoranClient",
    "Transport",
    "Unauthorised",
    "Unknown",
    "UpdateOutcome",
    "Updated",
]


class SonoranClient:
    """Sonoran CAD v2 calls used by the importer; one instance per base URL and key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline: float = DEFAULT_DEADLINE,
        proxy: str | None = None,
        env: Mapping[str, str] | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
        before_request: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``deadline`` bounds a whole request (connect, send, every byte of the answer);
        ``proxy`` (https only) wins over HTTPS_PROXY/ALL_PROXY in ``env`` (default: the
        process environment), and loopback base URLs never use one; ``transport`` replaces
        the network (tests), and with it the proxy and deadline handling.
        ``before_request`` runs before every request (a pacer waits there); ``on_request``
        gets a record of every request once answered or failed; ``wall_clock`` reads
        Retry-After dates."""
        if not sendable_key(api_key):
            raise InputError("the API key holds characters that can't be sent: check its source")
        if not deadline > 0:
            raise ValueError("deadline must be positive")
        self._base_url = check_base_url(base_url)
        self._key = api_key
        self.fingerprint = key_fingerprint(api_key)
        self.proxy = choose_proxy(self._base_url, proxy=proxy, env=env)
        self._deadline_seconds = deadline
        self._deadline = Deadline()
        self._on_request = on_request
        self._before_request = before_request
        self._wall_clock = wall_clock
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport
            if transport is not None
            else DeadlineTransport(self._deadline, self.proxy),
            timeout=httpx.Timeout(
                connect=connect_timeout,
                read=read_timeout,
                write=read_timeout,
                pool=connect_timeout,
            ),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect could carry the key elsewhere
            trust_env=False,  # proxies are chosen above; no .netrc credentials either
        )

    def __repr__(self) -> str:
        return f"SonoranClient({self._base_url!r}, {self.fingerprint})"

    @property
    def base_url(self) -> str:
        """The normalised base URL requests go to."""
        return self._base_url

    def create_identifier(self, account_uuid: str, payload: Mapping[str, Any]) -> CreateOutcome:
        """POST one identifier to an account; never raises for transport or server trouble."""
        # Serialised as the official SDK does (json.dumps defaults), so the bytes match.
        body = json.dumps(dict(payload), allow_nan=False)
        reply = self._send("POST", _identifiers_path(account_uuid), body=body.encode("utf-8"))
        return classify(reply, read_created)

    def update_identifier(
        self, account_uuid: str, ident_id: int, fields: Mapping[str, Any]
    ) -> UpdateOutcome:
        """PATCH the given fields of one identifier; 404 (no such identifier) is Rejected."""
        body = json.dumps(dict(fields), allow_nan=False)
        path = _identifier_path(account_uuid, ident_id)
        reply = self._send("PATCH", path, body=body.encode("utf-8"))
        return classify(reply, read_same_ident(ident_id, Updated))

    def delete_identifier(self, account_uuid: str, ident_id: int) -> DeleteOutcome:
        """DELETE one identifier; 404 (already gone) is Rejected."""
        reply = self._send("DELETE", _identifier_path(account_uuid, ident_id))
        return classify(reply, read_same_ident(ident_id, Deleted))

    def list_identifiers(self, account_uuid: str) -> ListOutcome:
        """GET an account's identifiers; never raises for transport or server trouble."""
        reply = self._send("GET", _identifiers_path(account_uuid), limit=MAX_LIST_BYTES)
        return classify(reply, read_listed)

    def list_accounts_page(
        self,
        *,
        offset: int,
        limit: int = ACCOUNTS_PAGE_SIZE,
        status: int | None = None,
        username: str | None = None,
    ) -> AccountsPageOutcome:
        """GET one page of the community's accounts (status None: the server's default, 1)."""
        if not 1 <= limit <= ACCOUNTS_PAGE_SIZE or offset < 0:
            raise ValueError("limit must be 1-100 and offset >= 0")
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        if username is not None:
            params["username"] = username
        reply = self._send("GET", "/v2/general/accounts", params=params, limit=MAX_LIST_BYTES)
        return classify(reply, read_accounts_page(offset, limit, status))

    def find_account(
        self,
        *,
        username: str | None = None,
        community_user_id: str | None = None,
        discord: str | None = None,
        roblox: str | None = None,
        account_uuid: str | None = None,
    ) -> FindAccountOutcome:
        """GET the one account with this value (exactly one argument); 404 is Rejected."""
        given = {
            name: value
            for name, value in (
                ("username", username),
                ("communityUserId", community_user_id),
                ("discord", discord),
                ("roblox", roblox),
                ("accountUuid", account_uuid),
            )
            if value is not None
        }
        if len(given) != 1:
            raise ValueError("find_account takes exactly one of its look-up arguments")
        reply = self._send("GET", "/v2/general/accounts/account", params=given)
        return classify(reply, read_found_account)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> SonoranClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        limit: int = MAX_ANSWER_BYTES,
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self._key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._before_request is not None:
            self._before_request()
        started = time.monotonic()
        self._deadline.at = started + self._deadline_seconds
        reply: Reply
        try:
            with self._http.stream(
                method, path, content=body, params=params, headers=headers
            ) as response:
                data, too_large = self._read_body(response, limit)
            text = self._scrub(data.decode(response.encoding or "utf-8", errors="replace"))
            reply = Reply(
                response.status_code,
                response.headers,
                text,
                now=self._wall_clock(),
                too_large=limit if too_large else None,
            )
        except httpx.RequestError as err:
            # A read or write cut short by the deadline (a connect cut short is still NotSent).
            expired = (
                isinstance(err, httpx.ReadTimeout | httpx.WriteTimeout) and self._deadline_passed()
            )
            reply = Reply(
                error=err,
                error_text=self._scrub(str(err)),
                now=self._wall_clock(),
                deadline=self._deadline_seconds if expired else None,
            )
        finally:
            self._deadline.at = None
        if self._on_request is not None:
            seconds = time.monotonic() - started
            self._on_request(RequestRecord(method, path, reply.status, seconds))
        return reply

    def _read_body(self, response: httpx.Response, limit: int) -> tuple[bytes, bool]:
        """The body, decoded, up to ``limit`` bytes; True when it went past (the rest unread)."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            if self._deadline_passed():
                # A custom transport has no per-read deadline: check between chunks too.
                raise httpx.ReadTimeout("the overall deadline passed", request=response.request)
        return b"".join(chunks), False

    def _deadline_passed(self) -> bool:
        at = self._deadline.at
        return at is not None and time.monotonic() >= at

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from outside, should a server ever echo it."""
        return text.replace(self._key, "[key]") if self._key in text else text


def _identifiers_path(account_uuid: str) -> str:
    return f"/v2/emergency/accounts/{urllib.parse.quote(account_uuid, safe='')}/identifiers"


def _identifier_path(account_uuid: str, ident_id: int) -> str:
    if ident_id_of(ident_id) is None:
        raise ValueError("ident_id must be an integer from 1 to 2**63-1")
    return f"{_identifiers_path(account_uuid)}/{ident_id}"
