"""Run an import plan: pace, send, record. The one loop with side effects.

Every POST is preceded by a committed intent in the journal and followed by its committed
outcome. An outcome that leaves the server's state in doubt (5xx, lost answer, a crash) is settled
by listing the account's identifiers before that row is ever posted again.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bulk_ident.cad.client import (
    Created,
    Listed,
    NotSent,
    RateLimited,
    Rejected,
    RemoteIdentifier,
    SonoranClient,
    Unauthorised,
    Unknown,
)
from bulk_ident.sync.journal import Journal
from bulk_ident.sync.pacing import Pacer
from bulk_ident.sync.plan import ALREADY, SETTLE, Step

DONE = "done"
INTERRUPTED = "interrupted"
UNAUTHORISED = "unauthorised"
RATE_LIMITED = "rate limited"
UNREACHABLE = "unreachable"
FAULTS = "faults"


class _Next(enum.Enum):
    """What the run loop does with a row after one request for it."""

    DONE = enum.auto()  # it has its outcome
    AGAIN = enum.auto()  # send for it again next (after a 429, or when a stop was asked)
    LATER = enum.auto()  # try again after the other rows (the server could not be asked)
    SETTLE_LATER = enum.auto()  # its outcome is in doubt: list its account before any new POST
    POST_NOW = enum.auto()  # settled as not on the server: post it again, now


@dataclass(frozen=True)
class Settings:
    """Retry policy. Consecutive counts reset whenever a request gets a clear answer."""

    max_rate_limited: int = 4  # 429s in a row before stopping: the key is busy elsewhere
    default_retry_after: float = 60.0  # seconds to wait after a 429 that names no delay
    max_not_sent: int = 6  # connection failures in a row before stopping
    backoff_first: float = 1.0  # seconds; doubles per failure in a row
    backoff_cap: float = 60.0
    max_faults: int = 10  # unknown outcomes (5xx, lost answers) in a row before stopping
    max_posts_per_row: int = 5  # then the row is failed: the server keeps losing it


@dataclass(frozen=True)
class Event:
    """Something the user may want to see: ``kind`` is one of the names below."""

    kind: str  # "send", "created", "adopted", "failed", "unknown", "absent", "rate_limited",
    # "not_sent", "settle_failed"
    row: int
    detail: str = ""


@dataclass
class RunOutcome:
    """How the run ended, and what it sent."""

    stop: str = DONE
    message: str = ""
    resume_after: float | None = None  # epoch seconds, for a rate-limit stop
    posts: int = 0
    lists: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Importer:
    """Works through the plan until every row has an outcome or the run must stop."""

    def __init__(
        self,
        client: SonoranClient,
        journal: Journal,
        pacer: Pacer,
        *,
        source_file: str,
        settings: Settings | None = None,
        stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[Event], None] = lambda event: None,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        match_existing: bool = False,
    ) -> None:
        """``match_existing``: before creating a row the journal has never seen, list its
        account once and adopt an identifier with the same unit number (a journal lost, or a
        sync from another computer)."""
        self.client = client
        self.journal = journal
        self.pacer = pacer
        self.source_file = source_file
        self.settings = settings or Settings()
        self._stop = stop
        self._emit = on_event
        self._on_wait = on_wait
        self._clock = clock
        self._sleep = sleep
        self._match_existing = match_existing
        self._listed: dict[str, list[RemoteIdentifier]] = {}  # account -> as listed this run
        self._outcome = RunOutcome()
        self._rate_limited = 0
        self._not_sent = 0
        self._faults = 0

    def run(self, steps: list[Step]) -> RunOutcome:
        """Process the steps; return how the run ended. Never raises for a server answer."""
        queue = deque(s for s in steps if s.action != ALREADY)
        # Rows to settle go first, so nothing new is posted while an old outcome is in doubt.
        settle = {s.key for s in steps if s.action == SETTLE}
        while queue:
            if self._stop():
                return self._end(INTERRUPTED, "stopped by request")
            step = queue.popleft()
            after = self._settle(step) if step.key in settle else self._create(step)
            if after is _Next.DONE:
                settle.discard(step.key)
            elif after is _Next.POST_NOW:  # settled: not on the server
                settle.discard(step.key)
                queue.appendleft(step)
            elif after is _Next.SETTLE_LATER:  # the outcome is in doubt
                settle.add(step.key)
                queue.append(step)
            elif after is _Next.AGAIN:  # the same row next (after a 429 or a stop request)
                queue.appendleft(step)
            else:  # _Next.LATER: after the other rows
                queue.append(step)
            if self._outcome.stop != DONE:
                return self._outcome
        return self._outcome

    # -- one row -------------------------------------------------------------------------------

    def _create(self, step: Step) -> _Next:
        payload = step.checked.norm.payload
        assert payload is not None
        entry = self.journal.get(step.key)
        if entry is not None and entry.attempts >= self.settings.max_posts_per_row:
            self.journal.record_failed(
                step.key,
                entry.http_status,
                f"gave up after {entry.attempts} attempts: {entry.error or 'no clear answer'}",
            )
            self._emit(Event("failed", step.row, "gave up"))
            return _Next.DONE
        if self._match_existing and entry is None:
            account, unit_key = step.key
            if account not in self._listed:
                listed = self._list(step)
                if isinstance(listed, _Next):
                    return listed
            found = [i.ident_id for i in self._listed[account] if i.unit_num.casefold() == unit_key]
            if found:
                self.journal.record_adopted(
                    step.key,
                    str(payload["unitNum"]),
                    payload,
                    max(found),
                    source_file=self.source_file,
                    source_row=step.row,
                )
                self._emit(Event("adopted", step.row, str(max(found))))
                return _Next.DONE
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        self.journal.record_intent(
            step.key,
            str(payload["unitNum"]),
            payload,
            source_file=self.source_file,
            source_row=step.row,
        )
        self._emit(Event("send", step.row, "POST"))
        self._outcome.posts += 1
        try:
            outcome = self.client.create_identifier(step.key[0], payload)
        except BaseException:
            # A second Ctrl-C while the request was in flight: it may have been sent.
            self.journal.record_unknown(step.key, None, "interrupted while the request was sent")
            raise
        match outcome:
            case Created(ident_id=ident_id, status=status):
                self.journal.record_created(step.key, ident_id, status)
                self._clear_streaks()
                self._emit(Event("created", step.row, str(ident_id)))
                return _Next.DONE
            case Rejected(status=status, message=message):
                self.journal.record_failed(step.key, status, message)
                self._clear_streaks()
                self._emit(Event("failed", step.row, message))
                return _Next.DONE
            case Unauthorised(status=status, message=message):
                self.journal.record_pending(step.key, status, message)
                self._end(UNAUTHORISED, f"the server refused the API key ({status}: {message})")
                return _Next.AGAIN
            case RateLimited(retry_after=retry_after, message=message):
                self.journal.record_pending(step.key, 429, message)
                self._on_rate_limited(step, retry_after)
                return _Next.AGAIN
            case NotSent(reason=reason):
                self.journal.record_pending(step.key, None, reason)
                self._on_not_sent(step, reason)
                return _Next.AGAIN
            case Unknown(reason=reason, status=status):
                self.journal.record_unknown(step.key, status, reason)
                self._emit(Event("unknown", step.row, reason))
                self._faults += 1
                if self._faults >= self.settings.max_faults:
                    self._end(FAULTS, f"{self._faults} requests in a row had no clear answer")
                return _Next.SETTLE_LATER
        raise AssertionError(outcome)  # pragma: no cover - the match is exhaustive

    def _settle(self, step: Step) -> _Next:
        """Look for the row on the server: adopt it if there, else post it again."""
        listed = self._list(step)
        if isinstance(listed, _Next):
            return listed
        unit_key = step.key[1]
        found = [i.ident_id for i in listed if i.unit_num.casefold() == unit_key]
        if found:
            self.journal.record_created(step.key, max(found), None)
            self._emit(Event("adopted", step.row, str(max(found))))
            return _Next.DONE
        self.journal.record_pending(step.key, None, "not on the server: posting again")
        self._emit(Event("absent", step.row))
        return _Next.POST_NOW

    def _list(self, step: Step) -> list[RemoteIdentifier] | _Next:
        """List the step's account (paced): its identifiers, or what to do with the step next."""
        if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
            return _Next.AGAIN
        self._emit(Event("send", step.row, "GET"))
        self._outcome.lists += 1
        account = step.key[0]
        outcome = self.client.list_identifiers(account)
        match outcome:
            case Listed(identifiers=identifiers):
                self._clear_streaks()
                self._listed[account] = identifiers
                return identifiers
            case Unauthorised(status=status, message=message):
                self._end(UNAUTHORISED, f"the server refused the API key ({status}: {message})")
                return _Next.AGAIN
            case RateLimited(retry_after=retry_after):
                self._on_rate_limited(step, retry_after)
                return _Next.AGAIN
            case NotSent(reason=reason):
                self._on_not_sent(step, reason)
                return _Next.LATER
            case Rejected(status=status, message=message) | Unknown(status=status, reason=message):
                self._emit(Event("settle_failed", step.row, message))
                self._faults += 1
                if self._faults >= self.settings.max_faults:
                    self._end(FAULTS, f"{self._faults} requests in a row failed ({message})")
                return _Next.LATER
        raise AssertionError(outcome)  # pragma: no cover - the match is exhaustive

    # -- streaks and stops ---------------------------------------------------------------------

    def _clear_streaks(self) -> None:
        self._rate_limited = self._not_sent = self._faults = 0

    def _on_rate_limited(self, step: Step, retry_after: float | None) -> None:
        self._rate_limited += 1
        pause = retry_after if retry_after is not None else self.settings.default_retry_after
        self._emit(Event("rate_limited", step.row, f"{pause:.0f}"))
        # Someone else uses the key too: leave them room for the rest of the run.
        self.pacer.slow_down(2.0, pause=pause)
        if self._rate_limited >= self.settings.max_rate_limited:
            self._end(
                RATE_LIMITED,
                f"the server answered 429 (rate limited) {self._rate_limited} times in a row; "
                "the key is busy elsewhere",
            )
            self._outcome.resume_after = self._clock() + max(pause, 60.0)

    def _on_not_sent(self, step: Step, reason: str) -> None:
        self._not_sent += 1
        self._emit(Event("not_sent", step.row, reason))
        if self._not_sent >= self.settings.max_not_sent:
            self._end(UNREACHABLE, f"can't reach the server ({reason})")
            return
        delay = min(
            self.settings.backoff_first * 2 ** (self._not_sent - 1), self.settings.backoff_cap
        )
        self._pause(delay)

    def _pause(self, seconds: float) -> None:
        """Sleep in short steps so that a stop request is noticed at once."""
        end = self._clock() + seconds
        while not self._stop():
            left = end - self._clock()
            if left <= 0:
                return
            if self._on_wait is not None:
                self._on_wait(left)
            self._sleep(min(left, 0.25))

    def interrupted(self) -> RunOutcome:
        """The run was interrupted from outside (a second Ctrl-C during a request)."""
        return self._end(INTERRUPTED, "interrupted")

    def _end(self, stop: str, message: str) -> RunOutcome:
        if self._outcome.stop == DONE:
            self._outcome.stop = stop
            self._outcome.message = message
        return self._outcome
