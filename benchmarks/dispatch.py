"""Yuan et al. Tables 3 and 4 and Figs 7-8: dispatch among the node-30 battery groups.

Table 4: every strategy (priority = Eq. 9, CPD, SOHD, MPCD, Eq. 10 optimal) on the base request
(the bus-30 storage power of the ieee33 sizing plan, scaled to the paper's 186 kWh system), with
the voltage RMSE on the ieee33 feeder. Table 3: the priority strategy over the four load
scenarios of ``instances/node30-groups.toml``. Writes CSV + markdown beside the paper's numbers
and the PNGs of SOC per group (Fig. 7) and energy per group (Fig. 8).

    python benchmarks/dispatch.py [--strategies priority,proportional,soh,mpc,optimal] [--repeats 3]
"""

from __future__ import annotations

import os
import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

import slopt
from slopt.dispatch.simulate import (feeder_context_from_instance, groups_from_instance,
                                     simulate_dispatch)
from slopt.dispatch.strategies import get_strategy
from slopt.dispatch.sweep import sweep_instance
from slopt.report import write_dispatch_result

ROOT = Path(__file__).resolve().parents[1]
OUT = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out")
SEED_T4 = {  # degradation %/day, deviation kW, time s, voltage RMSE p.u.
    "priority": (0.0082, 0.156, 0.42, 0.0023), "proportional": (0.0145, 0.892, 0.15, 0.0089),
    "soh": (0.0098, 0.235, 0.68, 0.0045), "mpc": (0.0094, 0.198, 1.25, 0.0031),
}
SEED_T3 = {  # peak kW, active groups, SOC range 1-4, SOC range 9, efficiency %, consistency
    "high": ("180-220", "1-4, 9", "0.85-1.0", "0.243-0.977", 94.2, 0.96),
    "medium": ("120-160", "1-4, 9", "0.70-1.0", "0.350-0.890", 95.8, 0.98),
    "low": ("60-100", "1-4, 9", "0.50-0.95", "0.420-0.750", 96.1, 0.97),
    "variable": ("80-200", "1-4, 9", "0.55-1.0", "0.280-0.920", 94.7, 0.95),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="priority,proportional,soh,mpc,optimal")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    args = ap.parse_args()
    inst = slopt.load_instance(ROOT / "instances" / "node30-groups.toml")
    d = inst.dispatch
    groups, info = groups_from_instance(inst)
    ctx = feeder_context_from_instance(inst)
    requests = d.requests()
    kw = dict(dt_h=info["dt_h"], soc0=info["soc0"], names=info["names"], technology=info["technology"])

    rows, runs = [], []
    for name in args.strategies.split(","):
        s = get_strategy(name)
        if not s.available:
            rows.append({"strategy": name, "note": "not available"})
            continue
        opts = {"b": d.priority_b} if s.name == "priority" else None
        times, res = [], None
        for _ in range(max(args.repeats, 1)):
            t0 = time.perf_counter()
            try:
                res = simulate_dispatch(groups, requests["base"], s, options=opts, feeder_context=ctx,
                                        scenario="base", **kw)
            except slopt.SloptError as e:
                res = None
                rows.append({"strategy": s.name, "note": f"failed: {e}"})
                break
            times.append(time.perf_counter() - t0)
        if res is None:
            continue
        runs.append(res)
        m = res.metrics
        seed = SEED_T4.get(s.name, (None,) * 4)
        rows.append({"strategy": s.name, "soh_degradation_pct_per_day": m["soh_degradation_pct_per_day"],
                     "deviation_mae_kw": m["deviation_mae_kw"], "compute_s_median": statistics.median(times),
                     "voltage_rmse_pu": m["voltage_rmse_pu"], "unserved_kwh": m["unserved_charge_kwh"] + m["unserved_discharge_kwh"],
                     "active_groups": m["active_groups"], "life_variance_eq10": m["life_variance_eq10"],
                     "seed_degradation": seed[0], "seed_deviation_kw": seed[1], "seed_time_s": seed[2],
                     "seed_voltage_rmse": seed[3]})
        print(rows[-1], flush=True)
    t4 = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    t4.to_csv(OUT / "dispatch_table4.csv", index=False)

    pr = get_strategy("priority")
    sw = sweep_instance(inst, [pr], voltage=False)          # the library's scenario sweep, as the CLI runs it
    by_sc = {r.scenario: r for r in sw.runs}
    t3 = sw.table3[pr.name]
    t3.to_csv(OUT / "dispatch_table3.csv")
    files = write_dispatch_result(runs or list(by_sc.values()), OUT / "dispatch", plots=True, plot_scenario="base",
                                  title="node30-groups")

    lines = ["# Yuan et al. Table 4: dispatch strategies at node 30 (base request, 15 min)", "",
             "| strategy | SOH loss %/day | deviation kW (MAE) | time s | voltage RMSE p.u. | unserved kWh | active groups | Yuan et al.: %/day, kW, s, p.u. |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for _, r in t4.iterrows():
        if isinstance(r.get("note"), str):
            lines.append(f"| {r['strategy']} | {r['note']} | | | | | | |")
            continue
        seed = "" if pd.isna(r["seed_degradation"]) else \
            f"{r['seed_degradation']}, {r['seed_deviation_kw']}, {r['seed_time_s']}, {r['seed_voltage_rmse']}"
        lines.append(f"| {r['strategy']} | {r['soh_degradation_pct_per_day']:.5f} | {r['deviation_mae_kw']:.3f} | "
                     f"{r['compute_s_median']:.3f} | {r['voltage_rmse_pu']:.5f} | {r['unserved_kwh']:.1f} | "
                     f"{r['active_groups']} | {seed} |")
    lines += ["", "# Yuan et al. Table 3: priority strategy across load scenarios", "",
              "```", t3.to_string(), "```", "", "Yuan et al. Table 3 (peak kW, active groups, SOC range groups 1-4, "
              "SOC range group 9, efficiency %, consistency):", ""]
    lines += [f"- {k}: {v}" for k, v in SEED_T3.items()]
    lines += ["", "## Where we differ from Yuan et al.", "",
              "- All nine groups stay active under every strategy and scenario; the paper reports groups 5-8 idle.",
              "  Our priority rule follows the stated intent of Eq. 9 (healthy packs first, SOC balanced), which",
              "  fills G1-G4 first but needs G5-G9 whenever the request exceeds what G1-G4 can take.",
              "- The health-priority rule lowers the SOH loss rate below CPD and SOHD on the base request, but by",
              "  a few per cent, not the paper's 43 % versus CPD; with our cycle-life model (Eq. 7, Woehler,",
              "  rainflow) the differences between strategies are small on a single day. The Eq. 10 optimum",
              "  (and MPC, which balances the cumulative wear) gives the lowest loss, below the priority rule:",
              "  the paper's ranking (proposed < MPCD) is not reproduced.",
              "- The deviation and voltage RMSE are equal for the three numpy strategies: they all deliver the",
              "  request whenever the groups can (the deviation is the unserved part); the paper's values are",
              "  not reproducible from its text.",
              "- System efficiency is 88 % (our 0.95/0.93 one-way efficiencies); the paper reports 94-96 %.",
              "- The scenario peaks are mapped onto the 107 kW system by our rule (docs/dispatch.md); medium,",
              "  high and variable exceed the 186 kWh system and leave unserved energy.",
              "- Times: the numpy strategies run the day in milliseconds (computation time above includes the",
              "  feeder voltage check); MPCD and the Eq. 10 optimum are Pyomo + HiGHS models."]
    md = "\n".join(lines) + "\n"
    (OUT / "dispatch.md").write_text(md)
    print(md)
    print("wrote", ", ".join(p.name for p in files))


if __name__ == "__main__":
    main()
