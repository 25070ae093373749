"""Health estimates from a BMS history, one testable step at a time (the LiBat white paper; ``docs/passport.md``).

:func:`ingest_history` reads a history (:func:`slopt.fleet.history.read_history`) and, per
battery, runs the steps below (all numpy-vectorised over the battery's samples). Each step is a
public function with a named result, so it can be tested alone:

1. :func:`prepare_samples` -> :class:`Samples`: sensor faults masked, sampling interval, logging gaps.
2. :func:`estimate_capacity` -> :class:`Swings`: **capacity** by coulomb counting over full swings.
   The SOC trajectory is reduced to its :func:`turning_points` with a hysteresis (so sensor noise,
   measured by :func:`soc_noise`, does not cut a swing); a leg with ``|dSOC| >= min_swing_pu``
   gives ``C = |integral I dt| / |dSOC|`` (Ah, :func:`legs_capacity`, a least-squares slope over
   the leg). The battery's capacity is the median over its swings; legs crossing a logging gap
   or an SOC jump are skipped; SOC spikes are replaced by the coulomb count; an inverted current
   sign is detected. The integral holds each current sample until the next (zero-order hold).
3. :func:`estimate_resistance` -> :class:`ResistanceSteps`: ``R = dV/dI`` at current steps, the
   voltage drift of a steady interval before the step subtracted, median over steps (mOhm).
4. :func:`count_cycles` -> :class:`CycleCount`: equivalent full cycles with rainflow counting
   (:func:`slopt.battery.aging.rainflow_cycles`) of the coulomb count between the turning points,
   with ``k = 1`` and Woehler-weighted (``k`` of the chemistry, Yuan et al. Eq. 7c-8).
5. :func:`soh_history` -> :class:`SohHistory`: capacity, SOH and R per equal time span, and
   least-squares fade per year and per 1000 EFC (the fleet table's ``degradation_trend``).
6. :func:`thermal_stress`: hours above 35 and 45 degC and below 0 degC, min/mean/max
   temperature, Arrhenius-weighted exposure (equivalent hours at 25 degC).
7. :func:`data_quality` and :func:`plausible`: gaps, dropouts, sensor faults, SOC jumps, refused
   SOH or R0.

:func:`estimate_battery` composes them for one battery. See ``docs/passport.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.aging import arrhenius_factor, rainflow_cycles
from slopt.battery.chemistry import Woehler
from slopt.errors import InstanceError
from slopt.fleet.history import is_read_history, read_history

__all__ = [
    "IngestOptions", "Samples", "Swings", "ResistanceSteps", "CycleCount", "SohHistory", "ingest_history",
    "plausibility_warnings", "prepare_samples", "soc_noise", "turning_points", "legs_capacity", "estimate_capacity",
    "estimate_resistance", "count_cycles", "soh_history", "thermal_stress", "data_quality", "plausible",
    "estimate_battery",
]


@dataclass(frozen=True)
class IngestOptions:
    """Estimator settings of :func:`ingest_history`.

    Attributes
    ----------
    min_swing_pu : float
        Smallest monotone SOC swing used for coulomb counting (pu). 0.5 by default.
    soc_hysteresis_pu : float
        SOC retracement that confirms a turning point (pu). Smaller reversals are treated as
        noise, both for the swings and for rainflow counting.
    step_min_a : float or None
        Smallest current step (A) used for the resistance; ``None``: ``step_fraction`` times the
        99th percentile of ``|I|`` of the battery.
    step_fraction : float
        See ``step_min_a``.
    gap_factor : float
        An interval longer than ``gap_factor`` times the median sampling interval is a gap:
        no charge is integrated over it, no swing or step may cross it, and it does not count
        as time at temperature.
    n_periods : int
        Number of equal time spans of the SOH history (>= 3).
    hot_thresholds_c : tuple of float
        Temperatures for the "hours above" statistics (degC).
    cold_threshold_c : float
        Temperature for the "hours below" statistic (degC).
    ea_j_per_mol, t_ref_c : float
        Activation energy and reference temperature of the Arrhenius exposure.
    woehler : Woehler or None
        DoD law of the weighted cycle count; ``None``: by chemistry (LFP when unknown).
    soc_jump_pu : float
        An SOC change between two consecutive samples that differs by more than this from the
        coulomb count (``I dt / C``, with the capacity of a first pass) is a jump
        (recalibration or fault); swings containing one are not used. A jump followed at once by
        one back is a spike: that sample is replaced by the coulomb count.
    noise_k : float
        The turning-point hysteresis is ``max(soc_hysteresis_pu, noise_k * sigma + quantum)``
        with the SOC's measured white-noise ``sigma`` and logging quantum.
    soh_tolerance : float
        A measured SOH up to ``1 + soh_tolerance`` is kept (flag ``soh_above_rated``: new cells
        often hold a few percent more than their rated, guaranteed-minimum capacity); above it the
        SOH is refused (NaN, flag ``soh_implausible``: the rated capacity, or the data, is wrong).
    voltage_range_v, temperature_range_c : tuple of float
        Plausible sensor ranges; readings outside are counted as sensor faults and masked.
    """

    min_swing_pu: float = 0.5
    soc_hysteresis_pu: float = 0.01
    step_min_a: float | None = None
    step_fraction: float = 0.2
    gap_factor: float = 5.0
    n_periods: int = 3
    hot_thresholds_c: tuple = (35.0, 45.0)
    cold_threshold_c: float = 0.0
    ea_j_per_mol: float = 50_000.0
    t_ref_c: float = 25.0
    woehler: Woehler | None = None
    soc_jump_pu: float = 0.1
    noise_k: float = 5.0
    soh_tolerance: float = 0.05
    voltage_range_v: tuple = (0.0, 1500.0)
    temperature_range_c: tuple = (-40.0, 100.0)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_swing_pu <= 1.0:
            raise ValueError(f"IngestOptions.min_swing_pu must be in (0, 1], got {self.min_swing_pu}")
        if not 0.0 <= self.soc_hysteresis_pu < self.min_swing_pu:
            raise ValueError("IngestOptions.soc_hysteresis_pu must be in [0, min_swing_pu)")
        if self.step_min_a is not None and not self.step_min_a > 0.0:
            raise ValueError(f"IngestOptions.step_min_a must be > 0, got {self.step_min_a}")
        if not 0.0 < self.step_fraction <= 1.0:
            raise ValueError(f"IngestOptions.step_fraction must be in (0, 1], got {self.step_fraction}")
        if not self.gap_factor > 1.0:
            raise ValueError(f"IngestOptions.gap_factor must be > 1, got {self.gap_factor}")
        if int(self.n_periods) != self.n_periods or self.n_periods < 3:
            raise ValueError(f"IngestOptions.n_periods must be an integer >= 3, got {self.n_periods}")
        if not self.soc_jump_pu > 0.0:
            raise ValueError(f"IngestOptions.soc_jump_pu must be > 0, got {self.soc_jump_pu}")
        if not (math.isfinite(self.noise_k) and self.noise_k >= 0.0):
            raise ValueError(f"IngestOptions.noise_k must be >= 0, got {self.noise_k}")
        if not (math.isfinite(self.soh_tolerance) and 0.0 <= self.soh_tolerance <= 0.5):
            raise ValueError(f"IngestOptions.soh_tolerance must be in [0, 0.5], got {self.soh_tolerance}")


# --------------------------------------------------------------------------- estimators


def turning_points(x: np.ndarray, h: float) -> np.ndarray:
    """Indices of the turning points of ``x`` with hysteresis ``h`` (first and last included).

    A maximum is confirmed once the series has fallen ``h`` below it, a minimum once it has
    risen ``h`` above it (the "zigzag" filter), so every leg between consecutive indices is
    monotone up to retracements smaller than ``h``. The raw reversals are found with numpy; the
    confirmation walks over the reversals only (they are few for a BMS SOC, which is smooth).
    """
    n = x.size
    if n <= 2:
        return np.arange(n)
    d = np.diff(x)
    nz = np.flatnonzero(d != 0.0)
    if nz.size == 0:
        return np.array([0, n - 1])
    sgn = np.sign(d[nz])
    cand = np.concatenate(([0], nz[1:][sgn[1:] != sgn[:-1]], [n - 1]))
    v = x[cand].tolist()
    piv, trend, ext = [0], 0, 0
    for j in range(1, len(v)):
        vj = v[j]
        if trend == 0:
            if vj - v[0] >= h and vj > v[0]:
                trend, ext = 1, j
            elif v[0] - vj >= h and vj < v[0]:
                trend, ext = -1, j
        elif trend > 0:
            if vj >= v[ext]:
                ext = j
            elif v[ext] - vj >= h:
                piv.append(ext)
                trend, ext = -1, j
        else:
            if vj <= v[ext]:
                ext = j
            elif vj - v[ext] >= h:
                piv.append(ext)
                trend, ext = 1, j
    if trend != 0 and ext != piv[-1]:
        piv.append(ext)
    if piv[-1] != len(v) - 1:
        piv.append(len(v) - 1)
    return cand[np.asarray(piv)]


def _lookup(value, bid: str) -> float:
    """A per-battery value from a scalar, a mapping or a Series keyed by battery_id."""
    if value is None:
        return math.nan
    if isinstance(value, (pd.Series, Mapping)):
        try:
            v = value[bid]
        except (KeyError, IndexError):
            return math.nan
        return math.nan if v is None or pd.isna(v) else float(v)
    return float(value)


def _woehler_for(chemistry, opts: IngestOptions) -> Woehler:
    """The Woehler law of the weighted cycle count: the option, else the chemistry's, else LFP's."""
    if opts.woehler is not None:
        return opts.woehler
    try:
        return Woehler.for_chemistry(str(chemistry)) if chemistry else Woehler.LFP
    except ValueError:
        return Woehler.LFP


@dataclass
class Samples:
    """One battery's samples with sensor faults masked, and its sampling bookkeeping.

    ``t`` time (s since the epoch), ``v`` voltage (V, NaN: dropout or fault), ``i`` current (A,
    + charge), ``temp`` temperature (degC, NaN: dropout or fault), ``soc``; ``dt`` intervals (s),
    ``sample_s`` their median, ``gap`` intervals longer than ``gap_factor * sample_s``, ``w``
    the seconds that count (zero-order hold of sample k over [t_k, t_k+1), 0 over a gap), and
    ``counts`` the data-quality counts of the sensors (dropouts, out-of-range readings).
    """

    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    temp: np.ndarray
    soc: np.ndarray
    dt: np.ndarray
    sample_s: float
    gap: np.ndarray
    w: np.ndarray              # seconds that count (zero-order hold of sample k over [t_k, t_k+1))
    counts: dict


def prepare_samples(g: pd.DataFrame, opts: IngestOptions) -> Samples:
    """One battery's samples (``g``: its rows of :func:`~slopt.fleet.history.read_history`) with sensor
    faults masked, the sampling interval and the logging gaps."""
    t = g["t_s"].to_numpy(float)
    v = g["voltage_v"].to_numpy(float).copy()
    temp = g["temperature_c"].to_numpy(float).copy()
    counts = {"voltage_missing": int(np.isnan(v).sum()), "temperature_missing": int(np.isnan(temp).sum())}
    with np.errstate(invalid="ignore"):
        v_bad = ~np.isnan(v) & ((v <= opts.voltage_range_v[0]) | (v > opts.voltage_range_v[1]))
        t_bad = ~np.isnan(temp) & ((temp < opts.temperature_range_c[0]) | (temp > opts.temperature_range_c[1]))
    v[v_bad] = np.nan
    temp[t_bad] = np.nan
    counts.update(voltage_out_of_range=int(v_bad.sum()), temperature_out_of_range=int(t_bad.sum()))
    dt = np.diff(t)
    sample_s = float(np.median(dt)) if t.size > 1 else math.nan
    gap = dt > opts.gap_factor * sample_s if t.size > 1 else np.zeros(0, bool)
    return Samples(t=t, v=v, i=g["current_a"].to_numpy(float), temp=temp, soc=g["soc"].to_numpy(float), dt=dt,
                    sample_s=sample_s, gap=gap, w=np.where(gap, 0.0, dt), counts=counts)


def soc_noise(soc: np.ndarray) -> tuple[float, float]:
    """White-noise sigma of the logged SOC and its quantum (the logging resolution).

    sigma: ``1.4826 * MAD(second differences) / sqrt(6)`` (a second difference of white noise has
    variance ``6 sigma^2``; it cancels the constant-current ramps, and the MAD ignores the few
    corners and spikes). Quantum: the coarsest ``10^-k`` (k = 1..6) that every value is a
    multiple of, else 0.
    """
    d2 = np.diff(soc, 2)
    sigma = float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0)) if d2.size else 0.0
    quantum = 0.0
    for k in range(1, 7):
        x = soc * 10.0 ** k
        if np.all(np.abs(x - np.round(x)) < 1e-6):
            quantum = 10.0 ** -k
            break
    return sigma, quantum


@dataclass
class Swings:
    """Coulomb counting over monotone SOC swings (see :func:`estimate_capacity`)."""

    capacity_ah: float
    cap: np.ndarray            # capacity per used swing (Ah)
    mid: np.ndarray            # mid time of each used swing (s)
    sign: float                # +1, or -1 when the current sign is inverted
    q_ah: np.ndarray           # cumulative charge, sign-corrected (Ah)
    soc: np.ndarray            # SOC with spikes replaced by the coulomb count
    piv: np.ndarray            # turning points of that SOC
    jump: np.ndarray           # SOC steps the coulomb count does not explain (per interval)
    n_spikes: int
    sigma: float
    hysteresis: float


def legs_capacity(s_soc, q, a, b) -> np.ndarray:
    """Capacity per leg ``[a, b]`` (Ah): the inverse slope of the least-squares line of SOC on charge
    over the leg's samples (uses every sample, so SOC noise averages out instead of biasing the
    end points)."""
    qc = q - np.mean(q)
    cs = lambda x: np.concatenate(([0.0], np.cumsum(x)))
    S1, Sq, Ss, Sqq, Sqs = (cs(x) for x in (np.ones_like(qc), qc, s_soc, qc * qc, qc * s_soc))
    seg = lambda S: S[b + 1] - S[a]
    n, sq, ss, sqq, sqs = seg(S1), seg(Sq), seg(Ss), seg(Sqq), seg(Sqs)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sqs - sq * ss) / (n * sqq - sq * sq)
    return np.abs(1.0 / slope)


def estimate_capacity(s: Samples, opts: IngestOptions, flags: list) -> Swings:
    """Capacity by coulomb counting over monotone swings, the current sign, SOC spikes and jumps.

    Pass 1 (legs that cross no logging gap, end-point ratios) gives a first capacity and the
    current sign. An SOC step the coulomb count does not explain by more than ``soc_jump_pu`` is a
    jump; a jump straight back at the next sample makes the sample a spike, which is replaced by
    the coulomb count (flag ``soc_spikes``) and so counts in no swing and no cycle. Pass 2 finds
    the swings of the cleaned SOC, skips legs with a gap or a jump, and fits each leg.
    """
    sigma, quantum = soc_noise(s.soc)
    h = max(opts.soc_hysteresis_pu, opts.noise_k * sigma + quantum)
    q_raw = np.concatenate(([0.0], np.cumsum(s.i[:-1] * s.w) / 3600.0))

    def swings(soc, bad):
        piv = turning_points(soc, h)
        a, b = piv[:-1], piv[1:]
        dsoc, dq = soc[b] - soc[a], q_raw[b] - q_raw[a]
        cum = np.concatenate(([0], np.cumsum(bad)))
        use = (np.abs(dsoc) >= opts.min_swing_pu) & (np.abs(dq) > 0.0) & (cum[b] == cum[a])
        return piv, a[use], b[use], dsoc[use], dq[use]

    piv, a, b, dsoc, dq = swings(s.soc, s.gap)
    sign = 1.0
    if a.size and np.mean(np.sign(dq) == np.sign(dsoc)) < 0.5:
        flags.append("current_sign_inverted")
        sign = -1.0
    c1 = float(np.median(np.abs(dq / dsoc))) if a.size else math.nan
    expected = sign * s.i[:-1] * s.w / (3600.0 * c1) if np.isfinite(c1) else np.zeros(s.dt.size)
    soc = s.soc.copy()
    r = np.diff(soc) - expected
    jump = (np.abs(r) > opts.soc_jump_pu) & ~s.gap
    spike = np.flatnonzero(jump[:-1] & jump[1:] & (np.sign(r[:-1]) != np.sign(r[1:]))) + 1
    if spike.size:
        soc[spike] = np.clip(soc[spike - 1] + expected[spike - 1], 0.0, 1.0)
        flags.append("soc_spikes")
        jump = (np.abs(np.diff(soc) - expected) > opts.soc_jump_pu) & ~s.gap
    piv, a, b, dsoc, dq = swings(soc, s.gap | jump)
    cap = legs_capacity(soc, sign * q_raw, a, b) if a.size else np.zeros(0)
    ok = np.isfinite(cap) & (cap > 0)
    a, b, cap = a[ok], b[ok], cap[ok]
    if not cap.size:
        flags.append("no_full_swing")
    return Swings(capacity_ah=float(np.median(cap)) if cap.size else math.nan, cap=cap,
                   mid=0.5 * (s.t[a] + s.t[b]), sign=sign, q_ah=sign * q_raw, soc=soc, piv=piv, jump=jump,
                   n_spikes=int(spike.size), sigma=sigma, hysteresis=h)


@dataclass(frozen=True)
class ResistanceSteps:
    """Resistance per current step: ``r_mohm`` and the step times ``t_s`` (s), and the current
    step ``threshold_a`` (A) a step had to exceed."""

    r_mohm: np.ndarray
    t_s: np.ndarray
    threshold_a: float

    @property
    def median_mohm(self) -> float:
        return float(np.median(self.r_mohm)) if self.r_mohm.size else math.nan


def estimate_resistance(s: Samples, sw: Swings, opts: IngestOptions, flags: list) -> ResistanceSteps:
    """``R = dV/dI`` at current steps of the sign-corrected current, drift-corrected: when the current
    was steady over the interval before the step, that interval's voltage change (the OCV and
    polarisation drift) is subtracted first, ``R = (dV_k - dV_(k-1)) / dI_k``."""
    i = sw.sign * s.i
    di, dv = np.diff(i), np.diff(s.v)
    p99 = float(np.quantile(np.abs(i), 0.99)) if i.size else 0.0
    thr = opts.step_min_a if opts.step_min_a is not None else opts.step_fraction * p99
    step = (np.abs(di) >= thr) & (np.abs(di) > 0.0) & ~s.gap & np.isfinite(dv)
    prev_dv, prev_di, prev_gap = np.full(dv.shape, np.nan), np.full(di.shape, np.inf), np.ones(s.gap.shape, bool)
    prev_dv[1:], prev_di[1:], prev_gap[1:] = dv[:-1], di[:-1], s.gap[:-1]
    prev_ok = ~prev_gap & np.isfinite(prev_dv) & (np.abs(prev_di) <= 0.1 * np.abs(di))
    dv_corr = np.where(prev_ok, dv - np.where(prev_ok, prev_dv, 0.0), dv)
    r_steps = 1000.0 * dv_corr[step] / di[step]
    if r_steps.size and not np.isfinite(sw.capacity_ah) and np.median(r_steps) < 0:
        flags.append("current_sign_inverted")          # no swing to tell: the voltage response tells
        r_steps = -r_steps
    if not r_steps.size:
        flags.append("no_current_steps")
    return ResistanceSteps(r_mohm=r_steps, t_s=s.t[1:][step], threshold_a=float(thr))


@dataclass(frozen=True)
class CycleCount:
    """Equivalent full cycles: ``efc`` (k = 1), ``efc_woehler`` (Woehler-weighted) and ``cumulative``,
    the k = 1 count at every turning point."""

    efc: float
    efc_woehler: float
    cumulative: np.ndarray


def count_cycles(s: Samples, sw: Swings, woehler: Woehler, flags: list) -> CycleCount:
    """Equivalent full cycles from the coulomb count between the SOC's turning points.

    The SOC only says where the turning points are; the depth of each leg is the charge moved over
    it divided by the capacity, so SOC noise and spikes, which move no charge, add no cycles.
    Without a capacity, the SOC values themselves are counted (flag ``efc_from_soc``).
    """
    if np.isfinite(sw.capacity_ah) and sw.piv.size >= 2:
        x = sw.q_ah[sw.piv] / sw.capacity_ah
    else:
        x = sw.soc[sw.piv]
        if sw.piv.size >= 2:
            flags.append("efc_from_soc")
    cum = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(x))))) / 2.0       # k = 1: half the variation
    if x.size >= 2:
        rf = rainflow_cycles(x)
        efc_w = float(np.dot(rf["count"], np.minimum(rf["range"], 1.0) ** woehler.k))
    else:
        efc_w = 0.0
    return CycleCount(efc=float(cum[-1]), efc_woehler=efc_w, cumulative=cum)


@dataclass(frozen=True)
class SohHistory:
    """The SOH history: ``periods`` (one record ``{date, days, efc, soh, capacity_ah, r0_mohm,
    n_swings}`` per equal time span, as the passport stores it), the least-squares fade per year
    ``fade_pu_per_year`` and per 1000 EFC ``trend_pp_per_kefc`` (SOH percentage points)."""

    periods: list
    fade_pu_per_year: float
    trend_pp_per_kefc: float


def soh_history(s: Samples, sw: Swings, res: ResistanceSteps, cycles: CycleCount, nominal_ah: float,
                opts: IngestOptions, flags: list) -> SohHistory:
    """Capacity, SOH and R per equal time span; least-squares fade per year and per 1000 EFC."""
    r_steps, t_steps, cum_efc = res.r_mohm, res.t_s, cycles.cumulative
    t = s.t
    edges = np.linspace(t[0], t[-1], opts.n_periods + 1)
    per_leg = np.clip(np.searchsorted(edges, sw.mid, side="right") - 1, 0, opts.n_periods - 1)
    per_step = np.clip(np.searchsorted(edges, t_steps, side="right") - 1, 0, opts.n_periods - 1)
    history = []
    for p in range(opts.n_periods):
        sel = per_leg == p
        c = float(np.median(sw.cap[sel])) if sel.any() else math.nan
        date_s = float(np.mean(sw.mid[sel])) if sel.any() else 0.5 * (edges[p] + edges[p + 1])
        rs = r_steps[per_step == p]
        history.append({
            "date": _iso(date_s), "days": (date_s - t[0]) / 86400.0,
            "efc": float(np.interp(date_s, t[sw.piv], cum_efc)) if sw.piv.size else 0.0,
            "soh": c / nominal_ah if nominal_ah > 0 else math.nan,
            "capacity_ah": c, "r0_mohm": float(np.median(rs)) if rs.size else math.nan,
            "n_swings": int(sel.sum()),
        })
    if any(h["n_swings"] == 0 for h in history) and sw.cap.size:
        flags.append("period_without_swing")
    for h in history:                                  # refused as in plausible
        if h["soh"] > 1.0 + opts.soh_tolerance:
            h["soh"] = math.nan
    hs = np.array([[h["days"], h["efc"], h["soh"]] for h in history if np.isfinite(h["soh"])]).reshape(-1, 3)
    fade_per_year = (-float(np.polyfit(hs[:, 0] / 365.25, hs[:, 2], 1)[0])
                     if hs.shape[0] >= 2 and np.ptp(hs[:, 0]) > 0 else math.nan)
    trend = (-float(np.polyfit(hs[:, 1] / 1000.0, 100.0 * hs[:, 2], 1)[0])
             if hs.shape[0] >= 2 and np.ptp(hs[:, 1]) > 0 else math.nan)
    return SohHistory(periods=history, fade_pu_per_year=fade_per_year, trend_pp_per_kefc=trend)


def thermal_stress(s: Samples, opts: IngestOptions) -> dict:
    """Temperature statistics (temperature of sample k held over [t_k, t_k+1))."""
    temp, n = s.temp, s.t.size
    tk, wk = temp[:-1], s.w
    ok = np.isfinite(tk)
    hours_valid = float(np.sum(wk[ok]) / 3600.0)
    thermal = {
        "t_min_c": float(np.nanmin(temp)) if np.isfinite(temp).any() else math.nan,
        "t_mean_c": float(np.sum(tk[ok] * wk[ok]) / np.sum(wk[ok])) if hours_valid > 0 else math.nan,
        "t_max_c": float(np.nanmax(temp)) if np.isfinite(temp).any() else math.nan,
    }
    for th in opts.hot_thresholds_c:
        thermal[f"hours_above_{_fmt_c(th)}c"] = float(np.sum(wk[ok & (tk > th)]) / 3600.0) if n > 1 else 0.0
    thermal[f"hours_below_{_fmt_c(opts.cold_threshold_c)}c"] = (
        float(np.sum(wk[ok & (tk < opts.cold_threshold_c)]) / 3600.0) if n > 1 else 0.0)
    af = arrhenius_factor(tk[ok], opts.ea_j_per_mol, opts.t_ref_c) if ok.any() else np.zeros(0)
    equiv_h = float(np.sum(af * wk[ok]) / 3600.0)
    thermal["arrhenius_equiv_h"] = equiv_h
    thermal["arrhenius_mean_factor"] = equiv_h / hours_valid if hours_valid > 0 else math.nan
    return thermal


def data_quality(s: Samples, sw: Swings, flags: list) -> dict:
    """Data-quality counts (gaps, sensor dropouts and faults, SOC jumps and spikes, SOC noise) and
    their flags."""
    n_gaps = int(s.gap.sum())
    quality = {
        "n_gaps": n_gaps, "gap_h": float(np.sum(s.dt[s.gap]) / 3600.0),
        "max_gap_h": float(np.max(s.dt[s.gap]) / 3600.0) if n_gaps else 0.0,
        **s.counts, "soc_jumps": int(sw.jump.sum()), "soc_spikes": sw.n_spikes,
        "soc_noise_pu": sw.sigma, "soc_hysteresis_pu": sw.hysteresis,
    }
    for key, flag in (("n_gaps", "gaps"), ("voltage_missing", "voltage_dropouts"),
                      ("temperature_missing", "temperature_dropouts"),
                      ("voltage_out_of_range", "voltage_sensor_fault"),
                      ("temperature_out_of_range", "temperature_sensor_fault"), ("soc_jumps", "soc_jumps")):
        if quality[key]:
            flags.append(flag)
    if s.t.size < 2:
        flags.append("too_few_samples")
    return quality


def plausible(capacity_ah: float, nominal_ah: float, r_mohm: float, opts: IngestOptions, flags: list):
    """SOH and R0 a passport may state: an SOH above ``1 + soh_tolerance`` (the rated capacity is
    wrong, or the data) and an R0 <= 0 are refused (NaN) and flagged; SOH in (1, 1 + tolerance] is
    kept and flagged ``soh_above_rated``."""
    soh = capacity_ah / nominal_ah if nominal_ah > 0 else math.nan
    if soh > 1.0 + opts.soh_tolerance:                  # the SOH history is refused with it
        flags.append("soh_implausible")
        soh = math.nan
    elif soh > 1.0:
        flags.append("soh_above_rated")
    if r_mohm <= 0.0:
        flags.append("resistance_implausible")
        r_mohm = math.nan
    return soh, r_mohm


def estimate_battery(g: pd.DataFrame, nominal_ah: float, nominal_v: float, chemistry, opts: IngestOptions) -> dict:
    """All estimates of one battery (``g``: its rows of :func:`~slopt.fleet.history.read_history`),
    as one row of :func:`ingest_history`."""
    flags: list[str] = []
    s = prepare_samples(g, opts)
    t, n = s.t, s.t.size
    sw = estimate_capacity(s, opts, flags)
    res = estimate_resistance(s, sw, opts, flags)
    r_raw = res.median_mohm
    woehler = _woehler_for(chemistry, opts)
    cyc = count_cycles(s, sw, woehler, flags)
    hist = soh_history(s, sw, res, cyc, nominal_ah, opts, flags)
    thermal = thermal_stress(s, opts)
    quality = data_quality(s, sw, flags)
    soh, r_mohm = plausible(sw.capacity_ah, nominal_ah, r_raw, opts, flags)
    i = sw.sign * s.i
    return {
        "start": pd.Timestamp(_iso(t[0])), "end": pd.Timestamp(_iso(t[-1])), "n_samples": n,
        "duration_h": float((t[-1] - t[0]) / 3600.0), "sample_s": s.sample_s,
        "capacity_ah": sw.capacity_ah, "capacity_kwh": sw.capacity_ah * nominal_v / 1000.0,
        "soh": soh, "soh_measured": sw.capacity_ah / nominal_ah if nominal_ah > 0 else math.nan,
        "n_swings": int(sw.cap.size),
        "capacity_iqr_ah": float(np.subtract(*np.quantile(sw.cap, [0.75, 0.25]))) if sw.cap.size else math.nan,
        "r0_mohm": r_mohm, "r0_measured_mohm": r_raw,
        "r0_iqr_mohm": (float(np.subtract(*np.quantile(res.r_mohm, [0.75, 0.25]))) if res.r_mohm.size
                        else math.nan),
        "n_steps": int(res.r_mohm.size), "step_min_a": res.threshold_a,
        "efc": cyc.efc, "efc_woehler": cyc.efc_woehler, "woehler_k": woehler.k, "woehler_n100": woehler.n100_cycles,
        "throughput_ah": float(np.sum(np.abs(i[:-1]) * s.w) / 3600.0),
        "energy_throughput_kwh": float(np.nansum(np.abs(i[:-1] * s.v[:-1]) * s.w) / 3.6e6),
        **thermal,
        "soh_fade_pu_per_year": hist.fade_pu_per_year,
        "degradation_trend": hist.trend_pp_per_kefc,
        "soh_history": hist.periods,
        **quality,
        "quality_flags": flags,
    }


def _fmt_c(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x).replace(".", "p").replace("-", "m")


def _iso(t_s: float) -> str:
    """ISO 8601 UTC time, to the second."""
    return pd.Timestamp(int(round(t_s)), unit="s", tz="UTC").isoformat()


def ingest_history(source, nominal_ah=None, *, nominal_v=None, fleet: pd.DataFrame | None = None,
                   options: IngestOptions | None = None) -> pd.DataFrame:
    """Estimate capacity, SOH, resistance, cycles and thermal stress per battery of a BMS history.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        The history, see :func:`read_history` (or an already-read history from it).
    nominal_ah : float, mapping or pandas.Series, optional
        Rated capacity (Ah): one value for all batteries, or per ``battery_id``. Falls back to
        a ``nominal_ah`` column of the history, then to ``fleet`` (``nominal_kwh`` over the
        nominal voltage). Without it SOH is NaN and the flag ``nominal_unknown`` is set.
    nominal_v : float, mapping or pandas.Series, optional
        Nominal voltage (V), used for kWh values. Falls back to a ``nominal_v`` column of the
        history or of ``fleet``, then to the median measured voltage (flag
        ``nominal_v_estimated``).
    fleet : pandas.DataFrame, optional
        A fleet table with ``battery_id`` and any of ``chemistry``, ``nominal_kwh``,
        ``nominal_v``.
    options : IngestOptions, optional
        Estimator settings.

    Returns
    -------
    pandas.DataFrame
        One row per battery, in order of first appearance, with ``battery_id``, ``chemistry``,
        ``nominal_ah``, ``nominal_v``, ``nominal_kwh``, the estimates (``capacity_ah``,
        ``capacity_kwh``, ``soh``, ``n_swings``, ``r0_mohm``, ``n_steps``, ``efc``,
        ``efc_woehler``, ``throughput_ah``, ``t_min_c``, ``t_mean_c``, ``t_max_c``,
        ``hours_above_35c``, ``hours_above_45c``, ``hours_below_0c``, ``arrhenius_equiv_h``,
        ``arrhenius_mean_factor``, ``soh_fade_pu_per_year``, ``degradation_trend`` — the SOH
        fade in percentage points per 1000 equivalent full cycles, the unit of the fleet
        table), ``soh_history`` (a list of ``{date, days, efc, soh, capacity_ah, r0_mohm,
        n_swings}`` per period, ``efc`` counted from the start of the history), data-quality
        counts and ``quality_flags`` (a list of strings). NaN marks a value the data cannot
        give.

    Raises
    ------
    InstanceError
        For an invalid history (see :func:`read_history`).
    """
    opts = options or IngestOptions()
    hist = source if is_read_history(source) else read_history(source)
    fl = None
    if fleet is not None:
        if "battery_id" not in fleet.columns:
            raise InstanceError.at("fleet table", "columns", ",".join(map(str, fleet.columns)),
                                   "missing column 'battery_id'")
        fl = fleet.assign(battery_id=fleet["battery_id"].astype(str)).drop_duplicates("battery_id").set_index("battery_id")
    rows = []
    dup, reordered = hist.attrs.get("duplicate_rows", {}), set(hist.attrs.get("reordered", ()))
    for bid, g in hist.groupby("battery_id", sort=False):
        flags = ["rows_reordered"] if bid in reordered else []
        if dup.get(bid):
            flags.append("duplicate_rows")
        chem, vnom, qnom = _rated(g, bid, nominal_ah, nominal_v, fl, flags)
        est = estimate_battery(g, qnom if np.isfinite(qnom) else 0.0, vnom, chem, opts)
        est["quality_flags"] = flags + est["quality_flags"]
        est["duplicate_rows"] = int(dup.get(bid, 0))
        rows.append({"battery_id": bid, "chemistry": chem, "nominal_ah": qnom, "nominal_v": vnom,
                     "nominal_kwh": qnom * vnom / 1000.0, **est})
    return pd.DataFrame(rows)


def _rated(g: pd.DataFrame, bid: str, nominal_ah, nominal_v, fl, flags: list):
    """Chemistry, nominal voltage and rated capacity of one battery: the arguments, else the
    history's columns, else the fleet table, else (voltage only) the median measured voltage."""
    chem = _first(g, "chemistry")
    if chem is None and fl is not None and "chemistry" in fl.columns and bid in fl.index:
        chem = fl.at[bid, "chemistry"] if pd.notna(fl.at[bid, "chemistry"]) else None
    vnom = _lookup(nominal_v, bid)
    if not np.isfinite(vnom):
        vnom = _first_float(g, "nominal_v")
    if not np.isfinite(vnom) and fl is not None and "nominal_v" in fl.columns:
        vnom = _lookup(fl["nominal_v"], bid)
    if not np.isfinite(vnom):
        vnom = float(np.nanmedian(g["voltage_v"])) if g["voltage_v"].notna().any() else math.nan
        flags.append("nominal_v_estimated")
    qnom = _lookup(nominal_ah, bid)
    if not np.isfinite(qnom):
        qnom = _first_float(g, "nominal_ah")
    if not np.isfinite(qnom) and fl is not None and "nominal_kwh" in fl.columns and np.isfinite(vnom):
        qnom = _lookup(fl["nominal_kwh"], bid) * 1000.0 / vnom
    if not np.isfinite(qnom):
        flags.append("nominal_unknown")
    return chem, vnom, qnom


def plausibility_warnings(summary: pd.DataFrame) -> list[str]:
    """One line per refused or doubtful estimate of :func:`ingest_history`, for the user."""
    out = []
    for _, r in summary.iterrows():
        flags, bid = r.get("quality_flags") or [], r["battery_id"]
        if "soh_implausible" in flags:
            out.append(f"{bid}: measured SOH {r['soh_measured']:.3f} is above the rated capacity "
                       f"{r['nominal_ah']:g} Ah by more than the tolerance: SOH refused (is the rated capacity right?)")
        elif "soh_above_rated" in flags:
            out.append(f"{bid}: SOH {r['soh']:.3f} is above 1 (within the tolerance; entered as 1.0 in a fleet table)")
        if "resistance_implausible" in flags:
            out.append(f"{bid}: measured R0 {r['r0_measured_mohm']:.1f} mOhm is not positive: R0 refused")
    return out


def _first(g: pd.DataFrame, col: str):
    if col not in g.columns:
        return None
    s = g[col].dropna()
    return None if s.empty else s.iloc[0]


def _first_float(g: pd.DataFrame, col: str) -> float:
    v = _first(g, col)
    return math.nan if v is None else float(v)
