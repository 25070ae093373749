"""``slopt.assign``: every retired battery to one second-life route, optimal per battery.

The problem (DESIGN §10 and §13, seed 003 §3D and §5, seed 000 end-of-life routes; formulation
and equation numbers in ``docs/assignment.md``):

- battery ``i`` has its own usable energy ``e[i]`` and its own value ``v[i,r]`` on every route
  ``r`` (the eight applications, remanufacture, recycle), from the digital twin
  (:func:`route_values`); a route the twin rejects is closed to it;
- every battery takes exactly one route; application ``a`` absorbs at most ``D[a]`` kWh;
- pack consistency (:class:`PackRule`): the batteries of an application form at most ``K[a]``
  installations, each of one chemistry and within the application's SOH and resistance spreads.

How it is solved, exactly per battery:

1. **Dual prices and the bound.** Only the demand rows couple the batteries. For prices
   ``lam >= 0`` ($/kWh) the Lagrangian ``g(lam) = sum_a lam[a] D[a] + sum_i max_r (v[i,r] -
   lam[r] e[i])`` is a true upper bound of the per-battery problem; its minimum is the
   per-battery LP bound. Up to ``lp_batteries`` the LP relaxation of the Pyomo model is solved
   over every battery and its duals are the prices; beyond, ``g`` is minimised by L-BFGS on an
   entropy-smoothed dual (scipy), warm-started on samples. The bound is the exact ``g``.
2. **Incumbent and column fixing.** At the prices each battery's best route is an argmax; a
   repair (or the rounded LP vertex) makes it feasible. A plan better than the incumbent
   uses no column whose reduced cost exceeds ``bound - incumbent``: those leave the model.
3. **Reduced MILP.** Small fleets go into the Pyomo model of :mod:`slopt.models.assignment`
   whole. Beyond, the batteries closest to switching (per application, on both sides of its
   price) stay free, the others keep their incumbent route, and the residual demands go to the
   model; then a neighbourhood search solves small exact MILPs on changing near-tie sets.
   Identical batteries share one integer column (exact). HiGHS runs through
   :func:`slopt.solve.solve`.
4. **Certificate.** ``objective_usd`` is the value of the returned plan, recomputed battery by
   battery; ``gap = (bound - objective) / |bound|``. When the model held every battery, or every
   battery left out has all other routes at a reduced cost above ``bound - objective``, no
   better plan exists outside the model and the HiGHS bound applies too (``extra["proven"]``).
5. **Pack consistency.** Small fleets: installation windows are binaries of the MILP (exact
   candidate windows, so its bound holds for the rule). Larger fleets: if the unconstrained
   plan fits in ``K[a]`` windows per application it stands; otherwise the whole MILP with
   grid windows (up to ``windows_model_max``), or two window choices (a window-selection model
   on aggregated cells, a greedy cover of dual gains) with the per-battery problem re-solved
   inside each. The bound then stays the unconstrained one (true, conservative).

The static baseline of seed 003 §5a (SOH >= 0.7 to grid storage, the rest to backup) gets the
same demands: a full rule passes its overflow to the next rule, then to recycling
(:func:`static_baseline`). :func:`allocation_metrics` scores both on the same footing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
import pandas as pd

from slopt import bounds as B
from slopt.errors import ArgumentError, InstanceError
from slopt.fleet.data import Fleet, validate_fleet_table

#: Columns a fleet table needs for the assignment.
ASSIGN_COLUMNS = ("battery_id", "chemistry", "nominal_kwh", "soh", "r_growth")

__all__ = ["AssignmentOptions", "AssignmentResult", "ArrayPlan", "PackRule", "assign", "assign_arrays",
           "static_baseline", "route_values", "allocation_metrics", "plan_value", "check_plan", "lagrangian_bound",
           "grid_windows", "exact_windows", "REMANUFACTURE", "RECYCLE"]

REMANUFACTURE, RECYCLE = "remanufacture", "recycle"
_TOL = 1e-9


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class PackRule:
    """Pack consistency of one application's installations (``docs/assignment.md``).

    Every installation holds one chemistry; its SOH spread ``max - min`` is at most
    ``soh_spread`` and its resistance spread ``(max R0 - min R0) / min R0`` at most
    ``r_spread_pu`` (the limits of :func:`slopt.fleet.grading.cluster`). An application has at
    most ``max_installations`` installations; ``None`` derives it from the demand,
    ``ceil(demand_kwh / installation_kwh)`` (an unlimited demand has no limit).
    """

    soh_spread: float = 0.05
    r_spread_pu: float = 0.15
    max_installations: int | None = None
    installation_kwh: float = 50.0

    def __post_init__(self) -> None:
        for f in ("soh_spread", "r_spread_pu", "installation_kwh"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InstanceError.at("PackRule", f, v, "must be a finite number > 0")
        k = self.max_installations
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
            raise InstanceError.at("PackRule", "max_installations", k, "must be an integer >= 0 or None")

    def installations(self, demand_kwh: float) -> int | None:
        """Installations allowed for a demand (None: no limit)."""
        if self.max_installations is not None:
            return int(self.max_installations)
        if not math.isfinite(demand_kwh):
            return None
        return max(1, math.ceil(demand_kwh / self.installation_kwh - 1e-9))


@dataclass(frozen=True)
class AssignmentOptions:
    """Economics, pack consistency and solver settings of :func:`assign`.

    Attributes
    ----------
    repurpose_usd_per_kwh : float
        Testing, repacking and integration cost of a second-life battery (per usable kWh).
    remanufacture_usd_per_kwh : float
        Net value of a module remanufactured for automotive reuse (per usable kWh).
    recycle_usd_per_kwh : float
        Net material value of recycling (per nominal kWh).
    pack : PackRule or None
        Pack consistency of every application (``None``: no rule).
    pack_by_app : mapping of str to PackRule or None
        Per-application overrides (``None`` switches the rule off for that application).
    window_offsets : int
        At fleet scale, installation windows start on a grid of ``spread / window_offsets``.
    exact_windows_max : int
        Exact candidate windows (corners at battery values) when an application has at most
        this many candidate batteries in the model; a grid beyond.
    full_model_max : int
        Fleets up to this size go into the MILP whole.
    windows_model_max : int
        Up to this size a binding pack rule is solved by the whole MILP with window variables;
        beyond, windows come from a model on aggregated cells (:func:`_select_windows`).
    reduced_batteries : int
        Free batteries of the reduced MILP at fleet scale (more when demands need it).
    lp_batteries : int
        Fleets up to this size get their prices from the LP on every battery (exact).
    milp_time_s : float
        Time for the MILPs of one solve: a whole model, or a reduced one (40 %) and then the
        neighbourhood search (rounds of ``lns_batteries`` free batteries, at most ``lns_time_s``
        each, at most ``lns_rounds``).
    gap_tol : float
        Certified relative gap at or below which the plan is reported ``optimal``.
    min_service_years : float
        An application is open to a battery only if the twin gives it at least this many
        years there (0: any life > 0; the value already rewards long lives).
    years : float
        Horizon of the twin (years).
    seed : int
        Seed of the dual warm-start sample.
    solver : SolveOptions or None
        HiGHS options of the MILP (default: optimal for a whole model, 1e-5 of the bound for
        a reduced one, 10 s; the certificate does not rely on them).
    """

    repurpose_usd_per_kwh: float = 40.0
    remanufacture_usd_per_kwh: float = 60.0
    recycle_usd_per_kwh: float = 5.0
    pack: PackRule | None = field(default_factory=PackRule)
    pack_by_app: Mapping = field(default_factory=dict)
    window_offsets: int = 2
    exact_windows_max: int = 150
    full_model_max: int = 150
    windows_model_max: int = 2000
    reduced_batteries: int = 200
    lp_batteries: int = 3000
    milp_time_s: float = 10.0
    lns_batteries: int = 80
    lns_rounds: int = 50
    lns_time_s: float = 1.5
    gap_tol: float = 1e-3
    min_service_years: float = 0.0
    years: float = 10.0
    seed: int = 0
    solver: object = None

    def rule(self, app_name: str) -> PackRule | None:
        return self.pack_by_app[app_name] if app_name in self.pack_by_app else self.pack


def check_assignment_options(options) -> None:
    """Apply the bounds of :class:`AssignSpec` to an ``AssignmentOptions`` built in a program.

    Raises
    ------
    ArgumentError
        If ``options`` is not an AssignmentOptions.
    InstanceError
        ``AssignmentOptions.field = value: reason`` for the first value out of its range.
    """
    if not isinstance(options, AssignmentOptions):
        raise ArgumentError(f"options must be an AssignmentOptions, got {type(options).__name__}")
    where = "AssignmentOptions"
    for k in ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh"):
        B.check_range(getattr(options, k), 0.0, B.MAX_USD_PER_KWH, None, f"{where}.{k}")
    B.check_range(options.years, B.MIN_LIFETIME_YEARS, B.MAX_YEARS, None, f"{where}.years")
    B.check_range(options.min_service_years, 0.0, B.MAX_YEARS, None, f"{where}.min_service_years")
    B.check_range(options.milp_time_s, 0.0, 1e5, None, f"{where}.milp_time_s", lo_open=True)
    B.check_range(options.gap_tol, 0.0, 1.0, None, f"{where}.gap_tol")
    rules = [("pack", options.pack)] + [(f"pack_by_app[{k!r}]", r) for k, r in dict(options.pack_by_app).items()]
    for name, rule in rules:
        if rule is None:
            continue
        B.check_range(rule.soh_spread, 0.0, 1.0, None, f"{where}.{name}.soh_spread", lo_open=True)
        B.check_range(rule.r_spread_pu, 0.0, 100.0, None, f"{where}.{name}.r_spread_pu", lo_open=True)
        B.check_range(rule.installation_kwh, 0.0, B.MAX_ENERGY_KWH, None, f"{where}.{name}.installation_kwh",
                      lo_open=True)
        mi = rule.max_installations
        if mi is not None and (isinstance(mi, bool) or not isinstance(mi, int) or not 1 <= mi <= 10**6):
            raise InstanceError.at(None, f"{where}.{name}.max_installations", mi, "must be an integer in [1, 1e6]")


@dataclass
class AssignmentResult:
    """Routes per battery, installations and the certificate, as pandas tables.

    ``batteries``: battery_id, route, installation, value_usd, feasible, second_life_years,
    rte, usable_kwh, best_route (the twin's most valuable feasible route, ignoring demands).
    ``routes``: per route count, energy_kwh, demand_kwh, value_usd, mean years and RTE.
    ``installations``: per application and installation: chemistry, batteries, energy and the
    SOH and resistance spreads.
    ``objective_usd`` is the value of this plan; ``bound_usd`` a true upper bound of the
    per-battery problem; ``gap = (bound - objective) / |bound|``.
    """

    status: object
    objective_usd: float | None
    bound_usd: float | None
    gap: float | None
    batteries: pd.DataFrame
    routes: pd.DataFrame
    build_s: float
    solve_s: float
    twin_s: float
    n_bins: int
    message: str = ""
    installations: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    def metrics(self, service_years: float = 5.0) -> dict:
        return allocation_metrics(self.batteries, service_years=service_years)


# --------------------------------------------------------------------------- values


def route_values(table: pd.DataFrame, apps: list, twin, options: AssignmentOptions):
    """Value ($) and feasibility of every battery on every route, shape (n, A + 2).

    Applications: ``usable kWh x (years x RTE x value $/(kWh yr) - repurposing $/kWh)``, with
    the twin's years (0 where the twin reports a thermal breach, ``breach_prob == 1``: the BMS
    would trip); feasible if the battery meets the application's SOH and resistance limits, the
    twin sees no safety breach and gives it a life > 0 (and at least ``min_service_years``).
    Remanufacture: ``usable kWh x value``,
    SOH >= 0.8. Recycle: ``nominal kWh x value``, always feasible.

    Returns
    -------
    value, feasible, years, rte : arrays (n, A + 2), (n, A + 2), (n, A), (n, A)
    """
    soh = table["soh"].to_numpy(float)
    r_growth = table["r_growth"].to_numpy(float)
    usable = table["nominal_kwh"].to_numpy(float) * soh
    years = np.asarray(twin.second_life_years, float)
    rte = np.asarray(twin.rte, float)
    breach = np.asarray(twin.safety_breach, bool)
    prob = getattr(twin, "breach_prob", None)
    thermal = np.asarray(prob, float) >= 1.0 if prob is not None else np.zeros_like(breach)
    years = np.where(thermal, 0.0, years)
    min_soh = np.array([a.min_soh for a in apps])
    max_rg = np.array([a.max_r_growth for a in apps])
    val_rate = np.array([a.value_usd_per_kwh_year for a in apps])
    min_years = max(getattr(options, "min_service_years", 0.0), 0.0)
    feas_app = ((soh[:, None] >= min_soh) & (r_growth[:, None] <= max_rg) & ~breach & (years > 0)
                & (years >= min_years - 1e-9))
    v_app = usable[:, None] * (years * rte * val_rate[None, :] - options.repurpose_usd_per_kwh)
    feas = np.column_stack([feas_app, soh >= 0.8 - 1e-12, np.ones_like(soh, bool)])
    value = np.column_stack([v_app, usable * options.remanufacture_usd_per_kwh,
                             table["nominal_kwh"].to_numpy(float) * options.recycle_usd_per_kwh])
    return value, feas, years, rte


def plan_value(value: np.ndarray, route: np.ndarray) -> float:
    """Value of a plan, battery by battery: ``sum_i value[i, route[i]]``."""
    return float(value[np.arange(route.size), route].sum())


def check_plan(route: np.ndarray, feas: np.ndarray, energy: np.ndarray, demand: np.ndarray, tol: float = 1e-6) -> None:
    """Raise AssertionError unless every battery has one feasible route and demands hold."""
    rows = np.arange(route.size)
    assert route.shape == (feas.shape[0],) and route.min() >= 0 and route.max() < feas.shape[1]
    assert feas[rows, route].all(), "a battery is on a route closed to it"
    use = np.bincount(route, weights=energy, minlength=feas.shape[1])
    fin = np.isfinite(demand)
    assert np.all(use[fin] <= demand[fin] * (1 + tol) + tol), "a demand is exceeded"


# --------------------------------------------------------------------------- dual prices and bound


def lagrangian_bound(value: np.ndarray, feas: np.ndarray, energy: np.ndarray, demand: np.ndarray,
                     lam: np.ndarray) -> float:
    """``g(lam) = sum_a lam[a] D[a] + sum_i max_r (v[i,r] - lam[r] e[i])``, an upper bound for lam >= 0.

    ``lam`` has one price per route ($/kWh); routes with an unlimited demand must have price 0.
    For any feasible plan ``x``: ``sum v x = sum_i (v - lam e)[i, r(i)] + sum_a lam[a] use[a]
    <= g(lam)``, because ``use[a] <= D[a]`` and ``lam >= 0`` (weak duality).
    """
    lam = np.asarray(lam, float)
    if np.any(lam < 0) or np.any((lam > 0) & ~np.isfinite(demand)):
        raise ValueError("lagrangian_bound: prices must be >= 0 and 0 on unlimited routes")
    fin = np.isfinite(demand)
    u = np.where(feas, value - lam[None, :] * energy[:, None], -np.inf).max(axis=1)
    return float(lam[fin] @ demand[fin] + u.sum())


def _smoothed_dual(lam, tau, m_kwh, e_kwh, d_kwh, frac):
    """Entropy-smoothed dual and its gradient on rows ``m_kwh = [w - (lam), b]`` (float32).

    ``f = frac lam.D + sum_i e_i tau log(sum_a exp((w_ia - lam_a)/tau) + exp(b_i/tau))``.
    """
    z = m_kwh.copy()
    z[:, :-1] -= lam.astype(z.dtype)
    mx = z.max(axis=1)
    z -= mx[:, None]
    z *= z.dtype.type(1.0 / tau)
    np.exp(z, out=z)
    s = z.sum(axis=1, dtype=np.float64)
    f = frac * float(lam @ d_kwh) + float(e_kwh @ (mx + tau * np.log(s)))
    grad = frac * d_kwh - (e_kwh / s) @ z[:, :-1]
    return f, grad


def _dual_prices(value, feas, energy, demand, seed: int = 0, sample: int = 20000, full_iters: int = 30):
    """Prices minimising the Lagrangian bound (L-BFGS on an entropy-smoothed dual, scipy).

    Works in $/kWh: ``w[i,a] = v[i,a]/e[i]`` and ``b[i]`` = best unlimited route per kWh; a
    battery for which no limited route beats ``b[i]`` never enters one (``lam >= 0``) and drops
    out. The smoothed dual (:func:`_smoothed_dual`) is convex and smooth; its temperature
    ``tau`` shrinks over stages. Above ``sample`` active batteries the first stages run on a
    random sample (demands scaled by the sample share), then on a ten times larger one, then
    ``full_iters`` iterations on all of them, each warm-started. The bound returned is the
    exact ``g`` at the best prices met (:func:`lagrangian_bound`).

    Returns
    -------
    lam : (R,) prices (0 on unlimited routes); bound : exact ``g(lam)``.
    """
    from scipy.optimize import minimize

    R = value.shape[1]
    lim = np.flatnonzero(np.isfinite(demand))
    lam_full = np.zeros(R)
    exact = lambda lam: lagrangian_bound(value, feas, energy, demand, _place(lam_full, lim, lam))
    if lim.size == 0:
        return lam_full, exact(np.zeros(0))
    unl = np.flatnonzero(~np.isfinite(demand))
    base = np.where(feas[:, unl], value[:, unl], -np.inf).max(axis=1) / energy
    w = np.where(feas[:, lim], value[:, lim] / energy[:, None], -np.inf)
    act = np.flatnonzero((w > base[:, None]).any(axis=1))
    if act.size == 0:
        return lam_full, exact(np.zeros(lim.size))
    floor = float(np.min(base[act])) - 1e6                                # "closed" entry, exp -> 0
    rows = np.concatenate([np.where(w[act] > base[act, None], w[act], floor), base[act, None]], axis=1)
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    ea, D = energy[act], demand[lim]
    scale = max(float(np.median(np.abs(rows.max(axis=1)))), 1e-6)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(act.size) if act.size > sample else np.arange(act.size)
    sizes = [s_ for s_ in (sample, 10 * sample) if s_ < act.size] + [act.size]
    stages = []
    for k, size in enumerate(sizes):
        sub = np.sort(perm[:size])
        taus = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4) if k == 0 else (1e-4,)
        iters = 100 if k == 0 else (30 if size < act.size else full_iters)
        stages += [(t, rows[sub], ea[sub], size / act.size, iters) for t in taus]
    if act.size <= sample:
        stages.append((3e-5, rows, ea, 1.0, 100))
    lam = np.zeros(lim.size)
    best = (exact(lam), lam)
    for tau_rel, m_kwh, e_kwh, fr, iters in stages:
        tau = tau_rel * scale
        fun = lambda x: tuple(v / scale for v in _smoothed_dual(x, tau, m_kwh, e_kwh, D, fr))
        r = minimize(fun, lam, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * lim.size,
                     options={"maxiter": iters, "ftol": 1e-14, "gtol": 1e-11})
        lam = np.maximum(r.x, 0.0)
        if tau_rel <= 1e-4:
            g = exact(lam)
            if g < best[0]:
                best = (g, lam.copy())
    return _place(lam_full, lim, best[1]), best[0]


def _place(full: np.ndarray, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
    out = full.copy()
    out[idx] = vals
    return out


# --------------------------------------------------------------------------- instance and plans


@dataclass
class _Instance:
    """The per-battery problem in arrays: values, feasibility, energy, demands, pack data."""

    value: np.ndarray        # (n, R) $
    feas: np.ndarray         # (n, R) bool
    energy: np.ndarray       # (n,) usable kWh
    demand: np.ndarray       # (R,) kWh, inf = unlimited
    chem: np.ndarray         # (n,) int chemistry code
    soh: np.ndarray          # (n,)
    r0: np.ndarray           # (n,) mOhm
    n_apps: int
    rules: list              # (A,) PackRule or None
    limits: list             # (A,) installations allowed or None


@dataclass
class _Plan:
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


def _groups(inst: _Instance, idx: np.ndarray, with_pack: bool):
    """Merge identical batteries (same values, energy, feasibility; and pack data) into groups."""
    cols = [np.where(inst.feas[idx], inst.value[idx], 0.0), inst.energy[idx, None],
            (inst.feas[idx].astype(np.int64) @ (1 << np.arange(inst.feas.shape[1], dtype=np.int64)))[:, None]]
    if with_pack:
        cols += [inst.chem[idx, None], inst.soh[idx, None], inst.r0[idx, None]]
    _, first, inv = np.unique(np.column_stack(cols).astype(float), axis=0, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _reduced_costs(inst: _Instance, lam: np.ndarray):
    """Argmax route, and the smallest reduced cost of any other route (the margin), at prices lam."""
    rho = np.where(inst.feas, inst.value - lam[None, :] * inst.energy[:, None], -np.inf)
    r1 = np.argmax(rho, axis=1)
    u = rho[np.arange(rho.shape[0]), r1]
    d = u[:, None] - rho
    margin = np.partition(d, 1, axis=1)[:, 1] if rho.shape[1] > 1 else np.full(u.size, np.inf)
    return r1, d, margin


def _free_set(inst: _Instance, r1, d, margin, size: int) -> np.ndarray:
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


def _fill(inst: _Instance, route: np.ndarray, d: np.ndarray) -> np.ndarray:
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


def _best_unlimited(inst: _Instance, idx: np.ndarray) -> np.ndarray:
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    return unl[np.argmax(np.where(inst.feas[np.ix_(idx, unl)], inst.value[np.ix_(idx, unl)], -np.inf), axis=1)]


def _repair(inst: _Instance, r1: np.ndarray, d: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """A feasible plan near the argmax plan: over-subscribed applications keep their batteries
    of largest margin that fit, the rest go to their best unlimited route; then :func:`_fill`."""
    route = r1.copy()
    for a in np.flatnonzero(np.isfinite(inst.demand)):
        idx = np.flatnonzero(route == a)
        idx = idx[np.argsort(-margin[idx], kind="stable")]
        out = idx[np.cumsum(inst.energy[idx]) > inst.demand[a] + 1e-9]
        route[out] = _best_unlimited(inst, out)
    return _fill(inst, route, d)


def _lp_polish(inst: _Instance, opts) -> tuple:
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


def _solve_model(inst: _Instance, free: np.ndarray, route0: np.ndarray, keep: np.ndarray, windows: dict | None,
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
                          energy_kwh=inst.energy[rep], demand_kwh=residual, windows=win_data)
    m = build_assignment_model(data)
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


def _solve_per_battery(inst: _Instance, opts: AssignmentOptions, windows: dict | None = None,
                       whole: bool = False) -> _Plan:
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
        lam, bound = _dual_prices(inst.value, inst.feas, inst.energy, inst.demand, seed=opts.seed)
        r1, d, margin = _reduced_costs(inst, lam)
        inc = _repair(inst, r1, d, margin)
    whole = whole or n <= opts.full_model_max
    use_windows = bool(windows) and whole
    if use_windows:                       # the incumbent ignores the windows: no column fixing
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
    plan = _Plan(route=route, value_usd=z, bound_usd=max(bound, z), lam=lam, n_free=free.size, n_groups=G,
                 proven=proven, lagrangian_usd=lagrangian, milp=res, build_s=build_s, solve_s=solve_s, note=note)
    if use_windows and hasattr(m, "z"):
        from slopt.models.assignment import open_windows

        plan.windows = {a: [windows[a][0][w] for w in ws] for a, ws in open_windows(m).items()}
    return plan


def _neighbourhood_search(inst: _Instance, route: np.ndarray, keep: np.ndarray, d: np.ndarray, margin: np.ndarray,
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


def _fallback(inst: _Instance, free: np.ndarray, route0: np.ndarray) -> np.ndarray:
    """A feasible plan without the MILP: free batteries to their best unlimited route."""
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    route = route0.copy()
    v = np.where(inst.feas[np.ix_(free, unl)], inst.value[np.ix_(free, unl)], -np.inf)
    route[free] = unl[np.argmax(v, axis=1)]
    return route


# --------------------------------------------------------------------------- pack consistency


def _cells(inst: _Instance, idx: np.ndarray, rule: PackRule, offsets: int):
    """Grid cells (chemistry, SOH cell, log-R0 cell) of width spread/offsets."""
    ws = rule.soh_spread / offsets
    wr = math.log1p(rule.r_spread_pu) / offsets
    cs = np.floor(inst.soh[idx] / ws + 1e-9).astype(np.int64)
    cr = np.floor(np.log(inst.r0[idx]) / wr + 1e-9).astype(np.int64)
    return np.stack([inst.chem[idx], cs, cr], axis=1)


def _cell_windows(ucell: np.ndarray, offsets: int) -> np.ndarray:
    """Windows of ``offsets x offsets`` cells over the occupied cells ``ucell`` (U, 3): (W, U) membership."""
    j = np.arange(offsets)
    shift = np.stack(np.meshgrid(j, j, indexing="ij"), axis=-1).reshape(-1, 2)
    corners = np.concatenate([np.repeat(ucell[:, None, :1], shift.shape[0], axis=1),
                              ucell[:, None, 1:] - shift[None, :, :]], axis=2).reshape(-1, 3)
    corners = np.unique(corners, axis=0)
    inside = ((ucell[None, :, 0] == corners[:, None, 0])
              & (ucell[None, :, 1] >= corners[:, None, 1]) & (ucell[None, :, 1] < corners[:, None, 1] + offsets)
              & (ucell[None, :, 2] >= corners[:, None, 2]) & (ucell[None, :, 2] < corners[:, None, 2] + offsets))
    return inside[_maximal_rows(inside)]


def _members(idx: np.ndarray, cinv: np.ndarray, cell_rows: np.ndarray) -> list:
    """Batteries ``idx`` (with cell index ``cinv``) inside each row's cells."""
    order = np.argsort(cinv, kind="stable")
    starts = np.searchsorted(cinv[order], np.arange(cell_rows.shape[1] + 1))
    return [np.sort(idx[np.concatenate([order[starts[c]:starts[c + 1]] for c in np.flatnonzero(row)])])
            for row in cell_rows]


