"""Tests for bulk_ident.cad.client with httpx.MockTransport: requests sent, replies classified."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from bulk_ident import __version__
from bulk_ident.cad.client import (
    MAX_IDENT_ID,
    MAX_RETRY_AFTER,
    Account,
    AccountsPage,
    Created,
    Deleted,
    Listed,
    NotSent,
    NotSentKind,
    RateLimited,
    Rejected,
    RemoteIdentifier,
    RequestRecord,
    SonoranClient,
    Unauthorised,
    Unknown,
    Updated,
)
from bulk_ident.errors import InputError
from bulk_ident.net import (
    DEFAULT_BASE_URL,
    Proxy,
    check_base_url,
    choose_proxy,
    key_fingerprint,
    load_api_key,
)

KEY = "test-key-Zq8rT2vX"
ACCOUNT = "7c0ef1b2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
NOW = 1_700_000_000.0  # the injected wall clock
PROBLEM = {"content-type": "application/problem+json"}

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: Any) -> SonoranClient:
    """A client whose requests go to ``handler`` instead of the network."""
    return SonoranClient(
        DEFAULT_BASE_URL,
        KEY,
        transport=httpx.MockTransport(handler),
        wall_clock=lambda: NOW,
        **kwargs,
    )


def answer(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> Handler:
    """A handler answering every request with this status and JSON body (or raw text)."""

    def handle(request: httpx.Request) -> httpx.Response:
        del request
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handle


def fail_with(error: type[httpx.RequestError], message: str = "boom") -> Handler:
    """A handler that raises a transport error instead of answering."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise error(message, request=request)

    return handle


def http_date(offset: float) -> str:
    """An HTTP date ``offset`` seconds after the injected clock."""
    return format_datetime(datetime.fromtimestamp(NOW + offset, UTC), usegmt=True)


# One row per kind of reply: (id, handler, expected outcome). Unknown and NotSent reasons are
# prose, so those rows give the type, the status (Unknown) or kind (NotSent), and a word the
# reason must contain.
CREATE_TABLE: list[tuple[str, Handler, object]] = [
    ("200 identId", answer(200, {"identId": 42}), Created(42, 200)),
    ("201 identId", answer(201, {"identId": 7}), Created(7, 201)),
    ("200 without identId", answer(200, {"ok": True}), (Unknown, 200, "identId")),
    ("200 identId as text", answer(200, {"identId": "42"}), (Unknown, 200, "identId")),
    ("200 identId true", answer(200, {"identId": True}), (Unknown, 200, "identId")),
    ("200 identId largest", answer(200, {"identId": MAX_IDENT_ID}), Created(MAX_IDENT_ID, 200)),
    ("200 identId 2**63", answer(200, {"identId": 2**63}), (Unknown, 200, "identId")),
    ("200 identId 2**70", answer(200, {"identId": 2**70}), (Unknown, 200, "identId")),
    ("200 identId 0", answer(200, {"identId": 0}), (Unknown, 200, "identId")),
    ("200 identId negative", answer(200, {"identId": -3}), (Unknown, 200, "identId")),
    ("200 identId float", answer(200, {"identId": 42.0}), (Unknown, 200, "identId")),
    ("200 nested too deep", answer(200, text="[" * 100_000), (Unknown, 200, "identId")),
    ("204 empty", answer(204), (Unknown, 204, "identId")),
    ("200 not json", answer(200, text="<html>ok</html>"), (Unknown, 200, "identId")),
    (
        "400 problem detail",
        answer(400, {"title": "Bad Request", "detail": "Invalid accountUuid format"}, **PROBLEM),
        Rejected(400, "Invalid accountUuid format"),
    ),
    (
        "404 problem title",
        answer(404, {"title": "Account not found", "status": 404}, **PROBLEM),
        Rejected(404, "Account not found"),
    ),
    (
        "409 gateway message",
        answer(409, {"message": "Conflict"}),
        Rejected(409, "Conflict"),
    ),
    (
        "422 plain text trimmed",
        answer(422, text="  unit number\n   too long  "),
        Rejected(422, "unit number too long"),
    ),
    ("418 empty", answer(418), Rejected(418, "the server refused the request (418)")),
    (
        "401 problem",
        answer(401, {"title": "Unauthorized", "detail": "Invalid API key"}, **PROBLEM),
        Unauthorised(401, "Invalid API key"),
    ),
    ("403 text", answer(403, text="Forbidden"), Unauthorised(403, "Forbidden")),
    (
        "429 retry-after seconds",
        answer(
            429, {"message": "API rate limit exceeded", "request_id": "r1"}, **{"Retry-After": "30"}
        ),
        RateLimited(30.0, "API rate limit exceeded"),
    ),
    (
        "429 retry-after date",
        answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": http_date(120)}),
        RateLimited(120.0, "API rate limit exceeded"),
    ),
    (
        "429 retry-after date passed",
        answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": http_date(-5)}),
        RateLimited(0.0, "API rate limit exceeded"),
    ),
    (
        "429 without retry-after",
        answer(429, {"message": "API rate limit exceeded"}),
        RateLimited(None, "API rate limit exceeded"),
    ),
    (
        "429 garbled retry-after",
        answer(429, text="slow down", **{"Retry-After": "soon"}),
        RateLimited(None, "slow down"),
    ),
    ("500 problem", answer(500, {"title": "Internal error"}, **PROBLEM), (Unknown, 500, "500")),
    ("502 text", answer(502, text="Bad Gateway"), (Unknown, 502, "Bad Gateway")),
    ("503 empty", answer(503), (Unknown, 503, "503")),
    (
        "302 redirect not followed",
        answer(302, Location="https://elsewhere.example/"),
        (Unknown, 302, "302"),
    ),
    ("connect failed", fail_with(httpx.ConnectError), (NotSent, NotSentKind.OTHER, "connect")),
    (
        "connect timeout",
        fail_with(httpx.ConnectTimeout),
        (NotSent, NotSentKind.TIMEOUT, "timed out"),
    ),
    ("pool timeout", fail_with(httpx.PoolTimeout), (NotSent, NotSentKind.OTHER, "connection")),
    ("proxy refused", fail_with(httpx.ProxyError), (NotSent, NotSentKind.PROXY, "proxy")),
    ("read timeout", fail_with(httpx.ReadTimeout), (Unknown, None, "read timeout")),
    ("write timeout", fail_with(httpx.WriteTimeout), (Unknown, None, "sending")),
    ("dropped", fail_with(httpx.RemoteProtocolError), (Unknown, None, "closed")),
    ("read error", fail_with(httpx.ReadError), (Unknown, None, "waiting")),
    ("write error", fail_with(httpx.WriteError), (Unknown, None, "sending")),
    ("undecodable body", fail_with(httpx.DecodingError), (Unknown, None, "DecodingError")),
]


