"""Tests for the sandbox: in-process behaviour with a fake clock, and outcomes over loopback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_proc import running_sandbox

from bulk_ident.cad.client import (
    Account,
    AccountsPage,
    Created,
    Deleted,
    Listed,
    NotSent,
    RateLimited,
    Rejected,
    RequestRecord,
    SonoranClient,
    Unauthorised,
    Unknown,
    Updated,
)
from bulk_ident.cad.sandbox import (
    SANDBOX_KEY_ENV,
    Sandbox,
    SandboxConfig,
    fingerprint,
    load_accounts,
    parse_slow,
    sandbox_key,
)
from bulk_ident.errors import InputError
from bulk_ident.net import key_fingerprint
from bulk_ident.rates import Rate

KEY = "sandbox-test-key-" + secrets.token_hex(8)
ACCOUNT = "7c0ef1b2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER_ACCOUNT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ACCOUNTS = [
    {"uuid": ACCOUNT, "username": "jdoe", "communityUserId": "c1", "status": 1},
    {"uuid": "11111111-2222-4333-8444-555555555555", "username": "asmith", "status": 1},
    {"uuid": "66666666-7777-4888-9999-000000000000", "username": "gone", "status": 3},
]
IDENTIFIERS_PATH = f"/v2/emergency/accounts/{ACCOUNT}/identifiers"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    """An --accounts file with three accounts, one of them removed."""
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(ACCOUNTS), encoding="utf-8")
    return path


def serve(clock: FakeClock | None = None, **options: Any) -> Sandbox:
    """An in-process sandbox on a free port, started."""
    sandbox = Sandbox(SandboxConfig(**options), clock=clock or FakeClock())
    sandbox.start()
    return sandbox


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain httpx client for hand-made requests."""
    with httpx.Client(timeout=5) as client:
        yield client


