"""`make bench`: the figures behind the speed targets. Prints; never fails on timing.

1. `bulk-ident check` (the whole command, a fresh process each time: read, validate, write the
   results sheet) on generated 10k-, 100k- and 1M-row, 12-column rosters, xlsx and csv, side by
   side with a bare parse of the same file (python-calamine for xlsx, csv.reader for csv), runs
   interleaved: wall time, rows per second, the ratio to the bare parse and the peak memory of
   the whole process (max RSS). Targets: 100k xlsx <= 2.5x bare and <= 250 MB; 100k csv <= 3x
   bare and <= 120 MB; 1M csv <= 400 MB.
2. The reader alone (bench_read.py), for where the time goes.
3. A re-run of a fully imported 100k-row roster (nothing to send) and `results`, against
   `check` of the same file (targets 1.3x and 1.2x), and the plan's join plain vs pandas
   (bench_sync.py).
4. `bulk-ident import` against the sandbox at a fast rate over >= 100 requests: the achieved
   rate as a fraction of --rate (target >= 0.97) and the number of 429s (target 0).
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import bench_read  # noqa: E402
import bench_sync  # noqa: E402
from import_helpers import import_args, make_roster  # noqa: E402
from sandbox_proc import running_sandbox  # noqa: E402

RUNS = 3
IMPORT_ROWS = 120
IMPORT_RATE = "300/min"  # 5 per second; the sandbox enforces the same limit


def _check_once(roster: Path, out_dir: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `bulk-ident check` process."""
    results = out_dir / f"results{roster.suffix}"
    command = [sys.executable, "-m", "bulk_ident", "check", str(roster), "--results", str(results)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed on {roster} (exit {proc.returncode})")
    return seconds, usage.ru_maxrss


# (kind, rows) -> (most seconds of check / seconds of the bare parse, most MB of peak RSS)
TARGETS: dict[tuple[str, int], tuple[float | None, float | None]] = {
    ("xlsx", 100_000): (2.5, 250),
    ("csv", 100_000): (3.0, 120),
    ("csv", 1_000_000): (None, 400),
}
CHECK_FILES = (
    ("xlsx", 10_000),
    ("csv", 10_000),
    ("xlsx", 100_000),
    ("csv", 100_000),
    ("csv", 1_000_000),
)


def _verdict(value: float, limit: float | None, unit: str) -> str:
    if limit is None:
        return ""
    return f"{unit} <= {limit:g}: {'met' if value <= limit else 'MISSED'}"


def bench_check() -> None:
    """Time the whole check command on each generated roster, against a bare parse of it."""
    bench_read.OUT.mkdir(parents=True, exist_ok=True)
    makers = {"xlsx": bench_read.make_xlsx, "csv": bench_read.make_csv}
    print(f"== bulk-ident check (whole command) vs a bare parse, best of {RUNS} fresh processes")
    print(
        f"{'roster':<20}{'check s':>8}{'rows/s':>10}{'bare s':>8}{'ratio':>7}{'peak MiB':>10}"
        "  targets"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind, n in CHECK_FILES:
            name = f"roster_{n // 1000}k.{kind}"
            path = bench_read._cached(bench_read.OUT / name, n, makers[kind])
            bare_code = bench_read._BARE_CALAMINE if kind == "xlsx" else bench_read._BARE_CSV
            runs = 1 if n >= 1_000_000 else RUNS
            checks, bares = [], []
            for _ in range(runs):  # interleaved, so that both see the same load
                checks.append(_check_once(path, Path(tmp)))
                bares.append(bench_read._process(bare_code, path)[0])
            seconds = min(s for s, _ in checks)
            peak = max(m for _, m in checks) / 1024
            bare = min(bares)
            ratio = seconds / bare
            ratio_limit, mem_limit = TARGETS.get((kind, n), (None, None))
            targets = "; ".join(
                t
                for t in (
                    _verdict(ratio, ratio_limit, "ratio"),
                    _verdict(peak * 2**20 / 1e6, mem_limit, "MB"),
                )
                if t
            )
            print(
                f"{path.name:<20}{seconds:>7.2f}s{n / seconds:>10,.0f}{bare:>7.2f}s"
                f"{ratio:>6.2f}x{peak:>10.0f}  {targets}"
            )


def bench_import() -> None:
    """Import IMPORT_ROWS rows into the sandbox at IMPORT_RATE and measure the achieved pace."""
    print(f"\n== bulk-ident import: {IMPORT_ROWS} rows at --rate {IMPORT_RATE} into the sandbox")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster = work / "roster.csv"
        make_roster(roster, IMPORT_ROWS, seed="bench")
        env = dict(os.environ, SONORAN_API_KEY="bench-key", XDG_STATE_HOME=str(work / "state"))
        with running_sandbox("--rate", IMPORT_RATE) as sandbox:
            command = import_args(roster, sandbox, IMPORT_RATE)
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            log = sandbox.requests()
    if done.returncode != 0:
        print(done.stdout + done.stderr)
        raise SystemExit(f"the import failed (exit {done.returncode})")
    times = sorted(r["time"] for r in log)
    rate_per_s = 300 / 60
    achieved = (len(times) - 1) / (times[-1] - times[0])
    too_many = sum(1 for r in log if r["status"] == 429)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    print(f"requests: {len(times)}; 429s: {too_many}")
    print(
        f"achieved {achieved:.3f}/s of {rate_per_s:.3f}/s = {achieved / rate_per_s:.3f} of --rate "
        f"(target >= 0.97: {'met' if achieved / rate_per_s >= 0.97 else 'MISSED'}); "
        f"gaps min {min(gaps) * 1000:.0f} ms, median {statistics.median(gaps) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    bench_check()
    if sys.argv[1:] == ["check"]:  # `python bench/run.py check`: the check table alone
        raise SystemExit(0)
    print("\n== the reader alone (bench/bench_read.py)")
    bench_read.main()
    print()
    bench_sync.main()
    bench_import()
