"""The persisted per-API-key rate limit: evenly spaced request slots shared by every process.

Bookkeeping is pyrate-limiter's sliding-window log, in memory or in a SQLite file per key whose
check-and-record runs under a file lock (``flock``), so runs that use the same key at the same time,
or one after another, together stay within the limit.

Why not ``pyrate_limiter.Limiter``: its blocking wait can't be interrupted (Ctrl-C) or report
progress, it stamps items with the bucket's own clock, and its helper factory starts a background
leak thread on the wall clock. So ``Pacer`` stamps items with the injected clock, offers them to the
bucket with ``put_decision`` (which returns how long until a slot frees) and sleeps in short steps.

Timestamps are epoch milliseconds from ``clock`` (``time.time``), never a monotonic clock: they are
compared across processes and restarts. A wall clock set back by more than any wait this module
can schedule is detected and treated as "one request was just sent" instead of stalling.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from pyrate_limiter import AbstractBucket, Decision, InMemoryBucket, RateItem, SQLiteBucket
from pyrate_limiter import Rate as WindowRate

from bulk_ident.errors import JournalError
from bulk_ident.rates import MAX_WAIT, Rate

STEP = 0.25
"""Longest single sleep, so ``stop()`` is checked and ``tick`` called at least 4 times a second."""
MAX_SLOWDOWN = 8.0
"""``slow_down`` never widens the interval beyond this multiple of the margin-adjusted interval."""
MAX_PAUSE = MAX_WAIT
"""Longest pause ``slow_down`` schedules (a 429's Retry-After is capped to the same)."""
LOCK_TIMEOUT = 30.0
JITTER_MS = 100
"""Every window is at least this much longer than the period (see ``_window_rates``)."""
"""A live process holds the state lock for milliseconds; waiting longer means something is hung."""

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUEST = "request"
_PAUSE = "pause"


def _check_key_id(key_id: str) -> str:
    # The key id becomes part of a file name and an SQL table name.
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key_id must be 1-64 letters, digits, '_' or '-', not {key_id!r}")
    return key_id


class Pacer:
    """Hands out request slots for one API key: evenly spaced, never a burst, shared on disk."""

    def __init__(
        self,
        rate: Rate,
        *,
        state_path: Path | None,
        key_id: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.01,
        on_clock_back: Callable[[float], None] | None = None,
    ) -> None:
        """``on_clock_back(seconds)`` hears when stored slots lie in the future (the wall clock
        was set back) and were clamped to now."""
        if margin < 0:
            raise ValueError("margin must not be negative")
        self._count = rate.count
        self._clock = clock
        self._sleep = sleep
        self._state_path = state_path
        self._on_clock_back = on_clock_back
        # Rounded up so that integer milliseconds never make the spacing tighter than asked.
        self._base_ms = math.ceil(rate.period * 1000.0 * (1.0 + margin) / rate.count)
        self._period_ms = math.ceil(rate.period * 1000.0)
        self._interval_ms = self._base_ms
        table = "pace_" + _check_key_id(key_id).replace("-", "_")
        rates = self._window_rates()
        if state_path is None:
            self._bucket: AbstractBucket = InMemoryBucket(rates)
        else:
            self._bucket = _open_sqlite_bucket(state_path, table, rates)
        self._closed = False

    @property
    def interval(self) -> float:
        """The current spacing between two requests, in seconds."""
        return self._interval_ms / 1000.0

    def wait_turn(
        self,
        *,
        stop: Callable[[], bool] = lambda: False,
        tick: Callable[[float], None] | None = None,
    ) -> bool:
        """Block until a request may be sent, record it as sent and return True.

        Return False, consuming nothing, as soon as ``stop()`` is true (checked every ``STEP``
        seconds at most). ``tick(seconds_remaining)`` is called before each sleep.
        """
        while not stop():
            now_ms = self._now_ms()
            decision = self._offer(_REQUEST, now_ms)
            if decision.allowed:
                self._forget_old(now_ms)
                return True
            wait_ms = (
                self._interval_ms if decision.retry_after_ms is None else decision.retry_after_ms
            )
            ahead_ms = self._stamped_ahead(now_ms)
            if ahead_ms or wait_ms > self._clock_jump_ms():
                self._restart_after_clock_jump(now_ms)
                if self._on_clock_back is not None:
                    self._on_clock_back((ahead_ms or wait_ms) / 1000.0)
                continue
            remaining = wait_ms / 1000.0
            if tick is not None:
                tick(remaining)
            self._sleep(min(STEP, max(remaining, 0.001)))
        return False

    def slow_down(self, factor: float = 2.0, *, pause: float = 0.0) -> None:
        """Widen the interval by ``factor`` for the rest of this run (capped at ``MAX_SLOWDOWN``)
        and make the next slot, for every process sharing the key, at least ``pause`` seconds away.

        The pause is stored as an entry stamped at its end, so the next slot comes one interval
        after it and the entry counts as a request in its window: both err on the safe side after
        a 429. Pauses longer than ``MAX_PAUSE`` are shortened to it.
        """
        if factor < 1.0:
            raise ValueError("slow_down factor must be at least 1")
        widest = math.ceil(self._base_ms * MAX_SLOWDOWN)
        self._interval_ms = min(math.ceil(self._interval_ms * factor), widest)
        self._bucket.rates = self._window_rates()
        pause_ms = math.ceil(min(pause, MAX_PAUSE) * 1000.0)
        if pause_ms > 0:
            # Refused only when stored entries already hold every slot up to that moment, so
            # pauses never stack beyond MAX_PAUSE.
            self._offer(_PAUSE, self._now_ms() + pause_ms)

    def close(self) -> None:
        """Release the state file; the pacer can't be used afterwards."""
        if not self._closed:
            self._closed = True
            self._bucket.close()

    def __enter__(self) -> Pacer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _window_rates(self) -> list[WindowRate]:
        # One request per interval spreads them evenly; `count` per window restates the documented
        # limit in case the log ever holds entries closer together than the interval (another
        # process configured with a different rate). The window is at least JITTER_MS longer than
        # the period: the server counts arrivals, and the time from taking a slot to the request's
        # arrival varies by an absolute amount (a journal fsync, scheduling, the network), which a
        # proportional margin alone does not cover at per-second rates.
        window_ms = max(self._interval_ms * self._count, self._period_ms + JITTER_MS)
        if self._count == 1:
            return [WindowRate(1, max(self._interval_ms, window_ms))]
        return [WindowRate(1, self._interval_ms), WindowRate(self._count, window_ms)]

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000.0)

    def _offer(self, name: str, at_ms: int) -> Decision:
        """Check and, if admitted, record an entry: one atomic step under the state file's lock."""
        with _state_errors(self._state_path):
            decision = self._bucket.put_decision(RateItem(name, at_ms))
        assert isinstance(decision, Decision)  # both bucket kinds used here are synchronous
        return decision

    def _forget_old(self, now_ms: int) -> None:
        # Keep an hour of history even when this run's own windows are shorter: another run sharing
        # the file may pace with wider windows.
        keep_ms = max(int(MAX_PAUSE * 1000), self._clock_jump_ms())
        with _state_errors(self._state_path):
            self._bucket.leak(now_ms - keep_ms)

    def _clock_jump_ms(self) -> int:
        # Farther ahead than any entry this module writes: a pause marker plus a full window.
        widest = math.ceil(self._base_ms * MAX_SLOWDOWN)
        return int(MAX_PAUSE * 1000) + (self._count + 2) * widest

    def _stamped_ahead(self, now_ms: int) -> int:
        """How far (ms) a stored request lies in the future, when that is more than a window:
        requests are stamped when they are sent, so only a clock set back explains it. Pauses
        after a 429 are stamped ahead on purpose and count only beyond the longest pause."""
        window_ms = self._period_ms + JITTER_MS
        for index in range(self._count + 2):
            with _state_errors(self._state_path):
                item = self._bucket.peek(index)
            if not isinstance(item, RateItem) or item.timestamp <= now_ms + window_ms:
                return 0
            ahead = item.timestamp - now_ms
            if item.name == _REQUEST or ahead > int(MAX_PAUSE * 1000) + window_ms:
                return ahead
        return 0

    def _restart_after_clock_jump(self, now_ms: int) -> None:
        # Entries stamped by a clock that has since been set back: when the last request really went
        # out is unknown, so assume it was just now rather than waiting for the old clock to return.
        with _state_errors(self._state_path):
            self._bucket.flush()
        self._offer(_PAUSE, now_ms)