def check(outcome: object, expected: object) -> None:
    """Compare an outcome with a table row's expectation."""
    if isinstance(expected, tuple):
        kind, status, word = expected
        assert type(outcome) is kind
        assert isinstance(outcome, NotSent | Unknown)
        if isinstance(outcome, Unknown):
            assert outcome.status == status
        else:
            assert outcome.kind == (status or NotSentKind.OTHER)
        assert word in outcome.reason
    else:
        assert outcome == expected


@pytest.mark.parametrize(
    ("handler", "expected"), [row[1:] for row in CREATE_TABLE], ids=[r[0] for r in CREATE_TABLE]
)
def test_create_outcome_table(handler: Handler, expected: object) -> None:
    """Every kind of reply to a create maps to the one outcome the table gives."""
    with client_for(handler) as client:
        check(client.create_identifier(ACCOUNT, {"unitNum": "1A"}), expected)


LIST_BODY = {
    "SelectedIdent": 12,
    "Identifiers": [
        {
            "id": 12,
            "accId": ACCOUNT,
            "status": 2,
            "isPanic": False,
            "location": "",
            "coordinates": None,
            "aop": "City",
            "data": {"unitNum": "1A-12", "name": "J. Doe", "page": 0, "group": ""},
            "isDispatch": False,
        }
    ],
}


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (answer(200, {"SelectedIdent": None, "Identifiers": []}), Listed([], None)),
        (answer(200, {"selectedIdent": 3, "identifiers": []}), Listed([], 3)),
        (answer(200, {"identifiers": "nope"}), (Unknown, 200, "identifier list")),
        (answer(200, {"Identifiers": [{"data": {}}]}), (Unknown, 200, "unknown shape")),
        (
            answer(404, {"title": "Account not found"}, **PROBLEM),
            Rejected(404, "Account not found"),
        ),
        (answer(401, text="no"), Unauthorised(401, "no")),
        (
            answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": "5"}),
            RateLimited(5.0, "API rate limit exceeded"),
        ),
        (answer(500), (Unknown, 500, "500")),
        (fail_with(httpx.ConnectError), (NotSent, None, "connect")),
        (fail_with(httpx.ReadTimeout), (Unknown, None, "read timeout")),
    ],
    ids=[
        "empty",
        "camelCase",
        "not a list",
        "no id",
        "404",
        "401",
        "429",
        "500",
        "refused",
        "timeout",
    ],
)
def test_list_outcome_table(handler: Handler, expected: object) -> None:
    """Listing goes through the same table; a 2xx in an unknown shape is Unknown, not empty."""
    with client_for(handler) as client:
        check(client.list_identifiers(ACCOUNT), expected)


def test_list_flattens_each_identifier() -> None:
    """A listed identifier has its id, its unitNum, and its fields with ``data`` lifted up."""
    with client_for(answer(200, LIST_BODY)) as client:
        outcome = client.list_identifiers(ACCOUNT)
    assert isinstance(outcome, Listed)
    assert outcome.selected == 12
    [remote] = outcome.identifiers
    assert isinstance(remote, RemoteIdentifier)
    assert (remote.ident_id, remote.unit_num) == (12, "1A-12")
    assert remote.data["status"] == 2
    assert remote.data["aop"] == "City"
    assert remote.data["name"] == "J. Doe"
    assert "data" not in remote.data


def test_create_sends_the_documented_request() -> None:
    """POST to the URL-encoded account path with bearer key, JSON headers, UA, integer fields."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"identId": 1})

    payload = {"unitNum": "1A-12", "name": "Jé Doe", "status": 2, "page": 0, "isDispatch": False}
    with client_for(handle) as client:
        client.create_identifier("odd/uuid value", payload)
    [request] = seen
    assert request.method == "POST"
    assert request.url.raw_path == b"/v2/emergency/accounts/odd%2Fuuid%20value/identifiers"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"bulk-ident/{__version__}"
    sent = json.loads(request.content)
    assert sent == payload
    assert isinstance(sent["status"], int)
    assert isinstance(sent["page"], int)


def test_list_sends_get_without_body() -> None:
    """Listing is a GET on the same path, with no body and no Content-Type."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Identifiers": []})

    with client_for(handle) as client:
        client.list_identifiers(ACCOUNT)
    [request] = seen
    assert request.method == "GET"
    assert request.url.path == f"/v2/emergency/accounts/{ACCOUNT}/identifiers"
    assert request.content == b""
    assert "content-type" not in request.headers


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"connect": 5.0, "read": 30.0}),
        ({"connect_timeout": 1.5, "read_timeout": 2.5}, {"connect": 1.5, "read": 2.5}),
    ],
)
def test_timeouts(kwargs: dict[str, float], expected: dict[str, float]) -> None:
    """Connect and read timeouts default to 5 s and 30 s and can be changed."""
    seen: list[dict[str, float]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"identId": 1})

    with client_for(handle, **kwargs) as client:
        client.create_identifier(ACCOUNT, {})
    assert {k: seen[0][k] for k in expected} == expected


