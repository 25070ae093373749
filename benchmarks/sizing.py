"""Exact sizing on the five bundled feeders at 15 min (issue: exact capacity sizing, item 7).

For each feeder the default instance (``instances/ieee33-hybrid.toml``) is carried over:
same profiles, band and technologies; PV on 13 buses spread evenly along the BFS order with
150 kW scaled by the feeder's total load relative to ieee33; free siting among the 10 buses
with the lowest base-case voltage at peak load, at most 3 sites, site bounds scaled with the
feeder load. Loads are scaled so that each feeder's base-case minimum voltage at
the peak equals ieee33's (0.912 p.u.). The bundled instances (ieee33-hybrid, ieee33-open) are
added. Each plan is compared with the independent AC-exact solver of ``tools/ac_reference.py``
(a trust-region SLP on SciPy's HiGHS interface): ``ref_cost_usd``, ``diff_pct`` = (slopt -
reference) / reference. Prints a table and writes ``benchmarks/results/sizing.csv`` and
``sizing.md``.

    python benchmarks/sizing.py [--feeders ieee33,ieee69] [--repeats 1] [--no-reference]
"""

from __future__ import annotations

import os
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import slopt
from _instances import FEEDERS, feeder_instance
from _report import provenance
from slopt.sizing import SizingOptions, solve_sizing
from slopt.solve import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.ac_reference import reference_sizing  # noqa: E402


def main() -> None:
    prov = provenance()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeders", default=",".join(FEEDERS))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--out", default=str((ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "sizing.csv"))
    ap.add_argument("--no-reference", action="store_true", help="skip the independent AC-exact reference")
    ap.add_argument("--instances", default="ieee33-hybrid,ieee33-open", help="bundled instances to add ('' for none)")
    args = ap.parse_args()
    base = slopt.load_instance(ROOT / "instances" / "ieee33-hybrid.toml")
    rows = []
    cases = [(name, feeder_instance(name, base)) for name in args.feeders.split(",") if name]
    cases += [(f"{n} (instance)", slopt.load_instance(ROOT / "instances" / f"{n}.toml"))
              for n in args.instances.split(",") if n]
    for name, inst in cases:
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = solve_sizing(inst, options=SizingOptions(solver=SolveOptions(mip_rel_gap=1e-3, time_limit_s=args.time_limit)))
            runs.append((time.perf_counter() - t0, res))
        wall = statistics.median(r[0] for r in runs)
        res = runs[-1][1]
        sites = res.sizing.groupby("bus")["e_kwh"].sum()
        ref_cost = ref_s = ref_status = None
        if not args.no_reference:
            t0 = time.perf_counter()
            ref = reference_sizing(inst, max_iter=40, time_limit=args.time_limit)
            ref_s, ref_cost, ref_status = time.perf_counter() - t0, ref.cost_usd, ref.status
        rows.append({
            "feeder": name, "n_bus": inst.feeder.n_bus, "steps": inst.n_steps, "candidates": inst.candidates.n, "load_scale": inst.load_scale,
            "status": str(res.status), "rounds": res.rounds, "build_s": round(res.build_s, 3),
            "solve_s": round(res.solve_s, 3), "wall_s": round(wall, 3),
            "gap": None if res.gap is None else round(res.gap, 6),
            "objective_usd": None if res.objective_usd is None else round(res.objective_usd, 1),
            "sites": ",".join(str(b) for b in sites[sites > 1e-6].index) if not sites.empty else "",
            "ac_max_violation_pu": res.ac_max_violation_pu,
            "ac_margin_left_pu": res.ac_margin_left_pu,
            "ref_status": ref_status, "ref_cost_usd": None if ref_cost is None else round(ref_cost, 1),
            "diff_pct": None if (ref_cost is None or res.objective_usd is None)
            else round(100 * (res.objective_usd - ref_cost) / ref_cost, 4),
            "ref_s": None if ref_s is None else round(ref_s, 1),
            "message": res.message[:120],
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(df.drop(columns=["message"]).to_string(index=False))
    md = Path(args.out).with_suffix(".md")
    cols = ["feeder", "n_bus", "load_scale", "status", "rounds", "build_s", "solve_s", "wall_s", "objective_usd",
            "ref_cost_usd", "diff_pct", "ac_max_violation_pu", "ac_margin_left_pu", "sites", "ref_s"]
    lines = ["# Sizing benchmark: slopt against the independent AC-exact reference", "", prov, "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    md.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} and {md}")


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2e}" if (v != 0 and abs(v) < 1e-3) else (f"{v:,.1f}" if abs(v) >= 1000 else f"{v:g}")
    return str(v)


if __name__ == "__main__":
    main()
