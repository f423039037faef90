"""Tests for bulk_ident.cad.accounts: paging, resolving, look-ups, the cache file, freshness."""

from __future__ import annotations

import csv
import json
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bulk_ident.cad.accounts import (
    AccountDirectory,
    FetchResult,
    LookupKind,
    Problem,
    Resolution,
    Stopped,
)
from bulk_ident.cad.client import Account, RateLimited, SonoranClient, Unknown
from bulk_ident.cad.sandbox import Sandbox, SandboxConfig
from bulk_ident.errors import JournalError
from bulk_ident.rates import Rate

KEY = "accounts-test-key"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DAY = 86400.0


def uuid_of(n: int, status: int = 1) -> str:
    """A made-up account UUID for account n."""
    return f"{n:08x}-0000-4000-8{status:03x}-000000000000"


def validated(count: int) -> list[dict[str, Any]]:
    """``count`` validated accounts named user0, user1, ... with community ids 5000+n."""
    return [
        {"uuid": uuid_of(n), "username": f"user{n}", "communityUserId": str(5000 + n)}
        for n in range(count)
    ]


MIXED: list[dict[str, Any]] = [
    {
        "uuid": uuid_of(1),
        "username": "JDoe",
        "communityUserId": 1001,
        "discord": "111",
        "roblox": 7,
    },
    {"uuid": uuid_of(2), "username": "asmith", "communityUserId": "1002"},
    {"uuid": uuid_of(3), "username": "twin", "communityUserId": "1003"},
    {"uuid": uuid_of(4), "username": "TWIN", "communityUserId": "1004"},
    {"uuid": uuid_of(5, 0), "username": "newbie", "status": 0, "discord": "555"},
    {"uuid": uuid_of(6, 2), "username": "lapsed", "status": 2},
    {"uuid": uuid_of(7, 3), "username": "gone", "status": 3},
    {"uuid": uuid_of(8, 4), "username": "troll", "status": 4, "roblox": "888"},
]