def test_hooks_run_around_every_request() -> None:
    """before_request runs first; on_request gets method, path (no query), status, duration."""
    events: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        events.append("sent")
        if request.method == "POST":
            return httpx.Response(201, json={"identId": 5})
        raise httpx.ConnectError("refused", request=request)

    with client_for(
        handle, before_request=lambda: events.append("pace"), on_request=events.append
    ) as client:
        client.create_identifier(ACCOUNT, {})
        client.list_identifiers(ACCOUNT)
    path = f"/v2/emergency/accounts/{ACCOUNT}/identifiers"
    assert events[:2] == ["pace", "sent"]
    assert events[3:5] == ["pace", "sent"]
    records = [e for e in events if isinstance(e, RequestRecord)]
    assert [(r.method, r.path, r.status) for r in records] == [
        ("POST", path, 201),
        ("GET", path, None),
    ]
    assert all(r.seconds >= 0 for r in records)


def test_key_never_shows() -> None:
    """The key is absent from the client's repr and from echoed bodies and error texts."""
    with client_for(fail_with(httpx.ConnectError, f"cannot reach Bearer {KEY}")) as client:
        assert KEY not in repr(client)
        assert key_fingerprint(KEY) in repr(client)
        assert KEY not in repr(client.create_identifier(ACCOUNT, {}))
    with client_for(answer(400, text=f"bad header Authorization: Bearer {KEY}")) as client:
        outcome = client.create_identifier(ACCOUNT, {})
    assert outcome == Rejected(400, "bad header Authorization: Bearer [key]")


