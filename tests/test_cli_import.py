"""``bulk-ident import`` and ``results`` as a user meets them: exit codes, messages, refusals
before anything is sent, interruption and resume, re-runs of an edited roster, the results sheet.
All against the sandbox in a separate process, on loopback.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from import_helpers import (
    KEY,
    env_for,
    held_units,
    import_args,
    make_roster,
    results_by_unit,
    run,
)
from sandbox_proc import running_sandbox

pytestmark = pytest.mark.e2e


def test_invalid_rows_stop_the_import_before_anything_is_sent(tmp_path: Path) -> None:
    """An invalid row without --skip-invalid: exit 1, nothing sent, the sheet says why."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 3)
    with roster.open("a", encoding="utf-8") as fh:
        fh.write("not-a-uuid,X-1,Broken,Available\n")
    results = tmp_path / "out.csv"
    with running_sandbox("--rate", "50/s") as sandbox:
        done = run(
            import_args(roster, sandbox, "50/s", "--results", str(results)), env_for(tmp_path)
        )
        assert done.returncode == 1, done.stderr
        assert sandbox.requests() == []
    assert "row 5, column 'Account UUID': 'not-a-uuid' is not an account UUID" in done.stdout
    assert "Nothing sent: 1 row invalid or duplicate" in done.stdout
    sheet = results_by_unit(results)
    assert sheet["X-1"]["Result"] == "invalid"
    assert sheet["A-000"]["Result"] == "not attempted"
    assert "--skip-invalid" in sheet["A-000"]["Error"]


def test_skip_invalid_sends_the_valid_rows_and_exits_1(tmp_path: Path) -> None:
    """With --skip-invalid the valid rows are created; the run still exits 1 for the bad row."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 3)
    with roster.open("a", encoding="utf-8") as fh:
        fh.write("not-a-uuid,X-1,Broken,Available\n")
    with running_sandbox("--rate", "50/s") as sandbox:
        args = import_args(roster, sandbox, "50/s", "--skip-invalid")
        done = run(args, env_for(tmp_path))
        assert done.returncode == 1, done.stderr
        assert set(held_units(sandbox)) == set(units)
    assert "Summary: created 3, updated 0, unchanged 0, failed 0, invalid 1" in done.stdout
    assert (tmp_path / "roster.results.csv").exists()


@pytest.mark.parametrize(
    ("extra", "env_change", "message"),
    [
        (["--rate", "ten"], {}, "rate 'ten' is not understood"),
        (["--base-url", "http://example.com"], {}, "plain http"),
        ([], {"SONORAN_API_KEY": ""}, "SONORAN_API_KEY"),
        (["--api-key-file", "/nonexistent/key.txt"], {}, "can't read the API key file"),
        (["--sheet", "2"], {}, "roster.csv"),
    ],
)
def test_unusable_options_exit_2_and_send_nothing(
    tmp_path: Path, extra: list[str], env_change: dict[str, str], message: str
) -> None:
    """A bad option or a missing key: exit 2, one line naming the problem, nothing sent."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 2)
    env = env_for(tmp_path) | env_change
    with running_sandbox("--rate", "50/s") as sandbox:
        args = import_args(roster, sandbox, "50/s")
        if "--rate" in extra:
            args[args.index("--rate") + 1] = extra[1]
        elif "--base-url" in extra:
            args[args.index("--base-url") + 1] = extra[1]
        else:
            args += extra
        done = run(args, env)
        assert sandbox.requests() == []
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_a_journal_in_use_by_another_run_is_refused(tmp_path: Path) -> None:
    """While another process holds the journal, a second import exits 2 and sends nothing."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 2)
    journal = tmp_path / "journal.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock;"
            f"lock = FileLock({str(journal) + '.lock'!r}); lock.acquire();"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with running_sandbox("--rate", "50/s") as sandbox:
            args = import_args(roster, sandbox, "50/s", "--state", str(journal))
            done = run(args, env_for(tmp_path))
            assert sandbox.requests() == []
    finally:
        holder.kill()
        holder.communicate()
    assert done.returncode == 2
    assert "in use by another bulk-ident run" in done.stderr
    # The holder was killed: its lock is gone with it, so the journal opens again.
    lock = FileLock(str(journal) + ".lock", timeout=0)
    lock.acquire()
    lock.release()


def test_a_refused_key_stops_at_once_with_exit_3(tmp_path: Path) -> None:
    """401 from the server: exit 3 after one request, the key in no output."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 3)
    with running_sandbox("--rate", "50/s", "--api-key", "the-only-good-key") as sandbox:
        done = run(import_args(roster, sandbox, "50/s"), env_for(tmp_path))
        assert len(sandbox.requests()) == 1
    assert done.returncode == 3
    assert "bulk-ident: stopped: the server refused the API key (401" in done.stderr
    assert "check SONORAN_API_KEY or --api-key-file; nothing else was sent" in done.stderr
    assert "To resume" not in done.stderr
    assert KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_writes_results_prints_resume_and_the_resume_finishes(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Ctrl-C or SIGTERM mid-run: exit 130/143, results written, resume command printed; the
    resumed run creates the rest, each row once."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 12)
    env = env_for(tmp_path)
    results = tmp_path / "out.csv"
    with running_sandbox("--rate", "50/s") as sandbox:
        args = import_args(roster, sandbox, "4/s", "--results", str(results))
        proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while (
            sum(r["method"] == "POST" for r in sandbox.requests()) < 3
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, out + err
        assert "To resume: bulk-ident import" in err
        sheet = results_by_unit(results)
        results_now = [r["Result"] for r in sheet.values()]
        assert "created" in results_now
        assert "not attempted" in results_now
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
        held = held_units(sandbox)
        assert set(held) == set(units)
        assert all(n == 1 for n in held.values())
    assert "unchanged" in {r["Result"] for r in results_by_unit(results).values()}


def test_a_rerun_of_an_edited_renamed_reordered_roster_creates_only_the_new_rows(
    tmp_path: Path,
) -> None:
    """A sync of the same roster under another name (so another scope), reordered, one unit in
    another case: rows already created are never posted again, only the new one is."""
    first = tmp_path / "roster.csv"
    units = make_roster(first, 6)
    env = env_for(tmp_path)
    with running_sandbox("--rate", "50/s") as sandbox:
        assert run(import_args(first, sandbox, "50/s"), env).returncode == 0
        rows = list(csv.reader(first.read_text(encoding="utf-8").splitlines()))
        header, body = rows[0], rows[1:]
        body.reverse()
        body[0][1] = body[0][1].lower()  # same unit, other case
        body.append([units[0][0], "NEW-1", "New Member", "Busy"])
        second = tmp_path / "renamed copy.csv"
        with second.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header, *body])
        done = run(import_args(second, sandbox, "50/s"), env)
        assert done.returncode == 0, done.stdout + done.stderr
        posts = [r for r in sandbox.requests() if r["method"] == "POST"]
        held = held_units(sandbox)
    assert len(posts) == 7
    assert len(held) == 7
    # The unit now written in lower case is the same unit: its unitNum is updated, not created.
    assert "Summary: created 1, updated 1, unchanged 5, failed 0" in done.stdout
    sheet = results_by_unit(tmp_path / "renamed copy.results.csv")
    assert sheet["NEW-1"]["Result"] == "created"
    assert sheet["A-000"]["Result"] == "unchanged"
    assert sheet["a-005"]["Changes"] == "unitNum: A-005 → a-005"


