"""The page and the command line continue each other's runs: one journal (same state folder,
same community), against the real sandbox in its own process, over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_proc import running_sandbox
from starlette.testclient import TestClient
from web_helpers import TOKEN, wait_until

from bulk_ident.web.app import PageSettings, create_app
from bulk_ident.web.workspace import Workspace

pytestmark = pytest.mark.e2e

ROSTER = Path(__file__).resolve().parent.parent / "samples" / "roster.xlsx"
KEY = "e2e-page-key-6b20"
RATE = "300/min"


def test_a_run_stopped_in_the_page_is_finished_by_the_cli_then_by_the_page(
    tmp_path: Path,
) -> None:
    """The page creates a few rows and is stopped; `bulk-ident import` of the same roster goes on
    from the page's journal (nothing created twice); the page's Resume then sends only the row
    fixed in the page. The sandbox holds each valid row once."""
    state = tmp_path / "state"
    work = tmp_path / "work"
    work.mkdir()
    with running_sandbox("--rate", "600/min") as sandbox:
        ws = Workspace(work, env={"XDG_STATE_HOME": str(state)})
        app = create_app(ws, PageSettings(token=TOKEN, cwd=tmp_path))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            client.get(f"/?token={TOKEN}")
            client.post(
                "/roster/upload",
                files={"file": ("roster.xlsx", ROSTER.read_bytes(), "application/x")},
            )
            client.post("/review/cell", data={"row": "25", "col": "6", "value": "Available"})
            client.post("/connect", data={"base_url": sandbox.url, "api_key": KEY, "rate": RATE})
            client.post("/preview", data={"skip_invalid": "on"})
            client.post("/sync/start")
            runner = app.state.page.runner
            wait_until(lambda: runner.job.counts["created"] >= 3, timeout=60)
            client.post("/sync/stop")
            assert runner.wait(60)
            by_page = len(sandbox.identifiers())
            assert 3 <= by_page < 25

            env = dict(os.environ, XDG_STATE_HOME=str(state), SONORAN_API_KEY=KEY)
            env.pop("CI", None)
            cli = subprocess.run(
                [
                    sys.executable, "-m", "bulk_ident", "import", str(ROSTER),
                    "--base-url", sandbox.url, "--rate", RATE, "--skip-invalid", "--quiet",
                    "--results", str(tmp_path / "cli.results.xlsx"),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            # Exit 1: the original roster still has its four bad rows (the page fixed one).
            assert cli.returncode == 1, cli.stderr
            assert f"created {25 - by_page}, updated 0, unchanged {by_page}," in cli.stdout
            assert len(sandbox.identifiers()) == 25

            client.post("/sync/start")
            assert runner.wait(60)
            results = client.get("/results").text
            assert "created 1, updated 0, unchanged 25, failed 0" in results
        held = [(i["accountUuid"], i["data"]["unitNum"]) for i in sandbox.identifiers()]
    assert len(held) == 26
    assert len(set(held)) == 26
