"""``bulk-ident sync`` and rosters by URL, through the real command line: several rosters under one
key and pace, one failing without stopping the others, the worst exit code, ``--json`` for
schedulers, one log file, interruption, and csv/xlsx rosters downloaded from the sandbox."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import python_calamine
from click.testing import CliRunner
from http_fixtures import LocalServer, RecordingProxy, body
from import_helpers import KEY, env_for, held_units, make_roster, run
from openpyxl import load_workbook
from sandbox_proc import SandboxProcess, running_sandbox

from bulk_ident.cli import cli, main
from bulk_ident.cli.output import resume_command
from bulk_ident.cli.sync_cmd import worst
from bulk_ident.config import EXAMPLE
from bulk_ident.words import SUMMARY_ORDER

RUN_KEYS = {
    "roster": (str,),
    "scope": (str,),
    "base_url": (str,),
    "key": (str,),
    "dry_run": (bool,),
    "exit_code": (int,),
    "stop": (str,),
    "message": (str,),
    "error": (type(None),),
    "rows": (int,),
    "counts": (dict,),
    "requests": (dict,),
    "elapsed_seconds": (float, int),
    "results": (str, type(None)),
    "journal": (str,),
}


def assert_run_schema(obj: dict[str, Any]) -> None:
    """A run as documented in docs/onboarding.md: exactly these keys, of these types, every
    result word counted."""
    assert set(obj) == set(RUN_KEYS), set(obj) ^ set(RUN_KEYS)
    for key, types in RUN_KEYS.items():
        assert isinstance(obj[key], types), (key, obj[key])
    assert list(obj["counts"]) == [str(r) for r in SUMMARY_ORDER]
    assert all(isinstance(n, int) for n in obj["counts"].values())
    assert all(m in ("GET", "POST", "PATCH", "DELETE") for m in obj["requests"])


def bulk_ident(*args: str) -> list[str]:
    """The command line of ``bulk-ident ARGS`` in a separate process."""
    return [sys.executable, "-m", "bulk_ident", *args]


def write_config(folder: Path, text: str) -> Path:
    """``folder/sync.toml`` holding ``text``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sync_env(tmp_path: Path, sandbox: SandboxProcess) -> dict[str, str]:
    """The test key, state under tmp_path, and SANDBOX_URL for the config's ${SANDBOX_URL}."""
    return env_for(tmp_path) | {"SANDBOX_URL": sandbox.url}


# -- without a server ----------------------------------------------------------------------------


def test_worst_exit_code_wins() -> None:
    """Stopped early beats unusable, which beats rows needing attention, which beats done."""
    assert worst([]) == 0
    assert worst([0, 1, 0]) == 1
    assert worst([1, 2, 0]) == 2
    assert worst([2, 3, 1]) == 3
    assert worst([3, 0]) == 3


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        (False, "bulk-ident sync 'C:\\My Rosters\\sync.toml' --only '\"fire dept\"'"),
        (True, 'bulk-ident sync "C:\\My Rosters\\sync.toml" --only "\\"fire dept\\""'),
    ],
)
def test_resume_command_is_quoted_for_the_shell_that_ran_it(windows: bool, expected: str) -> None:
    """POSIX shells get shlex quoting; Windows gets the quoting its programs' argv parsing
    undoes (subprocess.list2cmdline)."""
    args = ["sync", "C:\\My Rosters\\sync.toml", "--only", '"fire dept"']
    assert resume_command(args, windows=windows) == expected