def call(
    http: httpx.Client,
    sandbox: Sandbox,
    method: str = "POST",
    path: str = IDENTIFIERS_PATH,
    body: Any = None,
    key: str | None = KEY,
    **params: str,
) -> httpx.Response:
    """Send one request to the sandbox with a bearer key (unless key is None)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return http.request(
        method,
        sandbox.url + path,
        headers=headers,
        content=content if method in ("POST", "PATCH") else None,
        params=params,
    )


# -- identifiers -------------------------------------------------------------------------------


def test_create_fills_documented_defaults(http: httpx.Client) -> None:
    """A create with no fields stores the documented defaults and answers {"identId": N}."""
    with serve() as sandbox:
        assert call(http, sandbox).json() == {"identId": 1}
        assert call(http, sandbox).json() == {"identId": 2}
        held = sandbox.identifiers()
    assert held[0] == {
        "accountUuid": ACCOUNT,
        "identId": 1,
        "data": {
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
        },
    }


def test_create_keeps_fields_and_ignores_unknown(http: httpx.Client) -> None:
    """Given fields are stored as sent; undocumented properties are ignored, not refused."""
    body = {"unitNum": "1A-12", "name": "Jé Doe", "status": 2, "page": 0, "isDispatch": True}
    with serve() as sandbox:
        assert call(http, sandbox, body={**body, "colour": "red"}).status_code == 200
        [held] = sandbox.identifiers()
    assert {k: held["data"][k] for k in body} == body
    assert "colour" not in held["data"]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/v2/emergency/accounts/not-a-uuid/identifiers", {}, "Invalid accountUuid format"),
        (IDENTIFIERS_PATH, {"status": "2"}, "status must be one of 0, 1, 2, 3, 4, 100"),
        (IDENTIFIERS_PATH, {"status": 5}, "status must be one of"),
        (IDENTIFIERS_PATH, {"status": True}, "status must be one of"),
        (IDENTIFIERS_PATH, {"page": 4}, "page must be one of 0, 1, 2, 3, -1"),
        (IDENTIFIERS_PATH, {"page": "POLICE"}, "page must be one of"),
        (IDENTIFIERS_PATH, {"name": 5}, "name must be a string"),
        (IDENTIFIERS_PATH, {"unitNum": None}, "unitNum must be a string"),
        (IDENTIFIERS_PATH, {"isDispatch": "yes"}, "isDispatch must be a boolean"),
        (IDENTIFIERS_PATH, [1, 2], "Request body must be a JSON object"),
        (IDENTIFIERS_PATH, b"{nope", "Request body is not valid JSON"),
    ],
)
def test_create_validation(http: httpx.Client, path: str, body: Any, detail: str) -> None:
    """Malformed UUIDs, unknown status/page and wrong types get 400 problem+json; nothing kept."""
    with serve() as sandbox:
        response = call(http, sandbox, path=path, body=body)
        assert sandbox.identifiers() == []
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["detail"].startswith(detail)
    assert {"type", "title", "instance", "traceId"} <= problem.keys()


def test_list_uses_documented_shape(http: httpx.Client) -> None:
    """Listing answers PascalCase SelectedIdent/Identifiers with most fields under data."""
    with serve() as sandbox:
        call(http, sandbox, body={"unitNum": "1A", "aop": "City", "status": 2, "page": 1})
        call(http, sandbox, path=f"/v2/emergency/accounts/{OTHER_ACCOUNT}/identifiers")
        listed = call(http, sandbox, "GET").json()
        empty = call(
            http,
            sandbox,
            "GET",
            "/v2/emergency/accounts/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12 + "/identifiers",
        ).json()
    assert empty == {"SelectedIdent": None, "Identifiers": []}
    assert listed["SelectedIdent"] == 1
    [item] = listed["Identifiers"]
    assert item["id"] == 1
    assert item["accId"] == ACCOUNT
    assert (item["status"], item["aop"], item["isDispatch"]) == (2, "City", False)
    assert item["data"]["unitNum"] == "1A"
    assert item["data"]["page"] == 1
    assert {"isPanic", "location", "coordinates"} <= item.keys()


def test_unknown_route_and_method(http: httpx.Client) -> None:
    """Other paths get 404 and other methods on the identifiers path get 405, as problem+json."""
    with serve() as sandbox:
        assert call(http, sandbox, "GET", "/v2/nothing").status_code == 404
        assert call(http, sandbox, "DELETE").status_code == 405


# -- auth and rate limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "api_key", "status"),
    [
        (None, None, 401),
        ("Basic abc", None, 401),
        ("Bearer", None, 401),
        ("Bearer anything", None, 200),
        ("bearer anything", None, 200),
        ("Bearer wrong", "right", 401),
        ("Bearer right", "right", 200),
    ],
)
def test_auth(http: httpx.Client, header: str | None, api_key: str | None, status: int) -> None:
    """Any non-empty bearer key is accepted unless --api-key names the one; else 401."""
    with serve(api_key=api_key) as sandbox:
        headers = {"Authorization": header} if header is not None else {}
        response = http.post(sandbox.url + IDENTIFIERS_PATH, headers=headers, json={})
    assert response.status_code == status
    if status == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_rate_limit_sliding_window(http: httpx.Client, clock: FakeClock) -> None:
    """Ten requests a minute per key, GET and POST together; the 11th gets 429 and Retry-After."""
    with serve(clock) as sandbox:
        statuses = [call(http, sandbox, "GET" if n % 3 else "POST").status_code for n in range(10)]
        clock.now += 0.5
        limited = call(http, sandbox)
        other_key = call(http, sandbox, key="another-key")
        clock.now += 58.6
        still = call(http, sandbox, "GET")
        clock.now += 1.0
        freed = call(http, sandbox)
    assert statuses == [200] * 10
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    assert limited.json()["message"] == "API rate limit exceeded"
    assert limited.json()["request_id"]
    assert other_key.status_code == 200
    assert (still.status_code, still.headers["retry-after"]) == (429, "1")
    assert freed.status_code == 200


def test_rate_limit_block_locks_the_key(http: httpx.Client, clock: FakeClock) -> None:
    """With --block, one violation locks the key for that long, whatever the window says."""
    with serve(clock, rate=Rate(2, 60.0), block=600.0) as sandbox:
        first = [call(http, sandbox).status_code for _ in range(3)]
        clock.now += 100
        locked = call(http, sandbox)
        clock.now += 500
        open_again = call(http, sandbox)
        outcomes = [r["outcome"] for r in sandbox.requests()]
    assert first == [200, 200, 429]
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "500")
    assert open_again.status_code == 200
    assert outcomes == ["ok", "ok", "rate_limited", "blocked", "ok"]


def test_inspection_is_free_and_unlogged(http: httpx.Client) -> None:
    """Inspection needs no key, never counts towards the limit, and stays out of the log."""
    with serve(rate=Rate(1, 60.0)) as sandbox:
        call(http, sandbox)
        for _ in range(5):
            assert http.get(sandbox.url + "/_sandbox/identifiers").status_code == 200
            assert http.get(sandbox.url + "/_sandbox/requests").status_code == 200
        log = http.get(sandbox.url + "/_sandbox/requests").json()
        held = http.get(sandbox.url + "/_sandbox/identifiers").json()
    assert [(r["method"], r["status"], r["outcome"]) for r in log] == [("POST", 200, "ok")]
    assert log[0]["key_fingerprint"] == key_fingerprint(KEY)
    assert log[0]["path"] == IDENTIFIERS_PATH
    assert isinstance(log[0]["time"], float)
    assert [h["identId"] for h in held] == [1]


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_file_makes_unknown_accounts_404(http: httpx.Client, accounts_file: Path) -> None:
    """With --accounts, creating for or listing an account not in the file is 404."""
    with serve(accounts=load_accounts(accounts_file)) as sandbox:
        other = f"/v2/emergency/accounts/{OTHER_ACCOUNT}/identifiers"
        assert call(http, sandbox, path=other).status_code == 404
        assert call(http, sandbox, "GET", other).json()["detail"] == "Account not found"
        assert call(http, sandbox).status_code == 200


def test_account_listing_pages_and_filters(http: httpx.Client, accounts_file: Path) -> None:
    """The listing pages with limit/offset, filters by status (default 1) and username."""
    with serve(accounts=load_accounts(accounts_file)) as sandbox:
        page = call(http, sandbox, "GET", "/v2/general/accounts", limit="1", offset="1").json()
        removed = call(http, sandbox, "GET", "/v2/general/accounts", status="3").json()
        named = call(http, sandbox, "GET", "/v2/general/accounts", username="JDOE").json()
        bad = call(http, sandbox, "GET", "/v2/general/accounts", limit="500")
    assert page["pagination"] == {"limit": 1, "offset": 1, "total": 2}
    assert [a["username"] for a in page["accounts"]] == ["asmith"]
    assert [a["username"] for a in removed["accounts"]] == ["gone"]
    assert [a["uuid"] for a in named["accounts"]] == [ACCOUNT]
    assert bad.status_code == 400


def test_client_reads_the_sandbox_account_pages(accounts_file: Path) -> None:
    """Our client's list_accounts_page reads each page of the sandbox's listing."""
    many = [
        {"uuid": f"{n:08d}-0000-4000-8000-000000000000", "username": f"u{n}"} for n in range(230)
    ]
    accounts_file.write_text(json.dumps(many), encoding="utf-8")
    with serve(rate=Rate(100, 60.0), accounts=load_accounts(accounts_file)) as sandbox:
        with SonoranClient(sandbox.url, KEY, env={}) as client:
            pages = [client.list_accounts_page(offset=offset) for offset in (0, 100, 200)]
            one = client.list_accounts_page(offset=0, username="U7")
        requests = len(sandbox.requests())
    assert all(isinstance(page, AccountsPage) and page.total == 230 for page in pages)
    found = [a.username for page in pages if isinstance(page, AccountsPage) for a in page.accounts]
    assert found == [f"u{n}" for n in range(230)]
    assert isinstance(one, AccountsPage)
    assert [a.username for a in one.accounts] == ["u7"]
    assert requests == 4


@pytest.mark.parametrize(
    ("params", "status", "username"),
    [
        ({"username": "asmith"}, 200, "asmith"),
        ({"communityUserId": "c1"}, 200, "jdoe"),
        ({"accountUuid": ACCOUNT.upper()}, 200, "jdoe"),
        ({"username": "nobody"}, 404, None),
        ({}, 400, None),
        ({"username": "jdoe", "accountUuid": ACCOUNT}, 400, None),
    ],
)
def test_single_account_lookup(
    http: httpx.Client,
    accounts_file: Path,
    params: dict[str, str],
    status: int,
    username: str | None,
) -> None:
    """/accounts/account finds one account by exactly one look-up key, else 404 or 400."""
    with serve(accounts=load_accounts(accounts_file)) as sandbox:
        response = call(http, sandbox, "GET", "/v2/general/accounts/account", **params)
    assert response.status_code == status
    if username is not None:
        assert response.json()["username"] == username


def test_without_accounts_file_every_uuid_exists(http: httpx.Client) -> None:
    """Without --accounts, any well-formed UUID is an account and the listing is empty."""
    with serve() as sandbox:
        assert (
            call(
                http, sandbox, path=f"/v2/emergency/accounts/{OTHER_ACCOUNT}/identifiers"
            ).status_code
            == 200
        )
        listing = call(http, sandbox, "GET", "/v2/general/accounts").json()
    assert listing == {"pagination": {"limit": 20, "offset": 0, "total": 0}, "accounts": []}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{nope", "is not valid JSON"),
        ('{"a": 1}', "must hold a JSON list"),
        ('[{"username": "x"}]', 'account 1: each account needs a "uuid"'),
        ('[{"uuid": "nope"}]', "account 1"),
    ],
)
def test_load_accounts_errors(tmp_path: Path, content: str, words: str) -> None:
    """A bad --accounts file is refused with the file name and what is wrong."""
    path = tmp_path / "accounts.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_accounts(path)
    assert words in str(caught.value)
    assert "accounts.json" in str(caught.value)


def test_load_accounts_takes_the_api_shape_and_fills_defaults(tmp_path: Path) -> None:
    """A saved API listing works as --accounts; missing fields get defaults (status 1)."""
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": [{"uuid": ACCOUNT}]}), encoding="utf-8")
    [account] = load_accounts(path)
    assert account["status"] == 1
    assert account["uuid"] == ACCOUNT


# -- faults, options, lifecycle ------------------------------------------------------------------


def run_faults(seed: int) -> tuple[list[str], int, list[float]]:
    """Send 20 creates to a faulty sandbox; return the outcomes, identifiers held, sleeps."""
    slept: list[float] = []
    config = SandboxConfig(
        rate=Rate(100, 60.0), fail=0.25, lose=0.25, slow=0.25, slow_seconds=7.0, seed=seed
    )
    with Sandbox(config, clock=FakeClock(), sleep=slept.append) as sandbox, httpx.Client() as http:
        for _ in range(20):
            with contextlib.suppress(httpx.RemoteProtocolError):
                call(http, sandbox)
        outcomes = [r["outcome"] for r in sandbox.requests()]
        held = len(sandbox.identifiers())
    return outcomes, held, slept


def test_faults_are_seeded() -> None:
    """The same seed gives the same faults; fail stores nothing, lose and slow store."""
    outcomes, held, slept = run_faults(seed=4)
    assert run_faults(seed=4)[0] == outcomes
    assert run_faults(seed=5)[0] != outcomes
    assert {"ok", "fail", "lose", "slow"} <= set(outcomes)
    assert held == len(outcomes) - outcomes.count("fail")
    assert slept == [7.0] * outcomes.count("slow")


def test_faults_spare_listing(http: httpx.Client) -> None:
    """Faults apply to writes only, so listing stays reliable for settling."""
    with serve(fail=1.0, lose=1.0) as sandbox:
        assert call(http, sandbox, "GET").status_code == 200
        response = call(http, sandbox)
    assert response.status_code == 500
    assert response.json()["detail"] == "Simulated failure (--fail)"


@pytest.mark.parametrize(
    ("text", "expected"), [("1:2", (1.0, 2.0)), ("0.25:0.5", (0.25, 0.5)), ("0:0", (0.0, 0.0))]
)
def test_parse_slow(text: str, expected: tuple[float, float]) -> None:
    """--slow takes P:SECONDS."""
    assert parse_slow(text) == expected


@pytest.mark.parametrize("text", ["1", "2:1", "x:1", "0.5:", "0.5:-1"])
def test_parse_slow_refuses(text: str) -> None:
    """--slow without a probability 0-1 and a delay is refused with an example."""
    with pytest.raises(InputError, match="P:SECONDS"):
        parse_slow(text)


def test_fingerprint_matches_client() -> None:
    """The sandbox logs the same key fingerprint the client and journal use."""
    assert fingerprint(KEY) == key_fingerprint(KEY)


def test_only_loopback() -> None:
    """The sandbox refuses to listen anywhere but loopback."""
    with pytest.raises(InputError, match="loopback"):
        Sandbox(SandboxConfig(host="0.0.0.0"))


def test_port_in_use() -> None:
    """A taken port is a one-line error suggesting --port 0."""
    with serve() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(InputError, match="--port 0"):
            Sandbox(SandboxConfig(port=port)).start()


def test_dump_and_log_lines(http: httpx.Client, tmp_path: Path) -> None:
    """On stop it dumps identifiers and requests; it logs one line per request, no key."""
    lines: list[str] = []
    dump = tmp_path / "dump.json"
    sandbox = Sandbox(SandboxConfig(dump=dump), clock=FakeClock(), log=lines.append)
    sandbox.start()
    call(http, sandbox)
    call(http, sandbox, key=None)
    sandbox.stop()
    saved = json.loads(dump.read_text(encoding="utf-8"))
    assert [i["identId"] for i in saved["identifiers"]] == [1]
    assert [r["status"] for r in saved["requests"]] == [200, 401]
    assert len(lines) == 2
    assert f"POST {IDENTIFIERS_PATH} 200 ok {key_fingerprint(KEY)}" in lines[0]
    assert "401 unauthorised -" in lines[1]
    assert all(KEY not in line for line in lines)


# -- every outcome class against the sandbox in a separate process -----------------------------


def free_closed_port() -> int:
    """A loopback port nobody listens on (bound once, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.e2e
def test_e2e_created_rejected_unauthorised_listed(accounts_file: Path) -> None:
    """Created, Rejected (400, 404), Unauthorised and Listed over loopback against the process."""
    with running_sandbox("--api-key", KEY, "--accounts", str(accounts_file)) as sandbox:
        with SonoranClient(sandbox.url, KEY) as client:
            created = client.create_identifier(ACCOUNT, {"unitNum": "1A", "status": 2, "page": 0})
            bad_uuid = client.create_identifier("not-a-uuid", {})
            unknown_account = client.create_identifier(OTHER_ACCOUNT, {})
            bad_status = client.create_identifier(ACCOUNT, {"status": "AVAILABLE"})
            listed = client.list_identifiers(ACCOUNT)
        with SonoranClient(sandbox.url, "some-other-key") as client:
            refused = client.create_identifier(ACCOUNT, {})
        held = sandbox.identifiers()
    assert created == Created(1, 200)
    assert bad_uuid == Rejected(400, "Invalid accountUuid format")
    assert unknown_account == Rejected(404, "Account not found")
    assert bad_status == Rejected(400, "status must be one of 0, 1, 2, 3, 4, 100")
    assert isinstance(listed, Listed)
    assert [(i.ident_id, i.unit_num) for i in listed.identifiers] == [(1, "1A")]
    assert refused == Unauthorised(401, "Missing or invalid API key")
    assert [(h["identId"], h["data"]["unitNum"]) for h in held] == [(1, "1A")]


@pytest.mark.e2e
def test_e2e_eleven_posts_give_ten_200s_then_429() -> None:
    """With 10/min, eleven POSTs in a minute give ten Created and a 429 with Retry-After."""
    records: list[RequestRecord] = []
    with running_sandbox("--rate", "10/min") as sandbox:
        with SonoranClient(sandbox.url, KEY, on_request=records.append) as client:
            outcomes = [client.create_identifier(ACCOUNT, {"unitNum": f"U{n}"}) for n in range(11)]
        held = sandbox.identifiers()
        log = sandbox.requests()
    assert [type(o) for o in outcomes] == [Created] * 10 + [RateLimited]
    limited = outcomes[-1]
    assert isinstance(limited, RateLimited)
    assert limited.retry_after is not None
    assert 1 <= limited.retry_after <= 60
    assert limited.message == "API rate limit exceeded"
    assert [r.status for r in records] == [200] * 10 + [429]
    assert len(held) == 10
    assert [r["outcome"] for r in log] == ["ok"] * 10 + ["rate_limited"]


@pytest.mark.e2e
def test_e2e_not_sent_to_a_closed_port() -> None:
    """Nothing listening: NotSent, for create and list alike."""
    with SonoranClient(f"http://127.0.0.1:{free_closed_port()}", KEY) as client:
        assert isinstance(client.create_identifier(ACCOUNT, {}), NotSent)
        assert isinstance(client.list_identifiers(ACCOUNT), NotSent)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "status", "stored"),
    [
        (["--fail", "1"], 500, 0),
        (["--lose", "1"], None, 1),
        (["--slow", "1:2"], None, 1),
    ],
    ids=["fail", "lose", "slow"],
)
def test_e2e_unknown(args: list[str], status: int | None, stored: int) -> None:
    """500, a dropped connection and a late answer are all Unknown; lose and slow did store."""
    with running_sandbox(*args) as sandbox:
        with SonoranClient(sandbox.url, KEY, read_timeout=0.5) as client:
            outcome = client.create_identifier(ACCOUNT, {"unitNum": "1A"})
        with SonoranClient(sandbox.url, KEY) as client:
            listed = client.list_identifiers(ACCOUNT)
        held = sandbox.identifiers()
    assert isinstance(outcome, Unknown)
    assert outcome.status == status
    assert len(held) == stored
    assert isinstance(listed, Listed)
    assert len(listed.identifiers) == stored


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rate", "3/fortnight"], "rate '3/fortnight' is not understood"),
        (["--slow", "1"], "--slow '1' is not understood"),
        (["--fail", "2"], "--fail"),
    ],
)
def test_e2e_cli_refuses_bad_options(args: list[str], words: str) -> None:
    """Bad options stop the command with exit 2 and a one-line message."""
    result = subprocess.run(
        [sys.executable, "-m", "bulk_ident", "sandbox", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert words in result.stderr
    assert result.stdout == ""


@pytest.mark.e2e
def test_e2e_key_never_leaks(tmp_path: Path, accounts_file: Path) -> None:
    """A run through every outcome leaves the key in no output, log, dump or outcome."""
    dump = tmp_path / "dump.json"
    seen: list[str] = []
    args = ["--api-key", KEY, "--accounts", str(accounts_file), "--rate", "8/min"]
    faults = ["--fail", "0.3", "--lose", "0.3", "--slow", "0.3:3", "--seed", "2"]
    with running_sandbox(*args, *faults, "--dump", str(dump)) as sandbox:
        with SonoranClient(
            sandbox.url, KEY, read_timeout=1.0, on_request=lambda r: seen.append(repr(r))
        ) as client:
            seen.append(repr(client))
            for n in range(7):
                seen.append(repr(client.create_identifier(ACCOUNT, {"unitNum": f"U{n}"})))
            seen.append(repr(client.list_identifiers(ACCOUNT)))
            seen.append(repr(client.create_identifier(ACCOUNT, {})))  # the 9th: 429
        with SonoranClient(sandbox.url, KEY + "x") as client:
            seen.append(repr(client.create_identifier(ACCOUNT, {})))
    with SonoranClient(f"http://127.0.0.1:{free_closed_port()}", KEY) as client:
        seen.append(repr(client.create_identifier(ACCOUNT, {})))
    outputs = [sandbox.stdout, sandbox.stderr, dump.read_text(encoding="utf-8"), *seen]
    kinds = " ".join(seen)
    for kind in ("Created", "Unknown", "RateLimited", "Unauthorised", "NotSent"):
        assert kind in kinds
    assert key_fingerprint(KEY) in sandbox.stderr
    assert not [text for text in outputs if KEY in text]


# -- update and delete ---------------------------------------------------------------------------


def item_path(ident_id: int | str, account: str = ACCOUNT) -> str:
    """The path of one identifier."""
    return f"/v2/emergency/accounts/{account}/identifiers/{ident_id}"


def edit(http: httpx.Client, sandbox: Sandbox, body: Any) -> httpx.Response:
    """POST an out-of-band edit, without a key."""
    return http.post(sandbox.url + "/_sandbox/edit", json=body)


def test_patch_changes_only_the_sent_fields(http: httpx.Client) -> None:
    """PATCH changes the sent known fields, ignores unknown ones, answers the stored item."""
    with serve() as sandbox:
        call(http, sandbox, body={"unitNum": "1A", "rank": "Officer", "status": 2, "page": 0})
        response = call(
            http, sandbox, "PATCH", item_path(1), body={"rank": "Captain", "aop": "City", "x": 1}
        )
        [held] = sandbox.identifiers()
        listed = call(http, sandbox, "GET").json()["Identifiers"]
    assert response.status_code == 200
    answer = response.json()
    assert (answer["identId"], answer["serverId"]) == (1, 1)
    assert answer["identifier"] == listed[0]
    assert answer["identifier"]["data"]["rank"] == "Captain"
    assert answer["identifier"]["aop"] == "City"
    assert held["data"] == {
        **held["data"],
        "unitNum": "1A",
        "rank": "Captain",
        "aop": "City",
        "status": 2,
        "page": 0,
    }
    assert "x" not in held["data"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("PATCH", item_path(1), {"status": "2"}, 400, "status must be one of"),
        ("PATCH", item_path(1), [1], 400, "Request body must be a JSON object"),
        ("PATCH", item_path(1), b"{nope", 400, "Request body is not valid JSON"),
        ("PATCH", item_path(9), {"rank": "x"}, 404, "Identifier not found"),
        ("DELETE", item_path(9), None, 404, "Identifier not found"),
        ("PATCH", item_path(1, OTHER_ACCOUNT), {}, 404, "Identifier not found"),
        ("DELETE", item_path(1, OTHER_ACCOUNT), None, 404, "Identifier not found"),
        ("PATCH", item_path("abc"), {}, 400, "Invalid identId"),
        ("GET", item_path(1), None, 405, "GET is not supported"),
        ("POST", item_path(1), {}, 405, "POST is not supported"),
    ],
)
def test_patch_and_delete_refusals(
    http: httpx.Client, method: str, path: str, body: Any, status: int, detail: str
) -> None:
    """Invalid fields are 400, an identifier not on that account is 404; nothing changes."""
    with serve() as sandbox:
        call(http, sandbox, body={"unitNum": "1A"})
        before = sandbox.identifiers()
        response = call(http, sandbox, method, path, body=body)
        after = sandbox.identifiers()
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(detail)
    assert after == before


def test_delete_removes_it_everywhere(http: httpx.Client) -> None:
    """DELETE answers identId and serverId; the identifier leaves the listing and inspection."""
    with serve() as sandbox:
        call(http, sandbox, body={"unitNum": "1A"})
        call(http, sandbox, body={"unitNum": "1B"})
        deleted = call(http, sandbox, "DELETE", item_path(1))
        again = call(http, sandbox, "DELETE", item_path(1))
        listed = call(http, sandbox, "GET").json()
        held = http.get(sandbox.url + "/_sandbox/identifiers").json()
    assert deleted.json() == {"identId": 1, "serverId": 1}
    assert again.status_code == 404
    assert [i["id"] for i in listed["Identifiers"]] == [2]
    assert listed["SelectedIdent"] == 2
    assert [h["identId"] for h in held] == [2]


def test_patch_and_delete_count_against_the_limit(http: httpx.Client) -> None:
    """Updates and deletes use the same per-key budget as creates and lists."""
    with serve(rate=Rate(3, 60.0)) as sandbox:
        call(http, sandbox)
        patched = call(http, sandbox, "PATCH", item_path(1), body={"rank": "x"})
        deleted = call(http, sandbox, "DELETE", item_path(1))
        limited = call(http, sandbox, "DELETE", item_path(1))
    assert [patched.status_code, deleted.status_code, limited.status_code] == [200, 200, 429]


def run_write_faults(**faults: Any) -> tuple[list[str], list[dict[str, Any]], list[float]]:
    """Create one identifier fault-free, then PATCH and DELETE it under ``faults``."""
    slept: list[float] = []
    config = SandboxConfig(rate=Rate(100, 60.0), **faults)
    with Sandbox(config, clock=FakeClock(), sleep=slept.append) as sandbox, httpx.Client() as http:
        assert edit(http, sandbox, {"accountUuid": ACCOUNT, "create": {"rank": "A"}}).json() == {
            "identId": 1
        }
        with contextlib.suppress(httpx.RemoteProtocolError):
            call(http, sandbox, "PATCH", item_path(1), body={"rank": "B"})
        after_patch = sandbox.identifiers()
        with contextlib.suppress(httpx.RemoteProtocolError):
            call(http, sandbox, "DELETE", item_path(1))
        outcomes = [r["outcome"] for r in sandbox.requests()]
    return outcomes, after_patch, slept


def test_faults_apply_to_patch_and_delete() -> None:
    """--fail answers 500 without applying; --lose and --slow apply, then drop or delay."""
    failed, held, slept = run_write_faults(fail=1.0)
    assert failed == ["fail", "fail"]
    assert held[0]["data"]["rank"] == "A"
    lost, held, _ = run_write_faults(lose=1.0)
    assert lost == ["lose", "lose"]
    assert held[0]["data"]["rank"] == "B"
    slow, held, slept = run_write_faults(slow=1.0, slow_seconds=4.0)
    assert slow == ["slow", "slow"]
    assert held[0]["data"]["rank"] == "B"
    assert slept == [4.0, 4.0]


def test_account_look_ups_are_fault_free(http: httpx.Client, accounts_file: Path) -> None:
    """Listing accounts and finding one never fail, drop or stall, whatever the faults."""
    config: dict[str, Any] = {"fail": 1.0, "lose": 1.0, "slow": 1.0, "slow_seconds": 5.0}
    with serve(accounts=load_accounts(accounts_file), **config) as sandbox:
        listing = call(http, sandbox, "GET", "/v2/general/accounts")
        found = call(http, sandbox, "GET", "/v2/general/accounts/account", username="jdoe")
        identifiers = call(http, sandbox, "GET")
    assert [listing.status_code, found.status_code, identifiers.status_code] == [200, 200, 200]


# -- out-of-band edits ---------------------------------------------------------------------------


def test_edit_sets_deletes_and_creates_out_of_band(http: httpx.Client) -> None:
    """/_sandbox/edit changes, deletes and creates identifiers without a key or the limit."""
    with serve(rate=Rate(1, 60.0), api_key="the-key") as sandbox:
        created = edit(http, sandbox, {"accountUuid": ACCOUNT, "create": {"unitNum": "1A"}})
        edit(http, sandbox, {"accountUuid": ACCOUNT.upper(), "create": {"unitNum": "1B"}})
        changed = edit(http, sandbox, {"identId": 1, "set": {"rank": "Captain", "status": 4}})
        removed = edit(http, sandbox, {"identId": 2, "delete": True})
        held = sandbox.identifiers()
        log = sandbox.requests()
        listed = call(http, sandbox, "GET", key="the-key").json()["Identifiers"]
    assert created.json() == {"identId": 1}
    assert changed.status_code == 200
    assert changed.json()["data"]["rank"] == "Captain"
    assert removed.json() == {"identId": 2, "deleted": True}
    assert [(h["identId"], h["data"]["rank"], h["data"]["status"]) for h in held] == [
        (1, "Captain", 4)
    ]
    assert log == []
    assert [i["id"] for i in listed] == [1]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"identId": 9, "set": {"rank": "x"}}, 404, "no identifier 9"),
        ({"identId": 9, "delete": True}, 404, "no identifier 9"),
        ({"identId": 1, "set": {"page": 7}}, 400, "page must be one of"),
        ({"identId": 1}, 400, "send {"),
        ({"identId": "1", "delete": True}, 400, "send {"),
        ({"accountUuid": "nope", "create": {}}, 400, "Invalid accountUuid format"),
        ({"accountUuid": OTHER_ACCOUNT, "create": {}}, 404, "Account not found"),
        ({"accountUuid": ACCOUNT, "create": {"status": "x"}}, 400, "status must be one of"),
        ([1], 400, "send {"),
    ],
)
def test_edit_refusals(
    http: httpx.Client, accounts_file: Path, body: Any, status: int, detail: str
) -> None:
    """Unknown ids are 404, malformed edits 400; nothing changes."""
    with serve(accounts=load_accounts(accounts_file)) as sandbox:
        edit(http, sandbox, {"accountUuid": ACCOUNT, "create": {"unitNum": "1A"}})
        before = sandbox.identifiers()
        response = edit(http, sandbox, body)
        after = sandbox.identifiers()
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    assert after == before


