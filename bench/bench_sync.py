"""The sync's figures: a re-run of a fully imported 100k-row roster (nothing to send) and the
results rebuild, each against `check` of the same file, side by side; and the plan's join done
plainly (what bulk_ident ships) against the same join done with pandas.

The journal of a fully imported roster is written directly (as 100k imports at 10/min would
take a week), with exactly the rows a real import leaves.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_read

from bulk_ident.jobs import community_of
from bulk_ident.prepare import prepare
from bulk_ident.read.roster import collector_paused
from bulk_ident.sync import state
from bulk_ident.sync.journal import Entries, Journal, values_key, values_of
from bulk_ident.sync.journal_db import VALUE_COLUMNS
from bulk_ident.sync.plan import PlanOptions, plan_sync, vouched_accounts

BASE_URL = "http://127.0.0.1:9"  # never contacted: a re-run with nothing to send sends nothing
KEY = "bench-key"
RUNS = 3


def imported_journal(roster: Path, env: dict[str, str]) -> Path:
    """Write the journal a complete import of ``roster`` would leave; return its path."""
    _, _, community = community_of(BASE_URL, KEY)
    path = state.default_journal_path(community, env)
    with collector_paused():
        rows = [c for c in prepare(roster).rows if c.valid]
    cols = ", ".join(VALUE_COLUMNS)
    marks = ", ".join("?" for _ in VALUE_COLUMNS)
    with Journal.open(path, community) as journal:
        conn = journal._conn
        with conn:
            conn.executemany(
                f"INSERT INTO rows (community, account, unit_key, unit_num, scope, state,"
                f" ident_id, vkey, {cols}, attempts, source_file, source_row, created_at,"
                f" updated_at) VALUES (?, ?, ?, ?, ?, 'created', ?, ?, {marks}, 1, ?, ?, ?, ?)",
                (
                    (
                        community,
                        *c.key,  # type: ignore[misc]
                        c.norm.unit_num,
                        roster.stem,
                        n,
                        values_key(values_of(c.norm.payload)),  # type: ignore[arg-type]
                        *values_of(c.norm.payload),  # type: ignore[arg-type]
                        roster.name,
                        c.row.number,
                        1.8e9,
                        1.8e9,
                    )
                    for n, c in enumerate(rows, start=1)
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO listed VALUES (?, ?, 1.8e9)",
                ((community, c.norm.account) for c in rows),
            )
    return path


def _command(*args: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bulk_ident", *args], env=env, capture_output=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"bulk-ident {args[0]} failed: {done.stderr.decode()[-500:]}")
    return time.perf_counter() - start


def bench_rerun(roster: Path) -> None:
    """check, import (nothing to send) and results on the same roster, interleaved."""
    print(f"== re-run of a fully imported roster: {roster.name} (median of {RUNS}, interleaved)")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_STATE_HOME=str(Path(tmp) / "state"), SONORAN_API_KEY=KEY)
        imported_journal(roster, {"XDG_STATE_HOME": env["XDG_STATE_HOME"]})
        out = Path(tmp) / f"out{roster.suffix}"
        times: dict[str, list[float]] = {"check": [], "import": [], "results": []}
        for _ in range(RUNS):
            times["check"].append(_command("check", str(roster), "--results", str(out), env=env))
            times["import"].append(
                _command(
                    "import",
                    str(roster),
                    "--base-url",
                    BASE_URL,
                    "--results",
                    str(out),
                    "-q",
                    env=env,
                )
            )
            times["results"].append(
                _command(
                    "results", str(roster), "--base-url", BASE_URL, "--results", str(out), env=env
                )
            )
    check = statistics.median(times["check"])
    for name, target in (("check", None), ("import", 1.3), ("results", 1.2)):
        seconds = statistics.median(times[name])
        ratio = seconds / check
        verdict = (
            ""
            if target is None
            else f"  {ratio:.2f}x check (target <= {target}x: "
            + ("met)" if ratio <= target else "MISSED)")
        )
        print(f"  {name:<8}{seconds:>7.2f} s{verdict}")


def _best(action: Callable[[], Any], runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def bench_plan(roster: Path) -> None:
    """The plan's join in-process: plain dictionaries (shipped) against pandas, same inputs."""
    print(f"\n== the plan's join on {roster.name}: plain (shipped) against pandas (best of {RUNS})")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_STATE_HOME": str(Path(tmp) / "state")}
        path = imported_journal(roster, env)
        _, _, community = community_of(BASE_URL, KEY)
        with collector_paused():
            rows = [c for c in prepare(roster).rows if c.valid]
            journal = Journal.open_read_only(path, community)
            options = PlanOptions(scope=roster.stem)

            def plain() -> int:
                entries = Entries(journal)
                vouched = vouched_accounts(entries, journal.listed_accounts())
                present = {c.key for c in rows if c.key is not None}
                plan = plan_sync(rows, entries, options, vouched=vouched, present=present)
                return plan.tally[next(iter(plan.tally))]

            started = time.perf_counter()
            import pandas as pd  # timed: its import is part of its cost

            pandas_import = time.perf_counter() - started

            def with_pandas() -> int:
                cols = ", ".join(VALUE_COLUMNS)
                known = pd.read_sql_query(
                    f"SELECT account, unit_key, state, scope, ident_id, {cols} FROM rows"
                    " WHERE community = ?",
                    journal._conn,
                    params=(community,),
                )
                frame = pd.DataFrame.from_records(
                    [(*c.key, *values_of(c.norm.payload)) for c in rows],  # type: ignore[misc,arg-type]
                    columns=["account", "unit_key", *VALUE_COLUMNS],
                )
                joined = frame.merge(
                    known,
                    on=["account", "unit_key"],
                    how="outer",
                    indicator=True,
                    suffixes=("", "_j"),
                )
                both = joined["_merge"] == "both"
                same = both & (joined["state"] == "created") & (joined["scope"] == roster.stem)
                for col in VALUE_COLUMNS:
                    same &= joined[col].astype(str) == joined[f"{col}_j"].astype(str)
                departures = (joined["_merge"] == "right_only") & (joined["scope"] == roster.stem)
                return int(same.sum()) + int(departures.sum())

            plain_s = _best(plain)
            pandas_s = _best(with_pandas)
            journal.close()
    print(f"  plain dictionaries      {plain_s:>6.2f} s")
    print(
        f"  pandas merge + compare  {pandas_s:>6.2f} s, plus {pandas_import:.2f} s to import pandas"
    )
    faster = "plain" if plain_s <= pandas_s + pandas_import else "pandas"
    print(f"  kept: {faster} ({(pandas_s + pandas_import) / plain_s:.1f}x)")


def main() -> None:
    """Both benches on the 100k-row csv roster."""
    bench_read.OUT.mkdir(parents=True, exist_ok=True)
    roster = bench_read._cached(bench_read.OUT / "roster_100k.csv", 100_000, bench_read.make_csv)
    bench_rerun(roster)
    bench_plan(roster)


if __name__ == "__main__":
    main()
