"""EaaS versus one system per user: utilisation (idle hours, throughput) and revenue.

The users' days are BDEW standard load profiles (household H0, business G1-G6, agriculture L0-L2)
from the ``demandlib`` package: the mean weekday over the year at 15 minutes, scaled to each
user's annual consumption. The shared system (EaaS) and the per-user systems have the same
total usable energy and power; per user, energy and power are split in proportion to the
user's daily consumption. Both schedules are the LP of :mod:`slopt.models.eaas`, solved
through :func:`slopt.solve.solve`; they differ only in which users a unit may serve.

Measured per case:

* idle time: ``idle_equiv_hours_per_day = 24 - sum_{s,t} (pch + pdis) dt / sum_s P_s``, the hours
  the units would stand still if every kWh moved at full power. It depends only on the energy
  moved, so it does not change between equally cheap schedules (an LP often has many: which
  of several equally priced hours to charge in is arbitrary). The step count
  ``idle_hours_per_day`` (steps with neither charge nor discharge, tolerance
  :data:`slopt.economics.plan.IDLE_TOL_PU` of the power, energy-weighted) is reported beside
  it but does depend on that arbitrary choice;
* throughput (discharged kWh per day) and equivalent full cycles per day;
* revenue: the users' bill savings (energy and peak charges) minus the charging energy, per
  day and per year. The shared system can emulate any set of per-user schedules, so its
  revenue is never lower; the tests check this bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopt.economics.plan import IDLE_TOL_PU
from slopt.economics.prices import EaasCase, PriceSet
from slopt.errors import SolverError
from slopt.models.eaas import EaasData, build_eaas_model, eaas_solution
from slopt.solve import SolveOptions, solve

__all__ = ["user_loads_kw", "EaasComparison", "compare_eaas", "eaas_data", "wear_usd_per_kwh"]


def user_loads_kw(case: EaasCase, dt_h: float = 0.25) -> tuple[np.ndarray, list[str]]:
    """Mean weekday load of every user, kW, shape (U, T) with ``T = 24/dt_h`` (BDEW profiles, demandlib)."""
    import demandlib.bdew as bdew

    profiles = sorted({u.profile for u in case.users})
    df = bdew.ElecSlp(case.year).get_profiles(*profiles)          # 15-min shares of the annual energy
    df = df[df.index.dayofweek < 5]
    tod = df.groupby(df.index.hour * 60 + df.index.minute).mean()  # mean weekday, (96, profiles)
    share = tod.to_numpy(float) / tod.to_numpy(float).sum(axis=0)  # of the weekday's energy
    steps_per_15 = int(round(dt_h / 0.25))
    if steps_per_15 < 1 or 96 % steps_per_15:
        raise ValueError("dt_h must be a multiple of 0.25 h dividing the day")
    share = share.reshape(96 // steps_per_15, steps_per_15, -1).sum(axis=1)
    col = {p: i for i, p in enumerate(tod.columns)}
    loads = np.array([share[:, col[u.profile]] * u.annual_mwh * 1e3 / 365.0 / dt_h for u in case.users])
    return loads, [u.name for u in case.users]


def eaas_data(load_kw: np.ndarray, prices: PriceSet, e_kwh: float, p_kw: float, shared: bool,
              dt_h: float, case: EaasCase) -> EaasData:
    """The LP data: one unit serving all users (``shared``) or one unit per user."""
    U, T = load_kw.shape
    hours = (np.arange(T) * dt_h).astype(int) % 24
    price = np.asarray(prices.value.tariff_usd_per_kwh, dtype=float)[hours]
    demand = np.full(U, prices.value.demand_charge_usd_per_kw_month * 12.0 / prices.value.days_per_year)
    if shared:
        e, p, serves = np.array([e_kwh]), np.array([p_kw]), np.ones((1, U), dtype=bool)
    else:
        w = load_kw.sum(axis=1) / load_kw.sum()
        e, p, serves = e_kwh * w, p_kw * w, np.eye(U, dtype=bool)
    return EaasData(load_kw=load_kw, price_usd_per_kwh=price, demand_usd_per_kw=demand, e_kwh=e, p_kw=p,
                    serves=serves, eta_charge=case.eta_charge, eta_discharge=case.eta_discharge, dt_h=dt_h,
                    wear_usd_per_kwh=wear_usd_per_kwh(prices))


def wear_usd_per_kwh(prices: PriceSet, soh: float = 0.8, window: float = 0.8) -> float:
    """The scheduler's wear cost per kWh discharged: ``eaas.wear_usd_per_kwh`` if given, else the pack's
    cost over the energy it delivers until its end of life, with the same aging model as the cash flows:

    ``w = (used-pack price + repurposing) / (N_eol x SOH x window)``,
    ``N_eol = (Num(SOH) - Num(SOH_eol)) / rate_mult`` (Yuan et al. Eq. 7b remaining cycles).
    """
    from slopt.battery.aging import remaining_cycles

    if prices.eaas.wear_usd_per_kwh is not None:
        return float(prices.eaas.wear_usd_per_kwh)
    s, a = prices.supply, prices.aging
    pack = s.used_pack_usd_per_kwh(soh) + s.repurposing_usd_per_kwh
    cycles = (remaining_cycles(soh) - remaining_cycles(a.eol_soh_retired)) / a.rate_mult
    return float(pack / (cycles * soh * window))


@dataclass
class EaasComparison:
    """Tables of :func:`compare_eaas`.

    Attributes
    ----------
    summary : DataFrame
        One row per case (``shared``, ``per-user``): idle hours/day, throughput kWh/day, EFC/day,
        revenue $/day and $/year, bills before and after.
    units, users : DataFrame
        Per unit (idle hours, throughput) and per user (bill before/after, savings) and case.
    schedules : dict
        The solved arrays per case (see :func:`slopt.models.eaas.eaas_solution`).
    idle_reduction_pct : float
        By how much EaaS cuts the full-power-equivalent idle hours of one-system-per-user.
    idle_steps_reduction_pct : float
        The same for the step count of idle hours (depends on the LP's choice among equal schedules).
    """

    summary: pd.DataFrame
    units: pd.DataFrame
    users: pd.DataFrame
    schedules: dict
    idle_reduction_pct: float
    idle_steps_reduction_pct: float


def _bills(load_or_imp: np.ndarray, d: EaasData) -> np.ndarray:
    return (load_or_imp * d.price_usd_per_kwh[None, :]).sum(axis=1) * d.dt_h + d.demand_usd_per_kw * load_or_imp.max(axis=1)


def compare_eaas(prices: PriceSet, e_kwh: float, p_kw: float, dt_h: float = 0.25,
                 options: SolveOptions | None = None) -> EaasComparison:
    """Solve the shared (EaaS) and the per-user schedules and compare them."""
    case = prices.eaas
    e_kwh = case.e_kwh if case.e_kwh is not None else e_kwh
    p_kw = case.p_kw if case.p_kw is not None else p_kw
    load, names = user_loads_kw(case, dt_h)
    rows, unit_rows, user_rows, sched = [], [], [], {}
    for label, shared in (("shared", True), ("per-user", False)):
        d = eaas_data(load, prices, e_kwh, p_kw, shared, dt_h, case)
        m = build_eaas_model(d)
        res = solve(m, options or SolveOptions(mip_rel_gap=1e-6))
        if not res.has_solution:
            raise SolverError(f"EaaS schedule ({label}): HiGHS returned {res.status}: {res.message}")
        sol = eaas_solution(m, d)
        sched[label] = sol
        act = sol["pch"] + sol["pdis"]
        idle = (act <= IDLE_TOL_PU * d.p_kw[:, None]).sum(axis=1) * dt_h
        thr = sol["pdis"].sum(axis=1) * dt_h
        before, after = _bills(load, d), _bills(sol["imp"], d)
        charging = float((sol["pch"] * d.price_usd_per_kwh[None, :]).sum() * dt_h)
        revenue = float(before.sum() - after.sum() - charging)   # cash; the wear is reported beside it
        wear = float(d.wear_usd_per_kwh * thr.sum())
        for s in range(d.S):
            unit_rows.append({"case": label, "unit": "shared" if shared else names[s], "e_kwh": d.e_kwh[s],
                              "p_kw": d.p_kw[s], "idle_hours_per_day": idle[s], "throughput_kwh_per_day": thr[s],
                              "efc_per_day": thr[s] / d.e_kwh[s] if d.e_kwh[s] > 0 else 0.0})
        for u in range(d.U):
            user_rows.append({"case": label, "user": names[u], "bill_before_usd_per_day": before[u],
                              "bill_after_usd_per_day": after[u], "peak_before_kw": load[u].max(),
                              "peak_after_kw": sol["peak"][u], "delivered_kwh_per_day": sol["x"][:, u].sum() * dt_h})
        w = d.e_kwh / d.e_kwh.sum()
        busy = float(act.sum() * dt_h / d.p_kw.sum())
        rows.append({"case": label, "units": d.S, "idle_equiv_hours_per_day": 24.0 - busy,
                     "idle_hours_per_day": float(w @ idle),
                     "throughput_kwh_per_day": float(thr.sum()), "efc_per_day": float(thr.sum() / d.e_kwh.sum()),
                     "revenue_usd_per_day": revenue, "revenue_usd_per_year": revenue * prices.value.days_per_year,
                     "wear_usd_per_day": wear, "revenue_net_of_wear_usd_per_day": revenue - wear,
                     "bills_before_usd_per_day": float(before.sum()), "bills_after_usd_per_day": float(after.sum()),
                     "charging_usd_per_day": charging, "solve_s": res.solve_s})
    summary = pd.DataFrame(rows)
    red = lambda col: (lambda s_, u_: 100.0 * (u_ - s_) / u_ if u_ > 0 else 0.0)(*summary[col].to_numpy())
    return EaasComparison(summary=summary, units=pd.DataFrame(unit_rows), users=pd.DataFrame(user_rows),
                          schedules=sched, idle_reduction_pct=float(red("idle_equiv_hours_per_day")),
                          idle_steps_reduction_pct=float(red("idle_hours_per_day")))
