"""The HTTP client for Sonoran CAD's v2 API: every reply is classified into one outcome.

This is the only module that imports httpx. A create or list call never raises for a transport
or server problem; it returns one of these outcomes (see ``_OUTCOME_TABLE``)::

    CreateOutcome / ListOutcome
     +-- Created / Listed   2xx with a usable body: the identifier exists / the list is known
     +-- Rejected           4xx other than 401/403/429: refused, nothing stored, never retried
     +-- Unauthorised       401/403: the key is refused, so the whole run must stop
     +-- RateLimited        429: nothing stored; retry_after in seconds when the server said
     +-- NotSent            the request never reached the server: safe to send again
     +-- Unknown            it may have been processed: settle it before any new POST
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx

from bulk_ident import __version__
from bulk_ident.errors import ApiError, InputError

DEFAULT_BASE_URL: Final = "https://api.sonorancad.com"
API_KEY_ENV: Final = "SONORAN_API_KEY"
USER_AGENT: Final = f"bulk-ident/{__version__}"
ACCOUNTS_PAGE_SIZE: Final = 100  # the documented maximum for ``limit``
_MESSAGE_LIMIT: Final = 200

Transport = httpx.BaseTransport  # the test seam: callers pass an httpx.MockTransport


# -- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """The identifier was created: the server answered 2xx with an integer ``identId``."""

    ident_id: int
    status: int


@dataclass(frozen=True)
class Updated:
    """The PATCH was applied (2xx)."""

    ident_id: int
    status: int


@dataclass(frozen=True)
class Deleted:
    """The identifier was deleted (2xx)."""

    ident_id: int
    status: int


@dataclass(frozen=True)
class Rejected:
    """The server refused this request (4xx); nothing was stored and retrying won't help."""

    status: int
    message: str


@dataclass(frozen=True)
class Unauthorised:
    """The key was refused (401/403); every later request would be refused too."""

    status: int
    message: str


@dataclass(frozen=True)
class RateLimited:
    """The server answered 429; nothing was stored. ``retry_after`` is in seconds, if known."""

    retry_after: float | None
    message: str


@dataclass(frozen=True)
class NotSent:
    """The request never reached the server (refused, DNS, connect timeout): safe to resend."""

    reason: str


@dataclass(frozen=True)
class Unknown:
    """The request may have been processed; ``status`` is set when an answer did arrive."""

    reason: str
    status: int | None


@dataclass(frozen=True)
class RemoteIdentifier:
    """One identifier as listed by the server.

    ``data`` holds every field of the listed item with those under its ``data`` object lifted
    to the top level, so it can be compared key by key with a create payload.
    """

    ident_id: int
    unit_num: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Listed:
    """An account's identifiers and the one it has selected (None when not given)."""

    identifiers: list[RemoteIdentifier]
    selected: int | None


Failure = Rejected | Unauthorised | RateLimited | NotSent | Unknown
CreateOutcome = Created | Failure
ListOutcome = Listed | Failure
UpdateOutcome = Updated | Failure
DeleteOutcome = Deleted | Failure


@dataclass(frozen=True)
class RequestRecord:
    """One request as sent, for logs and pacing: the URL path only, never the key or query."""

    method: str
    path: str
    status: int | None
    seconds: float


class RequestFailed(ApiError):
    """A look-up that the run depends on failed; ``outcome`` says how. The message is safe."""

    def __init__(self, message: str, outcome: Failure) -> None:
        super().__init__(message)
        self.outcome = outcome


