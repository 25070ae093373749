"""The per-battery problem in arrays and its exact solve: prices, column fixing, reduced or whole MILP.

1. **Dual prices and the bound** (:mod:`slopt.fleet.assign.duals`): up to ``lp_batteries``
   the LP relaxation of the Pyomo model over every battery gives the prices; beyond, L-BFGS on
   a smoothed dual. The bound is the exact Lagrangian ``g``.
2. **Incumbent and column fixing**: at the prices each battery's best route is an argmax; a
   repair makes it feasible. A better plan uses no column whose reduced cost exceeds ``bound -
   incumbent``; those leave the model.
3. **Reduced MILP**: small fleets go into :mod:`slopt.models.assignment` whole; beyond, the
   batteries closest to switching stay free, the others keep their incumbent route, then a
   neighbourhood search solves small exact MILPs on near-tie sets.
4. **Certificate**: ``proven`` when no battery left out of the model can do better elsewhere.

With a user hook (``extra_constraints``) every battery stays in one whole model, each its own
column (no merging, no fixing), so the hook sees every battery and route by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from slopt.errors import InfeasibleError
from slopt.fleet.assign.duals import dual_prices, lagrangian_bound
from slopt.fleet.assign.options import AssignmentOptions
from slopt.fleet.assign.values import plan_value

__all__ = ["Problem", "Plan", "solve_per_battery"]


@dataclass
class Problem:
    """The per-battery problem in arrays.

    ``value`` (n, R) $ and ``feas`` (n, R) of every battery on every route; ``energy`` (n,) usable
    kWh; ``demand`` (R,) kWh (inf = unlimited); pack data ``chem`` (n,) chemistry code, ``soh``,
    ``r0`` (mOhm); ``n_apps`` application columns with their pack ``rules`` and installation
    ``limits`` (None: no rule / no limit); ``battery_names`` (n,) and ``route_names`` (R,) index the
    model's components; ``extra_constraints(model, data)`` is the user's hook (None: none).
    """

    value: np.ndarray
    feas: np.ndarray
    energy: np.ndarray
    demand: np.ndarray
    chem: np.ndarray
    soh: np.ndarray
    r0: np.ndarray
    n_apps: int
    rules: list
    limits: list
    battery_names: np.ndarray | None = None
    route_names: list | None = None
    extra_constraints: object = None

    @property
    def hooked(self) -> bool:
        """A user hook is set: every battery is its own column of one whole model."""
        return self.extra_constraints is not None


@dataclass
class Plan:
    route: np.ndarray
    value_usd: float
    bound_usd: float
    lam: np.ndarray
    n_free: int
    n_groups: int
    proven: bool
    lagrangian_usd: float = float("nan")
    milp: object = None
    windows: dict = field(default_factory=dict)   # app -> list of battery index arrays
    build_s: float = 0.0
    solve_s: float = 0.0
    note: str = ""


def _groups(inst: Problem, idx: np.ndarray, with_pack: bool):
    """Merge identical batteries (same values, energy, feasibility; and pack data) into groups
    (with a user hook every battery is its own group, so the hook can address it by name)."""
    if inst.hooked:
        return np.arange(idx.size), np.arange(idx.size)
    cols = [np.where(inst.feas[idx], inst.value[idx], 0.0), inst.energy[idx, None],
            (inst.feas[idx].astype(np.int64) @ (1 << np.arange(inst.feas.shape[1], dtype=np.int64)))[:, None]]
    if with_pack:
        cols += [inst.chem[idx, None], inst.soh[idx, None], inst.r0[idx, None]]
    _, first, inv = np.unique(np.column_stack(cols).astype(float), axis=0, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _reduced_costs(inst: Problem, lam: np.ndarray):
    """Argmax route, and the smallest reduced cost of any other route (the margin), at prices lam."""
    rho = np.where(inst.feas, inst.value - lam[None, :] * inst.energy[:, None], -np.inf)
    r1 = np.argmax(rho, axis=1)
    u = rho[np.arange(rho.shape[0]), r1]
    d = u[:, None] - rho
    margin = np.partition(d, 1, axis=1)[:, 1] if rho.shape[1] > 1 else np.full(u.size, np.inf)
    return r1, d, margin


def _free_set(inst: Problem, r1, d, margin, size: int) -> np.ndarray:
    """Batteries left free in the reduced MILP: closest to switching, per limited application.

    For each limited application: the batteries outside it that would join at the smallest
    reduced cost, and those inside it that would leave at the smallest margin; plus the
    smallest margins overall. Then, while the batteries fixed to an application exceed its
    demand, its smallest-margin ones are freed too.
    """
    n = r1.size
    lim = [a for a in range(inst.n_apps) if np.isfinite(inst.demand[a])]
    k = max(1, size // (2 * len(lim) + 1)) if lim else size
    pick = [_smallest(margin, k)]
    for a in lim:
        out = np.where(r1 != a, d[:, a], np.inf)
        pick.append(_smallest(out, k))
        inside = np.flatnonzero(r1 == a)
        pick.append(inside[_smallest(margin[inside], k)])
    free = np.zeros(n, bool)
    free[np.concatenate(pick)] = True
    for a in lim:                                              # fixed use must fit the demand
        fixed = np.flatnonzero((r1 == a) & ~free)
        over = inst.energy[fixed].sum() - inst.demand[a]
        if over > 0:
            order = fixed[np.argsort(margin[fixed], kind="stable")]
            need = np.searchsorted(np.cumsum(inst.energy[order]), over - 1e-12) + 1
            free[order[:need]] = True
    return np.flatnonzero(free)


def _smallest(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest finite entries of x."""
    if x.size > k:
        x_idx = np.argpartition(x, k - 1)[:k]
    else:
        x_idx = np.arange(x.size)
    return x_idx[np.isfinite(x[x_idx])]


