"""The importer's loop with a scripted server (httpx.MockTransport), a fake clock and sleep:
every outcome's handling, write-ahead order, settling, retries and stops, in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bulk_ident.cad.client import SonoranClient
from bulk_ident.prepare import Prepared, prepare
from bulk_ident.rates import Rate
from bulk_ident.sync.importer import (
    DONE,
    FAULTS,
    INTERRUPTED,
    RATE_LIMITED,
    UNAUTHORISED,
    UNREACHABLE,
    Event,
    Importer,
    Settings,
)
from bulk_ident.sync.journal import CREATED, FAILED, PENDING, UNKNOWN, Journal
from bulk_ident.sync.pacing import Pacer
from bulk_ident.sync.plan import SETTLE, plan_import

ACCOUNTS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Server:
    """A scripted Sonoran: ``script`` answers POSTs in order (then 200s); stores what it creates.

    A script entry is an int status, ``"store500"`` (stores, then 500), ``"lose"`` (stores, then
    the connection drops), ``"refused"`` (connect error) or a callable returning a response.
    """

    def __init__(self, script: list[Any] | None = None, list_script: list[Any] | None = None):
        self.script = list(script or [])
        self.list_script = list(list_script or [])
        self.held: list[dict[str, Any]] = []
        self.log: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        account = request.url.path.split("/")[4]
        self.log.append((request.method, account))
        if request.method == "GET":
            step = self.list_script.pop(0) if self.list_script else 200
            if step == "refused":
                raise httpx.ConnectError("refused", request=request)
            if step != 200:
                return httpx.Response(step, json={"title": "list failed"})
            mine = [
                {"id": h["id"], "data": {"unitNum": h["unitNum"]}}
                for h in self.held
                if h["account"] == account
            ]
            return httpx.Response(200, json={"SelectedIdent": None, "Identifiers": mine})
        step = self.script.pop(0) if self.script else 200
        if step == "refused":
            raise httpx.ConnectError("refused", request=request)
        body = json.loads(request.content)
        if step in (200, "store500", "lose"):
            ident = len(self.held) + 1
            self.held.append({"id": ident, "account": account, "unitNum": body["unitNum"]})
            if step == "lose":
                raise httpx.RemoteProtocolError("dropped", request=request)
            if step == "store500":
                return httpx.Response(500, text="oops")
            return httpx.Response(200, json={"identId": ident})
        if step == 429:
            return httpx.Response(
                429, headers={"Retry-After": "7"}, json={"message": "API rate limit exceeded"}
            )
        return httpx.Response(step, json={"title": "Bad", "detail": f"refused with {step}"})

    def posts(self) -> int:
        return sum(1 for method, _ in self.log if method == "POST")


def roster(tmp_path: Path, rows: int = 3) -> Prepared:
    """A small valid roster, read and validated as import does."""
    path = tmp_path / "roster.csv"
    lines = ["Account UUID,Unit Number,Name"]
    lines += [f"{ACCOUNTS[i % 2]},U-{i},Member {i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(path)


def make(
    tmp_path: Path,
    server: Server,
    *,
    settings: Settings | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[Importer, Journal, FakeTime, list[Event]]:
    """An importer wired to the scripted server, an in-memory pacer and a fake clock."""
    time = FakeTime()
    journal = Journal.open(
        tmp_path / "journal.sqlite", "http://127.0.0.1:1#key-test", clock=time.clock
    )
    pacer = Pacer(Rate(10, 60.0), state_path=None, key_id="k", clock=time.clock, sleep=time.sleep)
    client = SonoranClient(
        "http://127.0.0.1:1", "test-key", transport=httpx.MockTransport(server.handler)
    )
    events: list[Event] = []
    importer = Importer(
        client,
        journal,
        pacer,
        source_file="roster.csv",
        settings=settings,
        stop=stop,
        on_event=events.append,
        clock=time.clock,
        sleep=time.sleep,
    )
    return importer, journal, time, events


def states(journal: Journal) -> dict[str, str]:
    """Journal state by unit number."""
    return {e.unit_num: e.state for e in journal.entries().values()}


def run(tmp_path: Path, server: Server, rows: int = 3, **kw: Any) -> tuple[Any, Journal, FakeTime]:
    """Plan and run an import of a small roster."""
    prep = roster(tmp_path, rows)
    importer, journal, time, _ = make(tmp_path, server, **kw)
    outcome = importer.run(plan_import(prep.valid, journal.entries()))
    return outcome, journal, time


def test_every_row_is_created_once_at_the_pace(tmp_path: Path) -> None:
    """Three rows give three POSTs, evenly spaced by the pacer, all recorded created."""
    server = Server()
    outcome, journal, time = run(tmp_path, server)
    assert outcome.stop == DONE
    assert server.posts() == 3
    assert set(states(journal).values()) == {CREATED}
    assert sum(time.slept) >= 2 * 6.0  # two gaps of at least one 10/min slot


def test_a_429_waits_retry_after_slows_down_and_retries_the_same_row(tmp_path: Path) -> None:
    """A 429 never fails a row: the run waits Retry-After, slows down, and sends it again."""
    server = Server([429])
    outcome, journal, time = run(tmp_path, server)
    assert outcome.stop == DONE
    assert states(journal) == {"U-0": CREATED, "U-1": CREATED, "U-2": CREATED}
    assert server.posts() == 4
    assert sum(time.slept) >= 7.0 + 2 * 12.0  # the pause, then slots twice as wide


def test_repeated_429s_stop_the_run_resumably(tmp_path: Path) -> None:
    """After the documented number of 429s in a row the run stops, saying when to resume."""
    server = Server([429] * 10)
    outcome, journal, time = run(tmp_path, server, settings=Settings(max_rate_limited=3))
    assert outcome.stop == RATE_LIMITED
    assert server.posts() == 3
    assert outcome.resume_after is not None
    assert outcome.resume_after > time.now
    assert states(journal) == {"U-0": PENDING}


def test_unauthorised_stops_at_once(tmp_path: Path) -> None:
    """A 401 stops the whole run after one request; the row is not marked failed."""
    server = Server([401])
    outcome, journal, _ = run(tmp_path, server)
    assert outcome.stop == UNAUTHORISED
    assert server.posts() == 1
    assert states(journal) == {"U-0": PENDING}


def test_not_sent_is_retried_with_backoff(tmp_path: Path) -> None:
    """A connection that never reached the server is retried after 1 s, then 2 s."""
    server = Server(["refused", "refused"])
    outcome, journal, time = run(tmp_path, server, rows=1)
    assert outcome.stop == DONE
    assert states(journal) == {"U-0": CREATED}
    assert server.posts() == 3
    assert sum(time.slept) >= 3.0


def test_an_unreachable_server_stops_the_run(tmp_path: Path) -> None:
    """Connection failures in a row up to the limit stop the run as unreachable."""
    server = Server(["refused"] * 10)
    outcome, _, _ = run(tmp_path, server, rows=1, settings=Settings(max_not_sent=3))
    assert outcome.stop == UNREACHABLE
    assert server.posts() == 3


def test_a_lost_answer_is_settled_by_listing_and_adopted(tmp_path: Path) -> None:
    """A dropped response after the server stored the row is found by listing: no second POST."""
    server = Server(["lose"])
    outcome, journal, _ = run(tmp_path, server, rows=1)
    assert outcome.stop == DONE
    assert server.log == [("POST", ACCOUNTS[0]), ("GET", ACCOUNTS[0])]
    entry = next(iter(journal.entries().values()))
    assert (entry.state, entry.ident_id) == (CREATED, 1)
    assert len(server.held) == 1


def test_a_500_that_stored_nothing_is_posted_again_after_settling(tmp_path: Path) -> None:
    """A 500 before storing: the listing shows nothing, so the row is posted once more."""
    server = Server([500])
    outcome, journal, _ = run(tmp_path, server, rows=1)
    assert outcome.stop == DONE
    assert server.log == [("POST", ACCOUNTS[0]), ("GET", ACCOUNTS[0]), ("POST", ACCOUNTS[0])]
    assert states(journal) == {"U-0": CREATED}
    assert len(server.held) == 1


def test_a_500_that_stored_the_row_is_not_posted_twice(tmp_path: Path) -> None:
    """A 500 after storing: the listing finds the identifier and adopts it."""
    server = Server(["store500"])
    outcome, _, _ = run(tmp_path, server, rows=1)
    assert outcome.stop == DONE
    assert server.posts() == 1
    assert len(server.held) == 1


def test_a_failed_listing_leaves_the_row_unknown_and_tries_again_later(tmp_path: Path) -> None:
    """When settling fails, other rows go on; the unknown row is listed again, never re-posted
    before a listing answered."""
    server = Server(["lose"], list_script=[503])
    outcome, journal, _ = run(tmp_path, server, rows=2)
    assert outcome.stop == DONE
    assert server.log == [
        ("POST", ACCOUNTS[0]),
        ("POST", ACCOUNTS[1]),
        ("GET", ACCOUNTS[0]),
        ("GET", ACCOUNTS[0]),
    ]
    assert states(journal) == {"U-0": CREATED, "U-1": CREATED}


def test_a_rejected_row_fails_with_the_server_message_and_the_rest_go_on(tmp_path: Path) -> None:
    """A 400 fails that row with the server's detail; the other rows are created."""
    server = Server([400])
    outcome, journal, _ = run(tmp_path, server)
    assert outcome.stop == DONE
    entries = {e.unit_num: e for e in journal.entries().values()}
    assert entries["U-0"].state == FAILED
    assert entries["U-0"].error == "refused with 400"
    assert entries["U-0"].http_status == 400
    assert (entries["U-1"].state, entries["U-2"].state) == (CREATED, CREATED)


