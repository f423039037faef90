"""`make demo`: the main job on the bundled samples against the built-in sandbox, in a minute.

Runs the real CLI in separate processes: a dry run, the sandbox on a free loopback port, the
paced import, and the same import again (which sends nothing). State stays in a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
RATE = "30/min"  # the sandbox's limit and the import's pace: 25 rows in about 50 s
DEMO_KEY = "demo-key-not-secret"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulk_ident", *args]


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(command: list[str], env: dict[str, str]) -> int:
    print("$ bulk-ident " + " ".join(command[3:]), flush=True)
    return subprocess.call(command, env=env)


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
    log = (work / "sandbox.log").open("wb")
    out = work / "sandbox.out"
    sandbox = subprocess.Popen(
        _cli("sandbox", "--port", "0", "--rate", RATE),
        stdout=out.open("wb"),
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        url = _wait_for_url(out, sandbox)
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
        with urllib.request.urlopen(url + "/_sandbox/identifiers", timeout=10) as answer:
            held = json.load(answer)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        log.close()
    _say(f"The sandbox held {len(held)} identifiers. Results sheet: {results}")
    for ident in held[:3]:
        data = ident["data"]
        print(f"  identId {ident['identId']}: {data['unitNum']} {data['name']}")
    print("  ...")
    return 0 if len(held) == 25 else 1


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
