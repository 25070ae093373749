"""Service life of a pack from its duty: Eq. 7a cycle fade, calendar fade and an uncertain knee.

:func:`service_life_years` steps the SOH month by month, vectorised over any number of draws
(the Monte Carlo passes 10,000 at once)::

    m(s)      = rate_mult * (knee_factor if s <= knee_soh else 1)         fade multiplier
    s <- soh_after(s, efc_per_year * dt * m(s))  -  calendar * dt * m(s)  Yuan et al. Eq. 7a (via 7b)

(a step that crosses the knee is split there) and returns the time at which SOH reaches
``eol_soh`` (linear interpolation inside the step),
capped at ``cap_years`` (the technology's calendar life, ``Technology.lifetime_years``). Without
knee and calendar fade it equals Eq. 7b's remaining cycles over the yearly cycles, which the
tests check. Written by hand: no aging library offers a vectorised knee on the Eq. 7a curve.
"""

from __future__ import annotations

import numpy as np

from slopt.battery.aging import DEFAULT_FIT, CycleLifeFit, soh_after

__all__ = ["service_life_years", "replacements_by_year"]


def service_life_years(soh0, efc_per_year, *, eol_soh, cap_years, knee_soh=0.0, knee_factor=1.0, rate_mult=1.0,
                       calendar_pu_per_year=0.0, step_years: float = 1.0 / 12.0,
                       fit: CycleLifeFit = DEFAULT_FIT) -> np.ndarray:
    """Years until SOH falls to ``eol_soh`` (all arguments broadcast; returns an array).

    Parameters
    ----------
    soh0 : array_like
        SOH at purchase (pu), > ``eol_soh``.
    efc_per_year : array_like
        Equivalent full cycles per year at the nominal rate.
    eol_soh : array_like
        End-of-life SOH.
    cap_years : array_like
        Calendar life; the result never exceeds it.
    knee_soh, knee_factor : array_like
        Below ``knee_soh`` the fade (cycle and calendar) is ``knee_factor`` times faster.
    rate_mult : array_like
        Multiplier on all fade (1 = as expected).
    calendar_pu_per_year : array_like
        Calendar fade, pu of nameplate per year (linear).
    step_years : float
        Integration step.
    """
    s0, efc, eol, cap, ks, kf, rm, cal = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (
        soh0, efc_per_year, eol_soh, cap_years, knee_soh, knee_factor, rate_mult, calendar_pu_per_year)))
    if np.any(s0 <= eol):
        raise ValueError("service_life_years: SOH at purchase must be above the end-of-life SOH")
    s = s0.copy()
    life = cap.copy()
    alive = np.ones(s.shape, dtype=bool)
    n_steps = int(np.ceil(float(cap.max()) / step_years))
    def fade(x, dt, m):
        return soh_after(np.clip(x, 1e-9, 1.0), np.maximum(efc * dt * m, 0.0), fit) - cal * dt * m

    for i in range(n_steps):
        past = s <= ks
        m = rm * np.where(past, kf, 1.0)
        nxt = fade(s, step_years, m)
        knee = ~past & (nxt < ks)          # crosses the knee inside the step: finish it at the faster rate
        if knee.any():
            phi = (s - ks) / np.maximum(s - nxt, 1e-15)
            nxt = np.where(knee, fade(np.where(knee, ks, s), (1.0 - phi) * step_years, rm * kf), nxt)
        crossed = alive & (nxt <= eol)
        if crossed.any():
            frac = (s[crossed] - eol[crossed]) / np.maximum(s[crossed] - nxt[crossed], 1e-15)
            life[crossed] = np.minimum(cap[crossed], (i + frac) * step_years)
            alive &= ~crossed
        s = np.where(alive, nxt, s)
        if not alive.any():
            break
    return np.minimum(life, cap)


def replacements_by_year(life_years, horizon_years: int) -> np.ndarray:
    """Packs bought again in each year ``0..horizon`` (shape ``life.shape + (horizon + 1,)``).

    Replacement ``m`` falls in year ``ceil(m L)``; the count in year ``y`` is
    ``floor(y/L) - floor((y-1)/L)``. Years 0 and ``horizon`` get none (at the horizon the
    packs go to recycling anyway).
    """
    L = np.asarray(life_years, dtype=float)[..., None]
    if np.any(L <= 0):
        raise ValueError("replacements_by_year: service life must be > 0")
    y = np.arange(horizon_years + 1, dtype=float)
    out = np.floor(y / L + 1e-9) - np.floor(np.maximum(y - 1, 0) / L + 1e-9)
    out[..., 0] = 0.0
    out[..., -1] = 0.0
    return out