# -- accounts: the documented listing, look-ups, duplicates --------------------------------------


RICH_ACCOUNTS = [
    {
        "uuid": ACCOUNT,
        "username": "JDoe",
        "communityUserId": "1001",
        "discord": "123456789012345678",
        "roblox": 98765,
        "status": 1,
    },
    {"uuid": "11111111-2222-4333-8444-555555555555", "username": "jdoe", "status": 1},
    {"uuid": "22222222-2222-4333-8444-555555555555", "username": "pending", "status": 0},
    {"uuid": "33333333-2222-4333-8444-555555555555", "username": "banned", "status": 4},
]


@pytest.fixture
def rich_accounts(tmp_path: Path) -> tuple[dict[str, Any], ...]:
    """Accounts with Discord and Roblox ids, a duplicate username, pending and banned ones."""
    path = tmp_path / "rich.json"
    path.write_text(json.dumps(RICH_ACCOUNTS), encoding="utf-8")
    return load_accounts(path)


def test_listing_shows_only_documented_fields_and_duplicates(
    http: httpx.Client, rich_accounts: tuple[dict[str, Any], ...]
) -> None:
    """The listing serves duplicate usernames, and no discord or roblox (not documented there)."""
    with serve(accounts=rich_accounts) as sandbox:
        named = call(http, sandbox, "GET", "/v2/general/accounts", username="JDOE").json()
        banned = call(http, sandbox, "GET", "/v2/general/accounts", status="4").json()
    assert [a["uuid"] for a in named["accounts"]] == [
        ACCOUNT,
        "11111111-2222-4333-8444-555555555555",
    ]
    assert set(named["accounts"][0]) == {
        "uuid",
        "username",
        "communityUserId",
        "status",
        "joined",
        "lastLogin",
        "permissions",
    }
    assert [a["username"] for a in banned["accounts"]] == ["banned"]


