"""Fetch what a roster's account names need before planning: the community's account list (when
missing, old, or lacking a name a row uses: once per run) and one look-up per Discord or Roblox
id; paced by the run's Pacer, with the importer's rules for 429s, a refused key and outages.

The list is read validated accounts first (the API's default filter, and the only accounts a row
may name); the pending, expired, removed and banned ones are read only when a name matches no
validated account, so that the row can say which it is.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bulk_ident.cad.accounts import (
    ALL,
    LISTED_KINDS,
    LOOKED_UP_KINDS,
    STATUS_WORDS,
    AccountDirectory,
    LookupKind,
    Problem,
    Resolution,
    Stopped,
)
from bulk_ident.cad.client import (
    Failure,
    NotSent,
    NotSentKind,
    RateLimited,
    Rejected,
    SonoranClient,
    Unauthorised,
    Unknown,
)
from bulk_ident.errors import InputError
from bulk_ident.sync.importer import Event, RunOutcome, Settings
from bulk_ident.sync.pacing import Pacer, pause
from bulk_ident.words import EventKind, Stop

DEFAULT_MAX_AGE = 24 * 3600.0
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d)", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_age(text: str) -> float:
    """``90m``, ``24h``, ``2d`` (also ``30s``) -> seconds; InputError names the option."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"--accounts-max-age {text!r}: write a number and a unit, such as 90m, 24h or 2d"
        )
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def age_text(seconds: float) -> str:
    """``40 min``, ``30 h``, ``3 days``: how old a list is, roughly."""
    if seconds < 3600:
        return f"{max(seconds, 0) / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


@dataclass(frozen=True)
class AccountProgress:
    """How the account work goes, for a progress bar: ``done`` of ``total`` (None: not known
    yet) accounts read, or look-ups made; ``why`` is set when a phase starts."""

    phase: str  # "list" or "look-up"
    done: int
    total: int | None
    why: str = ""


