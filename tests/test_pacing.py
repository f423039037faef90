"""Tests for the persisted per-key pacer.

Single-process behaviour runs on a fake clock whose sleep advances it, so it is exact and instant.
The cross-process tests use the real clock at 20/s; they read the timestamp each slot was admitted
at by wrapping the clock (the last reading before ``wait_turn`` returns True is the one recorded),
so their assertions are about the bookkeeping, not about how fast the machine is.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock, Timeout, UnixFileLock

from bulk_ident.errors import JournalError
from bulk_ident.rates import Rate
from bulk_ident.sync.pacing import MAX_PAUSE, MAX_SLOWDOWN, STEP, Pacer

REPO = Path(__file__).resolve().parents[1]
TEN_PER_MINUTE = Rate(10, 60.0)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_pacer(
    fake: FakeTime, state_path: Path | None = None, key_id: str = "k1", rate: Rate = TEN_PER_MINUTE
) -> Pacer:
    return Pacer(rate, state_path=state_path, key_id=key_id, clock=fake.clock, sleep=fake.sleep)


def take(pacer: Pacer, fake: FakeTime, n: int) -> list[float]:
    """Acquire n slots and return the clock reading at each."""
    stamps = []
    for _ in range(n):
        assert pacer.wait_turn()
        stamps.append(fake.now)
    return stamps


def max_in_window(stamps: list[float], period: float) -> int:
    """The most stamps inside any half-open window [t, t + period)."""
    ordered = sorted(stamps)
    return max(sum(1 for s in ordered[i:] if s < t + period) for i, t in enumerate(ordered))


def test_interval_includes_the_margin() -> None:
    """The spacing is period / count widened by the safety margin."""
    pacer = Pacer(TEN_PER_MINUTE, state_path=None, key_id="k1", margin=0.05)
    assert pacer.interval == pytest.approx(6.3)


def test_requests_are_evenly_spaced_never_a_burst() -> None:
    """The first slot is immediate, every later one follows one interval after the previous."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    start = fake.now
    stamps = take(pacer, fake, 25)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert stamps[0] == start
    assert min(gaps) >= pacer.interval
    assert max(gaps) <= pacer.interval + 0.002
    assert max_in_window(stamps, TEN_PER_MINUTE.period) <= TEN_PER_MINUTE.count
    assert max(fake.sleeps) <= STEP


def test_a_rate_of_one_per_period_is_supported() -> None:
    """A count of 1 needs only the spacing rule and still keeps one request per period."""
    fake = FakeTime()
    stamps = take(make_pacer(fake, rate=Rate(1, 60.0)), fake, 4)
    assert max_in_window(stamps, 60.0) == 1


def test_a_restarted_run_continues_the_spacing(tmp_path: Path) -> None:
    """A second pacer on the same state file waits for the first one's last slot: no burst."""
    fake = FakeTime()
    state = tmp_path / "pace.sqlite"
    with make_pacer(fake, state) as first:
        stamps = take(first, fake, 3)
    fake.now += 1.0  # the restart takes a second
    with make_pacer(fake, state) as second:
        stamps += take(second, fake, 3)
    assert stamps[3] - stamps[2] >= second.interval
    assert max(fake.sleeps) <= STEP


def test_in_memory_state_is_not_shared() -> None:
    """Without a state file each pacer starts afresh (used in tests only)."""
    fake = FakeTime()
    take(make_pacer(fake), fake, 1)
    before = fake.now
    take(make_pacer(fake), fake, 1)
    assert fake.now == before


def test_different_keys_do_not_share_budget(tmp_path: Path) -> None:
    """Two key ids, even in one state file, pace independently; default files differ per key."""
    fake = FakeTime()
    state = tmp_path / "pace.sqlite"
    with make_pacer(fake, state, key_id="key-a") as a, make_pacer(fake, state, key_id="key-b") as b:
        take(a, fake, 1)
        before = fake.now
        take(b, fake, 1)
        assert fake.now == before