@pytest.mark.parametrize(
    ("params", "status", "uuid"),
    [
        ({"discord": " 123456789012345678 "}, 200, ACCOUNT),
        ({"roblox": "98765"}, 200, ACCOUNT),
        ({"communityUserId": "1001"}, 200, ACCOUNT),
        ({"username": "PENDING"}, 200, "22222222-2222-4333-8444-555555555555"),
        ({"username": "banned"}, 200, "33333333-2222-4333-8444-555555555555"),
        ({"discord": "1"}, 404, None),
        ({"username": ""}, 400, None),
        ({"roblox": "98765", "discord": "1"}, 400, None),
    ],
)
def test_find_account_matches_any_status(
    http: httpx.Client,
    rich_accounts: tuple[dict[str, Any], ...],
    params: dict[str, str],
    status: int,
    uuid: str | None,
) -> None:
    """The single look-up matches case-insensitively, whatever the account's status."""
    with serve(accounts=rich_accounts) as sandbox:
        response = call(http, sandbox, "GET", "/v2/general/accounts/account", **params)
    assert response.status_code == status
    if uuid is not None:
        assert response.json()["uuid"] == uuid


def test_client_reads_sandbox_accounts(rich_accounts: tuple[dict[str, Any], ...]) -> None:
    """Our client reads the sandbox's account objects, numbers in the file included."""
    with serve(accounts=rich_accounts) as sandbox, SonoranClient(sandbox.url, KEY) as client:
        found = client.find_account(roblox="98765")
        missing = client.find_account(discord="42")
        pending = client.list_accounts_page(offset=0, status=0)
    assert found == Account(ACCOUNT, "JDoe", "1001", "123456789012345678", "98765", 1, None, None)
    assert missing == Rejected(404, "Account not found")
    assert isinstance(pending, AccountsPage)
    assert [(a.username, a.status) for a in pending.accounts] == [("pending", 0)]


