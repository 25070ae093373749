"""Cycle-life degradation model of Yuan et al. §4.1 (Eq. 7a-7c, 8), Woehler DoD law, calendar fade.

The pieces, all numpy-vectorised (the only loop is a thin one over battery groups around the
``rainflow`` package, which works on one series at a time):

- Eq. 7a, :func:`soh_from_cycles`: ``SOH(l) = a1*exp(-((l - a2)/a3)^2)``.
- Eq. 7b, :func:`remaining_cycles`: ``Num(SOH) = 2493.27 - a3*sqrt(-ln(500*SOH/489))``.
  Since ``489/500 = a1`` and ``2493.27 = 2500 - a2`` (rounded), Eq. 7b is
  ``Num = l_life - l(SOH)`` with ``l(SOH)`` the inverse of Eq. 7a (:func:`cycles_from_soh`) and a
  total life of ``l_life = 2493.27 + a2 = 2500.004`` full cycles (SOH ~ 0.192 there).
- Woehler law :class:`~slopt.battery.chemistry.Woehler`, ``N(D) = N100*D^-k`` full cycles to end
  of life at depth D; the law of each chemistry is in :data:`slopt.battery.chemistry.CHEMISTRIES`
  (``Woehler.for_chemistry(name)``).
- Eq. 7c and 8, :func:`equivalent_full_cycles`: rainflow counting (ASTM E1049-85) of the SOC
  trajectory; each cycle of depth D with count c (0.5 or 1) adds ``c*N100/N(D) = c*D^k``.
- :func:`calendar_fade`: ``k_ref*exp(-Ea/R*(1/T - 1/T_ref))*sqrt(t)``.
- :func:`soh_after`, :func:`degradation_rate_pct_per_day`: the SOH update of the dispatch
  simulator (Table 4 metric).

See ``docs/aging.md`` for the derivations and the choices made outside the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import rainflow

from slopt.battery.chemistry import R_J_PER_MOL_K, ZERO_C_K, Woehler
from slopt.battery.chemistry import check_dod as _check_dod

__all__ = [
    "CycleLifeFit", "DEFAULT_FIT", "Woehler", "R_J_PER_MOL_K",
    "soh_from_cycles", "cycles_from_soh", "remaining_cycles", "cycles_at_dod",
    "rainflow_cycles", "equivalent_full_cycles", "arrhenius_factor", "calendar_fade",
    "calendar_fade_after", "soh_after", "degradation_rate_pct_per_day",
]

_ZERO_C_K = ZERO_C_K
_SOC_TOL_PU = 1e-6


# --------------------------------------------------------------------------- Eq. 7a / 7b


@dataclass(frozen=True)
class CycleLifeFit:
    """Fitted SOH-versus-cycles curve of Yuan et al. Eq. 7a-7b.

    Attributes
    ----------
    a1 : float
        Peak SOH of the fit (pu); ``489/500`` in Eq. 7b. Seed: 0.978.
    a2 : float
        Cycle count at the peak (full cycles). Seed: 6.734.
    a3 : float
        Width of the Gaussian (full cycles). Seed: 1953.
    num0_cycles : float
        Constant of Eq. 7b (full cycles). Seed: 2493.27, which is ``2500 - a2`` rounded.
    """

    a1: float = 0.978
    a2: float = 6.734
    a3: float = 1953.0
    num0_cycles: float = 2493.27

    def __post_init__(self) -> None:
        if not (0.0 < self.a1 <= 1.0):
            raise ValueError(f"CycleLifeFit.a1 must be in (0, 1], got {self.a1}")
        if not self.a3 > 0.0:
            raise ValueError(f"CycleLifeFit.a3 must be > 0, got {self.a3}")

    @property
    def life_cycles(self) -> float:
        """Total full-cycle life ``num0 + a2`` at which Eq. 7b reaches zero (2500.004 for the paper's fit)."""
        return self.num0_cycles + self.a2

    @property
    def soh_eol_pu(self) -> float:
        """SOH at which Eq. 7b reaches zero remaining cycles (about 0.1917 for the paper's fit)."""
        return float(soh_from_cycles(self.life_cycles, self))


DEFAULT_FIT = CycleLifeFit()
"""Coefficients of Yuan et al. (2025) (a1 = 0.978, a2 = 6.734, a3 = 1953, Eq. 7b constant 2493.27)."""


def _as_float(x):
    """Return a Python float for 0-d results and the array otherwise."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def soh_from_cycles(l_cycles, fit: CycleLifeFit = DEFAULT_FIT):
    """State of health after ``l`` full cycles, Yuan et al. Eq. 7a.

    ``SOH(l) = a1 * exp(-((l - a2) / a3)^2)``

    Parameters
    ----------
    l_cycles : float or array_like
        Cycle count (equivalent full cycles), any shape. Must be finite; negative values are
        accepted (the Gaussian is defined everywhere) but meaningless.
    fit : CycleLifeFit
        Coefficients; the paper's by default.

    Returns
    -------
    float or numpy.ndarray
        SOH (pu), same shape as ``l_cycles``; at most ``a1``, reached at ``l = a2``.
    """
    l = np.asarray(l_cycles, dtype=float)
    if not np.all(np.isfinite(l)):
        raise ValueError("soh_from_cycles: cycle counts must be finite")
    return _as_float(fit.a1 * np.exp(-(((l - fit.a2) / fit.a3) ** 2)))


def _check_soh(soh_pu, fn: str) -> np.ndarray:
    s = np.asarray(soh_pu, dtype=float)
    if not np.all(np.isfinite(s)) or np.any(s <= 0.0) or np.any(s > 1.0):
        raise ValueError(f"{fn}: SOH must be finite and in (0, 1] pu")
    return s


def _sqrt_log_term(s: np.ndarray, fit: CycleLifeFit) -> np.ndarray:
    """``sqrt(-ln(SOH/a1))`` with SOH saturated at ``a1`` (zero above the fit's peak)."""
    return np.sqrt(-np.log(np.minimum(s, fit.a1) / fit.a1))


def cycles_from_soh(soh_pu, fit: CycleLifeFit = DEFAULT_FIT):
    """Cycle count at which Eq. 7a gives ``soh_pu``: the inverse of Eq. 7a.

    ``l(SOH) = a2 + a3 * sqrt(-ln(SOH / a1))``, the descending branch ``l >= a2``.

    Parameters
    ----------
    soh_pu : float or array_like
        State of health in (0, 1] pu. Values in ``(a1, 1]`` (for example a new pack rated
        1.0) lie above the fit's peak and are saturated at ``a1``, i.e. mapped to ``l = a2``.
    fit : CycleLifeFit
        Coefficients.

    Returns
    -------
    float or numpy.ndarray
        Cycle count (full cycles), ``>= a2``.

    Raises
    ------
    ValueError
        If any SOH is not finite or outside (0, 1].
    """
    s = _check_soh(soh_pu, "cycles_from_soh")
    return _as_float(fit.a2 + fit.a3 * _sqrt_log_term(s, fit))


def remaining_cycles(soh_pu, fit: CycleLifeFit = DEFAULT_FIT):
    """Remaining full cycles of a pack at a given SOH, Yuan et al. Eq. 7b.

    ``Num(SOH) = 2493.27 - a3 * sqrt(-ln(500*SOH/489))``, i.e. ``num0 - a3*sqrt(-ln(SOH/a1))``,
    which equals ``fit.life_cycles - cycles_from_soh(SOH)`` (``life_cycles = num0 + a2 = 2500``).

    Parameters
    ----------
    soh_pu : float or array_like
        State of health in (0, 1] pu. SOH in ``(a1, 1]`` is saturated at ``a1`` (the full
        ``num0`` = 2493.27 cycles remain); a new pack rated 1.0 is thus handled.
    fit : CycleLifeFit
        Coefficients.

    Returns
    -------
    float or numpy.ndarray
        Remaining full cycles. Negative below ``fit.soh_eol_pu`` (~0.192): the pack is past the
        fitted end of life; the value is returned, not clipped.

    Raises
    ------
    ValueError
        If any SOH is not finite or outside (0, 1].
    """
    s = _check_soh(soh_pu, "remaining_cycles")
    return _as_float(fit.num0_cycles - fit.a3 * _sqrt_log_term(s, fit))


# --------------------------------------------------------------------------- Woehler law


def cycles_at_dod(dod_pu, n100_cycles: float, k: float):
    """Cycles to end of life at depth of discharge D (Woehler law).

    ``N(D) = N100 * D^-k``

    Parameters
    ----------
    dod_pu : float or array_like
        Depth of discharge in [0, 1] pu, any shape. ``D = 0`` gives ``inf``.
    n100_cycles : float
        Cycle life at 100 % DoD.
    k : float
        Woehler exponent (> 0).

    Returns
    -------
    float or numpy.ndarray
        Cycle life (cycles), same shape as ``dod_pu``.
    """
    d = _check_dod(dod_pu, "cycles_at_dod")
    with np.errstate(divide="ignore"):
        return _as_float(n100_cycles * d ** (-float(k)))


# --------------------------------------------------------------------------- rainflow (Eq. 7c, 8)


def _reversal_indices(x: np.ndarray) -> np.ndarray:
    """Indices of the reversal points of a 1-D series, as ``rainflow.reversals`` defines them.

    The first and last samples are reversals; an interior reversal is where the sign of the
    non-zero first difference changes, located at the last sample of a plateau. Vectorised, so
    that ``rainflow`` (pure Python) only walks over the reversals, not over every time step.
    """
    n = x.shape[0]
    if n < 2:
        return np.arange(n)
    nz = np.flatnonzero(np.diff(x) != 0.0)
    sgn = np.sign(np.diff(x)[nz])
    turning = nz[1:][sgn[1:] != sgn[:-1]]
    return np.concatenate(([0], turning, [n - 1]))


_CYCLE_COLUMNS = ("range", "mean", "count", "i_start", "i_end")


def _cycles_1d(x: np.ndarray):
    """Rainflow cycles of one series as arrays (range, mean, count, i_start, i_end)."""
    idx = _reversal_indices(x)
    vals = x[idx]
    if idx.size >= 3:
        rows = list(rainflow.extract_cycles(vals))
    elif idx.size == 2:
        # rainflow 3.2 ignores the last point of a 2-sample series; ASTM counts it as a half cycle
        rows = [(abs(vals[1] - vals[0]), 0.5 * (vals[0] + vals[1]), 0.5, 0, 1)]
    else:
        rows = []
    if not rows:
        return (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    rng, mean, count, i0, i1 = (np.asarray(c) for c in zip(*rows))
    return (rng.astype(float), mean.astype(float), count.astype(float),
            idx[i0.astype(np.int64)], idx[i1.astype(np.int64)])


def rainflow_cycles(series) -> pd.DataFrame:
    """Rainflow cycle counting of one series (ASTM E1049-85 §5.4.4, via ``rainflow``).

    Parameters
    ----------
    series : array_like, shape (T,)
        Finite samples (for example SOC in pu).

    Returns
    -------
    pandas.DataFrame
        One row per counted cycle, in the order ``rainflow`` extracts them, with columns
        ``range`` (peak-to-valley range, same unit as ``series``; the depth of discharge for an
        SOC series), ``mean``, ``count`` (1.0 full cycle, 0.5 half cycle), ``i_start`` and
        ``i_end`` (sample indices into ``series``). Identical to ``rainflow.extract_cycles`` for
        ``T >= 3``; a 2-sample series gives one half cycle (``rainflow`` 3.2 drops it).

    Raises
    ------
    ValueError
        If ``series`` is not 1-D or holds non-finite values.
    """
    x = np.asarray(series, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"rainflow_cycles: expected a 1-D series, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("rainflow_cycles: series must be finite")
    return pd.DataFrame(dict(zip(_CYCLE_COLUMNS, _cycles_1d(x))))


def equivalent_full_cycles(soc_pu, woehler: Woehler = Woehler.LFP):
    """Equivalent full cycles of SOC trajectories, Yuan et al. Eq. 7c and 8.

    Rainflow-count the SOC trajectory (ASTM E1049-85); cycle ``m`` with depth ``D_m`` (its SOC
    range) and count ``c_m`` (0.5 or 1) adds ``c_m * N100 / N(D_m) = c_m * D_m^k`` (Eq. 7c), and
    Eq. 8 sums over the cycles:

    ``N_life = sum_m c_m * D_m^k``

    Parameters
    ----------
    soc_pu : array_like, shape (T,) or (G, T)
        SOC in [0, 1] pu of one battery or of G groups over T samples.
    woehler : Woehler
        DoD law; only its exponent ``k`` enters (``N100`` cancels).

    Returns
    -------
    float or numpy.ndarray
        Equivalent full cycles: a float for a (T,) input, shape (G,) for (G, T).

    Raises
    ------
    ValueError
        If SOC is not finite, outside [0, 1] (tolerance 1e-6) or not 1-D/2-D.
    """
    soc = np.asarray(soc_pu, dtype=float)
    if soc.ndim not in (1, 2):
        raise ValueError(f"equivalent_full_cycles: SOC must have shape (T,) or (G, T), got {soc.shape}")
    if not np.all(np.isfinite(soc)) or np.any(soc < -_SOC_TOL_PU) or np.any(soc > 1.0 + _SOC_TOL_PU):
        raise ValueError("equivalent_full_cycles: SOC must be finite and in [0, 1] pu")
    rows = soc.reshape(-1, soc.shape[-1])
    efc = np.empty(rows.shape[0])
    for g, x in enumerate(rows):  # rainflow is per series; reversals are found with numpy
        rng, _, count, _, _ = _cycles_1d(x)
        efc[g] = np.dot(count, np.minimum(rng, 1.0) ** woehler.k)
    return float(efc[0]) if soc.ndim == 1 else efc


# --------------------------------------------------------------------------- calendar fade


def arrhenius_factor(temp_c, ea_j_per_mol: float, t_ref_c: float = 25.0):
    """Arrhenius acceleration ``exp(-Ea/R * (1/T - 1/T_ref))`` (temperatures in kelvin).

    Parameters
    ----------
    temp_c : float or array_like
        Cell temperature (degC), any shape.
    ea_j_per_mol : float
        Activation energy (J/mol).
    t_ref_c : float
        Reference temperature (degC) at which the factor is 1.

    Returns
    -------
    float or numpy.ndarray
        Rate multiplier, > 1 above ``t_ref_c`` for ``Ea > 0``.
    """
    t_k = np.asarray(temp_c, dtype=float) + _ZERO_C_K
    t_ref_k = float(t_ref_c) + _ZERO_C_K
    if not np.all(np.isfinite(t_k)) or np.any(t_k <= 0.0) or t_ref_k <= 0.0:
        raise ValueError("arrhenius_factor: temperatures must be finite and above absolute zero")
    return _as_float(np.exp(-float(ea_j_per_mol) / R_J_PER_MOL_K * (1.0 / t_k - 1.0 / t_ref_k)))


def calendar_fade(t_days, temp_c, k_ref, ea_j_per_mol: float, t_ref_c: float = 25.0):
    """Calendar capacity fade at constant temperature: ``k(T) * sqrt(t)``.

    ``fade(t, T) = k_ref * exp(-Ea/R * (1/T - 1/T_ref)) * sqrt(t)``  (not in Yuan et al.; ``docs/aging.md``)

    Parameters
    ----------
    t_days : float or array_like
        Storage time (days), >= 0.
    temp_c : float or array_like
        Temperature (degC); broadcast against ``t_days``.
    k_ref : float or array_like
        Fade rate at ``t_ref_c`` in pu of capacity per sqrt(day).
    ea_j_per_mol : float
        Activation energy (J/mol).
    t_ref_c : float
        Reference temperature (degC), 25 by default.

    Returns
    -------
    float or numpy.ndarray
        Capacity fade (pu of nominal capacity), broadcast shape of the inputs.
    """
    t = np.asarray(t_days, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0.0):
        raise ValueError("calendar_fade: t_days must be finite and >= 0")
    k = np.asarray(k_ref, dtype=float) * arrhenius_factor(temp_c, ea_j_per_mol, t_ref_c)
    return _as_float(k * np.sqrt(t))


def calendar_fade_after(fade0_pu, dt_days, temp_c, k_ref, ea_j_per_mol: float, t_ref_c: float = 25.0):
    """Advance calendar fade by ``dt_days`` at temperature ``temp_c`` (time-varying temperature).

    Uses the equivalent-time rule for the sqrt law: the current fade ``q0`` corresponds to an
    equivalent time ``(q0/k(T))^2`` at the new temperature, so
    ``q1 = k(T) * sqrt((q0/k(T))^2 + dt)``. At constant temperature, stepping reproduces
    :func:`calendar_fade` exactly.

    Parameters
    ----------
    fade0_pu : float or array_like
        Fade so far (pu), >= 0.
    dt_days : float or array_like
        Step length (days), >= 0.
    temp_c, k_ref, ea_j_per_mol, t_ref_c
        As in :func:`calendar_fade`; ``k_ref`` must be > 0.

    Returns
    -------
    float or numpy.ndarray
        Fade after the step (pu).
    """
    q0 = np.asarray(fade0_pu, dtype=float)
    dt = np.asarray(dt_days, dtype=float)
    if not np.all(np.isfinite(q0)) or np.any(q0 < 0.0):
        raise ValueError("calendar_fade_after: fade0_pu must be finite and >= 0")
    if not np.all(np.isfinite(dt)) or np.any(dt < 0.0):
        raise ValueError("calendar_fade_after: dt_days must be finite and >= 0")
    k = np.asarray(k_ref, dtype=float) * arrhenius_factor(temp_c, ea_j_per_mol, t_ref_c)
    if np.any(k <= 0.0):
        raise ValueError("calendar_fade_after: k_ref must be > 0")
    return _as_float(k * np.sqrt((q0 / k) ** 2 + dt))


# --------------------------------------------------------------------------- SOH update


def soh_after(soh0_pu, efc, fit: CycleLifeFit = DEFAULT_FIT):
    """SOH after ``efc`` more equivalent full cycles along the Eq. 7a curve (via Eq. 7b).

    The pack's position on the curve is ``l0 = cycles_from_soh(SOH0)`` (the inverse of Eq. 7a,
    equivalently ``l_life - Num(SOH0)`` with Eq. 7b); it then moves to ``l0 + efc``:

    ``SOH1 = SOH0 * SOH(l0 + efc) / SOH(l0)``

    For ``SOH0 <= a1`` this is exactly ``SOH(l0 + efc)`` (Eq. 7a), and updates compose:
    ``soh_after(soh_after(s, n1), n2) == soh_after(s, n1 + n2)``. A pack above the fit's peak
    (``a1 < SOH0 <= 1``, e.g. new, rated 1.0; Eq. 7b is undefined there) starts at ``l0 = a2``
    and follows the curve scaled by ``SOH0/a1``, so its SOH is continuous and never jumps down
    to ``a1``. SOH alone does not tell where such a pack is on its scaled curve, so for
    ``SOH0 > a1`` updates do **not** compose: pass the SOH at the start of the counted period and
    the cumulative EFC since then (a simulator needs this anyway, because rainflow counts of a
    split trajectory do not add up to the count of the whole trajectory).

    Parameters
    ----------
    soh0_pu : float or array_like
        SOH in (0, 1] pu at the start of the counted period, e.g. shape (G,).
    efc : float or array_like
        Equivalent full cycles done since that start (>= 0), e.g. from
        :func:`equivalent_full_cycles` over the whole trajectory; broadcast against ``soh0_pu``.
    fit : CycleLifeFit
        Coefficients.

    Returns
    -------
    float or numpy.ndarray
        New SOH (pu), ``0 < SOH1 <= SOH0``.
    """
    s0 = _check_soh(soh0_pu, "soh_after")
    n = np.asarray(efc, dtype=float)
    if not np.all(np.isfinite(n)) or np.any(n < 0.0):
        raise ValueError("soh_after: efc must be finite and >= 0")
    x0 = _sqrt_log_term(s0, fit)  # (l0 - a2)/a3
    x1 = x0 + n / fit.a3
    # SOH(l1)/SOH(l0) = exp(x0^2 - x1^2), computed in one exponent for accuracy
    return _as_float(s0 * np.exp(x0 ** 2 - x1 ** 2))


def degradation_rate_pct_per_day(soh_start_pu, soh_end_pu, duration_days):
    """Average SOH degradation rate in %/day (Yuan et al. Table 4 metric).

    ``rate = 100 * (SOH_start - SOH_end) / duration``

    Parameters
    ----------
    soh_start_pu, soh_end_pu : float or array_like
        SOH (pu) at the start and end of the period; broadcast.
    duration_days : float
        Period length (days), > 0.

    Returns
    -------
    float or numpy.ndarray
        Degradation rate (% of nominal capacity per day); positive when SOH fell.
    """
    d = np.asarray(duration_days, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d <= 0.0):
        raise ValueError("degradation_rate_pct_per_day: duration_days must be finite and > 0")
    s0 = np.asarray(soh_start_pu, dtype=float)
    s1 = np.asarray(soh_end_pu, dtype=float)
    if not (np.all(np.isfinite(s0)) and np.all(np.isfinite(s1))):
        raise ValueError("degradation_rate_pct_per_day: SOH must be finite")
    return _as_float(100.0 * (s0 - s1) / d)
