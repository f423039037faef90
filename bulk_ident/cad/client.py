"""The HTTP client for Sonoran CAD's v2 API: every reply is classified into one outcome.

This is the only module that imports httpx (and httpcore, its transport). A call is ONE request
and never raises for a transport or server problem; it returns one of these outcomes (see
``_OUTCOME_TABLE``)::

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

import contextlib
import email.utils
import enum
import errno
import hashlib
import ipaddress
import json
import math
import os
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import httpcore
import httpx

from bulk_ident import __version__
from bulk_ident.errors import InputError

DEFAULT_BASE_URL: Final = "https://api.sonorancad.com"
API_KEY_ENV: Final = "SONORAN_API_KEY"
USER_AGENT: Final = f"bulk-ident/{__version__}"
ACCOUNTS_PAGE_SIZE: Final = 100  # the documented maximum for ``limit``
MAX_RETRY_AFTER: Final = 7200.0  # a longer Retry-After is a server mistake, not a plan
MAX_IDENT_ID: Final = 2**63 - 1  # a signed 64-bit id: anything beyond is not a real identId
MAX_ANSWER_BYTES: Final = 1 << 20  # create, update, delete and single-account answers
MAX_LIST_BYTES: Final = 32 << 20  # an account's identifiers, a page of accounts
DEFAULT_DEADLINE: Final = 60.0
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
class _Reply:
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


def _not_sent(reply: _Reply) -> Failure:
    return NotSent(_describe_error(reply), _not_sent_kind(reply.error))


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


def _classify(reply: _Reply, success: Callable[[_Reply], _T | Unknown]) -> _T | Failure:
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


def _describe_error(reply: _Reply) -> str:
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


def _server_message(reply: _Reply) -> str:
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


def _ident_id(value: Any) -> int | None:
    """An identId the server can really have sent: an integer in 1..2**63-1, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_IDENT_ID:
        return value
    return None


def _created(reply: _Reply) -> Created | Unknown:
    body = reply.json()
    ident_id = _ident_id(body.get("identId") if isinstance(body, dict) else None)
    if ident_id is not None:
        return Created(ident_id, reply.status or 0)
    return Unknown(
        f"the server answered {reply.status} without a usable identId: {_trim(reply.text)!r}",
        reply.status,
    )


def _same_ident(ident_id: int, make: Callable[[int, int], _T]) -> Callable[[_Reply], _T | Unknown]:
    """Read an update or delete answer: usable only if it names the identifier we sent.

    A 2xx without that (no body, another id, not JSON) is Unknown rather than success: both
    calls are idempotent, so the caller can simply send again, and a resent DELETE answers 404.
    """

    def read(reply: _Reply) -> _T | Unknown:
        body = reply.json()
        answered = _ident_id(body.get("identId") if isinstance(body, dict) else None)
        if answered == ident_id:
            return make(ident_id, reply.status or 0)
        return Unknown(
            f"the server answered {reply.status} without naming identId {ident_id}: "
            f"{_trim(reply.text)!r}",
            reply.status,
        )

    return read


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
            # Skipping it would hide an identifier from settling: the listing is unusable.
            return Unknown(
                f"the server answered {reply.status} with an identifier in an unknown shape",
                reply.status,
            )
        identifiers.append(remote)
    selected = _ident_id(_pascal_or_camel(body, "SelectedIdent"))
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
    ident_id = _ident_id(item.get("id", item.get("identId")))
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


def _accounts_page(
    offset: int, limit: int, status: int | None
) -> Callable[[_Reply], AccountsPage | Unknown]:
    default_status = 1 if status is None else status  # the listing's documented default filter

    def read(reply: _Reply) -> AccountsPage | Unknown:
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


def _found_account(reply: _Reply) -> Account | Unknown:
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


# -- configuration: base URL, key, proxy ------------------------------------------------------


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


@dataclass(frozen=True)
class Proxy:
    """The proxy requests go through: its URL without credentials, and where it came from."""

    url: str  # scheme://host:port, safe to show
    source: str  # "--proxy" or the environment variable's name
    auth: tuple[str, str] | None = field(default=None, repr=False)


