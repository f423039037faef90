"""The official SDK (sonoran-py) against the sandbox, and our requests against the SDK's."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sonoran
from sandbox_proc import SandboxProcess, running_sandbox

from bulk_ident.cad.client import (
    Account,
    AccountsPage,
    Created,
    Deleted,
    Listed,
    SonoranClient,
    Updated,
)

pytestmark = pytest.mark.e2e

KEY = "sdk-test-key-" + secrets.token_hex(8)
SAMPLE_ACCOUNTS = Path(__file__).resolve().parent.parent / "samples" / "accounts.json"
ACCOUNT = "7c0ef1b2-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
PAYLOAD = {
    "status": 2,
    "aop": "Los Santos",
    "unitNum": "1A-12",
    "name": "Jé Doe",
    "district": "Central",
    "department": "LSPD",
    "subdivision": "Patrol",
    "rank": "Officer",
    "group": "",
    "page": 0,
    "isDispatch": False,
}


def sdk(url: str, key: str = KEY) -> Any:
    """The SDK's CAD manager pointed at ``url``."""
    instance = sonoran.Instance(
        communityId="bulk-ident-tests",
        apiKey=key,
        product=sonoran.productEnums.CAD,
        cadApiUrl=url,
    )
    return instance.cad


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    """One sandbox process for the module, accepting only KEY, with room for many calls."""
    with running_sandbox("--api-key", KEY, "--rate", "100/min") as running:
        yield running


def test_sdk_creates_an_identifier(sandbox: SandboxProcess) -> None:
    """createIdentifierV2 succeeds with {"identId": N} and the sandbox holds the fields sent."""
    response = sdk(sandbox.url).createIdentifierV2(ACCOUNT, PAYLOAD)
    assert response.success is True
    ident_id = response.data["identId"]
    assert isinstance(ident_id, int)
    [held] = [h for h in sandbox.identifiers() if h["identId"] == ident_id]
    assert held["accountUuid"] == ACCOUNT
    assert held["data"] == PAYLOAD


def test_sdk_create_with_defaults(sandbox: SandboxProcess) -> None:
    """An empty create through the SDK gets the documented defaults."""
    response = sdk(sandbox.url).createIdentifierV2(ACCOUNT, {})
    [held] = [h for h in sandbox.identifiers() if h["identId"] == response.data["identId"]]
    assert held["data"]["unitNum"] == "NEW UNIT"
    assert held["data"]["page"] == -1


def test_sdk_lists_what_our_client_lists(sandbox: SandboxProcess) -> None:
    """getIdentifiersV2 sees the documented PascalCase shape; our client reads the same list."""
    sdk(sandbox.url).createIdentifierV2(ACCOUNT, {"unitNum": "LIST-1"})
    listed = sdk(sandbox.url).getIdentifiersV2(ACCOUNT)
    assert listed.success is True
    assert set(listed.data) == {"SelectedIdent", "Identifiers"}
    item = next(i for i in listed.data["Identifiers"] if i["data"]["unitNum"] == "LIST-1")
    assert {"id", "accId", "status", "isPanic", "location", "coordinates", "aop"} <= item.keys()
    assert {"unitNum", "name", "district", "department", "page"} <= item["data"].keys()
    with SonoranClient(sandbox.url, KEY) as client:
        ours = client.list_identifiers(ACCOUNT)
    assert isinstance(ours, Listed)
    assert [i.ident_id for i in ours.identifiers] == [i["id"] for i in listed.data["Identifiers"]]
    assert ours.selected == listed.data["SelectedIdent"]


def test_sdk_wrong_key_is_401(sandbox: SandboxProcess) -> None:
    """A wrong key fails with the problem+json 401 body as the SDK's reason."""
    response = sdk(sandbox.url, key="not-the-key").createIdentifierV2(ACCOUNT, {})
    assert response.success is False
    assert response.reason["status"] == 401
    assert response.reason["title"] == "Unauthorized"


def test_sdk_bad_uuid_is_400(sandbox: SandboxProcess) -> None:
    """A malformed account UUID fails with 400 "Invalid accountUuid format"."""
    response = sdk(sandbox.url).createIdentifierV2("not-a-uuid", {})
    assert response.success is False
    assert response.reason["status"] == 400
    assert response.reason["detail"] == "Invalid accountUuid format"


