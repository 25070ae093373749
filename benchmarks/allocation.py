"""Kumar et al. Tables 5-6: static vs adaptive allocation on the same footing, at 120, 10,000 and 100,000 modules.

For ``generate_fleet(n, seed=0)`` and two market settings -- no limits (the paper's setting:
every battery may take its best route) and the default demands scaled by n/120 -- this runs:

- **static**: Kumar et al. §5a, SOH >= 0.7 to grid storage, the rest to residential backup, with
  the same demands (a full rule overflows to the next one, then to recycling);
- **adaptive**: ``slopt.assign`` (twin + per-battery MILP, value objective), no pack rule
  (the static rule has none either);
- **adaptive, 5-year service**: the same, with ``min_service_years=5`` (a battery may take an
  application only if the twin gives it at least the service period there);
- **adaptive, lifespan objective**: each battery's objective is its twin life on the route
  (applications only), to show how the lifespan metric follows the objective.

Metrics (``allocation_metrics``, independent of any objective): correct = on a route whose
requirements the battery meets for the whole service period (5 years) in the twin;
misallocated = the rest; mean lifespan over every battery placed in an application, the
misallocated at their twin life there (0 if unfit or thermally unsafe). The reasons of the
misallocations are broken down. Writes CSV + markdown + the 120-module allocation PNG.

    python benchmarks/allocation.py [--sizes 120,10000,100000]
"""

from __future__ import annotations

import os
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.twin import simulate_twin
from slopt.fleet import APPLICATIONS, generate_fleet, scale_demands
from slopt.fleet.assign import (AssignmentOptions, allocation_metrics, assign, assign_arrays, route_values,
                                static_baseline)

ROOT = Path(__file__).resolve().parents[1]
OUT = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out")
SEED_T5 = {"static": (68, 32), "adaptive": (96, 4)}        # correct %, misallocation %
SEED_T6 = {"static": 4.8, "adaptive": 6.9}                  # average lifespan, years
SERVICE_YEARS = 5.0


def unlimited(apps):
    return {k: a.with_(demand_kwh=np.inf) for k, a in apps.items()}


def reasons(table: pd.DataFrame, bat: pd.DataFrame, apps: dict, twin) -> dict:
    """Why misallocated batteries miss their application's requirements (first reason that applies)."""
    names = list(apps)
    A = len(names)
    route = bat["route"].map({k: i for i, k in enumerate(names)}).fillna(-1).astype(int).to_numpy()
    in_app = route >= 0
    rows = np.flatnonzero(in_app)
    r = route[rows]
    soh, rg = table["soh"].to_numpy()[rows], table["r_growth"].to_numpy()[rows]
    min_soh = np.array([apps[k].min_soh for k in names])[r]
    max_rg = np.array([apps[k].max_r_growth for k in names])[r]
    thermal = np.asarray(twin.breach_prob)[rows, r] >= 1.0
    years = np.asarray(twin.second_life_years)[rows, r]
    knee = np.asarray(twin.end_reason)[rows, r] == 3                     # END_REASONS.index("knee")
    cat = np.select([soh < min_soh, rg > max_rg, thermal, (years < SERVICE_YEARS) & knee, years < SERVICE_YEARS],
                    ["below the minimum SOH", "resistance growth above the limit", "thermal limit exceeded",
                     f"ageing knee before {SERVICE_YEARS:g} years", f"SOH or resistance limit before {SERVICE_YEARS:g} years"],
                    default="")
    s = pd.Series(cat[cat != ""]).value_counts()
    return {k: 100.0 * v / len(bat) for k, v in s.items()}


def lifespan_plan(fleet, apps, twin, opts) -> pd.DataFrame:
    """Each battery's objective is its twin life on the route (demands as given)."""
    al = list(apps.values())
    value, feas, years, rte = route_values(fleet.table, al, twin, opts)
    life = np.column_stack([np.where(feas[:, :len(al)], years, 0.0), np.zeros((len(fleet), 2))])
    demand = np.r_[[a.demand_kwh for a in al], np.inf, np.inf]
    plan = assign_arrays(life, feas, fleet.usable_kwh, demand, n_apps=len(al), options=opts)
    names = [a.name for a in al] + ["remanufacture", "recycle"]
    rows = np.arange(len(fleet))
    in_app = plan.route < len(al)
    ra = np.minimum(plan.route, len(al) - 1)
    return pd.DataFrame({"battery_id": fleet.table["battery_id"], "route": np.array(names, object)[plan.route],
                         "best_route": np.array(names, object)[np.argmax(np.where(feas, value, -np.inf), axis=1)],
                         "value_usd": value[rows, plan.route], "feasible": feas[rows, plan.route],
                         "second_life_years": np.where(in_app, years[rows, ra], np.nan),
                         "rte": np.where(in_app, rte[rows, ra], np.nan), "usable_kwh": fleet.usable_kwh})


