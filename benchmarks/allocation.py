"""Seed 003 Tables 5-6: static vs adaptive (digital twin + MILP) allocation, at fleet scale.

For fleets of 120 (the seed's population), 10,000 and 100,000 modules (``generate_fleet``,
seed 0) this runs the static SOH-threshold baseline (seed 003 §5a: SOH >= 0.7 to grid
storage, the rest to residential backup) and ``slopt.assign`` twice: without market limits
(every battery may take its best route; the setting of seed 003) and with the default
application demands scaled to the fleet. Metrics per method: correct allocation (battery on
the twin's most valuable feasible route), misallocation (on a route the twin finds
infeasible: thermal/safety breach, SOH or resistance limit), mean second-life years and
round-trip efficiency of batteries in applications, utilisation, total value; and for the
MILP the status, gap and times. Writes CSV + markdown + a PNG of the 120-module allocation.

    python benchmarks/allocation.py [--sizes 120,10000,100000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.twin import simulate_twin
from slopt.fleet import APPLICATIONS, generate_fleet, scale_demands
from slopt.fleet.assign import allocation_metrics, assign, static_baseline

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SEED_T5 = {"static": (68, 32), "adaptive": (96, 4)}        # correct %, misallocation %
SEED_T6 = {"static": 4.8, "adaptive": 6.9}                  # average lifespan, years


def unlimited(apps):
    return {k: a.__class__(**{**a.__dict__, "demand_kwh": np.inf}) for k, a in apps.items()}


def plot(fleet, table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = fleet.table.merge(table[["battery_id", "route"]], on="battery_id")
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (route, g) in enumerate(t.groupby("route")):
        ax.scatter(100 * g["soh"], g["r0_mohm"], s=22, label=f"{route} ({len(g)})", color=f"C{i % 10}",
                   marker="o" if not g["accelerated"].any() else "o")
    acc = t[t["accelerated"]]
    ax.scatter(100 * acc["soh"], acc["r0_mohm"], s=60, facecolors="none", edgecolors="k", label="accelerated agers")
    ax.set_xlabel("SOH (%)")
    ax.set_ylabel("R0 (mOhm)")
    ax.set_title("adaptive allocation of the 120-module fleet (twin + MILP)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="120,10000,100000")
    args = ap.parse_args()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        fleet = generate_fleet(n, seed=0)
        apps_free = unlimited(APPLICATIONS)
        t0 = time.perf_counter()
        twin = simulate_twin(fleet, list(apps_free.values()))
        twin_s = time.perf_counter() - t0
        sta = static_baseline(fleet, apps_free, twin=twin)
        rows.append({"batteries": n, "method": "static", **allocation_metrics(sta), "twin_s": twin_s})
        for label, apps in (("adaptive", apps_free), ("adaptive, demand-limited", scale_demands(APPLICATIONS, n / 120))):
            t0 = time.perf_counter()
            res = assign(fleet, apps, twin=twin)
            wall = time.perf_counter() - t0
            rows.append({"batteries": n, "method": label, **res.metrics(), "status": str(res.status), "gap": res.gap,
                         "bins": res.n_bins, "build_s": res.build_s, "solve_s": res.solve_s, "twin_s": twin_s,
                         "assign_wall_s": wall})
            if n == 120 and label == "adaptive":
                plot(fleet, res.batteries, OUT / "allocation_120.png")
        print(pd.DataFrame(rows[-3:]).to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "allocation.csv", index=False)
    lines = ["# Static vs adaptive allocation (seed 003 Tables 5-6)", "",
             "| batteries | method | correct % | misallocated % | mean years | mean RTE | utilisation % | value $ | MILP status, gap | twin s | assign s | seed: correct / misalloc %, lifespan y |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for _, r in df.iterrows():
        key = "static" if r["method"] == "static" else ("adaptive" if r["method"] == "adaptive" else None)
        seed = f"{SEED_T5[key][0]} / {SEED_T5[key][1]}, {SEED_T6[key]}" if key and r["batteries"] == 120 else ""
        milp = f"{r['status']}, {100 * r['gap']:.3f} %" if isinstance(r.get("status"), str) else ""
        aw = f"{r['assign_wall_s']:.2f}" if not pd.isna(r.get("assign_wall_s", np.nan)) else ""
        lines.append(f"| {r['batteries']:,} | {r['method']} | {r['correct_pct']:.1f} | {r['misallocated_pct']:.1f} | "
                     f"{r['mean_years']:.2f} | {r['mean_rte']:.3f} | {r['utilisation_pct']:.1f} | {r['value_usd']:,.0f} | "
                     f"{milp} | {r['twin_s']:.2f} | {aw} | {seed} |")
    md = "\n".join(lines) + "\n"
    (OUT / "allocation.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
