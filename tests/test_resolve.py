"""Accounts named by username, community user ID, Discord or Roblox ID, through the real library
path (``fetch_accounts``, ``run_import``, ``check``) against an in-process sandbox on loopback that
shares the test's fake clock: paging, pacing, cache freshness, look-ups, stops, the measurement.
"""

from __future__ import annotations

import csv
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_fakes import FakeTime

from bulk_ident.cad.accounts import AccountDirectory, FetchResult
from bulk_ident.cad.client import SonoranClient
from bulk_ident.cad.sandbox import Sandbox, SandboxConfig
from bulk_ident.errors import InputError
from bulk_ident.jobs import (
    AccountsOptions,
    AccountsReport,
    Hooks,
    ImportOptions,
    ImportReport,
    check,
    fetch_accounts,
    rebuild_results,
    run_import,
)
from bulk_ident.prepare import ReadOptions
from bulk_ident.rates import Rate
from bulk_ident.sync import state
from bulk_ident.sync.importer import Event
from bulk_ident.sync.resolve import AccountProgress, parse_age
from bulk_ident.words import EventKind, Result, Stop

KEY = "resolve-test-key"
RATE = Rate(10, 60.0)
LIST = "/v2/general/accounts"
LOOKUP = "/v2/general/accounts/account"
HOUR = 3600.0


def uuid_of(n: int) -> str:
    """A made-up account UUID for account n."""
    return f"{n:08x}-0000-4000-8000-000000000000"


def members(count: int) -> list[dict[str, Any]]:
    """``count`` validated accounts: user0, user1, ... with community ids 5000+n."""
    return [
        {"uuid": uuid_of(n), "username": f"user{n}", "communityUserId": str(5000 + n)}
        for n in range(count)
    ]


SPECIAL: list[dict[str, Any]] = [
    {"uuid": uuid_of(0x90000001), "username": "newbie", "status": 0},
    {"uuid": uuid_of(0x90000002), "username": "lapsed", "status": 2},
    {"uuid": uuid_of(0x90000003), "username": "gone", "status": 3},
    {"uuid": uuid_of(0x90000004), "username": "troll", "status": 4, "discord": "444"},
    {"uuid": uuid_of(0x90000005), "username": "twin"},
    {"uuid": uuid_of(0x90000006), "username": "Twin"},
    {"uuid": uuid_of(0x90000007), "username": "gamer", "discord": "111", "roblox": "777"},
]


