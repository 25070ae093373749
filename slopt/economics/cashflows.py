"""Yearly cash flows per party for the four commercial models of second-life storage.

The review (Tang et al., section 5, Table 4, Fig. 10) sorts second-life storage business by who
owns, maintains and schedules the system:

========  =============  ============  =======================================  ==============================
model     owner          maintainer    schedules                                the user pays
========  =============  ============  =======================================  ==============================
BaaP      user           user          user                                     the system price (year 0)
BaaS      user           manufacturer  user                                     the price + a yearly service fee
PaaS      manufacturer   manufacturer  user                                     a yearly subscription
EaaS      manufacturer   manufacturer  manufacturer, for several users at once  a fee per kWh delivered
========  =============  ============  =======================================  ==============================

The physical year is the plan's day repeated ``days_per_year`` times (throughput, the energy
value at the tariff, cycles). The same quantities enter every model; the models only move
them between the parties (:func:`model_items`), so the sum over parties of the undiscounted
flows is the same in every model up to the margins that the fees carry.

Components (one value per draw, arrays of shape ``(n,)`` or ``(n, years + 1)``):

* ``capex``: the manufacturer's system cost, ``sum_k E_k (pack_k + bos_k) + P_k pcs_k``; the
  retired pack costs the used-pack price of its SOH grade plus repurposing; balance of system,
  PCS and O&M default to the instance's coefficients of Yuan et al. Eq. 1b-1f;
* ``replacement``: packs bought again when a technology reaches its service life
  (:func:`slopt.economics.lifetime.service_life_years`: Eq. 7a cycle fade from the plan's
  rainflow cycles, calendar fade, knee, capped by ``lifetime_years``);
* ``om``: yearly O&M; ``discharge_value`` and ``charge_cost``: the day's energy priced at the
  tariff; ``voltage_payment``: what the grid operator pays for the voltage support;
  ``deferral``: the reinforcement it avoids; ``eol``: net recycling value at the horizon.

Fees (:class:`Fees`) are the contract: sale price per kWh (BaaP, BaaS), BaaS service fee and
PaaS subscription per kWh-year, EaaS fee per kWh delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from slopt.economics.lifetime import replacements_by_year, service_life_years
from slopt.economics.plan import Plan
from slopt.economics.prices import MODELS, PriceSet

__all__ = ["Drivers", "Components", "Fees", "nominal_drivers", "faster_drivers", "components", "model_items",
           "party_flows", "flows_table", "FEE_FIELD", "FEE_UNIT", "ROLES"]

#: (owner, maintainer, scheduler) per model (review Table 4).
ROLES = {"BaaP": ("user", "user", "user"), "BaaS": ("user", "manufacturer", "user"),
         "PaaS": ("manufacturer", "manufacturer", "user"),
         "EaaS": ("manufacturer", "manufacturer", "manufacturer")}
#: The fee each model's contract band is computed for.
FEE_FIELD = {"BaaP": "sale_usd_per_kwh", "BaaS": "baas_usd_per_kwh_yr", "PaaS": "paas_usd_per_kwh_yr",
             "EaaS": "eaas_usd_per_kwh"}
FEE_UNIT = {"BaaP": "$/kWh nameplate", "BaaS": "$/kWh-yr", "PaaS": "$/kWh-yr", "EaaS": "$/kWh delivered"}


@dataclass(frozen=True)
class Drivers:
    """The uncertain inputs, each an array of shape ``(n,)`` (``n = 1``: one scenario)."""

    soh_retired: np.ndarray
    rate_mult: np.ndarray
    knee_soh: np.ndarray
    knee_factor: np.ndarray
    used_pack_usd_per_kwh: np.ndarray
    repurposing_eur_per_kwh: np.ndarray
    tariff_scale: np.ndarray
    voltage_support_usd_per_kw_yr: np.ndarray
    deferral_usd_per_kw_yr: np.ndarray

    @property
    def n(self) -> int:
        return int(np.asarray(self.rate_mult).size)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class Fees:
    """The contract's fees (see :data:`FEE_FIELD` and :data:`FEE_UNIT`)."""

    sale_usd_per_kwh: float
    baas_usd_per_kwh_yr: float
    paas_usd_per_kwh_yr: float
    eaas_usd_per_kwh: float

    def with_fee(self, model: str, value) -> "Fees":
        return replace(self, **{FEE_FIELD[model]: value})

    def of(self, model: str):
        return getattr(self, FEE_FIELD[model])


@dataclass(frozen=True)
class Components:
    """Money and energy of one or many scenarios (see the module docstring)."""

    years: int
    e_kwh: float
    energy_out_kwh_yr: float
    capex_usd: np.ndarray               # (n,)
    replacement_usd: np.ndarray         # (n, years + 1)
    om_usd_yr: np.ndarray               # (n,)
    discharge_value_usd_yr: np.ndarray  # (n,)
    charge_cost_usd_yr: np.ndarray      # (n,)
    voltage_payment_usd_yr: np.ndarray  # (n,)
    deferral_usd_yr: np.ndarray         # (n,)
    eol_usd: np.ndarray                 # (n,) net recycling value at the horizon (may be < 0)
    life_years: dict                    # technology -> (n,) service life
    replacements: dict                  # technology -> (n,) packs bought again within the horizon

    @property
    def n(self) -> int:
        return int(self.capex_usd.size)

    @property
    def grid_paid(self) -> bool:
        """A grid service is paid for (the grid operator is a party)."""
        return bool(np.any(self.voltage_payment_usd_yr > 0) or np.any(self.deferral_usd_yr > 0))