@pytest.mark.parametrize("status", ["1", 5, -1, True, None])
def test_load_accounts_refuses_a_bad_status(tmp_path: Path, status: object) -> None:
    """An account status must be an integer 0-4."""
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"uuid": ACCOUNT, "status": status}]), encoding="utf-8")
    with pytest.raises(InputError, match='account 1: "status" must be 0'):
        load_accounts(path)


# -- the key -------------------------------------------------------------------------------------


def test_sandbox_key_sources(tmp_path: Path) -> None:
    """The accepted key comes from the file, else --api-key, else the environment, else any."""
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}-file\n", encoding="utf-8")
    env = {SANDBOX_KEY_ENV: f" {KEY}-env "}
    assert sandbox_key(key=None, key_file=key_file, env=env) == f"{KEY}-file"
    assert sandbox_key(key=KEY, key_file=None, env=env) == KEY
    assert sandbox_key(key=None, key_file=None, env=env) == f"{KEY}-env"
    assert sandbox_key(key=None, key_file=None, env={}) is None


@pytest.mark.parametrize(
    ("key", "content", "words"),
    [
        (KEY, f"{KEY}", "not both"),
        (None, "\n", "is empty"),
        (None, f"{KEY} {KEY}", "spaces, line breaks"),
        (f"{KEY}\n{KEY}", None, "--api-key holds spaces"),
        (None, "missing", "can't read the key file"),
    ],
)
def test_sandbox_key_errors(
    tmp_path: Path, key: str | None, content: str | None, words: str
) -> None:
    """Bad key sources are refused in one line that never includes the key."""
    key_file = None
    if content == "missing":
        key_file = tmp_path / "absent"
    elif content is not None:
        key_file = tmp_path / "key"
        key_file.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(words)) as caught:
        sandbox_key(key=key, key_file=key_file, env={})
    assert KEY not in str(caught.value)


