"""Investment metrics of a yearly cash-flow series: NPV, IRR, discounted payback and LCOS.

Conventions: ``flows[t]`` is the net cash of year ``t = 0..N`` (year 0 undiscounted), + received.

* NPV (``numpy_financial.npv``): ``sum_t flows[t] / (1 + r)^t``. For many draws at once,
  ``flows`` of shape ``(n, N+1)`` is discounted with one matrix product (numpy-financial 1.0's
  ``npv`` broadcasts its year axis against the last axis and cannot take a batch; the tests
  check the product against it draw by draw).
* IRR (``numpy_financial.irr``): the rate with NPV = 0; NaN when the flows never change sign
  (no investment, or no return).
* Discounted payback: the time after which the cumulative discounted flow stays >= 0 (the last
  crossing from below, interpolated linearly inside the year); 0 if it is never negative,
  ``inf`` if it ends negative. For the usual profile (invest, then earn) this is the first
  crossing.
* LCOS, Schmidt, Melchior, Hawkes, Staffell (2019), Joule 3, 81-100, Eq. 1:

  ``LCOS = [Capex + sum_t (O&M_t + charging_t + replacement_t)/(1+r)^t + EoL/(1+r)^N]
  / sum_t E_out,t/(1+r)^t``

  i.e. discounted lifetime cost over discounted discharged energy. :func:`lcos` takes the
  cost series (all items, as positive numbers) and the discharged-energy series; the end-of-life
  item falls in year N here (Schmidt et al. put it in N+1; one year of discounting apart).

Every function refuses a discount rate <= -100 % and non-finite input with one line
(:class:`slopt.errors.InstanceError`).
"""

from __future__ import annotations

import numpy as np
import numpy_financial as npf

from slopt.errors import InstanceError

__all__ = ["npv", "irr", "discounted_payback", "lcos", "discount_factors", "check_rate"]


def check_rate(rate, field: str = "rate") -> float:
    """Return ``rate`` as a float; raise a one-line error if it is not finite or <= -1."""
    try:
        r = float(rate)
    except (TypeError, ValueError):
        raise InstanceError.at(None, field, rate, "must be a number") from None
    if not np.isfinite(r):
        raise InstanceError.at(None, field, rate, "must be a finite number")
    if r <= -1.0:
        raise InstanceError.at(None, field, rate, "must be > -1 (a discount rate of -100 % or less is meaningless)")
    return r


def _flows(flows, field: str = "flows") -> np.ndarray:
    f = np.asarray(flows, dtype=float)
    if f.ndim not in (1, 2) or f.shape[0] < 1:
        raise InstanceError.at(None, field, f.shape, "must be a series over years (shape (N+1,) or (n, N+1))")
    if not np.all(np.isfinite(f)):
        raise InstanceError.at(None, field, "NaN/inf", "cash flows must be finite")
    return f


def discount_factors(rate, years: int) -> np.ndarray:
    """``1/(1+r)^t`` for ``t = 0..years``."""
    r = check_rate(rate)
    return (1.0 + r) ** -np.arange(years + 1, dtype=float)


def npv(rate, flows):
    """Net present value, year 0 undiscounted: numpy-financial for one series, a matrix product for
    a batch of shape ``(n, N+1)`` (returns shape ``(n,)``)."""
    r = check_rate(rate)
    f = _flows(flows)
    if f.ndim == 1:
        return float(npf.npv(r, f))
    return f @ discount_factors(r, f.shape[1] - 1)


def irr(flows) -> float:
    """Internal rate of return with numpy-financial; NaN if the flows never change sign."""
    f = _flows(flows)
    if f.ndim != 1:
        raise InstanceError.at(None, "flows", f.shape, "IRR takes one series")
    nz = f[np.abs(f) > 1e-9 * max(1.0, float(np.abs(f).max()))]
    if nz.size < 2 or np.all(nz > 0) or np.all(nz < 0):
        return float("nan")
    val = npf.irr(f)
    return float(val) if val is not None and np.isfinite(val) else float("nan")


def discounted_payback(rate, flows) -> float:
    """Years after which the cumulative discounted cash flow stays >= 0 (``inf`` if it ends below 0)."""
    f = _flows(flows)
    if f.ndim != 1:
        raise InstanceError.at(None, "flows", f.shape, "payback takes one series")
    cum = np.cumsum(f * discount_factors(rate, f.size - 1))
    tol = 1e-9 * max(1.0, float(np.abs(cum).max()))
    neg = np.flatnonzero(cum < -tol)
    if neg.size == 0:
        return 0.0
    t = int(neg[-1]) + 1            # first year of the final non-negative stretch
    if t >= cum.size:
        return float("inf")
    return float(t - 1 + (-cum[t - 1]) / (cum[t] - cum[t - 1]))


def lcos(rate, costs, energy_kwh) -> float:
    """Levelised cost of storage (Schmidt et al. 2019): PV(costs) / PV(discharged energy), $/kWh.

    Parameters
    ----------
    rate : float
        Discount rate per year.
    costs : array_like, shape (N+1,)
        All cost items per year as positive numbers (capex in year 0, O&M, charging,
        replacements, end of life).
    energy_kwh : array_like, shape (N+1,)
        Discharged energy per year (usually 0 in year 0).
    """
    c, e = _flows(costs, "costs"), _flows(energy_kwh, "energy_kwh")
    if c.shape != e.shape:
        raise InstanceError.at(None, "energy_kwh", e.shape, f"must have the shape of costs {c.shape}")
    if np.any(e < 0):
        raise InstanceError.at(None, "energy_kwh", float(e.min()), "discharged energy must be >= 0")
    d = discount_factors(rate, c.shape[0] - 1)
    den = d @ e
    if np.any(den <= 0):
        return float("nan")
    out = (d @ c) / den
    return float(out) if np.ndim(out) == 0 else out