class FakeClock:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Turns:
    """A wait_turn that counts its calls and can refuse from the Nth call on."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at

    def __call__(self) -> bool:
        self.calls += 1
        return self.stop_at is None or self.calls < self.stop_at


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


def sandbox_with(accounts: list[dict[str, Any]]) -> Sandbox:
    """An in-process sandbox holding these accounts, with room for many requests."""
    config = SandboxConfig(accounts=tuple(accounts), rate=Rate(10_000, 60.0))
    return Sandbox(config)


def gets(sandbox: Sandbox) -> list[str]:
    """The paths of the API requests the sandbox received."""
    return [r["path"] for r in sandbox.requests()]


@pytest.fixture
def mixed(
    tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Sandbox, SonoranClient, AccountDirectory]]:
    """A sandbox with MIXED accounts, a client for it and an empty directory with a cache file."""
    with sandbox_with(MIXED) as sandbox, SonoranClient(sandbox.url, KEY, env={}) as client:
        yield sandbox, client, AccountDirectory(tmp_path / "accounts.json", clock=clock)


# -- paging ------------------------------------------------------------------------------------


def test_fetch_pages_through_250_accounts(tmp_path: Path, clock: FakeClock) -> None:
    """250 accounts take 3 pages of 100, each after wait_turn, with progress after each."""
    turns = Turns()
    progress: list[tuple[int, int | None]] = []
    directory = AccountDirectory(tmp_path / "accounts.json", clock=clock)
    with sandbox_with(validated(250)) as sandbox, SonoranClient(sandbox.url, KEY, env={}) as client:
        result = directory.fetch_all(
            client, status=1, wait_turn=turns, on_page=lambda n, t: progress.append((n, t))
        )
        log = sandbox.requests()
    assert result == FetchResult(True, 250, 250, 3)
    assert turns.calls == 3
    assert progress == [(100, 250), (200, 250), (250, 250)]
    assert [r["path"] for r in log] == ["/v2/general/accounts"] * 3
    assert len(directory.accounts) == 250
    assert directory.fetched_at == clock.now
    assert directory.status_filter == 1
    assert directory.resolve(LookupKind.USERNAME, "user249") == Resolution(uuid_of(249))
    assert directory.resolve("community user id", "5123") == Resolution(uuid_of(123))


def test_fetch_all_statuses_names_inactive_accounts(
    mixed: tuple[Sandbox, SonoranClient, AccountDirectory],
) -> None:
    """Status None reads each of the five statuses, so inactive accounts say what they are."""
    sandbox, client, directory = mixed
    result = directory.fetch_all(client, status=None, wait_turn=Turns())
    assert result.complete
    assert (result.requests, result.fetched, result.total) == (5, 8, 8)
    assert directory.status_filter == "all"
    reasons = {
        name: directory.resolve(LookupKind.USERNAME, name).reason
        for name in ("newbie", "lapsed", "gone", "troll", "nobody")
    }
    assert reasons == {
        "newbie": "username 'newbie' is pending approval in the CAD",
        "lapsed": "username 'lapsed' has expired in the CAD",
        "gone": "username 'gone' was removed from the CAD",
        "troll": "username 'troll' is banned in the CAD",
        "nobody": "username 'nobody' matches no account in the CAD",
    }
    assert directory.resolve(LookupKind.USERNAME, "troll").problem == Problem.INACTIVE
    assert directory.resolve(LookupKind.USERNAME, "nobody").problem == Problem.NO_MATCH
    assert sandbox.requests()[0]["path"] == "/v2/general/accounts"


def test_validated_only_directory_says_so(
    mixed: tuple[Sandbox, SonoranClient, AccountDirectory],
) -> None:
    """Fetching validated accounts only, a pending username matches no validated account."""
    _, client, directory = mixed
    assert directory.fetch_all(client, status=1, wait_turn=Turns()).requests == 1
    assert directory.resolve(LookupKind.USERNAME, "newbie") == Resolution(
        None, Problem.NO_MATCH, "username 'newbie' matches no validated account in the CAD"
    )


def test_resolve_ignores_case_and_spaces_but_never_guesses(
    mixed: tuple[Sandbox, SonoranClient, AccountDirectory],
) -> None:
    """Case and spaces don't matter; two accounts with one username name both UUIDs."""
    _, client, directory = mixed
    directory.fetch_all(client, status=None, wait_turn=Turns())
    assert directory.resolve(LookupKind.USERNAME, "  jdoe\u00a0") == Resolution(uuid_of(1))
    assert directory.resolve(LookupKind.COMMUNITY_USER_ID, "1001") == Resolution(uuid_of(1))
    twin = directory.resolve(LookupKind.USERNAME, "Twin")
    assert twin.uuid is None
    assert twin.problem == Problem.AMBIGUOUS
    assert twin.reason == (
        f"username 'Twin' matches 2 accounts in the CAD ({uuid_of(3)}, {uuid_of(4)}): "
        "give the Account UUID instead"
    )
    assert directory.resolve(LookupKind.USERNAME, " ").reason == "the username is blank"


def test_resolve_before_any_fetch() -> None:
    """An empty directory resolves nothing and says the list is not fetched yet."""
    directory = AccountDirectory()
    outcome = directory.resolve(LookupKind.USERNAME, "jdoe")
    assert outcome.problem == Problem.NOT_LOOKED_UP
    assert outcome.reason == "username 'jdoe': the account list is not fetched yet"


# -- Discord and Roblox: one look-up each, cached ---------------------------------------------


