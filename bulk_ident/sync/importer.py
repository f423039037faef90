"""Run a sync plan: pace, send, record. The one loop with side effects.

Every write (POST, PATCH, DELETE) is preceded by a committed intent in the journal and followed by
its committed outcome. A POST whose outcome is in doubt (5xx, a lost answer, a crash) is settled
by listing the account's identifiers before that row is ever posted again; PATCH and DELETE are
idempotent and are simply sent again.

Only requests that may have reached the server count against a row: a request that was never
sent (connection refused, unknown host), a 429 or a refused key cost the row nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bulk_ident.cad.client import (
    Created,
    Deleted,
    Failure,
    Listed,
    NotSent,
    NotSentKind,
    RateLimited,
    Rejected,
    RemoteIdentifier,
    SonoranClient,
    Unauthorised,
    Unknown,
    Updated,
)
from bulk_ident.sync.journal import Journal, Key
from bulk_ident.sync.pacing import MAX_PAUSE, Pacer, pause
from bulk_ident.sync.plan import Act, Plan, Step, change_text
from bulk_ident.words import EventKind, Result, Stop


class _Next(enum.Enum):
    """What the run loop does with a step after one request for it."""

    DONE = enum.auto()  # it has its result
    AGAIN = enum.auto()  # send for it again next (after a 429, or when a stop was asked)
    LATER = enum.auto()  # try again after the other steps (the server could not be asked)


@dataclass(frozen=True)
class Settings:
    """Retry policy. Consecutive counts reset whenever a request gets a clear answer."""

    max_rate_limited: int = 4  # 429s in a row before stopping: the key is busy elsewhere
    default_retry_after: float = 60.0  # seconds to wait after a 429 that names no delay
    max_not_sent: int = 6  # connection failures in a row before stopping
    backoff_first: float = 1.0  # seconds; doubles per failure in a row
    backoff_cap: float = 60.0
    max_faults: int = 10  # unknown outcomes (5xx, lost answers) in a row before stopping
    max_unknown_per_row: int = 5  # in one run; then the row is left for the next run


@dataclass(frozen=True)
class Event:
    """Something the user may want to see as the run goes."""

    kind: EventKind
    row: int | None = None
    detail: str = ""
    seconds: float = 0.0
    result: Result | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one step in this run."""

    result: Result
    note: str = ""


@dataclass
class RunOutcome:
    """How the run ended, what it sent, and each step's outcome (by key)."""

    stop: Stop = Stop.DONE
    message: str = ""
    resume_after: float | None = None  # epoch seconds, for a rate-limit stop
    requests: dict[str, int] = field(default_factory=dict)  # method -> count
    outcomes: dict[Key, Outcome] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # account -> why the server refused it

    @property
    def sent(self) -> int:
        """Requests sent (every method)."""
        return sum(self.requests.values())

    @property
    def writes(self) -> int:
        """Requests that may have changed something on the server (POST, PATCH, DELETE)."""
        return sum(n for method, n in self.requests.items() if method != "GET")