class World:
    """One sandbox (on the fake clock), one state folder, and the hooks a run gets."""

    def __init__(self, tmp: Path, accounts: list[dict[str, Any]], **config: Any) -> None:
        self.tmp = tmp
        self.time = FakeTime()
        self.events: list[Event] = []
        self.progress: list[AccountProgress] = []  # while an import resolves
        self.fetching: list[AccountProgress] = []  # while the accounts job fetches
        self.sandbox = Sandbox(
            SandboxConfig(accounts=tuple(accounts), rate=config.pop("rate", RATE), **config),
            clock=self.time.clock,
        )
        self.env = {"XDG_STATE_HOME": str(tmp / "state")}

    def hooks(self, **extra: Any) -> Hooks:
        """Hooks on the fake clock, recording events and account progress."""
        return Hooks(
            on_event=self.events.append,
            on_accounts=lambda report, step: self.progress.append(step),
            clock=self.time.clock,
            sleep=self.time.sleep,
            monotonic=self.time.clock,
            env=self.env,
            **extra,
        )

    def fetch(
        self, status: int | None = None, base_url: str | None = None, **extra: Any
    ) -> AccountsReport:
        """``bulk-ident accounts`` as a library call; the sheet is a CSV in tmp."""
        options = AccountsOptions(
            base_url=base_url or self.sandbox.url,
            rate=RATE,
            status=status,
            output=self.tmp / "accounts.csv",
        )
        return fetch_accounts(
            options, api_key=KEY, hooks=self.hooks(**extra), on_progress=self.fetching.append
        )

    def run(self, roster: Path, read: ReadOptions | None = None, **options: Any) -> ImportReport:
        """``bulk-ident import`` as a library call."""
        opts = ImportOptions(
            read=read or ReadOptions(),
            base_url=self.sandbox.url,
            rate=RATE,
            results=self.tmp / "results.csv",
            **options,
        )
        return run_import(roster, opts, api_key=KEY, hooks=self.hooks())

    def count(self, path: str, method: str = "GET") -> int:
        """Requests the sandbox received for a path."""
        return sum(1 for r in self.sandbox.requests() if (r["method"], r["path"]) == (method, path))

    def held(self) -> dict[str, str]:
        """Unit number -> the account the sandbox holds it on."""
        return {i["data"]["unitNum"]: i["accountUuid"] for i in self.sandbox.identifiers()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A sandbox with 30 members and the special accounts."""
    w = World(tmp_path, members(30) + SPECIAL)
    with w.sandbox:
        yield w


def roster(tmp: Path, header: list[str], rows: list[list[str]], name: str = "roster.csv") -> Path:
    """A CSV roster in tmp."""
    path = tmp / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def results(report: ImportReport) -> dict[str, tuple[str, str, str]]:
    """Unit number -> (result, error, account) of each roster row."""
    unit = report.prep.headers.index["unitNum"]
    return {r.values[unit]: (str(r.result), r.error, r.account) for r in report.reports}


# -- the accounts job: paging, pacing, the cache, the sheet ---------------------------------


def test_accounts_pages_through_three_pages_at_the_pace_and_caches_the_list(
    tmp_path: Path,
) -> None:
    """250 members take 3 pages (and one per other status), evenly paced; the list is cached."""
    w = World(tmp_path, members(250) + SPECIAL)
    with w.sandbox:
        report = w.fetch()
    assert report.outcome.stop is Stop.DONE
    assert report.exit_code == 0
    assert w.count(LIST) == 7  # validated: 3 pages; pending, expired, removed, banned: 1 each
    assert report.outcome.requests == {"GET": 7}
    assert w.time.now - 1_800_000_000.0 == pytest.approx(6 * 60 / 10 * 1.01, abs=0.01)
    assert [(p.done, p.total) for p in w.fetching] == [
        (0, None),
        (100, 253),
        (200, 253),
        (253, 253),
        (254, 254),
        (255, 255),
        (256, 256),
        (257, 257),
    ]
    assert len(report.accounts) == 257
    assert report.counts == {
        "validated": 253,
        "pending": 1,
        "expired": 1,
        "removed": 1,
        "banned": 1,
    }
    assert report.cache == state.accounts_cache_path(
        state.community_id(report.base_url, report.fingerprint), w.env
    )
    cached = json.loads(report.cache.read_text(encoding="utf-8"))
    assert (cached["status_filter"], len(cached["accounts"])) == ("all", 257)


def test_accounts_sheet_is_sorted_by_username_with_status_words(world: World) -> None:
    """The sheet lists username, UUID, community ID, status word, joined, last login."""
    report = world.fetch()
    assert report.output == world.tmp / "accounts.csv"
    with report.output.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "Username",
        "Account UUID",
        "Community User ID",
        "Account Status",
        "Joined",
        "Last Login",
    ]
    names = [r[0] for r in rows[1:]]
    assert names == sorted(names, key=str.casefold)
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["troll"][1:4] == [uuid_of(0x90000004), "", "banned"]
    assert by_name["newbie"][3] == "pending"
    assert by_name["user7"][1:4] == [uuid_of(7), "5007", "validated"]


def test_accounts_of_one_other_status_leave_the_cache_alone(world: World) -> None:
    """--status banned lists banned accounts only, and caches nothing (import needs them all)."""
    report = world.fetch(status=4)
    assert [a.username for a in report.accounts] == ["troll"]
    assert report.cache is None
    assert not list((world.tmp / "state").glob("bulk-ident/accounts-*.json"))
    assert world.count(LIST) == 1


def test_refused_key_stops_the_accounts_job(tmp_path: Path) -> None:
    """A 401 stops at once with a line saying to check the key; no sheet, no cache."""
    w = World(tmp_path, members(3), api_key="another-key")
    with w.sandbox:
        report = w.fetch()
    assert report.outcome.stop is Stop.UNAUTHORISED
    assert report.exit_code == 3
    assert "check SONORAN_API_KEY or --api-key-file" in report.outcome.message
    assert "401" in report.outcome.message
    assert KEY not in report.outcome.message
    assert (report.output, report.cache) == (None, None)
    assert not (tmp_path / "accounts.csv").exists()


def test_unreachable_server_is_retried_then_stops(tmp_path: Path) -> None:
    """Connection refused: retried after 1, 2, 4, 8, 16 s, then a stop that says so."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    w = World(tmp_path, [])
    report = w.fetch(base_url=f"http://127.0.0.1:{port}")
    assert report.outcome.stop is Stop.UNREACHABLE
    assert report.exit_code == 3
    assert report.outcome.message.startswith("can't reach the server (")
    assert [e.seconds for e in w.events if e.kind is EventKind.UNREACHABLE] == [1, 2, 4, 8, 16]


def test_rate_limited_pages_wait_and_resume_where_they_stopped(tmp_path: Path) -> None:
    """429s while paging: the run waits Retry-After, slows down, and asks for the same page."""
    w = World(tmp_path, members(250), rate=Rate(2, 60.0))
    with w.sandbox:
        report = w.fetch(status=1)
        statuses = [r["status"] for r in w.sandbox.requests()]
    assert report.outcome.stop is Stop.DONE
    assert len(report.accounts) == 250
    assert statuses.count(200) == 3
    assert 429 in statuses
    assert any(e.kind is EventKind.RATE_LIMITED for e in w.events)


def test_a_stop_request_ends_the_fetch_cleanly(tmp_path: Path) -> None:
    """Ctrl-C between pages: nothing more is sent, no sheet or cache is written, exit 130."""
    w = World(tmp_path, members(250))
    sent: list[int] = []

    def stop() -> bool:
        sent.append(0)
        return w.count(LIST) >= 1

    with w.sandbox:
        report = w.fetch(status=1, stop=stop)
    assert report.outcome.stop is Stop.INTERRUPTED
    assert report.exit_code == 130
    assert w.count(LIST) == 1
    assert (report.output, report.cache) == (None, None)


# -- import: resolving from the cache, refreshing it, looking ids up -----------------------------

USERNAMES = ["Username", "Unit Number", "First Name", "Last Name"]
NAME_TEMPLATE = ReadOptions(maps=["name={First Name} {Last Name}"])


def test_import_resolves_from_a_fresh_cache_without_asking(world: World) -> None:
    """After `accounts`, a username roster creates on the right accounts with no account GETs."""
    world.fetch()
    listed = world.count(LIST)
    path = roster(
        world.tmp,
        USERNAMES,
        [["user1", "1-A", "Ann", "Lee"], ["USER2 ", "1-B", "Bo", ""], ["user3", "1-C", "", ""]],
    )
    report = world.run(path, NAME_TEMPLATE)
    assert report.exit_code == 0, report.held
    assert world.count(LIST) == listed
    assert world.held() == {"1-A": uuid_of(1), "1-B": uuid_of(2), "1-C": uuid_of(3)}
    names = {i["data"]["unitNum"]: i["data"]["name"] for i in world.sandbox.identifiers()}
    assert names == {"1-A": "Ann Lee", "1-B": "Bo", "1-C": "NO NAME"}
    assert results(report)["1-B"] == ("created", "", uuid_of(2))
    assert world.progress == []


def test_a_cold_cache_is_fetched_first_then_kept(world: World) -> None:
    """No cache: the import fetches the list (paced, with progress), then a re-run asks nothing."""
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""]])
    first = world.run(path)
    assert first.exit_code == 0
    assert world.count(LIST) == 1  # the validated accounts: one page
    assert world.progress[0].why == "1 username to resolve, and no account list yet"
    assert first.requests == {"GET": 2, "POST": 1}  # the page, and the account's identifiers
    again = world.run(path)
    assert world.count(LIST) == 1
    assert results(again)["1-A"][0] == "unchanged"


