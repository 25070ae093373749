"""Capacity fade, resistance growth and the knee of every (battery, application) pair over the years.

Both fades are power laws of BLAST-Lite's kind advanced by the equivalent-time rule: a fade
``q = z^p`` whose state ``z`` grows at the current rate (calendar per day, cycling per EFC of
nominal-Ah throughput), so a time-varying cell temperature and a first-life starting state are
both handled. The loop runs over time steps on flat, contiguous per-pair arrays held in an
:class:`AgeingState`; pairs that reach a limit are frozen and dropped. Symbols in ``docs/twin.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from slopt.battery.chemistry import R_J_PER_MOL_K, T_REF_K, ZERO_C_K
from slopt.battery.twin.inputs import Block
from slopt.battery.twin.options import DAYS_PER_YEAR, END_REASONS, TwinOptions

__all__ = ["AgeingState", "KneeState", "Ends", "initial_state", "knee_state", "fade_step", "age", "knee_time"]


@dataclass
class AgeingState:
    """Flat per-pair state of the ageing loop (battery-major order of the block's pairs).

    Attributes
    ----------
    pair : int array
        Index of the pair in the block (``battery * n_app + application``).
    soh, r_factor : arrays
        State of health and resistance factor ``1 + growth``.
    z_cal, p_cal, q_cal, z_cyc, p_cyc, q_cyc : arrays
        Equivalent-time states, exponents and fades of the calendar and cycling laws.
    rho_cal, rho_cyc : arrays
        Resistance growth per unit of calendar and cycling fade.
    efc, efc_knee, efc_rate : arrays
        Nominal-Ah throughput so far (EFC), the throughput at the knee, and EFC per day per unit SOH.
    lim_soh, lim_r_factor : arrays
        Limits that end service (``-inf``/``inf`` once a pair is done).
    k_cal, k_cyc : arrays
        Rates per day: at the fixed cell temperature (no self-heating; ``k_cyc`` then set), or the
        Arrhenius pre-factors of the calendar law (with self-heating).
    ea_cal_k, k_sei, ea_sei_k, k_plating, ea_plating_k, t_amb_k, rise_per_r : arrays or None
        With self-heating only: activation temperatures (K) and pre-factors of the calendar and the
        two cycling branches (``None``: a branch no pair of the block uses), the ambient (K) and the
        mean rise per unit ``SOH^2 * r_factor``.
    kappa, rho_knee : arrays or None
        Post-knee fade and its resistance growth (``None`` when service ends at the knee).
    """

    pair: np.ndarray
    soh: np.ndarray
    r_factor: np.ndarray
    z_cal: np.ndarray
    p_cal: np.ndarray
    q_cal: np.ndarray
    z_cyc: np.ndarray
    p_cyc: np.ndarray
    q_cyc: np.ndarray
    rho_cal: np.ndarray
    rho_cyc: np.ndarray
    efc: np.ndarray
    efc_knee: np.ndarray
    efc_rate: np.ndarray
    lim_soh: np.ndarray
    lim_r_factor: np.ndarray
    k_cal: np.ndarray
    k_cyc: np.ndarray | None = None
    ea_cal_k: np.ndarray | None = None
    k_sei: np.ndarray | None = None
    ea_sei_k: np.ndarray | None = None
    k_plating: np.ndarray | None = None
    ea_plating_k: np.ndarray | None = None
    t_amb_k: np.ndarray | None = None
    rise_per_r: np.ndarray | None = None
    kappa: np.ndarray | None = None
    rho_knee: np.ndarray | None = None

    @property
    def self_heating(self) -> bool:
        return self.t_amb_k is not None

    @property
    def live(self) -> np.ndarray:
        """Pairs still in service (no limit reached)."""
        return self.lim_soh > -np.inf

    def compact(self, keep: np.ndarray) -> "AgeingState":
        """Drop finished pairs from the loop arrays."""
        return AgeingState(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[keep])
                              for f in fields(self)})

    def freeze(self, ii: np.ndarray) -> None:
        """Stop the ageing of finished pairs (their SOH stays at the end-of-service value)."""
        for name in ("k_cal", "k_cyc", "k_sei", "k_plating", "kappa", "efc_rate"):
            arr = getattr(self, name)
            if arr is not None:
                arr[ii] = 0.0


@dataclass(frozen=True)
class KneeState:
    """Knee of every pair (b, a): knee throughput at the application's duty ``n_app`` (EFC), first-life
    share of the knee life used ``f0``, throughput left to the knee ``efc_knee``, throughput per day
    per unit SOH ``efc_rate`` and post-knee fade ``kappa`` (per battery)."""

    n_app: np.ndarray
    f0: np.ndarray
    efc_knee: np.ndarray
    efc_rate: np.ndarray
    kappa: np.ndarray


def _phi(ch, dod, c_mean):
    """Cycling stress per block (see :meth:`slopt.battery.chemistry.Chemistry.phi`)."""
    share = ch("dod_share")
    return 1.0 - share + share * np.exp(ch("dod_beta") * (dod ** ch("dod_exp") - 1.0)) + ch("rate_coef") * c_mean


def _knee_throughput(k: Block, temp_c, dod, soc_mean):
    """Nominal-Ah throughput (EFC) to the knee at a duty, per battery (accelerated agers x0.6)."""
    cold = np.maximum(k.chem("knee_hot_c") - temp_c, 0.0)
    frac = np.maximum(1.0 - k.chem("knee_cold_slope") * cold * dod * soc_mean / 0.5, k.chem("knee_floor"))
    return k.chem("knee_efc") * frac * np.where(k.bat("accel") > 0, k.chem("accel_knee_factor"), 1.0)


def knee_state(k: Block, t_cell0, m_b) -> KneeState:
    """Knee of every pair (b, a), by linear damage accumulation (Miner's rule).

    The knee throughput of a duty is ``N = knee_efc * max(1 - knee_cold_slope * max(knee_hot_c -
    T, 0) * D * soc_mean/0.5, knee_floor)`` EFC. First life used the fraction ``f0 = cycle_count /
    N_ref`` of the knee life at the reference duty (25 degC, DoD 0.8, mean SOC 0.5); second life
    reaches the knee after ``(1 - f0) * N_app`` more EFC, counted as ``cycles * D * SOH * (1 +
    knee_crate_gamma * max(c - crate_ref, 0)) * m_b`` per year.
    """
    c_rate, dod, cycles = k.app("c_rate"), k.app("dod"), k.app("cycles")
    n_app = _knee_throughput(k, t_cell0, dod, k.day("soc_mean"))
    f0 = k.bat("cycles") / _knee_throughput(k, 25.0, 0.8, 0.5)
    stress = 1.0 + k.chem("knee_crate_gamma") * np.maximum(c_rate - k.chem("crate_ref"), 0.0)
    return KneeState(n_app=n_app * np.ones(k.shape), f0=f0 * np.ones(k.shape),
                     efc_knee=np.maximum(1.0 - f0, 0.0) * n_app,
                     efc_rate=cycles * dod * stress * m_b / DAYS_PER_YEAR,            # EFC per day per unit SOH
                     kappa=k.chem("knee_kappa") * np.where(k.bat("accel") > 0, k.chem("accel_kappa_factor"), 1.0))


def _rates(k: Block, m_b, opt: TwinOptions):
    """Calendar and cycling rates of the block in z-space, and the first-life starting states."""
    ch = k.chem
    cyc0 = k.bat("cycles")
    c_rate, dod, cycles = k.app("c_rate"), k.app("dod"), k.app("cycles")
    inv_r = 1.0 / R_J_PER_MOL_K
    p_cal, p_cyc = ch("p_cal"), ch("p_cyc")
    # calendar: SOC stress at T is f_soc^(T_ref/T), folded into the activation energy
    f_soc = k.day("soc_f")
    ea_cal = (ch("ea_cal_j_per_mol") * inv_r - T_REF_K * np.log(f_soc)) / p_cal       # K, z-space
    kz_cal = (ch("k_cal") * f_soc) ** (1.0 / p_cal)
    # cycling, per day at SOH 1 and 25 degC
    f_c = 1.0 + ch("crate_beta") * np.maximum(c_rate - ch("crate_ref"), 0.0)
    kz_cyc = ch("k_cyc") * _phi(ch, dod, k.day("c_mean")) * f_c * m_b ** (1.0 / p_cyc) * (cycles * dod / DAYS_PER_YEAR)
    # first-life states: calendar age at 25 degC and SOC 0.5, cycles at the reference duty
    z_cal0 = ch("k_cal") ** (1.0 / p_cal) * cyc0 / opt.first_life_efc_per_year * DAYS_PER_YEAR
    z_cyc0 = ch("k_cyc") * _phi(ch, 0.8, 1.6 / 24.0) * m_b ** (1.0 / p_cyc) * cyc0
    return ea_cal, kz_cal, kz_cyc, z_cal0, z_cyc0


def initial_state(k: Block, mean_rise0, opt: TwinOptions):
    """Flat per-pair state of the ageing loop (battery-major), the unfit mask and the knee.

    Both fades are power laws advanced by the equivalent-time rule, ``q = z^p`` with ``z`` growing
    at ``k^(1/p)`` (calendar, per day) or ``k_cyc * phi * g(T) * f_C`` (cycling, per EFC of
    nominal-Ah throughput); ``z`` starts from the first-life state (``cycle_count`` at the
    reference duty, age ``cycle_count / first_life_efc_per_year``). ``mean_rise0`` is the yearly
    mean temperature rise at the start of service (b, a).
    """
    shape, ch = k.shape, k.chem
    soh0, g0 = k.bat("soh"), k.bat("g0")
    t_amb = k.app("t_amb")
    heat = opt.self_heating
    m_b = np.clip(k.bat("trend") / ch("trend_ref_pp_per_kefc"), 0.2, 5.0) if opt.use_trend else np.ones_like(soh0)
    t_cell0 = t_amb + (mean_rise0 if heat else 0.0)
    ea_cal, kz_cal, kz_cyc, z_cal0, z_cyc0 = _rates(k, m_b, opt)
    unfit = (soh0 < k.app("min_soh")) | (g0 > k.app("max_g"))
    flat = lambda x: np.array(np.broadcast_to(x, shape), dtype=float).ravel()  # a writable copy
    knee = knee_state(k, t_cell0, m_b)
    z_cal, z_cyc, p_cal, p_cyc = flat(z_cal0), flat(z_cyc0), flat(ch("p_cal")), flat(ch("p_cyc"))
    st = AgeingState(
        pair=np.arange(shape[0] * shape[1]), soh=flat(soh0), r_factor=flat(1.0 + g0),
        z_cal=z_cal, p_cal=p_cal, q_cal=z_cal ** p_cal, z_cyc=z_cyc, p_cyc=p_cyc, q_cyc=z_cyc ** p_cyc,
        rho_cal=flat(ch("rho_cal")), rho_cyc=flat(ch("rho_cyc")), efc=flat(0.0),
        efc_knee=flat(knee.efc_knee), efc_rate=flat(knee.efc_rate),
        lim_soh=flat(np.where(unfit, -np.inf, k.app("min_soh"))),
        lim_r_factor=flat(np.where(unfit, np.inf, 1.0 + k.app("max_g"))),
        k_cal=flat(0.0))
    _temperature_rates(st, k, ea_cal, kz_cal, kz_cyc, t_amb, mean_rise0, heat, flat)
    if not opt.retire_at_knee:                                 # post-knee fade kappa * (E - N)^2
        st.kappa, st.rho_knee = flat(knee.kappa), flat(ch("rho_knee"))
    return st, unfit, knee


def _temperature_rates(st: AgeingState, k: Block, ea_cal, kz_cal, kz_cyc, t_amb, mean_rise0, heat: bool, flat):
    """Rates at the fixed ambient, or the Arrhenius pre-factors evaluated every step with self-heating."""
    ch = k.chem
    tr = 1.0 / T_REF_K
    inv_r = 1.0 / R_J_PER_MOL_K
    w = ch("plating_share")
    ea_hi, ea_pl = ch("ea_cyc_j_per_mol") * inv_r, ch("ea_plating_j_per_mol") * inv_r
    if heat:                                                   # Arrhenius factors evaluated every step
        st.k_cal, st.ea_cal_k = flat(kz_cal * np.exp(ea_cal * tr)), flat(ea_cal)
        st.k_sei, st.ea_sei_k = flat(kz_cyc * (1.0 - w) * np.exp(ea_hi * tr)), flat(ea_hi)
        st.k_plating, st.ea_plating_k = flat(kz_cyc * w * np.exp(-ea_pl * tr)), flat(ea_pl)
        st.t_amb_k = flat(t_amb + ZERO_C_K)
        st.rise_per_r = flat(mean_rise0 / ((1.0 + k.bat("g0")) * k.bat("soh") ** 2))
        if not st.k_sei.any():                                 # a branch no pair of the block uses
            st.k_sei = st.ea_sei_k = None
        if not st.k_plating.any():
            st.k_plating = st.ea_plating_k = None
    else:                                                      # constant cell temperature: once
        x = 1.0 / (t_amb + ZERO_C_K) - tr
        g = (1.0 - w) * np.exp(-ea_hi * x) + w * np.exp(ea_pl * x)
        st.k_cal, st.k_cyc = flat(kz_cal * np.exp(-ea_cal * x)), flat(kz_cyc * g)


def fade_step(st: AgeingState, dt_d: float):
    """Advance the state by one step of ``dt_d`` days; return the SOH and growth changes and ``dE``."""
    soh = st.soh
    if st.self_heating:                                        # cell temperature from the self-heating
        inv_t = soh * soh
        inv_t *= st.r_factor
        inv_t *= st.rise_per_r
        inv_t += st.t_amb_k
        np.reciprocal(inv_t, out=inv_t)
        kc = np.exp(-st.ea_cal_k * inv_t)
        kc *= st.k_cal
        ky = np.zeros_like(soh)
        if st.k_sei is not None:                               # SEI branch of g(T)
            ky += st.k_sei * np.exp(-st.ea_sei_k * inv_t)
        if st.k_plating is not None:                           # lithium-plating branch of g(T)
            ky += st.k_plating * np.exp(st.ea_plating_k * inv_t)
    else:
        kc, ky = st.k_cal, st.k_cyc
    kc = kc * dt_d
    st.z_cal += kc
    dqc = np.power(st.z_cal, st.p_cal)
    dqc, st.q_cal = dqc - st.q_cal, dqc
    ky = ky * soh
    ky *= dt_d
    st.z_cyc += ky
    dqy = np.power(st.z_cyc, st.p_cyc)
    dqy, st.q_cyc = dqy - st.q_cyc, dqy
    dq = dqc + dqy
    dg = st.rho_cal * dqc
    dg += st.rho_cyc * dqy
    de = soh - 0.5 * dq                                         # nominal-Ah throughput (EFC) of the step,
    de *= st.efc_rate                                           # at the mean SOH over the step
    de *= dt_d
    e0 = st.efc
    e1 = e0 + de
    if st.kappa is not None:                                    # post-knee fade kappa * (E - N)^2
        x0, x1 = np.maximum(e0 - st.efc_knee, 0.0), np.maximum(e1 - st.efc_knee, 0.0)
        dqk = st.kappa * (x1 * x1 - x0 * x0)
        dq += dqk
        dg += st.rho_knee * dqk
    soh -= dq
    st.r_factor += dg
    st.efc = e1
    return dq, dg, de


@dataclass
class Ends:
    """Per pair (flat): end of planned service (life, reason, SOH, growth, throughput and its
    rate there) and the knee (time, SOH and growth there)."""

    life: np.ndarray
    reason: np.ndarray
    soh_end: np.ndarray
    g_end: np.ndarray
    e_end: np.ndarray
    e_rate: np.ndarray
    t_knee: np.ndarray
    soh_knee: np.ndarray
    g_knee: np.ndarray


def _record_knees(st: AgeingState, ends: Ends, dq, dg, de, t0: float, t1: float) -> None:
    """Pairs whose throughput reached the knee in the step: interpolate time, SOH and growth."""
    e1 = st.efc
    ii = np.flatnonzero((e1 >= st.efc_knee) & (e1 - de < st.efc_knee))
    if ii.size:
        w = (st.efc_knee[ii] - (e1[ii] - de[ii])) / de[ii]
        pid = st.pair[ii]
        sp, gp = st.soh[ii] + dq[ii], st.r_factor[ii] - dg[ii]
        ends.t_knee[pid] = t0 + w * (t1 - t0)
        ends.soh_knee[pid] = sp - w * dq[ii]
        ends.g_knee[pid] = gp + w * dg[ii] - 1.0


def _record_hits(st: AgeingState, ends: Ends, dq, dg, de, t0: float, t1: float) -> bool:
    """Pairs that crossed a limit in the step: interpolate the crossing, freeze them."""
    soh, g1 = st.soh, st.r_factor
    hit = soh < st.lim_soh
    hit |= g1 > st.lim_r_factor
    if not hit.any():
        return False
    ii = np.flatnonzero(hit)
    sn, gn = soh[ii], g1[ii]
    sp, gp = sn + dq[ii], gn - dg[ii]                          # state before the step
    ls, lg = st.lim_soh[ii], st.lim_r_factor[ii]
    with np.errstate(divide="ignore", invalid="ignore"):
        fs = np.where(sn < ls, (sp - ls) / (sp - sn), np.inf)
        fg = np.where(gn > lg, (lg - gp) / (gn - gp), np.inf)
    frac = np.clip(np.minimum(fs, fg), 0.0, 1.0)
    pid = st.pair[ii]
    ends.life[pid] = t0 + frac * (t1 - t0)
    ends.reason[pid] = np.where(fs <= fg, END_REASONS.index("soh"), END_REASONS.index("resistance"))
    ends.soh_end[pid] = sp + frac * (sn - sp)
    ends.g_end[pid] = gp + frac * (gn - gp) - 1.0
    ends.e_end[pid] = st.efc[ii] - (1.0 - frac) * de[ii]
    ends.e_rate[pid] = st.efc_rate[ii] * ends.soh_end[pid] * DAYS_PER_YEAR
    st.lim_soh[ii] = -np.inf                                    # done: never triggers again,
    st.lim_r_factor[ii] = np.inf
    st.freeze(ii)                                               # and ages no further
    return True


def age(st: AgeingState, years: float, t_years: np.ndarray, opt: TwinOptions, path) -> Ends:
    """The ageing loop over steps on flat, contiguous per-pair arrays; finished pairs drop out.

    ``path`` (pairs x steps + 1) receives the SOH after every step when given.
    """
    P = st.pair.size
    unfit = st.lim_soh == -np.inf
    nan = np.full(P, np.nan)
    ends = Ends(life=np.where(unfit, 0.0, years), soh_end=st.soh.copy(), g_end=st.r_factor - 1.0,
                reason=np.where(unfit, END_REASONS.index("unfit"), END_REASONS.index("horizon")).astype(np.int8),
                e_end=st.efc.copy(), e_rate=st.efc_rate * st.soh * DAYS_PER_YEAR,
                t_knee=nan.copy(), soh_knee=nan.copy(), g_knee=nan.copy())
    if path is not None:
        path[:, 0] = st.soh
    st.freeze(np.flatnonzero(unfit))                            # unfit pairs do not age
    if path is None and unfit.any():
        st = st.compact(~unfit)
    for n in range(1, t_years.size):
        t0, t1 = t_years[n - 1], t_years[n]
        if t1 <= t0 or st.pair.size == 0:
            continue
        dq, dg, de = fade_step(st, (t1 - t0) * DAYS_PER_YEAR)
        if path is not None:
            path[st.pair, n] = st.soh
        _record_knees(st, ends, dq, dg, de, t0, t1)
        if _record_hits(st, ends, dq, dg, de, t0, t1) and path is None and n % opt.steps_per_year == 0:
            st = st.compact(st.live)
    live = st.live
    pid = st.pair[live]
    ends.soh_end[pid] = st.soh[live]
    ends.g_end[pid] = st.r_factor[live] - 1.0
    ends.e_end[pid] = st.efc[live]
    ends.e_rate[pid] = st.efc_rate[live] * ends.soh_end[pid] * DAYS_PER_YEAR
    return ends


def knee_time(ends: Ends, n_knee: np.ndarray) -> np.ndarray:
    """Knee time: as found in the loop, else extrapolated at the throughput rate of the end of
    service (``inf`` without cycling); 0 when past the knee at the start.

    ``n_knee`` is the throughput left to the knee at the start of service (flat, per pair).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(ends.e_rate > 0, (n_knee - ends.e_end) / ends.e_rate, np.inf)
    return np.where(np.isnan(ends.t_knee), ends.life + np.maximum(extra, 0.0), ends.t_knee)