def _arr(x, n: int = 1) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy() if np.ndim(x) == 0 else np.asarray(x, float)


def nominal_drivers(plan: Plan, prices: PriceSet) -> Drivers:
    """The expected scenario: the plan's SOH, nominal fade and knee, the price set's values."""
    ret = plan.tech("retired")
    soh = ret.tech.soh if ret is not None else float(np.mean(prices.risk.soh_retired))
    a, v, s = prices.aging, prices.value, prices.supply
    return Drivers(soh_retired=_arr(soh), rate_mult=_arr(a.rate_mult), knee_soh=_arr(a.knee_soh),
                   knee_factor=_arr(a.knee_factor), used_pack_usd_per_kwh=_arr(s.used_pack_usd_per_kwh(soh)),
                   repurposing_eur_per_kwh=_arr(s.repurposing_eur_per_kwh), tariff_scale=_arr(1.0),
                   voltage_support_usd_per_kw_yr=_arr(v.voltage_support_usd_per_kw_yr),
                   deferral_usd_per_kw_yr=_arr(v.deferral_usd_per_kw_yr))


def faster_drivers(plan: Plan, prices: PriceSet) -> Drivers:
    """'Degrades faster than expected': fade x ``aging.faster_rate_mult``, knee at the top of its range."""
    return replace(nominal_drivers(plan, prices), rate_mult=_arr(prices.aging.rate_mult * prices.aging.faster_rate_mult),
                   knee_soh=_arr(max(prices.risk.knee_soh[1], prices.aging.knee_soh)))


def _tech_costs(t, prices: PriceSet, dr: Drivers):
    """(pack $/kWh (n,), bos $/kWh, pcs $/kW, O&M $/kWh-yr) of one technology."""
    s, tech = prices.supply, t.tech
    if t.name == "retired":
        pack = dr.used_pack_usd_per_kwh + dr.repurposing_eur_per_kwh * s.usd_per_eur
    else:
        pack = _arr(s.new_pack_usd_per_kwh if s.new_pack_usd_per_kwh is not None else 1e3 * tech.ce_usd_per_wh, dr.n)
    bos = s.bos_usd_per_kwh if s.bos_usd_per_kwh is not None else 1e3 * (
        tech.cb_usd_per_wh + tech.cj_usd_per_wh + tech.cd_usd_per_wh)
    pcs = s.pcs_usd_per_kw if s.pcs_usd_per_kw is not None else 1e3 * tech.cp_usd_per_w
    om = s.om_usd_per_kwh_yr if s.om_usd_per_kwh_yr is not None else 1e3 * tech.cw_usd_per_wh_yr
    return np.broadcast_to(pack, (dr.n,)), bos, pcs, om


def components(plan: Plan, prices: PriceSet, drivers: Drivers | None = None) -> Components:
    """The money and energy of ``plan`` under ``prices`` for every draw of ``drivers``."""
    dr = drivers if drivers is not None else nominal_drivers(plan, prices)
    n, N = dr.n, prices.finance.horizon_years
    a, days = prices.aging, prices.value.days_per_year
    tariff = np.asarray(prices.value.tariff_usd_per_kwh, dtype=float)
    capex = np.zeros(n)
    repl = np.zeros((n, N + 1))
    om = np.zeros(n)
    dis_val = np.zeros(n)
    ch_cost = np.zeros(n)
    life, count = {}, {}
    for t in plan.techs:
        pack, bos, pcs, om_k = _tech_costs(t, prices, dr)
        capex += t.e_kwh * (pack + bos) + t.p_kw * pcs
        om += t.e_kwh * om_k
        dis_val += dr.tariff_scale * float(tariff @ t.discharge_kwh_by_hour) * days
        ch_cost += dr.tariff_scale * float(tariff @ t.charge_kwh_by_hour) * days
        retired = t.name == "retired"
        life[t.name] = service_life_years(
            dr.soh_retired if retired else t.tech.soh, t.efc_per_day * days,
            eol_soh=a.eol_soh_retired if retired else a.eol_soh_new, cap_years=t.tech.lifetime_years,
            knee_soh=dr.knee_soh, knee_factor=dr.knee_factor, rate_mult=dr.rate_mult,
            calendar_pu_per_year=a.calendar_fade_pu_per_yr) * np.ones(n)
        k = replacements_by_year(life[t.name], N)
        count[t.name] = k.sum(axis=1)
        repl += k * (t.e_kwh * pack)[:, None]
    s = prices.supply
    return Components(
        years=N, e_kwh=plan.e_kwh, energy_out_kwh_yr=float(sum(t.discharge_kwh_day for t in plan.techs) * days),
        capex_usd=capex, replacement_usd=repl, om_usd_yr=om, discharge_value_usd_yr=dis_val,
        charge_cost_usd_yr=ch_cost, voltage_payment_usd_yr=dr.voltage_support_usd_per_kw_yr * plan.p_kw,
        deferral_usd_yr=dr.deferral_usd_per_kw_yr * plan.p_kw,
        eol_usd=_arr((s.recycling_value_usd_per_kwh - s.recycling_cost_usd_per_kwh) * plan.e_kwh, n),
        life_years=life, replacements=count)


