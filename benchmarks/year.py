"""Year-scale planning on the bundled year instances (issue: year-scale planning, item 7).

Per instance: representative days, sizing, year replay and the year's AC check (times); typical
and critical days; cost; hours outside the band without and with storage; and the AC replay of
the year against pandapower run step by step on the same net loads (a sample of steps, timed and
scaled to the year). ``--full-year`` also solves the whole year as one sizing model (the
reference) where it fits and reports the representative-day plan's gap to it.

    python benchmarks/year.py [--instances ieee33-year,simbench-lv-rural1-year] [--full-year]
                              [--pp-samples 50] [--out DIR]
"""

from __future__ import annotations

import os
import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import slopt  # noqa: E402
sys.path.insert(0, str(ROOT / "benchmarks"))
from _report import provenance, write_results  # noqa: E402
from slopt.sizing import solve_sizing  # noqa: E402
from slopt.year import YearOptions, plan_year  # noqa: E402


def pandapower_seconds_per_step(inst, vm_pu, samples: int, rng) -> tuple[float, float]:
    """Median seconds of one pandapower runpp (numba on) on the year's net loads, and max |dV| vs slopt."""
    import pandapower as pp

    from tests.grid.test_powerflow import run_pandapower, to_pandapower

    net = to_pandapower(inst.feeder)
    p, q = inst.net_load_kw()
    steps = rng.choice(p.shape[0], size=min(samples, p.shape[0]), replace=False)
    times, dv = [], 0.0
    run_pandapower(net, p[steps[0]], q[steps[0]], numba=True)  # warm-up: numba compiles once
    for t in steps:
        t0 = time.perf_counter()
        vm = run_pandapower(net, p[t], q[t], numba=True)[0]  # pandapower at its fastest
        times.append(time.perf_counter() - t0)
        dv = max(dv, float(np.abs(vm - vm_pu[t]).max()))
    del pp
    return float(np.median(times)), dv


def main() -> None:
    prov = provenance()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="ieee33-year,simbench-lv-rural1-year,simbench-mv-rural-year")
    ap.add_argument("--full-year", action="store_true", help="also solve the whole year as one model (ieee33-year)")
    ap.add_argument("--pp-samples", type=int, default=50)
    ap.add_argument("--out", default=str((ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out")))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for name in [n for n in args.instances.split(",") if n]:
        t0 = time.perf_counter()
        inst = slopt.load_instance(ROOT / "instances" / f"{name}.toml")
        load_s = time.perf_counter() - t0
        res = plan_year(inst, YearOptions(),
                        progress=lambda stage, info: print(f"  {name}: {stage} {({k: v for k, v in info.items() if k in ('round', 'violating_days', 'objective_usd')})}", flush=True))
        s = res.summary()
        p, q = inst.net_load_kw()
        sweeps = []
        for _ in range(3):                      # the median of three: one run on a shared machine is noise
            t1 = time.perf_counter()
            pf = slopt.powerflow(inst.feeder, p, q)
            sweeps.append(time.perf_counter() - t1)
        sweep_s = float(np.median(sweeps))
        pp_step_s, dv = pandapower_seconds_per_step(inst, pf.vm_pu, args.pp_samples, rng)
        row = {"instance": name, "buses": inst.feeder.n_bus, "steps": inst.n_steps, "load_s": round(load_s, 2),
               "days_s": round(s["days_s"], 2), "sizing_s": round(s["sizing_s"], 2), "replay_s": round(s["replay_s"], 2),
               "year_ac_s": round(s["year_ac_s"], 3), "total_s": round(s["total_s"] + load_s, 1),
               "status": s["status"], "objective_usd": s["objective_usd"], "bound_usd": s["bound_usd"],
               "gap_to_bound_pct": None if s["gap"] is None else round(100 * s["gap"], 2), "typical": s["typical_days"],
               "extreme": s["extreme_days"], "critical": s["critical_days"], "rounds": s["rounds"],
               "h_out_without": s["hours_outside_without_storage"]["total"],
               "h_out_with": s["hours_outside_with_storage"]["total"], "vmin": round(s["vmin_year_pu"], 5),
               "vmax": round(s["vmax_year_pu"], 5), "sweep_year_s": round(sweep_s, 3),
               "pandapower_year_s": round(pp_step_s * inst.n_steps, 1),
               "speedup_vs_pandapower": round(pp_step_s * inst.n_steps / sweep_s, 0), "max_dv_pu": dv,
               "full_year_usd": None, "gap_pct": None, "full_year_s": None}
        if args.full_year and name == "ieee33-year":
            t2 = time.perf_counter()
            full = solve_sizing(inst)
            row["full_year_s"] = round(time.perf_counter() - t2, 1)
            row["full_year_usd"] = full.objective_usd
            if full.objective_usd and s["objective_usd"]:
                row["gap_pct"] = round(100 * (s["objective_usd"] - full.objective_usd) / full.objective_usd, 4)
        rows.append(row)
        print(row, flush=True)
    write_results(out, "year", "Year-scale planning on the bundled year instances", prov, rows)
    print(f"wrote {out / 'year.csv'} and {out / 'year.md'}")


if __name__ == "__main__":
    main()
