"""``assign`` and ``assign_arrays``: every battery to one route, and what they return."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.errors import ArgumentError, InstanceError
from slopt.fleet.assign.engine import Problem
from slopt.fleet.assign.options import ASSIGN_COLUMNS, RECYCLE, REMANUFACTURE, AssignmentOptions
from slopt.fleet.assign.packs import solve_with_packs
from slopt.fleet.assign.tables import (allocation_metrics, battery_table, installation_labels, installation_table,
                                       route_table, split_installations)
from slopt.fleet.assign.values import application_list, check_plan, demand_vector, route_values
from slopt.fleet.data import Fleet, validate_fleet_table
from slopt.fleet.assign.options import check_assignment_options

__all__ = ["AssignmentResult", "ArrayPlan", "assign", "assign_arrays"]


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
                  soh=None, r0_mohm=None, rules: list | None = None, options: AssignmentOptions | None = None,
                  battery_ids=None, route_names=None, extra_constraints=None) -> ArrayPlan:
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
    battery_ids, route_names : sequences of length n and R, optional
        Names of the batteries and the routes, the indices of the model's components (default:
        0..n-1 and 0..R-1).
    extra_constraints : callable, optional
        ``extra_constraints(model, data)``, called last on the assignment MILP (see :func:`assign`).
    """
    o = options or AssignmentOptions()
    value, feas, energy, demand = (np.asarray(value_usd, float), np.asarray(feasible, bool),
                                   np.asarray(energy_kwh, float), np.asarray(demand_kwh, float))
    _check_arrays(value, feas, energy, demand)
    n, R = value.shape
    A = int(n_apps) if n_apps is not None else int(np.flatnonzero(np.isfinite(demand)).max(initial=-1) + 1)
    rules = list(rules) if rules is not None else [None] * A
    if len(rules) != A:
        raise InstanceError(f"assign_arrays: rules must have n_apps = {A} entries")
    if any(r is not None for r in rules) and (chemistry is None or soh is None or r0_mohm is None):
        raise InstanceError("assign_arrays: pack rules need chemistry, soh and r0_mohm")
    if extra_constraints is not None and not callable(extra_constraints):
        raise ArgumentError(f"assign: extra_constraints must be callable (model, data), got "
                            f"{type(extra_constraints).__name__}")
    feas = feas & (demand[None, :] > 0)                                  # a zero demand closes the route
    chem = pd.factorize(np.asarray(chemistry))[0].astype(np.int64) if chemistry is not None else np.zeros(n, np.int64)
    inst = Problem(value=value, feas=feas, energy=energy, demand=demand, chem=chem,
                   soh=np.asarray(soh, float) if soh is not None else np.zeros(n),
                   r0=np.asarray(r0_mohm, float) if r0_mohm is not None else np.ones(n), n_apps=A, rules=rules,
                   limits=[r.installations(demand[k]) if r is not None else None for k, r in enumerate(rules)],
                   battery_names=_names(battery_ids, n, "battery_ids"), route_names=_names(route_names, R, "route_names"),
                   extra_constraints=extra_constraints)
    plan, lagrangian, method = solve_with_packs(inst, o)
    check_plan(plan.route, inst.feas, inst.energy, inst.demand)
    gap = (plan.bound_usd - plan.value_usd) / max(abs(plan.bound_usd), 1e-9)
    wins = {a: [idx for idx in split_installations(plan, a, np.flatnonzero(plan.route == a))]
            for a in range(A) if np.any(plan.route == a)}
    return ArrayPlan(route=plan.route, objective_usd=plan.value_usd, bound_usd=plan.bound_usd,
                     lagrangian_usd=lagrangian, gap=gap, prices_usd_per_kwh=plan.lam, proven=plan.proven,
                     installations=wins, method=method, n_free=plan.n_free, n_groups=plan.n_groups, milp=plan.milp,
                     build_s=plan.build_s, solve_s=plan.solve_s, note=plan.note)