def plot(fleet, table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = fleet.table.merge(table[["battery_id", "route"]], on="battery_id")
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (route, g) in enumerate(t.groupby("route")):
        ax.scatter(100 * g["soh"], g["r0_mohm"], s=22, label=f"{route} ({len(g)})", color=f"C{i % 10}")
    acc = t[t["accelerated"]]
    ax.scatter(100 * acc["soh"], acc["r0_mohm"], s=60, facecolors="none", edgecolors="k", label="accelerated agers")
    ax.set_xlabel("SOH (%)")
    ax.set_ylabel("R0 (mOhm)")
    ax.set_title("adaptive allocation of the 120-module fleet, no market limits (twin + MILP)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_size(n: int) -> list:
    fleet = generate_fleet(n, seed=0)
    rows = []
    t0 = time.perf_counter()
    twin = simulate_twin(fleet, list(APPLICATIONS.values()))
    twin_s = time.perf_counter() - t0
    for setting, apps in (("no market limits", unlimited(APPLICATIONS)),
                          ("demands x n/120", scale_demands(APPLICATIONS, n / 120))):
        base = AssignmentOptions(pack=None)
        runs = [("static", lambda: static_baseline(fleet, apps, twin=twin, options=base))]
        for label, o in (("adaptive", base), ("adaptive, 5-year service",
                                              AssignmentOptions(pack=None, min_service_years=SERVICE_YEARS))):
            runs.append((label, lambda o=o: assign(fleet, apps, twin=twin, options=o)))
        runs.append(("adaptive, lifespan objective", lambda: lifespan_plan(fleet, apps, twin, base)))
        for label, fn in runs:
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            bat = out.batteries if hasattr(out, "batteries") else out
            row = {"batteries": n, "setting": setting, "method": label,
                   **allocation_metrics(bat, service_years=SERVICE_YEARS),
                   "correct_3y_pct": allocation_metrics(bat, service_years=3.0)["correct_pct"],
                   "correct_8y_pct": allocation_metrics(bat, service_years=8.0)["correct_pct"],
                   "why": reasons(fleet.table, bat, apps, twin), "twin_s": twin_s, "method_s": dt}
            if hasattr(out, "gap"):
                row.update(status=str(out.status), gap_pct=100 * out.gap)
            rows.append(row)
            if n == 120 and label == "adaptive" and setting == "no market limits":
                plot(fleet, bat, OUT / "allocation_120.png")
    return rows


def markdown(df: pd.DataFrame) -> str:
    lines = ["# Static vs adaptive allocation (Kumar et al. Tables 5-6)", "",
             "Produced by `benchmarks/allocation.py` (`generate_fleet(n, seed=0)`, twin horizon 10 years). "
             f"Correct = on a route whose requirements the battery meets for the {SERVICE_YEARS:g}-year service "
             "period in the twin (recycling is always a valid route); lifespan = mean twin life of every battery "
             "placed in an application, misallocated ones at their life there (0 if unfit or thermally unsafe). "
             "Both methods get the same demands.", "",
             "| batteries | market | method | correct % | misallocated % | mean lifespan y | mean RTE | utilisation % "
             "| value $ | correct % at 3 / 8 y | Kumar et al.: correct / misalloc %, lifespan y |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for _, r in df.iterrows():
        key = r["method"] if r["method"] in SEED_T5 else None
        seed = (f"{SEED_T5[key][0]} / {SEED_T5[key][1]}, {SEED_T6[key]}"
                if key and r["batteries"] == 120 and r["setting"] == "no market limits" else "")
        lines.append(f"| {r['batteries']:,} | {r['setting']} | {r['method']} | {r['correct_pct']:.1f} | "
                     f"{r['misallocated_pct']:.1f} | {r['mean_years']:.2f} | {r['mean_rte']:.3f} | "
                     f"{r['utilisation_pct']:.1f} | {r['value_usd']:,.0f} | {r['correct_3y_pct']:.1f} / "
                     f"{r['correct_8y_pct']:.1f} | {seed} |")
    lines += ["", "Why the misallocated batteries miss their requirements (% of all batteries):", "",
              "| batteries | market | method | reasons |", "|---:|---|---|---|"]
    for _, r in df.iterrows():
        why = "; ".join(f"{k} {v:.1f}" for k, v in r["why"].items()) or "-"
        lines.append(f"| {r['batteries']:,} | {r['setting']} | {r['method']} | {why} |")
    lines += ["", "Adaptive plans: status and certified gap; times (s):", "",
              "| batteries | market | method | status | gap % | twin s | method s |", "|---:|---|---|---|---:|---:|---:|"]
    for _, r in df.iterrows():
        gap = f"{r['gap_pct']:.4f}" if pd.notna(r.get("gap_pct", np.nan)) else ""
        lines.append(f"| {r['batteries']:,} | {r['setting']} | {r['method']} | {r.get('status', '') if pd.notna(r.get('status', np.nan)) else ''} | "
                     f"{gap} | {r['twin_s']:.2f} | {r['method_s']:.2f} |")
    return "\n".join(lines) + "\n"


def notes(df: pd.DataFrame) -> str:
    """Why our numbers differ from Kumar et al.'s 68/96 % and 4.8/6.9 years (figures from this run)."""
    def g(method, key, n=120, setting="no market limits"):
        row = df[(df["batteries"] == n) & (df["setting"] == setting) & (df["method"] == method)]
        return float(row[key].iloc[0]) if len(row) else float("nan")

    st, ad, ad5, life = "static", "adaptive", "adaptive, 5-year service", "adaptive, lifespan objective"
    big = int(df["batteries"].max())
    return f"""## How these numbers differ from Kumar et al. (68 / 96 % correct, 4.8 / 6.9 years)

**What "correct" means.** Kumar et al. do not define correct allocation; they say 32 % of the static
allocations "did not match their thermal and performance characteristics". Here a route is correct
if the battery meets the application's requirements for a {SERVICE_YEARS:g}-year service in the twin
(SOH and resistance limits, thermal limit, no ageing knee before the end of service). This does not
depend on the optimiser's objective. The previous version counted a battery as correct when it was
on the twin's most valuable route, which is what the unlimited MILP maximises, so adaptive came out
at 100 % by construction. Columns "correct % at 3 / 8 y" show how the result depends on the service
period.

**Static: {g(st, "correct_pct"):.1f} % correct, {g(st, "misallocated_pct"):.1f} % misallocated, against 68 / 32.**
The static rule sends every battery to one of the two gentlest duties in our application set.
Grid time shift runs at 0.125 C, 25 °C, one cycle a day, minimum SOH 0.6. Residential backup runs
24 cycles a year, minimum SOH 0.4. The twin finds almost every module fit for five years in these
duties, and none overheats at these C-rates. The misallocated ones are modules with SOH >= 0.7,
mostly accelerated agers, that reach their ageing knee within five years in grid storage. To get
the paper's 32 %, a twin would have to overstress a third of the population in grid and backup
duty; ours does not (`docs/twin.md`). Measured against the twin's most valuable route instead, the
static rule would score {g(st, "on_best_route_pct"):.1f} %. That is a measure of lost value, not of
misallocation.

**Adaptive: {g(ad, "correct_pct"):.1f} % correct with the value objective, {g(ad5, "correct_pct"):.1f} %
when the service period is required, against 96 %.** The optimiser maximises second-life value and
is not told the service period. For {g(ad, "misallocated_pct"):.1f} % of the modules, the most
valuable use is a demanding duty lasting less than five years (frequency regulation at 1 C, the
EV-charging buffer, the cold microgrid). That beats ten years of backup in value, but the metric
counts it as a misallocation. With `min_service_years = 5` no module is misallocated, and the value
drops by {100 * (1 - g(ad5, "value_usd") / g(ad, "value_usd")):.1f} % (${g(ad5, "value_usd"):,.0f}
vs ${g(ad, "value_usd"):,.0f}). At a 3-year service the value-only plan scores
{g(ad, "correct_3y_pct"):.1f} %, close to the paper's 96 %. Both adaptive plans are worth about
twice the static one (${g(st, "value_usd"):,.0f}).

**Lifespan: static {g(st, "mean_years"):.2f} years against adaptive {g(ad, "mean_years"):.2f}, the
reverse of the paper's 4.8 -> 6.9.** Misallocated modules are counted here, at their twin life in
the application (0 if unfit or thermally unsafe, else until the knee).
- The static destinations are the long-lived duties of our twin. Most modules in backup reach the
  10-year horizon, which caps every life.
- The value objective trades years for value: frequency regulation ends a module's second life
  sooner than backup but earns more.
- The lifespan metric follows the objective. With each module's twin life as the objective, the
  adaptive plan reaches {g(life, "mean_years"):.2f} years, but it is worth only
  ${g(life, "value_usd"):,.0f}. Kumar et al. optimise remaining life, degradation and cost together,
  which would sit between these plans.
- The paper's absolute levels (4.8 and 6.9 years, its Table 4 gives 3.8-7.5 years) are shorter than
  our twin's lives on these duties, which are calibrated against BLAST-Lite (`docs/twin.md`).

**With market limits (demands x n/120), both on the same demands.**
- The static rule can use only the grid and backup demands: {g(st, "utilisation_pct", setting="demands x n/120"):.1f} %
  of the modules in applications, against {g(ad, "utilisation_pct", setting="demands x n/120"):.1f} %
  for the adaptive plan.
- The static plan is worth ${g(st, "value_usd", setting="demands x n/120"):,.0f}, the adaptive one
  ${g(ad, "value_usd", setting="demands x n/120"):,.0f}.
- Recycling is always a valid route, so the overflow is never misallocated. Correct % alone
  therefore does not rank the methods here; utilisation and value do.

**Scale.** At 10,000 and {big:,} modules the picture is the same: shares within about a point of
the 120-module run, lifespans within 0.2 years. The adaptive plans carry certified gaps below
0.01 % (table above).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="120,10000,100000")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        rows += run_size(n)
        print(pd.DataFrame(rows[-8:])[["batteries", "setting", "method", "correct_pct", "mean_years", "value_usd"]]
              .to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    df.assign(why=df["why"].map(lambda d: "; ".join(f"{k}: {v:.2f}" for k, v in d.items()))).to_csv(
        OUT / "allocation.csv", index=False)
    md = markdown(df) + "\n" + notes(df)
    (OUT / "allocation.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