class Importer:
    """Works through a plan until every step has its outcome or the run must stop."""

    def __init__(
        self,
        client: SonoranClient,
        journal: Journal,
        pacer: Pacer,
        *,
        scope: str,
        source_file: str,
        replan: Callable[[Step, Sequence[RemoteIdentifier]], Step],
        settings: Settings | None = None,
        stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[Event], None] = lambda event: None,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        record_listings: bool = True,
    ) -> None:
        """``replan(step, listing)`` decides a step again once its account has been listed;
        ``record_listings`` is off for a dry run, which must write nothing."""
        self.client = client
        self.journal = journal
        self.pacer = pacer
        self.scope = scope
        self.source_file = source_file
        self.settings = settings or Settings()
        self._replan = replan
        self._stop = stop
        self._emit = on_event
        self._on_wait = on_wait
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._record_listings = record_listings
        self.listed: dict[str, list[RemoteIdentifier]] = {}  # account -> as listed this run
        self.outcome = RunOutcome()
        self._rate_limited = 0
        self._not_sent = 0
        self._faults = 0
        self._unknown: dict[Key, int] = {}  # unknown outcomes per row, this run
        self._posted: set[Key] = set()  # rows POSTed this run

    # -- listing accounts before the plan --------------------------------------------------------

    def list_accounts(self, accounts: Sequence[str]) -> dict[str, list[RemoteIdentifier]]:
        """List each account's identifiers (paced). Accounts the server refuses are in
        ``outcome.refused``; others that could not be listed are simply absent (their steps
        list them again when they come up)."""
        queue = deque(accounts)
        tries: dict[str, int] = {}
        while queue and self.outcome.stop is Stop.DONE:
            if self._stop():
                self._end(Stop.INTERRUPTED, "stopped by request")
                break
            account = queue.popleft()
            after = self._list(account, None)
            if after is _Next.AGAIN:
                queue.appendleft(account)
            elif after is _Next.LATER:
                tries[account] = tries.get(account, 0) + 1
                if tries[account] < self.settings.max_unknown_per_row:
                    queue.append(account)
        return self.listed

    def _list(self, account: str, row: int | None) -> list[RemoteIdentifier] | _Next:
        """List one account (paced): its identifiers, or what to do next."""
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        self._emit(Event(EventKind.LISTING, row, account))
        self._count("GET")
        outcome = self.client.list_identifiers(account)
        match outcome:
            case Listed(identifiers=identifiers):
                self._clear_streaks()
                self.listed[account] = identifiers
                if self._record_listings:
                    self.journal.record_listed(account)
                return identifiers
            case Rejected(status=status, message=message):
                # The account itself is refused (e.g. 404 Account not found): creating on it
                # would be refused the same way, so its rows are failed without a POST.
                self._clear_streaks()
                self.outcome.refused[account] = f"{status} {message}"
                self._emit(Event(EventKind.LIST_FAILED, row, message))
                return _Next.DONE
            case _:
                return self._trouble(outcome, row, faults_stop=True)

    # -- the run ------------------------------------------------------------------------------

    def run(self, plan: Plan) -> RunOutcome:
        """Carry out the plan's steps; return how the run ended. Never raises for an answer."""
        queue = deque(s for s in plan.steps if s.act is not Act.NOTHING)
        while queue and self.outcome.stop is Stop.DONE:
            if self._stop():
                self._end(Stop.INTERRUPTED, "stopped by request")
                break
            step = queue.popleft()
            after = self._do(step)
            if isinstance(after, Step):  # settled into another step: do that one next
                queue.appendleft(after)
            elif after is _Next.AGAIN:
                queue.appendleft(step)
            elif after is _Next.LATER:
                queue.append(step)
        return self.outcome

    def _do(self, step: Step) -> _Next | Step:
        match step.act:
            case Act.CREATE | Act.RECREATE:
                return self._post(step)
            case Act.ADOPT:
                return self._adopt(step)
            case Act.UPDATE:
                return self._patch(step)
            case Act.DELETE:
                return self._delete(step)
            case Act.SETTLE:
                return self._settle(step)
            case Act.NOTHING:  # pragma: no cover - filtered out by run()
                return _Next.DONE

    def _done(self, step: Step, result: Result, note: str = "") -> _Next:
        self.outcome.outcomes[step.key] = Outcome(result, note)
        self._emit(Event(EventKind.DONE, step.row, note, result=result))
        return _Next.DONE

    def _settle(self, step: Step) -> _Next | Step:
        """List the step's account (once per run), then decide the step again."""
        listing = self.listed.get(step.account)
        if listing is None and step.account not in self.outcome.refused:
            after = self._list(step.account, step.row)
            if not isinstance(after, list) and after is not _Next.DONE:
                return after
            listing = self.listed.get(step.account)
        if listing is None:
            return self._done(step, Result.FAILED, self.outcome.refused[step.account])
        decided = self._replan(step, listing)
        if decided.act is Act.ADOPT and step.key in self._posted:
            # Our own POST of this run created it; only its answer was lost.
            final = Result.RECREATED if step.result is Result.RECREATED else Result.CREATED
            decided = dataclasses.replace(decided, result=final)
        return decided

    def _adopt(self, step: Step) -> _Next | Step:
        assert step.ident_id is not None
        assert step.server_values is not None
        # When a PATCH follows, the adoption is recorded first and the update's result after it.
        patch = bool(step.changes) and step.result in (Result.UPDATED, Result.RESTORED)
        self.journal.record_adopted(
            step.key,
            step.unit_num,
            step.ident_id,
            step.server_values,
            scope=self.scope,
            source_file=self.source_file,
            source_row=step.row or 0,
            result=Result.ADOPTED if patch else step.result,
        )
        if patch:
            return dataclasses.replace(step, act=Act.UPDATE)
        return self._done(step, step.result, change_text(step.changes))

    # -- POST -----------------------------------------------------------------------------------

    def _post(self, step: Step) -> _Next | Step:
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        payload = step.payload
        self.journal.record_intent(
            step.key,
            step.unit_num,
            payload,
            scope=self.scope,
            source_file=self.source_file,
            source_row=step.row or 0,
        )
        self._emit(Event(EventKind.SENDING, step.row, "POST"))
        self._count("POST")
        self._posted.add(step.key)
        try:
            outcome = self.client.create_identifier(step.account, payload)
        except BaseException:
            # A second Ctrl-C while the request was in flight: it may have been sent.
            self.journal.record_unknown(step.key, None, "interrupted while the request was sent")
            raise
        match outcome:
            case Created(ident_id=ident_id, status=status):
                self._clear_streaks()
                self.journal.record_created(step.key, ident_id, status, step.result)
                return self._done(step, step.result)
            case Rejected(status=status, message=message):
                self._clear_streaks()
                self.journal.record_failed(step.key, status, message)
                return self._done(step, Result.FAILED, f"{status} {message}")
            case Unknown(reason=reason, status=status):
                self.journal.record_unknown(step.key, status, reason)
                if self._unknown_again(step, reason):
                    self.journal.record_gave_up(step.key, self._gave_up(step, reason))
                    return self._done(step, Result.FAILED, self._gave_up(step, reason))
                # Settle before posting again: list the account afresh.
                self.listed.pop(step.account, None)
                return dataclasses.replace(step, act=Act.SETTLE)
            case _:
                self.journal.record_pending(step.key, _status(outcome), _reason(outcome))
                return self._trouble(outcome, step.row)

    # -- PATCH ----------------------------------------------------------------------------------

    def _patch(self, step: Step) -> _Next | Step:
        assert step.ident_id is not None
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        changes = change_text(step.changes)
        self.journal.record_update_intent(step.key, step.payload, changes)
        self._emit(Event(EventKind.SENDING, step.row, "PATCH"))
        self._count("PATCH")
        outcome = self.client.update_identifier(step.account, step.ident_id, step.patch)
        match outcome:
            case Updated(status=status):
                self._clear_streaks()
                self.journal.record_updated(step.key, status, step.result)
                return self._done(step, step.result, changes)
            case Rejected(status=404, message=message):
                return self._confirm_gone(step, message)
            case Rejected(status=status, message=message):
                self._clear_streaks()
                self.journal.record_update_failed(step.key, status, message)
                return self._done(step, Result.FAILED, f"update refused: {status} {message}")
            case Unknown(reason=reason):
                if self._unknown_again(step, reason):
                    return self._done(step, Result.FAILED, self._gave_up(step, reason))
                return _Next.LATER  # PATCH is idempotent: send it again after the others
            case _:
                return self._trouble(outcome, step.row)

    def _confirm_gone(self, step: Step, message: str) -> _Next | Step:
        """A PATCH answered 404: the server is asked whether the identifier is really gone
        before it is created again, so an odd 404 can never make a duplicate."""
        self._clear_streaks()
        listing = self._list(step.account, step.row)
        if not isinstance(listing, list):
            if step.account in self.outcome.refused:
                return self._done(step, Result.FAILED, self.outcome.refused[step.account])
            return listing  # asked again later: the PATCH is sent again then
        if any(i.ident_id == step.ident_id for i in listing):
            error = f"update refused: {message} (404), though the identifier exists"
            self.journal.record_update_failed(step.key, 404, error)
            return self._done(step, Result.FAILED, error)
        # Deleted in the CAD since: create it again (a POST, settled as usual).
        self.journal.record_gone(step.key, 404)
        return dataclasses.replace(step, act=Act.RECREATE, result=Result.RECREATED)

    # -- DELETE ---------------------------------------------------------------------------------

    def _delete(self, step: Step) -> _Next | Step:
        assert step.ident_id is not None
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        self.journal.record_delete_intent(step.key)
        self._emit(Event(EventKind.SENDING, step.row, "DELETE"))
        self._count("DELETE")
        outcome = self.client.delete_identifier(step.account, step.ident_id)
        match outcome:
            case Deleted(status=status) | Rejected(status=(404 as status)):
                self._clear_streaks()
                self.journal.record_deleted(step.key, status)
                note = "it was already gone" if status == 404 else ""
                return self._done(step, Result.DELETED, note)
            case Rejected(status=status, message=message):
                self._clear_streaks()
                self.journal.record_delete_failed(step.key, status, message)
                return self._done(step, Result.FAILED, f"delete refused: {status} {message}")
            case Unknown(reason=reason):
                if self._unknown_again(step, reason):
                    return self._done(step, Result.FAILED, self._gave_up(step, reason))
                return _Next.LATER  # DELETE is idempotent
            case _:
                return self._trouble(outcome, step.row)

    # -- streaks and stops ---------------------------------------------------------------------

    def _count(self, method: str) -> None:
        self.outcome.requests[method] = self.outcome.requests.get(method, 0) + 1

    def _unknown_again(self, step: Step, reason: str) -> bool:
        """Count an unknown outcome for the row; True when it is time to give up on it."""
        self._emit(Event(EventKind.UNKNOWN, step.row, reason))
        self._unknown[step.key] = self._unknown.get(step.key, 0) + 1
        self._faults += 1
        if self._faults >= self.settings.max_faults:
            self._end(Stop.FAULTS, f"{self._faults} requests in a row had no clear answer")
        return self._unknown[step.key] >= self.settings.max_unknown_per_row

    def _gave_up(self, step: Step, reason: str) -> str:
        n = self._unknown.get(step.key, 0)
        return f"gave up for this run after {n} requests without a clear answer ({reason})"

    def _clear_streaks(self) -> None:
        self._rate_limited = self._not_sent = self._faults = 0

    def _trouble(self, outcome: Failure, row: int | None, *, faults_stop: bool = False) -> _Next:
        """A request that changed nothing on the server (or a listing that failed)."""
        match outcome:
            case Unauthorised(status=status):
                self._end(
                    Stop.UNAUTHORISED,
                    f"the server refused the API key ({status}): check "
                    "SONORAN_API_KEY or --api-key-file; nothing else was sent",
                )
                return _Next.AGAIN
            case RateLimited(retry_after=retry_after):
                self._on_rate_limited(row, retry_after)
                return _Next.AGAIN
            case NotSent(reason=reason, kind=kind):
                if kind is NotSentKind.DNS:
                    host = self.client.base_url.split("//", 1)[-1].split("/", 1)[0]
                    self._end(Stop.HOST_NOT_FOUND, f"can't find host '{host}': check --base-url")
                    return _Next.AGAIN
                self._on_not_sent(row, reason)
                return _Next.AGAIN
            case Unknown(reason=reason) | Rejected(message=reason):
                self._emit(Event(EventKind.LIST_FAILED, row, reason))
                self._faults += 1
                if faults_stop and self._faults >= self.settings.max_faults:
                    self._end(Stop.FAULTS, f"{self._faults} requests in a row failed ({reason})")
                return _Next.LATER
        return _Next.LATER  # pragma: no cover - the match is exhaustive

    def _on_rate_limited(self, row: int | None, retry_after: float | None) -> None:
        self._rate_limited += 1
        pause = retry_after if retry_after is not None else self.settings.default_retry_after
        pause = min(pause, MAX_PAUSE)
        self._emit(Event(EventKind.RATE_LIMITED, row, seconds=pause))
        # Someone else uses the key too: leave them room for the rest of the run.
        self.pacer.slow_down(2.0, pause=pause)
        if self._rate_limited >= self.settings.max_rate_limited:
            self._end(
                Stop.RATE_LIMITED,
                f"the server answered 429 (rate limited) {self._rate_limited} times in a row; "
                "the key is busy elsewhere",
            )
            self.outcome.resume_after = self._clock() + max(pause, 60.0)

    def _on_not_sent(self, row: int | None, reason: str) -> None:
        self._not_sent += 1
        if self._not_sent >= self.settings.max_not_sent:
            self._end(Stop.UNREACHABLE, f"can't reach the server ({reason})")
            return
        delay = min(
            self.settings.backoff_first * 2 ** (self._not_sent - 1), self.settings.backoff_cap
        )
        progress = f"{self._not_sent}/{self.settings.max_not_sent}"
        self._emit(Event(EventKind.UNREACHABLE, row, progress, seconds=delay))
        self._pause(delay)

    def _pause(self, seconds: float) -> None:
        pause(
            seconds,
            stop=self._stop,
            sleep=self._sleep,
            monotonic=self._monotonic,
            tick=self._on_wait,
        )

    def interrupted(self) -> RunOutcome:
        """The run was interrupted from outside (a second Ctrl-C during a request)."""
        return self._end(Stop.INTERRUPTED, "interrupted")

    def _end(self, stop: Stop, message: str) -> RunOutcome:
        if self.outcome.stop is Stop.DONE:
            self.outcome.stop = stop
            self.outcome.message = message
        return self.outcome


def _status(outcome: Failure) -> int | None:
    return getattr(outcome, "status", None)


def _reason(outcome: Failure) -> str:
    for name in ("reason", "message"):
        value = getattr(outcome, name, None)
        if isinstance(value, str):
            return value
    return ""