@pytest.mark.parametrize(("max_age", "fetched_again"), [(None, True), ("2d", False), ("90m", True)])
def test_an_old_cache_is_fetched_again(
    world: World, max_age: str | None, fetched_again: bool
) -> None:
    """A list older than --accounts-max-age (default 24 h) is fetched before resolving."""
    world.fetch()
    world.time.now += 25 * HOUR
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""]])
    options: dict[str, Any] = {} if max_age is None else {"accounts_max_age": parse_age(max_age)}
    report = world.run(path, **options)
    assert report.exit_code == 0
    assert world.count(LIST) == (6 if fetched_again else 5)  # validated: one page
    if fetched_again:
        assert world.progress[-1].done == world.progress[-1].total
        assert any("the cached list is 25 h old" in p.why for p in world.progress)


def test_a_name_the_cache_lacks_fetches_it_once_per_run(world: World) -> None:
    """An unknown name refreshes a fresh list once; it is still unknown, so the row is invalid."""
    world.fetch()
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""], ["nobody", "1-B", "", ""]])
    report = world.run(path, skip_invalid=True)
    # The accounts job's 5; one refresh of the validated page; then the 4 other statuses.
    assert world.count(LIST) == 10
    assert report.exit_code == 1
    assert results(report)["1-B"] == (
        "invalid",
        "column 'Username': username 'nobody' matches no account in the CAD",
        "",
    )
    assert world.held() == {"1-A": uuid_of(1)}
    assert "username 'nobody' did not resolve from the cached list" in world.progress[0].why


