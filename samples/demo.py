"""`make demo`: the main job on the bundled samples against the built-in sandbox, in two minutes.

Runs the real CLI in separate processes: a dry run, the sandbox on a free loopback port, the
paced import, the same import again (which sends nothing), then a config-file sync of two
rosters the sandbox serves by URL (samples/sync.toml). State stays in a temporary folder.
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
RATE = "30/min"  # the import's pace: 25 accounts checked and 25 rows created in about 100 s
SANDBOX_RATE = "300/min"  # the sandbox's limit: the import keeps well under it; the sync uses it
DEMO_KEY = "demo-key-not-secret"
EXPECTED = 29  # 25 valid rows of roster.xlsx, then the 4 of fire.csv


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

    _say(f"2. Start the local Sonoran sandbox (limit {SANDBOX_RATE} per key; serves samples/)")
    log = (work / "sandbox.log").open("wb")
    out = work / "sandbox.out"
    sandbox = subprocess.Popen(
        _cli("sandbox", "--port", "0", "--rate", SANDBOX_RATE, "--serve", str(SAMPLES)),
        stdout=out.open("wb"),
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        url = _wait_for_url(out, sandbox)
        print(f"sandbox listening on {url}", flush=True)
        _say(f"3. Import the valid rows at {RATE} (Ctrl-C stops; run it again to resume)")
        command = _cli(
            "import",
            str(roster),
            "--base-url",
            url,
            "--rate",
            RATE,
            "--skip-invalid",
            "--results",
            str(results),
        )
        _show(command, env)
        _say("4. The same import again: everything is already created, nothing is sent")
        _show(command, env)
        _say(
            "5. A scheduled sync from a config file: two rosters served by URL, one key, one "
            "pace (exit 1: the sample's four deliberate mistakes)"
        )
        sync_env = dict(env, SANDBOX_URL=url, RESULTS_DIR=str(work))
        print(f"$ export SANDBOX_URL={url} RESULTS_DIR={work}", flush=True)
        _show(_cli("sync", str(SAMPLES / "sync.toml"), "--quiet"), sync_env)
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
    return 0 if len(held) == EXPECTED else 1


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