def test_discord_and_roblox_lookups_are_cached(
    mixed: tuple[Sandbox, SonoranClient, AccountDirectory], clock: FakeClock
) -> None:
    """Each id is looked up once; found, inactive and unknown answers are cached and saved."""
    sandbox, client, directory = mixed
    assert directory.resolve(LookupKind.DISCORD, "111").problem == Problem.NOT_LOOKED_UP
    turns = Turns()
    first = directory.lookup(client, LookupKind.DISCORD, " 111 ", turns)
    roblox = directory.lookup(client, "roblox", "7", turns)
    pending = directory.lookup(client, LookupKind.DISCORD, "555", turns)
    unknown = directory.lookup(client, LookupKind.ROBLOX, "999", turns)
    sent = len(sandbox.requests())
    again = [
        directory.resolve(LookupKind.DISCORD, "111"),
        directory.resolve(LookupKind.ROBLOX, "7"),
        directory.resolve(LookupKind.DISCORD, "555"),
        directory.resolve(LookupKind.ROBLOX, "999"),
    ]
    assert (turns.calls, sent, len(sandbox.requests())) == (4, 4, 4)
    assert first == roblox == Resolution(uuid_of(1))
    assert pending == Resolution(
        None, Problem.INACTIVE, "discord '555' is pending approval in the CAD"
    )
    assert unknown == Resolution(
        None, Problem.NO_MATCH, "roblox '999' matches no account in the CAD"
    )
    assert again == [first, roblox, pending, unknown]
    assert [r["path"] for r in sandbox.requests()] == ["/v2/general/accounts/account"] * 4
    assert directory.path is not None
    reloaded = AccountDirectory.load(directory.path, clock=clock)
    assert reloaded.resolve(LookupKind.ROBLOX, "999") == unknown
    assert reloaded.resolve(LookupKind.DISCORD, "111") == first


def test_lookups_expire(
    mixed: tuple[Sandbox, SonoranClient, AccountDirectory], clock: FakeClock
) -> None:
    """Look-up answers older than the maximum age are forgotten, so they are asked again."""
    _, client, directory = mixed
    directory.lookup(client, LookupKind.DISCORD, "111", Turns())
    clock.now += 10
    directory.lookup(client, LookupKind.ROBLOX, "999", Turns())
    assert directory.expire_lookups(DAY, clock.now + DAY - 5) == 1
    assert directory.resolve(LookupKind.DISCORD, "111").problem == Problem.NOT_LOOKED_UP
    assert directory.resolve(LookupKind.ROBLOX, "999").problem == Problem.NO_MATCH
    assert directory.expire_lookups(DAY, clock.now + DAY + 1) == 1


def test_lookup_failures_and_stops_cache_nothing(clock: FakeClock) -> None:
    """A 429 is returned as is and nothing is cached; a refused turn sends nothing."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(429, json={"message": "API rate limit exceeded"})

    directory = AccountDirectory(clock=clock)
    transport = httpx.MockTransport(handle)
    with SonoranClient("https://api.sonorancad.com", KEY, transport=transport) as client:
        limited = directory.lookup(client, LookupKind.DISCORD, "111", Turns())
        stopped = directory.lookup(client, LookupKind.DISCORD, "111", Turns(stop_at=1))
        blank = directory.lookup(client, LookupKind.DISCORD, "  ", Turns())
        with pytest.raises(ValueError, match="listing"):
            directory.lookup(client, LookupKind.USERNAME, "jdoe", Turns())
    assert limited == RateLimited(None, "API rate limit exceeded")
    assert stopped == Stopped()
    assert blank == Resolution(None, Problem.NO_MATCH, "the discord is blank")
    assert len(seen) == 1
    assert directory.resolve(LookupKind.DISCORD, "111").problem == Problem.NOT_LOOKED_UP


# -- failures, stops and resuming --------------------------------------------------------------


def flaky_listing(total: int, fail_at: dict[int, int], seen: list[int]) -> Callable[..., Any]:
    """Serve ``total`` accounts; the page at an offset in ``fail_at`` answers 429 that often."""

    def handle(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        seen.append(offset)
        if fail_at.get(offset, 0) > 0:
            fail_at[offset] -= 1
            return httpx.Response(429, json={"message": "API rate limit exceeded"})
        accounts = [
            {"uuid": uuid_of(n), "username": f"user{n}", "status": 1}
            for n in range(offset, min(total, offset + limit))
        ]
        pagination = {"limit": limit, "offset": offset, "total": total}
        return httpx.Response(200, json={"pagination": pagination, "accounts": accounts})

    return handle


def test_failure_mid_paging_keeps_the_old_directory_and_resumes(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A 429 on page 2 is returned; the cache is untouched; the next call resumes at page 2."""
    seen: list[int] = []
    path = tmp_path / "accounts.json"
    directory = AccountDirectory(path, clock=clock)
    transport = httpx.MockTransport(flaky_listing(250, {100: 1}, seen))
    with SonoranClient("https://api.sonorancad.com", KEY, transport=transport) as client:
        failed = directory.fetch_all(client, status=1, wait_turn=Turns())
        assert not path.exists()
        assert directory.accounts == ()
        assert directory.fetched_at is None
        clock.now += 60
        resumed = directory.fetch_all(client, status=1, wait_turn=Turns())
    assert failed == FetchResult(
        False, 100, 250, 2, failure=RateLimited(None, "API rate limit exceeded")
    )
    assert resumed == FetchResult(True, 250, 250, 2)
    assert seen == [0, 100, 100, 200]
    assert directory.fetched_at == clock.now - 60  # as old as the first page read
    assert path.exists()


