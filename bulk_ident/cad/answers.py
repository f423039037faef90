"""What each reply of Sonoran's v2 API means: the outcomes, the one table that classifies them,
and the defensive reading of every body.

A call is ONE request and never raises for a transport or server problem; it returns one of
these outcomes (see ``_OUTCOME_TABLE``)::


    CreateOutcome | UpdateOutcome | DeleteOutcome | ListOutcome | AccountsPageOutcome
    | FindAccountOutcome
     +-- Created | Updated | Deleted | Listed | AccountsPage | Account
     |                   2xx with a usable body: the change is made / the answer is known
     +-- Rejected        4xx other than 401/403/429: refused, nothing stored, never retried
     |                   (404 on update, delete, find: no such identifier or account)
     +-- Unauthorised    401/403: the key is refused, so the whole run must stop
     +-- RateLimited     429: nothing stored; retry_after in seconds (at most 2 h) when given
     +-- NotSent         the request never reached the server: safe to send again;
     |                   ``kind`` says why (DNS, REFUSED, TIMEOUT, TLS, PROXY, OTHER)
     +-- Unknown         it may have been processed (5xx, lost or late answer, an answer
                         that can't be used): settle it before any new POST

The caller paces: this module neither waits nor retries.
"""

from __future__ import annotations

import email.utils
import enum
import errno
import json
import math
import re
import socket
import ssl
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx

from bulk_ident.rates import MAX_WAIT

ACCOUNTS_PAGE_SIZE: Final = 100  # the documented maximum for ``limit``
MAX_RETRY_AFTER: Final = MAX_WAIT  # a longer Retry-After is a server mistake, not a plan
MAX_IDENT_ID: Final = 2**63 - 1  # a signed 64-bit id: anything beyond is not a real identId
MAX_ANSWER_BYTES: Final = 1 << 20  # create, update, delete and single-account answers
MAX_LIST_BYTES: Final = 32 << 20  # an account's identifiers, a page of accounts
_MESSAGE_LIMIT: Final = 200


# -- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """The identifier was created: the server answered 2xx with an integer ``identId``."""

    ident_id: int
    status: int


@dataclass(frozen=True)
class Updated:
    """The identifier was changed: 2xx whose body names the same ``identId``."""

    ident_id: int
    status: int


@dataclass(frozen=True)
class Deleted:
    """The identifier was deleted: 2xx whose body names the same ``identId``."""

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


class NotSentKind(enum.StrEnum):
    """Why a request never reached the server."""

    DNS = "dns"  # the host name was not found
    REFUSED = "refused"  # connection refused, network or host unreachable
    TIMEOUT = "timeout"  # no connection within the connect timeout
    TLS = "tls"  # the TLS handshake failed (certificate, protocol)
    PROXY = "proxy"  # the proxy would not open a tunnel to the server
    OTHER = "other"


@dataclass(frozen=True)
class NotSent:
    """The request never reached the server (refused, DNS, connect timeout): safe to resend."""

    reason: str
    kind: NotSentKind = NotSentKind.OTHER


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


@dataclass(frozen=True)
class Account:
    """One community account as the server describes it; ids are text exactly as sent.

    ``uuid`` is lower-case; ``status`` is 0 pending, 1 validated, 2 expired, 3 removed,
    4 banned; ``joined`` and ``last_login`` are as given.
    """

    uuid: str
    username: str | None
    community_user_id: str | None
    discord: str | None
    roblox: str | None
    status: int
    joined: str | None
    last_login: str | None


@dataclass(frozen=True)
class AccountsPage:
    """One page of the community's account listing; ``offset`` and ``limit`` as asked."""

    accounts: list[Account]
    total: int | None
    offset: int
    limit: int


Failure = Rejected | Unauthorised | RateLimited | NotSent | Unknown
CreateOutcome = Created | Failure
UpdateOutcome = Updated | Failure
DeleteOutcome = Deleted | Failure
ListOutcome = Listed | Failure
AccountsPageOutcome = AccountsPage | Failure
FindAccountOutcome = Account | Failure


@dataclass(frozen=True)
class RequestRecord:
    """One request as sent, for logs and pacing: the URL path only, never the key or query."""

    method: str
    path: str
    status: int | None
    seconds: float