class AccountRun:
    """Fills an `AccountDirectory` over the network, one paced request at a time.

    Requests are counted in ``outcome.requests``; a stop (refused key, rate limited again and
    again, unreachable, a stop request) is recorded in ``outcome`` as the importer records it,
    and the methods return False.
    """

    def __init__(
        self,
        client: SonoranClient,
        pacer: Pacer,
        directory: AccountDirectory,
        *,
        outcome: RunOutcome | None = None,
        settings: Settings | None = None,
        stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[Event], None] = lambda event: None,
        on_wait: Callable[[float], None] | None = None,
        on_progress: Callable[[AccountProgress], None] = lambda progress: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.directory = directory
        self.outcome = outcome if outcome is not None else RunOutcome()
        self.settings = settings or Settings()
        self.refreshed = False  # the list was fetched in this run
        self._stop = stop
        self._emit = on_event
        self._on_wait = on_wait
        self._progress = on_progress
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._refused: dict[tuple[str, str], str] = {}  # look-ups the server refused (not 404)
        self._rate_limited = 0
        self._not_sent = 0
        self._faults = 0

    # -- what the import needs -------------------------------------------------------------------

    def prepare(self, needs: Sequence[tuple[str, str]], *, max_age: float) -> bool:
        """Make every (kind, value) in ``needs`` resolvable: fetch the validated accounts when
        the list is missing, older than ``max_age`` seconds, or (once) when a name does not
        resolve from it, then the other statuses if a name matches no validated account; look
        up each Discord or Roblox id not known, or known not to resolve (asked again once per
        run). False when the run must stop."""
        now = self._clock()
        listed = [(k, v) for k, v in needs if k in LISTED_KINDS]
        looked = [(k, v) for k, v in needs if k in LOOKED_UP_KINDS]
        if listed:
            why = self._why_fetch(listed, max_age, now)
            if why and not self.fetch(1, why):
                return False
            missing = [(k, v) for k, v in listed if not self.resolve(k, v).ok]
            if missing and self.directory.status_filter == 1:
                why = f"{_counted(missing)} matching no validated account"
                if not self.fetch(None, why, inactive=True):
                    return False
        if looked:
            self.directory.expire_lookups(max_age, now)
            todo = [(k, v) for k, v in looked if not self.resolve(k, v).ok]
            if todo and not self.look_up(todo):
                return False
        return True

    def _why_fetch(self, listed: Sequence[tuple[str, str]], max_age: float, now: float) -> str:
        directory = self.directory
        names = _counted(listed)
        if directory.fetched_at is None:
            return f"{names} to resolve, and no account list yet"
        status = directory.status_filter
        if status not in (ALL, 1):
            shown = STATUS_WORDS.get(status, "") if isinstance(status, int) else ""
            return f"{names} to resolve; the cached list holds {shown} accounts only"
        if directory.is_stale(max_age, now):
            age = age_text(now - directory.fetched_at)
            return f"{names} to resolve; the cached list is {age} old"
        missing = [(k, v) for k, v in listed if not directory.resolve(k, v).ok]
        if missing:
            kind, value = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            return f"{kind} {value!r}{more} did not resolve from the cached list"
        return ""

    def resolve(self, kind: str, value: str) -> Resolution:
        """The directory's answer, or why the server refused to look the value up."""
        refused = self._refused.get((kind, value.strip().casefold()))
        if refused is not None:
            return Resolution(None, Problem.NO_MATCH, refused)
        return self.directory.resolve(kind, value)

    # -- the account list --------------------------------------------------------------------------

    def fetch(self, status: int | None, why: str = "", *, inactive: bool = False) -> bool:
        """Read the whole account list (``status`` 0-4, or None for every status), resuming after
        each failure the rules allow; ``inactive``: add the accounts that are not validated to a
        list of the validated ones. False when the run must stop."""
        self._progress(AccountProgress("list", 0, None, why))

        def on_page(fetched: int, total: int | None) -> None:
            self._progress(AccountProgress("list", fetched, total))

        turn = self._turn("list")
        while True:
            if inactive:
                result = self.directory.fetch_inactive(self.client, wait_turn=turn, on_page=on_page)
            else:
                result = self.directory.fetch_all(
                    self.client, status=status, wait_turn=turn, on_page=on_page
                )
            self._count(result.requests)
            if result.complete:
                self._clear_streaks()
                self.refreshed = True
                return True
            if result.stopped:
                return self._end(Stop.INTERRUPTED, "stopped by request")
            assert result.failure is not None
            if result.requests > 1:
                self._clear_streaks()  # pages before this one were answered
            if isinstance(result.failure, Rejected):
                failure = result.failure
                return self._end(
                    Stop.FAULTS,
                    f"the server refused to list the community's accounts ({failure.status}: "
                    f"{failure.message})",
                )
            if not self._trouble(result.failure):
                return False

    # -- Discord and Roblox ids --------------------------------------------------------------------

    def look_up(self, pairs: Sequence[tuple[str, str]]) -> bool:
        """Ask the server for each (kind, value), one paced request each. False when the run
        must stop."""
        total = len(pairs)
        self._progress(AccountProgress("look-up", 0, total, f"{_counted(pairs)} to look up"))
        for done, (kind, value) in enumerate(pairs, start=1):
            while True:
                answer = self.directory.lookup(self.client, kind, value, self._turn("look-up"))
                if isinstance(answer, Stopped):
                    return self._end(Stop.INTERRUPTED, "stopped by request")
                self._count(1)
                if isinstance(answer, Resolution):
                    self._clear_streaks()
                    break
                if isinstance(answer, Rejected):
                    self._clear_streaks()
                    self._refused[(kind, value.strip().casefold())] = (
                        f"{kind} {value.strip()!r}: the server refused the look-up "
                        f"({answer.status}: {answer.message})"
                    )
                    break
                if not self._trouble(answer):
                    return False
            self._progress(AccountProgress("look-up", done, total))
        return True

    # -- pacing, streaks and stops (the importer's rules) ---------------------------------------

    def _turn(self, what: str) -> Callable[[], bool]:
        def turn() -> bool:
            if self.outcome.stop is not Stop.DONE:
                return False
            if not self.pacer.wait_turn(stop=self._stop, tick=self._on_wait):
                return False
            self._emit(Event(EventKind.ACCOUNTS, None, what))
            return True

        return turn

    def _count(self, requests: int) -> None:
        if requests:
            self.outcome.requests["GET"] = self.outcome.requests.get("GET", 0) + requests

    def _clear_streaks(self) -> None:
        self._rate_limited = self._not_sent = self._faults = 0

    def _trouble(self, failure: Failure) -> bool:
        """A request that got no usable answer: True to send it again, False to stop."""
        settings = self.settings
        match failure:
            case Unauthorised(status=status):
                return self._end(
                    Stop.UNAUTHORISED,
                    f"the server refused the API key ({status}): check "
                    "SONORAN_API_KEY or --api-key-file; nothing else was sent",
                )
            case RateLimited(retry_after=retry_after):
                self._rate_limited += 1
                pause = retry_after if retry_after is not None else settings.default_retry_after
                self._emit(Event(EventKind.RATE_LIMITED, None, seconds=pause))
                self.pacer.slow_down(2.0, pause=pause)
                if self._rate_limited >= settings.max_rate_limited:
                    self.outcome.resume_after = self._clock() + max(pause, 60.0)
                    return self._end(
                        Stop.RATE_LIMITED,
                        f"the server answered 429 (rate limited) {self._rate_limited} times in a "
                        "row; the key is busy elsewhere",
                    )
                return True
            case NotSent(reason=reason, kind=kind):
                if kind is NotSentKind.DNS:
                    host = self.client.base_url.split("//", 1)[-1].split("/", 1)[0]
                    return self._end(
                        Stop.HOST_NOT_FOUND, f"can't find host '{host}': check --base-url"
                    )
                self._not_sent += 1
                if self._not_sent >= settings.max_not_sent:
                    return self._end(Stop.UNREACHABLE, f"can't reach the server ({reason})")
                delay = min(
                    settings.backoff_first * 2 ** (self._not_sent - 1), settings.backoff_cap
                )
                progress = f"{self._not_sent}/{settings.max_not_sent}"
                self._emit(Event(EventKind.UNREACHABLE, None, progress, seconds=delay))
                self._pause(delay)
                return True
            case Unknown(reason=reason) | Rejected(message=reason):
                # Reading is safe to repeat: a 5xx or a lost answer is simply asked again.
                self._faults += 1
                self._emit(Event(EventKind.LIST_FAILED, None, reason))
                if self._faults >= settings.max_faults:
                    return self._end(
                        Stop.FAULTS, f"{self._faults} requests in a row failed ({reason})"
                    )
                return True
        return False  # pragma: no cover - the match is exhaustive

    def _pause(self, seconds: float) -> None:
        pause(
            seconds,
            stop=self._stop,
            sleep=self._sleep,
            monotonic=self._monotonic,
            tick=self._on_wait,
        )

    def _end(self, stop: Stop, message: str) -> bool:
        if self.outcome.stop is Stop.DONE:
            self.outcome.stop = stop
            self.outcome.message = message
        return False


def _counted(pairs: Sequence[tuple[str, str]]) -> str:
    """``27 usernames and 1 Discord ID``: what a list of (kind, value) holds."""
    words = {
        LookupKind.USERNAME: "username",
        LookupKind.COMMUNITY_USER_ID: "community user ID",
        LookupKind.DISCORD: "Discord ID",
        LookupKind.ROBLOX: "Roblox ID",
    }
    counts: dict[str, int] = {}
    for kind, _ in pairs:
        counts[words[LookupKind(kind)]] = counts.get(words[LookupKind(kind)], 0) + 1
    return " and ".join(f"{n} {word}{'' if n == 1 else 's'}" for word, n in counts.items())