def test_stop_between_pages(clock: FakeClock) -> None:
    """When wait_turn says stop, nothing more is sent and the fetch can resume later."""
    seen: list[int] = []
    directory = AccountDirectory(clock=clock)
    transport = httpx.MockTransport(flaky_listing(250, {}, seen))
    with SonoranClient("https://api.sonorancad.com", KEY, transport=transport) as client:
        stopped = directory.fetch_all(client, status=1, wait_turn=Turns(stop_at=2))
        other_status = directory.fetch_all(client, status=0, wait_turn=Turns(stop_at=1))
        restarted = directory.fetch_all(client, status=1, wait_turn=Turns())
    assert stopped == FetchResult(False, 100, 250, 1, stopped=True)
    assert other_status == FetchResult(False, 0, None, 0, stopped=True)
    assert restarted == FetchResult(True, 250, 250, 3)  # another status dropped the progress
    assert seen == [0, 0, 100, 200]


def test_a_server_ignoring_offset_does_not_loop_forever(clock: FakeClock) -> None:
    """If every page repeats the first (no total), paging stops at a page with nothing new."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["offset"])
        accounts = [{"uuid": uuid_of(n), "status": 1} for n in range(100)]
        return httpx.Response(200, json={"accounts": accounts})

    directory = AccountDirectory(clock=clock)
    transport = httpx.MockTransport(handle)
    with SonoranClient("https://api.sonorancad.com", KEY, transport=transport) as client:
        result = directory.fetch_all(client, status=1, wait_turn=Turns())
    assert result == FetchResult(True, 100, None, 2)
    assert seen == ["0", "100"]


def test_an_unusable_page_stops_the_fetch(clock: FakeClock) -> None:
    """A page the client can't read (Unknown) is a failure like any other."""
    directory = AccountDirectory(clock=clock)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"accounts": 5}))
    with SonoranClient("https://api.sonorancad.com", KEY, transport=transport) as client:
        result = directory.fetch_all(client, status=1, wait_turn=Turns())
    assert isinstance(result.failure, Unknown)
    assert not result.complete


# -- the cache file ----------------------------------------------------------------------------


def fetched_directory(path: Path, clock: FakeClock) -> AccountDirectory:
    """A directory fetched (all statuses) from a sandbox holding MIXED, saved at ``path``."""
    directory = AccountDirectory(path, clock=clock)
    with sandbox_with(MIXED) as sandbox, SonoranClient(sandbox.url, KEY, env={}) as client:
        assert directory.fetch_all(client, status=None, wait_turn=Turns()).complete
        directory.lookup(client, LookupKind.DISCORD, "111", Turns())
    return directory


