"""DBO (paper and unbiased variants) against pymoo's PSO and GA on standard test functions.

Ten 30-D functions (sphere, ellipsoid, Zakharov, Schwefel 2.22, Schwefel 1.2, step,
Rosenbrock, Rastrigin, Ackley, Griewank), each in its standard position (optimum at the
origin; Rosenbrock at 1) and shifted: f(x - o) with o drawn once per function from a fixed
seed, uniformly in the central 40 % of the range (|o_i| <= 0.2 (ub - lb)).  Every algorithm
gets the same budget, population 30 x ``--gens`` generations, over ``--seeds`` seeds.
The error is f(best) - f*, with f* = 0 for all functions.

Usage::

    python benchmarks/dbo_functions.py [--seeds 30] [--gens 300] [--workers 2] [--only DBO-unbiased]

``--only`` reruns the named algorithms and keeps the other algorithms' rows from the existing
CSV (every run is deterministic in its seed, so those rows are what a rerun would give).
The floors of the default DBO's boxes were chosen on seeds 0-9 of the shifted set, so the
table also gives the mean rank over seeds 10 and up alone (held out).

Writes ``benchmarks/results/dbo_functions.csv`` (one row per run) and
``benchmarks/results/dbo_functions.md`` (median and IQR of the error per algorithm and
function, mean rank of the median over the unshifted and the shifted sets) and prints the
markdown.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymoo.algorithms.soo.nonconvex.ga import GA  # noqa: E402
from pymoo.algorithms.soo.nonconvex.pso import PSO  # noqa: E402
from pymoo.core.problem import Problem  # noqa: E402
from pymoo.optimize import minimize  # noqa: E402

from slopt.heuristics import DBO  # noqa: E402

DIM = 30
POP = 30
SHIFT_SEED = 20220101
ALGORITHMS = ("DBO-unbiased", "DBO-paper", "PSO", "GA")
HELD_OUT_FROM = 10  # seeds 0-9 of the shifted set were used to choose the DBO box floors


# ----------------------------------------------------------------------------- functions (z = x - o)
def sphere(z):
    return (z ** 2).sum(1)


def ellipsoid(z):
    return ((np.arange(1, z.shape[1] + 1) * z ** 2)).sum(1)


def zakharov(z):
    s = (0.5 * np.arange(1, z.shape[1] + 1) * z).sum(1)
    return (z ** 2).sum(1) + s ** 2 + s ** 4


def schwefel222(z):
    a = np.abs(z)
    return a.sum(1) + np.prod(a, axis=1)


def schwefel12(z):
    return (np.cumsum(z, axis=1) ** 2).sum(1)


def step(z):
    return (np.floor(z + 0.5) ** 2).sum(1)


def rosenbrock(z):
    return (100.0 * (z[:, 1:] - z[:, :-1] ** 2) ** 2 + (z[:, :-1] - 1.0) ** 2).sum(1)


def rastrigin(z):
    return (z ** 2 - 10.0 * np.cos(2 * np.pi * z) + 10.0).sum(1)


def ackley(z):
    d = z.shape[1]
    return (-20.0 * np.exp(-0.2 * np.sqrt((z ** 2).sum(1) / d))
            - np.exp(np.cos(2 * np.pi * z).sum(1) / d) + 20.0 + np.e)


def griewank(z):
    i = np.sqrt(np.arange(1, z.shape[1] + 1))
    return (z ** 2).sum(1) / 4000.0 - np.prod(np.cos(z / i), axis=1) + 1.0


# name -> (function, half-width of the symmetric box)
FUNCTIONS = {
    "sphere": (sphere, 100.0),
    "ellipsoid": (ellipsoid, 100.0),
    "zakharov": (zakharov, 10.0),
    "schwefel222": (schwefel222, 10.0),
    "schwefel12": (schwefel12, 100.0),
    "step": (step, 100.0),
    "rosenbrock": (rosenbrock, 30.0),
    "rastrigin": (rastrigin, 5.12),
    "ackley": (ackley, 32.0),
    "griewank": (griewank, 600.0),
}


def shift_vector(name: str, shifted: bool) -> np.ndarray:
    """Fixed optimum offset: zeros, or U(-0.2, 0.2)*(ub-lb) from a seed fixed per function."""
    if not shifted:
        return np.zeros(DIM)
    _, h = FUNCTIONS[name]
    idx = list(FUNCTIONS).index(name)
    rng = np.random.default_rng([SHIFT_SEED, idx])
    return rng.uniform(-0.4 * h, 0.4 * h, DIM)


class Shifted(Problem):
    """f(x - o) on [-h, h]^D."""

    def __init__(self, name: str, shifted: bool):
        f, h = FUNCTIONS[name]
        super().__init__(n_var=DIM, n_obj=1, xl=-h, xu=h)
        self.f = f
        self.o = shift_vector(name, shifted)

    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = self.f(x - self.o)


def make_algorithm(name: str):
    if name == "DBO-unbiased":
        return DBO(pop_size=POP, variant="unbiased")
    if name == "DBO-paper":
        return DBO(pop_size=POP, variant="paper")
    if name == "PSO":
        return PSO(pop_size=POP)
    if name == "GA":
        return GA(pop_size=POP)
    raise ValueError(name)


def run_one(task):
    fname, shifted, alg, seed, gens = task
    problem = Shifted(fname, shifted)
    t0 = time.perf_counter()
    res = minimize(problem, make_algorithm(alg), ("n_gen", gens), seed=seed, verbose=False)
    wall = time.perf_counter() - t0
    return dict(function=fname, shifted=shifted, algorithm=alg, seed=seed,
                error=float(res.F[0]), n_evals=int(res.algorithm.evaluator.n_eval),
                wall_s=wall)


def summarize(df: pd.DataFrame, seeds: int, gens: int) -> str:
    g = df.groupby(["shifted", "function", "algorithm"])["error"]
    med = g.median().unstack("algorithm")[list(ALGORITHMS)]
    q1 = g.quantile(0.25).unstack("algorithm")[list(ALGORITHMS)]
    q3 = g.quantile(0.75).unstack("algorithm")[list(ALGORITHMS)]
    ranks = med.rank(axis=1, method="average")
    evals = df.groupby("algorithm")["n_evals"].median()

    lines = [f"DBO vs pymoo PSO/GA, D = {DIM}, population {POP} x {gens} generations, "
             f"{seeds} seeds. Cells: median error f(best) - f* [IQR]; rank by median "
             "(1 = best, ties averaged).", "",
             "Median evaluations per run: "
             + ", ".join(f"{a} {int(evals[a])}" for a in ALGORITHMS), ""]
    for shifted in (False, True):
        title = "Shifted optimum" if shifted else "Optimum at the standard position"
        lines += [f"### {title}", "",
                  "| function | " + " | ".join(ALGORITHMS) + " |",
                  "|---|" + "---|" * len(ALGORITHMS)]
        for fname in FUNCTIONS:
            cells = []
            for a in ALGORITHMS:
                m, lo, hi = med.loc[(shifted, fname), a], q1.loc[(shifted, fname), a], \
                    q3.loc[(shifted, fname), a]
                cells.append(f"{m:.2e} [{hi - lo:.1e}]")
            lines.append(f"| {fname} | " + " | ".join(cells) + " |")
        mr = ranks.loc[shifted].mean()
        lines.append("| **mean rank** | " + " | ".join(f"**{mr[a]:.2f}**" for a in ALGORITHMS)
                     + " |")
        held = df[(df["shifted"] == shifted) & (df["seed"] >= HELD_OUT_FROM)]
        if held["seed"].nunique() > 0:
            hm = held.groupby(["function", "algorithm"])["error"].median().unstack("algorithm")
            hr = hm[list(ALGORITHMS)].rank(axis=1, method="average").mean()
            lines.append(f"| mean rank, seeds >= {HELD_OUT_FROM} | "
                         + " | ".join(f"{hr[a]:.2f}" for a in ALGORITHMS) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--gens", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--only", default="", help="rerun these algorithms, reuse the rest from the CSV")
    args = ap.parse_args(argv)

    only = [a for a in args.only.split(",") if a]
    unknown = sorted(set(only) - set(ALGORITHMS))
    if unknown:
        ap.error(f"--only: unknown algorithm(s) {unknown}; expected some of {list(ALGORITHMS)}")
    kept = None
    if only:
        kept = pd.read_csv(args.out / "dbo_functions.csv")
        kept = kept[~kept["algorithm"].isin(only) & (kept["seed"] < args.seeds)]
        have = kept.groupby("algorithm")["seed"].nunique()
        if set(have.index) != set(ALGORITHMS) - set(only) or (have < args.seeds).any():
            ap.error(f"--only: the existing CSV lacks {args.seeds} seeds of the other algorithms")
    tasks = [(f, s, a, seed, args.gens) for f in FUNCTIONS for s in (False, True)
             for a in (only or ALGORITHMS) for seed in range(args.seeds)]
    t0 = time.perf_counter()
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            rows = pool.map(run_one, tasks, chunksize=4)
    else:
        rows = [run_one(t) for t in tasks]
    df = pd.DataFrame(rows)
    if kept is not None:
        df = pd.concat([kept, df], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "dbo_functions.csv", index=False)
    md = summarize(df, args.seeds, args.gens)
    md += f"\nTotal wall time {time.perf_counter() - t0:.0f} s with {args.workers} workers"
    md += (f" (reran {', '.join(only)}; the other rows are from the previous run).\n" if only else ".\n")
    (args.out / "dbo_functions.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
