"""`make demo`: the three jobs on the bundled samples against the built-in sandbox, in about a
minute.

Runs the real CLI in separate processes on loopback: a dry run; a paced import and the same import
again (which sends nothing); a scheduled sync after editing the roster (one promotion, one
departure), previewed with --dry-run, then run; a config-file sync of two rosters served by URL;
and a roster naming members by CAD username (with first and last names apart) against a sandbox
holding the sample accounts. State stays in a temporary folder, kept for a look afterwards.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent
RATE = "120/min"  # the import's pace: 25 accounts checked and 25 rows created in about 25 s
SANDBOX_RATE = "600/min"  # the sandbox's limit per key
DEMO_KEY = "demo-key-not-secret"
NAME_TEMPLATE = "name={First Name} {Last Name}"
PROMOTED = ("1-ADAM-13", "Corporal")  # the unit promoted in step 5, and its new rank
DEPARTED = "T-02"  # the unit whose member leaves in step 5
BROKEN = ("1-ADAM-17", "1-ADAM-18")  # the sample's rows without a usable account


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulk_ident", *args]


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(command: list[str], env: dict[str, str]) -> int:
    print("$ bulk-ident " + shlex.join(command[3:]), flush=True)
    return subprocess.call(command, env=env)


def _start_sandbox(work: Path, name: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    out = work / f"{name}.out"
    with (work / f"{name}.log").open("wb") as log, out.open("wb") as stdout:
        proc = subprocess.Popen(
            _cli("sandbox", "--port", "0", *args),
            stdout=stdout,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    url = _wait_for_url(out, proc)
    print(f"sandbox listening on {url}", flush=True)
    return proc, url


def _held(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/_sandbox/identifiers", timeout=10) as answer:
        held: list[dict[str, Any]] = json.load(answer)
    return held


def _edited_roster(path: Path) -> None:
    """The sample roster a month later: one member promoted, one gone, and the two rows without a
    usable account fixed by removing them (a row whose account can't be read holds every
    deletion back: it might be the member who seems to have left)."""
    with (SAMPLES / "roster.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[2]
    unit, rank = header.index("unit #"), header.index("RANK")
    kept = rows[:3]
    for row in rows[3:]:
        if row[unit] in (DEPARTED, *BROKEN):
            continue
        if len(row) > unit and row[unit] == PROMOTED[0]:
            row[rank] = PROMOTED[1]
        kept.append(row)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(kept)


def main() -> int:
    """Run the demo; 0 when each sandbox ends up holding exactly what its rosters say."""
    work = Path(tempfile.mkdtemp(prefix="bulk-ident-demo-"))
    served = work / "served"
    served.mkdir()
    shutil.copy(SAMPLES / "fire.csv", served / "fire.csv")
    env = dict(os.environ, SONORAN_API_KEY=DEMO_KEY, XDG_STATE_HOME=str(work / "state"))
    roster = SAMPLES / "roster.xlsx"
    results = work / "roster.results.xlsx"
    _say("1. Dry run: validate the roster, nothing is sent")
    _show(_cli("check", str(roster), "--results", str(work / "roster.check.xlsx")), env)

    _say(f"2. Start the local Sonoran sandbox (limit {SANDBOX_RATE} per key)")
    sandbox, url = _start_sandbox(work, "sandbox", "--rate", SANDBOX_RATE, "--serve", str(served))
    try:
        _say(
            f"3. Import the valid rows at {RATE}: each account is checked once for units already "
            "there, then each row is created (Ctrl-C stops; run it again to resume)"
        )
        common = ["--base-url", url, "--rate", RATE, "--skip-invalid"]
        _show(_cli("import", str(roster), *common, "--results", str(results)), env)
        _say("4. The same import again: everything is unchanged, nothing is sent")
        _show(_cli("import", str(roster), *common, "--results", str(results)), env)

        edited = served / "roster.csv"
        _edited_roster(edited)
        _say(
            f"5. A month later: {PROMOTED[0]} is promoted to {PROMOTED[1]}, {DEPARTED} left, two "
            "broken rows are gone. Preview the sync, then run it"
        )
        sync = [*common, "--delete-missing", "--results", str(work / "roster.sync.xlsx")]
        _show(_cli("import", str(edited), *sync, "--dry-run"), env)
        _show(_cli("import", str(edited), *sync), env)

        _say(
            "6. A scheduled sync from a config file (samples/sync.toml): two rosters served by "
            "URL, one key, one pace (exit 1: the sample's deliberate mistakes)"
        )
        sync_env = dict(env, SANDBOX_URL=url, RESULTS_DIR=str(work))
        print(f"$ export SANDBOX_URL={url} RESULTS_DIR={work}", flush=True)
        _show(_cli("sync", str(SAMPLES / "sync.toml"), "--quiet"), sync_env)
        held = _held(url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    ranks = {i["data"]["unitNum"]: i["data"]["rank"] for i in held}
    main_ok = (
        len(held) == 28
        and len(ranks) == 28
        and DEPARTED not in ranks
        and ranks.get(PROMOTED[0]) == PROMOTED[1]
    )
    _say(
        f"The sandbox held {len(held)} identifiers: 25 - 1 departed + 4 firefighters, "
        f"{PROMOTED[0]} a {ranks.get(PROMOTED[0])}. Results sheet: {results}"
    )
    return 0 if main_ok and _usernames(work, env) else 1


def _usernames(work: Path, env: dict[str, str]) -> bool:
    """Steps 7-8: a roster naming members by CAD username, with first and last names apart."""
    roster = SAMPLES / "roster_usernames.csv"
    accounts = SAMPLES / "accounts.json"
    _say(f"7. A roster by CAD username: a sandbox holding {accounts.name}; fetch the account list")
    sandbox, url = _start_sandbox(
        work, "sandbox-accounts", "--rate", SANDBOX_RATE, "--accounts", str(accounts)
    )
    results = work / "roster_usernames.results.csv"
    try:
        sheet = work / "accounts.xlsx"
        fast = ["--base-url", url, "--rate", SANDBOX_RATE]
        _show(_cli("accounts", *fast, "--output", str(sheet)), env)
        _say("8. Import it: usernames resolve from that list, names are built from two columns")
        _show(
            _cli("import", str(roster), "--map", NAME_TEMPLATE, *fast, "--results", str(results)),
            env,
        )
        held = _held(url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    by_name = {
        a["username"].casefold(): a["uuid"]
        for a in json.loads(accounts.read_text(encoding="utf-8"))
    }
    with roster.open(encoding="utf-8", newline="") as fh:
        wanted = {
            (
                by_name[r["Username"].casefold()],
                r["Unit Number"],
                f"{r['First Name']} {r['Last Name']}",
            )
            for r in csv.DictReader(fh)
        }
    got = {(i["accountUuid"], i["data"]["unitNum"], i["data"]["name"]) for i in held}
    right = got == wanted and len(held) == len(wanted)
    verdict = "each on its member's account" if right else "NOT as the roster says"
    _say(f"The sandbox held {len(held)} identifiers, {verdict}. Results sheet: {results}")
    return right


def _wait_for_url(out: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        first, newline, _ = out.read_text(encoding="utf-8").partition("\n")
        if newline:
            return first.rsplit(" ", 1)[-1]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit("the sandbox did not start")


if __name__ == "__main__":
    sys.exit(main())
