"""End to end, the real CLI against the real sandbox (separate processes, loopback): exactly once
through kills, faults and a lost journal; a sync's PATCHes and DELETEs through a kill; a server
that comes up during the run; an unknown host; one journal per server however it is spelled."""

from __future__ import annotations

import csv
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from import_helpers import KEY, env_for, held_units, import_args, make_roster, run
from sandbox_proc import SandboxProcess, running_sandbox

from bulk_ident.jobs import community_of
from bulk_ident.sync.state import default_journal_path

pytestmark = pytest.mark.e2e


def _kill_after(args: list[str], env: dict[str, str], sandbox: SandboxProcess, n: int) -> None:
    """Start an import and SIGKILL it once the sandbox has seen ``n`` more requests."""
    target = len(sandbox.requests()) + n
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if len(sandbox.requests()) >= target:
            time.sleep(random.uniform(0, 0.05))
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()


def test_kills_faults_and_a_lost_journal_never_double_or_lose_a_row(tmp_path: Path) -> None:
    """Ten runs killed at random moments with 10% failing and 10% lost writes, the journal deleted
    after the fifth: the server ends holding each row exactly once."""
    random.seed(20261130)
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 40)
    env = env_for(tmp_path)
    faults = ("--rate", "50/s", "--fail", "0.1", "--lose", "0.1", "--seed", "11")
    with running_sandbox(*faults) as sandbox:
        args = import_args(roster, sandbox, "20/s")
        journals = tmp_path / "state" / "bulk-ident"
        for kill in range(10):
            _kill_after(args, env, sandbox, random.randint(2, 6))
            if kill == 4:
                for path in journals.glob("journal-*"):
                    path.unlink()
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        held = held_units(sandbox)
        log = sandbox.requests()
    assert set(held) == set(units)
    assert [u for u, n in held.items() if n != 1] == []
    posts = sum(1 for r in log if r["method"] == "POST")
    print(f"40 rows, 10 kills, journal lost once: {posts} POSTs, {len(log) - posts} other requests")


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["Account UUID", "Unit Number", "Name", "Rank"], *rows])


def test_a_sync_killed_with_patches_and_deletes_pending_ends_equal_to_the_roster(
    tmp_path: Path,
) -> None:
    """Promotions, departures and new members, killed mid-sync and run again: the server holds
    exactly the roster (ranks included), nothing twice, nothing deleted that should stay."""
    roster = tmp_path / "roster.csv"
    members = [
        [f"{i:08d}-0000-4000-8000-000000000000", f"U-{i}", f"M {i}", "Officer"] for i in range(30)
    ]
    _write(roster, members)
    env = env_for(tmp_path)
    with running_sandbox("--rate", "50/s", "--lose", "0.1", "--seed", "5") as sandbox:
        assert run(import_args(roster, sandbox, "50/s"), env).returncode == 0
        for row in members[:10]:
            row[3] = "Sergeant"
        kept = members[:25] + [
            [f"{i:08d}-0000-4000-8000-000000000000", f"N-{i}", f"New {i}", "Cadet"]
            for i in range(40, 43)
        ]
        _write(roster, kept)
        args = import_args(roster, sandbox, "10/s", "--delete-missing", "--max-delete", "10")
        for _ in range(3):
            _kill_after(args, env, sandbox, random.randint(2, 5))
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        held = sandbox.identifiers()
    found = {(i["accountUuid"], i["data"]["unitNum"]): i["data"]["rank"] for i in held}
    assert len(found) == len(held), "a unit is held twice"
    assert found == {(r[0], r[1]): r[3] for r in kept}


def test_a_server_that_comes_up_during_the_run_fails_no_row(tmp_path: Path) -> None:
    """Started while nothing listens, the import retries (saying so), and once the server is up
    every row is created once: no row failed for requests that never left."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 6)
    env = env_for(tmp_path)
    args = [
        sys.executable,
        "-m",
        "bulk_ident",
        "import",
        str(roster),
        "--base-url",
        f"http://127.0.0.1:{port}",
        "--rate",
        "50/s",
    ]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(2.0)
    with running_sandbox("--rate", "50/s", "--port", str(port)) as sandbox:
        out, err = proc.communicate(timeout=60)
        held = held_units(sandbox)
    assert proc.returncode == 0, out + err
    assert "server unreachable, retrying in 1 s (1/6)" in err
    assert set(held) == set(units)
    assert set(held.values()) == {1}
    assert "failed 0" in out


def test_an_unknown_host_stops_at_once_without_a_resume_line(tmp_path: Path) -> None:
    """A base URL whose host doesn't exist: exit 3 in about a second, one line saying to check
    --base-url, no "To resume"."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 2)
    started = time.monotonic()
    done = run(
        [
            sys.executable,
            "-m",
            "bulk_ident",
            "import",
            str(roster),
            "--base-url",
            "https://bulk-ident-test.invalid",
        ],
        env_for(tmp_path) | {"HTTPS_PROXY": "", "ALL_PROXY": ""},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "can't find host 'bulk-ident-test.invalid': check --base-url" in done.stderr
    assert "To resume" not in done.stderr
    assert time.monotonic() - started < 30
    assert KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/"),
        ("http://127.0.0.1:8765", "HTTP://127.0.0.1:8765"),
        ("https://api.sonorancad.com", "https://api.sonorancad.com:443/"),
        ("https://api.sonorancad.com", "HTTPS://API.SonoranCAD.com"),
    ],
)
def test_one_server_spelled_two_ways_is_one_journal(one: str, other: str) -> None:
    """Case, a trailing slash and the default port don't make another community."""
    assert community_of(one, KEY)[2] == community_of(other, KEY)[2]
    assert default_journal_path(community_of(one, KEY)[2]) == default_journal_path(
        community_of(other, KEY)[2]
    )
