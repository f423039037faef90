"""``bulk-ident accounts``, and ``check``/``import`` of a username-keyed roster, as a user meets
them: the real CLI against the sandbox in a separate process on loopback; the sheet read back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SAMPLES
from import_helpers import KEY, env_for, run
from openpyxl import load_workbook
from sandbox_proc import running_sandbox

from bulk_ident.cli import cli

pytestmark = pytest.mark.e2e

SAMPLE_ACCOUNTS = SAMPLES / "accounts.json"
USERNAME_ROSTER = SAMPLES / "roster_usernames.csv"
NAME_TEMPLATE = "name={First Name} {Last Name}"


def bulk_ident(*args: str | Path) -> list[str]:
    """The command line of ``bulk-ident ARGS`` in a fresh process."""
    return [sys.executable, "-m", "bulk_ident", *map(str, args)]


def sample_accounts() -> list[dict[str, Any]]:
    """samples/accounts.json."""
    accounts: list[dict[str, Any]] = json.loads(SAMPLE_ACCOUNTS.read_text(encoding="utf-8"))
    return accounts


def test_accounts_then_check_then_import_of_a_username_roster(tmp_path: Path) -> None:
    """The admin's path: the account sheet, a check from the cache, an import on the right
    accounts, and a second import that sends nothing."""
    env = env_for(tmp_path)
    sheet = tmp_path / "accounts.xlsx"
    by_name = {a["username"].casefold(): a for a in sample_accounts()}
    with running_sandbox("--accounts", str(SAMPLE_ACCOUNTS), "--rate", "50/s") as sandbox:
        fetched = run(
            bulk_ident("accounts", "--base-url", sandbox.url, "--rate", "50/s", "-o", sheet), env
        )
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout.splitlines() == [
            f"Fetching the accounts of {sandbox.url} (every status) at 50/s",
            "  33 accounts (30 validated, 1 pending, 1 expired, 1 banned); 5 requests in 0:00",
            f"Sheet: {sheet} (by username: copy Username or Account UUID into a roster)",
            "Cached for import and check: "
            + str(next((tmp_path / "state" / "bulk-ident").glob("accounts-*.json"))),
        ]
        sent = len(sandbox.requests())
        checked = run(
            bulk_ident(
                "check",
                USERNAME_ROSTER,
                "--map",
                NAME_TEMPLATE,
                "--base-url",
                sandbox.url,
                "--results",
                tmp_path / "check.csv",
            ),
            env,
        )
        assert checked.returncode == 0, checked.stdout
        assert "12 rows read: 12 valid, 0 invalid, 0 duplicate; 0 blank rows skipped" in (
            checked.stdout
        )
        assert len(sandbox.requests()) == sent  # check reads the cache, never the network
        args = bulk_ident(
            "import",
            USERNAME_ROSTER,
            "--map",
            NAME_TEMPLATE,
            "--base-url",
            sandbox.url,
            "--rate",
            "50/s",
            "--results",
            tmp_path / "results.csv",
        )
        imported = run(args, env)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        held = sandbox.identifiers()
        again = run(args, env)
        assert again.returncode == 0
        assert len(sandbox.identifiers()) == len(held)
    assert "Fetching the community's account list" not in imported.stdout  # the cache was fresh
    assert "Summary: created 12, updated 0, unchanged 0, failed 0" in imported.stdout
    assert "Summary: created 0, updated 0, unchanged 12, failed 0" in again.stdout
    with USERNAME_ROSTER.open(encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split(",") for line in fh][1:]
    expected = {(by_name[r[0].casefold()]["uuid"], r[1], f"{r[2]} {r[3]}") for r in rows}
    assert {(i["accountUuid"], i["data"]["unitNum"], i["data"]["name"]) for i in held} == expected
    workbook = load_workbook(sheet, read_only=True)
    table = [[c or "" for c in row] for row in workbook["Accounts"].iter_rows(values_only=True)]
    workbook.close()
    assert table[0] == [
        "Username",
        "Account UUID",
        "Community User ID",
        "Account Status",
        "Joined",
        "Last Login",
    ]
    assert [r[0] for r in table[1:]] == sorted(
        (a["username"] for a in sample_accounts()), key=str.casefold
    )
    rows_by_name = {r[0]: r for r in table[1:]}
    assert rows_by_name["mhale"] == [
        "mhale",
        "3b26b243-43c6-5145-8b98-8dd462464f3e",
        "1001",
        "validated",
        "2025-02-02T18:01:00Z",
        "2026-10-02T20:01:00Z",
    ]
    assert rows_by_name["rvance"][3] == "banned"
    assert rows_by_name["iduarte"][3] == "pending"


def test_import_fetches_the_list_itself_and_names_bad_rows(tmp_path: Path) -> None:
    """Without `accounts` first, import fetches the list; a pending member's row is invalid."""
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "CAD Username,Callsign\nmhale,1-A\nMHALE ,1-A\niduarte,1-B\ndkim,1-C\n", encoding="utf-8"
    )
    env = env_for(tmp_path)
    with running_sandbox("--accounts", str(SAMPLE_ACCOUNTS), "--rate", "50/s") as sandbox:
        done = run(
            bulk_ident("import", roster, "--base-url", sandbox.url, "--rate", "50/s", "--quiet"),
            env,
        )
        held = {i["data"]["unitNum"] for i in sandbox.identifiers()}
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert (
        "Fetching the community's account list (3 usernames to resolve, and no account list yet)"
        in lines
    )
    assert "Fetching the community's account list (1 username matching no validated account)" in (
        lines
    )
    assert "  row 3: duplicate of row 2 (same account and unit number)" in lines
    assert (
        "  row 4, column 'CAD Username': username 'iduarte' is pending approval in the CAD" in lines
    )
    assert "Nothing sent: 2 rows invalid or duplicate (see above)." in lines
    assert held == set()


