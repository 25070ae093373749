"""Value and feasibility of every battery on every route, and checks of a plan."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from slopt.errors import InstanceError
from slopt.fleet.assign.options import AssignmentOptions

__all__ = ["route_values", "plan_value", "check_plan", "application_list", "demand_vector"]


def route_values(table: pd.DataFrame, apps: list, twin, options: AssignmentOptions):
    """Value ($) and feasibility of every battery on every route, shape (n, A + 2).

    Applications: ``usable kWh x (years x RTE x value $/(kWh yr) - repurposing $/kWh)``, with
    the twin's years (0 where the twin reports a thermal breach, ``breach_prob == 1``: the BMS
    would trip); feasible if the battery meets the application's SOH and resistance limits, the
    twin sees no safety breach and gives it a life > 0 (and at least ``min_service_years``).
    Remanufacture: ``usable kWh x value``,
    SOH >= 0.8. Recycle: ``nominal kWh x value`` (the chemistry's value of
    :data:`slopt.battery.chemistry.CHEMISTRIES` when ``recycle_usd_per_kwh`` is None), always feasible.

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
                             table["nominal_kwh"].to_numpy(float) * _recycle_usd_per_kwh(table, options)])
    return value, feas, years, rte


def _recycle_usd_per_kwh(table: pd.DataFrame, options: AssignmentOptions):
    """The recycling value per nominal kWh: the option, or (None) each battery's chemistry's."""
    if options.recycle_usd_per_kwh is not None:
        return options.recycle_usd_per_kwh
    from slopt.battery.chemistry import get_chemistry

    chem = pd.unique(table["chemistry"].astype(str))
    per = {c: get_chemistry(c).recycle_usd_per_kwh for c in chem}
    return table["chemistry"].astype(str).map(per).to_numpy(float)


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


def application_list(applications) -> list:
    if applications is None:
        from slopt.fleet.applications import APPLICATIONS as applications
    apps = list(applications.values()) if isinstance(applications, Mapping) else list(applications)
    if not apps:
        raise InstanceError("assign: no applications")
    return apps


def demand_vector(apps: list, demands_kwh: Mapping | None) -> np.ndarray:
    over = dict(demands_kwh or {})
    unknown = sorted(set(over) - {a.name for a in apps})
    if unknown:
        raise InstanceError.at("demands_kwh", unknown[0], over[unknown[0]], "is not an application")
    d = np.array([float(over.get(a.name, a.demand_kwh)) for a in apps] + [np.inf, np.inf])
    bad = np.flatnonzero(np.isnan(d) | (d < 0))
    if bad.size:
        raise InstanceError.at("demands_kwh", apps[bad[0]].name, d[bad[0]], "must be >= 0 (inf for unlimited)")
    return d