# ----------------------------------------------------------------------------- the models
def _at(x, years: int, when: str) -> np.ndarray:
    """Place a per-draw amount ``x`` (n,) in years: ``"0"``, ``"N"``, ``"1..N"`` or ``"0..N-1"``."""
    x = np.asarray(x, dtype=float)[:, None]
    mask = np.zeros(years + 1)
    if when == "0":
        mask[0] = 1
    elif when == "N":
        mask[-1] = 1
    elif when == "1..N":
        mask[1:] = 1
    else:
        mask[:-1] = 1
    return x * mask[None, :]


def model_items(c: Components, model: str, fees: Fees, prices: PriceSet) -> dict[str, dict[str, np.ndarray]]:
    """Signed cash-flow items ``{party: {item: (n, years+1)}}`` of one model (+ received)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    N, ct = c.years, prices.contract
    adv = "0..N-1" if ct.fees_in_advance else "1..N"
    yrs = np.arange(N + 1)
    w = ((yrs >= 1) & (yrs <= ct.warranty_years)).astype(float)[None, :]
    sale = _at(fees.sale_usd_per_kwh * c.e_kwh * np.ones(c.n), N, "0")
    grid = {"avoided reinforcement": _at(c.deferral_usd_yr, N, "1..N"),
            "voltage-support payment": -_at(c.voltage_payment_usd_yr, N, "1..N")}
    energy = {"energy value": _at(c.discharge_value_usd_yr, N, "1..N"),
              "charging energy": -_at(c.charge_cost_usd_yr, N, "1..N")}
    gp = {"voltage-support payment": _at(c.voltage_payment_usd_yr, N, "1..N")}
    om = -_at(c.om_usd_yr, N, "1..N")
    eol = {"recycling": _at(c.eol_usd, N, "N")}
    cap = {"system cost": -_at(c.capex_usd, N, "0")}
    if model == "BaaP":
        m = {"sale": sale, **cap, "replacements (warranty)": -c.replacement_usd * w,
             "replacement sales": (1 + ct.markup) * c.replacement_usd * (1 - w),
             "replacement cost": -c.replacement_usd * (1 - w)}
        u = {"purchase": -sale, **energy, **gp, "O&M": om,
             "replacements": -(1 + ct.markup) * c.replacement_usd * (1 - w), **eol}
    elif model == "BaaS":
        fee = _at(fees.baas_usd_per_kwh_yr * c.e_kwh * np.ones(c.n), N, adv)
        m = {"sale": sale, **cap, "service fee": fee, "O&M": om, "replacements": -c.replacement_usd}
        u = {"purchase": -sale, "service fee": -fee, **energy, **gp, **eol}
    elif model == "PaaS":
        fee = _at(fees.paas_usd_per_kwh_yr * c.e_kwh * np.ones(c.n), N, adv)
        m = {**cap, "subscription": fee, "O&M": om, "replacements": -c.replacement_usd, **eol}
        u = {"subscription": -fee, **energy, **gp}
    else:  # EaaS: the manufacturer schedules, buys the charging energy and earns the grid payment
        fee = _at(fees.eaas_usd_per_kwh * c.energy_out_kwh_yr * np.ones(c.n), N, "1..N")
        m = {**cap, "energy-service fee": fee, "charging energy": energy["charging energy"], **gp, "O&M": om,
             "replacements": -c.replacement_usd, **eol}
        u = {"energy value": energy["energy value"], "energy-service fee": -fee}
    out = {"manufacturer": m, "user": u}
    if c.grid_paid:
        out["grid"] = grid
    return out


def party_flows(c: Components, model: str, fees: Fees, prices: PriceSet) -> dict[str, np.ndarray]:
    """Net flow per party, ``{party: (n, years+1)}``."""
    return {p: sum(items.values()) for p, items in model_items(c, model, fees, prices).items()}


def flows_table(c: Components, fees: Fees, prices: PriceSet, models=MODELS) -> pd.DataFrame:
    """Long table ``model, party, item, year, usd`` of draw 0 (the base case)."""
    rows = []
    for model in models:
        for party, items in model_items(c, model, fees, prices).items():
            for item, arr in items.items():
                for y, v in enumerate(np.asarray(arr)[0]):
                    if v != 0.0:
                        rows.append({"model": model, "party": party, "item": item, "year": y, "usd": float(v)})
    return pd.DataFrame(rows, columns=["model", "party", "item", "year", "usd"])