def grid_windows(inst: _Instance, idx: np.ndarray, rule: PackRule, offsets: int) -> list:
    """Windows of ``offsets x offsets`` grid cells that hold some of the batteries ``idx``.

    A block of ``offsets`` cells of width ``spread/offsets`` spans less than the spread, so a
    window's batteries always meet the rule; windows start on the grid, so this is a
    restriction of the rule (exact windows: :func:`exact_windows`). Built on the occupied
    cells, then mapped to batteries; windows whose cells lie inside another's are dropped.
    """
    if idx.size == 0:
        return []
    ucell, cinv = np.unique(_cells(inst, idx, rule, offsets), axis=0, return_inverse=True)
    return _members(idx, cinv.ravel(), _cell_windows(ucell, offsets))


def exact_windows(inst: _Instance, idx: np.ndarray, rule: PackRule) -> list:
    """Every maximal set of batteries ``idx`` that one installation may hold (exact rule).

    An installation fits the rule iff its batteries lie in a box ``[s, s + soh_spread] x
    [R, R (1 + r_spread_pu)]`` of one chemistry, and the box can be slid until ``s`` and ``R``
    are values of its members; so boxes with corners at the batteries' own SOH and R0 values
    are enough. Sets contained in another are dropped.
    """
    rows = []
    for c in np.unique(inst.chem[idx]):
        sel = inst.chem[idx] == c
        s, r = inst.soh[idx], inst.r0[idx]
        in_s = sel[None, :] & (s[None, :] >= s[sel, None] - _TOL) & (s[None, :] <= s[sel, None] + rule.soh_spread + _TOL)
        in_r = (r[None, :] >= r[sel, None] * (1 - _TOL)) & (r[None, :] <= r[sel, None] * (1 + rule.r_spread_pu) + _TOL)
        rows.append((in_s[:, None, :] & in_r[None, :, :]).reshape(-1, idx.size))   # (corner s x corner r, battery)
    mat = np.concatenate(rows, axis=0) if rows else np.zeros((0, idx.size), bool)
    mat = mat[_maximal_rows(mat)]
    return [idx[row] for row in mat]