def test_a_row_the_server_keeps_losing_is_given_up_after_the_limit(tmp_path: Path) -> None:
    """A row whose POSTs keep failing (and are not stored) is failed after max_posts_per_row."""
    server = Server([500] * 10)
    settings = Settings(max_posts_per_row=3, max_faults=50)
    outcome, journal, _ = run(tmp_path, server, rows=1, settings=settings)
    assert outcome.stop == DONE
    assert server.posts() == 3
    entry = next(iter(journal.entries().values()))
    assert entry.state == FAILED
    assert entry.error is not None
    assert entry.error.startswith("gave up after 3 attempts")


def test_repeated_faults_stop_the_run(tmp_path: Path) -> None:
    """Unknown outcomes in a row up to the limit stop the run; the rows stay unknown."""
    server = Server([500] * 10, list_script=[503] * 10)
    outcome, journal, _ = run(tmp_path, server, rows=2, settings=Settings(max_faults=3))
    assert outcome.stop == FAULTS
    assert UNKNOWN in states(journal).values()


def test_a_row_left_sending_by_a_crash_is_settled_before_anything_is_posted(
    tmp_path: Path,
) -> None:
    """An intent without an outcome (the process died) is listed first, then adopted."""
    prep = roster(tmp_path, 2)
    server = Server()
    importer, journal, _, _ = make(tmp_path, server)
    first = prep.valid[0]
    assert first.norm.key is not None
    assert first.norm.payload is not None
    journal.record_intent(
        first.norm.key, "U-0", first.norm.payload, source_file="roster.csv", source_row=2
    )
    server.held.append({"id": 41, "account": ACCOUNTS[0], "unitNum": "U-0"})
    steps = plan_import(prep.valid, journal.entries())
    assert steps[0].action == SETTLE
    outcome = importer.run(steps)
    assert outcome.stop == DONE
    assert server.log[0] == ("GET", ACCOUNTS[0])
    assert server.posts() == 1
    assert journal.entries()[first.norm.key].ident_id == 41


