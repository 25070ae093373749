"""Monte Carlo of the per-party NPVs: SOH at purchase, fade rate, knee and prices drawn in ranges.

Every uncertain input of :class:`slopt.economics.cashflows.Drivers` is drawn uniformly in its
range of :class:`slopt.economics.prices.RiskRanges` (each range cited there): the SOH of the
retired packs at purchase, a multiplier on the fade rate, the knee SOH and the fade multiplier
past it, the used-pack price (Neubauer et al. 2012, $20-100/kWh), the repurposing cost
(Lieskoski et al. 2024, 27.2-38.3 EUR/kWh), a scale on the tariff and the two grid values.
The contract (the fees) is fixed at the base case's: the draws are what happens after
signing.

Everything is vectorised over draws: the service life steps all draws at once
(:func:`slopt.economics.lifetime.service_life_years`), cash flows are ``(n, years+1)`` arrays
and NPVs are one matrix product per party (:func:`slopt.economics.metrics.npv`). Draws are processed in chunks so that
a progress callback can report; the chunking does not change the result.

Two questions are answered per model and party:

* risk: ``P(NPV < 0)`` and the 5 % quantile of NPV over all draws;
* who carries the degradation risk: the standard deviation of NPV when only the degradation
  inputs vary (SOH at purchase, fade rate, knee; prices at their base values). The review
  claims service models move risk from the user to the manufacturer; :func:`risk_transfer`
  states what these numbers show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from slopt.economics.cashflows import Drivers, Fees, components, nominal_drivers, party_flows
from slopt.economics.metrics import npv
from slopt.economics.plan import Plan
from slopt.economics.prices import MODELS, PriceSet

__all__ = ["RiskResult", "draw_drivers", "monte_carlo", "risk_transfer", "risk_priced_fees", "DEGRADATION_DRIVERS"]

#: Drivers that describe degradation (the rest are prices).
DEGRADATION_DRIVERS = ("soh_retired", "rate_mult", "knee_soh", "knee_factor")
_RANGE_OF = {"soh_retired": "soh_retired", "rate_mult": "rate_mult", "knee_soh": "knee_soh",
             "knee_factor": "knee_factor", "used_pack_usd_per_kwh": "used_pack_usd_per_kwh",
             "repurposing_eur_per_kwh": "repurposing_eur_per_kwh", "tariff_scale": "tariff_scale",
             "voltage_support_usd_per_kw_yr": "voltage_support_usd_per_kw_yr",
             "deferral_usd_per_kw_yr": "deferral_usd_per_kw_yr"}


@dataclass
class RiskResult:
    """Monte Carlo output.

    Attributes
    ----------
    npv : DataFrame
        One row per draw: the drivers and one column ``"<model>.<party>"`` of NPV ($) each.
    summary : DataFrame
        Per model and party: mean, std, ``p_loss`` = P(NPV < 0), ``q05``, ``q50``, ``q95``,
        ``deg_std`` (std when only degradation varies) and ``deg_mean_usd``.
    n_draws : int
    seconds : float
        Wall time of the draws (all models, both passes).
    """

    npv: pd.DataFrame
    summary: pd.DataFrame
    n_draws: int
    seconds: float


def draw_drivers(plan: Plan, prices: PriceSet, n: int, rng: np.random.Generator,
                 only: tuple[str, ...] | None = None) -> Drivers:
    """``n`` uniform draws of the drivers in their ranges; ``only`` keeps the others at base values."""
    base = nominal_drivers(plan, prices)
    out = {}
    for name in Drivers.__dataclass_fields__:
        lo, hi = getattr(prices.risk, _RANGE_OF[name])
        u = rng.uniform(lo, hi, n)     # always drawn, so `only` does not shift the stream
        out[name] = u if only is None or name in only else np.full(n, float(getattr(base, name)[0]))
    if plan.tech("retired") is None:
        out["soh_retired"] = np.full(n, float(base.soh_retired[0]))
    out["knee_soh"] = np.maximum(out["knee_soh"], prices.aging.eol_soh_retired)
    if only is None or "rate_mult" in only:
        out["rate_mult"] = out["rate_mult"] * prices.aging.rate_mult   # the range is relative to the expected fade
    return Drivers(**out)


def _npvs(plan: Plan, prices: PriceSet, fees: Fees, dr: Drivers, models) -> dict[str, np.ndarray]:
    c = components(plan, prices, dr)
    out = {}
    for m in models:
        for p, f in party_flows(c, m, fees, prices).items():
            out[f"{m}.{p}"] = npv(prices.finance.rate(p), f)
    return out


def monte_carlo(plan: Plan, prices: PriceSet, fees: Fees, n_draws: int = 10_000, seed: int = 0,
                models=MODELS, chunk: int = 2_000, progress=None) -> RiskResult:
    """Run the Monte Carlo; ``progress(done, total)`` is called after every chunk."""
    if n_draws < 1:
        raise ValueError("n_draws must be >= 1")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    dr_all = draw_drivers(plan, prices, n_draws, rng)
    dr_deg = draw_drivers(plan, prices, n_draws, np.random.default_rng([seed, 1]), only=DEGRADATION_DRIVERS)
    parts, parts_deg = [], []
    for i in range(0, n_draws, chunk):
        sl = slice(i, min(i + chunk, n_draws))
        take = lambda d: replace(d, **{k: np.asarray(v)[sl] for k, v in d.__dict__.items()})
        parts.append(_npvs(plan, prices, fees, take(dr_all), models))
        parts_deg.append(_npvs(plan, prices, fees, take(dr_deg), models))
        if progress is not None:
            progress(sl.stop, n_draws)
    cols = list(parts[0])
    npv = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in cols})
    deg = pd.DataFrame({k: np.concatenate([p[k] for p in parts_deg]) for k in cols})
    seconds = time.perf_counter() - t0
    rows = []
    for k in cols:
        v, d = npv[k].to_numpy(), deg[k].to_numpy()
        model, party = k.split(".")
        rows.append({"model": model, "party": party, "mean_usd": v.mean(), "std_usd": v.std(ddof=1) if v.size > 1 else 0.0,
                     "p_loss": float(np.mean(v < 0)), "q05_usd": float(np.quantile(v, 0.05)),
                     "q50_usd": float(np.quantile(v, 0.5)), "q95_usd": float(np.quantile(v, 0.95)),
                     "deg_std_usd": d.std(ddof=1) if d.size > 1 else 0.0, "deg_mean_usd": d.mean()})
    table = pd.concat([dr_all.table(), npv], axis=1)
    return RiskResult(npv=table, summary=pd.DataFrame(rows), n_draws=n_draws, seconds=seconds)


def risk_transfer(summary: pd.DataFrame) -> pd.DataFrame:
    """Does each service model move degradation risk from the user to the manufacturer (vs BaaP)?

    Per service model: the user's and the manufacturer's degradation-only NPV std next to
    BaaP's, and ``moves_risk`` = the user's falls and the manufacturer's rises.
    """
    s = summary.set_index(["model", "party"])
    if ("BaaP", "user") not in s.index:
        return pd.DataFrame()
    base_u, base_m = s.loc[("BaaP", "user"), "deg_std_usd"], s.loc[("BaaP", "manufacturer"), "deg_std_usd"]
    rows = []
    for m in ("BaaS", "PaaS", "EaaS"):
        if (m, "user") not in s.index:
            continue
        u, mf = s.loc[(m, "user"), "deg_std_usd"], s.loc[(m, "manufacturer"), "deg_std_usd"]
        rows.append({"model": m, "user_deg_std_usd": u, "user_deg_std_baap_usd": base_u,
                     "manufacturer_deg_std_usd": mf, "manufacturer_deg_std_baap_usd": base_m,
                     "user_p_loss": s.loc[(m, "user"), "p_loss"], "user_p_loss_baap": s.loc[("BaaP", "user"), "p_loss"],
                     "moves_risk": bool(u < base_u and mf > base_m)})
    return pd.DataFrame(rows)


def risk_priced_fees(plan: Plan, prices: PriceSet, fees: Fees, n_draws: int = 10_000, seed: int = 0,
                     quantile: float = 0.05, models=("BaaS", "PaaS", "EaaS")) -> pd.DataFrame:
    """The fee at which the manufacturer loses money in only ``quantile`` of the draws, per model.

    The manufacturer's NPV is ``a_i + b f`` in draw ``i`` (``b`` does not depend on the draw: the fee
    flows are fixed amounts), so the fee with ``P(NPV < 0) = quantile`` is ``-Q_quantile(a) / b``
    in closed form. Beside it: the contract fee, and the user's and manufacturer's expected-case NPV
    at the risk-priced fee: what shedding the risk costs the user.
    """
    from slopt.economics.contracts import linear_npv

    dr = draw_drivers(plan, prices, n_draws, np.random.default_rng(seed))
    c_all = components(plan, prices, dr)
    c0 = components(plan, prices, nominal_drivers(plan, prices))
    rows = []
    for m in models:
        r = prices.finance.rate("manufacturer")
        a = npv(r, party_flows(c_all, m, fees.with_fee(m, 0.0), prices)["manufacturer"])
        a1 = npv(r, party_flows(c_all, m, fees.with_fee(m, 1.0), prices)["manufacturer"])
        b = float(np.median(a1 - a))
        if abs(b) < 1e-12:
            continue
        f_q = float(-np.quantile(a, quantile) / b)
        coef = linear_npv(c0, m, fees, prices)
        rows.append({"model": m, "fee_contract": fees.of(m), "fee_risk_priced": f_q,
                     "user_npv_contract_usd": coef["user"][0] + coef["user"][1] * fees.of(m),
                     "user_npv_risk_priced_usd": coef["user"][0] + coef["user"][1] * f_q,
                     "manufacturer_p_loss_contract": float(np.mean(a + b * fees.of(m) < 0))})
    return pd.DataFrame(rows)