def test_sdk_honours_retry_after() -> None:
    """Over the limit, the SDK waits the sandbox's Retry-After and its retry succeeds."""
    with running_sandbox("--rate", "2/s") as limited:
        cad = sdk(limited.url)
        results = [cad.createIdentifierV2(ACCOUNT, {"unitNum": f"R{n}"}) for n in range(3)]
        log = limited.requests()
        held = limited.identifiers()
    assert [r.success for r in results] == [True, True, True]
    assert [h["data"]["unitNum"] for h in held] == ["R0", "R1", "R2"]
    outcomes = [entry["outcome"] for entry in log]
    assert outcomes[:3] == ["ok", "ok", "rate_limited"]
    assert outcomes[-1] == "ok"


def test_sdk_updates_and_deletes(sandbox: SandboxProcess) -> None:
    """updateIdentifierV2 and deleteIdentifierV2 get the documented answers; deleting twice 404s."""
    cad = sdk(sandbox.url)
    ident_id = cad.createIdentifierV2(ACCOUNT, {"unitNum": "UPD-1", "rank": "Officer"}).data[
        "identId"
    ]
    updated = cad.updateIdentifierV2(ACCOUNT, ident_id, {"rank": "Captain", "unknown": 1})
    assert updated.success is True
    assert set(updated.data) == {"identId", "serverId", "identifier"}
    assert updated.data["identId"] == ident_id
    assert updated.data["identifier"]["data"]["rank"] == "Captain"
    [held] = [h for h in sandbox.identifiers() if h["identId"] == ident_id]
    assert (held["data"]["unitNum"], held["data"]["rank"]) == ("UPD-1", "Captain")
    deleted = cad.deleteIdentifierV2(ACCOUNT, ident_id)
    assert deleted.success is True
    assert set(deleted.data) == {"identId", "serverId"}
    again = cad.deleteIdentifierV2(ACCOUNT, ident_id)
    assert again.success is False
    assert again.reason["status"] == 404
    assert ident_id not in [h["identId"] for h in sandbox.identifiers()]


def test_sdk_and_our_client_read_the_same_accounts() -> None:
    """getAccountsV2 and getAccountV2 see the sample accounts our client reads."""
    with running_sandbox("--accounts", str(SAMPLE_ACCOUNTS), "--rate", "100/min") as accounts:
        cad = sdk(accounts.url)
        listing = cad.getAccountsV2({"limit": 100, "offset": 0})
        one = cad.getAccountV2({"username": "MHALE"})
        with SonoranClient(accounts.url, KEY, env={}) as client:
            page = client.list_accounts_page(offset=0)
            found = client.find_account(username="MHALE")
    assert listing.success is True
    assert set(listing.data) == {"pagination", "accounts"}
    assert listing.data["pagination"]["total"] == 30
    assert isinstance(page, AccountsPage)
    assert [a.uuid for a in page.accounts] == [a["uuid"] for a in listing.data["accounts"]]
    assert page.total == 30
    assert isinstance(found, Account)
    assert one.success is True
    assert found.uuid == one.data["uuid"]
    assert found.username == one.data["username"] == "mhale"


# -- request equivalence --------------------------------------------------------------------


