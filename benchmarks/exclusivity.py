"""Over-voltage days: the year planner's direction fix against exact exclusivity and an
independent AC-exact reference (issue: year-scale planning, the open exclusivity item).

Where PV export pushes voltages over the ceiling, a relaxed sizing plan charges and
discharges one unit in the same step to burn energy in its losses. Three ways to forbid it,
on single over-voltage days of the SimBench LV rural grid:

* ``fix``: slopt with ``exclusivity="fix"`` (the year planner's default): directions fixed where
  a plan still cycled after the least-throughput LP; a restriction, with the bound of the
  same model with directions free (a relaxation).
* ``binaries``: slopt with ``exclusivity="binaries"``: exact, HiGHS's bound after its time limit.
* ``reference``: ``tools/ac_reference.py``, AC-exact sizing that shares no model code with slopt
  (SciPy's HiGHS, exclusivity binaries on every step once a plan cycles, trust-region SLP).

Columns: cost and bound of each; ``fix_vs_ref_pct`` = (fix - reference) / reference. Prints a
table and writes ``exclusivity.csv`` and ``exclusivity.md``.

    python benchmarks/exclusivity.py [--days 137,160] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import slopt  # noqa: E402
from _report import provenance, write_results  # noqa: E402
from slopt.sizing import SizingOptions, solve_sizing  # noqa: E402
from slopt.solve import SolveOptions  # noqa: E402
from slopt.year import days_of  # noqa: E402
from tools.ac_reference import reference_sizing  # noqa: E402


def main() -> None:
    prov = provenance()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default="simbench-lv-rural1-year")
    ap.add_argument("--days", default="137", help="day indices of the year (137: its highest voltage)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per MILP of the binaries and the reference")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inst = slopt.load_instance(ROOT / "instances" / f"{args.instance}.toml")
    rows = []
    for day in [int(d) for d in args.days.split(",") if d]:
        one = days_of(inst, [day])
        row = {"instance": args.instance, "day": day}
        for mode in ("fix", "binaries"):
            t0 = time.perf_counter()
            r = solve_sizing(one, options=SizingOptions(exclusivity=mode, solver=SolveOptions(
                mip_rel_gap=1e-4, time_limit_s=args.time_limit)))
            row.update({f"{mode}_s": round(time.perf_counter() - t0, 1), f"{mode}_status": str(r.status),
                        f"{mode}_usd": r.objective_usd, f"{mode}_bound_usd": r.bound_usd,
                        f"{mode}_gap_pct": None if r.gap is None else round(100 * r.gap, 2)})
            print(f"  day {day} {mode}: {r.status} {r.objective_usd} bound {r.bound_usd}", flush=True)
        t0 = time.perf_counter()
        ref = reference_sizing(one, time_limit=args.time_limit)
        row.update({"reference_s": round(time.perf_counter() - t0, 1), "reference_status": ref.status,
                    "reference_usd": ref.cost_usd})
        if ref.cost_usd and row["fix_usd"]:
            row["fix_vs_ref_pct"] = round(100 * (row["fix_usd"] - ref.cost_usd) / ref.cost_usd, 3)
        rows.append(row)
        print(row, flush=True)
    print(write_results(out, "exclusivity", "Over-voltage days: direction fix vs exact exclusivity vs the AC-exact reference",
                        prov, rows))


if __name__ == "__main__":
    main()