def _maximal_rows(mat: np.ndarray) -> np.ndarray:
    """Rows of a membership matrix that are non-empty, distinct and not inside another row."""
    mat = np.asarray(mat, bool)
    nonempty = np.flatnonzero(mat.any(axis=1))
    if nonempty.size == 0:
        return nonempty
    _, first = np.unique(mat[nonempty], axis=0, return_index=True)
    cand = nonempty[np.sort(first)]
    f = mat[cand].astype(np.float32)
    size = f.sum(axis=1)
    inter = f @ f.T
    dominated = ((inter >= size[:, None] - 0.5) & (size[None, :] > size[:, None] + 0.5)).any(axis=1)
    return cand[~dominated]


def _greedy_cover(members: list, weight: np.ndarray, idx_all: np.ndarray, k_max: int, full: bool):
    """Greedy choice of at most k_max windows; full=True: must cover every weighted battery."""
    if not members:
        return [] if (not full or idx_all.size == 0) else None
    pos = np.searchsorted(idx_all, np.concatenate(members))
    owner = np.repeat(np.arange(len(members)), [m.size for m in members])
    left = weight.astype(float).copy()
    chosen = []
    for _ in range(k_max):
        gain = np.bincount(owner, weights=left[pos], minlength=len(members))
        w = int(np.argmax(gain))
        if gain[w] <= 0:
            break
        chosen.append(w)
        left[np.searchsorted(idx_all, members[w])] = 0.0
    if full and left.max(initial=0.0) > 0:
        return None
    return chosen


