"""The representative day of every (chemistry, application): circuit, heat and SOC-stress constants.

Heat is linear in R at fixed current, so the circuit and the thermal model run once per
(chemistry, application) on unit responses; each battery then scales them exactly by its own
R0, R1, SOH and heat transfer (:mod:`slopt.battery.twin.simulate`). Symbols in ``docs/twin.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from slopt.battery.chemistry import Chemistry
from slopt.battery.circuit import periodic_first_order

__all__ = ["DayConstants", "DayTable", "day_constants", "day_table"]


@dataclass(frozen=True)
class DayConstants:
    """Constants of one (chemistry, application) pair from its representative day.

    Quantities are per unit ``Ah_eff = SOH*Ah_nom`` of current, per ohm and per W/K:
    heat = ``Ah_eff^2 * (R0*g0 + R1*g1)`` (W); yearly-mean temperature rise
    ``Ah_eff^2/hA * (R0*m0 + R1*m1)`` (activity included); peak rise
    ``Ah_eff^2/hA * max_k(R0*F0[k] + R1*F1[k])`` over the Pareto points ``(F0, F1)``; losses of the
    day ``Ah_eff^2 * (R0*l0 + R1*l1)`` (W h) while charging (``l0c, l1c``) and discharging
    (``l0d, l1d``); ``q`` = charge moved per direction per day per Ah_eff (h); ``soc_f`` = mean
    calendar SOC stress at 25 degC; ``c_mean`` = yearly time-mean ``|C-rate|`` (1/h);
    ``soc_mean`` = yearly time-mean SOC.
    """

    m0: float
    m1: float
    f0: np.ndarray
    f1: np.ndarray
    l0c: float
    l1c: float
    l0d: float
    l1d: float
    q: float
    soc_f: float
    c_mean: float
    soc_mean: float


SCALARS = ("m0", "m1", "l0c", "l1c", "l0d", "l1d", "q", "soc_f", "c_mean", "soc_mean")


def _unit_heat(c: np.ndarray, chem: Chemistry, dt_s: float):
    """Heat per unit R0 (``g0 = c^2``) and per unit R1 (``g1``, the exact step average of ``i*v1``)
    of the periodic day, at unit current per C (1 A per Ah_eff)."""
    a1 = math.exp(-dt_s / chem.tau1_s)
    v_end = periodic_first_order(c, a1)                       # RC branch at unit R1 (1 ohm)
    v_start = np.roll(v_end, 1)
    avg_fac = chem.tau1_s / dt_s * (1.0 - a1)                  # v1(s) = c + (v_start - c) exp(-s/tau)
    return c * c, c * (c + (v_start - c) * avg_fac)


def _pareto(f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """Indices of the Pareto points of (F0, F1): the max of R0*F0 + R1*F1 (R >= 0) is attained on them."""
    order = np.lexsort((-f1, -f0))                                     # by F0 descending, then F1
    f1s = f1[order]
    prev_best = np.r_[-np.inf, np.maximum.accumulate(f1s)[:-1]]
    return order[f1s > prev_best]                                      # not dominated by a larger F0


def day_constants(app, chem: Chemistry, resolution_min: int) -> DayConstants:
    """The :class:`DayConstants` of ``app`` (its ``representative_day`` and ``soc_trajectory``) for ``chem``."""
    c, activity = app.representative_day(resolution_min)
    c = np.asarray(c, dtype=float)
    dt_s = resolution_min * 60.0
    dt_h = resolution_min / 60.0
    g0, g1 = _unit_heat(c, chem, dt_s)
    a_th = math.exp(-dt_s / chem.tau_th_s)
    f0 = periodic_first_order(g0, a_th)
    f1 = periodic_first_order(g1, a_th)
    keep = _pareto(f0, f1)
    ch, dis = c > 0, c < 0
    soc = app.soc_trajectory(c, resolution_min)
    fs = chem.soc_stress(soc)
    f_day = float(np.mean(0.5 * (fs[:-1] + fs[1:])))                    # trapezoid mean, as BLAST-Lite
    w = min(activity, 1.0)
    soc_f = w * f_day + (1.0 - w) * float(chem.soc_stress(app.rest_soc))
    soc_mean = w * float(np.mean(0.5 * (soc[:-1] + soc[1:]))) + (1.0 - w) * float(app.rest_soc)
    return DayConstants(
        m0=float(g0.mean() * activity), m1=float(g1.mean() * activity), f0=f0[keep], f1=f1[keep],
        l0c=float(g0[ch].sum() * dt_h), l1c=float(g1[ch].sum() * dt_h),
        l0d=float(g0[dis].sum() * dt_h), l1d=float(g1[dis].sum() * dt_h),
        q=float(c[dis].sum() * -dt_h), soc_f=float(soc_f), c_mean=float(np.abs(c).mean() * activity),
        soc_mean=soc_mean)


@dataclass(frozen=True)
class DayTable:
    """:class:`DayConstants` of every (chemistry, application) as arrays of shape (n_chem, n_app);
    ``f0``, ``f1`` are (n_chem, n_app, P), padded with ``-inf``."""

    m0: np.ndarray
    m1: np.ndarray
    l0c: np.ndarray
    l1c: np.ndarray
    l0d: np.ndarray
    l1d: np.ndarray
    q: np.ndarray
    soc_f: np.ndarray
    c_mean: np.ndarray
    soc_mean: np.ndarray
    f0: np.ndarray
    f1: np.ndarray


def day_table(chems: list, apps: list, resolution_min: int) -> DayTable:
    """The :class:`DayTable` of chemistries ``chems`` and applications ``apps``."""
    consts = [[day_constants(a, ch, resolution_min) for a in apps] for ch in chems]
    nc, na = len(chems), len(apps)
    P = max(len(consts[i][j].f0) for i in range(nc) for j in range(na))
    f0 = np.full((nc, na, P), -np.inf)
    f1 = np.full((nc, na, P), -np.inf)
    for i in range(nc):
        for j in range(na):
            p = len(consts[i][j].f0)
            f0[i, j, :p], f1[i, j, :p] = consts[i][j].f0, consts[i][j].f1
    grid = {k: np.array([[getattr(consts[i][j], k) for j in range(na)] for i in range(nc)]) for k in SCALARS}
    return DayTable(**grid, f0=f0, f1=f1)