@pytest.mark.e2e
def test_e2e_key_from_file_and_environment(tmp_path: Path) -> None:
    """--api-key-file and BULK_IDENT_SANDBOX_KEY restrict the key without printing it."""
    key_file = tmp_path / "key"
    key_file.write_text(KEY, encoding="utf-8")
    env = {**os.environ, SANDBOX_KEY_ENV: KEY}
    for args, environment in ((["--api-key-file", str(key_file)], None), ([], env)):
        with running_sandbox(*args, env=environment) as sandbox:
            with SonoranClient(sandbox.url, KEY, env={}) as client:
                good = client.list_identifiers(ACCOUNT)
            with SonoranClient(sandbox.url, KEY + "x", env={}) as client:
                bad = client.list_identifiers(ACCOUNT)
        assert isinstance(good, Listed)
        assert isinstance(bad, Unauthorised)
        assert KEY not in sandbox.stdout + sandbox.stderr
        assert f"accepting only the key {key_fingerprint(KEY)}" in sandbox.stderr
        assert "warning" not in sandbox.stderr


@pytest.mark.e2e
def test_e2e_api_key_on_the_command_line_warns() -> None:
    """--api-key still works, with a one-line warning about ps, and the key is never printed."""
    with running_sandbox("--api-key", KEY) as sandbox:
        pass
    [warning] = [line for line in sandbox.stderr.splitlines() if line.startswith("warning")]
    assert "visible to other users in ps" in warning
    assert "--api-key-file" in warning
    assert SANDBOX_KEY_ENV in warning
    assert KEY not in sandbox.stdout + sandbox.stderr


