"""Speed of one DBO-MFAC run (issue target: ieee33-hybrid, pop 30, 50 generations, 15 min, <= 60 s).

Runs ``slopt.solve_sizing(inst, "dbo")`` ``--repeats`` times (seeds 0..) serially and reports
the median wall time and fitness evaluations per second; each evaluation simulates two days
(warm-up + measured) of 96 steps with two batched AC sweeps per step.

    python benchmarks/dbo_mfac_speed.py [--instance instances/ieee33-hybrid.toml] [--repeats 3]
"""

from __future__ import annotations

import os
import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

import slopt
from slopt.sizing import HeuristicOptions, SizingOptions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default=str(ROOT / "instances" / "ieee33-hybrid.toml"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pop", type=int, default=30)
    ap.add_argument("--gens", type=int, default=50)
    args = ap.parse_args()
    inst = slopt.load_instance(args.instance)
    rows = []
    for seed in range(args.repeats):
        opts = SizingOptions(heuristic=HeuristicOptions(pop_size=args.pop, n_gen=args.gens, seed=seed))
        t0 = time.perf_counter()
        res = slopt.solve_sizing(inst, "dbo", opts)
        wall = time.perf_counter() - t0
        rows.append({"instance": inst.name, "seed": seed, "pop": args.pop, "gens": args.gens, "wall_s": wall,
                     "n_evals": res.n_evals, "evals_per_s": res.n_evals / wall, "status": str(res.status),
                     "cost_usd": res.objective_usd, "max_violation_pu": res.ac_max_violation_pu})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "dbo_mfac_speed.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"median wall {statistics.median(df['wall_s']):.2f} s, median {statistics.median(df['evals_per_s']):.0f} "
          f"evaluations/s (target <= 60 s); wrote {out}")


if __name__ == "__main__":
    main()