# -- classification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What came back for one request: a response, or the transport error instead of one."""

    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    text: str = ""  # the body, with the key scrubbed out
    error: httpx.RequestError | None = None
    error_text: str = ""  # ``str(error)``, with the key scrubbed out
    now: float = 0.0  # wall-clock time of the reply, for Retry-After given as a date
    too_large: int | None = None  # the body limit, when the body went past it (not kept)
    deadline: float | None = None  # the overall deadline, when it ran out

    def json(self) -> Any:
        """The body parsed as JSON, or None when it isn't JSON."""
        try:
            return json.loads(self.text)
        except (ValueError, RecursionError):
            return None

    def exact_json(self) -> Any:
        """As ``json()``, but non-integer numbers stay the text they were sent as."""
        try:
            return json.loads(self.text, parse_float=_NumberText, parse_constant=_NumberText)
        except (ValueError, RecursionError):
            return None


class _NumberText(str):
    """A JSON number that is not an integer, kept as its text so no digit is lost."""

    __slots__ = ()


def _not_sent(reply: Reply) -> Failure:
    return NotSent(_describe_error(reply), _not_sent_kind(reply.error))


def _unknown(reply: Reply) -> Failure:
    if reply.status is None:
        return Unknown(_describe_error(reply), None)
    message = _server_message(reply)
    reason = f"the server answered {reply.status}" + (f": {message}" if message else "")
    return Unknown(reason, reply.status)


def _unauthorised(reply: Reply) -> Failure:
    fallback = "the API key was refused; check that it is the community's current key"
    return Unauthorised(reply.status or 0, _server_message(reply) or fallback)


def _rate_limited(reply: Reply) -> Failure:
    message = _server_message(reply) or "API rate limit exceeded"
    return RateLimited(_retry_after(reply.headers.get("retry-after"), now=reply.now), message)


def _rejected(reply: Reply) -> Failure:
    status = reply.status or 0
    return Rejected(status, _server_message(reply) or f"the server refused the request ({status})")


_When = type[httpx.RequestError] | Container[int]

# The one table that says what every reply means. Read top to bottom: the first match wins,
# so the specific transport errors come before their base classes.
_OUTCOME_TABLE: Final[tuple[tuple[_When, Callable[[Reply], Failure] | None], ...]] = (
    (httpx.ConnectTimeout, _not_sent),  # no connection was made
    (httpx.ConnectError, _not_sent),  # refused, unreachable, DNS failure, TLS handshake
    (httpx.ProxyError, _not_sent),  # the proxy refused the tunnel: nothing reached the server
    (httpx.PoolTimeout, _not_sent),  # waited for our own pool; nothing was written
    (httpx.UnsupportedProtocol, _not_sent),  # refused before opening anything
    (httpx.TransportError, _unknown),  # read/write timeout, deadline, reset: may exist
    (httpx.RequestError, _unknown),  # e.g. an undecodable body: it was answered, so may exist
    (range(200, 300), None),  # the endpoint reads the body: Created/Listed/..., else Unknown
    ((401, 403), _unauthorised),  # the key is refused: stop the whole run
    ((429,), _rate_limited),  # nothing stored; wait
    (range(400, 500), _rejected),  # 400, 404, 409, 422...: refused, never retried
    (range(100, 600), _unknown),  # 5xx (and 1xx/3xx, never expected): may exist
)

_T = TypeVar("_T")


def classify(reply: Reply, success: Callable[[Reply], _T | Unknown]) -> _T | Failure:
    """Look the reply up in ``_OUTCOME_TABLE``; ``success`` reads a 2xx body."""
    for when, outcome in _OUTCOME_TABLE:
        if isinstance(when, type):
            matched = reply.error is not None and isinstance(reply.error, when)
        else:
            matched = reply.error is None and reply.status in when
        if matched:
            if outcome is not None:
                return outcome(reply)
            if reply.too_large is not None:
                # Only the body tells what happened, and we did not read all of it.
                return Unknown(
                    f"the server answered {reply.status} with a body over "
                    f"{_size(reply.too_large)}, which was not read",
                    reply.status,
                )
            return success(reply)
    return _unknown(reply)


