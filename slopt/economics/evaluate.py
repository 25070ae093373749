"""One call for the whole deterministic evaluation of a plan: metrics, bands, degradation delta, Table 4.

:func:`evaluate` returns an :class:`Evaluation` whose tables are what ``slopt economics``
prints and writes:

* ``metrics``: per model and party, NPV (own discount rate), IRR, discounted payback, LCOS
  (Schmidt et al. 2019, the party's own costs over the discounted discharged energy), the
  year-0 outlay and the yearly O&M the party pays itself;
* ``flows``: the base case's cash-flow items per model, party and year;
* ``bands``: the fee band of every model (:mod:`slopt.economics.contracts`);
* ``degradation``: each party's NPV when the packs degrade faster than expected
  (:func:`slopt.economics.cashflows.faster_drivers`) minus the expected NPV, with the same
  contract: who bears the cost;
* ``table4``: the review's Table 4 in numbers beside its qualitative marks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopt.economics.cashflows import (ROLES, Components, Fees, components, faster_drivers, flows_table,
                                       model_items, nominal_drivers)
from slopt.economics.contracts import fee_bands, resolve_fees
from slopt.economics.metrics import discounted_payback, irr, lcos, npv
from slopt.economics.plan import Plan
from slopt.economics.prices import MODELS, PriceSet

__all__ = ["Evaluation", "evaluate", "party_metrics", "TABLE4_MARKS", "table4"]

#: Review Table 4 (filled circles, 1-4): user initial investment, required user expertise,
#: user-borne O&M cost, manufacturer's discretion, risk of first-life data leakage. The
#: extracted text labels the first row "BaaS"; by its roles (user owns, maintains, schedules)
#: it is BaaP.
TABLE4_MARKS = {
    "BaaP": (3, 4, 4, 1, 4), "BaaS": (4, 3, 1, 2, 1), "PaaS": (2, 2, 1, 2, 1), "EaaS": (1, 1, 1, 4, 1)}


@dataclass
class Evaluation:
    """Deterministic results of :func:`evaluate` (pandas tables, as pandapower's ``res_*``)."""

    plan: Plan
    prices: PriceSet
    fees: Fees
    components: Components
    metrics: pd.DataFrame
    flows: pd.DataFrame
    bands: pd.DataFrame
    degradation: pd.DataFrame
    table4: pd.DataFrame
    system: dict


def party_metrics(c: Components, fees: Fees, prices: PriceSet, models=MODELS) -> pd.DataFrame:
    """NPV, IRR, discounted payback, LCOS, year-0 outlay and own O&M per model and party (draw 0)."""
    energy = np.r_[0.0, np.full(c.years, c.energy_out_kwh_yr)]
    rows = []
    for model in models:
        for party, items in model_items(c, model, fees, prices).items():
            r = prices.finance.rate(party)
            net = sum(items.values())[0]
            costs = -sum(np.minimum(v[0], 0.0) for v in items.values())
            own_om = -sum(v[0][1:].sum() for k, v in items.items() if k in ("O&M", "replacements")
                          and party == ROLES[model][1]) / c.years
            rows.append({"model": model, "party": party, "npv_usd": npv(r, net), "irr": irr(net),
                         "payback_years": discounted_payback(r, net), "lcos_usd_per_kwh": lcos(r, costs, energy),
                         "initial_outlay_usd": float(max(0.0, -net[0])), "own_om_usd_per_yr": float(own_om),
                         "discount_rate": r})
    return pd.DataFrame(rows)


def _system(c: Components, prices: PriceSet) -> dict:
    """System LCOS (all costs at the manufacturer's rate) and lifetimes."""
    N = c.years
    costs = np.zeros(N + 1)
    costs[0] = c.capex_usd[0]
    costs[1:] += c.om_usd_yr[0] + c.charge_cost_usd_yr[0]
    costs += c.replacement_usd[0]
    costs[-1] += max(0.0, -c.eol_usd[0])
    energy = np.r_[0.0, np.full(N, c.energy_out_kwh_yr)]
    out = {"lcos_usd_per_kwh": lcos(prices.finance.discount_manufacturer, costs, energy),
           "capex_usd": float(c.capex_usd[0]), "energy_out_kwh_yr": c.energy_out_kwh_yr,
           "horizon_years": N}
    for k, v in c.life_years.items():
        out[f"life_years_{k}"] = float(v[0])
        out[f"replacements_{k}"] = float(c.replacements[k][0])
    return out


def table4(metrics: pd.DataFrame, degradation: pd.DataFrame, c: Components) -> pd.DataFrame:
    """The review's Table 4 in numbers (user initial investment, user O&M $/yr, the manufacturer's
    exposure) beside its marks."""
    rows = []
    for model in MODELS:
        m = metrics[metrics["model"] == model].set_index("party")
        if m.empty:
            continue
        d = degradation[(degradation["model"] == model)].set_index("party")
        marks = TABLE4_MARKS[model]
        owner, maint, sched = ROLES[model]
        rows.append({
            "model": model, "owner": owner, "maintainer": maint, "scheduler": sched,
            "user_initial_investment_usd": m.loc["user", "initial_outlay_usd"],
            "mark_initial_investment": marks[0],
            "user_om_usd_per_yr": m.loc["user", "own_om_usd_per_yr"], "mark_user_om": marks[2],
            "user_tasks": sum(x == "user" for x in (owner, maint, sched)), "mark_expertise": marks[1],
            "manufacturer_capital_usd": float(c.capex_usd[0]) if owner == "manufacturer" else 0.0,
            "manufacturer_degradation_loss_usd": -float(d.loc["manufacturer", "delta_npv_usd"]),
            "user_degradation_loss_usd": -float(d.loc["user", "delta_npv_usd"]),
            "mark_manufacturer_discretion": marks[3],
            "first_life_data_to_user": owner == "user" and maint == "user", "mark_data_leakage": marks[4]})
    return pd.DataFrame(rows)


def evaluate(plan: Plan, prices: PriceSet | None = None, models=MODELS) -> Evaluation:
    """Cash flows, metrics, fee bands, degradation delta and Table 4 of ``plan`` under ``prices``."""
    from slopt.checks import require

    require(plan, Plan, "evaluate", "plan", "e.g. plan_from_dir(out_dir) or plan_from_result(result)")
    prices = PriceSet() if prices is None else require(prices, PriceSet, "evaluate", "prices", "e.g. load_prices(path)")
    models = tuple(models)
    c = components(plan, prices, nominal_drivers(plan, prices))
    fees = resolve_fees(c, prices)
    metrics = party_metrics(c, fees, prices, models)
    slow = components(plan, prices, faster_drivers(plan, prices))
    m_fast = party_metrics(slow, fees, prices, models)
    deg = metrics[["model", "party", "npv_usd"]].merge(
        m_fast[["model", "party", "npv_usd"]].rename(columns={"npv_usd": "npv_faster_usd"}), on=["model", "party"])
    deg["delta_npv_usd"] = deg["npv_faster_usd"] - deg["npv_usd"]
    t4 = table4(metrics, deg, c)
    return Evaluation(plan=plan, prices=prices, fees=fees, components=c, metrics=metrics,
                      flows=flows_table(c, fees, prices, models), bands=fee_bands(c, fees, prices, models),
                      degradation=deg, table4=t4, system=_system(c, prices) | {
                          f"faster_life_years_{k}": float(v[0]) for k, v in slow.life_years.items()})
