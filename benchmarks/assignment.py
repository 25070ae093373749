"""Per-battery assignment: exactness on small fleets, certified gap and speed at fleet scale.

1. **Brute force.** Random fleets of 3-8 batteries (random values, some negative, some routes
   closed, demands that bind, some identical batteries): ``assign_arrays`` against an
   enumeration of every battery -> route assignment; and the same with a pack rule (one or
   two installations per application) against an enumeration that tries every split.
2. **Fleet scale.** ``generate_fleet(n, seed=0)`` with the default demands scaled by n/120,
   end to end (fleet generation, twin, values, assignment) in a fresh process per size, peak
   resident memory from ``resource.getrusage``. The gap is against the bound the plan carries
   (the Lagrangian bound at the dual prices, i.e. the per-battery LP bound, or the MILP bound
   when no battery was fixed outside the model). Where it fits in time, the per-battery LP
   is also solved independently with ``scipy.optimize.linprog`` (HiGHS behind scipy's own
   interface, its own formulation) and the gap is reported against it too.
3. **Pack rule at scale.** The default pack rule (0.05 SOH, 15 % R0, one installation per
   50 kWh of demand) and a tight one (one installation per 250 kWh), with the method used and
   the value lost against the unconstrained LP bound.

    python benchmarks/assignment.py [--sizes 1000,10000,100000,1000000] [--lp-max 100000] [--cases 60]

Writes ``benchmarks/results/assignment.csv`` and ``assignment.md``.
"""

from __future__ import annotations

import os
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out")
sys.path.insert(0, str(ROOT / "tests" / "fleet"))


def one_size(n: int, pack: str, lp_max: int) -> dict:
    """Run one fleet size end to end (called in a fresh process)."""
    from slopt.battery.twin import simulate_twin
    from slopt.fleet import APPLICATIONS, generate_fleet, scale_demands
    from slopt.fleet.assign import AssignmentOptions, PackRule, assign, route_values

    t0 = time.perf_counter()
    fleet = generate_fleet(n, seed=0)
    apps = scale_demands(APPLICATIONS, n / 120)
    t1 = time.perf_counter()
    twin = simulate_twin(fleet, list(apps.values()))
    t2 = time.perf_counter()
    rule = {"none": None, "default": PackRule(), "tight": PackRule(installation_kwh=250.0)}[pack]
    opts = AssignmentOptions(pack=rule)
    res = assign(fleet, apps, twin=twin, options=opts)
    t3 = time.perf_counter()
    row = {"batteries": n, "pack": pack, "status": str(res.status), "objective_usd": res.objective_usd,
           "bound_usd": res.bound_usd, "gap_pct": 100 * res.gap, "lp_bound_usd": res.extra["lp_bound_usd"],
           "method": res.extra["method"], "batteries_in_milp": res.extra["n_free"], "generate_s": t1 - t0,
           "twin_s": t2 - t1, "assign_s": t3 - t2, "end_to_end_s": t3 - t0,
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
           "installations": int(len(res.installations)) if res.installations is not None else 0}
    b = res.batteries
    used = b.groupby("route")["usable_kwh"].sum()
    row["demand_ok"] = bool(all(used.get(a.name, 0.0) <= a.demand_kwh * (1 + 1e-9) for a in apps.values()))
    row["value_check_usd"] = float(b["value_usd"].sum())
    if n <= lp_max and pack == "none":
        from test_assign import lp_bound

        value, feas, _, _ = route_values(fleet.table, list(apps.values()), twin, opts)
        demand = np.r_[[a.demand_kwh for a in apps.values()], np.inf, np.inf]
        t4 = time.perf_counter()
        row["scipy_lp_usd"] = lp_bound(value, feas, fleet.usable_kwh, demand)
        row["scipy_lp_s"] = time.perf_counter() - t4
        row["gap_vs_scipy_lp_pct"] = 100 * (row["scipy_lp_usd"] - res.objective_usd) / row["scipy_lp_usd"]
    return row


