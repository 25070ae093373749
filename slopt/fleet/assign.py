"""``slopt.assign``: fleet-scale assignment of retired batteries to second-life routes.

Pipeline (DESIGN section 10; seed 003 §3D and §5, seed 000 end-of-life routes):

1. the digital twin simulates every battery in every application
   (:func:`slopt.battery.twin.simulate_twin`): expected second-life years, round-trip
   efficiency, safety-margin breach;
2. a battery may take an application only if it meets the application's minimum SOH and
   maximum resistance growth and the twin sees no safety breach; remanufacture needs
   SOH >= 0.8 (seed 000); recycling is always possible;
3. value of one battery on a route: applications ``usable kWh x years x RTE x value $/(kWh yr)
   - repurposing cost``; remanufacture ``usable kWh x value``; recycle ``nominal kWh x value``;
4. batteries are binned by chemistry, SOH and resistance growth, with bins as wide as the
   pack-consistency spreads, so a project drawn from one bin is consistent by construction;
   the aggregated MILP of :mod:`slopt.models.assignment` (integer counts per bin and route,
   application demands) is solved through :func:`slopt.solve.solve`. Finer bins with
   explicit consistency windows (``consistency="windows"``) are available, but that MILP is
   much harder (window binaries with a weak relaxation);
5. the counts are disaggregated to batteries, bin by bin, giving each route the batteries of
   the bin that are worth most on it.

The static baseline of seed 003 §5a sends SOH >= 0.7 to grid storage and the rest to
residential backup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["AssignmentOptions", "AssignmentResult", "assign", "static_baseline", "route_values"]

REMANUFACTURE, RECYCLE = "remanufacture", "recycle"


@dataclass(frozen=True)
class AssignmentOptions:
    """Economics, binning and consistency of the assignment.

    Attributes
    ----------
    repurpose_usd_per_kwh : float
        Testing, repacking and integration cost of a second-life battery (per usable kWh).
    remanufacture_usd_per_kwh : float
        Net value of a module remanufactured for automotive reuse (per usable kWh).
    recycle_usd_per_kwh : float
        Net material value of recycling (per nominal kWh).
    soh_spread, r_spread : float
        Pack consistency: largest SOH and resistance-growth spread within one project; also
        the bin widths of the aggregation (``consistency="bins"``).
    consistency : str
        ``"bins"`` (default): a project draws from one bin, bins are as wide as the spreads.
        ``"windows"``: bins of ``soh_bin`` x ``r_bin`` and consistency windows chosen by the
        MILP (at most ``max_projects`` per application).
    soh_bin, r_bin : float
        Bin widths for ``consistency="windows"``.
    max_projects : int
        Windows each application may open (``consistency="windows"``).
    individual : bool
        One bin per battery (exact values, no aggregation); for small fleets.
    years : float
        Horizon of the twin (years).
    solver : SolveOptions or None
    """

    repurpose_usd_per_kwh: float = 40.0
    remanufacture_usd_per_kwh: float = 60.0
    recycle_usd_per_kwh: float = 5.0
    soh_spread: float = 0.05
    r_spread: float = 0.15
    consistency: str = "bins"
    soh_bin: float = 0.01
    r_bin: float = 0.05
    max_projects: int = 3
    individual: bool = False
    years: float = 10.0
    solver: object = None


@dataclass
class AssignmentResult:
    """Routes per battery and the MILP outcome, as pandas tables.

    ``batteries``: battery_id, route, value_usd, second_life_years, rte, best_route (the
    twin's most valuable feasible route, ignoring demands), feasible (route feasible for it).
    ``routes``: per route count, energy_kwh, value_usd, mean years, mean RTE.
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
    extra: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        return allocation_metrics(self.batteries)


def route_values(table: pd.DataFrame, apps: list, twin, options: AssignmentOptions):
    """Value ($) and feasibility of every battery on every route, shape (n, A + 2)."""
    soh = table["soh"].to_numpy(float)
    r_growth = table["r_growth"].to_numpy(float)
    usable = table["nominal_kwh"].to_numpy(float) * soh
    years = np.asarray(twin.second_life_years, float)
    rte = np.asarray(twin.rte, float)
    breach = np.asarray(twin.safety_breach, bool)
    min_soh = np.array([a.min_soh for a in apps])
    max_rg = np.array([a.max_r_growth for a in apps])
    val_rate = np.array([a.value_usd_per_kwh_year for a in apps])
    feas_app = (soh[:, None] >= min_soh) & (r_growth[:, None] <= max_rg) & ~breach & (years > 0)
    v_app = usable[:, None] * (years * rte * val_rate[None, :] - options.repurpose_usd_per_kwh)
    feas = np.column_stack([feas_app, soh >= 0.8, np.ones_like(soh, bool)])
    value = np.column_stack([v_app, usable * options.remanufacture_usd_per_kwh,
                             table["nominal_kwh"].to_numpy(float) * options.recycle_usd_per_kwh])
    return value, feas, years, rte


def _bins(table: pd.DataFrame, feas: np.ndarray, o: AssignmentOptions, value: np.ndarray | None = None):
    """Bin key (chemistry, module size, SOH bin, resistance bin, feasibility pattern, best route).

    The feasibility pattern is part of the key so that all members of a bin can take the same
    routes: any split of a bin's count among its routes can then be realised by its members.
    The most valuable feasible route is part of it so that, where no demand binds, every
    battery gets its own best route exactly as without aggregation.
    """
    ws, wr = (o.soh_spread, o.r_spread) if o.consistency == "bins" else (o.soh_bin, o.r_bin)
    chem = pd.factorize(table["chemistry"])[0]
    s_bin = np.floor(table["soh"].to_numpy(float) / ws + 1e-9).astype(int)
    r_bin = np.floor(table["r_growth"].to_numpy(float) / wr + 1e-9).astype(int)
    pattern = feas.astype(np.int64) @ (1 << np.arange(feas.shape[1], dtype=np.int64))
    best = np.argmax(np.where(feas, value, -np.inf), axis=1) if value is not None else np.zeros(len(table), int)
    size = pd.factorize(np.round(table["nominal_kwh"].to_numpy(float), 1))[0]   # module sizes
    keys = np.stack([chem, size, s_bin, r_bin, pattern, best], axis=1)
    if o.individual:
        keys = np.column_stack([keys, np.arange(len(table))])
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return uniq, inv.ravel()


def _windows(uniq: np.ndarray, o: AssignmentOptions) -> list:
    """Windows of bins whose SOH and resistance spans stay within the consistency spreads."""
    ws = max(int(round(o.soh_spread / o.soh_bin)), 1)
    wr = max(int(round(o.r_spread / o.r_bin)), 1)
    wins = []
    for c in np.unique(uniq[:, 0]):
        sel = np.flatnonzero(uniq[:, 0] == c)
        s, r = uniq[sel, 2], uniq[sel, 3]
        for s0 in np.unique(s):
            for r0 in np.unique(r):
                inside = sel[(s >= s0) & (s < s0 + ws) & (r >= r0) & (r < r0 + wr)]
                if inside.size:
                    wins.append(inside)
    # drop windows contained in another one (they can never be better)
    sets = [frozenset(w.tolist()) for w in wins]
    keep = [i for i, a in enumerate(sets) if not any(a < b for b in sets)]
    uniq_sets = list(dict.fromkeys(sets[i] for i in keep))
    return [np.array(sorted(s_)) for s_ in uniq_sets]


def assign(fleet, applications=None, *, twin=None, options: AssignmentOptions | None = None,
           demands_kwh: dict | None = None) -> AssignmentResult:
    """Assign every battery of ``fleet`` to one application, remanufacture or recycling.

    Parameters
    ----------
    fleet : Fleet or DataFrame
        Battery table (``slopt.fleet.data`` columns).
    applications : dict[str, Application] or list, optional
        Default: the eight applications of :data:`slopt.fleet.applications.APPLICATIONS`.
    twin : TwinResult, optional
        Precomputed twin results for (fleet, applications); computed if missing.
    demands_kwh : dict, optional
        Override application demands (kWh) by name.

    Returns
    -------
    AssignmentResult
    """
    from slopt.models.assignment import AssignmentData, build_assignment_model
    from slopt.solve import SolveOptions, solve

    o = options or AssignmentOptions()
    table = fleet.table if hasattr(fleet, "table") else fleet
    if applications is None:
        from slopt.fleet.applications import APPLICATIONS as applications
    apps = list(applications.values()) if isinstance(applications, dict) else list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    t0 = time.perf_counter()
    if twin is None:
        from slopt.battery.twin import simulate_twin

        twin = simulate_twin(fleet, apps, years=o.years)
    twin_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    value, feas, years, rte = route_values(table, apps, twin, o)
    uniq, inv = _bins(table, feas, o, value)
    B, R = uniq.shape[0], len(names)
    count = np.bincount(inv, minlength=B)
    n_feas = np.zeros((B, R), dtype=int)
    np.add.at(n_feas, inv, feas.astype(int))
    vsum = np.zeros((B, R))
    np.add.at(vsum, inv, np.where(feas, value, 0.0))
    v_mean = np.divide(vsum, n_feas, out=np.zeros_like(vsum), where=n_feas > 0)
    usable = table["nominal_kwh"].to_numpy(float) * table["soh"].to_numpy(float)
    # demands use the largest member energy of each bin: whichever members the disaggregation
    # picks, the energy sent to an application never exceeds its demand
    e_max = np.zeros(B)
    np.maximum.at(e_max, inv, usable)
    demand = np.array([(demands_kwh or {}).get(a.name, a.demand_kwh) for a in apps] + [np.inf, np.inf], float)
    if o.consistency not in ("bins", "windows"):
        raise ValueError(f"consistency must be 'bins' or 'windows', got {o.consistency!r}")
    wins = _windows(uniq, o) if o.consistency == "windows" else None
    data = AssignmentData(count=count, n_feasible=n_feas, value_usd=v_mean, energy_kwh=e_max,
                          demand_kwh=demand, window_bins=[wins] * len(apps) + [None, None],
                          max_projects=np.array([o.max_projects] * len(apps) + [0, 0]))
    m = build_assignment_model(data)
    build_s = time.perf_counter() - t0
    res = solve(m, o.solver or SolveOptions(mip_rel_gap=1e-3))
    routes_idx = np.full(len(table), -1)
    if res.has_solution:
        y = np.zeros((B, R), dtype=int)
        for (b, r), var in m.y.items():
            y[b, r] = int(round(var.value or 0.0))
        routes_idx = _disaggregate(inv, y, value, feas)
    best = np.argmax(np.where(feas, value, -np.inf), axis=1)
    bat = pd.DataFrame({
        "battery_id": table["battery_id"].to_numpy(),
        "route": [names[i] if i >= 0 else None for i in routes_idx],
        "best_route": [names[i] for i in best],
    })
    idx = np.clip(routes_idx, 0, R - 1)
    rows = np.arange(len(table))
    bat["value_usd"] = np.where(routes_idx >= 0, value[rows, idx], np.nan)
    bat["feasible"] = np.where(routes_idx >= 0, feas[rows, idx], False)
    in_app = (routes_idx >= 0) & (routes_idx < len(apps))
    bat["second_life_years"] = np.where(in_app, years[rows, np.minimum(idx, len(apps) - 1)], np.nan)
    bat["rte"] = np.where(in_app, rte[rows, np.minimum(idx, len(apps) - 1)], np.nan)
    bat["usable_kwh"] = usable
    routes = _route_table(bat, names)
    return AssignmentResult(res.status, res.objective, res.bound, res.gap, bat, routes, build_s, res.solve_s,
                            twin_s, B, res.message, extra={"n_windows": len(wins) if wins else 0, "route_names": names})


def _disaggregate(inv: np.ndarray, y: np.ndarray, value: np.ndarray, feas: np.ndarray) -> np.ndarray:
    """Give each route, bin by bin, the members of the bin worth most on it (routes by mean value)."""
    out = np.full(inv.size, -1)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(y.shape[0]))
    ends = np.append(starts[1:], inv.size)
    for b in np.flatnonzero(y.sum(axis=1)):
        members = order[starts[b]:ends[b]]
        free = np.ones(members.size, bool)
        routes = np.flatnonzero(y[b])
        mean_v = np.array([value[members, r][feas[members, r]].mean() for r in routes])
        for r in routes[np.argsort(-mean_v)]:
            k = y[b, r]
            score = np.where(free, value[members, r], -np.inf)      # all members share the route set
            pick = np.argsort(-score, kind="stable")[:k]
            out[members[pick]] = r
            free[pick] = False
    return out


