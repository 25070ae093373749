"""Result tables of the assignment, the static baseline of Kumar et al. §5a, and the allocation metrics."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from slopt.errors import InstanceError
from slopt.fleet.assign.options import ASSIGN_COLUMNS, RECYCLE, REMANUFACTURE, AssignmentOptions
from slopt.fleet.assign.values import application_list, demand_vector, route_values
from slopt.fleet.data import Fleet, validate_fleet_table
from slopt.fleet.assign.options import check_assignment_options

__all__ = ["battery_table", "installation_table", "split_installations", "installation_labels", "route_table",
           "static_baseline", "allocation_metrics"]


def battery_table(table, names, route, value, feas, years, rte, usable) -> pd.DataFrame:
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


def installation_table(table: pd.DataFrame, plan, names: list, energy: np.ndarray) -> pd.DataFrame:
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


def split_installations(plan, a: int, idx: np.ndarray) -> list:
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


def installation_labels(installations: dict, route: np.ndarray, names: list, n: int) -> np.ndarray:
    lab = np.full(n, "", dtype=object)
    for a, groups in installations.items():
        for k, sel in enumerate(groups):
            lab[sel] = f"{names[a]}#{k + 1}"
    return lab


def route_table(bat: pd.DataFrame, names: list, demand: np.ndarray | None = None) -> pd.DataFrame:
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
    """Kumar et al. §5a: SOH >= 0.7 to grid storage, the rest to residential backup; same demands.

    The rule ignores the twin. Demands bind as for the optimiser: in order of decreasing SOH,
    a rule takes batteries while their energy fits its demand; the first battery that does not
    fit and all after it overflow to the next rule (grid -> backup -> recycling; backup ->
    recycling). With unlimited demands this is the plain threshold rule.
    """
    o = AssignmentOptions() if options is None else options
    check_assignment_options(o)
    table = fleet.table if isinstance(fleet, Fleet) else validate_fleet_table(fleet, required=ASSIGN_COLUMNS)
    apps = application_list(applications)
    names = [a.name for a in apps] + [REMANUFACTURE, RECYCLE]
    for k in (grid, backup):
        if k not in names:
            raise InstanceError.at("static_baseline", "route", k, "is not an application")
    demand = demand_vector(apps, demands_kwh)
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
    bat = battery_table(table, names, route, value, feas, years, rte, energy)
    bat["installation"] = ""
    return bat


def allocation_metrics(bat: pd.DataFrame, service_years: float = 5.0) -> dict:
    """Kumar et al. Tables 5-6 metrics of an allocation table, independent of any objective.

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
