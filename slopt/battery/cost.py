"""Storage cost model of Yuan et al., Eq. 1a-1f and Eq. 2, with Table 1 defaults.

``C = E*(Ce + Cb + Cj + Cw + Cd) + P*Cp`` with E in Wh and P in W (so $/Wh and $/W
coefficients); ``Cw`` is one year of O&M. Beyond the paper, :func:`annualised_cost_usd`
spreads the capital over the lifetime with a capital recovery factor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from slopt.bounds import MAX_LIFETIME_YEARS, MAX_YEARS, MIN_LIFETIME_YEARS, check_range

__all__ = ["Technology", "NEW_DEFAULT", "RETIRED_DEFAULT", "storage_cost_usd", "cost_breakdown_usd",
           "capital_recovery_factor", "annualised_cost_usd"]


@dataclass(frozen=True)
class Technology:
    """Cost and operating parameters of one storage technology (Yuan et al. Table 1).

    Attributes
    ----------
    name : str
        ``"new"`` or ``"retired"`` (any label is accepted).
    ce_usd_per_wh, cb_usd_per_wh, cj_usd_per_wh, cd_usd_per_wh : float
        Battery (Eq. 1a), BMS (1c), integration (1d) and thermal/safety (1f) cost per Wh.
    cw_usd_per_wh_yr : float
        O&M per Wh and year (Eq. 1e); Eq. 2 counts one year.
    cp_usd_per_w : float
        Power conversion system cost per W (Eq. 1b).
    eta_charge, eta_discharge : float
        One-way efficiencies in (0, 1].
    soc_min, soc_max, soc_initial : float
        SOC window and start (fraction of usable energy).
    c_rate_max : float
        Maximum power per energy (1/h); ``P <= c_rate_max * E_usable``.
    soh : float
        State of health in (0, 1]; usable energy is ``soh * E_nameplate``.
    lifetime_years : float
        Service life used by the annualised cost.
    """

    name: str = "new"
    ce_usd_per_wh: float = 1.0
    cp_usd_per_w: float = 0.3
    cb_usd_per_wh: float = 0.1
    cj_usd_per_wh: float = 0.3
    cw_usd_per_wh_yr: float = 0.01
    cd_usd_per_wh: float = 0.1
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    soc_min: float = 0.1
    soc_max: float = 0.9
    soc_initial: float = 0.5
    c_rate_max: float = 1.0
    soh: float = 1.0
    lifetime_years: float = 10.0

    @property
    def energy_cost_usd_per_kwh(self) -> float:
        """Sum of the energy-proportional coefficients of Eq. 1, in $/kWh."""
        return 1e3 * (self.ce_usd_per_wh + self.cb_usd_per_wh + self.cj_usd_per_wh
                      + self.cw_usd_per_wh_yr + self.cd_usd_per_wh)

    @property
    def power_cost_usd_per_kw(self) -> float:
        """PCS cost of Eq. 1b, in $/kW."""
        return 1e3 * self.cp_usd_per_w

    def with_(self, **changes) -> "Technology":
        return replace(self, **changes)


#: Yuan et al. Table 1, new batteries.
NEW_DEFAULT = Technology(name="new")
#: Yuan et al. Table 1, retired batteries (SOH and C-rate are not in Table 1: slopt defaults).
RETIRED_DEFAULT = Technology(
    name="retired", ce_usd_per_wh=0.5, cp_usd_per_w=0.2, cb_usd_per_wh=0.1, cj_usd_per_wh=0.3,
    cw_usd_per_wh_yr=0.015, cd_usd_per_wh=0.1, eta_charge=0.93, eta_discharge=0.93,
    c_rate_max=0.5, soh=0.8, lifetime_years=6.0,
)


def _cost_args(tech, e_kwh, p_kw, func: str):
    """Check the arguments of the cost functions: a Technology and numeric sizes."""
    from slopt.checks import as_float_array, require

    require(tech, Technology, func, "tech", "e.g. slopt.battery.cost.NEW_DEFAULT")
    return tech, as_float_array(e_kwh, func, "e_kwh"), as_float_array(p_kw, func, "p_kw")


def storage_cost_usd(tech: Technology, e_kwh, p_kw):
    """Eq. 2 cost of one technology: ``E*(Ce+Cb+Cj+Cw+Cd) + P*Cp`` (E in Wh, P in W).

    Vectorised over ``e_kwh`` and ``p_kw``.

    Examples
    --------
    >>> storage_cost_usd(NEW_DEFAULT, 22.5, 18)     # Yuan et al. Table 2, node 8
    39375.0
    """
    tech, e, p = _cost_args(tech, e_kwh, p_kw, "storage_cost_usd")
    out = e * tech.energy_cost_usd_per_kwh + p * tech.power_cost_usd_per_kw
    return float(out) if out.ndim == 0 else out


def cost_breakdown_usd(tech: Technology, e_kwh: float, p_kw: float) -> dict[str, float]:
    """The six cost categories C1..C6 of Eq. 1a-1f for one technology."""
    tech, e, p = _cost_args(tech, e_kwh, p_kw, "cost_breakdown_usd")
    e_wh, p_w = 1e3 * float(e), 1e3 * float(p)
    return {
        "C1_battery": tech.ce_usd_per_wh * e_wh,
        "C2_pcs": tech.cp_usd_per_w * p_w,
        "C3_bms": tech.cb_usd_per_wh * e_wh,
        "C4_integration": tech.cj_usd_per_wh * e_wh,
        "C5_om_year": tech.cw_usd_per_wh_yr * e_wh,
        "C6_safety": tech.cd_usd_per_wh * e_wh,
    }


def capital_recovery_factor(rate: float, years: float) -> float:
    """``r(1+r)^n / ((1+r)^n - 1)``; ``1/n`` when ``rate == 0``.

    Raises :class:`~slopt.errors.InstanceError` (a ``ValueError``) unless ``years`` is in
    [0.1, 100] and ``rate`` in [-0.5, 1]."""
    from slopt.checks import as_number

    years = as_number(years, "capital_recovery_factor", "years", MIN_LIFETIME_YEARS, MAX_YEARS)
    rate = as_number(rate, "capital_recovery_factor", "rate", -0.5, 1.0)
    if rate == 0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


def annualised_cost_usd(tech: Technology, e_kwh, p_kw, *, rate: float = 0.06,
                        horizon_years: float = 20.0, lifetime_years: float | None = None):
    """Equivalent annual cost: capital (with replacements over the horizon) times CRF plus O&M.

    The capital (Eq. 1a-1d, 1f) is bought at year 0 and again every ``lifetime_years`` within
    ``horizon_years``; replacements are discounted at ``rate``; the present value is
    annualised with the capital recovery factor over the horizon and one year of O&M
    (Eq. 1e) is added. ``lifetime_years`` defaults to ``tech.lifetime_years`` (the aging
    model supplies it in later releases).

    Raises
    ------
    InstanceError
        If the lifetime is outside [0.1, 100] years (:mod:`slopt.bounds`; a shorter life
        would mean thousands of replacements), the horizon outside [0.1, 100] years or the
        rate outside [-0.5, 1].
    """
    tech, _, _ = _cost_args(tech, 0.0, 0.0, "annualised_cost_usd")
    life = tech.lifetime_years if lifetime_years is None else lifetime_years
    life = check_range(life, MIN_LIFETIME_YEARS, MAX_LIFETIME_YEARS, None, f"{tech.name}.lifetime_years")
    horizon_years = check_range(horizon_years, MIN_LIFETIME_YEARS, MAX_YEARS, None, "horizon_years")
    rate = check_range(rate, -0.5, 1.0, None, "rate")
    _, e, p = _cost_args(tech, e_kwh, p_kw, "annualised_cost_usd")
    e_wh, p_w = 1e3 * e, 1e3 * p
    capex = e_wh * (tech.ce_usd_per_wh + tech.cb_usd_per_wh + tech.cj_usd_per_wh + tech.cd_usd_per_wh) \
        + p_w * tech.cp_usd_per_w
    n_buys = int(np.ceil(horizon_years / life - 1e-9))
    pv_factor = sum((1.0 + rate) ** (-k * life) for k in range(n_buys))
    out = capex * pv_factor * capital_recovery_factor(rate, horizon_years) + e_wh * tech.cw_usd_per_wh_yr
    return float(out) if np.ndim(out) == 0 else out
