"""Run a pymoo algorithm on the capacity problem (Algorithm 1 of Yuan et al. 2025).

The one place that drives pymoo for sizing: :func:`make_algorithm` builds DBO, PSO or GA and
:func:`run_bilevel` minimises :class:`~slopt.heuristics.capacity.CapacityProblem` with it,
recording the best plan per generation. :func:`slopt.solve_sizing` turns the outcome into a
:class:`~slopt.sizing.SizingResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopt.errors import InstanceError

__all__ = ["make_algorithm", "run_bilevel", "BilevelRun"]


def make_algorithm(method: str, pop_size: int, variant: str = "unbiased"):
    """The pymoo algorithm for ``method`` (``dbo``, ``pso`` or ``ga``) with population ``pop_size``."""
    if method == "dbo":
        from slopt.heuristics.dbo import DBO

        return DBO(pop_size=pop_size, variant=variant)
    if method == "pso":
        from pymoo.algorithms.soo.nonconvex.pso import PSO

        return PSO(pop_size=pop_size)
    if method == "ga":
        from pymoo.algorithms.soo.nonconvex.ga import GA

        return GA(pop_size=pop_size, eliminate_duplicates=True)
    raise InstanceError.at(None, "method", method, "unknown heuristic; use dbo, pso or ga")


@dataclass
class BilevelRun:
    """Outcome of :func:`run_bilevel`: the best sizes ``e_kwh``/``p_kw`` (C, K), its closed-loop
    day ``sim``, its cost, the convergence table, evaluations and timings."""

    e_kwh: np.ndarray
    p_kw: np.ndarray
    sim: object
    cost_usd: float
    fitness: float
    convergence: pd.DataFrame
    n_evals: int
    build_s: float
    solve_s: float


def run_bilevel(inst, method: str, pop_size: int, n_gen: int, seed: int, variant: str = "unbiased",
                capacity=None, progress=None) -> BilevelRun:
    """Minimise the capacity problem of ``inst`` with ``method``; ``progress(gen, row)`` per generation."""
    from pymoo.core.callback import Callback
    from pymoo.optimize import minimize

    from slopt.heuristics.capacity import CapacityOptions, CapacityProblem
    from slopt.heuristics.simulation import simulate_day

    t0 = time.perf_counter()
    problem = CapacityProblem(inst, capacity if capacity is not None else CapacityOptions())
    algorithm = make_algorithm(method, pop_size, variant)
    build_s = time.perf_counter() - t0
    rows: list[dict] = []

    class _Track(Callback):
        def notify(self, algorithm):
            opt = algorithm.opt[0]
            row = {"generation": int(algorithm.n_gen), "n_evals": int(algorithm.evaluator.n_eval),
                   "best_f": float(opt.F[0]), "best_cost_usd": float(opt.get("cost_usd")),
                   "best_max_violation_pu": float(opt.get("max_violation_pu")),
                   "elapsed_s": time.perf_counter() - t1}
            rows.append(row)
            if progress is not None:
                progress(row["generation"], row)

    t1 = time.perf_counter()
    res = minimize(problem, algorithm, ("n_gen", int(n_gen)), seed=int(seed), callback=_Track(), verbose=False)
    solve_s = time.perf_counter() - t1
    e, p = problem.decode(res.X)
    sim = simulate_day(inst, e, p, problem.options.simulation, record=True)
    return BilevelRun(e[0], p[0], sim, float(problem.cost_usd(e, p)[0]), float(res.F[0]), pd.DataFrame(rows),
                      int(res.algorithm.evaluator.n_eval), build_s, solve_s)