def brute_force_cases(cases: int) -> pd.DataFrame:
    from test_assign import brute_force, pack_case, random_case

    from slopt.fleet.assign import AssignmentOptions, PackRule, assign_arrays

    rows = []
    for seed in range(cases):
        rng = np.random.default_rng(10_000 + seed)
        n = int(rng.integers(3, 9))
        value, feas, energy, demand = random_case(rng, n)
        t0 = time.perf_counter()
        plan = assign_arrays(value, feas, energy, demand, options=AssignmentOptions(pack=None))
        dt = time.perf_counter() - t0
        best, _ = brute_force(value, feas, energy, demand)
        rows.append({"kind": "per battery", "seed": seed, "batteries": n, "optimum_usd": best,
                     "objective_usd": plan.objective_usd, "bound_usd": plan.bound_usd, "assign_s": dt})
    for seed in range(cases // 3):
        rng = np.random.default_rng(20_000 + seed)
        n = int(rng.integers(4, 7))
        value, feas, energy, demand, chem, soh, r0 = pack_case(rng, n)
        demand[:2] = energy.sum()
        k = int(rng.integers(1, 3))
        rule = PackRule(soh_spread=0.05, r_spread_pu=0.12, max_installations=k)
        t0 = time.perf_counter()
        plan = assign_arrays(value, feas, energy, demand, chemistry=chem, soh=soh, r0_mohm=r0, rules=[rule, rule])
        dt = time.perf_counter() - t0
        best, _ = brute_force(value, feas, energy, demand, pack=(chem, soh, r0, [rule, rule], [k, k]))
        rows.append({"kind": f"pack rule, {k} installation(s)", "seed": seed, "batteries": n, "optimum_usd": best,
                     "objective_usd": plan.objective_usd, "bound_usd": plan.bound_usd, "assign_s": dt})
    df = pd.DataFrame(rows)
    df["exact"] = np.isclose(df["objective_usd"], df["optimum_usd"], rtol=1e-9, atol=1e-6)
    df["bound_holds"] = df["bound_usd"] >= df["optimum_usd"] - 1e-6
    return df


def markdown(bf: pd.DataFrame, scale: pd.DataFrame) -> str:
    lines = ["# Per-battery assignment: exactness, certified gap, speed", "",
             "Produced by `benchmarks/assignment.py` on the 2-core benchmark machine (shared; times are single runs).", "",
             "## Brute force on small fleets", "",
             "| cases | batteries | exact optimum | bound >= optimum | median assign s |", "|---|---:|---:|---:|---:|"]
    for kind, g in bf.groupby("kind", sort=False):
        lines.append(f"| {kind} | {g['batteries'].min()}-{g['batteries'].max()} | {int(g['exact'].sum())}/{len(g)} | "
                     f"{int(g['bound_holds'].sum())}/{len(g)} | {g['assign_s'].median():.3f} |")
    lines += ["", "## Fleet scale (demands scaled by n/120, seed 0)", "",
              "| batteries | pack rule | status | value $ | bound $ | gap % | gap vs scipy LP % | LP bound - scipy LP (rel.) "
              "| method | batteries in MILP | generate s | twin s | assign s | end to end s | peak RSS GB |",
              "|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for _, r in scale.iterrows():
        has = pd.notna(r.get("scipy_lp_usd", np.nan))
        sc = f"{r['gap_vs_scipy_lp_pct']:.4f}" if has else "-"
        tight = f"{(r['lp_bound_usd'] - r['scipy_lp_usd']) / r['scipy_lp_usd']:.1e}" if has else "-"
        lines.append(f"| {r['batteries']:,} | {r['pack']} | {r['status']} | {r['objective_usd']:,.0f} | {r['bound_usd']:,.0f} | "
                     f"{r['gap_pct']:.4f} | {sc} | {tight} | {r['method']} | {r['batteries_in_milp']:,} | "
                     f"{r['generate_s']:.2f} | {r['twin_s']:.2f} | {r['assign_s']:.1f} | {r['end_to_end_s']:.1f} | "
                     f"{r['peak_rss_gb']:.2f} |")
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = """Notes:

- **Targets.** Exact brute-force optimum on every small fleet (with and without a pack rule); certified gap
  <= 0.1 % at 1,000, 100,000 and 1,000,000 batteries; 100,000 in <= 30 s and 1,000,000 in <= 120 s end to
  end (fleet generation, twin, values, assignment, tables), each size in a fresh process.
- **The bound** is the Lagrangian at the dual prices, i.e. the per-battery LP bound (no pack rule). Up to
  3,000 batteries the prices are the LP's own duals; beyond, they come from the smoothed dual. The column
  "LP bound - scipy LP" compares it with `scipy.optimize.linprog` on the same problem (scipy needs about two
  minutes at 100,000 batteries and is not run at 1,000,000).
- **At 1,000 batteries** most of the gap is the LP bound's own integrality gap: eight demand rows of
  80-200 kWh filled with 1.2-2.6 kWh modules. A 300-s whole MILP on another 1,000-battery fleet
  (`generate_fleet(1000, seed=1)`) proved its optimum at least 0.046 % below the LP bound.
- **Peak RSS** includes some 0.29 GB of imports (numpy, pandas, scipy, Pyomo, HiGHS); at 1,000,000 batteries
  the twin's (n x 8) result arrays and the (n x 10) value arrays dominate the rest.
- **Pack rule.** "default": 0.05 SOH, 15 % R0, one chemistry, one installation per 50 kWh of demand. With it,
  the bound stays the unconstrained LP bound, so the gap includes the price of the rule: at 1,000
  batteries (2-5 installations per application) the rule costs most of the 6.2 % shown (a 120-s whole
  MILP reached 5.4 %); at 10,000 it costs 0.008 %; at 100,000 the unconstrained plan already fits.
- MILPs run under a 10-s budget, so a plan found at a limit may differ between machines; its gap is
  always true.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--packs", default="none,default")
    ap.add_argument("--pack-sizes", default="1000,10000,100000")
    ap.add_argument("--lp-max", type=int, default=100000)
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--from-csv", action="store_true", help="only rewrite the markdown from assignment.csv")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--pack", default="none", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.pack, args.lp_max), default=float))
        return
    if args.from_csv:                      # rewrite the markdown from the last run's CSV
        df = pd.read_csv(OUT / "assignment.csv")
        bf = df[df["section"] == "brute force"].dropna(axis=1, how="all")
        scale = df[df["section"] == "fleet scale"].dropna(axis=1, how="all")
        scale = scale.astype({"batteries": int, "batteries_in_milp": int})
        bf = bf.astype({"batteries": int, "exact": bool, "bound_holds": bool})
        (OUT / "assignment.md").write_text(markdown(bf, scale))
        return
    bf = brute_force_cases(args.cases)
    print(bf.groupby("kind")[["exact", "bound_holds"]].mean().to_string(), flush=True)
    rows = []
    runs = [(int(n), "none") for n in args.sizes.split(",")]
    runs += [(int(n), p) for p in args.packs.split(",") if p != "none" for n in args.pack_sizes.split(",")]
    for n, pack in runs:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--pack", pack, "--lp-max", str(args.lp_max)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print({k: rows[-1][k] for k in ("batteries", "pack", "status", "gap_pct", "end_to_end_s", "peak_rss_gb")}, flush=True)
    scale = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    pd.concat([bf.assign(section="brute force"), scale.assign(section="fleet scale")], ignore_index=True).to_csv(
        OUT / "assignment.csv", index=False)
    md = markdown(bf, scale)
    (OUT / "assignment.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
