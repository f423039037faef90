"""Fuzzing `bulk-ident check` itself: random bytes, random zips and mutated real workbooks and
CSVs, each run through the real command line in one child process whose memory is measured. Every
input ends in exit 0, 1 or 2 with a one-line message, never a traceback."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
INPUTS = 160
SEED = 20261130

_RUNNER = r"""
import contextlib, io, json, sys, traceback
from bulk_ident.cli import main

results = []
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    code = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(["check", path, "--results", path + ".check.csv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = "crash"
        err.write(traceback.format_exc())
    results.append({"path": path, "code": code, "err": err.getvalue()[-2000:]})
# VmHWM: this process's own peak (ru_maxrss would include the parent's size at the fork).
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) // 1024
print(json.dumps({"peak_mib": peak, "results": results}))
"""


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip, drop or duplicate a few bytes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not buf:
            break
        i = rng.randrange(len(buf))
        choice = rng.random()
        if choice < 0.5:
            buf[i] = rng.randrange(256)
        elif choice < 0.75:
            del buf[i : i + rng.randint(1, 16)]
        else:
            buf[i:i] = buf[i : i + rng.randint(1, 64)]
    return bytes(buf)


def _mutated_workbook(base: bytes, rng: random.Random) -> bytes:
    """The sample workbook with one XML part mutated, re-zipped validly."""
    source = zipfile.ZipFile(io.BytesIO(base))
    target = io.BytesIO()
    names = source.namelist()
    victim = rng.choice([n for n in names if n.endswith(".xml")])
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name in names:
            data = source.read(name)
            out.writestr(name, _mutate(data, rng) if name == victim else data)
    return target.getvalue()


def _random_zip(rng: random.Random) -> bytes:
    """A zip of random parts, some named like a workbook's (names may repeat, on purpose)."""
    target = io.BytesIO()
    with (
        warnings.catch_warnings(action="ignore", category=UserWarning),
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for n in range(rng.randint(0, 4)):
            name = rng.choice(["xl/workbook.xml", "xl/worksheets/sheet1.xml", f"x{n}.xml"])
            out.writestr(name, rng.randbytes(rng.randint(0, 2000)))
    return target.getvalue()


def _inputs(folder: Path) -> list[Path]:
    rng = random.Random(SEED)
    xlsx = (SAMPLES / "roster.xlsx").read_bytes()
    csv = (SAMPLES / "roster.csv").read_bytes()
    paths = []
    for n in range(INPUTS):
        kind = n % 5
        if kind == 0:
            data, suffix = rng.randbytes(rng.randint(0, 4000)), rng.choice([".csv", ".xlsx"])
        elif kind == 1:
            data, suffix = _random_zip(rng), ".xlsx"
        elif kind == 2:
            data, suffix = _mutate(xlsx, rng), ".xlsx"
        elif kind == 3:
            data, suffix = _mutated_workbook(xlsx, rng), ".xlsx"
        else:
            data, suffix = _mutate(csv, rng), ".csv"
        path = folder / f"fuzz-{n:03d}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_check_survives_random_and_mutated_files_in_bounded_memory(tmp_path: Path) -> None:
    """160 random or mutated rosters through `check`: exit 0, 1 or 2 each, a one-line message
    for 2, no traceback, and the whole batch under 400 MiB."""
    paths = _inputs(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    bad = [r for r in report["results"] if r["code"] not in (0, 1, 2) or "Traceback" in r["err"]]
    assert bad == []
    for r in report["results"]:
        if r["code"] == 2:
            assert len(r["err"].strip().splitlines()) == 1, r
    codes = {r["code"] for r in report["results"]}
    assert 2 in codes  # most inputs are unusable: the test would notice if none were refused
    assert report["peak_mib"] < 400
    print(
        f"fuzzed check: {len(paths)} inputs, exit codes {sorted(codes)}, {report['peak_mib']} MiB"
    )
