"""An independent AC-exact sizing solver: the reference that slopt's sizing is checked against.

It shares no model code with :mod:`slopt.models.sizing` or :mod:`slopt.sizing`: the storage
model is written again here from the instance's fields as sparse matrices and solved with
``scipy.optimize.milp`` (HiGHS through SciPy, not through Pyomo); the band is written in plain
voltage magnitudes (not squared), on every bus and step that can bind, with sensitivities
``dV/dp`` taken by central differences of the batched sweep (:func:`slopt.powerflow`, itself
checked against pandapower in the tests). It is a damped sequential linear programme:

    p_0 = 0 (no storage);  repeat: linearise V at the point, solve the MILP -> plan p_new;
    AC-check p_new with the sweep; point <- point + alpha (p_new - point)
    (alpha = 1, halved whenever the AC violation grew), until the plan holds the band in AC
    within ``tol_pu`` and the cost changed by less than ``cost_rtol``.

A linearisation that admits no plan is followed by a least-violation step (minimise the total
band slack); the instance is declared infeasible when that stops improving above ``tol_pu``.

Why by hand: it is a test tool, written to be independent of the product; SciPy's ``milp`` is the
standard interface to HiGHS for matrix-form models.

Use::

    from tools.ac_reference import reference_sizing
    ref = reference_sizing(slopt.load_instance("instances/ieee33-hybrid.toml"))
    ref.cost_usd, ref.status, ref.max_violation_pu
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from slopt.battery.cost import annualised_cost_usd
from slopt.grid.powerflow import powerflow

__all__ = ["ReferenceResult", "reference_sizing", "ac_check"]

#: weight of the proximal term |p - point| ($ per kW and step): breaks ties between dispatches
#: that the linear model cannot tell apart, so that the sequence of plans settles.
PROX_USD_PER_KW = 1e-3


@dataclass
class ReferenceResult:
    status: str                          # "optimal" (converged), "infeasible", "not converged"
    cost_usd: float | None
    e_kwh: np.ndarray | None             # (C, K)
    p_kw: np.ndarray | None              # (C, K)
    p_site_kw: np.ndarray | None         # (C, T) net load of each site, consumption +
    vm_pu: np.ndarray | None             # (T, n) AC voltages of the plan
    max_violation_pu: float
    iterations: int
    history: list = field(default_factory=list)


class _Layout:
    """Column layout of the storage model (sites c, technologies k, steps t)."""

    def __init__(self, C, K, T, free, excl):
        self.C, self.K, self.T = C, K, T
        n = 0
        self.E = np.arange(n, n + C * K).reshape(C, K); n += C * K
        self.P = np.arange(n, n + C * K).reshape(C, K); n += C * K
        self.ch = np.arange(n, n + C * K * T).reshape(C, K, T); n += C * K * T
        self.dis = np.arange(n, n + C * K * T).reshape(C, K, T); n += C * K * T
        self.e = np.arange(n, n + C * K * T).reshape(C, K, T); n += C * K * T
        self.e0 = np.arange(n, n + C * K).reshape(C, K); n += C * K
        self.y = np.arange(n, n + C) if free else None; n += C if free else 0
        self.u = np.arange(n, n + C * K * T).reshape(C, K, T) if excl else None; n += C * K * T if excl else 0
        self.n = n


class _Rows:
    def __init__(self):
        self.r, self.c, self.v, self.lo, self.hi = [], [], [], [], []
        self.m = 0

    def add(self, cols, vals, lo, hi):
        """Rows given as (m, k) column and value arrays (k terms per row)."""
        cols = np.atleast_2d(cols)
        vals = np.broadcast_to(np.asarray(vals, dtype=float), cols.shape)
        m = cols.shape[0]
        self.r.append(np.repeat(np.arange(self.m, self.m + m), cols.shape[1]))
        self.c.append(cols.ravel())
        self.v.append(vals.ravel())
        self.lo.append(np.broadcast_to(lo, (m,)).astype(float))
        self.hi.append(np.broadcast_to(hi, (m,)).astype(float))
        self.m += m

    def constraint(self, n):
        A = sp.csr_matrix((np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))), shape=(self.m, n))
        return LinearConstraint(A, np.concatenate(self.lo), np.concatenate(self.hi))


def _storage(inst, L: _Layout, objective: str):
    """Bounds, integrality, cost vector and the rows of the storage model (docs/sizing.md)."""
    techs = [inst.technologies[k] for k in ("new", "retired") if k in inst.technologies]
    cand = inst.candidates
    C, K, T, dt = L.C, L.K, L.T, inst.dt_h
    e_max = np.broadcast_to(np.asarray(cand.e_max_kwh, float), (C,))
    p_max = np.broadcast_to(np.asarray(cand.p_max_kw, float), (C,))
    e_min = np.broadcast_to(np.asarray(cand.e_min_kwh, float), (C,))
    lb, ub = np.zeros(L.n), np.full(L.n, np.inf)
    ub[L.E] = e_max[:, None]
    ub[L.P] = p_max[:, None]
    ub[L.ch] = ub[L.dis] = p_max[:, None, None]
    integ = np.zeros(L.n)
    cost = np.zeros(L.n)
    for k, tech in enumerate(techs):
        if objective == "capex":
            ce = 1e3 * (tech.ce_usd_per_wh + tech.cb_usd_per_wh + tech.cj_usd_per_wh + tech.cw_usd_per_wh_yr + tech.cd_usd_per_wh)
            cp = 1e3 * tech.cp_usd_per_w
        else:
            ce, cp = annualised_cost_usd(tech, 1.0, 0.0), annualised_cost_usd(tech, 0.0, 1.0)
        cost[L.E[:, k]] = ce
        cost[L.P[:, k]] = cp
    cost[L.ch] = cost[L.dis] = 1e-6 * dt                     # tie-breaker against needless cycling
    rows = _Rows()
    for k, tech in enumerate(techs):
        Ek, Pk = L.E[:, k], L.P[:, k]
        rows.add(np.stack([Pk, Ek], 1), [1.0, -tech.c_rate_max * tech.soh], -np.inf, 0.0)      # C-rate
        for x in (L.ch, L.dis):                                                                # power <= P
            rows.add(np.stack([x[:, k].ravel(), np.repeat(Pk, T)], 1), [1.0, -1.0], -np.inf, 0.0)
        prev = np.concatenate([L.e0[:, k, None], L.e[:, k, :-1]], axis=1)                     # SOC balance
        rows.add(np.stack([L.e[:, k].ravel(), prev.ravel(), L.ch[:, k].ravel(), L.dis[:, k].ravel()], 1),
                 [1.0, -1.0, -dt * tech.eta_charge, dt / tech.eta_discharge], 0.0, 0.0)
        usable = tech.soh
        for x in (L.e[:, k].ravel(), None):                                                    # SOC window
            cols_e = x if x is not None else L.e0[:, k]
            Erep = np.repeat(Ek, T) if x is not None else Ek
            rows.add(np.stack([cols_e, Erep], 1), [1.0, -tech.soc_min * usable], 0.0, np.inf)
            rows.add(np.stack([cols_e, Erep], 1), [1.0, -tech.soc_max * usable], -np.inf, 0.0)
        rows.add(np.stack([L.e[:, k, -1], L.e0[:, k]], 1), [1.0, -1.0], 0.0, 0.0)              # cyclic day
        if L.u is not None:                                                                   # exclusivity
            rows.add(np.stack([L.ch[:, k].ravel(), L.u[:, k].ravel()], 1), np.stack(
                [np.ones(C * T), -np.repeat(p_max, T)], 1), -np.inf, 0.0)
            rows.add(np.stack([L.dis[:, k].ravel(), L.u[:, k].ravel()], 1), np.stack(
                [np.ones(C * T), np.repeat(p_max, T)], 1), -np.inf, np.repeat(p_max, T))
    if L.u is not None:
        integ[L.u] = 1
        ub[L.u] = 1
    if L.y is not None:                                                                       # free siting
        integ[L.y] = 1
        ub[L.y] = 1
        for k in range(K):
            rows.add(np.stack([L.E[:, k], L.y], 1), np.stack([np.ones(C), -e_max], 1), -np.inf, 0.0)
            rows.add(np.stack([L.P[:, k], L.y], 1), np.stack([np.ones(C), -p_max], 1), -np.inf, 0.0)
        rows.add(L.y[None, :], np.ones((1, C)), -np.inf, float(cand.max_sites))
        rows.add(np.concatenate([L.E, L.y[:, None]], 1), np.concatenate([np.ones((C, K)), -e_min[:, None]], 1), 0.0, np.inf)
    else:
        rows.add(L.E, np.ones((C, K)), e_min, np.inf)
    return lb, ub, integ, cost, rows, p_max * K


def _linearise(inst, cand_idx, p_site, h_kw=1.0):
    """AC voltages at the point and dV/dp (T, n, C) by central differences of the sweep."""
    p0, q0 = inst.net_load_kw()
    T, n = p0.shape
    C = cand_idx.size
    p = p0.copy()
    for c in range(C):
        p[:, cand_idx[c]] += p_site[c]
    batch = np.repeat(p[:, None, :], 1 + 2 * C, axis=1)
    for c in range(C):
        batch[:, 1 + c, cand_idx[c]] += h_kw
        batch[:, 1 + C + c, cand_idx[c]] -= h_kw
    pf = powerflow(inst.feeder, batch, np.repeat(q0[:, None, :], 1 + 2 * C, axis=1), tol_pu=1e-12)
    vm = pf.vm_pu
    jac = (vm[:, 1:1 + C] - vm[:, 1 + C:]) / (2 * h_kw)               # (T, C, n)
    return vm[:, 0], np.transpose(jac, (0, 2, 1)), bool(pf.converged.all())


def ac_check(inst, p_site_kw) -> tuple[np.ndarray, float]:
    """AC voltages (T, n) of site loads ``p_site_kw`` (C, T) and the largest band violation."""
    cand = inst.feeder.index_of(inst.candidates.bus_ids)
    p0, q0 = inst.net_load_kw()
    p = p0.copy()
    for c in range(cand.size):
        p[:, cand[c]] += p_site_kw[c]
    vm = powerflow(inst.feeder, p, q0, tol_pu=1e-12).vm_pu
    viol = np.maximum(inst.vmin_pu - vm[:, 1:], 0) + np.maximum(vm[:, 1:] - inst.vmax_pu, 0)
    return vm, float(viol.max())


def _solve(inst, cand_idx, point, objective, excl, radius_kw, mu, time_limit):
    """One trust-region step: ``min cost + mu sum(slack)`` over the storage model with the band
    linearised at ``point`` (slack in micro-p.u. per row) and ``|p_site - point| <= radius_kw``."""
    C, T = cand_idx.size, inst.n_steps
    K = sum(k in inst.technologies for k in ("new", "retired"))
    L = _Layout(C, K, T, not inst.candidates.fixed, excl)
    lb, ub, integ, cost, rows, p_range = _storage(inst, L, objective)
    vm, jac, ok = _linearise(inst, cand_idx, point)
    if not ok:
        raise RuntimeError("reference: AC sweep did not converge at the linearisation point")
    shift = np.einsum("tjc,ct->tj", jac, point)
    band = []
    for side, req in ((1, inst.vmin_pu - vm + shift), (-1, inst.vmax_pu - vm + shift)):   # jac p >= / <= req
        t, j = np.nonzero((req > -np.abs(jac) @ p_range) if side > 0 else (req < np.abs(jac) @ p_range))
        keep = j > 0
        band.append((side, t[keep], j[keep], req[t[keep], j[keep]]))
    n_slack = sum(b[1].size for b in band)
    # columns: storage model | site net load p (C*T) | slacks
    p_col = (L.n + np.arange(C * T)).reshape(C, T)
    n = L.n + C * T + n_slack
    lb = np.concatenate([lb, (point - radius_kw).ravel(), np.zeros(n_slack)])
    ub = np.concatenate([ub, (point + radius_kw).ravel(), np.full(n_slack, np.inf)])
    integ = np.concatenate([integ, np.zeros(C * T + n_slack)])
    cost = np.concatenate([cost, np.zeros(C * T), np.full(n_slack, mu * 1e-6)])
    cols = np.concatenate([L.ch.transpose(0, 2, 1).reshape(C * T, K), L.dis.transpose(0, 2, 1).reshape(C * T, K),
                           p_col.reshape(-1, 1)], 1)
    vals = np.concatenate([np.ones((C * T, K)), -np.ones((C * T, K)), -np.ones((C * T, 1))], 1)
    rows.add(cols, vals, 0.0, 0.0)                                      # p = sum_k (ch - dis)
    s0 = L.n + C * T
    for side, t, j, req in band:
        m = t.size
        if m == 0:
            continue
        coef = jac[t, j]                                                 # (m, C): dV/dp
        sc = np.abs(coef).max(axis=1)
        sc[sc == 0] = 1.0
        cols = np.concatenate([p_col[:, t].T, (s0 + np.arange(m))[:, None]], 1)
        vals = np.concatenate([coef, np.full((m, 1), side * 1e-6)], 1) / sc[:, None]   # slack in micro-p.u.
        rows.add(cols, vals, req / sc if side > 0 else -np.inf, np.inf if side > 0 else req / sc)
        s0 += m
    res = milp(cost, constraints=rows.constraint(n), integrality=integ, bounds=Bounds(lb, ub),
               options={"mip_rel_gap": 1e-9, "time_limit": time_limit, "disp": False})
    if res.x is None:
        raise RuntimeError(f"reference: HiGHS found no solution ({res.message})")
    x = res.x
    E, P = x[L.E], x[L.P]
    cap = float(cost[np.concatenate([L.E.ravel(), L.P.ravel()])] @ np.concatenate([E.ravel(), P.ravel()]))
    return E, P, x[L.ch], x[L.dis], cap, float(res.fun)


def _merit(inst, p_site, cap, mu):
    vm, _ = ac_check(inst, p_site)
    viol = np.maximum(inst.vmin_pu - vm[:, 1:], 0) + np.maximum(vm[:, 1:] - inst.vmax_pu, 0)
    return cap + mu * float(viol.sum()), vm, float(viol.max())


def reference_sizing(inst, *, objective: str = "capex", tol_pu: float = 1e-7, mu: float = 1e10,
                     max_iter: int = 60, time_limit: float = 600.0) -> ReferenceResult:
    """AC-exact least-cost sizing of ``inst`` by a trust-region SLP with an exact l1 penalty.

    Fletcher's Sl1LP: the step minimises cost plus ``mu`` times the linearised band violation
    (p.u., summed over buses and steps) within a box of ``radius`` kW around the current plan;
    it is accepted when the AC merit falls by at least a tenth of the predicted fall, and the
    box grows or shrinks with the agreement. It stops when the predicted fall is below 1e-9 of
    the merit (a stationary point). ``mu`` ($ per p.u.) must exceed the band's multipliers;
    the result is ``infeasible`` if the stationary plan still violates the band by more than
    ``tol_pu``.
    """
    cand = inst.feeder.index_of(inst.candidates.bus_ids)
    C, T = cand.size, inst.n_steps
    x = np.zeros((C, T))
    cap_x = 0.0
    phi_x, vm_x, viol_x = _merit(inst, x, 0.0, mu)
    sol_x = None
    radius = 1e4
    excl = False
    hist = []
    for it in range(1, max_iter + 1):
        E, P, pch, pdis, cap, model_val = _solve(inst, cand, x, objective, excl, radius, mu, time_limit)
        if not excl and np.any(np.minimum(pch, pdis) > 1e-6):
            excl = True
            continue
        p_new = (pch - pdis).sum(axis=1)
        pred = phi_x - model_val
        phi_new, vm_new, viol_new = _merit(inst, p_new, cap, mu)
        ratio = (phi_x - phi_new) / pred if pred > 0 else 0.0
        hist.append({"iter": it, "radius_kw": radius, "cost_usd": cap, "violation_pu": viol_new, "pred": pred,
                     "ratio": ratio})
        if pred <= 1e-9 * max(abs(phi_x), 1.0):
            break
        step = np.abs(p_new - x).max()
        if ratio >= 0.1:
            x, cap_x, phi_x, vm_x, viol_x, sol_x = p_new, cap, phi_new, vm_new, viol_new, (E, P)
            if ratio >= 0.75 and step >= 0.99 * radius:
                radius *= 2.0
        else:
            radius = 0.25 * min(radius, step)
        if radius < 1e-6:
            break
    if sol_x is None:
        return ReferenceResult("infeasible", None, None, None, None, vm_x, viol_x, len(hist), hist)
    status = "optimal" if viol_x <= tol_pu else "infeasible"
    return ReferenceResult(status, cap_x if status == "optimal" else None, sol_x[0], sol_x[1], x, vm_x, viol_x,
                           len(hist), hist)