def test_stop_returns_false_quickly_without_using_a_slot() -> None:
    """stop() is polled every step; giving up leaves the slot for the next call."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    (first,) = take(pacer, fake, 1)
    assert not pacer.wait_turn(stop=lambda: True)
    assert fake.now == first
    checks = iter([False, True])
    assert not pacer.wait_turn(stop=lambda: next(checks))
    assert fake.now - first <= STEP
    (second,) = take(pacer, fake, 1)
    assert second - first == pytest.approx(pacer.interval, abs=0.002)


def test_tick_reports_the_remaining_wait() -> None:
    """tick is called on every step with the seconds left, counting down."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    take(pacer, fake, 1)
    ticks: list[float] = []
    assert pacer.wait_turn(tick=ticks.append)
    assert len(ticks) >= pacer.interval / STEP
    assert ticks[0] == pytest.approx(pacer.interval, abs=0.002)
    assert ticks == sorted(ticks, reverse=True)


def test_slow_down_widens_the_interval_up_to_a_cap() -> None:
    """Each slow_down multiplies the spacing, which never exceeds MAX_SLOWDOWN times the base."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    base = pacer.interval
    pacer.slow_down(2.0)
    assert pacer.interval == pytest.approx(2 * base)
    stamps = take(pacer, fake, 3)
    assert stamps[2] - stamps[1] >= 2 * base
    for _ in range(10):
        pacer.slow_down(3.0)
    assert pacer.interval == pytest.approx(MAX_SLOWDOWN * base)
    with pytest.raises(ValueError, match="at least 1"):
        pacer.slow_down(0.5)


def test_slow_down_pause_pushes_the_next_slot_for_every_sharer(tmp_path: Path) -> None:
    """A pause after a 429 is stored, so another pacer on the same key waits for it too."""
    fake = FakeTime()
    state = tmp_path / "pace.sqlite"
    with make_pacer(fake, state) as hit, make_pacer(fake, state) as other:
        take(hit, fake, 1)
        paused_at = fake.now
        hit.slow_down(pause=100.0)
        (next_other,) = take(other, fake, 1)
        (next_hit,) = take(hit, fake, 1)
    assert next_other >= paused_at + 100.0
    assert next_other <= paused_at + 100.0 + other.interval + 0.01
    assert next_hit >= next_other + hit.interval


def test_repeated_long_pauses_do_not_stack() -> None:
    """Pauses are cut to MAX_PAUSE and don't add up, and are not mistaken for a clock set back."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    take(pacer, fake, 1)
    paused_at = fake.now
    for _ in range(3):
        pacer.slow_down(2.0, pause=2 * MAX_PAUSE)
    (stamp,) = take(pacer, fake, 1)
    assert paused_at + MAX_PAUSE <= stamp <= paused_at + MAX_PAUSE + pacer.interval + 0.01


def test_a_clock_set_back_does_not_stall() -> None:
    """Entries stamped far ahead (the clock was set back hours) count as one request just sent."""
    fake = FakeTime()
    pacer = make_pacer(fake)
    take(pacer, fake, 2)
    fake.now -= 3 * 3600
    restart = fake.now
    (stamp,) = take(pacer, fake, 1)
    assert stamp - restart == pytest.approx(pacer.interval, abs=0.002)


