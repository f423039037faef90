"""Shared by the end-to-end import tests: rosters, the import command line, the sandbox's view."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from sandbox_proc import SandboxProcess

KEY = "e2e-secret-key-7f3a91"
ROWS = 40


def make_roster(path: Path, rows: int = ROWS, *, seed: str = "a") -> list[tuple[str, str]]:
    """A CSV roster of distinct units (some accounts hold several); returns (account, unitNum)."""
    units = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Account UUID", "Unit Number", "Name", "Status"])
        for i in range(rows):
            account = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{seed}-member-{i // 2}"))
            unit = f"{seed.upper()}-{i:03d}"
            writer.writerow([account, unit, f"Member {i}", "Available"])
            units.append((account, unit))
    return units


def env_for(tmp_path: Path) -> dict[str, str]:
    """The environment of an import: the test key, and state kept under tmp_path."""
    env = dict(os.environ)
    env["SONORAN_API_KEY"] = KEY
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.pop("CI", None)
    return env


def import_args(roster: Path, sandbox: SandboxProcess, rate: str, *extra: str) -> list[str]:
    """The command line of an import into the sandbox."""
    return [
        sys.executable,
        "-m",
        "bulk_ident",
        "import",
        str(roster),
        "--base-url",
        sandbox.url,
        "--rate",
        rate,
        "--quiet",
        *extra,
    ]


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output."""
    return subprocess.run(
        args,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def held_units(sandbox: SandboxProcess) -> Counter[tuple[str, str]]:
    """How many identifiers the sandbox holds per (account, unitNum)."""
    return Counter((i["accountUuid"], i["data"]["unitNum"]) for i in sandbox.identifiers())


def ident_ids(sandbox: SandboxProcess) -> dict[tuple[str, str], int]:
    """The sandbox's identId per (account, unitNum)."""
    return {(i["accountUuid"], i["data"]["unitNum"]): i["identId"] for i in sandbox.identifiers()}


def results_by_unit(path: Path) -> dict[str, dict[str, str]]:
    """The results sheet (CSV) as a dict by unit number."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {r["Unit Number"]: r for r in csv.DictReader(fh)}