# -- classification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """What came back for one request: a response, or the transport error instead of one."""

    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    text: str = ""  # the body, with the key scrubbed out
    error: httpx.RequestError | None = None
    error_text: str = ""  # ``str(error)``, with the key scrubbed out
    now: float = 0.0  # wall-clock time of the reply, for Retry-After given as a date

    def json(self) -> Any:
        """The body parsed as JSON, or None when it isn't JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def _not_sent(reply: _Reply) -> Failure:
    return NotSent(_describe_error(reply))


def _unknown(reply: _Reply) -> Failure:
    if reply.status is None:
        return Unknown(_describe_error(reply), None)
    message = _server_message(reply)
    reason = f"the server answered {reply.status}" + (f": {message}" if message else "")
    return Unknown(reason, reply.status)


def _unauthorised(reply: _Reply) -> Failure:
    fallback = "the API key was refused; check that it is the community's current key"
    return Unauthorised(reply.status or 0, _server_message(reply) or fallback)


def _rate_limited(reply: _Reply) -> Failure:
    message = _server_message(reply) or "API rate limit exceeded"
    return RateLimited(_retry_after(reply.headers.get("retry-after"), now=reply.now), message)


def _rejected(reply: _Reply) -> Failure:
    status = reply.status or 0
    return Rejected(status, _server_message(reply) or f"the server refused the request ({status})")


_When = type[httpx.RequestError] | Container[int]

# The one table that says what every reply means. Read top to bottom: the first match wins,
# so the specific transport errors come before their base classes.
_OUTCOME_TABLE: Final[tuple[tuple[_When, Callable[[_Reply], Failure] | None], ...]] = (
    (httpx.ConnectTimeout, _not_sent),  # no connection was made
    (httpx.ConnectError, _not_sent),  # refused, unreachable, DNS failure
    (httpx.PoolTimeout, _not_sent),  # waited for our own pool; nothing was written
    (httpx.UnsupportedProtocol, _not_sent),  # refused before opening anything
    (httpx.TransportError, _unknown),  # read/write timeout, reset, protocol error: may exist
    (httpx.RequestError, _unknown),  # e.g. an undecodable body: it was answered, so may exist
    (range(200, 300), None),  # the endpoint reads the body: Created/Listed, else Unknown
    ((401, 403), _unauthorised),  # the key is refused: stop the whole run
    ((429,), _rate_limited),  # nothing stored; wait
    (range(400, 500), _rejected),  # 400, 404, 409, 422...: refused, never retried
    (range(100, 600), _unknown),  # 5xx (and 1xx/3xx, never expected): may exist
)

_T = TypeVar("_T")


def _classify(reply: _Reply, success: Callable[[_Reply], _T | Unknown]) -> _T | Failure:
    """Look the reply up in ``_OUTCOME_TABLE``; ``success`` reads a 2xx body."""
    for when, outcome in _OUTCOME_TABLE:
        if isinstance(when, type):
            matched = reply.error is not None and isinstance(reply.error, when)
        else:
            matched = reply.error is None and reply.status in when
        if matched:
            return success(reply) if outcome is None else outcome(reply)
    return _unknown(reply)


_ERROR_WORDS: Final[dict[type[Exception], str]] = {
    httpx.ConnectTimeout: "connecting timed out",
    httpx.ConnectError: "could not connect (refused, unreachable or unknown host)",
    httpx.PoolTimeout: "no free connection in time",
    httpx.ReadTimeout: "no answer before the read timeout",
    httpx.WriteTimeout: "sending timed out part-way",
    httpx.RemoteProtocolError: "the connection closed without a complete answer",
    httpx.ReadError: "the connection failed while waiting for the answer",
    httpx.WriteError: "the connection failed while sending",
}


def _describe_error(reply: _Reply) -> str:
    if reply.error is None:
        return "no answer"
    name = type(reply.error).__name__
    what = _ERROR_WORDS.get(type(reply.error), "the connection failed")
    detail = _trim(reply.error_text)
    return f"{what} ({name}: {detail})" if detail else f"{what} ({name})"


def _server_message(reply: _Reply) -> str:
    """The message to show: problem+json detail or title, the gateway's message, or the text."""
    body = reply.json()
    if isinstance(body, dict):
        for key in ("detail", "title", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _trim(value)
    return _trim(reply.text)


def _trim(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"


def _retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP date), None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None  # RFC 9110 dates are always GMT; a naive one is not a valid header
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _created(reply: _Reply) -> Created | Unknown:
    body = reply.json()
    ident_id = body.get("identId") if isinstance(body, dict) else None
    if isinstance(ident_id, int) and not isinstance(ident_id, bool) and ident_id > 0:
        return Created(ident_id, reply.status or 0)
    return Unknown(
        f"the server answered {reply.status} without a usable identId: {_trim(reply.text)!r}",
        reply.status,
    )


def _listed(reply: _Reply) -> Listed | Unknown:
    body = reply.json()
    items = _pascal_or_camel(body, "Identifiers")
    if not isinstance(items, list):
        return Unknown(
            f"the server answered {reply.status} but not with an identifier list", reply.status
        )
    identifiers: list[RemoteIdentifier] = []
    for item in items:
        remote = _remote_identifier(item)
        if remote is None:
            return Unknown(
                f"the server answered {reply.status} with an identifier in an unknown shape",
                reply.status,
            )
        identifiers.append(remote)
    selected = _pascal_or_camel(body, "SelectedIdent")
    if not isinstance(selected, int) or isinstance(selected, bool):
        selected = None
    return Listed(identifiers, selected)


def _pascal_or_camel(body: Any, key: str) -> Any:
    """The documented PascalCase key, or its camelCase twin should the server ever switch."""
    if not isinstance(body, dict):
        return None
    if key in body:
        return body[key]
    return body.get(key[0].lower() + key[1:])


def _remote_identifier(item: Any) -> RemoteIdentifier | None:
    if not isinstance(item, dict):
        return None
    ident_id = item.get("id", item.get("identId"))
    if not isinstance(ident_id, int) or isinstance(ident_id, bool):
        return None
    nested = item.get("data")
    flat = {key: value for key, value in item.items() if key != "data"}
    if isinstance(nested, dict):
        flat.update(nested)
    unit_num = flat.get("unitNum")
    return RemoteIdentifier(ident_id, unit_num if isinstance(unit_num, str) else "", flat)


# -- configuration: base URL and key ----------------------------------------------------------


def check_base_url(url: str) -> str:
    """Return the base URL normalised; refuse anything but https, or http to a loopback host."""
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"base URL {text!r} is not an http(s) address: "
            f"use e.g. {DEFAULT_BASE_URL} or http://127.0.0.1:8765 for the sandbox"
        )
    if parts.username is not None or parts.password is not None:
        raise InputError("the base URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InputError(f"base URL {text!r} must not have a query or fragment")
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(
            f"base URL {text!r} uses plain http, which would send the API key unencrypted: "
            "use https, or http only for a loopback address such as http://127.0.0.1:8765"
        )
    try:
        port = parts.port
    except ValueError as err:
        raise InputError(f"base URL {text!r} has an invalid port") from err
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_KEY_CHARS: Final = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what a header can carry


def load_api_key(*, env: Mapping[str, str], key_file: Path | None) -> str:
    """The API key from ``key_file`` if given, else from ``SONORAN_API_KEY``; never echoed."""
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not readable as UTF-8 text"
            raise InputError(f"can't read the API key file {str(key_file)!r}: {reason}") from None
        source = f"the API key file {str(key_file)!r}"
    else:
        key = env.get(API_KEY_ENV, "").strip()
        source = API_KEY_ENV
        if not key:
            raise InputError(
                f"no API key: set {API_KEY_ENV} or pass --api-key-file FILE "
                "(a file holding only the key)"
            )
    if not key:
        raise InputError(f"{source} is empty: it should hold only the API key")
    if not _KEY_CHARS.match(key):
        # Never echo the value: a key with a stray space is still mostly the key.
        raise InputError(
            f"{source} holds spaces, line breaks or non-ASCII characters: "
            "it should hold only the API key, on one line"
        )
    return key


def key_fingerprint(api_key: str) -> str:
    """A short stable id for a key (``key-`` + 10 hex of its SHA-256), safe to log and store."""
    return "key-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:10]


# -- the client -------------------------------------------------------------------------------


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
        on_request: Callable[[RequestRecord], None] | None = None,
        before_request: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``before_request`` runs before every request (a pacer waits there); ``on_request``
        gets a record of every request once answered or failed; ``wall_clock`` reads
        Retry-After dates."""
        if not _KEY_CHARS.match(api_key):
            raise InputError("the API key holds characters that can't be sent: check its source")
        self._base_url = check_base_url(base_url)
        self._key = api_key
        self.fingerprint = key_fingerprint(api_key)
        self._on_request = on_request
        self._before_request = before_request
        self._wall_clock = wall_clock
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport,
            timeout=httpx.Timeout(
                connect=connect_timeout,
                read=read_timeout,
                write=read_timeout,
                pool=connect_timeout,
            ),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect could carry the key elsewhere
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
        return _classify(reply, _created)

    def update_identifier(
        self, account_uuid: str, ident_id: int, fields: Mapping[str, Any]
    ) -> UpdateOutcome:
        """PATCH the given fields of one identifier; 404 comes back as Rejected(404)."""
        body = json.dumps(dict(fields), allow_nan=False).encode("utf-8")
        path = f"{_identifiers_path(account_uuid)}/{int(ident_id)}"
        reply = self._send("PATCH", path, body=body)
        return _classify(reply, lambda r: Updated(ident_id, r.status or 0))

    def delete_identifier(self, account_uuid: str, ident_id: int) -> DeleteOutcome:
        """DELETE one identifier; 404 (already gone) comes back as Rejected(404)."""
        path = f"{_identifiers_path(account_uuid)}/{int(ident_id)}"
        reply = self._send("DELETE", path)
        return _classify(reply, lambda r: Deleted(ident_id, r.status or 0))

    def list_identifiers(self, account_uuid: str) -> ListOutcome:
        """GET an account's identifiers; never raises for transport or server trouble."""
        return _classify(self._send("GET", _identifiers_path(account_uuid)), _listed)

    def list_accounts(
        self, *, username: str | None = None, status: int | None = None
    ) -> list[dict[str, Any]]:
        """Every community account (filtered as given), page by page; RequestFailed on failure."""
        return list(self._iter_accounts(username=username, status=status))

    def _iter_accounts(
        self, *, username: str | None, status: int | None
    ) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            params: dict[str, str | int] = {"limit": ACCOUNTS_PAGE_SIZE, "offset": offset}
            if status is not None:
                params["status"] = status
            if username is not None:
                params["username"] = username
            reply = self._send("GET", "/v2/general/accounts", params=params)
            page = _classify(reply, _accounts_page)
            if not isinstance(page, _AccountsPage):
                raise RequestFailed(f"listing the community's accounts failed: {_say(page)}", page)
            yield from page.accounts
            offset += len(page.accounts)
            if not page.accounts or (page.total is not None and offset >= page.total):
                return

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
    ) -> _Reply:
        headers = {"Authorization": f"Bearer {self._key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._before_request is not None:
            self._before_request()
        started = time.monotonic()
        reply: _Reply
        try:
            response = self._http.request(
                method, path, content=body, params=params, headers=headers
            )
        except httpx.RequestError as err:
            reply = _Reply(error=err, error_text=self._scrub(str(err)), now=self._wall_clock())
        else:
            text = self._scrub(response.text)
            reply = _Reply(response.status_code, response.headers, text, now=self._wall_clock())
        if self._on_request is not None:
            seconds = time.monotonic() - started
            self._on_request(RequestRecord(method, path, reply.status, seconds))
        return reply

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from outside, should a server ever echo it."""
        return text.replace(self._key, "[key]") if self._key in text else text


def _identifiers_path(account_uuid: str) -> str:
    return f"/v2/emergency/accounts/{urllib.parse.quote(account_uuid, safe='')}/identifiers"


@dataclass(frozen=True)
class _AccountsPage:
    accounts: list[dict[str, Any]]
    total: int | None


def _accounts_page(reply: _Reply) -> _AccountsPage | Unknown:
    body = reply.json()
    accounts = body.get("accounts") if isinstance(body, dict) else None
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        return Unknown(
            f"the server answered {reply.status} but not with an account list", reply.status
        )
    pagination = body.get("pagination")
    total = pagination.get("total") if isinstance(pagination, dict) else None
    return _AccountsPage(accounts, total if isinstance(total, int) else None)


def _say(outcome: Failure) -> str:
    """One line for a failed look-up."""
    match outcome:
        case Rejected(status, message):
            return f"refused ({status}): {message}"
        case Unauthorised(status, message):
            return f"the API key was refused ({status}): {message}"
        case RateLimited(retry_after, message):
            wait = f"; retry after {retry_after:.0f} s" if retry_after is not None else ""
            return f"rate limited: {message}{wait}"
        case NotSent(reason):
            return f"not sent: {reason}"
        case Unknown(reason, _):
            return reason