def test_a_stop_request_ends_the_run_before_the_next_request(tmp_path: Path) -> None:
    """Once stop() is true nothing more is sent and the run reports it was interrupted."""
    server = Server()
    calls = iter([False, False])  # the loop's check, then the pacer's; then True
    outcome, journal, _ = run(tmp_path, server, stop=lambda: next(calls, True))
    assert outcome.stop == INTERRUPTED
    assert server.posts() == 1
    assert list(states(journal).values()) == [CREATED]


@pytest.mark.parametrize("unit", ["u-0", "U-0"])
def test_units_match_ignoring_case_when_settling(tmp_path: Path, unit: str) -> None:
    """An identifier listed with the unit number in another case is the same row."""
    prep = roster(tmp_path, 1)
    server = Server()
    importer, journal, _, _ = make(tmp_path, server)
    row = prep.valid[0]
    assert row.norm.key is not None
    assert row.norm.payload is not None
    journal.record_intent(row.norm.key, "U-0", row.norm.payload, source_file="r", source_row=2)
    server.held.append({"id": 7, "account": ACCOUNTS[0], "unitNum": unit})
    importer.run(plan_import(prep.valid, journal.entries()))
    assert server.posts() == 0
    assert journal.entries()[row.norm.key].ident_id == 7


def test_match_existing_adopts_units_already_on_the_server_listing_each_account_once(
    tmp_path: Path,
) -> None:
    """With match_existing, units already on the server are adopted, not created again; each
    account is listed once; the adopted rows count as created by no run of this journal."""
    prep = roster(tmp_path, 4)
    server = Server()
    server.held += [
        {"id": 70, "account": ACCOUNTS[0], "unitNum": "u-0"},
        {"id": 71, "account": ACCOUNTS[1], "unitNum": "U-3"},
    ]
    time = FakeTime()
    journal = Journal.open(tmp_path / "j.sqlite", "c", clock=time.clock)
    pacer = Pacer(Rate(10, 60.0), state_path=None, key_id="k", clock=time.clock, sleep=time.sleep)
    client = SonoranClient("http://127.0.0.1:1", "k", transport=httpx.MockTransport(server.handler))
    importer = Importer(
        client,
        journal,
        pacer,
        source_file="r",
        clock=time.clock,
        sleep=time.sleep,
        match_existing=True,
    )
    outcome = importer.run(plan_import(prep.valid, journal.entries()))
    assert outcome.stop == DONE
    assert server.log == [
        ("GET", ACCOUNTS[0]),
        ("GET", ACCOUNTS[1]),
        ("POST", ACCOUNTS[1]),
        ("POST", ACCOUNTS[0]),
    ]
    entries = {e.unit_num: e for e in journal.entries().values()}
    assert (entries["U-0"].ident_id, entries["U-3"].ident_id) == (70, 71)
    assert entries["U-0"].created_at is None
    assert entries["U-0"].attempts == 0
    assert {e.state for e in entries.values()} == {CREATED}
