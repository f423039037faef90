"""`make demo`: the main job on the bundled samples against the built-in sandbox, in a minute.

Runs the real CLI in separate processes: a dry run, the sandbox on a free loopback port, the
paced import, and the same import again (which sends nothing); then a roster that names members by
CAD username (and splits their names) against a sandbox holding the sample accounts: the account
list first, then the import. State stays in a temporary folder.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent
RATE = "30/min"  # the sandbox's limit and the import's pace: 25 rows in about 50 s
FAST = "600/min"  # the username part: 5 + 12 + 12 requests in a few seconds
DEMO_KEY = "demo-key-not-secret"
NAME_TEMPLATE = "name={First Name} {Last Name}"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulk_ident", *args]


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(command: list[str], env: dict[str, str]) -> int:
    print("$ bulk-ident " + shlex.join(command[3:]), flush=True)
    return subprocess.call(command, env=env)


def _start_sandbox(work: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    out = work / f"{name}.out"
    with (work / f"{name}.log").open("wb") as log, out.open("wb") as stdout:
        return subprocess.Popen(
            _cli("sandbox", "--port", "0", *args),
            stdout=stdout,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )


def _held(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/_sandbox/identifiers", timeout=10) as answer:
        held: list[dict[str, Any]] = json.load(answer)
    return held


def main() -> int:
    """Run the demo; 0 when the sandbox ends up holding one identifier per valid row."""
    roster = SAMPLES / "roster.xlsx"
    # Kept afterwards, so that the results sheet can be opened.
    work = Path(tempfile.mkdtemp(prefix="bulk-ident-demo-"))
    env = dict(os.environ, SONORAN_API_KEY=DEMO_KEY, XDG_STATE_HOME=str(work / "state"))
    results = work / "roster.results.xlsx"
    _say("1. Dry run: validate the roster, nothing is sent")
    _show(_cli("check", str(roster), "--results", str(work / "check.xlsx")), env)

    _say(f"2. Start the local Sonoran sandbox (limit {RATE} per key)")
    sandbox = _start_sandbox(work, "sandbox", "--rate", RATE)
    try:
        url = _wait_for_url(work / "sandbox.out", sandbox)
        print(f"sandbox listening on {url}", flush=True)
        _say(f"3. Import the valid rows at {RATE} (Ctrl-C stops; run it again to resume)")
        state = work / "journal.sqlite"
        command = _cli(
            "import",
            str(roster),
            "--base-url",
            url,
            "--rate",
            RATE,
            "--skip-invalid",
            "--state",
            str(state),
            "--results",
            str(results),
        )
        _show(command, env)
        _say("4. The same import again: everything is already created, nothing is sent")
        _show(command, env)
        held = _held(url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    _say(f"The sandbox held {len(held)} identifiers. Results sheet: {results}")
    for ident in held[:3]:
        data = ident["data"]
        print(f"  identId {ident['identId']}: {data['unitNum']} {data['name']}")
    print("  ...")
    usernames_ok = _usernames(work, env)
    return 0 if len(held) == 25 and usernames_ok else 1


def _usernames(work: Path, env: dict[str, str]) -> bool:
    """Steps 5-6: a roster naming members by CAD username, with first and last names apart."""
    roster = SAMPLES / "roster_usernames.csv"
    accounts = SAMPLES / "accounts.json"
    _say(f"5. A roster by CAD username: a sandbox holding {accounts.name} (limit {FAST})")
    sandbox = _start_sandbox(work, "sandbox-accounts", "--rate", FAST, "--accounts", str(accounts))
    results = work / "roster_usernames.results.csv"
    try:
        url = _wait_for_url(work / "sandbox-accounts.out", sandbox)
        print(f"sandbox listening on {url}", flush=True)
        sheet = work / "accounts.xlsx"
        _show(_cli("accounts", "--base-url", url, "--rate", FAST, "--output", str(sheet)), env)
        _say("6. Import it: usernames resolve from that list, names are built from two columns")
        command = _cli(
            "import",
            str(roster),
            "--map",
            NAME_TEMPLATE,
            "--base-url",
            url,
            "--rate",
            FAST,
            "--state",
            str(work / "journal-usernames.sqlite"),
            "--results",
            str(results),
        )
        _show(command, env)
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