def test_a_name_matching_no_validated_account_reads_the_other_statuses(world: World) -> None:
    """Cold cache and a pending member: the validated page, then 4 more to say it is pending."""
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""], ["newbie", "1-B", "", ""]])
    report = world.run(path, skip_invalid=True)
    assert world.count(LIST) == 5
    assert results(report)["1-B"][1] == (
        "column 'Username': username 'newbie' is pending approval in the CAD"
    )
    assert [p.why for p in world.progress if p.why] == [
        "2 usernames to resolve, and no account list yet",
        "1 username matching no validated account",
    ]
    assert world.held() == {"1-A": uuid_of(1)}


def test_fetch_inactive_adds_to_the_validated_accounts(world: World) -> None:
    """The other statuses join a validated list, which keeps its age; progress counts new ones."""
    directory = AccountDirectory(world.tmp / "accounts.json", clock=world.time.clock)
    pages: list[tuple[int, int | None]] = []
    with SonoranClient(world.sandbox.url, KEY, env={}) as client:
        with pytest.raises(ValueError, match="adds to a directory of validated accounts"):
            directory.fetch_inactive(client, wait_turn=lambda: True)
        directory.fetch_all(client, status=1, wait_turn=lambda: True)
        fetched_at = directory.fetched_at
        world.time.now += 60
        result = directory.fetch_inactive(
            client, wait_turn=lambda: True, on_page=lambda n, t: pages.append((n, t))
        )
    assert result == FetchResult(True, 4, 4, 4)
    assert pages == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert (directory.status_filter, directory.fetched_at) == ("all", fetched_at)
    assert len(directory.accounts) == 37
    assert directory.resolve("username", "newbie").reason == (
        "username 'newbie' is pending approval in the CAD"
    )
    assert directory.resolve("username", "user3").ok
    assert AccountDirectory.load(world.tmp / "accounts.json").status_filter == "all"


def test_pending_banned_and_doubled_names_are_invalid_with_their_reason(world: World) -> None:
    """Inactive accounts and a username two accounts share are problems, never a guess."""
    world.fetch()
    path = roster(
        world.tmp,
        USERNAMES,
        [["newbie", "1", "", ""], ["troll", "2", "", ""], ["twin", "3", "", ""]],
    )
    report = world.run(path)
    assert report.exit_code == 1
    assert report.held
    got = {unit: error for unit, (_, error, _) in results(report).items()}
    assert got["1"] == "column 'Username': username 'newbie' is pending approval in the CAD"
    assert got["2"] == "column 'Username': username 'troll' is banned in the CAD"
    assert got["3"].startswith(
        f"column 'Username': username 'twin' matches 2 accounts in the CAD ({uuid_of(0x90000005)}, "
    )
    assert world.sandbox.identifiers() == []


def test_discord_and_roblox_ids_are_looked_up_one_by_one_and_cached(world: World) -> None:
    """Each id is one paced look-up, cached; an id matching nothing is asked again next run."""
    path = roster(
        world.tmp,
        ["Discord ID", "Roblox ID", "Unit"],
        [["111", "", "1"], ["", "777", "2"], ["999", "", "3"], ["444", "", "4"]],
    )
    first = world.run(path, skip_invalid=True)
    assert world.count(LOOKUP) == 4
    assert world.count(LIST) == 0
    got = results(first)
    assert got["1"] == ("created", "", uuid_of(0x90000007))
    assert got["2"] == ("created", "", uuid_of(0x90000007))
    assert got["3"][1] == "column 'Discord ID': discord '999' matches no account in the CAD"
    assert got["4"][1] == "column 'Discord ID': discord '444' is banned in the CAD"
    assert world.progress[0] == AccountProgress(
        "look-up", 0, 4, "3 Discord IDs and 1 Roblox ID to look up"
    )
    world.run(path, skip_invalid=True)
    assert world.count(LOOKUP) == 6  # 999 and 444 asked again; 111 and 777 from the cache
    world.time.now += 25 * HOUR
    world.run(path, skip_invalid=True)
    assert world.count(LOOKUP) == 10  # every answer is older than a day