@pytest.mark.parametrize("bad", ["two words", "line\nbreak", "ké", ""])
def test_client_refuses_unsendable_key_without_echo(bad: str) -> None:
    """A key that can't go in a header is refused up front, without repeating it."""
    with pytest.raises(InputError) as caught:
        SonoranClient(DEFAULT_BASE_URL, bad)
    assert not bad or bad not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.sonorancad.com", "https://api.sonorancad.com"),
        (" https://API.sonorancad.com/ ", "https://api.sonorancad.com"),
        ("https://proxy.example/sonoran/", "https://proxy.example/sonoran"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.1.2.3", "http://127.1.2.3"),
        ("http://localhost:9/", "http://localhost:9"),
        ("http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    """https anywhere and http to loopback are accepted and normalised."""
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://api.sonorancad.com", "plain http"),
        ("http://10.0.0.5:8765", "plain http"),
        ("ftp://api.sonorancad.com", "not an http(s) address"),
        ("api.sonorancad.com", "not an http(s) address"),
        ("https://user:pw@api.sonorancad.com", "user name or password"),
        ("https://api.sonorancad.com/?x=1", "query"),
        ("https://api.sonorancad.com:99999", "port"),
    ],
)
def test_base_url_refused(url: str, words: str) -> None:
    """Other schemes, plain http off loopback, credentials, queries and bad ports are refused."""
    with pytest.raises(InputError, match=re.escape(words)) as caught:
        check_base_url(url)
    assert "pw" not in str(caught.value)


def test_load_key_from_env_and_file(tmp_path: Path) -> None:
    """The key file wins over the environment; surrounding whitespace is dropped."""
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"{KEY}-file\n", encoding="utf-8")
    assert load_api_key(env={"SONORAN_API_KEY": f" {KEY} "}, key_file=None) == KEY
    assert load_api_key(env={"SONORAN_API_KEY": KEY}, key_file=key_file) == f"{KEY}-file"


@pytest.mark.parametrize(
    ("env", "content", "words"),
    [
        ({}, None, "no API key: set SONORAN_API_KEY or pass --api-key-file"),
        ({"SONORAN_API_KEY": "  "}, None, "no API key"),
        ({}, "\n", "is empty"),
        ({}, f"{KEY} {KEY}", "spaces, line breaks"),
        ({"SONORAN_API_KEY": f"{KEY}\n{KEY}"}, None, "SONORAN_API_KEY holds spaces"),
        ({}, "missing", "can't read the API key file"),
    ],
    ids=["none", "blank env", "empty file", "space in file", "line break in env", "unreadable"],
)
def test_load_key_errors(
    tmp_path: Path, env: dict[str, str], content: str | None, words: str
) -> None:
    """Missing, empty, unreadable or malformed keys give a message that never includes the key."""
    key_file = None
    if content == "missing":
        key_file = tmp_path / "absent.txt"
    elif content is not None:
        key_file = tmp_path / "key.txt"
        key_file.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(words)) as caught:
        load_api_key(env=env, key_file=key_file)
    assert KEY not in str(caught.value)
    assert caught.value.__cause__ is None


def test_fingerprint_is_short_and_stable() -> None:
    """The fingerprint is ``key-`` and ten hex digits, the same for the same key."""
    fingerprint = key_fingerprint(KEY)
    assert fingerprint == key_fingerprint(KEY) != key_fingerprint(KEY + "x")
    assert fingerprint.startswith("key-")
    assert len(fingerprint) == 14
    assert KEY not in fingerprint


# -- Retry-After is bounded ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1e300", MAX_RETRY_AFTER),
        ("inf", MAX_RETRY_AFTER),
        ("-inf", 0.0),
        ("99999999", MAX_RETRY_AFTER),
        ("7200.5", MAX_RETRY_AFTER),
        ("7199", 7199.0),
        ("-5", 0.0),
        ("nan", None),
        ("1" * 5000, MAX_RETRY_AFTER),
        (http_date(10 * 365 * 86400), MAX_RETRY_AFTER),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_retry_after_is_capped(header: str, expected: float | None) -> None:
    """Retry-After is at most two hours and at least zero; nothing it says raises."""
    assert MAX_RETRY_AFTER == 7200.0
    handler = answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": header})
    with client_for(handler) as client:
        outcome = client.create_identifier(ACCOUNT, {})
    assert outcome == RateLimited(expected, "API rate limit exceeded")


# -- why a request was not sent --------------------------------------------------------------


def raise_like_httpx(error: type[httpx.RequestError], cause: BaseException) -> Handler:
    """Raise as httpx does: the socket error, wrapped by httpcore, wrapped again by httpx."""
    wrapped: dict[type[httpx.RequestError], type[Exception]] = {
        httpx.ConnectError: httpcore.ConnectError,
        httpx.ConnectTimeout: httpcore.ConnectTimeout,
    }
    core = wrapped[error]

    def handle(request: httpx.Request) -> httpx.Response:
        try:
            try:
                raise cause
            except OSError as exc:
                raise core(exc) from exc
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise error(str(exc), request=request) from exc

    return handle


@pytest.mark.parametrize(
    ("handler", "kind", "words"),
    [
        (
            raise_like_httpx(
                httpx.ConnectError, socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            ),
            NotSentKind.DNS,
            "host name was not found",
        ),
        (
            raise_like_httpx(
                httpx.ConnectError,
                socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            ),
            NotSentKind.DNS,
            "DNS",
        ),
        (
            raise_like_httpx(
                httpx.ConnectError, ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
            ),
            NotSentKind.REFUSED,
            "refused or unreachable",
        ),
        (
            raise_like_httpx(
                httpx.ConnectError, OSError(errno.ENETUNREACH, "Network is unreachable")
            ),
            NotSentKind.REFUSED,
            "unreachable",
        ),
        (
            raise_like_httpx(httpx.ConnectTimeout, TimeoutError("timed out")),
            NotSentKind.TIMEOUT,
            "timed out",
        ),
        (
            raise_like_httpx(
                httpx.ConnectError,
                ssl.SSLCertVerificationError(1, "certificate verify failed"),
            ),
            NotSentKind.TLS,
            "TLS",
        ),
        (
            fail_with(httpx.ConnectError, "[Errno -2] Name or service not known"),
            NotSentKind.DNS,
            "DNS",
        ),
        (fail_with(httpx.ConnectError, "[Errno 111] Connection refused"), NotSentKind.REFUSED, ""),
        (fail_with(httpx.ConnectError, "something odd"), NotSentKind.OTHER, "could not connect"),
    ],
    ids=[
        "dns",
        "dns-again",
        "refused",
        "unreachable",
        "timeout",
        "tls",
        "dns-words",
        "refused-words",
        "other",
    ],
)
def test_not_sent_says_why(handler: Handler, kind: NotSentKind, words: str) -> None:
    """A request that never left says why: DNS, refused, timeout, TLS or other."""
    with client_for(handler) as client:
        outcome = client.list_identifiers(ACCOUNT)
    assert isinstance(outcome, NotSent)
    assert outcome.kind == kind
    assert words in outcome.reason


@pytest.mark.e2e
def test_not_sent_dns_for_a_name_that_never_resolves() -> None:
    """A host under the reserved .invalid TLD is NotSent with kind DNS (nothing is sent)."""
    with SonoranClient("https://bulk-ident-test.invalid", KEY, env={}) as client:
        outcome = client.create_identifier(ACCOUNT, {})
    assert isinstance(outcome, NotSent)
    assert outcome.kind == NotSentKind.DNS


@pytest.mark.e2e
def test_not_sent_refused_on_a_closed_loopback_port() -> None:
    """Nothing listening on a loopback port is NotSent with kind REFUSED."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with SonoranClient(f"http://127.0.0.1:{port}", KEY, env={}) as client:
        outcome = client.delete_identifier(ACCOUNT, 3)
    assert isinstance(outcome, NotSent)
    assert outcome.kind == NotSentKind.REFUSED


# -- update and delete -------------------------------------------------------------------------


UPDATED = {"identId": 5, "serverId": 1, "identifier": {"id": 5, "data": {"rank": "Captain"}}}
WRITE_TABLE: list[tuple[str, Handler, object, object]] = [
    ("200 names it", answer(200, UPDATED), Updated(5, 200), Deleted(5, 200)),
    ("204 empty", answer(204), (Unknown, 204, "identId 5"), (Unknown, 204, "identId 5")),
    (
        "200 another id",
        answer(200, {"identId": 6}),
        (Unknown, 200, "identId 5"),
        (Unknown, 200, "identId 5"),
    ),
    (
        "200 id as text",
        answer(200, {"identId": "5"}),
        (Unknown, 200, "identId"),
        (Unknown, 200, "identId"),
    ),
    (
        "200 not json",
        answer(200, text="OK"),
        (Unknown, 200, "identId"),
        (Unknown, 200, "identId"),
    ),
    (
        "404 no such identifier",
        answer(404, {"title": "Not Found", "detail": "Identifier not found"}, **PROBLEM),
        Rejected(404, "Identifier not found"),
        Rejected(404, "Identifier not found"),
    ),
    (
        "400 invalid",
        answer(400, {"detail": "status must be one of"}, **PROBLEM),
        Rejected(400, "status must be one of"),
        Rejected(400, "status must be one of"),
    ),
    ("401", answer(401, text="no"), Unauthorised(401, "no"), Unauthorised(401, "no")),
    (
        "429",
        answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": "9"}),
        RateLimited(9.0, "API rate limit exceeded"),
        RateLimited(9.0, "API rate limit exceeded"),
    ),
    ("500", answer(500), (Unknown, 500, "500"), (Unknown, 500, "500")),
    (
        "refused",
        fail_with(httpx.ConnectError),
        (NotSent, None, "connect"),
        (NotSent, None, "connect"),
    ),
    (
        "read timeout",
        fail_with(httpx.ReadTimeout),
        (Unknown, None, "read timeout"),
        (Unknown, None, "read timeout"),
    ),
]


@pytest.mark.parametrize(
    ("handler", "updated", "deleted"),
    [row[1:] for row in WRITE_TABLE],
    ids=[row[0] for row in WRITE_TABLE],
)
def test_update_and_delete_outcome_table(
    handler: Handler, updated: object, deleted: object
) -> None:
    """PATCH and DELETE go through the same table; success needs the answer to name the id."""
    with client_for(handler) as client:
        check(client.update_identifier(ACCOUNT, 5, {"rank": "Captain"}), updated)
        check(client.delete_identifier(ACCOUNT, 5), deleted)


def test_update_and_delete_send_the_documented_requests() -> None:
    """PATCH sends only the given fields as JSON; DELETE has no body; both name the identId."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"identId": 77, "serverId": 1})

    with client_for(handle) as client:
        assert client.update_identifier("odd/uuid", 77, {"rank": "Captain", "status": 2}) == (
            Updated(77, 200)
        )
        assert client.delete_identifier(ACCOUNT, 77) == Deleted(77, 200)
    patch, delete = seen
    assert patch.method == "PATCH"
    assert patch.url.raw_path == b"/v2/emergency/accounts/odd%2Fuuid/identifiers/77"
    assert json.loads(patch.content) == {"rank": "Captain", "status": 2}
    assert patch.headers["content-type"] == "application/json"
    assert patch.headers["authorization"] == f"Bearer {KEY}"
    assert delete.method == "DELETE"
    assert delete.url.path == f"/v2/emergency/accounts/{ACCOUNT}/identifiers/77"
    assert delete.content == b""
    assert "content-type" not in delete.headers


@pytest.mark.parametrize("bad", [0, -1, 2**63, True])
def test_update_and_delete_refuse_impossible_ids(bad: int) -> None:
    """An identId outside 1..2**63-1 is a programming error, raised before anything is sent."""
    with client_for(answer(200, {})) as client:
        with pytest.raises(ValueError, match="ident_id"):
            client.update_identifier(ACCOUNT, bad, {})
        with pytest.raises(ValueError, match="ident_id"):
            client.delete_identifier(ACCOUNT, bad)


# -- listing: every id must be usable ---------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 2**63, 2**70, True, 1.5, "3", None])
def test_listing_with_an_impossible_id_is_unknown(bad: object) -> None:
    """One listed identifier with an impossible id makes the whole listing Unknown."""
    items = [{"id": 1, "data": {"unitNum": "A"}}, {"id": bad, "data": {"unitNum": "B"}}]
    with client_for(answer(200, {"Identifiers": items})) as client:
        outcome = client.list_identifiers(ACCOUNT)
    assert isinstance(outcome, Unknown)
    assert "unknown shape" in outcome.reason


def test_listing_bounds_selected_ident() -> None:
    """The largest id is kept; a SelectedIdent out of range is simply not known."""
    body = {"SelectedIdent": 2**70, "Identifiers": [{"id": MAX_IDENT_ID, "data": {}}]}
    with client_for(answer(200, body)) as client:
        outcome = client.list_identifiers(ACCOUNT)
    assert isinstance(outcome, Listed)
    assert outcome.selected is None
    assert [i.ident_id for i in outcome.identifiers] == [MAX_IDENT_ID]


# -- accounts ----------------------------------------------------------------------------------

UUID_1 = "3b26b243-43c6-5145-8b98-8dd462464f3e"
UUID_2 = "2cf1e42c-e2ff-5673-a615-b11243329b44"


def page_body(*accounts: dict[str, Any], total: object = 2) -> str:
    """A listing body; written by hand so numbers keep the exact text given."""
    items = ", ".join(json.dumps(a) for a in accounts)
    return f'{{"pagination": {{"limit": 100, "offset": 0, "total": {json.dumps(total)}}}, ' + (
        f'"accounts": [{items}]}}'
    )


def test_accounts_page_reads_the_documented_shape() -> None:
    """Accounts are read with UUIDs lower-cased, ids as exact text and the page as asked."""
    body = page_body(
        {
            "uuid": UUID_1.upper(),
            "username": "mhale",
            "communityUserId": "1001",
            "status": 1,
            "joined": "2024-01-02T03:04:05Z",
            "lastLogin": None,
            "permissions": {"admin": True},
        },
        {"uuid": UUID_2, "username": "dwhitfield", "communityUserId": 12, "status": "1"},
    )
    with client_for(answer(200, text=body)) as client:
        outcome = client.list_accounts_page(offset=0)
    assert outcome == AccountsPage(
        [
            Account(UUID_1, "mhale", "1001", None, None, 1, "2024-01-02T03:04:05Z", None),
            Account(UUID_2, "dwhitfield", "12", None, None, 1, None, None),
        ],
        2,
        0,
        100,
    )


def test_account_ids_keep_every_digit() -> None:
    """Numeric ids keep their digits exactly: long integers and float literals alike."""
    text = (
        f'{{"uuid": "{UUID_1}", "status": 1, "communityUserId": 123456789012345678901234567890, '
        '"discord": 1.2345678901234567e+17, "roblox": 98765432109876543, "username": 5}'
    )
    with client_for(answer(200, text=text)) as client:
        outcome = client.find_account(discord="123456789012345678")
    assert isinstance(outcome, Account)
    assert outcome.community_user_id == "123456789012345678901234567890"
    assert outcome.discord == "1.2345678901234567e+17"
    assert outcome.roblox == "98765432109876543"
    assert outcome.username is None


@pytest.mark.parametrize(
    ("account", "total"),
    [
        ({"username": "no uuid", "status": 1}, 1),
        ({"uuid": "not-a-uuid", "status": 1}, 1),
        ({"uuid": UUID_1 + "0", "status": 1}, 1),
        ({"uuid": UUID_1, "status": 7}, 1),
        ({"uuid": UUID_1, "status": True}, 1),
        ({"uuid": UUID_1, "status": "1" * 5000}, 1),
        ({"uuid": UUID_1, "status": "١"}, 1),
        ({"uuid": 12, "status": 1}, 1),
    ],
)
def test_accounts_page_with_an_unusable_account_is_unknown(
    account: dict[str, Any], total: int
) -> None:
    """An account without a valid UUID or status makes the page Unknown, never half-read."""
    with client_for(answer(200, text=page_body(account, total=total))) as client:
        outcome = client.list_accounts_page(offset=0)
    assert isinstance(outcome, Unknown)
    assert "account" in outcome.reason


@pytest.mark.parametrize(
    ("total", "expected"), [(250, 250), ("250", None), (-1, None), (2**70, None)]
)
def test_accounts_page_total_is_bounded(total: object, expected: int | None) -> None:
    """The listed total is kept only when it is a plausible count."""
    body = page_body({"uuid": UUID_1}, total=total)
    with client_for(answer(200, text=body)) as client:
        outcome = client.list_accounts_page(offset=0, status=3)
    assert isinstance(outcome, AccountsPage)
    assert outcome.total == expected
    assert outcome.accounts[0].status == 3  # not given: the status the page was filtered by


def test_accounts_page_sends_the_filters() -> None:
    """limit, offset, status and username go as query parameters; status only when given."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"accounts": []})

    with client_for(handle) as client:
        first = client.list_accounts_page(offset=200, limit=50, status=0, username="JDoe")
        second = client.list_accounts_page(offset=0)
    assert first == AccountsPage([], None, 200, 50)
    assert second == AccountsPage([], None, 0, 100)
    assert [r.url.path for r in seen] == ["/v2/general/accounts"] * 2
    assert dict(seen[0].url.params) == {
        "limit": "50",
        "offset": "200",
        "status": "0",
        "username": "JDoe",
    }
    assert dict(seen[1].url.params) == {"limit": "100", "offset": "0"}


@pytest.mark.parametrize(("offset", "limit"), [(0, 0), (0, 101), (-1, 10)])
def test_accounts_page_refuses_impossible_pages(offset: int, limit: int) -> None:
    """A limit outside 1..100 or a negative offset is a programming error."""
    with client_for(answer(200, {})) as client, pytest.raises(ValueError, match="limit"):
        client.list_accounts_page(offset=offset, limit=limit)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (answer(401, {"detail": "Invalid API key"}), Unauthorised(401, "Invalid API key")),
        (
            answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": "60"}),
            RateLimited(60.0, "API rate limit exceeded"),
        ),
        (answer(200, {"accounts": "?"}), (Unknown, 200, "account list")),
        (fail_with(httpx.ConnectError), (NotSent, None, "could not connect")),
    ],
    ids=["401", "429", "shape", "refused"],
)
def test_accounts_page_failures(handler: Handler, expected: object) -> None:
    """A failed page is an outcome like any other, never an exception."""
    with client_for(handler) as client:
        check(client.list_accounts_page(offset=0), expected)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"username": "jdoe"}, "username"),
        ({"community_user_id": "1001"}, "communityUserId"),
        ({"discord": "123456789012345678"}, "discord"),
        ({"roblox": "98765"}, "roblox"),
        ({"account_uuid": UUID_1}, "accountUuid"),
    ],
)
def test_find_account_sends_one_parameter(kwargs: dict[str, str], param: str) -> None:
    """Each look-up goes to /accounts/account with its one documented parameter."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"uuid": UUID_1, "username": "jdoe", "status": 0})

    with client_for(handle) as client:
        outcome = client.find_account(**kwargs)
    assert outcome == Account(UUID_1, "jdoe", None, None, None, 0, None, None)
    [request] = seen
    assert request.url.path == "/v2/general/accounts/account"
    assert dict(request.url.params) == {param: next(iter(kwargs.values()))}


@pytest.mark.parametrize("kwargs", [{}, {"username": "a", "discord": "1"}])
def test_find_account_takes_exactly_one(kwargs: dict[str, str]) -> None:
    """No look-up value, or two, is a programming error."""
    with client_for(answer(200, {})) as client, pytest.raises(ValueError, match="exactly one"):
        client.find_account(**kwargs)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            answer(404, {"title": "Not Found", "detail": "Account not found"}, **PROBLEM),
            Rejected(404, "Account not found"),
        ),
        (
            answer(200, {"account": {"uuid": UUID_2, "status": 4}}),
            Account(UUID_2, None, None, None, None, 4, None, None),
        ),
        (answer(200, {"uuid": UUID_2}), (Unknown, 200, "status")),
        (answer(200, {"status": 1}), (Unknown, 200, "uuid")),
        (answer(200, text="[]"), (Unknown, 200, "account")),
    ],
    ids=["404", "wrapped", "no status", "no uuid", "list"],
)
def test_find_account_outcomes(handler: Handler, expected: object) -> None:
    """404 is Rejected (no such account); an answer without a UUID or status is Unknown."""
    with client_for(handler) as client:
        check(client.find_account(username="jdoe"), expected)


# -- how much of an answer is read -------------------------------------------------------------


def streamed(status: int, prefix: bytes, filler: int, suffix: bytes = b"") -> Handler:
    """Answer with ``prefix``, ``filler`` spaces streamed 1 MiB at a time, then ``suffix``."""

    def chunks() -> Iterator[bytes]:
        yield prefix
        left = filler
        while left > 0:
            step = min(left, 1 << 20)
            yield b" " * step
            left -= step
        yield suffix

    def handle(request: httpx.Request) -> httpx.Response:
        del request
        return httpx.Response(status, content=chunks())

    return handle


def test_body_limit_for_single_answers() -> None:
    """A create answer up to 1 MiB is read; one byte more is Unknown; a refusal stays one."""
    prefix = b'{"identId": 9}'
    exactly = streamed(200, prefix, (1 << 20) - len(prefix))
    over = streamed(200, prefix, (1 << 20) - len(prefix) + 1)
    with client_for(exactly) as client:
        assert client.create_identifier(ACCOUNT, {}) == Created(9, 200)
    with client_for(over) as client:
        outcome = client.create_identifier(ACCOUNT, {})
    assert isinstance(outcome, Unknown)
    assert outcome.status == 200
    assert "over 1 MiB" in outcome.reason
    with client_for(streamed(400, b'{"detail": "no"}', 2 << 20)) as client:
        assert client.update_identifier(ACCOUNT, 9, {}) == Rejected(
            400, "(an answer over 1 MiB, not read)"
        )


def test_body_limit_for_lists() -> None:
    """A listing may be up to 32 MiB; past that it is Unknown, not a partial list."""
    body = b'{"Identifiers": [{"id": 1, "data": {"unitNum": "A"}}]'
    with client_for(streamed(200, body, 2 << 20, b"}")) as client:
        listed = client.list_identifiers(ACCOUNT)
    assert isinstance(listed, Listed)
    assert [i.unit_num for i in listed.identifiers] == ["A"]
    with client_for(streamed(200, body, 32 << 20, b"}")) as client:
        too_big = client.list_identifiers(ACCOUNT)
    assert isinstance(too_big, Unknown)
    assert "over 32 MiB" in too_big.reason


# -- the overall deadline, over loopback ---------------------------------------------------------


class RawServer:
    """A loopback TCP server running ``serve(conn, record)`` per connection in a thread."""

    def __init__(self, serve: Callable[[socket.socket, Callable[[bytes], None]], None]) -> None:
        self.received = b""
        self.connections = 0
        self._serve = serve
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.port = self._sock.getsockname()[1]
        self._accepting = threading.Thread(target=self._accept)
        self._accepting.start()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def _record(self, data: bytes) -> None:
        with self._lock:
            self.received += data

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._run, args=(conn,))
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        # The client going away (OSError) is what these servers wait for.
        with conn, contextlib.suppress(OSError):
            self._serve(conn, self._record)

    def close(self) -> None:
        """Stop accepting and wait for the connection threads."""
        self._stop.set()
        self._accepting.join()
        for thread in self._threads:
            thread.join()
        self._sock.close()


def read_request(conn: socket.socket, record: Callable[[bytes], None]) -> None:
    """Read one request's head and body (by Content-Length) from ``conn``."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    record(data + body[len(data) - len(head) - 4 :])


