"""The capacity problem of Yuan et al. Algorithm 1 as a pymoo ``Problem``.

Decision vector, per candidate bus ``c`` (order of the instance's candidates) and technology
``k`` (``new``, ``retired`` as present): ``(E[c,k] kWh, P[c,k] kW)``, i.e. ``(E_new, P_new,
E_ret, P_ret)`` per bus. Evaluating a population simulates the day for all its plans at once
(:func:`slopt.heuristics.simulation.simulate_day`: MFAC on the batched AC sweep, power split
among battery groups). Fitness (to minimise)::

    F = Eq. 2 cost + w_v * band violation (p.u. h) + w_e * end-of-day SOC deficit (kWh)

Decoding repairs what the bounds cannot express: ``P <= Crate * SOH * E`` (the retired-pack
C-rate limit) and, in free-siting mode, only the ``max_sites`` largest sites are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pymoo.core.problem import Problem

from slopt.battery.cost import storage_cost_usd
from slopt.heuristics.simulation import SimulationOptions, simulate_day
from slopt.io.instance import Instance

__all__ = ["CapacityOptions", "CapacityProblem"]


@dataclass(frozen=True)
class CapacityOptions:
    """Penalty weights and simulation options of the capacity problem.

    Attributes
    ----------
    violation_usd_per_puh : float
        Penalty per p.u.-hour of band violation (sum over steps of the worst bus).
    deficit_usd_per_kwh : float
        Penalty per kWh of SOC not restored by the end of the day.
    simulation : SimulationOptions
    """

    violation_usd_per_puh: float = 1e9
    deficit_usd_per_kwh: float = 1e4
    simulation: SimulationOptions = field(default_factory=SimulationOptions)


class CapacityProblem(Problem):
    """pymoo problem: size storage at the candidate buses of ``instance`` (Yuan et al. Algorithm 1).

    Examples
    --------
    >>> from pymoo.optimize import minimize                            # doctest: +SKIP
    >>> from slopt.heuristics import DBO, CapacityProblem              # doctest: +SKIP
    >>> res = minimize(CapacityProblem(inst), DBO(pop_size=30), ("n_gen", 50), seed=1)  # doctest: +SKIP
    """

    def __init__(self, instance: Instance, options: CapacityOptions | None = None):
        self.instance = instance
        self.options = options or CapacityOptions()
        self.techs = [instance.technologies[k] for k in ("new", "retired") if k in instance.technologies]
        cands = instance.candidates
        C, K = cands.n, len(self.techs)
        e_max = np.broadcast_to(np.asarray(cands.e_max_kwh, dtype=float), (C,))
        p_max = np.broadcast_to(np.asarray(cands.p_max_kw, dtype=float), (C,))
        xu = np.stack([np.repeat(e_max[:, None], K, 1), np.repeat(p_max[:, None], K, 1)], axis=-1).ravel()
        self.shape = (C, K)
        super().__init__(n_var=2 * C * K, n_obj=1, n_ieq_constr=0, xl=np.zeros(2 * C * K), xu=xu)

    # ------------------------------------------------------------------ decoding
    def decode(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Population ``X`` (P, n_var) -> ratings ``E, P`` (P, C, K), repaired."""
        C, K = self.shape
        x = np.clip(np.atleast_2d(X), self.xl, self.xu).reshape(-1, C, K, 2)
        e = x[..., 0].copy()
        c_rate = np.array([t.c_rate_max * t.soh for t in self.techs])
        p = np.minimum(x[..., 1], c_rate * e)
        e[e < 1e-6] = 0.0
        p[p < 1e-6] = 0.0
        cands = self.instance.candidates
        if not cands.fixed and cands.max_sites < C:
            size = e.sum(axis=2)
            keep_rank = np.argsort(np.argsort(-size, axis=1), axis=1) < cands.max_sites
            e = np.where(keep_rank[..., None], e, 0.0)
            p = np.where(keep_rank[..., None], p, 0.0)
        return e, p

    def encode(self, e_kwh: np.ndarray, p_kw: np.ndarray) -> np.ndarray:
        """Ratings (C, K) or (P, C, K) -> decision vectors."""
        x = np.stack([np.asarray(e_kwh, float), np.asarray(p_kw, float)], axis=-1)
        return x.reshape(*x.shape[:-3], -1)

    def cost_usd(self, e: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Eq. 2 cost per plan, (P,)."""
        return sum(storage_cost_usd(t, e[..., k], p[..., k]).sum(axis=-1) for k, t in enumerate(self.techs))

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, X, out, *args, **kwargs):
        e, p = self.decode(X)
        sim = simulate_day(self.instance, e, p, self.options.simulation)
        cost = self.cost_usd(e, p)
        o = self.options
        out["F"] = (cost + o.violation_usd_per_puh * sim.violation_puh
                    + o.deficit_usd_per_kwh * sim.soc_deficit_kwh)[:, None]
        out["cost_usd"] = cost
        out["violation_puh"] = sim.violation_puh
        out["max_violation_pu"] = sim.max_violation_pu
        out["soc_deficit_kwh"] = sim.soc_deficit_kwh
