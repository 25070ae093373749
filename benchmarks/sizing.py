"""Exact sizing on the five bundled feeders at 15 min (issue: exact capacity sizing, item 7).

For each feeder the default instance (``instances/ieee33-hybrid.toml``) is carried over:
same profiles, band and technologies; PV on 13 buses spread evenly along the BFS order with
150 kW scaled by the feeder's total load relative to ieee33; free siting among the 10 buses
with the lowest base-case voltage at peak load, at most 3 sites, site bounds scaled with the
feeder load. Loads are scaled so that each feeder's base-case minimum voltage at
the peak equals ieee33's (0.912 p.u.). Prints a table and writes ``benchmarks/results/sizing.csv``.

    python benchmarks/sizing.py [--feeders ieee33,ieee69] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

import slopt
from _instances import FEEDERS, feeder_instance
from slopt.sizing import SizingOptions, solve_sizing
from slopt.solve import SolveOptions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeders", default=",".join(FEEDERS))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sizing.csv"))
    args = ap.parse_args()
    base = slopt.load_instance(ROOT / "instances" / "ieee33-hybrid.toml")
    rows = []
    for name in args.feeders.split(","):
        inst = feeder_instance(name, base)
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = solve_sizing(inst, options=SizingOptions(solver=SolveOptions(mip_rel_gap=1e-3, time_limit_s=args.time_limit)))
            runs.append((time.perf_counter() - t0, res))
        wall = statistics.median(r[0] for r in runs)
        res = runs[-1][1]
        sites = res.sizing.groupby("bus")["e_kwh"].sum()
        rows.append({
            "feeder": name, "n_bus": inst.feeder.n_bus, "steps": inst.n_steps, "candidates": inst.candidates.n, "load_scale": inst.load_scale,
            "status": str(res.status), "rounds": res.rounds, "build_s": round(res.build_s, 3),
            "solve_s": round(res.solve_s, 3), "wall_s": round(wall, 3),
            "gap": None if res.gap is None else round(res.gap, 6),
            "objective_usd": None if res.objective_usd is None else round(res.objective_usd, 1),
            "sites": ",".join(str(b) for b in sites[sites > 1e-6].index) if not sites.empty else "",
            "ac_max_violation_pu": res.ac_max_violation_pu,
            "message": res.message[:120],
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.drop(columns=["message"]).to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
