"""The page in a real browser (Debian's chromium, driven by Playwright): the whole flow on
samples/roster.xlsx against the sandbox, each in its own process, over loopback only.

Fix an invalid cell, download the corrected roster, fetch the account list, preview, sync, stop
and resume, download the results, write the scheduled sync: the server holds each row once.
Skipped, saying how to get it, when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sandbox_proc import running_sandbox

from bulk_ident.prepare import prepare

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (CI runs as root), and no background connections: this machine's closed
# network refuses them, and each refusal is noise (see the machine notes).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLES = Path(__file__).resolve().parent.parent.parent / "samples"
KEY = "browser-secret-key-4e1d"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright (never Playwright's own browser download)."""
    if not CHROMIUM.exists():
        pytest.skip("no chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


def start_ui(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """``bulk-ident ui --no-browser`` with its state under tmp_path; returns it and its address."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("SONORAN_API_KEY", None)  # the key is typed into the page
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulk_ident", "ui", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("bulk-ident ui: open "), line
    return proc, line.split()[-1]


def test_the_whole_flow_in_a_browser(tmp_path: Path, browser: Any) -> None:
    """Roster -> fix a cell -> accounts -> preview -> sync, stop, resume -> results -> schedule,
    in chromium; the sandbox ends up holding each of the 26 valid rows exactly once."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    accounts = str(SAMPLES / "accounts.json")
    with running_sandbox("--rate", "600/min", "--accounts", accounts) as sandbox:
        ui, address = start_ui(tmp_path)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.on(
            "console",
            lambda msg: problems.append(msg.text) if msg.type == "error" else None,
        )
        try:
            # 1. Roster: drop the file.
            page.goto(address)
            assert "token=" not in page.url  # swapped for a cookie at once
            page.set_input_files("#file", str(SAMPLES / "roster.xlsx"))
            page.wait_for_selector("#header-found")
            assert "row 3" in page.inner_text("#header-found")

            # 2. Columns: the odd headers are mapped by their names.
            page.click("#nav-columns")
            page.wait_for_selector("#apply")
            assert page.eval_on_selector("#col-1", "e => e.value") == "unitNum"
            assert page.eval_on_selector("#col-9", "e => e.value") == ""  # Notes: not sent
            page.click("#apply")
            page.wait_for_selector("#review")

            # 3. Review: the problem on its cell, the filter, a fix re-checked at once.
            status = page.locator("#row-25 td[data-col='6']")
            assert "problem" in (status.get_attribute("class") or "")
            assert "'On Patrol' is not a status" in (status.get_attribute("title") or "")
            assert "25 valid" in page.inner_text("#tally")
            page.click("#only-problems")
            page.wait_for_selector("#show-all")
            assert page.locator("#rows tr").count() == 4
            page.fill("#c-25-6", "Available")
            page.press("#c-25-6", "Tab")
            page.wait_for_selector("#row-25.valid")
            assert "problem" not in (status.get_attribute("class") or "")
            assert "26 valid" in page.inner_text("#tally")
            with page.expect_download() as corrected:
                page.click("#download-corrected")
            corrected_path = tmp_path / "corrected.xlsx"
            corrected.value.save_as(corrected_path)
            fixed = {c.row.number: c for c in prepare(corrected_path).rows}
            assert fixed[25].row.values[6] == "Available"
            assert fixed[25].valid
            timings["roster to review"] = time.monotonic() - began

            # 4. Connect, and fetch the account list.
            page.click("#nav-connect")
            page.fill("#base_url", sandbox.url)
            page.fill("#api_key", KEY)
            page.fill("#rate", "300/min")
            page.click("#save-connection")
            page.wait_for_selector("#fetch-accounts")
            assert page.input_value("#api_key") == ""
            assert KEY not in page.content()
            page.click("#fetch-accounts")
            page.wait_for_selector("#account-issues")
            assert page.inner_text("#accounts-summary").startswith("33 accounts")
            assert "validated" in page.inner_text("#account-issues")

            # 5. Preview.
            mark = time.monotonic()
            page.click("#nav-preview")
            page.check("#skip_invalid")
            page.click("#run-preview")
            page.wait_for_selector("#plan")
            assert page.inner_text("#plan-summary") == "26 to create, 2 invalid, 1 duplicate"
            assert "at 300/min" in page.inner_text("#estimate")
            assert sandbox.identifiers() == []

            # 6. Sync: start, stop after a few, resume.
            page.click("#nav-sync")
            page.click("#start")
            page.wait_for_function(
                "() => { const j = document.querySelector('#job');"
                " return j !== null && Number(j.dataset.created) >= 3 }"
            )
            page.click("#stop")
            page.wait_for_selector("#start")
            assert page.inner_text("#start") == "Resume"
            assert "stopped" in page.inner_text("#phase")
            held = len(sandbox.identifiers())
            assert 3 <= held < 26, held
            page.click("#start")
            # The stopped run's page also links to its results: wait for this run's end.
            page.wait_for_function(
                "n => { const j = document.querySelector('#job');"
                " return j !== null && j.dataset.state === 'ended'"
                " && Number(j.dataset.created) === n"
                " && document.querySelector('#phase').textContent === 'finished' }",
                arg=26 - held,
            )
            page.wait_for_selector("#to-results")
            timings["preview and sync"] = time.monotonic() - mark

            # 7. Results.
            page.click("#to-results")
            page.wait_for_selector("#summary")
            summary = page.inner_text("#summary")
            assert f"created {26 - held}," in summary
            assert f"unchanged {held}," in summary
            assert "failed 0" in summary
            with page.expect_download() as results:
                page.click("#download-results")
            results_path = tmp_path / "results.xlsx"
            results.value.save_as(results_path)

            # 8. Schedule.
            config = tmp_path / "sync.toml"
            page.click("#nav-schedule")
            page.fill("#source", str(SAMPLES / "roster.xlsx"))
            page.fill("#config_path", str(config))
            page.click("#save-schedule")
            page.wait_for_selector("#written")
            assert f"sync {config} --json --log-file" in page.inner_text("#cron-line")
        finally:
            context.close()
            ui.send_signal(signal.SIGINT)
            _, err = ui.communicate(timeout=30)
        assert ui.returncode == 0, err
        assert problems == []

        # The server holds each valid row exactly once, and the results sheet names them.
        held_units = Counter(
            (i["accountUuid"], i["data"]["unitNum"]) for i in sandbox.identifiers()
        )
        ident_ids = {i["data"]["unitNum"]: i["identId"] for i in sandbox.identifiers()}
    assert len(held_units) == 26
    assert set(held_units.values()) == {1}
    workbook = load_workbook(results_path, read_only=True)
    sheet = workbook.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    workbook.close()  # a read-only workbook keeps its file open until closed
    header = [str(v) for v in rows[0]]
    unit_col, result_col, ident_col = header.index("unit #"), header.index("Result"), 2
    done = {r[unit_col]: r for r in rows[1:] if r[result_col] in ("created", "unchanged")}
    assert len(done) == 26
    assert all(int(str(r[ident_col])) == ident_ids[u] for u, r in done.items())
    text = config.read_text("utf-8")
    assert KEY not in text
    assert tomllib.loads(text)["roster"][0]["source"] == str(SAMPLES / "roster.xlsx")
    timings["whole test"] = time.monotonic() - began
    print("browser flow timings:", {k: round(v, 1) for k, v in timings.items()})