def trickle(answer: bytes, every: float, limit: float) -> Callable[..., None]:
    """Read the request, then send ``answer`` one byte every ``every`` s, for ``limit`` s."""

    def serve(conn: socket.socket, record: Callable[[bytes], None]) -> None:
        read_request(conn, record)
        started = time.monotonic()
        for byte in answer:
            if time.monotonic() - started > limit:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return serve


@pytest.mark.e2e
@pytest.mark.parametrize(
    "answer_bytes",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"a" * 200,
        b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + b" " * 200,
    ],
    ids=["trickled headers", "trickled body"],
)
def test_deadline_ends_a_trickling_answer(answer_bytes: bytes) -> None:
    """A server sending a byte every 0.5 s can't hold a create past the deadline: Unknown."""
    server = RawServer(trickle(answer_bytes, every=0.5, limit=20.0))
    records: list[RequestRecord] = []
    try:
        with SonoranClient(
            server.url, KEY, deadline=1.5, read_timeout=30, env={}, on_request=records.append
        ) as client:
            outcome = client.create_identifier(ACCOUNT, {"unitNum": "1A"})
    finally:
        server.close()
    assert isinstance(outcome, Unknown)
    assert outcome.status is None
    assert "within the 1.5 s deadline" in outcome.reason
    print(f"request ended after {records[0].seconds:.2f} s (deadline 1.5 s)")


