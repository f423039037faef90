"""Tests for bulk_ident.cad.client with httpx.MockTransport: requests sent, replies classified."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bulk_ident import __version__
from bulk_ident.cad.client import (
    DEFAULT_BASE_URL,
    Created,
    Listed,
    NotSent,
    RateLimited,
    Rejected,
    RemoteIdentifier,
    RequestFailed,
    RequestRecord,
    SonoranClient,
    Unauthorised,
    Unknown,
    check_base_url,
    key_fingerprint,
    load_api_key,
)
from bulk_ident.errors import ApiError, InputError

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
# prose, so those rows give the type and status and a word the reason must contain.
CREATE_TABLE: list[tuple[str, Handler, object]] = [
    ("200 identId", answer(200, {"identId": 42}), Created(42, 200)),
    ("201 identId", answer(201, {"identId": 7}), Created(7, 201)),
    ("200 without identId", answer(200, {"ok": True}), (Unknown, 200, "identId")),
    ("200 identId as text", answer(200, {"identId": "42"}), (Unknown, 200, "identId")),
    ("200 identId true", answer(200, {"identId": True}), (Unknown, 200, "identId")),
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
    ("connect refused or DNS", fail_with(httpx.ConnectError), (NotSent, None, "connect")),
    ("connect timeout", fail_with(httpx.ConnectTimeout), (NotSent, None, "timed out")),
    ("pool timeout", fail_with(httpx.PoolTimeout), (NotSent, None, "connection")),
    ("read timeout", fail_with(httpx.ReadTimeout), (Unknown, None, "read timeout")),
    ("write timeout", fail_with(httpx.WriteTimeout), (Unknown, None, "sending")),
    ("dropped", fail_with(httpx.RemoteProtocolError), (Unknown, None, "closed")),
    ("read error", fail_with(httpx.ReadError), (Unknown, None, "waiting")),
    ("write error", fail_with(httpx.WriteError), (Unknown, None, "sending")),
    ("proxy error", fail_with(httpx.ProxyError), (Unknown, None, "ProxyError")),
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


def accounts_handler(total: int, seen: list[httpx.Request]) -> Handler:
    """Serve ``total`` accounts page by page, recording each request."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        accounts = [
            {"uuid": f"u{n}", "username": f"user{n}"}
            for n in range(offset, min(total, offset + limit))
        ]
        pagination = {"limit": limit, "offset": offset, "total": total}
        return httpx.Response(200, json={"pagination": pagination, "accounts": accounts})

    return handle


def test_list_accounts_pages_through() -> None:
    """Accounts are fetched 100 at a time until the total is reached, filters passed on."""
    seen: list[httpx.Request] = []
    with client_for(accounts_handler(250, seen)) as client:
        accounts = client.list_accounts(username="user7", status=1)
    assert [a["uuid"] for a in accounts] == [f"u{n}" for n in range(250)]
    assert [r.url.path for r in seen] == ["/v2/general/accounts"] * 3
    assert [dict(r.url.params) for r in seen] == [
        {"limit": "100", "offset": str(offset), "status": "1", "username": "user7"}
        for offset in (0, 100, 200)
    ]


def test_list_accounts_empty_community() -> None:
    """No accounts takes one request and gives an empty list."""
    seen: list[httpx.Request] = []
    with client_for(accounts_handler(0, seen)) as client:
        assert client.list_accounts() == []
    assert len(seen) == 1
    assert "status" not in seen[0].url.params


@pytest.mark.parametrize(
    ("handler", "outcome_type", "words"),
    [
        (answer(401, {"detail": "Invalid API key"}), Unauthorised, "Invalid API key"),
        (
            answer(429, {"message": "API rate limit exceeded"}, **{"Retry-After": "60"}),
            RateLimited,
            "retry after 60 s",
        ),
        (answer(200, {"accounts": "?"}), Unknown, "account list"),
        (fail_with(httpx.ConnectError), NotSent, "could not connect"),
    ],
)
def test_list_accounts_failure_raises(handler: Handler, outcome_type: type, words: str) -> None:
    """A failed account page raises an ApiError whose message says why and carries the outcome."""
    with client_for(handler) as client, pytest.raises(ApiError) as caught:
        client.list_accounts()
    assert isinstance(caught.value, RequestFailed)
    assert isinstance(caught.value.outcome, outcome_type)
    assert words in str(caught.value)
    assert KEY not in str(caught.value)


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