@dataclass
class Seen:
    """One request as it arrived at the recording server."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback server that records each request and answers like the API would."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        """The recorder's base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Record, then answer as the API would: a create, a change, a list or an account."""

    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        self._record({"identId": 1})

    def do_PATCH(self) -> None:
        self._record({"identId": 1, "serverId": 1, "identifier": {"id": 1}})

    def do_DELETE(self) -> None:
        self._record({"identId": 1, "serverId": 1})

    def do_GET(self) -> None:
        if self.path.startswith("/v2/general/accounts/account"):
            self._record({"uuid": ACCOUNT, "username": "jdoe", "status": 1})
        elif self.path.startswith("/v2/general/accounts"):
            self._record({"pagination": {"limit": 100, "offset": 0, "total": 0}, "accounts": []})
        else:
            self._record({"SelectedIdent": None, "Identifiers": []})

    def _record(self, answer: dict[str, Any]) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append(Seen(self.command, self.path, headers, body))
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A running recording server."""
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


# Headers that belong to the transport, not the API: they differ between urllib and httpx.
TRANSPORT_HEADERS = {"host", "content-length", "connection", "accept-encoding", "user-agent"}


@pytest.mark.parametrize("account", [ACCOUNT, "odd/uuid value"])
def test_our_create_request_matches_the_sdk(recorder: Recorder, account: str) -> None:
    """Method, path, API headers and the JSON body of a create are the same as the SDK's."""
    with SonoranClient(recorder.url, KEY) as client:
        assert client.create_identifier(account, PAYLOAD) == Created(1, 200)
    assert sdk(recorder.url).createIdentifierV2(account, PAYLOAD).success is True
    ours, theirs = recorder.seen
    assert (ours.method, ours.path) == (theirs.method, theirs.path) == ("POST", ours.path)
    assert "/v2/emergency/accounts/" in ours.path
    api_ours = {k: v for k, v in ours.headers.items() if k not in TRANSPORT_HEADERS}
    api_theirs = {k: v for k, v in theirs.headers.items() if k not in TRANSPORT_HEADERS}
    assert api_ours.keys() == api_theirs.keys() == {"accept", "content-type", "authorization"}
    assert api_ours["accept"] == api_theirs["accept"] == "application/json"
    assert api_ours["content-type"] == api_theirs["content-type"] == "application/json"
    assert api_ours["authorization"].split()[0] == api_theirs["authorization"].split()[0]
    assert api_ours["authorization"] == api_theirs["authorization"]  # same key, same scheme
    assert json.loads(ours.body) == json.loads(theirs.body) == PAYLOAD
    assert ours.body == theirs.body  # serialised the same way, byte for byte
    assert ours.headers["user-agent"].startswith("bulk-ident/")


def test_our_list_request_matches_the_sdk(recorder: Recorder) -> None:
    """A list is the same GET, path and API headers as the SDK's getIdentifiersV2."""
    with SonoranClient(recorder.url, KEY) as client:
        assert client.list_identifiers(ACCOUNT) == Listed([], None)
    assert sdk(recorder.url).getIdentifiersV2(ACCOUNT).success is True
    ours, theirs = recorder.seen
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
    assert ours.headers["accept"] == theirs.headers["accept"]
    assert ours.headers["authorization"] == theirs.headers["authorization"]
    assert "content-type" not in ours.headers
    assert "content-type" not in theirs.headers


def api_headers(seen: Seen) -> dict[str, str]:
    """The headers that belong to the API, not the transport."""
    return {k: v for k, v in seen.headers.items() if k not in TRANSPORT_HEADERS}


def test_our_update_and_delete_requests_match_the_sdk(recorder: Recorder) -> None:
    """PATCH and DELETE: the same method, path, API headers and body bytes as the SDK's."""
    with SonoranClient(recorder.url, KEY) as client:
        assert client.update_identifier(ACCOUNT, 1, PAYLOAD) == Updated(1, 200)
        assert client.delete_identifier(ACCOUNT, 1) == Deleted(1, 200)
    cad = sdk(recorder.url)
    assert cad.updateIdentifierV2(ACCOUNT, 1, PAYLOAD).success is True
    assert cad.deleteIdentifierV2(ACCOUNT, 1).success is True
    our_patch, our_delete, their_patch, their_delete = recorder.seen
    for ours, theirs in ((our_patch, their_patch), (our_delete, their_delete)):
        assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
        assert api_headers(ours) == api_headers(theirs)
    assert our_patch.path == f"/v2/emergency/accounts/{ACCOUNT}/identifiers/1"
    assert json.loads(our_patch.body) == PAYLOAD
    assert our_delete.body == b""
    assert "content-type" not in our_delete.headers


def test_our_account_requests_match_the_sdk(recorder: Recorder) -> None:
    """Account listing and look-up send the same path and query as getAccountsV2/getAccountV2."""
    with SonoranClient(recorder.url, KEY) as client:
        assert isinstance(client.list_accounts_page(offset=200, status=0), AccountsPage)
        assert isinstance(client.find_account(community_user_id="1001"), Account)
    cad = sdk(recorder.url)
    assert cad.getAccountsV2({"limit": 100, "offset": 200, "status": 0}).success is True
    assert cad.getAccountV2({"communityUserId": "1001"}).success is True
    our_list, our_find, their_list, their_find = recorder.seen
    for ours, theirs in ((our_list, their_list), (our_find, their_find)):
        assert (ours.method, ours.path, ours.body) == ("GET", theirs.path, theirs.body)
        assert api_headers(ours) == api_headers(theirs)
    assert our_list.path == "/v2/general/accounts?limit=100&offset=200&status=0"
    assert our_find.path == "/v2/general/accounts/account?communityUserId=1001"
