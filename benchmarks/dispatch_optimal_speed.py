"""Speed of the variance-optimal dispatch QP (Yuan et al. Eq. 10-11) and of its MPC (Table 4 "Computational time").

Issue target: 9 groups x 96 steps build + solve <= 2 s (Yuan et al. report 0.42 s for its method,
1.25 s for MPCD). Groups are the node-30 case study of Yuan et al. §5.2 (4 new 14 kWh, 4 retired
28 kWh at SOH 0.85-0.75, one 18 kWh at SOH 0.70; P = 0.5 C, eta 0.95, SOC 0.1-0.9); the request is
a synthetic day (charge around noon, discharge in the evening) that fits the fleet.

Rows: ``plan`` (one full-horizon solve, median of ``--repeats``; at 96 steps also without the
aggregation of identical groups) and ``mpc`` (receding horizon H = 8 over the whole day with the
wear history passed on, total and per step), for 15-min (96 steps) and 5-min (288 steps) resolution.

    python benchmarks/dispatch_optimal_speed.py [--repeats 5]
"""

from __future__ import annotations

import os
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.aging import remaining_cycles
from slopt.dispatch.base import BatteryGroups, GroupState
from slopt.dispatch.optimal import OptimalOptions, mpc_allocate, solve_dispatch

ROOT = Path(__file__).resolve().parents[1]


def case_study(dt_h: float):
    soh = np.array([1.0, 1.0, 1.0, 1.0, 0.85, 0.80, 0.78, 0.75, 0.70])
    e = np.array([14.0] * 4 + [28.0] * 4 + [18.0])
    g = BatteryGroups(e_kwh=e, p_kw=0.5 * e, soh=soh, eta_charge=np.full(9, 0.95), eta_discharge=np.full(9, 0.95),
                      soc_min=np.full(9, 0.1), soc_max=np.full(9, 0.9))
    return g, GroupState(e_stored_kwh=0.5 * soh * e, dt_h=dt_h)


def day_request_kw(T: int) -> np.ndarray:
    h = np.arange(T) * 24.0 / T
    return 12.0 * np.exp(-((h - 12.0) / 2.5) ** 2) - 14.0 * np.exp(-((h - 19.5) / 2.0) ** 2) + 1.5 * np.sin(h)


def bench_plan(T: int, aggregate: bool, repeats: int) -> dict:
    g, st = case_study(24.0 / T)
    req = day_request_kw(T)
    opts = OptimalOptions(aggregate=aggregate)
    walls, plan = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan = solve_dispatch(g, req, st, opts)
        walls.append(time.perf_counter() - t0)
    return {"kind": "plan", "steps": T, "groups": 9, "aggregate": aggregate, "horizon": T,
            "wall_s": statistics.median(walls), "build_s": plan.build_s, "per_step_ms": np.nan,
            "status": str(plan.result.status), "variance": plan.variance, "unserved_kwh": plan.unserved_kwh,
            "max_simultaneous_kw": plan.max_simultaneous_kw}


def bench_mpc(T: int, horizon: int) -> dict:
    g, st = case_study(24.0 / T)
    req = np.concatenate([day_request_kw(T), day_request_kw(T)[:horizon]])  # forecast wraps into the next day
    opts = OptimalOptions(horizon=horizon)
    e = st.e_stored_kwh.copy()
    life = np.zeros(9)              # C_g * EFC_g so far: the MPC balances the cumulative wear (Eq. 10)
    c = 1.0 / remaining_cycles(g.soh)
    u = g.soh * g.e_kwh
    unserved = 0.0
    t0 = time.perf_counter()
    for k in range(T):
        s = GroupState(e_stored_kwh=e, dt_h=st.dt_h)
        p = mpc_allocate(g, req[k:], s, opts, life_used0=life)
        de = np.where(p >= 0, g.eta_charge * p, p / g.eta_discharge) * st.dt_h
        e = e + de
        life = life + c * np.abs(de) / (2.0 * u)
        unserved += abs(req[k] - p.sum()) * st.dt_h
    wall = time.perf_counter() - t0
    return {"kind": "mpc", "steps": T, "groups": 9, "aggregate": True, "horizon": horizon, "wall_s": wall,
            "build_s": np.nan, "per_step_ms": 1e3 * wall / T, "status": "", "variance": float(np.var(life, ddof=1)),
            "unserved_kwh": unserved, "max_simultaneous_kw": 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    bench_plan(8, True, 1)  # warm imports
    rows = []
    for T in (96, 288):
        for agg in (True, False) if T == 96 else (True,):   # 288 steps unaggregated: ~30 s
            rows.append(bench_plan(T, agg, args.repeats if T == 96 else 1))
            print(rows[-1], flush=True)
        rows.append(bench_mpc(T, 8))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "dispatch_optimal_speed.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    r = df[(df["kind"] == "plan") & (df["steps"] == 96) & df["aggregate"]].iloc[0]
    print(f"9 groups x 96 steps: build + solve {r.wall_s:.3f} s (target <= 2 s, Yuan et al. 0.42 s); wrote {out}")


if __name__ == "__main__":
    main()