def test_init_writes_the_example_and_never_overwrites(tmp_path: Path) -> None:
    """--init writes the commented example; a second --init on the same file exits 2."""
    path = tmp_path / "sync.toml"
    result = CliRunner().invoke(cli, ["sync", "--init", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == EXAMPLE
    assert f"Example config written: {path}" in result.stdout
    with pytest.raises(SystemExit) as exc:
        main(["sync", "--init", str(path)])
    assert exc.value.code == 2
    assert path.read_text(encoding="utf-8") == EXAMPLE


def test_sync_needs_a_config(tmp_path: Path) -> None:
    """Neither CONFIG nor --init: a usage error (exit 2)."""
    result = CliRunner().invoke(cli, ["sync"])
    assert result.exit_code == 2
    assert "give the config file (or --init FILE" in result.stderr


def test_a_config_mistake_exits_2_with_one_line_and_a_json_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt key: nothing runs, exit 2, one line on stderr naming file, line and key; with
    --json, stdout holds the JSON object saying so."""
    config = write_config(
        tmp_path, '[[roster]]\nname = "lspd"\nsource = "r.csv"\ndelete_misssing = true\n'
    )
    with pytest.raises(SystemExit) as exc:
        main(["sync", str(config), "--json"])
    out = capsys.readouterr()
    assert exc.value.code == 2
    assert out.err == (
        f"bulk-ident: {config}, line 4: [[roster]] 'lspd': unknown key 'delete_misssing' "
        "(did you mean 'delete_missing'?)\n"
    )
    obj = json.loads(out.out)
    assert obj["command"] == "sync"
    assert obj["exit_code"] == 2
    assert obj["stop"] == "error"
    assert obj["rosters"] == []
    assert "unknown key 'delete_misssing'" in obj["error"]


def test_import_json_reports_an_unusable_roster(tmp_path: Path) -> None:
    """import --json with a roster that is not there: exit 2, the JSON object on stdout in the
    documented shape, the one line on stderr."""
    missing = tmp_path / "nope.csv"
    args = bulk_ident("import", str(missing), "--base-url", "http://127.0.0.1:9", "--json")
    done = run(args, env_for(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"bulk-ident: {missing}: file not found.\n"
    obj = json.loads(done.stdout)
    assert (obj["schema"], obj["command"], obj["exit_code"]) == (1, "import", 2)
    assert (obj["stop"], obj["error"]) == ("error", f"{missing}: file not found.")
    assert obj["roster"] == str(missing)


def test_check_reads_a_roster_by_url(tmp_path: Path) -> None:
    """check of an http address on this computer downloads and validates it; messages name the
    address; --sheet on a csv address is refused as for a csv file."""
    roster = tmp_path / "dept.csv"
    make_roster(roster, 3)
    results = tmp_path / "out.csv"
    with LocalServer({"/dept.csv": body(roster.read_bytes(), "text/csv")}) as server:
        url = server.url("/dept.csv")
        ok = CliRunner().invoke(cli, ["check", url, "--results", str(results)])
        with pytest.raises(SystemExit) as exc:
            main(["check", url, "--sheet", "2", "--results", str(results)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith(f"Checked {url} (header on row 1, UTF-8, comma-separated)\n")
    assert len(results.read_text(encoding="utf-8-sig").splitlines()) == 4
    assert exc.value.code == 2


@pytest.mark.parametrize("command", ["check", "import", "sync"])
def test_proxy_option_carries_https_downloads(tmp_path: Path, command: str) -> None:
    """--proxy is used for an https roster by check, import and sync (sync: over the config);
    here the loopback proxy refuses, which is exit 2 naming the proxy."""
    url = "https://roster.example.invalid/r.csv"
    config = write_config(
        tmp_path,
        f'[community]\nbase_url = "http://127.0.0.1:9"\nproxy = "http://127.0.0.1:9"\n\n'
        f'[[roster]]\nname = "r"\nsource = "{url}"\n',
    )
    with RecordingProxy() as proxy:
        target = str(config) if command == "sync" else url
        args = bulk_ident(command, target, "--proxy", proxy.url)
        if command == "import":
            args += ["--base-url", "http://127.0.0.1:9"]
        done = run(args, env_for(tmp_path))
        seen = [head.split("\r\n")[0] for head in proxy.seen]
    assert done.returncode == 2, done.stdout + done.stderr
    assert seen == ["CONNECT roster.example.invalid:443 HTTP/1.1"]
    assert f"{url}: the proxy {proxy.url} refused the connection (" in done.stderr


# -- against the sandbox -------------------------------------------------------------------------


def test_two_rosters_by_url_and_file_one_failing_the_worst_exit_code_wins(tmp_path: Path) -> None:
    """A roster by URL and one by file are created; one whose URL answers 404 fails on its own;
    the exit code is the worst (2); --json describes each; one log file holds them all."""
    served = tmp_path / "served"
    served.mkdir()
    police = make_roster(served / "police.csv", 4, seed="p")
    folder = tmp_path / "conf"
    folder.mkdir()
    fire = make_roster(folder / "fire.csv", 3, seed="f")
    config = write_config(
        folder,
        """\
[community]
base_url = "${SANDBOX_URL}"
rate = "20/s"
log_file = "logs/sync.log"

[[roster]]
name = "police"
source = "${SANDBOX_URL}/_files/police.csv"

[[roster]]
name = "ghost"
source = "${SANDBOX_URL}/_files/missing.csv"

[[roster]]
name = "fire"
source = "fire.csv"
""",
    )
    with running_sandbox("--rate", "50/s", "--serve", str(served)) as sandbox:
        done = run(bulk_ident("sync", str(config), "--json"), sync_env(tmp_path, sandbox))
        held = held_units(sandbox)
    assert done.returncode == 2, done.stdout + done.stderr
    assert set(held) == set(police + fire)
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert set(obj) == {
        "schema",
        "command",
        "config",
        "dry_run",
        "exit_code",
        "stop",
        "error",
        "elapsed_seconds",
        "rosters",
    }
    assert (obj["schema"], obj["command"], obj["exit_code"], obj["stop"]) == (1, "sync", 2, "done")
    assert [(r["name"], r["exit_code"]) for r in obj["rosters"]] == [
        ("police", 0),
        ("ghost", 2),
        ("fire", 0),
    ]
    police_run, ghost, fire_run = obj["rosters"]
    for entry in (police_run, fire_run):
        assert_run_schema({k: v for k, v in entry.items() if k != "name"})
    assert police_run["counts"]["created"] == 4
    assert police_run["requests"]["POST"] == 4
    assert police_run["roster"] == sandbox.url + "/_files/police.csv"
    assert police_run["results"] == str(folder / "police.results.xlsx")
    assert fire_run["counts"]["created"] == 3
    assert fire_run["scope"] == "fire"
    assert ghost["stop"] == "error"
    assert "/_files/missing.csv: not found (HTTP 404" in ghost["error"]
    # Everything human went to stderr.
    assert "== police: " in done.stderr
    assert "ghost: bulk-ident: http://127.0.0.1:" in done.stderr
    assert "  ghost: exit 2: http://127.0.0.1:" in done.stderr
    assert f"Sync of {config}: 3 rosters in " in done.stderr
    log = (folder / "logs" / "sync.log").read_text(encoding="utf-8").splitlines()
    assert log[0].endswith(f" sync bulk-ident sync {config} --json: 3 rosters")
    assert " start " + sandbox.url + "/_files/police.csv into " in log[1]
    starts = [line for line in log if " start " in line]
    summaries = [line for line in log if " summary: " in line]
    assert len(starts) == len(summaries) == 2
    assert summaries[0].endswith(
        " summary: created 4, updated 0, unchanged 0, failed 0; stop: done"
    )
    assert any(" ghost: error: " in line for line in log)
    assert log[-1].endswith(" sync done: exit 2 (police 0, ghost 2, fire 0)")
    requests = [line for line in log if " status=" in line]
    assert len(requests) == 11  # each roster: 2 accounts listed, then a POST per row
    sheet = load_workbook(folder / "police.results.xlsx")
    summary = {row[0]: row[1] for row in sheet["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["Command"] == f"bulk-ident sync {config} --json"
    assert summary["Scope"] == "police"
    assert summary["created"] == 4
    everything = done.stdout + done.stderr + "\n".join(log)
    assert KEY not in everything


def test_an_interrupted_sync_stops_the_remaining_rosters_and_resumes(tmp_path: Path) -> None:
    """SIGTERM during the first roster: it stops after the request in flight, the second is not
    started, exit 143 and the resume command; running it again finishes both, each row once."""
    served = tmp_path / "served"
    served.mkdir()
    first = make_roster(served / "a.csv", 12, seed="a")
    second = make_roster(served / "b.csv", 2, seed="b")
    config = write_config(
        tmp_path / "conf",
        """\
[community]
base_url = "${SANDBOX_URL}"
rate = "4/s"

[[roster]]
name = "a"
source = "${SANDBOX_URL}/_files/a.csv"

[[roster]]
name = "b"
source = "${SANDBOX_URL}/_files/b.csv"
""",
    )
    with running_sandbox("--rate", "50/s", "--serve", str(served)) as sandbox:
        env = sync_env(tmp_path, sandbox)
        proc = subprocess.Popen(
            bulk_ident("sync", str(config), "--json"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while (
            sum(r["method"] == "POST" for r in sandbox.requests()) < 2
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, out + err
        obj = json.loads(out)
        assert (obj["exit_code"], obj["stop"]) == (143, "interrupted")
        assert [(r["name"], r["stop"]) for r in obj["rosters"]] == [
            ("a", "interrupted"),
            ("b", "not run"),
        ]
        assert f"To resume: bulk-ident sync {config} --json" in err
        assert not any(a in {x for x, _ in second} for a, _ in held_units(sandbox))
        again = run(bulk_ident("sync", str(config)), env)
        assert again.returncode == 0, again.stdout + again.stderr
        held = held_units(sandbox)
    assert set(held) == set(first + second)
    assert all(n == 1 for n in held.values())


def test_a_dry_run_sync_sends_nothing_and_writes_plans(tmp_path: Path) -> None:
    """--dry-run: no request reaches the server; each roster's plan sheet is written; a roster
    with an invalid row is held back with advice in the config's terms."""
    served = tmp_path / "served"
    served.mkdir()
    make_roster(served / "a.csv", 3)
    with (served / "a.csv").open("a", encoding="utf-8") as fh:
        fh.write("not-a-uuid,X-1,Broken,Available\n")
    config = write_config(
        tmp_path / "conf",
        '[community]\nbase_url = "${SANDBOX_URL}"\n\n[[roster]]\nname = "a"\n'
        'source = "${SANDBOX_URL}/_files/a.csv"\n',
    )
    with running_sandbox("--rate", "50/s", "--serve", str(served)) as sandbox:
        done = run(bulk_ident("sync", str(config), "--dry-run"), sync_env(tmp_path, sandbox))
        assert sandbox.requests() == []
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Dry run: nothing was sent." in done.stdout
    assert (
        "Fix them and run again, or set skip_invalid = true in the [[roster]] 'a' to send the "
        "valid rows." in done.stdout
    )
    assert (
        "  a: exit 1: created 0, updated 0, unchanged 0, failed 0, not attempted 3, invalid 1"
        in (done.stdout)
    )
    plan = tmp_path / "conf" / "a.plan.xlsx"
    assert python_calamine.CalamineWorkbook.from_path(str(plan)).sheet_names == [
        "Results",
        "Summary",
    ]


def _xlsx_roster(path: Path, rows: list[tuple[str, str]]) -> None:
    """The rows as an xlsx roster with a title row above the header."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Sheriff's office"])
    ws.append(["Account UUID", "Unit Number", "Name"])
    for account, unit in rows:
        ws.append([account, unit, f"Deputy {unit}"])
    wb.save(path)


def test_csv_and_xlsx_rosters_by_url_import_end_to_end(tmp_path: Path) -> None:
    """import of an xlsx and a csv served over http: identifiers created, results named after the
    URL in the current folder, the xlsx results styled and summarised, --json in its shape."""
    served = tmp_path / "served"
    served.mkdir()
    csv_units = make_roster(served / "dept.csv", 3, seed="c")
    with (served / "dept.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    xlsx_units = [(a, f"X-{u}") for a, u in csv_units]
    _xlsx_roster(served / "sheriff.xlsx", xlsx_units)
    work = tmp_path / "work"
    work.mkdir()
    with running_sandbox("--rate", "50/s", "--serve", str(served)) as sandbox:
        env = env_for(tmp_path)
        outputs = []
        for name in ("dept.csv", "sheriff.xlsx"):
            args = bulk_ident(
                "import", f"{sandbox.url}/_files/{name}", "--base-url", sandbox.url, "--json"
            )
            args += ["--rate", "50/s", "--quiet"]
            done = subprocess.run(
                args, env=env, cwd=work, capture_output=True, text=True, timeout=120, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
            outputs.append(done)
        held = held_units(sandbox)
    assert set(held) == set(csv_units + xlsx_units)
    assert len(rows) == 4
    csv_json, xlsx_json = (json.loads(d.stdout) for d in outputs)
    for obj in (csv_json, xlsx_json):
        assert (obj.pop("schema"), obj.pop("command")) == (1, "import")
        assert_run_schema(obj)
        assert obj["counts"]["created"] == 3
    assert xlsx_json["roster"] == f"{sandbox.url}/_files/sheriff.xlsx"
    assert xlsx_json["scope"] == "sheriff"
    assert csv_json["results"] == "dept.results.csv"
    assert xlsx_json["results"] == "sheriff.results.xlsx"
    assert "Importing " + sandbox.url + "/_files/sheriff.xlsx, sheet 'Sheet' (header on row 2)" in (
        outputs[1].stderr
    )
    results = work / "sheriff.results.xlsx"
    wb = load_workbook(results)
    assert wb.sheetnames == ["Results", "Summary"]
    ws = wb["Results"]
    assert [c.value for c in ws[1]][:4] == ["Row", "Result", "identId", "Error"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:L4"  # 6 lead columns, the roster's 3, then 3 more
    assert {ws.cell(row=r, column=2).fill.fgColor.rgb for r in (2, 3, 4)} == {"FFC6EFCE"}
    summary = {row[0]: row[1] for row in wb["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["Roster"] == f"{sandbox.url}/_files/sheriff.xlsx, sheet 'Sheet'"
    assert summary["created"] == 3
    assert (work / "dept.results.csv").exists()
    assert KEY not in "".join(d.stdout + d.stderr for d in outputs)