@pytest.mark.parametrize("back", [30 * 60, 90])
def test_a_clock_set_back_minutes_is_clamped_with_a_notice(tmp_path: Path, back: float) -> None:
    """Slots stored in the future by more than a window (the clock went back 30 minutes, or 90
    seconds) are clamped to now, in this run and in the next one sharing the state file: the
    next request waits one interval, not the clock's jump, and the caller hears of it."""
    fake = FakeTime()
    heard: list[float] = []
    state = tmp_path / "pace.sqlite"
    with Pacer(
        TEN_PER_MINUTE,
        state_path=state,
        key_id="k1",
        clock=fake.clock,
        sleep=fake.sleep,
        on_clock_back=heard.append,
    ) as pacer:
        take(pacer, fake, 2)
    fake.now -= back
    restart = fake.now
    with Pacer(
        TEN_PER_MINUTE,
        state_path=state,
        key_id="k1",
        clock=fake.clock,
        sleep=fake.sleep,
        on_clock_back=heard.append,
    ) as pacer:
        (stamp,) = take(pacer, fake, 1)
    assert stamp - restart == pytest.approx(pacer.interval, abs=0.002)
    assert len(heard) == 1
    assert heard[0] >= back - pacer.interval


def test_a_pause_after_a_429_is_not_mistaken_for_a_clock_jump() -> None:
    """A pause stamped an hour ahead on purpose is waited for, not clamped."""
    fake = FakeTime()
    heard: list[float] = []
    pacer = Pacer(
        TEN_PER_MINUTE,
        state_path=None,
        key_id="k1",
        clock=fake.clock,
        sleep=fake.sleep,
        on_clock_back=heard.append,
    )
    take(pacer, fake, 1)
    paused_at = fake.now
    pacer.slow_down(1.0, pause=3600)
    (stamp,) = take(pacer, fake, 1)
    assert stamp >= paused_at + 3600
    assert heard == []


@pytest.mark.parametrize("key_id", ["", "../etc", "a b", "x" * 65, "a'b"])
def test_key_ids_that_are_not_fingerprints_are_refused(key_id: str) -> None:
    """The key id becomes a file and table name, so only a plain fingerprint is accepted."""
    with pytest.raises(ValueError, match="key_id"):
        Pacer(TEN_PER_MINUTE, state_path=None, key_id=key_id)


def test_an_unusable_state_path_is_a_journal_error(tmp_path: Path) -> None:
    """A state path under a regular file gives a one-line JournalError naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match=r"pacing state .*file/pace\.sqlite"):
        Pacer(TEN_PER_MINUTE, state_path=blocker / "pace.sqlite", key_id="k1")


WORKER = """
import json, sys, time
from pathlib import Path
from bulk_ident.sync.pacing import Pacer
from bulk_ident.rates import Rate

path, start_at, n = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
last = [0.0]

def clock():
    last[0] = time.time()
    return last[0]

pacer = Pacer(Rate(20, 1.0), state_path=path, key_id="shared", clock=clock)
time.sleep(max(0.0, start_at - time.time()))
stamps = []
for _ in range(n):
    assert pacer.wait_turn()
    stamps.append(last[0])
pacer.close()
print(json.dumps(stamps))
"""


def test_two_processes_sharing_a_key_stay_within_the_limit(tmp_path: Path) -> None:
    """Two runs started together interleave their slots and together respect every window."""
    import time

    state = tmp_path / "pace.sqlite"
    start_at = str(time.time() + 1.5)  # both interpreters are up by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(state), start_at, "25"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [json.loads(w.communicate(timeout=60)[0]) for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    merged = sorted(results[0] + results[1])
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    interval = Pacer(Rate(20, 1.0), state_path=None, key_id="x").interval
    assert min(gaps) >= interval
    assert max_in_window(merged, 1.0) <= 20
    # They really ran side by side: each got slots while the other was still going.
    assert min(results[1]) < max(results[0])
    assert min(results[0]) < max(results[1])


HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path: Path) -> None:
    """filelock uses flock on Linux: the kernel drops the lock with its process; the file stays."""
    state = tmp_path / "pace.sqlite"
    lock_path = f"{state}.lock"
    assert isinstance(FileLock(lock_path), UnixFileLock)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lock_path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Timeout):
            FileLock(lock_path).acquire(timeout=0)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate()
    assert Path(lock_path).exists()
    fake = FakeTime()
    with make_pacer(fake, state) as pacer:
        assert pacer.wait_turn()