def _check_arrays(value, feas, energy, demand) -> None:
    n, R = value.shape
    if feas.shape != (n, R) or energy.shape != (n,) or demand.shape != (R,):
        raise InstanceError("assign_arrays: value_usd and feasible (n, R), energy_kwh (n,), demand_kwh (R,) must agree")
    if np.any(~(energy > 0)) or np.any(np.isnan(demand) | (demand < 0)):
        raise InstanceError("assign_arrays: energy_kwh must be > 0 and demand_kwh >= 0")
    if np.any(~np.isfinite(value) & feas):
        raise InstanceError("assign_arrays: value_usd must be finite on feasible routes")
    if not np.all((feas & ~np.isfinite(demand)[None, :]).any(axis=1)):
        raise InstanceError("assign_arrays: every battery needs a feasible route with unlimited demand (recycle)")


def _names(names, size: int, what: str):
    """Names as an object array (None stays None), checked for length and uniqueness."""
    if names is None:
        return None
    arr = np.empty(size, dtype=object)
    vals = list(names)
    if len(vals) != size:
        raise InstanceError(f"assign_arrays: {what} must have {size} entries, got {len(vals)}")
    arr[:] = vals
    if len(set(vals)) != size:
        raise InstanceError(f"assign_arrays: {what} must be unique")
    return arr


def assign(fleet, applications=None, *, twin=None, options: AssignmentOptions | None = None,
           demands_kwh: Mapping | None = None, extra_constraints=None) -> AssignmentResult:
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
    extra_constraints : callable, optional
        ``extra_constraints(model, data)``: the study's own constraints on the assignment MILP
        (as for sizing and dispatch), called after the model is built. Components are indexed by
        names: ``model.y[battery_id, route]`` (integer; only routes open to the battery exist, test
        with ``(b, r) in model.y``), ``model.one_route[battery_id]``, ``model.demand[application]``,
        ``model.z[application, window]`` with a pack rule; ``data`` is the
        :class:`slopt.models.assignment.AssignmentData`. With a hook every battery is its own
        column of one whole model (no merging of identical batteries, no column fixing), so large
        fleets take longer; a hook that leaves no feasible plan raises ``InfeasibleError``.

    Returns
    -------
    AssignmentResult
        ``status`` is ``optimal`` when the certified gap is at most ``options.gap_tol``.

    Examples
    --------
    Keep battery B007 out of frequency regulation::

        def no_fr(m, d):
            if ("B007", "frequency_regulation") in m.y:
                m.y["B007", "frequency_regulation"].fix(0)

        res = slopt.assign(fleet, extra_constraints=no_fr)
    """
    from slopt.solve import Status

    o = AssignmentOptions() if options is None else options
    check_assignment_options(o)
    table = fleet.table if isinstance(fleet, Fleet) else validate_fleet_table(fleet, required=ASSIGN_COLUMNS)
    apps = application_list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    demand = demand_vector(apps, demands_kwh)
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
                         rules=[o.rule(a.name) for a in apps], options=o,
                         battery_ids=table["battery_id"].astype(str).to_numpy(), route_names=names,
                         extra_constraints=extra_constraints)
    total_s = time.perf_counter() - t0
    status = Status.OPTIMAL if plan.gap <= o.gap_tol + 1e-12 else Status.FEASIBLE
    bat = battery_table(table, names, plan.route, value, feas, years, rte, energy)
    bat["installation"] = installation_labels(plan.installations, plan.route, names, len(table))
    inst_table = installation_table(table, plan, names, energy)
    routes = route_table(bat, names, demand)
    limits = [r.installations(demand[k]) if (r := o.rule(a.name)) is not None else None for k, a in enumerate(apps)]
    extra = {"route_names": names, "lp_bound_usd": plan.lagrangian_usd,
             "prices_usd_per_kwh": dict(zip(names, plan.prices_usd_per_kwh.tolist())), "proven": plan.proven,
             "n_free": plan.n_free, "method": plan.method, "assign_s": total_s,
             "milp_status": str(plan.milp.status) if plan.milp is not None else None,
             "milp_gap": getattr(plan.milp, "gap", None), "installation_limits": dict(zip(names, limits))}
    return AssignmentResult(status, plan.objective_usd, plan.bound_usd, plan.gap, bat, routes, plan.build_s,
                            plan.solve_s, twin_s, plan.n_groups, plan.note, installations=inst_table, extra=extra)