def test_check_without_the_account_list_says_so_once(tmp_path: Path) -> None:
    """No cached list: one line says how many rows wait for it; they are not invalid (exit 0)."""
    runner = CliRunner(env={"SONORAN_API_KEY": KEY, "XDG_STATE_HOME": str(tmp_path)})
    out = tmp_path / "check.csv"
    result = runner.invoke(
        cli, ["check", str(USERNAME_ROSTER), "--map", NAME_TEMPLATE, "--results", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:3] == [
        "  12 rows read: 0 valid, 0 invalid, 0 duplicate, 12 not checked; 0 blank rows skipped; "
        "0 warnings",
        "  12 rows name accounts by username: run 'bulk-ident accounts' first to check them",
    ]
    assert (
        out.read_text(encoding="utf-8-sig")
        .splitlines()[1]
        .startswith(
            "2,not checked,username 'mhale': not checked; run 'bulk-ident accounts' first,mhale,"
        )
    )


def test_accounts_with_a_refused_key_exits_3_saying_to_check_it(tmp_path: Path) -> None:
    """A 401: one line saying to check the key (never showing it), exit 3, nothing written."""
    key_file = tmp_path / "sandbox.key"
    key_file.write_text("the-only-accepted-key", encoding="utf-8")
    args = ("--accounts", str(SAMPLE_ACCOUNTS), "--api-key-file", str(key_file))
    with running_sandbox(*args) as sandbox:
        done = run(
            bulk_ident("accounts", "--base-url", sandbox.url, "-o", tmp_path / "a.csv"),
            env_for(tmp_path),
        )
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        "bulk-ident: stopped: the server refused the API key (401): "
        "check SONORAN_API_KEY or --api-key-file; nothing else was sent"
    ]
    assert KEY not in done.stdout + done.stderr
    assert not (tmp_path / "a.csv").exists()


def test_accounts_of_one_status_as_csv(tmp_path: Path) -> None:
    """--status banned --output x.csv lists the banned accounts only, and caches nothing."""
    out = tmp_path / "banned.csv"
    with running_sandbox("--accounts", str(SAMPLE_ACCOUNTS), "--rate", "50/s") as sandbox:
        done = run(
            bulk_ident(
                "accounts",
                "--base-url",
                sandbox.url,
                "--rate",
                "50/s",
                "--status",
                "Banned",
                "-o",
                out,
            ),
            env_for(tmp_path),
        )
    assert done.returncode == 0, done.stderr
    assert "  1 account (1 banned); 1 request in 0:00" in done.stdout
    assert "Cached" not in done.stdout
    [banned] = [a for a in sample_accounts() if a["status"] == 4]
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "Username,Account UUID,Community User ID,Account Status,Joined,Last Login",
        f"rvance,{banned['uuid']},1033,banned,{banned['joined']},{banned['lastLogin']}",
    ]


def test_accounts_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    """Ctrl-C while waiting for the next page: exit 130 at once, saying how to start again."""
    accounts = tmp_path / "many.json"
    many = [
        {"uuid": f"{n:08x}-0000-4000-8000-000000000000", "username": f"u{n}"} for n in range(250)
    ]
    accounts.write_text(json.dumps(many), encoding="utf-8")
    with running_sandbox("--accounts", str(accounts), "--rate", "50/s") as sandbox:
        proc = subprocess.Popen(
            bulk_ident(
                "accounts", "--base-url", sandbox.url, "--rate", "1/min", "-o", tmp_path / "a.xlsx"
            ),
            env=env_for(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not sandbox.requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
        sent = len(sandbox.requests())
    assert proc.returncode == 130, err
    assert sent == 1
    assert "SIGINT: finishing the request in flight, then stopping" in err
    assert "Interrupted. To start again: bulk-ident accounts --base-url" in err
    assert not (tmp_path / "a.xlsx").exists()


def test_accounts_output_must_be_a_file(tmp_path: Path) -> None:
    """A folder as --output is refused before anything is sent (exit 2)."""
    runner = CliRunner(env={"SONORAN_API_KEY": KEY, "XDG_STATE_HOME": str(tmp_path)})
    result = runner.invoke(
        cli, ["accounts", "--base-url", "http://127.0.0.1:9", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