def test_a_mixed_roster_imports_onto_the_right_accounts(world: World) -> None:
    """UUID, username, community ID and Discord rows, and rows with two that agree, all land."""
    path = roster(
        world.tmp,
        ["Account UUID", "Username", "Community ID", "Discord", "Unit"],
        [
            [uuid_of(4).upper(), "", "", "", "U-1"],
            ["", "user5", "", "", "U-2"],
            ["", "", "5006", "", "U-3"],
            ["", "", "", "111", "U-4"],
            [uuid_of(0x90000007), "gamer", "", "111", "U-5"],
            [uuid_of(8), "user9", "", "", "U-6"],
        ],
    )
    report = world.run(path, skip_invalid=True)
    assert world.held() == {
        "U-1": uuid_of(4),
        "U-2": uuid_of(5),
        "U-3": uuid_of(6),
        "U-4": uuid_of(0x90000007),
        "U-5": uuid_of(0x90000007),
    }
    error = results(report)["U-6"][1]
    assert error == (
        f"column 'Username': username 'user9' is account {uuid_of(9)}, but column 'Account UUID' "
        f"says {uuid_of(8)}: they must name the same account"
    )
    assert (world.count(LIST), world.count(LOOKUP)) == (1, 1)


def test_a_username_roster_behaves_like_its_uuid_twin(world: World) -> None:
    """Imported by UUID, then by username: the same journal keys, so nothing new is sent."""
    units = [(n, f"T-{n}") for n in range(1, 6)]
    by_uuid = roster(world.tmp, ["Account UUID", "Unit"], [[uuid_of(n), u] for n, u in units])
    assert world.run(by_uuid, scope="team").exit_code == 0
    held = world.held()
    posts = world.count(f"/v2/emergency/accounts/{uuid_of(1)}/identifiers", "POST")
    twin = roster(world.tmp, ["Username", "Unit"], [[f"user{n}", u] for n, u in units], "twin.csv")
    report = world.run(twin, scope="team")
    assert report.exit_code == 0
    assert {r for r, _, _ in results(report).values()} == {"unchanged"}
    assert report.plan is not None
    assert report.plan.requests == 0
    assert world.held() == held
    assert world.count(f"/v2/emergency/accounts/{uuid_of(1)}/identifiers", "POST") == posts
    assert report.requests == {"GET": 1}  # the account list only


def test_results_are_rebuilt_from_the_journal_and_the_cached_list(world: World) -> None:
    """`results` resolves usernames from the cache, so the rebuilt sheet matches the run's."""
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""], ["user2", "1-B", "", ""]])
    world.run(path)
    sent = len(world.sandbox.requests())
    options = ImportOptions(base_url=world.sandbox.url, results=world.tmp / "rebuilt.csv")
    report = rebuild_results(path, options, api_key=KEY, env=world.env)
    assert len(world.sandbox.requests()) == sent
    assert {u: (r, a) for u, (r, _, a) in results(report).items()} == {
        "1-A": ("created", uuid_of(1)),
        "1-B": ("created", uuid_of(2)),
    }


def test_one_account_for_the_whole_file(world: World) -> None:
    """--account USERNAME puts a dispatcher's own units, in a roster without accounts, on it."""
    path = roster(world.tmp, ["Unit", "Name"], [["D-1", "Desk"], ["D-2", "Radio"]])
    report = world.run(path, ReadOptions(account="User12"))
    assert report.exit_code == 0
    assert world.held() == {"D-1": uuid_of(12), "D-2": uuid_of(12)}
    by_default = roster(world.tmp, ["Unit", "Name"], [["D-3", "Desk"]], "desk.csv")
    world.run(by_default, ReadOptions(defaults=[f"accountUuid={uuid_of(13)}"]))
    assert world.held()["D-3"] == uuid_of(13)


def test_refused_key_while_resolving_stops_before_anything_is_written(tmp_path: Path) -> None:
    """A 401 while fetching accounts: exit 3, nothing sent after it, no results sheet."""
    w = World(tmp_path, members(3), api_key="another-key")
    with w.sandbox:
        path = roster(tmp_path, USERNAMES, [["user1", "1-A", "", ""]])
        report = w.run(path)
        requests = w.sandbox.requests()
    assert report.stop is Stop.UNAUTHORISED
    assert report.exit_code == 3
    assert "check SONORAN_API_KEY or --api-key-file" in report.outcome.message  # type: ignore[union-attr]
    assert [r["path"] for r in requests] == [LIST]
    assert report.results_path is None
    assert not (tmp_path / "results.csv").exists()