_PROXY_VARIABLES: Final = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def choose_proxy(
    base_url: str, *, proxy: str | None = None, env: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy for ``base_url``, or None to connect directly.

    Never for a loopback address, whatever the environment says, and never for plain http: a
    proxy would see the key in clear text. For https, ``proxy`` (the ``--proxy`` option) wins,
    else ``HTTPS_PROXY`` or ``ALL_PROXY`` from ``env`` unless ``NO_PROXY`` names the host.
    ``HTTP_PROXY`` is never used: the API is only reached over https.
    """
    parts = urllib.parse.urlsplit(check_base_url(base_url))
    host = parts.hostname or ""
    if parts.scheme != "https" or _is_loopback(host):
        return None
    if proxy is not None and proxy.strip():
        return _parse_proxy(proxy.strip(), "--proxy")
    env = os.environ if env is None else env
    for name in _PROXY_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            if _no_proxy(host, parts.port or 443, env):
                return None
            return _parse_proxy(value, name)
    return None


def _parse_proxy(text: str, source: str) -> Proxy:
    if "://" not in text:
        text = "http://" + text  # what curl and httpx assume for a bare host:port
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    shown = f"{scheme}://{parts.hostname or ''}" + (f":{port}" if port and port > 0 else "")
    if scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise InputError(
            f"proxy {shown!r} from {source} can't be used: give an http proxy such as "
            "http://proxy.example:3128 (SOCKS proxies are not supported)"
        )
    if port is None:
        port = 443 if scheme == "https" else 80
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    auth = None
    if parts.username is not None:
        auth = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    return Proxy(f"{scheme}://{netloc}:{port}", source, auth)


def _no_proxy(host: str, port: int, env: Mapping[str, str]) -> bool:
    """Whether NO_PROXY (curl's rules: ``*``, host suffixes, optional ``:port``) names host."""
    text = env.get("NO_PROXY", env.get("no_proxy", ""))
    for entry in (e.strip().lower() for e in text.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip(".")
        if name.startswith("*."):
            name = name[2:]
        if host == name or host.endswith("." + name):
            return True
    return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)


# -- transport: an overall deadline on every read and write -----------------------------------


class _Deadline:
    """When the request in flight must be over (monotonic seconds), or None between requests."""

    def __init__(self) -> None:
        self.at: float | None = None

    def cap(self, timeout: float | None, error: type[Exception]) -> float | None:
        """The timeout for the next socket operation, never past the deadline."""
        if self.at is None:
            return timeout
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("the overall deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write stops at the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with each connection's streams bound to a deadline."""

    def __init__(self, deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - never used: the API is reached over TCP
        raise httpcore.UnsupportedProtocol("unix sockets are not used")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only for httpcore's retries
        time.sleep(seconds)


# Most specific first: the first match names the httpx error the rest of this module expects.
_HTTPCORE_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.RequestError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        for core, mapped in _HTTPCORE_ERRORS:
            if isinstance(err, core):
                raise mapped(str(err)) from err
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class _Transport(httpx.BaseTransport):
    """httpx's default transport rebuilt on public httpcore parts, to add the deadline."""

    def __init__(self, deadline: _Deadline, proxy: Proxy | None) -> None:
        backend = _DeadlineBackend(deadline)
        ssl_context = httpx.create_ssl_context()
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=ssl_context, max_connections=4, network_backend=backend
            )
        else:
            # Only https targets get here, so httpcore tunnels (CONNECT): the proxy never sees
            # the request or its key, only the host name and port.
            self._pool = httpcore.HTTPProxy(
                proxy_url=proxy.url,
                proxy_auth=None if proxy.auth is None else _utf8(proxy.auth),
                ssl_context=ssl_context,
                proxy_ssl_context=(
                    httpx.create_ssl_context() if proxy.url.startswith("https:") else None
                ),
                max_connections=4,
                network_backend=backend,
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _utf8(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    return pair[0].encode("utf-8"), pair[1].encode("utf-8")


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
        if not _KEY_CHARS.match(api_key):
            raise InputError("the API key holds characters that can't be sent: check its source")
        if not deadline > 0:
            raise ValueError("deadline must be positive")
        self._base_url = check_base_url(base_url)
        self._key = api_key
        self.fingerprint = key_fingerprint(api_key)
        self.proxy = choose_proxy(self._base_url, proxy=proxy, env=env)
        self._deadline_seconds = deadline
        self._deadline = _Deadline()
        self._on_request = on_request
        self._before_request = before_request
        self._wall_clock = wall_clock
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport
            if transport is not None
            else _Transport(self._deadline, self.proxy),
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
        return _classify(reply, _created)

    def update_identifier(
        self, account_uuid: str, ident_id: int, fields: Mapping[str, Any]
    ) -> UpdateOutcome:
        """PATCH the given fields of one identifier; 404 (no such identifier) is Rejected."""
        body = json.dumps(dict(fields), allow_nan=False)
        path = _identifier_path(account_uuid, ident_id)
        reply = self._send("PATCH", path, body=body.encode("utf-8"))
        return _classify(reply, _same_ident(ident_id, Updated))

    def delete_identifier(self, account_uuid: str, ident_id: int) -> DeleteOutcome:
        """DELETE one identifier; 404 (already gone) is Rejected."""
        reply = self._send("DELETE", _identifier_path(account_uuid, ident_id))
        return _classify(reply, _same_ident(ident_id, Deleted))

    def list_identifiers(self, account_uuid: str) -> ListOutcome:
        """GET an account's identifiers; never raises for transport or server trouble."""
        reply = self._send("GET", _identifiers_path(account_uuid), limit=MAX_LIST_BYTES)
        return _classify(reply, _listed)

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
        return _classify(reply, _accounts_page(offset, limit, status))

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
        return _classify(reply, _found_account)

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
    ) -> _Reply:
        headers = {"Authorization": f"Bearer {self._key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._before_request is not None:
            self._before_request()
        started = time.monotonic()
        self._deadline.at = started + self._deadline_seconds
        reply: _Reply
        try:
            with self._http.stream(
                method, path, content=body, params=params, headers=headers
            ) as response:
                data, too_large = self._read_body(response, limit)
            text = self._scrub(data.decode(response.encoding or "utf-8", errors="replace"))
            reply = _Reply(
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
            reply = _Reply(
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
    if _ident_id(ident_id) is None:
        raise ValueError("ident_id must be an integer from 1 to 2**63-1")
    return f"{_identifiers_path(account_uuid)}/{ident_id}"