# -- serving files -------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A folder with a CSV, an xlsx, an HTML page, a sub-folder and a link pointing outside."""
    folder = tmp_path / "served"
    (folder / "sub").mkdir(parents=True)
    (folder / "roster.csv").write_bytes("Account UUID,Unit\r\nx,1é\r\n".encode())
    (folder / "roster.xlsx").write_bytes(b"PK\x03\x04 not really")
    (folder / "sheet.html").write_text("<table></table>", encoding="utf-8")
    (folder / "sub" / "b.csv").write_text("a,b\n", encoding="utf-8")
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret.txt").write_text("SECRET-CONTENT", encoding="utf-8")
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return folder


@pytest.mark.parametrize(
    ("name", "status", "content_type"),
    [
        ("roster.csv", 200, "text/csv"),
        ("roster.xlsx", 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("sheet.html", 200, "text/html"),
        ("sub/b.csv", 200, "text/csv"),
        ("notes.bin", 200, "application/octet-stream"),
        ("missing.csv", 404, None),
        ("sub", 404, None),
        ("sub/", 400, None),
        ("", 400, None),
        ("../secret.txt", 400, None),
        ("%2E%2E/secret.txt", 400, None),
        ("sub/%2e%2e/%2e%2e/secret.txt", 400, None),
        ("%2Fetc%2Fpasswd", 400, None),
        ("escape.txt", 400, None),
    ],
)
def test_serve_files(served: Path, name: str, status: int, content_type: str | None) -> None:
    """Files of --serve DIR come back byte for byte with their type; nothing outside it does."""
    with serve(serve=served, api_key="only-this") as sandbox:
        status_got, headers, body = raw_get(sandbox, "/_files/" + name)
        log = sandbox.requests()
    assert status_got == status
    if content_type is not None:
        assert headers["content-type"] == content_type
        assert body == (served / name).read_bytes()
    else:
        assert b"SECRET-CONTENT" not in body
    assert log == []


def raw_get(sandbox: Sandbox, target: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` exactly as written (no dot-segment clean-up, as httpx would do)."""
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    connection = HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def test_no_files_without_serve(http: httpx.Client) -> None:
    """Without --serve there are no files, and only GET is answered with one."""
    with serve() as sandbox:
        assert http.get(sandbox.url + "/_files/roster.csv").status_code == 404


# -- client and sandbox, update and delete over loopback ------------------------------------------


@pytest.mark.e2e
def test_e2e_update_and_delete() -> None:
    """Updated, Deleted, Rejected(404) and a lost PATCH that was applied, over loopback."""
    with (
        running_sandbox("--rate", "100/min") as sandbox,
        SonoranClient(sandbox.url, KEY, env={}) as client,
    ):
        created = client.create_identifier(ACCOUNT, {"unitNum": "1A", "rank": "Officer"})
        updated = client.update_identifier(ACCOUNT, 1, {"rank": "Captain"})
        missing = client.update_identifier(ACCOUNT, 99, {"rank": "Captain"})
        held = sandbox.identifiers()
        deleted = client.delete_identifier(ACCOUNT, 1)
        gone = client.delete_identifier(ACCOUNT, 1)
        listed = client.list_identifiers(ACCOUNT)
    assert created == Created(1, 200)
    assert updated == Updated(1, 200)
    assert missing == Rejected(404, "Identifier not found")
    assert held[0]["data"]["rank"] == "Captain"
    assert deleted == Deleted(1, 200)
    assert gone == Rejected(404, "Identifier not found")
    assert listed == Listed([], None)


@pytest.mark.e2e
def test_e2e_lost_patch_is_unknown_but_applied() -> None:
    """With --lose 1 a PATCH is applied and its answer lost: Unknown; resending is harmless."""
    with (
        running_sandbox("--lose", "1", "--rate", "100/min") as sandbox,
        SonoranClient(sandbox.url, KEY, env={}) as client,
    ):
        client.create_identifier(ACCOUNT, {"unitNum": "1A"})
        first = client.update_identifier(ACCOUNT, 1, {"rank": "Captain"})
        again = client.update_identifier(ACCOUNT, 1, {"rank": "Captain"})
        held = sandbox.identifiers()
    assert isinstance(first, Unknown)
    assert isinstance(again, Unknown)
    assert [h["data"]["rank"] for h in held] == ["Captain"]


@pytest.mark.e2e
def test_e2e_serve_option(tmp_path: Path) -> None:
    """`sandbox --serve DIR` serves DIR's files without a key and says where, once started."""
    (tmp_path / "roster.csv").write_text("Username,Unit Number\r\njdoe,1A\r\n", encoding="utf-8")
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with (
        running_sandbox("--serve", str(tmp_path), "--api-key", KEY) as sandbox,
        no_proxy.open(sandbox.url + "/_files/roster.csv", timeout=10) as answer,
    ):
        body, content_type = answer.read(), answer.headers["Content-Type"]
    assert body == (tmp_path / "roster.csv").read_bytes()
    assert content_type == "text/csv"
    assert f"files of {tmp_path} at {sandbox.url}/_files/NAME" in sandbox.stderr