def test_stop_request_while_resolving_is_an_interruption(world: World) -> None:
    """Ctrl-C while the list is fetched: the run ends as interrupted (exit 130), nothing sent."""
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""], ["nobody", "1-B", "", ""]])
    opts = ImportOptions(base_url=world.sandbox.url, rate=RATE, results=world.tmp / "r.csv")
    hooks = world.hooks(stop=lambda: world.count(LIST) >= 1)
    report = run_import(path, opts, api_key=KEY, hooks=hooks)
    assert report.stop is Stop.INTERRUPTED
    assert report.exit_code == 130
    assert world.count(LIST) == 1
    assert world.sandbox.identifiers() == []


def test_dry_run_resolves_but_sends_no_writes(world: World) -> None:
    """--dry-run fetches the list it needs (reads only) and plans on the resolved accounts."""
    path = roster(world.tmp, USERNAMES, [["user1", "1-A", "", ""]])
    report = world.run(path, dry_run=True, match_existing=False)
    assert results(report)["1-A"] == ("would create", "", uuid_of(1))
    assert {r["method"] for r in world.sandbox.requests()} == {"GET"}


# -- check: the cache only --------------------------------------------------------------------


def test_check_resolves_from_the_cache_without_network(world: World) -> None:
    """check finds the community's cached list through base URL and key; no request is sent."""
    path = roster(world.tmp, USERNAMES, [["user1", "1", "", ""], ["troll", "2", "", ""]])

    def run_check(**kwargs: Any) -> Any:
        return check(
            path,
            results=world.tmp / "check.csv",
            base_url=world.sandbox.url,
            env=world.env,
            clock=world.time.clock,
            **kwargs,
        )

    before = run_check(api_key=KEY)
    assert (before.counts[Result.NOT_CHECKED], before.exit_code) == (2, 0)
    assert before.notes == [
        "2 rows name accounts by username: run 'bulk-ident accounts' first to check them"
    ]
    no_key = run_check()
    assert no_key.notes[0].endswith(
        "first to check them (set SONORAN_API_KEY or --api-key-file to find it)"
    )
    world.fetch()
    sent = len(world.sandbox.requests())
    after = run_check(api_key=KEY)
    assert len(world.sandbox.requests()) == sent
    assert (after.counts[Result.VALID], after.counts[Result.INVALID], after.exit_code) == (1, 1, 1)
    assert after.notes == []
    world.time.now += 50 * HOUR
    assert run_check(api_key=KEY).notes == [
        "accounts checked against the list fetched 50 h ago; 'bulk-ident accounts' fetches it "
        "again (import does so itself)"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400.0), ("24h", 86400.0), ("2d", 172800.0), ("30s", 30.0), ("1.5h", 5400.0)],
)
def test_parse_age(text: str, seconds: float) -> None:
    """--accounts-max-age takes a number and a unit: s, m, h or d."""
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "2 weeks", "-1h"])
def test_parse_age_refuses_other_text(text: str) -> None:
    """Anything else is an InputError showing the accepted form."""
    with pytest.raises(InputError, match="such as 90m, 24h or 2d"):
        parse_age(text)


# -- the measurement ----------------------------------------------------------------------------


def test_measure_resolving_1000_usernames_through_the_import(tmp_path: Path) -> None:
    """1,000 usernames from a cold cache: 10 GETs of the list (its validated accounts only)."""
    w = World(tmp_path, members(1000) + SPECIAL[:4])
    path = roster(tmp_path, ["Username", "Unit"], [[f"user{n}", f"U-{n}"] for n in range(1000)])
    with w.sandbox:
        start = w.time.now
        report = w.run(path, dry_run=True)
        gets = w.count(LIST)
    assert report.prep.tally[Result.VALID] == 1000
    assert gets == 10
    assert report.requests == {"GET": 10}
    elapsed = w.time.now - start
    print(
        f"\n1000 usernames through run_import from a cold cache: {gets} GETs of the account list; "
        f"at 10/min (with the 1% margin) they take {elapsed:.0f} s after the first request"
    )
