"""The contract space: fees at which every party's NPV is >= 0, in closed form.

Every party's cash flows are linear in its model's fee ``f`` (the fee is a fixed amount per
kWh or per kWh-year, never a share of something that depends on ``f``), so its NPV is

``NPV_p(f) = a_p + b_p f``,    ``a_p = NPV_p(0)``,    ``b_p = NPV_p(1) - NPV_p(0)``.

The band of fees that every party accepts is the intersection of half-lines:

``f_lo = max(0, max_{b_p > 0} -a_p/b_p)``,  ``f_hi = min_{b_p < 0} -a_p/b_p``;

a party with ``b_p = 0`` (the grid operator, whose flows do not depend on the fee) needs
``a_p >= 0`` or no band exists. :func:`fee_band` reports the band, or why there is none
(which party cannot be satisfied, and by how much). The tests check the closed form against
bisection and a brute-force grid.

Default fees (:func:`resolve_fees`) are cost-plus: ``(1 + markup)`` x the manufacturer's
break-even fee ``-a_M/b_M``, in the order BaaP, BaaS (which needs BaaP's sale price), PaaS,
EaaS. An explicit fee in the contract overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopt.economics.cashflows import FEE_FIELD, FEE_UNIT, Components, Fees, party_flows
from slopt.economics.metrics import npv
from slopt.economics.prices import MODELS, PriceSet

__all__ = ["FeeBand", "linear_npv", "fee_band", "fee_bands", "resolve_fees", "break_even_fee"]


@dataclass(frozen=True)
class FeeBand:
    """Fees of one model at which every party's NPV is >= 0.

    Attributes
    ----------
    model, fee, unit : str
        The model, the fee's name and unit.
    lo, hi : float
        The band ``[lo, hi]`` (NaN when it does not exist).
    exists : bool
    lower_party, upper_party : str
        Whose NPV sets each edge ("" for the fee >= 0 floor or no upper edge).
    reason : str
        Why no band exists ("" otherwise).
    coef : dict
        ``{party: (a, b)}``: NPV = a + b fee.
    """

    model: str
    fee: str
    unit: str
    lo: float
    hi: float
    exists: bool
    lower_party: str
    upper_party: str
    reason: str
    coef: dict

    def as_row(self) -> dict:
        return {"model": self.model, "fee": self.fee, "unit": self.unit, "lo": self.lo, "hi": self.hi,
                "exists": self.exists, "lower_party": self.lower_party, "upper_party": self.upper_party,
                "reason": self.reason}


def linear_npv(c: Components, model: str, fees: Fees, prices: PriceSet) -> dict[str, tuple[float, float]]:
    """``{party: (a, b)}`` with ``NPV_party(f) = a + b f`` for the model's fee (draw 0)."""
    out = {}
    f0 = party_flows(c, model, fees.with_fee(model, 0.0), prices)
    f1 = party_flows(c, model, fees.with_fee(model, 1.0), prices)
    for p in f0:
        r = prices.finance.rate(p)
        a = npv(r, f0[p][0])
        out[p] = (a, npv(r, f1[p][0]) - a)
    return out


def break_even_fee(c: Components, model: str, fees: Fees, prices: PriceSet, party: str = "manufacturer") -> float:
    """The fee at which ``party``'s NPV is zero (NaN if its NPV does not depend on the fee)."""
    a, b = linear_npv(c, model, fees, prices)[party]
    return float(-a / b) if abs(b) > 1e-12 * max(1.0, abs(a)) else float("nan")


def fee_band(c: Components, model: str, fees: Fees, prices: PriceSet) -> FeeBand:
    """The closed-form band of ``model``'s fee where every party's NPV >= 0."""
    coef = linear_npv(c, model, fees, prices)
    lo, hi, lo_p, hi_p = 0.0, np.inf, "", ""
    reasons = []
    for p, (a, b) in coef.items():
        tol = 1e-9 * max(1.0, abs(a))
        if abs(b) <= 1e-12 * max(1.0, abs(a)):
            if a < -tol:
                reasons.append(f"{p} NPV is {a:,.0f} $ whatever the fee")
            continue
        root = -a / b
        if b > 0 and root > lo:
            lo, lo_p = root, p
        elif b < 0 and root < hi:
            hi, hi_p = root, p
    if not reasons and lo > hi:
        reasons.append(f"{lo_p or 'fee >= 0'} needs fee >= {lo:,.4g} but {hi_p} accepts at most {hi:,.4g}")
    exists = not reasons
    return FeeBand(model=model, fee=FEE_FIELD[model], unit=FEE_UNIT[model], lo=lo if exists else float("nan"),
                   hi=hi if exists else float("nan"), exists=exists, lower_party=lo_p, upper_party=hi_p,
                   reason="; ".join(reasons), coef=coef)


def fee_bands(c: Components, fees: Fees, prices: PriceSet, models=MODELS) -> pd.DataFrame:
    """:func:`fee_band` of every model as a table."""
    return pd.DataFrame([fee_band(c, m, fees, prices).as_row() for m in models])


def resolve_fees(c: Components, prices: PriceSet) -> Fees:
    """The contract's fees; each one left ``None`` is cost-plus on the manufacturer's break-even."""
    ct = prices.contract
    given = {"BaaP": ct.sale_price_usd_per_kwh, "BaaS": ct.baas_fee_usd_per_kwh_yr,
             "PaaS": ct.paas_fee_usd_per_kwh_yr, "EaaS": ct.eaas_fee_usd_per_kwh}
    fees = Fees(0.0, 0.0, 0.0, 0.0)
    for model in MODELS:  # BaaS's break-even needs BaaP's sale price: keep this order
        value = given[model]
        if value is None:
            be = break_even_fee(c, model, fees, prices)
            value = max(0.0, (1.0 + ct.markup) * be) if np.isfinite(be) else 0.0
        fees = fees.with_fee(model, float(value))
    return fees