def test_cache_round_trip_and_freshness(tmp_path: Path, clock: FakeClock) -> None:
    """The saved cache loads back the same; it is stale after max age or if from the future."""
    path = tmp_path / "state" / "accounts.json"
    fetched = fetched_directory(path, clock)
    loaded = AccountDirectory.load(path, clock=clock)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert (saved["fetched_at"], saved["status_filter"]) == (clock.now, "all")
    assert loaded.accounts == fetched.accounts
    assert isinstance(loaded.accounts[0], Account)
    assert (loaded.fetched_at, loaded.status_filter, loaded.warning) == (clock.now, "all", None)
    assert loaded.resolve("discord", "111") == Resolution(uuid_of(1))
    assert loaded.resolve("username", "troll").problem == Problem.INACTIVE
    assert AccountDirectory().is_stale(DAY, clock.now)
    assert not loaded.is_stale(DAY, clock.now + DAY - 1)
    assert loaded.is_stale(DAY, clock.now + DAY + 1)
    assert not loaded.is_stale(DAY, clock.now - 60)
    assert loaded.is_stale(DAY, clock.now - 3600)  # the clock went back an hour


def test_cache_is_private_and_replaced_whole(tmp_path: Path, clock: FakeClock) -> None:
    """Saving writes a new 0600 file and renames it over the old one; no temp file is left."""
    path = tmp_path / "accounts.json"
    path.write_text("old cache", encoding="utf-8")
    path.chmod(0o644)
    old_inode = path.stat().st_ino
    with path.open(encoding="utf-8") as old_reader:
        fetched_directory(path, clock)
        assert old_reader.read() == "old cache"  # the old file was never written into
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.json"]
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_cache_that_cannot_be_written(tmp_path: Path, clock: FakeClock) -> None:
    """A cache path that can't be written raises JournalError and leaves no temp file."""
    path = tmp_path / "accounts.json"
    path.mkdir()
    directory = AccountDirectory(path, clock=clock)
    with pytest.raises(
        JournalError, match=re.escape(f"can't write the account cache {str(path)!r}")
    ):
        directory.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.json"]


EMPTY_ACCOUNT = {
    "uuid": uuid_of(1),
    "username": None,
    "communityUserId": None,
    "discord": None,
    "roblox": None,
    "status": 1,
    "joined": None,
    "lastLogin": None,
}


def cache(**changes: Any) -> str:
    """A cache file's text: a valid empty one with ``changes``."""
    data = {"version": 1, "fetched_at": 1.0, "status_filter": 1, "accounts": [], "lookups": []}
    return json.dumps({**data, **changes})


def test_the_valid_cache_of_the_unusable_ones_loads(tmp_path: Path) -> None:
    """The base of the damaged caches below is itself usable, so each breaks one thing."""
    path = tmp_path / "accounts.json"
    path.write_text(cache(accounts=[EMPTY_ACCOUNT]), encoding="utf-8")
    directory = AccountDirectory.load(path)
    assert directory.warning is None
    assert [a.uuid for a in directory.accounts] == [uuid_of(1)]


@pytest.mark.parametrize(
    "content",
    [
        "{nope",
        "[]",
        '{"version": 2}',
        cache(fetched_at="yesterday"),
        cache(status_filter=9),
        cache(status_filter=True),
        cache(accounts=[{"uuid": "x"}]),
        cache(accounts=[{**EMPTY_ACCOUNT, "status": 7}]),
        cache(accounts=[{**EMPTY_ACCOUNT, "username": 5}]),
        cache(lookups=[{"kind": "username", "value": "a", "at": 1, "account": None}]),
        cache(lookups=[{"kind": "discord", "value": "a", "at": "now", "account": None}]),
    ],
)
def test_unusable_cache_is_ignored_with_a_warning(tmp_path: Path, content: str) -> None:
    """A damaged or foreign cache loads as empty, and the warning names the file."""
    path = tmp_path / "accounts.json"
    path.write_text(content, encoding="utf-8")
    directory = AccountDirectory.load(path)
    assert directory.accounts == ()
    assert directory.fetched_at is None
    assert directory.warning is not None
    assert str(path) in directory.warning
    assert "fetched again" in directory.warning