_ERROR_WORDS: Final[dict[type[Exception], str]] = {
    httpx.ConnectTimeout: "connecting timed out",
    httpx.ConnectError: "could not connect (refused, unreachable or unknown host)",
    httpx.ProxyError: "the proxy would not open a connection to the server",
    httpx.PoolTimeout: "no free connection in time",
    httpx.ReadTimeout: "no answer before the read timeout",
    httpx.WriteTimeout: "sending timed out part-way",
    httpx.RemoteProtocolError: "the connection closed without a complete answer",
    httpx.ReadError: "the connection failed while waiting for the answer",
    httpx.WriteError: "the connection failed while sending",
}
_KIND_WORDS: Final[dict[NotSentKind, str]] = {
    NotSentKind.DNS: "could not connect: the host name was not found (DNS)",
    NotSentKind.REFUSED: "could not connect: refused or unreachable",
    NotSentKind.TLS: "could not connect: the secure (TLS) connection failed",
}


def _describe_error(reply: Reply) -> str:
    if reply.error is None:
        return "no answer"
    name = type(reply.error).__name__
    if reply.deadline is not None:
        what = f"no complete answer within the {reply.deadline:g} s deadline"
    elif isinstance(reply.error, httpx.ConnectError):
        kind = _not_sent_kind(reply.error)
        what = _KIND_WORDS.get(kind, _ERROR_WORDS[httpx.ConnectError])
    else:
        what = _ERROR_WORDS.get(type(reply.error), "the connection failed")
    detail = _trim(reply.error_text)
    return f"{what} ({name}: {detail})" if detail else f"{what} ({name})"


