"""Loading a year of per-bus profiles: CSV per bus, CSV per profile name, SimBench (issue target <= 5 s).

Cases (a year at 15 minutes):

* ``csv per bus``: a seeded CSV with a time column and one kW column per loaded bus, on
  ieee141 (140 columns) and on a synthetic 150-bus feeder (149 columns), read with
  ``slopt.io.profiles_csv.read_bus_profiles`` (parse, check, map to the feeder's bus order);
* ``csv per profile``: SimBench 1-MV-rural's relative profiles written as a CSV (one column
  per profile name) and mapped to its 200 loads and generators;
* ``simbench``: ``simbench_profiles`` from a cold cache, split into reading the SimBench net
  with the simbench package (``get_simbench_net``) and slopt's part (conversion of the grid,
  time axis, per-element profiles times rated power, summed per bus, cache write); and a
  later load in a fresh process (memory caches cleared), which reads slopt's disk cache.

Times are medians of ``--repeats``. Writes ``benchmarks/results/profiles.csv`` and ``.md``.

Usage::

    python benchmarks/profiles.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.grid.feeder import Feeder, load_feeder  # noqa: E402
from slopt.io.profiles_csv import read_bus_profiles  # noqa: E402

T = 35040  # 365 days x 96
TARGET_S = 5.0
OUT_CSV = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "profiles.csv"
OUT_MD = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "profiles.md"


def synthetic150() -> Feeder:
    from benchmarks.powerflow import synthetic_feeder

    return synthetic_feeder(150, 2024)


def write_bus_csv(f: Feeder, path: Path, seed: int) -> int:
    rng = np.random.default_rng(seed)
    t = pd.date_range("2023-01-01", periods=T, freq="15min").strftime("%Y-%m-%d %H:%M")
    cols = [k for k in range(1, f.n_bus) if f.p_load_kw[k] != 0]
    df = pd.DataFrame(np.round(rng.uniform(0, 1.3, (T, len(cols))) * f.p_load_kw[cols], 3),
                      columns=[str(int(f.bus_ids[k])) for k in cols])
    df.insert(0, "time", t)
    df.to_csv(path, index=False)
    return len(cols)


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, f in (("ieee141", load_feeder("ieee141")), ("synthetic150", synthetic150())):
            path = Path(tmp) / f"{name}.csv"
            ncol = write_bus_csv(f, path, 1)
            s, bp = median_time(lambda: read_bus_profiles(path, f), args.repeats)
            rows.append({"case": "csv per bus", "grid": name, "n_bus": f.n_bus, "columns": ncol, "steps": bp.n_steps,
                         "file_mb": path.stat().st_size / 2**20, "seconds": s})
            print(rows[-1], flush=True)

        import slopt.grid.simbench as sbm

        code = "1-MV-rural--0-sw"
        f = sbm.simbench_feeder(code)
        tab = sbm.simbench_profile_table(code)
        path = Path(tmp) / "mv_rural_profiles.csv"
        days = T // 96
        df = pd.DataFrame(tab.values[:T], columns=list(tab.names))
        df.insert(0, "time", pd.date_range("2016-01-01", periods=T, freq="15min").strftime("%Y-%m-%d %H:%M"))
        df.to_csv(path, index=False)
        s, bp = median_time(lambda: read_bus_profiles(path, f), args.repeats)
        rows.append({"case": "csv per profile", "grid": code, "n_bus": f.n_bus, "columns": len(tab.names),
                     "steps": bp.n_steps, "file_mb": path.stat().st_size / 2**20, "seconds": s})
        print(rows[-1], f"({len(f.elements)} elements, {days} days)", flush=True)

        def cold(k):
            os.environ["SLOPT_CACHE_DIR"] = str(Path(tmp) / f"cache{k}")  # empty disk cache
            sbm._NETS.clear(), sbm._FEEDERS.clear(), sbm._TABLES.clear()
            t0 = time.perf_counter()
            sbm.simbench_net(code)
            t_net = time.perf_counter() - t0
            bp = sbm.simbench_profiles(code)
            t_conv = time.perf_counter() - t0 - t_net
            sbm._NETS.clear(), sbm._FEEDERS.clear(), sbm._TABLES.clear()  # a new process: disk cache only
            t0 = time.perf_counter()
            sbm.simbench_profiles(code)
            return t_net, t_conv, time.perf_counter() - t0, bp

        runs = [cold(k) for k in range(args.repeats)]
        t_net, t_slopt, t_disk = (statistics.median(r[i] for r in runs) for i in range(3))
        bp = runs[-1][3]
        for case, s in (("simbench, first load: get_simbench_net", t_net),
                        ("simbench, first load: slopt conversion + profiles (+ cache write)", t_slopt),
                        ("simbench, first load: total", t_net + t_slopt),
                        ("simbench, later loads (disk cache)", t_disk)):
            rows.append({"case": case, "grid": code, "n_bus": bp.p_kw.shape[1], "columns": "", "steps": bp.n_steps,
                         "file_mb": "", "seconds": s})
            print(rows[-1], flush=True)

    OUT_CSV.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT_CSV, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    lines = ["# Loading a year of per-bus profiles", "",
             f"Medians of {args.repeats} repeats; target <= {TARGET_S:g} s for a year at 15 min on ~150 buses.", "",
             "| case | grid | buses | columns | steps | file MB | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        mb = f"{r['file_mb']:.1f}" if r["file_mb"] != "" else ""
        lines.append(f"| {r['case']} | {r['grid']} | {r['n_bus']} | {r['columns']} | {r['steps']:,} | {mb} "
                     f"| {r['seconds']:.2f} |")
    OUT_MD.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT_CSV.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)}")
    slow = [r for r in rows if ("csv" in r["case"] or "later" in r["case"]) and r["seconds"] > TARGET_S]
    for r in slow:
        print(f"above the {TARGET_S:g} s target: {r['case']} {r['grid']} {r['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