def _plan_fits(inst: _Instance, plan_route: np.ndarray, opts: AssignmentOptions) -> dict | None:
    """Windows holding each limited application's batteries of a plan (None if some app does not fit)."""
    out = {}
    for a in range(inst.n_apps):
        k_max, rule = inst.limits[a], inst.rules[a]
        if k_max is None or rule is None:
            continue
        idx = np.flatnonzero(plan_route == a)
        wins = grid_windows(inst, idx, rule, opts.window_offsets)
        chosen = _greedy_cover(wins, np.ones(idx.size), idx, k_max, full=True)
        if chosen is None:
            return None
        out[a] = [wins[w] for w in chosen]
    return out


def _window_data(inst: _Instance, opts: AssignmentOptions, block: int, segments: int):
    """Aggregated data of the window-selection model (see :func:`_select_windows`).

    Atoms are the batteries' cells (width ``spread / window_offsets``) under every distinct
    pack rule at once; windows are blocks of ``block x block`` cells. For every application,
    an atom's batteries that gain over their best unlimited route form ``segments`` energy
    segments by gain, valued at their mean gain. (Valuing them at their largest gain, with
    blocks one cell wider, makes a relaxation; on the default fleet it was looser than the
    unconstrained LP bound, so it is not used as a bound.)

    Returns
    -------
    data, base, atom, rows_of : the model data, best unlimited value per battery, atom per
    battery, and per application (window x cell membership, cell per battery).
    """
    from slopt.models.assignment import WindowSelectionData

    n, A = inst.value.shape[0], inst.n_apps
    limited = [a for a in range(A) if inst.limits[a] is not None and inst.rules[a] is not None]
    rules = list(dict.fromkeys(inst.rules[a] for a in limited))
    cells = [_cells(inst, np.arange(n), r, opts.window_offsets) for r in rules]
    _, atom = np.unique(np.concatenate(cells, axis=1), axis=0, return_inverse=True)
    atom = atom.ravel()
    n_atoms = int(atom.max()) + 1
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    base = np.where(inst.feas[:, unl], inst.value[:, unl], -np.inf).max(axis=1)
    gains = inst.feas[:, :A] & (inst.value[:, :A] > base[:, None])
    seg_app, seg_cell, seg_e, seg_g = [], [], [], []
    for a in range(A):
        idx = np.flatnonzero(gains[:, a])
        gain = (inst.value[idx, a] - base[idx]) / inst.energy[idx]
        order = np.lexsort((-gain, atom[idx]))
        idx, gain = idx[order], gain[order]
        e = inst.energy[idx]
        total = np.bincount(atom[idx], weights=e, minlength=n_atoms)
        before = np.cumsum(e) - e - np.r_[0.0, np.cumsum(total)][atom[idx]]
        seg = np.minimum((segments * before / total[atom[idx]]).astype(np.int64), segments - 1)
        key, inv = np.unique(atom[idx] * segments + seg, return_inverse=True)
        energy = np.bincount(inv, weights=e)
        seg_app.append(np.full(key.size, a))
        seg_cell.append(key // segments)
        seg_e.append(energy)
        seg_g.append(np.bincount(inv, weights=e * gain) / energy)
    windows, rows_of = [None] * A, {}
    for a in limited:
        ucell, cinv = np.unique(cells[rules.index(inst.rules[a])], axis=0, return_inverse=True)
        inside = _cell_windows(ucell, block)
        atom_cell = np.zeros(n_atoms, np.int64)
        atom_cell[atom] = cinv.ravel()
        windows[a] = [np.flatnonzero(row[atom_cell]) for row in inside]
        rows_of[a] = (inside, cinv.ravel())
    any_gain = gains.any(axis=1)
    data = WindowSelectionData(seg_app=np.concatenate(seg_app), seg_cell=np.concatenate(seg_cell),
                               seg_energy_kwh=np.concatenate(seg_e), seg_gain_usd_per_kwh=np.concatenate(seg_g),
                               cell_energy_kwh=np.bincount(atom[any_gain], weights=inst.energy[any_gain],
                                                           minlength=n_atoms),
                               demand_kwh=inst.demand[:A], windows=windows,
                               max_open=np.array([inst.limits[a] or 0 for a in range(A)]))
    return data, base, atom, rows_of


def _select_windows(inst: _Instance, opts: AssignmentOptions) -> dict:
    """Fleet scale: installation windows from the window-selection model on aggregated cells.

    The Pyomo model of :func:`slopt.models.assignment.build_window_selection_model` (data of
    :func:`_window_data`, three mean-gain segments) picks at most ``K[a]`` grid windows per
    application, maximising the gain it can place within the demands; the windows still
    allowed are then added by a greedy cover of the remaining gain (more room for the
    per-battery solve never hurts).

    Returns
    -------
    dict: application -> list of battery-index arrays (one per chosen window).
    """
    from slopt.models.assignment import build_window_selection_model
    from slopt.solve import SolveOptions, solve

    data, base, _, rows_of = _window_data(inst, opts, opts.window_offsets, 3)
    m = build_window_selection_model(data)
    res = solve(m, opts.solver or SolveOptions(mip_rel_gap=1e-4, time_limit_s=max(0.3 * opts.milp_time_s, 1.0)))
    everyone = np.arange(inst.value.shape[0])
    out = {}
    for a, (inside, cinv) in rows_of.items():
        chosen = [w for w in range(inside.shape[0]) if res.has_solution and (m.z[a, w].value or 0) > 0.5]
        members = _members(everyone, cinv, inside)
        idx = np.flatnonzero(inst.feas[:, a])
        weight = np.maximum(inst.value[idx, a] - base[idx], 0.0) + 1e-6 * inst.energy[idx]
        for w in chosen:
            weight[np.isin(idx, members[w])] = 0.0
        extra = _greedy_cover([np.intersect1d(w, idx) for w in members], weight, idx,
                              max(inst.limits[a] - len(chosen), 0), full=False)
        out[a] = [members[w] for w in chosen + [w for w in extra if w not in chosen]]
    return out


def _greedy_windows(inst: _Instance, lam: np.ndarray, opts: AssignmentOptions) -> dict:
    """Fleet scale: ``K[a]`` grid windows per application by a greedy cover of dual gains.

    A battery's gain for application a is how much its reduced value there beats its best other
    route at the unconstrained prices ``lam`` (plus a tiny energy term that prefers room).
    """
    rho = np.where(inst.feas, inst.value - lam[None, :] * inst.energy[:, None], -np.inf)
    out = {}
    for a in range(inst.n_apps):
        k_max, rule = inst.limits[a], inst.rules[a]
        if k_max is None or rule is None:
            continue
        idx = np.flatnonzero(inst.feas[:, a])
        others = np.delete(rho[idx], a, axis=1).max(axis=1)
        gain = np.maximum(rho[idx, a] - others, 0.0) + 1e-3 * inst.energy[idx]
        wins = grid_windows(inst, idx, rule, opts.window_offsets)
        out[a] = [wins[w] for w in _greedy_cover(wins, gain, idx, k_max, full=False)]
    return out


def _masked(inst: _Instance, windows: dict) -> _Instance:
    """The instance with each limited application closed outside its chosen windows."""
    feas = inst.feas.copy()
    for a, wins in windows.items():
        inside = np.zeros(feas.shape[0], bool)
        for w in wins:
            inside[w] = True
        feas[:, a] &= inside
    return replace(inst, feas=feas)


def _solve_with_packs(inst: _Instance, opts: AssignmentOptions) -> tuple[_Plan, float, str]:
    """Per-battery plan that meets the pack rules; returns (plan, unconstrained LP bound, method).

    Small fleets (``full_model_max``) go straight to the whole MILP with windows. Otherwise the
    unconstrained plan is solved first; if every limited application's batteries fit in its
    installations, it is optimal for the constrained problem too. Otherwise, up to
    ``windows_model_max`` batteries the whole MILP chooses the windows (exact candidate windows
    for small applications, so its bound then applies); beyond, two window choices
    (:func:`_select_windows`, :func:`_greedy_windows`) are tried, the per-battery problem is
    solved inside each, and the better plan is kept.
    """
    limited = [a for a in range(inst.n_apps) if inst.limits[a] is not None and inst.rules[a] is not None]
    n = inst.value.shape[0]
    if not limited or n > opts.full_model_max:
        plan = _solve_per_battery(inst, opts)
        lp = plan.lagrangian_usd
        if not limited:
            return plan, lp, "no pack limit"
        fits = _plan_fits(inst, plan.route, opts)
        if fits is not None:
            plan.windows = fits
            return plan, lp, "unconstrained plan fits the pack limits"
    else:                                   # small fleets: straight to the MILP with windows
        lp = lagrangian_bound(inst.value, inst.feas, inst.energy, inst.demand, np.zeros(inst.value.shape[1]))
        plan = None
    if n <= opts.windows_model_max:
        wins, exact = {}, True
        for a in limited:
            idx = np.flatnonzero(inst.feas[:, a])
            if idx.size <= opts.exact_windows_max:
                wins[a] = (exact_windows(inst, idx, inst.rules[a]), inst.limits[a])
            else:
                exact = False
                wins[a] = (grid_windows(inst, idx, inst.rules[a], opts.window_offsets), inst.limits[a])
        plan = _solve_per_battery(inst, opts, windows=wins, whole=True)
        lp = min(lp, plan.lagrangian_usd)
        plan.lagrangian_usd = lp
        if not exact:                                   # the MILP bound is for the grid restriction only
            plan.bound_usd, plan.proven = max(lp, plan.value_usd), False
        return plan, lp, "whole MILP, exact windows" if exact else "whole MILP, grid windows"
    best = None
    for label, wins in (("window-selection model", _select_windows(inst, opts)),
                        ("greedy cover of dual gains", _greedy_windows(inst, plan.lam, opts))):
        sub = _solve_per_battery(_masked(inst, wins), opts)
        sub.windows, sub.proven, sub.lagrangian_usd = wins, False, lp
        if best is None or sub.value_usd > best[0].value_usd:
            best = (sub, label)
    best[0].bound_usd = max(lp, best[0].value_usd)          # the unconstrained LP bound: valid, conservative
    return best[0], lp, f"windows by the {best[1]} (best of two)"



# --------------------------------------------------------------------------- public entry point


def _apps_list(applications) -> list:
    if applications is None:
        from slopt.fleet.applications import APPLICATIONS as applications
    apps = list(applications.values()) if isinstance(applications, Mapping) else list(applications)
    if not apps:
        raise InstanceError("assign: no applications")
    return apps


def _demands(apps: list, demands_kwh: Mapping | None) -> np.ndarray:
    over = dict(demands_kwh or {})
    unknown = sorted(set(over) - {a.name for a in apps})
    if unknown:
        raise InstanceError.at("demands_kwh", unknown[0], over[unknown[0]], "is not an application")
    d = np.array([float(over.get(a.name, a.demand_kwh)) for a in apps] + [np.inf, np.inf])
    bad = np.flatnonzero(np.isnan(d) | (d < 0))
    if bad.size:
        raise InstanceError.at("demands_kwh", apps[bad[0]].name, d[bad[0]], "must be >= 0 (inf for unlimited)")
    return d


@dataclass
class ArrayPlan:
    """Outcome of :func:`assign_arrays`.

    Attributes
    ----------
    route : (n,) int
        Column (route) of every battery.
    objective_usd : float
        Value of this plan, ``sum_i value[i, route[i]]``.
    bound_usd : float
        True upper bound of the per-battery problem (the Lagrangian/LP bound, or the MILP bound
        when no battery was left out of the model or the fixing is proven).
    lagrangian_usd : float
        ``g(prices)`` of the demand prices: the per-battery LP bound without pack rules.
    gap : float
        ``(bound - objective) / |bound|``.
    prices_usd_per_kwh : (R,) float
        Dual price of every route's demand (0 for unlimited routes).
    proven : bool
        No battery left out of the MILP could do better elsewhere (reduced-cost argument).
    installations : dict
        Column -> list of battery-index arrays, one per installation window used.
    method : str
        How pack consistency was handled.
    n_free, n_groups : int
        Batteries and columns (identical batteries merged) in the MILP.
    """

    route: np.ndarray
    objective_usd: float
    bound_usd: float
    lagrangian_usd: float
    gap: float
    prices_usd_per_kwh: np.ndarray
    proven: bool
    installations: dict
    method: str
    n_free: int
    n_groups: int
    milp: object = None
    build_s: float = 0.0
    solve_s: float = 0.0
    note: str = ""


def assign_arrays(value_usd, feasible, energy_kwh, demand_kwh, *, n_apps: int | None = None, chemistry=None,
                  soh=None, r0_mohm=None, rules: list | None = None,
                  options: AssignmentOptions | None = None) -> ArrayPlan:
    """Optimal routes for batteries given as arrays (the engine of :func:`assign`).

    Parameters
    ----------
    value_usd, feasible : (n, R) arrays
        Value of every battery on every route and whether the route is open to it.
    energy_kwh : (n,) array
        Usable energy of every battery (> 0).
    demand_kwh : (R,) array
        Energy every route can absorb (``inf`` = unlimited). Every battery needs a feasible
        unlimited route (recycling).
    n_apps : int, optional
        The first ``n_apps`` columns are applications (default: the limited ones).
    chemistry, soh, r0_mohm : (n,) arrays, optional
        Pack data; needed when ``rules`` restrict installations.
    rules : list of PackRule or None, length n_apps, optional
        Pack consistency per application column (default: none).
    options : AssignmentOptions, optional
        Solver settings (``pack``/``pack_by_app`` are not used here; pass ``rules``).
    """
    o = options or AssignmentOptions()
    value = np.asarray(value_usd, float)
    feas = np.asarray(feasible, bool)
    energy = np.asarray(energy_kwh, float)
    demand = np.asarray(demand_kwh, float)
    n, R = value.shape
    if feas.shape != (n, R) or energy.shape != (n,) or demand.shape != (R,):
        raise InstanceError("assign_arrays: value_usd and feasible (n, R), energy_kwh (n,), demand_kwh (R,) must agree")
    if np.any(~(energy > 0)) or np.any(np.isnan(demand) | (demand < 0)):
        raise InstanceError("assign_arrays: energy_kwh must be > 0 and demand_kwh >= 0")
    if np.any(~np.isfinite(value) & feas):
        raise InstanceError("assign_arrays: value_usd must be finite on feasible routes")
    if not np.all((feas & ~np.isfinite(demand)[None, :]).any(axis=1)):
        raise InstanceError("assign_arrays: every battery needs a feasible route with unlimited demand (recycle)")
    A = int(n_apps) if n_apps is not None else int(np.flatnonzero(np.isfinite(demand)).max(initial=-1) + 1)
    rules = list(rules) if rules is not None else [None] * A
    if len(rules) != A:
        raise InstanceError(f"assign_arrays: rules must have n_apps = {A} entries")
    if any(r is not None for r in rules) and (chemistry is None or soh is None or r0_mohm is None):
        raise InstanceError("assign_arrays: pack rules need chemistry, soh and r0_mohm")
    feas = feas & (demand[None, :] > 0)                                  # a zero demand closes the route
    chem = pd.factorize(np.asarray(chemistry))[0].astype(np.int64) if chemistry is not None else np.zeros(n, np.int64)
    inst = _Instance(value=value, feas=feas, energy=energy, demand=demand, chem=chem,
                     soh=np.asarray(soh, float) if soh is not None else np.zeros(n),
                     r0=np.asarray(r0_mohm, float) if r0_mohm is not None else np.ones(n), n_apps=A, rules=rules,
                     limits=[r.installations(demand[k]) if r is not None else None for k, r in enumerate(rules)])
    plan, lagrangian, method = _solve_with_packs(inst, o)
    check_plan(plan.route, inst.feas, inst.energy, inst.demand)
    gap = (plan.bound_usd - plan.value_usd) / max(abs(plan.bound_usd), 1e-9)
    wins = {a: [idx for idx in _split_installations(plan, a, np.flatnonzero(plan.route == a))]
            for a in range(A) if np.any(plan.route == a)}
    return ArrayPlan(route=plan.route, objective_usd=plan.value_usd, bound_usd=plan.bound_usd,
                     lagrangian_usd=lagrangian, gap=gap, prices_usd_per_kwh=plan.lam, proven=plan.proven,
                     installations=wins, method=method, n_free=plan.n_free, n_groups=plan.n_groups, milp=plan.milp,
                     build_s=plan.build_s, solve_s=plan.solve_s, note=plan.note)


def assign(fleet, applications=None, *, twin=None, options: AssignmentOptions | None = None,
           demands_kwh: Mapping | None = None) -> AssignmentResult:
    """Assign every battery of ``fleet`` to one application, remanufacture or recycling.

    Parameters
    ----------
    fleet : Fleet or DataFrame
        Battery table (``slopt.fleet.data`` columns).
    applications : dict[str, Application] or list, optional
        Default: the eight applications of :data:`slopt.fleet.applications.APPLICATIONS`.
    twin : TwinResult, optional
        Precomputed twin results for (fleet, applications); computed if missing.
    options : AssignmentOptions, optional
    demands_kwh : dict, optional
        Override application demands (kWh) by name.

    Returns
    -------
    AssignmentResult
        ``status`` is ``optimal`` when the certified gap is at most ``options.gap_tol``.
    """
    from slopt.solve import Status

    o = AssignmentOptions() if options is None else options
    check_assignment_options(o)
    table = fleet.table if isinstance(fleet, Fleet) else validate_fleet_table(fleet, required=ASSIGN_COLUMNS)
    apps = _apps_list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    demand = _demands(apps, demands_kwh)
    t0 = time.perf_counter()
    if twin is None:
        from slopt.battery.twin import simulate_twin

        twin = simulate_twin(fleet, apps, years=o.years)
    twin_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    value, feas, years, rte = route_values(table, apps, twin, o)
    energy = table["nominal_kwh"].to_numpy(float) * table["soh"].to_numpy(float)
    plan = assign_arrays(value, feas, energy, demand, n_apps=len(apps), chemistry=table["chemistry"].to_numpy(),
                         soh=table["soh"].to_numpy(float), r0_mohm=table["r0_mohm"].to_numpy(float),
                         rules=[o.rule(a.name) for a in apps], options=o)
    total_s = time.perf_counter() - t0
    status = Status.OPTIMAL if plan.gap <= o.gap_tol + 1e-12 else Status.FEASIBLE
    bat = _battery_table(table, names, plan.route, value, feas, years, rte, energy)
    bat["installation"] = _installation_labels(plan.installations, plan.route, names, len(table))
    inst_table = _installations(table, plan, names, energy)
    routes = _route_table(bat, names, demand)
    limits = [r.installations(demand[k]) if (r := o.rule(a.name)) is not None else None for k, a in enumerate(apps)]
    extra = {"route_names": names, "lp_bound_usd": plan.lagrangian_usd,
             "prices_usd_per_kwh": dict(zip(names, plan.prices_usd_per_kwh.tolist())), "proven": plan.proven,
             "n_free": plan.n_free, "method": plan.method, "assign_s": total_s,
             "milp_status": str(plan.milp.status) if plan.milp is not None else None,
             "milp_gap": getattr(plan.milp, "gap", None), "installation_limits": dict(zip(names, limits))}
    return AssignmentResult(status, plan.objective_usd, plan.bound_usd, plan.gap, bat, routes, plan.build_s,
                            plan.solve_s, twin_s, plan.n_groups, plan.note, installations=inst_table, extra=extra)


# --------------------------------------------------------------------------- tables


def _battery_table(table, names, route, value, feas, years, rte, usable) -> pd.DataFrame:
    n, A = len(table), years.shape[1]
    rows = np.arange(n)
    best = np.argmax(np.where(feas, value, -np.inf), axis=1)
    in_app = route < A
    ra = np.minimum(route, A - 1)
    name_arr = np.array(names, dtype=object)
    return pd.DataFrame({
        "battery_id": table["battery_id"].to_numpy(), "route": name_arr[route], "best_route": name_arr[best],
        "value_usd": value[rows, route], "feasible": feas[rows, route],
        "second_life_years": np.where(in_app, years[rows, ra], np.nan), "rte": np.where(in_app, rte[rows, ra], np.nan),
        "usable_kwh": usable,
    })


def _installations(table: pd.DataFrame, plan: ArrayPlan, names: list, energy: np.ndarray) -> pd.DataFrame:
    """One row per installation: its batteries' chemistries, energy and spreads."""
    chem, soh, r0 = table["chemistry"].to_numpy(), table["soh"].to_numpy(float), table["r0_mohm"].to_numpy(float)
    rows = []
    for a, groups in sorted(plan.installations.items()):
        for k, sel in enumerate(groups):
            s, r = soh[sel], r0[sel]
            rows.append({"application": names[a], "installation": k + 1, "chemistry": "/".join(sorted(set(chem[sel]))),
                         "batteries": int(sel.size), "energy_kwh": float(energy[sel].sum()),
                         "soh_min": float(s.min()), "soh_max": float(s.max()), "soh_spread": float(np.ptp(s)),
                         "r0_min_mohm": float(r.min()), "r0_max_mohm": float(r.max()),
                         "r_spread_pu": float((r.max() - r.min()) / r.min())})
    return pd.DataFrame(rows, columns=["application", "installation", "chemistry", "batteries", "energy_kwh", "soh_min",
                                       "soh_max", "soh_spread", "r0_min_mohm", "r0_max_mohm", "r_spread_pu"])


def _split_installations(plan: _Plan, a: int, idx: np.ndarray) -> list:
    """Batteries of application a per installation: each to the first open window holding it."""
    wins = plan.windows.get(a)
    if not wins:
        return [idx]
    owner = np.full(idx.size, -1)
    for k, w in enumerate(wins):
        owner = np.where((owner < 0) & np.isin(idx, w), k, owner)
    if np.any(owner < 0):
        raise AssertionError(f"application {a}: a battery lies outside every open window")
    return [idx[owner == k] for k in range(len(wins)) if np.any(owner == k)]


def _installation_labels(installations: dict, route: np.ndarray, names: list, n: int) -> np.ndarray:
    lab = np.full(n, "", dtype=object)
    for a, groups in installations.items():
        for k, sel in enumerate(groups):
            lab[sel] = f"{names[a]}#{k + 1}"
    return lab


def _route_table(bat: pd.DataFrame, names: list, demand: np.ndarray | None = None) -> pd.DataFrame:
    g = bat.groupby("route", sort=False)
    df = pd.DataFrame({
        "count": g.size(), "energy_kwh": g["usable_kwh"].sum(), "value_usd": g["value_usd"].sum(),
        "mean_years": g["second_life_years"].mean(), "mean_rte": g["rte"].mean(),
    }).reindex(names).fillna({"count": 0, "energy_kwh": 0.0, "value_usd": 0.0})
    df["count"] = df["count"].astype(int)
    if demand is not None:
        df.insert(2, "demand_kwh", demand)
    df.index.name = "route"
    return df.reset_index()


# --------------------------------------------------------------------------- static baseline and metrics


def static_baseline(fleet, applications=None, *, twin=None, options: AssignmentOptions | None = None,
                    demands_kwh: Mapping | None = None, grid="grid_time_shift", backup="residential_backup",
                    threshold=0.7) -> pd.DataFrame:
    """Seed 003 §5a: SOH >= 0.7 to grid storage, the rest to residential backup; same demands.

    The rule ignores the twin. Demands bind as for the optimiser: in order of decreasing SOH,
    a rule takes batteries while their energy fits its demand; the first battery that does not
    fit and all after it overflow to the next rule (grid -> backup -> recycling; backup ->
    recycling). With unlimited demands this is the plain threshold rule.
    """
    o = AssignmentOptions() if options is None else options
    check_assignment_options(o)
    table = fleet.table if isinstance(fleet, Fleet) else validate_fleet_table(fleet, required=ASSIGN_COLUMNS)
    apps = _apps_list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    for k in (grid, backup):
        if k not in names:
            raise InstanceError.at("static_baseline", "route", k, "is not an application")
    demand = _demands(apps, demands_kwh)
    if twin is None:
        from slopt.battery.twin import simulate_twin

        twin = simulate_twin(fleet, apps, years=o.years)
    value, feas, years, rte = route_values(table, apps, twin, o)
    soh = table["soh"].to_numpy(float)
    energy = table["nominal_kwh"].to_numpy(float) * soh
    route = np.where(soh >= threshold, names.index(grid), names.index(backup))
    for rule_route, nxt in ((names.index(grid), names.index(backup)), (names.index(backup), names.index(RECYCLE))):
        idx = np.flatnonzero(route == rule_route)
        idx = idx[np.argsort(-soh[idx], kind="stable")]
        over = np.cumsum(energy[idx]) > demand[rule_route] * (1 + 1e-12) + 1e-9
        if over.any():
            route[idx[np.argmax(over):]] = nxt
    bat = _battery_table(table, names, route, value, feas, years, rte, energy)
    bat["installation"] = ""
    return bat


def allocation_metrics(bat: pd.DataFrame, service_years: float = 5.0) -> dict:
    """Seed 003 Tables 5-6 metrics of an allocation table, independent of any objective.

    correct_pct
        Share of batteries on a route whose requirements they meet for the whole service
        period: an application in which the twin keeps them within its SOH and resistance
        limits, below the thermal limit and before the ageing knee for at least
        ``service_years`` (the twin life, already cut at the knee and 0 when unfit or
        thermally unsafe, is at least ``service_years``); remanufacture with SOH >= 0.8;
        recycling (always a valid route). ``misallocated_pct = 100 - correct_pct``.
    mean_years
        Mean second life of every battery placed in an application, misallocated ones at their
        twin life on that route (0 if unfit at the start or thermally unsafe).
    mean_rte
        Mean round-trip efficiency of the batteries placed in applications.
    utilisation_pct
        Share of batteries in a second-life application (not remanufactured or recycled).
    value_usd
        Sum of the batteries' values on their routes (misallocated ones included).
    on_best_route_pct
        Share on the twin's most valuable route ignoring demands (not a correctness measure).
    """
    n = len(bat)
    route = bat["route"]
    in_app = ~route.isin([REMANUFACTURE, RECYCLE]) & route.notna()
    years = bat["second_life_years"].fillna(0.0)
    ok_app = in_app & (years > 0) & (years >= service_years - 1e-9)
    ok = ok_app | ((route == REMANUFACTURE) & bat["feasible"]) | (route == RECYCLE)
    return {
        "batteries": n,
        "correct_pct": 100.0 * float(ok.mean()),
        "misallocated_pct": 100.0 * float((~ok).mean()),
        "mean_years": float(years[in_app].mean()) if in_app.any() else float("nan"),
        "mean_rte": float(bat.loc[in_app, "rte"].mean()) if in_app.any() else float("nan"),
        "utilisation_pct": 100.0 * float(in_app.mean()),
        "energy_in_apps_kwh": float(bat.loc[in_app, "usable_kwh"].sum()),
        "value_usd": float(bat["value_usd"].sum()),
        "on_best_route_pct": 100.0 * float((route == bat["best_route"]).mean()),
    }