@contextmanager
def _state_errors(path: Path | None) -> Iterator[None]:
    """Turn a stuck lock or an unusable state file into a one-line JournalError."""
    try:
        yield
    except TimeoutError as err:  # filelock.Timeout
        raise JournalError(
            f"the pacing state {path} stayed locked for {LOCK_TIMEOUT:g} s: another bulk-ident"
            " process using the same API key seems stuck; stop it and try again"
        ) from err
    except (OSError, sqlite3.Error) as err:
        raise JournalError(f"the pacing state {path} can't be used: {err}") from err


def _open_sqlite_bucket(path: Path, table: str, rates: list[WindowRate]) -> SQLiteBucket:
    """Open (creating if needed) the shared state file, its table and its file lock."""
    with _state_errors(path):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # init_from_file waits for the lock without a timeout; probe first so a hung holder
        # produces a message instead of a silent hang.
        with FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT):
            pass
        bucket = SQLiteBucket.init_from_file(
            rates, table=table, db_path=str(path), use_file_lock=True
        )
        for part in (path, Path(f"{path}.lock")):
            if part.exists():
                os.chmod(part, 0o600)  # beside the journal, in the private state folder
    lock: object = bucket.lock  # the FileLock init_from_file created
    if isinstance(lock, FileLock):
        lock.timeout = LOCK_TIMEOUT
    return bucket


def pause(
    seconds: float,
    *,
    stop: Callable[[], bool],
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    tick: Callable[[float], None] | None = None,
) -> None:
    """Wait ``seconds`` (a back-off) in short steps, so that a stop request is noticed at once.
    Timed on the monotonic clock: a wall clock set back must not stretch the wait."""
    end = monotonic() + seconds
    while not stop():
        left = end - monotonic()
        if left <= 0:
            return
        if tick is not None:
            tick(left)
        sleep(min(left, STEP))