def _fill(inst: Problem, route: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Greedy fill: each application with room takes batteries from unlimited routes while they fit.

    Candidates in order of increasing reduced-cost change, only where the move raises the value.
    """
    route = route.copy()
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    for a in np.flatnonzero(np.isfinite(inst.demand)):
        room = inst.demand[a] - inst.energy[route == a].sum()
        cand = np.flatnonzero(np.isin(route, unl) & inst.feas[:, a] & np.isfinite(d[:, a]))
        cand = cand[inst.value[cand, a] > inst.value[cand, route[cand]]]
        cand = cand[np.argsort(d[cand, a] - d[cand, route[cand]], kind="stable")]
        take = cand[np.cumsum(inst.energy[cand]) <= room + 1e-9]
        route[take] = a
    return route


def _best_unlimited(inst: Problem, idx: np.ndarray) -> np.ndarray:
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    return unl[np.argmax(np.where(inst.feas[np.ix_(idx, unl)], inst.value[np.ix_(idx, unl)], -np.inf), axis=1)]


def _repair(inst: Problem, r1: np.ndarray, d: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """A feasible plan near the argmax plan: over-subscribed applications keep their batteries
    of largest margin that fit, the rest go to their best unlimited route; then :func:`_fill`."""
    route = r1.copy()
    for a in np.flatnonzero(np.isfinite(inst.demand)):
        idx = np.flatnonzero(route == a)
        idx = idx[np.argsort(-margin[idx], kind="stable")]
        out = idx[np.cumsum(inst.energy[idx]) > inst.demand[a] + 1e-9]
        route[out] = _best_unlimited(inst, out)
    return _fill(inst, route, d)


def _lp_polish(inst: Problem, opts) -> tuple:
    """Exact prices, the LP bound and a rounded LP plan from the LP over every battery.

    The LP relaxation of the model (Pyomo + HiGHS) is solved on all batteries (identical ones
    merged); its demand-row duals are the prices, so ``g(prices)`` is the LP bound. A vertex
    has at most one fractional battery per demand row: those go to their best unlimited route,
    then :func:`_fill` uses the room left.

    Returns
    -------
    lam, bound, route : prices, bound ``g(lam)`` and a feasible plan.
    """
    from slopt.models.assignment import AssignmentData, build_assignment_model, demand_prices
    from slopt.solve import SolveOptions, solve

    n = inst.value.shape[0]
    everyone = np.arange(n)
    first, inv = _groups(inst, everyone, with_pack=False)
    rep = everyone[first]
    count = np.bincount(inv, minlength=first.size)
    data = AssignmentData(count=count, value_usd=inst.value[rep], feasible=inst.feas[rep],
                          energy_kwh=inst.energy[rep], demand_kwh=inst.demand, relax=True)
    m = build_assignment_model(data)
    res = solve(m, SolveOptions(mip_rel_gap=0.0))
    if not res.has_solution:                      # cannot happen for a valid instance; be safe
        lam = np.zeros(inst.value.shape[1])
        r1, d, margin = _reduced_costs(inst, lam)
        return lam, lagrangian_bound(inst.value, inst.feas, inst.energy, inst.demand, lam), _repair(inst, r1, d, margin)
    lam = demand_prices(m)
    bound = lagrangian_bound(inst.value, inst.feas, inst.energy, inst.demand, lam)
    y = np.zeros(data.value_usd.shape)
    y[m._g, m._r] = [v.value or 0.0 for v in m._ylist]
    flo = np.floor(y + 1e-7).astype(np.int64)                 # whole batteries of every group and route
    order = np.argsort(inv, kind="stable")
    rank = np.arange(n) - np.repeat(np.r_[0, np.cumsum(count)][:-1], count)
    placed = rank < flo.sum(axis=1)[inv[order]]
    route = np.empty(n, np.int64)
    route[order[placed]] = np.repeat(np.tile(np.arange(y.shape[1]), first.size), flo.ravel())
    route[order[~placed]] = _best_unlimited(inst, order[~placed])
    return lam, bound, _fill(inst, route, _reduced_costs(inst, lam)[1])


def _solve_model(inst: Problem, free: np.ndarray, route0: np.ndarray, keep: np.ndarray, windows: dict | None,
                 opts, bound: float, time_limit_s: float):
    """Build and solve the MILP on the free batteries (others fixed at route0; columns in keep)."""
    from slopt.models.assignment import AssignmentData, InstallationWindows, build_assignment_model, column_counts
    from slopt.solve import SolveOptions, solve

    t0 = time.perf_counter()
    fixed = np.ones(route0.size, bool)
    fixed[free] = False
    use = np.bincount(route0[fixed], weights=inst.energy[fixed], minlength=inst.value.shape[1])
    residual = np.where(np.isfinite(inst.demand), np.maximum(inst.demand - use, 0.0), np.inf)
    sub = replace(inst, feas=keep)
    first, inv = _groups(sub, free, with_pack=bool(windows))
    G = first.size
    count = np.bincount(inv, minlength=G)
    rep = free[first]
    win_data = [None] * inst.value.shape[1]
    for a, (wins, k_max) in (windows or {}).items():
        members = [np.unique(inv[np.searchsorted(free, w[np.isin(w, free)])]) for w in wins]
        win_data[a] = InstallationWindows(members=members, max_open=int(k_max))
    data = AssignmentData(count=count, value_usd=inst.value[rep], feasible=keep[rep],
                          energy_kwh=inst.energy[rep], demand_kwh=residual, windows=win_data,
                          group_names=None if inst.battery_names is None else list(inst.battery_names[rep]),
                          route_names=inst.route_names)
    m = build_assignment_model(data, extra_constraints=inst.extra_constraints)
    build_s = time.perf_counter() - t0
    # a reduced model need not prove more than 1e-5 of the whole plan's value (the certificate is
    # the bound); a whole model is solved to optimality (within 1e-9) unless the time limit stops it
    abs_gap = 1e-5 * max(abs(bound), 1.0) if free.size < route0.size else 1e-9
    res = solve(m, opts.solver or SolveOptions(mip_rel_gap=1e-9, time_limit_s=max(time_limit_s, 0.2),
                                               highs_options={"mip_abs_gap": abs_gap}))
    route = route0.copy()
    if res.has_solution:
        y = column_counts(m)
        seq = np.repeat(np.tile(np.arange(y.shape[1]), G), y.ravel())     # routes, group by group
        order = np.argsort(inv, kind="stable")
        route[free[order]] = seq
    return route, res, m, build_s, G


def solve_per_battery(inst: Problem, opts: AssignmentOptions, windows: dict | None = None,
                       whole: bool = False) -> Plan:
    """Dual prices (exact LP up to ``lp_batteries``), column fixing, reduced or whole MILP, certificate.

    Reduced-cost fixing: with ``d[i,r] = max_s rho[i,s] - rho[i,r]`` at prices ``lam`` and the
    bound ``B = g(lam)``, every plan is worth at most ``B - sum_i d[i, r(i)]``; so a plan better
    than an incumbent worth ``Z`` uses no column with ``d > B - Z``. Without pack windows those
    columns are left out of the model (the incumbent's own columns always stay). A reduced
    model is followed by a neighbourhood search (:func:`_neighbourhood_search`).
    """
    n = inst.value.shape[0]
    if n <= opts.lp_batteries:            # the LP on every battery gives the exact prices and bound
        lam, bound, inc = _lp_polish(inst, opts)
        r1, d, margin = _reduced_costs(inst, lam)
    else:
        lam, bound = dual_prices(inst.value, inst.feas, inst.energy, inst.demand, seed=opts.seed)
        r1, d, margin = _reduced_costs(inst, lam)
        inc = _repair(inst, r1, d, margin)
    whole = whole or n <= opts.full_model_max or inst.hooked
    use_windows = bool(windows) and whole
    if use_windows or inst.hooked:        # the incumbent ignores the windows (or the hook): no column fixing
        inc, keep, start = None, inst.feas.copy(), r1
    else:
        cut = bound - plan_value(inst.value, inc) + 1e-6 * max(abs(bound), 1.0)
        keep = inst.feas & (d <= cut)
        keep[np.arange(n), inc] = True
        start = inc
    if whole:
        free, t0 = np.arange(n), opts.milp_time_s
    else:
        free = np.union1d(_free_set(inst, start, d, margin, opts.reduced_batteries), np.flatnonzero(start != r1))
        t0 = 0.4 * opts.milp_time_s
    route, res, m, build_s, G = _solve_model(inst, free, start, keep, windows if use_windows else None, opts, bound, t0)
    note = ""
    if not res.has_solution and inst.hooked:
        raise InfeasibleError(f"assign: no plan meets the extra constraints (MILP {res.status}: {res.message})")
    if not res.has_solution:
        route = inc if inc is not None else _fallback(inst, free, start)
        note = f"MILP {res.status}: {res.message}; incumbent kept"
    if inc is not None and plan_value(inst.value, route) < plan_value(inst.value, inc):
        route = inc
    lagrangian = bound
    fixed = np.ones(n, bool)
    fixed[free] = False
    slack = bound - plan_value(inst.value, route) + 1e-6 * max(abs(bound), 1.0)
    proven = bool(res.has_solution and np.all((start[fixed] == r1[fixed]) & (margin[fixed] > slack)))
    if proven and res.bound is not None:
        fixed_value = plan_value(inst.value[fixed], start[fixed]) if fixed.any() else 0.0
        bound = min(bound, fixed_value + res.bound)
    solve_s = res.solve_s
    if not whole:
        route, rounds = _neighbourhood_search(inst, route, keep, d, margin, bound, opts,
                                              max(opts.milp_time_s - res.solve_s - build_s, 0.0))
        note = (note + f" {rounds} neighbourhood rounds").strip()
    z = plan_value(inst.value, route)
    plan = Plan(route=route, value_usd=z, bound_usd=max(bound, z), lam=lam, n_free=free.size, n_groups=G,
                 proven=proven, lagrangian_usd=lagrangian, milp=res, build_s=build_s, solve_s=solve_s, note=note)
    if use_windows and hasattr(m, "z"):
        from slopt.models.assignment import open_windows

        plan.windows = {a: [windows[a][0][w] for w in ws] for a, ws in open_windows(m).items()}
    return plan


def _neighbourhood_search(inst: Problem, route: np.ndarray, keep: np.ndarray, d: np.ndarray, margin: np.ndarray,
                          bound: float, opts: AssignmentOptions, budget_s: float) -> tuple[np.ndarray, int]:
    """Improve a plan by small exact MILPs on changing sets of near-tie batteries (a refinement loop).

    Each round frees ``lns_batteries`` batteries picked like :func:`_free_set` from reduced
    costs perturbed by a seeded random factor (so rounds differ), fixes the rest at the current
    plan and solves the Pyomo model with the residual demands; a better plan is kept. Stops at
    the time budget, after ``lns_rounds`` rounds, or within 0.001 % of the bound.
    """
    rng = np.random.default_rng(opts.seed)
    t_end = time.perf_counter() + budget_s
    best = plan_value(inst.value, route)
    rounds = 0
    enough = bound - 1e-5 * max(abs(bound), 1.0)           # within 0.001 % of the bound: stop
    while time.perf_counter() < t_end - 0.3 and rounds < opts.lns_rounds and best < enough:
        rounds += 1
        jitter = rng.uniform(0.2, 1.8, d.shape[0])
        free = _free_set(inst, route, d * jitter[:, None], margin * jitter, opts.lns_batteries)
        left = t_end - time.perf_counter()
        new, res, *_ = _solve_model(inst, free, route, keep, None, opts, bound, min(opts.lns_time_s, left))
        if res.has_solution and plan_value(inst.value, new) > best + 1e-9:
            route, best = new, plan_value(inst.value, new)
    return route, rounds


def _fallback(inst: Problem, free: np.ndarray, route0: np.ndarray) -> np.ndarray:
    """A feasible plan without the MILP: free batteries to their best unlimited route."""
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    route = route0.copy()
    v = np.where(inst.feas[np.ix_(free, unl)], inst.value[np.ix_(free, unl)], -np.inf)
    route[free] = unl[np.argmax(v, axis=1)]
    return route