def test_missing_cache_is_empty(tmp_path: Path) -> None:
    """No cache file yet is an empty directory without a warning."""
    directory = AccountDirectory.load(tmp_path / "accounts.json")
    assert (directory.accounts, directory.warning, directory.fetched_at) == ((), None, None)


# -- the samples -------------------------------------------------------------------------------


def roster_uuids() -> set[str]:
    """Every well-formed account UUID samples/roster.csv uses, normalised as the importer does."""
    with (SAMPLES / "roster.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[3:]
    pattern = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")
    return {u for row in rows if pattern.match(u := row[0].strip().strip("{}").lower())}


def test_sample_accounts_cover_the_sample_roster() -> None:
    """Every roster UUID is a validated sample account; three more are pending, expired, banned."""
    accounts = json.loads((SAMPLES / "accounts.json").read_text(encoding="utf-8"))
    by_uuid = {a["uuid"]: a for a in accounts}
    assert len(by_uuid) == len(accounts)
    assert len(roster_uuids()) == 26
    assert all(by_uuid[u]["status"] == 1 for u in roster_uuids())
    assert sorted(a["status"] for a in accounts if a["status"] != 1) == [0, 2, 4]
    usernames = [a["username"].casefold() for a in accounts]
    assert len(set(usernames)) == len(usernames)
    assert all(re.fullmatch(r"\d+", a["communityUserId"]) for a in accounts)
    assert any("discord" in a for a in accounts)
    assert any("roblox" in a for a in accounts)


def test_sample_username_roster_resolves(clock: FakeClock) -> None:
    """Every row of samples/roster_usernames.csv resolves to one validated sample account."""
    accounts = json.loads((SAMPLES / "accounts.json").read_text(encoding="utf-8"))
    with (SAMPLES / "roster_usernames.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "Username",
        "Unit Number",
        "First Name",
        "Last Name",
        "Department",
        "Rank",
    ]
    assert 10 <= len(rows) <= 15
    directory = AccountDirectory(clock=clock)
    with sandbox_with(accounts) as sandbox, SonoranClient(sandbox.url, KEY, env={}) as client:
        directory.fetch_all(client, status=1, wait_turn=Turns())
    resolved = [directory.resolve(LookupKind.USERNAME, row["Username"]) for row in rows]
    assert all(r.ok for r in resolved), [r.reason for r in resolved if not r.ok]
    assert len({r.uuid for r in resolved}) == len(rows)


# -- the measurement ---------------------------------------------------------------------------


def test_measure_resolving_1000_usernames_from_a_cold_cache(
    tmp_path: Path, clock: FakeClock
) -> None:
    """1,000 usernames resolve from a cold cache with 10 listing requests and nothing else."""
    with (
        sandbox_with(validated(1000)) as sandbox,
        SonoranClient(sandbox.url, KEY, env={}) as client,
    ):
        directory = AccountDirectory(tmp_path / "accounts.json", clock=clock)
        directory.fetch_all(client, status=1, wait_turn=Turns())
        resolved = [directory.resolve(LookupKind.USERNAME, f"USER{n}") for n in range(1000)]
        requests = gets(sandbox)
    assert all(r.ok for r in resolved)
    assert requests == ["/v2/general/accounts"] * 10
    interval = 60.0 / 10  # 10 requests a minute, evenly spaced; the first goes at once
    print(
        f"\n1000 usernames from a cold cache: {len(requests)} GETs; at 10/min the fetch takes "
        f"{(len(requests) - 1) * interval:.0f} s after the first request"
    )


def test_fetched_accounts_are_parsed_by_the_client(clock: FakeClock) -> None:
    """Numbers in the account file arrive as exact text through the client."""
    big = [{"uuid": uuid_of(1), "username": "n", "communityUserId": 123456789012345678901}]
    with sandbox_with(big) as sandbox, SonoranClient(sandbox.url, KEY, env={}) as client:
        directory = AccountDirectory(clock=clock)
        directory.fetch_all(client, status=1, wait_turn=Turns())
    assert directory.resolve("community user id", "123456789012345678901") == Resolution(uuid_of(1))