# -- proxies -------------------------------------------------------------------------------------

PROXY_ENV = {
    "HTTP_PROXY": "http://127.0.0.9:3128",
    "HTTPS_PROXY": "http://127.0.0.9:3128",
    "ALL_PROXY": "http://127.0.0.9:3128",
}


@pytest.mark.parametrize(
    ("base_url", "proxy", "env", "expected"),
    [
        ("http://127.0.0.1:8765", None, PROXY_ENV, None),
        ("http://localhost:8765", "http://127.0.0.9:1", PROXY_ENV, None),
        ("https://127.0.0.1:8443", "http://127.0.0.9:1", PROXY_ENV, None),
        ("https://[::1]:8443", None, PROXY_ENV, None),
        (
            DEFAULT_BASE_URL,
            None,
            {"HTTPS_PROXY": "http://proxy.example:3128"},
            Proxy("http://proxy.example:3128", "HTTPS_PROXY"),
        ),
        (
            DEFAULT_BASE_URL,
            None,
            {"https_proxy": "proxy.example:8080"},
            Proxy("http://proxy.example:8080", "https_proxy"),
        ),
        (
            DEFAULT_BASE_URL,
            None,
            {"ALL_PROXY": "https://proxy.example"},
            Proxy("https://proxy.example:443", "ALL_PROXY"),
        ),
        (DEFAULT_BASE_URL, None, {"HTTP_PROXY": "http://proxy.example:3128"}, None),
        (DEFAULT_BASE_URL, None, {}, None),
        (
            DEFAULT_BASE_URL,
            "http://mine.example:3128",
            {"HTTPS_PROXY": "http://env.example:3128", "NO_PROXY": "*"},
            Proxy("http://mine.example:3128", "--proxy"),
        ),
    ],
)
def test_choose_proxy(
    base_url: str, proxy: str | None, env: dict[str, str], expected: Proxy | None
) -> None:
    """Loopback never uses a proxy; https: --proxy, else HTTPS_PROXY/ALL_PROXY, never HTTP_PROXY."""
    assert choose_proxy(base_url, proxy=proxy, env=env) == expected


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("sonorancad.com", False),
        (".sonorancad.com", False),
        ("*.sonorancad.com", False),
        ("API.SONORANCAD.COM", False),
        ("example.org, api.sonorancad.com:443", False),
        ("*", False),
        ("api.sonorancad.com:8443", True),
        ("cad.com", True),
        ("example.org", True),
        ("", True),
    ],
)
def test_no_proxy(no_proxy: str, proxied: bool) -> None:
    """NO_PROXY names hosts, domain suffixes and ports as curl reads them."""
    env = {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": no_proxy}
    assert (choose_proxy(DEFAULT_BASE_URL, env=env) is not None) == proxied


def test_proxy_credentials_are_kept_apart() -> None:
    """A proxy's user and password are used but never shown."""
    chosen = choose_proxy(DEFAULT_BASE_URL, proxy="http://me:s%40cret@proxy.example:3128")
    assert chosen is not None
    assert chosen.url == "http://proxy.example:3128"
    assert chosen.auth == ("me", "s@cret")
    assert "cret" not in repr(chosen)


@pytest.mark.parametrize(
    "proxy", ["socks5://me:secret@proxy.example:1080", "http://me:secret@:3128", "http://p:99999"]
)
def test_unusable_proxy_is_refused(proxy: str) -> None:
    """A SOCKS proxy, a proxy without a host or with a bad port is a one-line InputError."""
    with pytest.raises(InputError, match="--proxy") as caught:
        SonoranClient(DEFAULT_BASE_URL, KEY, proxy=proxy)
    assert "secret" not in str(caught.value)


def answer_ok(conn: socket.socket, record: Callable[[bytes], None]) -> None:
    """Read a request, answer {"identId": 1}."""
    read_request(conn, record)
    body = b'{"identId": 1}'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def refuse_tunnel(conn: socket.socket, record: Callable[[bytes], None]) -> None:
    """Act as a proxy that refuses every CONNECT with 403."""
    read_request(conn, record)
    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.mark.e2e
def test_environment_proxies_never_see_a_loopback_request() -> None:
    """With every proxy variable and --proxy set, a loopback request goes straight there."""
    proxy = RawServer(refuse_tunnel)
    target = RawServer(answer_ok)
    env = {name: proxy.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy")}
    try:
        with SonoranClient(target.url, KEY, env=env, proxy=proxy.url) as client:
            outcome = client.create_identifier(ACCOUNT, {})
    finally:
        proxy.close()
        target.close()
    assert outcome == Created(1, 200)
    assert (proxy.connections, proxy.received) == (0, b"")
    assert f"Bearer {KEY}".encode() in target.received


@pytest.mark.e2e
def test_https_goes_through_the_proxy_as_a_tunnel() -> None:
    """For https, HTTPS_PROXY gets only a CONNECT for host:443, never the request or the key."""
    proxy = RawServer(refuse_tunnel)
    try:
        with SonoranClient(DEFAULT_BASE_URL, KEY, env={"HTTPS_PROXY": proxy.url}) as client:
            outcome = client.create_identifier(ACCOUNT, {"unitNum": "1A"})
    finally:
        proxy.close()
    assert isinstance(outcome, NotSent)
    assert outcome.kind == NotSentKind.PROXY
    assert proxy.received.startswith(b"CONNECT api.sonorancad.com:443 HTTP/1.1\r\n")
    assert KEY.encode() not in proxy.received
    assert b"authorization" not in proxy.received.lower()
    assert b"unitNum" not in proxy.received


# -- TLS, over loopback with a self-signed certificate -------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on loopback with a fresh self-signed certificate; yields (url, cert)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def serve(conn: socket.socket, record: Callable[[bytes], None]) -> None:
        with context.wrap_socket(conn, server_side=True) as secure:
            answer_ok(secure, record)

    server = RawServer(serve)
    yield f"https://127.0.0.1:{server.port}", cert
    server.close()


@pytest.mark.e2e
def test_tls_failure_is_not_sent(tls_server: tuple[str, Path]) -> None:
    """An https server whose certificate isn't trusted: NotSent with kind TLS, key unsent."""
    url, _ = tls_server
    with SonoranClient(url, KEY, env={}) as client:
        outcome = client.create_identifier(ACCOUNT, {})
    assert isinstance(outcome, NotSent)
    assert outcome.kind == NotSentKind.TLS


@pytest.mark.e2e
def test_tls_through_the_deadline_transport(tls_server: tuple[str, Path]) -> None:
    """With the certificate trusted (SSL_CERT_FILE, in a child process), https creates work."""
    url, cert = tls_server
    script = (
        "import sys\n"
        "from bulk_ident.cad.client import SonoranClient\n"
        "with SonoranClient(sys.argv[1], 'k', env={}, deadline=5) as client:\n"
        "    print(client.create_identifier('a', {}))\n"
    )
    env = {**os.environ, "SSL_CERT_FILE": str(cert)}
    done = subprocess.run(
        [sys.executable, "-c", script, url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "Created(ident_id=1, status=200)", done.stderr
