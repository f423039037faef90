"""Tests for the sandbox: in-process behaviour with a fake clock, and outcomes over loopback."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_proc import running_sandbox

from bulk_ident.cad.client import (
    Created,
    Listed,
    NotSent,
    RateLimited,
    Rejected,
    RequestRecord,
    SonoranClient,
    Unauthorised,
    Unknown,
    key_fingerprint,
)
from bulk_ident.cad.sandbox import Sandbox, SandboxConfig, fingerprint, load_accounts, parse_slow
from bulk_ident.errors import InputError
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
        content=content if method == "POST" else None,
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


def test_client_resolves_accounts_through_pages(accounts_file: Path) -> None:
    """Our client's list_accounts reads every page of the sandbox's listing."""
    many = [
        {"uuid": f"{n:08d}-0000-4000-8000-000000000000", "username": f"u{n}"} for n in range(230)
    ]
    accounts_file.write_text(json.dumps(many), encoding="utf-8")
    with serve(rate=Rate(100, 60.0), accounts=load_accounts(accounts_file)) as sandbox:
        with SonoranClient(sandbox.url, KEY) as client:
            found = client.list_accounts()
            one = client.list_accounts(username="u7")
        pages = len(sandbox.requests())
    assert len(found) == 230
    assert [a["username"] for a in one] == ["u7"]
    assert pages == 4


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
    """Faults apply to creates only, so listing stays reliable for settling."""
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
