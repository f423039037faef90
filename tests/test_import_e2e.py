"""End to end: the real ``bulk-ident import`` CLI against the real sandbox, as separate processes
over loopback: crashes (SIGKILL), server faults, pacing across restarts and concurrent runs.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from import_helpers import (
    KEY,
    ROWS,
    env_for,
    held_units,
    ident_ids,
    import_args,
    make_roster,
    results_by_unit,
    run,
)
from sandbox_proc import SandboxProcess, running_sandbox

pytestmark = pytest.mark.e2e


def windows_ok(times: list[float], count: int, period: float) -> tuple[bool, int]:
    """Whether no window of ``period`` seconds holds more than ``count`` of ``times``."""
    times = sorted(times)
    worst = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - period:
            j += 1
        worst = max(worst, i - j + 1)
    return worst <= count, worst


def assert_exactly_once(
    sandbox: SandboxProcess,
    units: list[tuple[str, str]],
    results: Path,
    everything: list[tuple[str, str]] | None = None,
) -> None:
    """One identifier per row, none extra, and the results sheet names the sandbox's identIds.

    ``everything`` is what the sandbox should hold in all, when other imports shared it.
    """
    held = held_units(sandbox)
    assert set(held) == set(everything or units), "missing or unexpected identifiers"
    assert all(n == 1 for n in held.values()), {k: n for k, n in held.items() if n > 1}
    ids = ident_ids(sandbox)
    sheet = results_by_unit(results)
    for account, unit in units:
        assert sheet[unit]["Result"] in ("created", "unchanged", "already on server"), sheet[unit]
        assert sheet[unit]["identId"] == str(ids[(account, unit)])


def test_sigkill_at_random_moments_then_resume_creates_each_row_once(tmp_path: Path) -> None:
    """Killed with SIGKILL at 12 random moments and resumed, every row exists exactly once."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster)
    results = tmp_path / "results.csv"
    env = env_for(tmp_path)
    rng = random.Random(20261130)
    with running_sandbox("--rate", "50/s") as sandbox:
        args = import_args(roster, sandbox, "20/s", "--results", str(results))
        kills = 0
        for _ in range(12):
            # Kill a random short time after the run's 1st-3rd request: before a request, while
            # one is in flight, or between the server's answer and the journal's commit.
            seen = len(sandbox.requests())
            target = seen + rng.randint(1, 3)
            proc = subprocess.Popen(
                args,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 30
            while (
                proc.poll() is None
                and len(sandbox.requests()) < target
                and time.monotonic() < deadline
            ):
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.06))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert kills >= 10
        assert_exactly_once(sandbox, units, results)
        log = sandbox.requests()
    assert all(r["status"] != 429 for r in log)
    assert KEY not in done.stdout + done.stderr + sandbox.stdout + sandbox.stderr
    # Nor in any file the runs left: journal, its WAL, the pace state, the results sheet.
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("journal-") for p in left)
    assert any(p.name.startswith("pace-") for p in left)
    assert [p for p in left if KEY.encode() in p.read_bytes()] == []


def test_server_faults_never_lose_or_double_a_row(tmp_path: Path) -> None:
    """With 10% of creates failing (500) and 10% answered never (stored), every row exists once."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster)
    results = tmp_path / "results.csv"
    log_file = tmp_path / "requests.log"
    env = env_for(tmp_path)
    faults = ("--fail", "0.1", "--lose", "0.1", "--seed", "7", "--rate", "50/s")
    with running_sandbox(*faults) as sandbox:
        args = import_args(
            roster, sandbox, "25/s", "--results", str(results), "--log-file", str(log_file)
        )
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_exactly_once(sandbox, units, results)
        log = sandbox.requests()
    outcomes = Counter(r["outcome"] for r in log if r["method"] == "POST")
    posts = sum(outcomes.values())
    assert outcomes["fail"] > 0
    assert outcomes["lose"] > 0
    assert posts < 1.5 * ROWS, outcomes
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert " start roster.csv into http://127.0.0.1:" in lines[0]
    assert " summary: created 40, updated 0, unchanged 0, failed 0; stop: done" in lines[-1]
    requests = lines[1:-1]
    assert len(requests) == len(log)
    assert all("row=" in line and " status=" in line for line in requests)
    assert KEY not in log_file.read_text(encoding="utf-8") + done.stdout + done.stderr


def _post_times(log: list[dict[str, Any]]) -> list[float]:
    return [r["time"] for r in log if not r["path"].startswith("/_sandbox")]


def test_pace_holds_across_a_kill_and_resume(tmp_path: Path) -> None:
    """The server never counts more than the limit in any window, across a kill and a resume."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 30)
    results = tmp_path / "results.csv"
    env = env_for(tmp_path)
    with running_sandbox("--rate", "5/s") as sandbox:
        args = import_args(roster, sandbox, "5/s", "--results", str(results))
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(sandbox.requests()) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_exactly_once(sandbox, units, results)
        log = sandbox.requests()
    assert all(r["status"] != 429 for r in log)
    ok, worst = windows_ok(_post_times(log), 5, 1.0)
    assert ok, f"{worst} requests in one 1 s window"


def test_two_concurrent_imports_with_one_key_share_the_limit(tmp_path: Path) -> None:
    """Two imports run at once with one key (into two communities: the server spelled two ways)
    stay within the limit together; a third into the first's community, with its own --state,
    is refused and told which process is running."""
    env = env_for(tmp_path)
    rosters = []
    for name in ("a", "b"):
        roster = tmp_path / f"{name}.csv"
        rosters.append((roster, make_roster(roster, 15, seed=name)))
    with running_sandbox("--rate", "5/s") as sandbox:

        def start(roster: Path, url: str, journal: str) -> subprocess.Popen[str]:
            args = import_args(
                roster,
                sandbox,
                "5/s",
                "--state",
                str(tmp_path / journal),
                "--results",
                str(tmp_path / f"{roster.stem}.results.csv"),
            )
            args[args.index("--base-url") + 1] = url
            return subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

        other = sandbox.url.replace("127.0.0.1", "localhost")
        procs = [start(rosters[0][0], sandbox.url, "a.journal"), start(rosters[1][0], other, "b.j")]
        deadline = time.monotonic() + 30
        owners = tmp_path / "state" / "bulk-ident"
        while len(list(owners.glob("community-*.owner"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        third = start(rosters[0][0], sandbox.url + "/", "third.journal")
        _, refused = third.communicate(timeout=60)
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert third.returncode == 2
        assert "another bulk-ident run is importing into this community" in refused
        assert f"(process {procs[0].pid} " in refused or f"(process {procs[1].pid} " in refused
        everything = rosters[0][1] + rosters[1][1]
        for roster, units in rosters:
            results = tmp_path / f"{roster.stem}.results.csv"
            assert_exactly_once(sandbox, units, results, everything)
        log = sandbox.requests()
    assert all(r["status"] != 429 for r in log)
    ok, worst = windows_ok(_post_times(log), 5, 1.0)
    assert ok, f"{worst} requests in one 1 s window"
    # Both ran at the same time: their requests interleave rather than one after the other.
    accounts_a = {a for a, _ in rosters[0][1]}
    posts = [r for r in log if r["method"] == "POST"]
    order = ["a" if r["path"].split("/")[4] in accounts_a else "b" for r in posts]
    assert order.count("a") == order.count("b") == 15
    assert "".join(order) not in ("a" * 15 + "b" * 15, "b" * 15 + "a" * 15)