def _route_table(bat: pd.DataFrame, names: list) -> pd.DataFrame:
    g = bat.groupby("route", sort=False)
    df = pd.DataFrame({
        "count": g.size(), "energy_kwh": g["usable_kwh"].sum(), "value_usd": g["value_usd"].sum(),
        "mean_years": g["second_life_years"].mean(), "mean_rte": g["rte"].mean(),
    }).reindex(names).fillna({"count": 0, "energy_kwh": 0.0, "value_usd": 0.0})
    df.index.name = "route"
    return df.reset_index()


def static_baseline(fleet, applications=None, *, twin=None, options: AssignmentOptions | None = None,
                    grid="grid_time_shift", backup="residential_backup", threshold=0.7) -> pd.DataFrame:
    """Seed 003 §5a: SOH >= 0.7 to grid storage, the rest to residential backup (no twin)."""
    o = options or AssignmentOptions()
    table = fleet.table if hasattr(fleet, "table") else fleet
    if applications is None:
        from slopt.fleet.applications import APPLICATIONS as applications
    apps = list(applications.values()) if isinstance(applications, dict) else list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    if twin is None:
        from slopt.battery.twin import simulate_twin

        twin = simulate_twin(fleet, apps, years=o.years)
    value, feas, years, rte = route_values(table, apps, twin, o)
    r = np.where(table["soh"].to_numpy(float) >= threshold, names.index(grid), names.index(backup))
    rows = np.arange(len(table))
    best = np.argmax(np.where(feas, value, -np.inf), axis=1)
    return pd.DataFrame({
        "battery_id": table["battery_id"].to_numpy(), "route": [names[i] for i in r],
        "best_route": [names[i] for i in best], "value_usd": value[rows, r], "feasible": feas[rows, r],
        "second_life_years": years[rows, r], "rte": rte[rows, r],
        "usable_kwh": table["nominal_kwh"].to_numpy(float) * table["soh"].to_numpy(float),
    })


def allocation_metrics(bat: pd.DataFrame) -> dict:
    """Seed 003 Tables 5-6 metrics of an allocation table.

    correct_pct: share of batteries on the twin's most valuable feasible route;
    misallocated_pct: share on a route the twin says is infeasible for them;
    mean_years / mean_rte: over batteries placed in an application (feasible ones);
    utilisation_pct: share of batteries in a second-life application (not remanufactured or recycled).
    """
    n = len(bat)
    in_app = ~bat["route"].isin([REMANUFACTURE, RECYCLE]) & bat["route"].notna()
    ok = in_app & bat["feasible"]
    return {
        "batteries": n,
        "correct_pct": 100.0 * float((bat["route"] == bat["best_route"]).mean()),
        "misallocated_pct": 100.0 * float((~bat["feasible"]).mean()),
        "mean_years": float(bat.loc[ok, "second_life_years"].mean()) if ok.any() else float("nan"),
        "mean_rte": float(bat.loc[ok, "rte"].mean()) if ok.any() else float("nan"),
        "utilisation_pct": 100.0 * float(in_app.mean()),
        "value_usd": float(bat["value_usd"].where(bat["feasible"], 0.0).sum()),
    }