_DNS_WORDS: Final = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "getaddrinfo failed",
    "name resolution",
)
_REFUSED_WORDS: Final = ("connection refused", "network is unreachable", "no route to host")
_REFUSED_ERRNOS: Final = frozenset(
    {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)


def _not_sent_kind(error: BaseException | None) -> NotSentKind:
    """Why a request was not sent, from the error and the exceptions it was raised from."""
    if isinstance(error, httpx.ConnectTimeout):
        return NotSentKind.TIMEOUT
    if isinstance(error, httpx.ProxyError):
        return NotSentKind.PROXY
    if not isinstance(error, httpx.ConnectError):
        return NotSentKind.OTHER
    for cause in _chain(error):
        if isinstance(cause, socket.gaierror):
            return NotSentKind.DNS
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return NotSentKind.TLS
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno in _REFUSED_ERRNOS
        ):
            return NotSentKind.REFUSED
        if isinstance(cause, TimeoutError):
            return NotSentKind.TIMEOUT
    # The chain may have been lost (an error re-raised by hand): fall back to its words.
    text = " ".join(str(cause) for cause in _chain(error)).lower()
    if any(words in text for words in _DNS_WORDS):
        return NotSentKind.DNS
    if any(words in text for words in _REFUSED_WORDS):
        return NotSentKind.REFUSED
    return NotSentKind.OTHER


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it was raised from, and the exceptions those hold as arguments."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # httpcore wraps the socket error as its first argument, and chains it as the context.
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _server_message(reply: Reply) -> str:
    """The message to show: problem+json detail or title, the gateway's message, or the text."""
    if reply.too_large is not None:
        return f"(an answer over {_size(reply.too_large)}, not read)"
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


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def _retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP date), None if absent.

    Capped at ``MAX_RETRY_AFTER``: a huge or infinite value is a server mistake, and a wait
    that long would look like a hang.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is None:
                return None  # RFC 9110 dates are always GMT; a naive one is not a valid header
            seconds = when.timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def ident_id_of(value: Any) -> int | None:
    """An identId the server can really have sent: an integer in 1..2**63-1, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_IDENT_ID:
        return value
    return None


def read_created(reply: Reply) -> Created | Unknown:
    body = reply.json()
    ident_id = ident_id_of(body.get("identId") if isinstance(body, dict) else None)
    if ident_id is not None:
        return Created(ident_id, reply.status or 0)
    return Unknown(
        f"the server answered {reply.status} without a usable identId: {_trim(reply.text)!r}",
        reply.status,
    )


def read_same_ident(
    ident_id: int, make: Callable[[int, int], _T]
) -> Callable[[Reply], _T | Unknown]:
    """Read an update or delete answer: usable only if it names the identifier we sent.

    A 2xx without that (no body, another id, not JSON) is Unknown rather than success: both
    calls are idempotent, so the caller can simply send again, and a resent DELETE answers 404.
    """

    def read(reply: Reply) -> _T | Unknown:
        body = reply.json()
        answered = ident_id_of(body.get("identId") if isinstance(body, dict) else None)
        if answered == ident_id:
            return make(ident_id, reply.status or 0)
        return Unknown(
            f"the server answered {reply.status} without naming identId {ident_id}: "
            f"{_trim(reply.text)!r}",
            reply.status,
        )

    return read


def read_listed(reply: Reply) -> Listed | Unknown:
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
            # Skipping it would hide an identifier from settling: the listing is unusable.
            return Unknown(
                f"the server answered {reply.status} with an identifier in an unknown shape",
                reply.status,
            )
        identifiers.append(remote)
    selected = ident_id_of(_pascal_or_camel(body, "SelectedIdent"))
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
    ident_id = ident_id_of(item.get("id", item.get("identId")))
    if ident_id is None:
        return None
    nested = item.get("data")
    flat = {key: value for key, value in item.items() if key != "data"}
    if isinstance(nested, dict):
        flat.update(nested)
    unit_num = flat.get("unitNum")
    return RemoteIdentifier(ident_id, unit_num if isinstance(unit_num, str) else "", flat)


_UUID: Final = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")
_BIG: Final = 2**63


def _account(item: Any, default_status: int | None) -> Account | None:
    """An account object read defensively; None when it has no valid UUID or status."""
    if not isinstance(item, dict):
        return None
    uuid = item.get("uuid")
    if not isinstance(uuid, str) or not _UUID.match(uuid.strip().lower()):
        return None
    given = item.get("status")
    status = _account_status(default_status if given is None else given)
    if status is None:
        return None
    return Account(
        uuid=uuid.strip().lower(),
        username=_text(item.get("username")),
        community_user_id=_id_text(item.get("communityUserId")),
        discord=_id_text(item.get("discord")),
        roblox=_id_text(item.get("roblox")),
        status=status,
        joined=_text(item.get("joined"), numbers=True),
        last_login=_text(item.get("lastLogin"), numbers=True),
    )


def _account_status(value: Any) -> int | None:
    if isinstance(value, str) and value.strip() in ("0", "1", "2", "3", "4"):
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4:
        return value
    return None


def _text(value: Any, *, numbers: bool = False) -> str | None:
    if isinstance(value, str) and not isinstance(value, _NumberText):
        return value
    if numbers and isinstance(value, int | _NumberText) and not isinstance(value, bool):
        return str(value)
    return None


def _id_text(value: Any) -> str | None:
    """An id as text: a string trimmed, or a JSON number's digits exactly as sent."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)  # json gives integers exactly, however long
    if isinstance(value, str):  # _NumberText included: the literal, never a rounded float
        return value.strip() or None
    return None


def read_accounts_page(
    offset: int, limit: int, status: int | None
) -> Callable[[Reply], AccountsPage | Unknown]:
    default_status = 1 if status is None else status  # the listing's documented default filter

    def read(reply: Reply) -> AccountsPage | Unknown:
        body = reply.exact_json()
        items = body.get("accounts") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return Unknown(
                f"the server answered {reply.status} but not with an account list", reply.status
            )
        accounts = [_account(item, default_status) for item in items]
        if any(account is None for account in accounts):
            return Unknown(
                f"the server answered {reply.status} with an account without a valid uuid "
                "or status",
                reply.status,
            )
        pagination = body.get("pagination")
        total = pagination.get("total") if isinstance(pagination, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or not 0 <= total < _BIG:
            total = None
        return AccountsPage([a for a in accounts if a is not None], total, offset, limit)

    return read


def read_found_account(reply: Reply) -> Account | Unknown:
    body = reply.exact_json()
    if isinstance(body, dict) and isinstance(body.get("account"), dict):
        body = body["account"]  # tolerate a wrapped answer; the docs show the bare object
    account = _account(body, None)
    if account is None:
        return Unknown(
            f"the server answered {reply.status} but not with an account with a valid uuid "
            "and status",
            reply.status,
        )
    return account