def test_results_rebuilds_the_sheet_from_the_journal_without_the_network(tmp_path: Path) -> None:
    """After the sandbox is gone, `results` writes the same sheet from the journal alone."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 4)
    env = env_for(tmp_path)
    with running_sandbox("--rate", "50/s") as sandbox:
        url = sandbox.url
        assert run(import_args(roster, sandbox, "50/s"), env).returncode == 0
    imported = results_by_unit(tmp_path / "roster.results.csv")
    rebuilt_path = tmp_path / "rebuilt.csv"
    command = [sys.executable, "-m", "bulk_ident", "results", str(roster), "--base-url", url]
    done = run([*command, "--results", str(rebuilt_path)], env)
    assert done.returncode == 0, done.stdout + done.stderr
    rebuilt = results_by_unit(rebuilt_path)
    assert {u: r["identId"] for u, r in rebuilt.items()} == {
        u: r["identId"] for u, r in imported.items()
    }
    assert all(r["identId"] for r in rebuilt.values())
    # Without the key, naming the journal file is enough: it holds one community.
    journal = next((tmp_path / "state" / "bulk-ident").glob("journal-*.sqlite"))
    keyless = env | {"SONORAN_API_KEY": ""}
    again = run([*command, "--state", str(journal), "--results", str(rebuilt_path)], keyless)
    assert again.returncode == 0, again.stdout + again.stderr
    assert results_by_unit(rebuilt_path) == rebuilt


@pytest.mark.parametrize("option", ["--results", "--state", "--log-file"])
def test_an_output_path_naming_the_roster_is_refused(tmp_path: Path, option: str) -> None:
    """--results, --state or --log-file pointing at the roster: exit 2, the roster untouched."""
    roster = tmp_path / "roster.csv"
    make_roster(roster, 2)
    before = roster.read_bytes()
    command = [sys.executable, "-m", "bulk_ident", "import", str(roster)]
    done = run(
        [*command, "--base-url", "http://127.0.0.1:9", option, str(roster)], env_for(tmp_path)
    )
    assert done.returncode == 2
    assert "is the roster itself" in done.stderr
    assert roster.read_bytes() == before


def test_a_sync_without_the_journal_creates_only_what_is_new(tmp_path: Path) -> None:
    """A sync from another computer (a fresh journal) creates only the new row: one listing per
    account, then one POST; --match-existing is still accepted (it is the default now)."""
    roster = tmp_path / "roster.csv"
    units = make_roster(roster, 6)
    env = env_for(tmp_path)
    with running_sandbox("--rate", "50/s") as sandbox:
        assert run(import_args(roster, sandbox, "50/s"), env).returncode == 0
        with roster.open("a", encoding="utf-8") as fh:
            fh.write(f"{units[0][0]},NEW-1,New Member,Busy\n")
        elsewhere = env_for(tmp_path / "other-computer")
        args = import_args(roster, sandbox, "50/s", "--match-existing")
        done = run(args, elsewhere)
        assert done.returncode == 0, done.stdout + done.stderr
        second_run = sandbox.requests()[9:]  # the first run: 3 listings, 6 POSTs
        held = held_units(sandbox)
    assert len(held) == 7
    assert all(n == 1 for n in held.values())
    assert [r["method"] for r in second_run].count("GET") == 3  # 6 rows on 3 accounts
    assert [r["method"] for r in second_run].count("POST") == 1
    assert "Summary: created 1, updated 0, already on server 6, unchanged 0, failed 0" in (
        done.stdout
    )
