"""Per-battery digital twin: every battery of a fleet in every application's duty cycle, for years.

What it computes (DESIGN §10, seed 003 §3C): for each battery ``b`` and application ``a``, the
expected second life in years, the round-trip efficiency, the peak cell temperature, whether
the safety margin is breached (and a probability of it), the SOH and resistance growth at the
end, and the time to the ageing knee. Arrays are shaped ``(n_battery, n_app)``;
:meth:`TwinResult.as_frame` gives the long table.

The model, per battery (module level; symbols as in ``docs/twin.md``):

1. **1RC Thevenin circuit.** ``V = OCV(SOC) + I*R0 + v1``, ``C1 dv1/dt = I - v1/R1`` (``I > 0``
   charges); R0 is the fleet's measured ``r0_mohm``, R1 and ``tau1 = R1*C1`` are per chemistry
   (R1 aged like R0). The current is
   ``I = c(t) * SOH * Ah_nom`` for the application's C-rate series ``c(t)``
   (:func:`slopt.fleet.applications.representative_day`). :func:`rc_voltage` integrates it
   exactly for piecewise-constant current.
2. **Lumped thermal model** ``m*cp*dT/dt = Q - hA*(T - T_amb)`` with the Joule and polarisation
   heat ``Q = I^2*R0 + I*v1`` (:func:`thermal_response`, exact per step). The periodic steady
   state of the representative day gives the peak temperature rise and the mean rise; the
   losses of the same day give the round-trip efficiency.
3. **Capacity fade** ``SOH = SOH0 - dq_cal - dq_cyc (- dq_knee)``:

   - calendar ``q_cal = k_cal * f_soc * exp(-Ea_cal/R (1/T - 1/T_ref)) * sqrt(t)``, advanced with
     the equivalent-time rule ``q <- sqrt(q^2 + k(T)^2 dt)`` from the battery's first-life
     calendar state, so a time-varying cell temperature is handled;
   - cycling ``dq_cyc = (q_eol/N100) * D^(k-1) * f_C * m_b * exp(-Ea_cyc/R (...)) * SOH * dEFC``:
     the Woehler law ``N(D) = N100 * D^-k`` of :mod:`slopt.battery.aging` per nominal-Ah
     equivalent full cycle, a C-rate factor ``f_C``, and the battery's own measured trend
     ``m_b = degradation_trend / trend_ref``;
   - the **knee**: Woehler-weighted cycles (first-life ``cycle_count`` included) reach a knee
     life that is shorter at high C-rate and in the cold (lithium plating, seed 000 §3.3, §4.2.1,
     §4.3.1) and for accelerated agers. Seed 000 §2 treats entering the accelerated phase as the
     end of second life, so by default service ends there; with ``retire_at_knee=False`` the
     post-knee fade ``kappa*(E - E_knee)^2`` is simulated instead.
4. **Resistance growth** ``dg = rho_cal*dq_cal + rho_cyc*dq_cyc + rho_knee*dq_knee``. Growth
   raises R0 and R1 together, hence the heat, the temperature (fed back into the Arrhenius
   rates at each step) and the losses.

Time runs in steps of ``1/steps_per_year`` years, vectorised over (batteries x applications);
the day-scale physics enters through per-(chemistry, application) constants computed once from
the representative day, scaled exactly by each battery's R0, SOH and growth (heat is linear in R
at fixed current). Crossings of the SOH and resistance limits are interpolated within a step.

Why hand-written, not BLAST-Lite or PyBaMM: the twin is the product. It must evaluate
100,000 batteries x 8 applications x 10 years in seconds (``benchmarks/twin.py``), take a
second-life battery's measured state (SOH, R0, resistance growth, cycle count, trend) as its
starting point, couple resistance growth to heat and efficiency, and model the knee and its
uncertainty. BLAST-Lite simulates one fresh cell at a time in Python loops (about 0.2-0.5 s per
cell-case) and has no circuit or thermal model; it is the reference instead. The default
ageing parameters are calibrated so that fresh cells match BLAST-Lite's
``Lfp_Gr_250AhPrismatic`` and ``Nmc111_Gr_Kokam75Ah_Battery`` within 0.03 of capacity after
10 years at 80 % DoD/25 degC and 30 % DoD/35 degC (:func:`calibration_table`,
``tests/battery/test_twin.py``).

This module imports nothing from the layers above ``battery``: it takes any fleet object with a
``table`` DataFrame (``slopt.fleet.Fleet``) or the DataFrame itself, and application objects
with the fields of :class:`slopt.fleet.applications.Application` and its two methods
``representative_day(resolution_min) -> (c_rate, activity)`` and
``soc_trajectory(c_rate, resolution_min) -> soc``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.aging import R_J_PER_MOL_K

__all__ = [
    "ChemistryParams", "DEFAULT_CHEMISTRY", "TwinOptions", "TwinResult", "simulate_twin",
    "rc_voltage", "thermal_response", "anode_potential_v", "soc_stress", "END_REASONS",
    "CALIBRATION_CASES", "blast_reference", "calibration_table",
]

_ZERO_C_K = 273.15
_T_REF_K = 298.15
DAYS_PER_YEAR = 365.0

END_REASONS = ("horizon", "soh", "resistance", "knee", "unfit")
"""Codes of :attr:`TwinResult.end_reason`: service lasted the horizon; SOH fell below the
application's minimum; resistance growth exceeded its maximum; the ageing knee was reached;
the battery was below a limit (or past its knee) at the start."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ChemistryParams:
    """Per-chemistry parameters of the twin (module level). Sources in ``docs/twin.md``.

    Electrical: ``v_nom`` module nominal voltage (V); ``ocv_soc``/``ocv_v`` module OCV table;
    ``r1_mohm``, ``tau1_s`` the RC branch (``C1 = tau1/R1``); ``r_new_mohm`` a new module's R0.
    Thermal: ``wh_per_kg`` module specific energy, ``cp_j_per_kg_k``, ``ha_w_per_k_per_kwh`` heat
    transfer per kWh of module, ``t_limit_c`` maximum cell temperature.
    Calendar: ``k_cal`` fade per sqrt(day) at 25 degC and SOC 0.5; ``ea_cal_j_per_mol``;
    ``soc_sens_per_v`` sensitivity to the graphite potential (see :func:`soc_stress`).
    Cycling: ``n100_cycles`` and ``woehler_k`` (``N(D) = N100*D^-k`` cycles to a fade of
    ``q_eol``); ``ea_cyc_j_per_mol``; ``crate_ref``/``crate_beta`` for ``f_C = 1 + beta*max(c -
    c_ref, 0)``. Knee: ``knee_efc`` Woehler-weighted cycles to the knee, lognormal spread
    ``knee_sigma``, ``knee_kappa`` post-knee fade (pu per cycle^2), ``knee_crate_gamma`` and
    ``knee_cold_gamma`` (per K below ``knee_cold_c``) shortening it, ``accel_knee_factor`` and
    ``accel_kappa_factor`` for accelerated agers. Resistance: ``rho_cal``, ``rho_cyc``,
    ``rho_knee`` growth per unit of fade.
    """

    name: str
    v_nom: float
    ocv_soc: tuple
    ocv_v: tuple
    r1_mohm: float
    tau1_s: float
    r_new_mohm: float
    wh_per_kg: float
    cp_j_per_kg_k: float
    ha_w_per_k_per_kwh: float
    t_limit_c: float
    k_cal: float
    ea_cal_j_per_mol: float
    soc_sens_per_v: float
    n100_cycles: float
    woehler_k: float
    ea_cyc_j_per_mol: float
    crate_beta: float
    knee_efc: float
    knee_kappa: float
    rho_cal: float
    rho_cyc: float
    rho_knee: float = 5.0
    q_eol: float = 0.2
    crate_ref: float = 0.5
    knee_sigma: float = 0.25
    knee_crate_gamma: float = 1.0
    knee_cold_c: float = 10.0
    knee_cold_gamma: float = 0.05
    accel_knee_factor: float = 0.6
    accel_kappa_factor: float = 2.0

    def __post_init__(self) -> None:
        positive = ("v_nom", "r1_mohm", "tau1_s", "r_new_mohm", "wh_per_kg", "cp_j_per_kg_k",
                    "ha_w_per_k_per_kwh", "k_cal", "n100_cycles", "woehler_k", "knee_efc", "q_eol",
                    "crate_ref", "knee_sigma")
        for f in positive:
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"ChemistryParams({self.name}).{f} must be finite and > 0, got {v}")
        for f in ("knee_kappa", "rho_cal", "rho_cyc", "rho_knee", "crate_beta", "knee_crate_gamma",
                  "knee_cold_gamma", "accel_knee_factor", "accel_kappa_factor"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"ChemistryParams({self.name}).{f} must be finite and >= 0, got {v}")
        if len(self.ocv_soc) != len(self.ocv_v) or len(self.ocv_soc) < 2 or np.any(np.diff(self.ocv_soc) <= 0):
            raise ValueError(f"ChemistryParams({self.name}): OCV table needs increasing SOC knots")

    @property
    def c1_f(self) -> float:
        """RC capacitance ``C1 = tau1 / R1`` (F)."""
        return self.tau1_s / (self.r1_mohm * 1e-3)

    @property
    def tau_th_s(self) -> float:
        """Thermal time constant ``m*cp/hA`` (s); independent of module size (both scale with kWh)."""
        return 1000.0 / self.wh_per_kg * self.cp_j_per_kg_k / self.ha_w_per_k_per_kwh

    @property
    def trend_ref_pp_per_kefc(self) -> float:
        """Cycling fade of the default cell at 80 % DoD, 25 degC, 0.5 C, in SOH points per 1000 EFC.

        A battery whose measured ``degradation_trend`` equals this value ages at the calibrated
        rate (``m_b = 1``).
        """
        return 1e5 * self.q_eol / self.n100_cycles * 0.8 ** (self.woehler_k - 1.0)

    def ocv(self, soc) -> np.ndarray:
        """Module open-circuit voltage (V) at ``soc`` (linear interpolation of the table)."""
        return np.interp(np.asarray(soc, dtype=float), self.ocv_soc, self.ocv_v)


def _cell_table(cells: int, volts) -> tuple:
    return tuple(round(cells * v, 4) for v in volts)


DEFAULT_CHEMISTRY: dict[str, ChemistryParams] = {
    "LFP": ChemistryParams(
        name="LFP", v_nom=51.2, ocv_soc=(0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 0.95, 1.0),
        ocv_v=_cell_table(16, (2.80, 3.10, 3.20, 3.26, 3.29, 3.33, 3.38, 3.55)),
        r1_mohm=12.0, tau1_s=40.0, r_new_mohm=30.0,
        wh_per_kg=110.0, cp_j_per_kg_k=1050.0, ha_w_per_k_per_kwh=2.5, t_limit_c=55.0,
        # calibrated against BLAST-Lite Lfp_Gr_250AhPrismatic (docs/twin.md, calibration_table)
        k_cal=6.18e-4, ea_cal_j_per_mol=46.4e3, soc_sens_per_v=11.94,
        n100_cycles=6570.0, woehler_k=1.33, ea_cyc_j_per_mol=0.0, crate_beta=0.6,
        knee_efc=6000.0, knee_kappa=1.0e-6, rho_cal=1.0, rho_cyc=2.0),
    "NMC": ChemistryParams(
        name="NMC", v_nom=51.8, ocv_soc=(0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 0.95, 1.0),
        ocv_v=_cell_table(14, (3.00, 3.40, 3.50, 3.62, 3.80, 4.05, 4.11, 4.20)),
        r1_mohm=15.0, tau1_s=30.0, r_new_mohm=28.0,
        wh_per_kg=140.0, cp_j_per_kg_k=1000.0, ha_w_per_k_per_kwh=2.5, t_limit_c=45.0,
        # calibrated against BLAST-Lite Nmc111_Gr_Kokam75Ah_Battery
        k_cal=3.87e-4, ea_cal_j_per_mol=58.1e3, soc_sens_per_v=43.78,
        n100_cycles=6210.0, woehler_k=1.66, ea_cyc_j_per_mol=47.1e3, crate_beta=0.6,
        knee_efc=4000.0, knee_kappa=1.0e-6, rho_cal=2.0, rho_cyc=3.0),
}
"""Default parameters of the two chemistries of the fleet table."""


@dataclass(frozen=True)
class TwinOptions:
    """Options of :func:`simulate_twin`.

    Attributes
    ----------
    steps_per_year : int
        Ageing steps per year (12: monthly). Limit crossings are interpolated within a step.
    resolution_min : int
        Step of the representative duty-cycle day (min) for the circuit and thermal model.
    self_heating : bool
        Feed the mean Joule/polarisation temperature rise into the ageing rates (True), or age
        at the ambient temperature (False; used to compare with BLAST-Lite at cell temperature).
    retire_at_knee : bool
        End second life at the knee (seed 000 §2). If False, keep running with post-knee fade.
    use_trend : bool
        Scale each battery's cycling fade by ``degradation_trend / trend_ref`` (clipped to
        [0.2, 5]).
    first_life_efc_per_year : float
        Equivalent cycles per first-life year, to turn ``cycle_count`` into a first-life age for
        the calendar clock (ours: 150).
    chemistry : Mapping[str, ChemistryParams]
        Parameters per chemistry name of the fleet table.
    chunk_size : int
        Batteries per vectorised block (memory and cache).
    n_threads : int
        Threads over blocks (numpy releases the GIL); results do not depend on it. On the 2-core
        benchmark machine 2 threads were no faster (``benchmarks/twin.py --threads 1 2``).
    thermal_history_ref_k : float or None
        Thermal-instability proxy (ours): a battery whose first-life temperature range
        ``t_max_c - t_min_c`` is wider than this runs proportionally hotter, i.e. its temperature
        rises are multiplied by ``phi = clip(range / ref, 0.5, 2)`` (an effective ``hA/phi`` at an
        unchanged time constant; losses unaffected). ``None`` disables it (phi = 1).
    record_path : bool
        Keep the SOH after every step in :attr:`TwinResult.soh_path` (memory: n_b*n_a*steps).
    """

    steps_per_year: int = 12
    resolution_min: int = 15
    self_heating: bool = True
    retire_at_knee: bool = True
    use_trend: bool = True
    first_life_efc_per_year: float = 150.0
    chemistry: Mapping = field(default_factory=lambda: dict(DEFAULT_CHEMISTRY))
    chunk_size: int = 4096
    n_threads: int = 1
    thermal_history_ref_k: float | None = 12.0
    record_path: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.steps_per_year, (int, np.integer)) and self.steps_per_year >= 1):
            raise ValueError(f"TwinOptions.steps_per_year must be an integer >= 1, got {self.steps_per_year!r}")
        if not (isinstance(self.resolution_min, (int, np.integer)) and self.resolution_min > 0
                and 1440 % self.resolution_min == 0):
            raise ValueError(f"TwinOptions.resolution_min must divide 1440, got {self.resolution_min!r}")
        if not (math.isfinite(self.first_life_efc_per_year) and self.first_life_efc_per_year > 0):
            raise ValueError("TwinOptions.first_life_efc_per_year must be > 0")
        if self.thermal_history_ref_k is not None and not (
                math.isfinite(self.thermal_history_ref_k) and self.thermal_history_ref_k > 0):
            raise ValueError("TwinOptions.thermal_history_ref_k must be > 0 or None")
        if self.chunk_size < 1 or self.n_threads < 1:
            raise ValueError("TwinOptions.chunk_size and n_threads must be >= 1")


# --------------------------------------------------------------------------- circuit and heat


def _first_order(x: np.ndarray, a: float, y0) -> np.ndarray:
    """``y[k] = a*y[k-1] + (1-a)*x[k]`` along the last axis, with ``y[-1] = y0``.

    Blocks of up to 128 steps are solved at once with a lower-triangular Toeplitz matrix of
    powers of ``a`` (stable: only non-negative powers); the loop runs over blocks, not steps.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    y0 = np.asarray(y0, dtype=float)[..., None]
    y = np.empty(np.broadcast_shapes(x.shape, y0.shape))
    carry = np.broadcast_to(y0[..., 0], y.shape[:-1]).copy()
    blk = min(n, 128)
    k = np.arange(blk)
    power = np.tril(a ** np.clip(k[:, None] - k[None, :], 0, None))  # (blk, blk), a^(i-j) for j <= i
    apow = a ** (k + 1)
    for s in range(0, n, blk):
        e = min(s + blk, n)
        m = e - s
        xb = np.broadcast_to(x[..., s:e], y.shape[:-1] + (m,))
        y[..., s:e] = (1.0 - a) * xb @ power[:m, :m].T + carry[..., None] * apow[:m]
        carry = y[..., e - 1].copy()
    return y


def rc_voltage(current_a, dt_s: float, r0_ohm, r1_ohm, c1_f, ocv_v, v1_0=0.0) -> np.ndarray:
    """Terminal voltage of a 1RC Thevenin circuit at the end of each step (+ current charges).

    ``V = OCV + I*R0 + v1`` with ``C1 dv1/dt = I - v1/R1`` (charging positive), integrated
    exactly for current constant over each step: ``v1[k] = a*v1[k-1] + (1-a)*R1*I[k]``,
    ``a = exp(-dt/(R1*C1))``. For a discharge step of ``I_d > 0`` amperes from rest this is the
    closed form ``V(t) = OCV - I_d*R0 - I_d*R1*(1 - exp(-t/(R1*C1)))``.

    Parameters
    ----------
    current_a : array_like, shape (..., T)
        Current per step (A), + charge.
    dt_s : float
        Step (s).
    r0_ohm, r1_ohm, c1_f : float
        Circuit parameters (scalars).
    ocv_v : float or array_like broadcastable to (..., T)
        Open-circuit voltage (V).
    v1_0 : float or array_like
        RC voltage before the first step (V).

    Returns
    -------
    numpy.ndarray, shape (..., T)
        Terminal voltage (V) at the end of each step.
    """
    i = np.asarray(current_a, dtype=float)
    a = math.exp(-dt_s / (r1_ohm * c1_f))
    v1 = _first_order(r1_ohm * i, a, v1_0)
    return np.asarray(ocv_v, dtype=float) + i * r0_ohm + v1


def thermal_response(heat_w, dt_s: float, m_cp_j_per_k: float, ha_w_per_k: float, t_amb_c, t0_c=None) -> np.ndarray:
    """Lumped cell temperature ``m*cp*dT/dt = Q - hA*(T - T_amb)`` at the end of each step.

    Exact for heat constant over a step: ``T[k] - T_amb = a*(T[k-1] - T_amb) + (1-a)*Q[k]/hA``,
    ``a = exp(-dt*hA/(m*cp))``; the steady state under constant ``Q`` is ``T_amb + Q/hA``.

    Parameters
    ----------
    heat_w : array_like, shape (..., T)
        Heat per step (W).
    dt_s : float
    m_cp_j_per_k, ha_w_per_k : float
        Heat capacity (J/K) and heat transfer coefficient times area (W/K).
    t_amb_c : float
        Ambient (degC).
    t0_c : float, optional
        Temperature before the first step; ambient by default.
    """
    q = np.asarray(heat_w, dtype=float)
    a = math.exp(-dt_s * ha_w_per_k / m_cp_j_per_k)
    theta0 = 0.0 if t0_c is None else np.asarray(t0_c, dtype=float) - t_amb_c
    return t_amb_c + _first_order(q / ha_w_per_k, a, theta0)


def _periodic(x: np.ndarray, a: float) -> np.ndarray:
    """Periodic steady state of ``y[k] = a*y[k-1] + (1-a)*x[k]`` for a repeating series x."""
    y_zero = _first_order(x, a, 0.0)
    n = x.shape[-1]
    y0 = y_zero[..., -1] / (1.0 - a ** n)  # y0 = a^n y0 + y_n(0)
    return _first_order(x, a, y0)


# --------------------------------------------------------------------------- SOC stress


def anode_potential_v(soc) -> np.ndarray:
    """Graphite potential vs Li (V) at a cell SOC (Safari & Delacourt 2011, as in BLAST-Lite).

    Lithiation ``x = 0.0085 + soc*(0.78 - 0.0085)``; lower potential (high SOC) means faster
    SEI growth, i.e. faster calendar fade.
    """
    x = 8.5e-3 + np.asarray(soc, dtype=float) * (0.78 - 8.5e-3)
    return (0.6379 + 0.5416 * np.exp(-305.5309 * x) + 0.044 * np.tanh(-(x - 0.1958) / 0.1088)
            - 0.1978 * np.tanh((x - 1.0571) / 0.0854) - 0.6875 * np.tanh((x + 0.0117) / 0.0529)
            - 0.0175 * np.tanh((x - 0.5692) / 0.0875))


_UA_HALF = float(anode_potential_v(0.5))


def soc_stress(soc, sens_per_v: float) -> np.ndarray:
    """Calendar-rate multiplier of the SOC: ``exp(-s*(Ua(soc) - Ua(0.5)))``, 1 at SOC 0.5.

    ``s`` is BLAST-Lite's sensitivity at 25 degC: 11.94 /V for ``Lfp_Gr_250AhPrismatic``
    (``-p3/T``), 43.78 /V for ``Nmc111_Gr_Kokam75Ah_Battery`` (``-q1_2/0.123 * 308.15/T``).
    """
    return np.exp(-sens_per_v * (anode_potential_v(soc) - _UA_HALF))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class TwinResult:
    """Outcome of :func:`simulate_twin`; arrays are shaped ``(n_battery, n_app)``.

    Attributes
    ----------
    battery_id : numpy.ndarray of str, (n_battery,)
    application : tuple of str, (n_app,)
    years : float
        Horizon.
    second_life_years : ndarray
        Years until SOH < ``min_soh``, resistance growth > ``max_r_growth``, the knee (with
        ``retire_at_knee``) or the horizon; 0 if a limit is already violated at the start.
    rte : ndarray
        Round-trip efficiency (pu), mean of the start and the end of service.
    peak_temp_c : ndarray
        Highest cell temperature of the representative day over the service (degC).
    safety_breach : ndarray of bool
        Peak temperature above the chemistry limit, or the knee reached before the SOH and
        resistance limits and within the horizon (the battery would enter accelerated fade in
        service), or past the knee at the start.
    breach_prob : ndarray
        Probability of a breach: 1 for a thermal breach, else the probability that the knee
        (lognormal knee life, ``knee_sigma``) comes before the planned end of service.
    soh_end, r_growth_end : ndarray
        SOH and resistance growth at the end of service.
    knee_years : ndarray
        Median time to the knee from the start of second life (inf if never; 0 if past it).
    end_reason : ndarray of int8
        Index into :data:`END_REASONS`.
    t_years : ndarray, (n_steps + 1,)
        Step times.
    soh_path : ndarray or None
        ``(n_battery, n_app, n_steps + 1)`` SOH after every step if ``record_path``; constant
        after the step in which the SOH or resistance limit is crossed (the knee cut is not
        applied to the path).
    """

    battery_id: np.ndarray
    application: tuple
    years: float
    second_life_years: np.ndarray
    rte: np.ndarray
    peak_temp_c: np.ndarray
    safety_breach: np.ndarray
    breach_prob: np.ndarray
    soh_end: np.ndarray
    r_growth_end: np.ndarray
    knee_years: np.ndarray
    end_reason: np.ndarray
    t_years: np.ndarray
    soh_path: np.ndarray | None = None

    @property
    def shape(self) -> tuple:
        return self.second_life_years.shape

    def as_frame(self) -> pd.DataFrame:
        """Long table, one row per (battery, application), battery-major order."""
        nb, na = self.shape
        return pd.DataFrame({
            "battery_id": np.repeat(self.battery_id, na),
            "application": np.tile(np.asarray(self.application, dtype=object), nb),
            "second_life_years": self.second_life_years.ravel(),
            "rte": self.rte.ravel(),
            "peak_temp_c": self.peak_temp_c.ravel(),
            "safety_breach": self.safety_breach.ravel(),
            "breach_prob": self.breach_prob.ravel(),
            "soh_end": self.soh_end.ravel(),
            "r_growth_end": self.r_growth_end.ravel(),
            "knee_years": self.knee_years.ravel(),
            "end_reason": pd.Categorical.from_codes(self.end_reason.ravel().astype(np.int64),
                                                    categories=list(END_REASONS)),
        })

    def frame(self, name: str) -> pd.DataFrame:
        """One metric as a wide table (battery_id x application)."""
        return pd.DataFrame(getattr(self, name), index=pd.Index(self.battery_id, name="battery_id"),
                            columns=pd.Index(self.application, name="application"))


# --------------------------------------------------------------------------- simulation


_FLEET_COLUMNS = ("battery_id", "chemistry", "nominal_kwh", "soh", "r0_mohm", "r_growth", "cycle_count",
                  "degradation_trend")


def _fleet_table(fleet) -> pd.DataFrame:
    table = fleet.table if hasattr(fleet, "table") else fleet
    if not isinstance(table, pd.DataFrame):
        raise TypeError("simulate_twin: fleet must be a Fleet or a pandas DataFrame")
    missing = [c for c in _FLEET_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"simulate_twin: fleet table lacks columns {missing}")
    return table


def _app_list(applications) -> list:
    if isinstance(applications, Mapping):
        apps = list(applications.values())
    elif hasattr(applications, "c_rate"):
        apps = [applications]
    else:
        apps = list(applications)
    if not apps:
        raise ValueError("simulate_twin: no applications")
    names = [a.name for a in apps]
    if len(set(names)) != len(names):
        raise ValueError(f"simulate_twin: duplicate application names in {names}")
    return apps


@dataclass(frozen=True)
class _DayConst:
    """Per (chemistry, application) constants from the representative day.

    Quantities are per unit ``Ah_eff = SOH*Ah_nom`` of current, per ohm and per W/K:
    heat = ``Ah_eff^2 * (R0*g0 + R1*g1)`` (W); yearly-mean temperature rise
    ``Ah_eff^2/hA * (R0*m0 + R1*m1)`` (activity included); peak rise
    ``Ah_eff^2/hA * max_k(R0*F0[k] + R1*F1[k])`` over the Pareto points ``(F0, F1)``; losses of the
    day ``Ah_eff^2 * (R0*l0 + R1*l1)`` (W h) while charging (``l0c, l1c``) and discharging
    (``l0d, l1d``); ``q`` = charge moved per direction per day per Ah_eff (h); ``soc_f`` = mean
    calendar SOC stress.
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


def _day_constants(app, chem: ChemistryParams, resolution_min: int) -> _DayConst:
    c, activity = app.representative_day(resolution_min)
    c = np.asarray(c, dtype=float)
    dt_s = resolution_min * 60.0
    dt_h = resolution_min / 60.0
    # RC branch at unit R1 (1 ohm) and unit current per C (1 A per Ah_eff): periodic state
    a1 = math.exp(-dt_s / chem.tau1_s)
    v_end = _periodic(c, a1)
    v_start = np.roll(v_end, 1)
    # exact step average of i*v1: v1(s) = c + (v_start - c) exp(-s/tau)
    avg_fac = chem.tau1_s / dt_s * (1.0 - a1)
    g1 = c * (c + (v_start - c) * avg_fac)
    g0 = c * c
    a_th = math.exp(-dt_s / chem.tau_th_s)
    f0 = _periodic(g0, a_th)
    f1 = _periodic(g1, a_th)
    # Pareto front of (F0, F1): the max of R0*F0 + R1*F1 (R >= 0) is attained on it
    order = np.lexsort((-f1, -f0))                                     # by F0 descending, then F1
    f1s = f1[order]
    prev_best = np.r_[-np.inf, np.maximum.accumulate(f1s)[:-1]]
    keep = order[f1s > prev_best]                                      # not dominated by a larger F0
    ch, dis = c > 0, c < 0
    soc = app.soc_trajectory(c, resolution_min)
    fs = soc_stress(soc, chem.soc_sens_per_v)
    f_day = float(np.mean(0.5 * (fs[:-1] + fs[1:])))                    # trapezoid mean, as BLAST-Lite
    w = min(activity, 1.0)
    soc_f = w * f_day + (1.0 - w) * float(soc_stress(app.rest_soc, chem.soc_sens_per_v))
    return _DayConst(
        m0=float(g0.mean() * activity), m1=float(g1.mean() * activity), f0=f0[keep], f1=f1[keep],
        l0c=float(g0[ch].sum() * dt_h), l1c=float(g1[ch].sum() * dt_h),
        l0d=float(g0[dis].sum() * dt_h), l1d=float(g1[dis].sum() * dt_h),
        q=float(c[dis].sum() * -dt_h), soc_f=float(soc_f))


def simulate_twin(fleet, applications, years: float = 10.0, options: TwinOptions | None = None) -> TwinResult:
    """Simulate every battery of ``fleet`` in every application for ``years`` years.

    Parameters
    ----------
    fleet : slopt.fleet.Fleet or pandas.DataFrame
        Fleet table (columns of ``slopt.fleet.data``; ``accelerated`` optional).
    applications : Mapping[str, Application] or sequence of Application or one Application
    years : float
        Horizon (> 0).
    options : TwinOptions, optional

    Returns
    -------
    TwinResult
    """
    opt = options or TwinOptions()
    if not (math.isfinite(years) and years > 0):
        raise ValueError(f"simulate_twin: years must be finite and > 0, got {years}")
    table = _fleet_table(fleet)
    apps = _app_list(applications)
    nb, na = len(table), len(apps)

    chem_names = sorted(set(table["chemistry"].astype(str)))
    unknown = [c for c in chem_names if c not in opt.chemistry]
    if unknown:
        raise ValueError(f"simulate_twin: no ChemistryParams for {unknown}; known {sorted(opt.chemistry)}")
    chems = [opt.chemistry[c] for c in chem_names]
    code = pd.Categorical(table["chemistry"].astype(str), categories=chem_names).codes.astype(np.int64)

    # ---- per (chemistry, application) constants, shape (n_chem, n_app)
    consts = [[_day_constants(a, ch, opt.resolution_min) for a in apps] for ch in chems]
    cg = lambda attr: np.array([[getattr(consts[i][j], attr) for j in range(na)] for i in range(len(chems))])
    P = max(len(consts[i][j].f0) for i in range(len(chems)) for j in range(na))
    F0 = np.full((len(chems), na, P), -np.inf)
    F1 = np.full((len(chems), na, P), -np.inf)
    for i in range(len(chems)):
        for j in range(na):
            p = len(consts[i][j].f0)
            F0[i, j, :p], F1[i, j, :p] = consts[i][j].f0, consts[i][j].f1
    chem_arr = lambda attr: np.array([getattr(c, attr) for c in chems], dtype=float)

    app_f = lambda attr: np.array([float(getattr(a, attr)) for a in apps])
    A = dict(
        c_rate=app_f("c_rate"), cycles=app_f("cycles_per_year"), dod=app_f("dod"), t_amb=app_f("ambient_c"),
        min_soh=app_f("min_soh"), max_g=app_f("max_r_growth"),
    )
    C = {k: chem_arr(k) for k in ("v_nom", "r1_mohm", "wh_per_kg", "cp_j_per_kg_k", "ha_w_per_k_per_kwh",
                                  "t_limit_c", "k_cal", "ea_cal_j_per_mol", "n100_cycles", "woehler_k",
                                  "ea_cyc_j_per_mol", "crate_beta", "crate_ref", "knee_efc", "knee_kappa",
                                  "rho_cal", "rho_cyc", "rho_knee", "q_eol", "knee_sigma", "knee_crate_gamma",
                                  "knee_cold_c", "knee_cold_gamma", "accel_knee_factor", "accel_kappa_factor",
                                  "trend_ref_pp_per_kefc")}
    D = {k: cg(k) for k in ("m0", "m1", "l0c", "l1c", "l0d", "l1d", "q", "soc_f")}

    # ---- per battery inputs
    col = lambda name: table[name].to_numpy(dtype=float)
    B = dict(
        code=code, kwh=col("nominal_kwh"), soh=col("soh"), r0=col("r0_mohm") * 1e-3, g0=col("r_growth"),
        cycles=col("cycle_count"), trend=col("degradation_trend"),
        phi=_thermal_factor(table, opt.thermal_history_ref_k),
        accel=(table["accelerated"].to_numpy(dtype=bool) if "accelerated" in table.columns else np.zeros(nb, bool)),
    )

    n_steps = int(math.ceil(years * opt.steps_per_year - 1e-9))
    t_years = np.minimum(np.arange(n_steps + 1) / opt.steps_per_year, years)
    out = {k: np.empty((nb, na)) for k in ("life", "rte", "peak", "prob", "soh_end", "g_end", "knee")}
    out["breach"] = np.empty((nb, na), dtype=bool)
    out["reason"] = np.empty((nb, na), dtype=np.int8)
    path = np.empty((nb, na, n_steps + 1)) if opt.record_path else None

    blocks = [(s, min(s + opt.chunk_size, nb)) for s in range(0, nb, opt.chunk_size)]
    run = lambda se: _simulate_block(se, B, A, C, D, F0, F1, t_years, years, opt, out, path)
    if opt.n_threads > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=opt.n_threads) as ex:
            list(ex.map(run, blocks))
    else:
        for se in blocks:
            run(se)

    return TwinResult(
        battery_id=table["battery_id"].astype(str).to_numpy(), application=tuple(a.name for a in apps),
        years=float(years), second_life_years=out["life"], rte=out["rte"], peak_temp_c=out["peak"],
        safety_breach=out["breach"], breach_prob=out["prob"], soh_end=out["soh_end"],
        r_growth_end=out["g_end"], knee_years=out["knee"], end_reason=out["reason"], t_years=t_years,
        soh_path=path)


def _compact(st: dict, keep: np.ndarray, n_pairs: int):
    """Drop finished pairs from the loop arrays; return them and the pair -> position map."""
    st = {k: v[keep] for k, v in st.items()}
    pos = np.full(n_pairs, -1, dtype=np.int64)
    pos[st["pid"]] = np.arange(st["pid"].size)
    return st, pos


def _freeze(st: dict, ii: np.ndarray) -> None:
    """Stop the ageing of finished pairs (their SOH stays at the end-of-service value)."""
    for k in ("k2", "cyc", "kap"):
        if k in st:
            st[k][ii] = 0.0


def _thermal_factor(table: pd.DataFrame, ref_k) -> np.ndarray:
    """Temperature-rise multiplier from the first-life temperature range (TwinOptions)."""
    if ref_k is None or "t_min_c" not in table.columns or "t_max_c" not in table.columns:
        return np.ones(len(table))
    spread = table["t_max_c"].to_numpy(dtype=float) - table["t_min_c"].to_numpy(dtype=float)
    return np.clip(spread / ref_k, 0.5, 2.0)


def _ndtr(x) -> np.ndarray:
    """Standard normal CDF, numpy only (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7)."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def _simulate_block(se, B, A, C, D, F0, F1, t_years, years, opt: TwinOptions, out, path) -> None:
    s, e = se
    code = B["code"][s:e]
    col = lambda x: x[s:e][:, None]              # battery column (b, 1)
    ch = lambda name: C[name][code][:, None]      # chemistry parameter per battery (b, 1)
    cd = lambda name: D[name][code]               # (chemistry, app) constant per battery (b, a)
    soh0, g0, r0, kwh = col(B["soh"]), col(B["g0"]), col(B["r0"]), col(B["kwh"])
    cyc0, accel = col(B["cycles"]), col(B["accel"].astype(float)) > 0
    t_amb, c_rate, dod, cycles = A["t_amb"][None, :], A["c_rate"][None, :], A["dod"][None, :], A["cycles"][None, :]
    min_soh, max_g = A["min_soh"][None, :], A["max_g"][None, :]
    nb = e - s
    shape = (nb, t_amb.shape[1])

    # ---- electrical and thermal constants per pair at the start
    ah_nom = kwh * 1000.0 / ch("v_nom")
    r1 = ch("r1_mohm") * 1e-3 * (1.0 + g0)          # the RC branch ages like R0: R1 = R1_new * (1 + g0)
    ha = ch("ha_w_per_k_per_kwh") * kwh / col(B["phi"])              # thermal-instability proxy phi
    ah_eff0 = soh0 * ah_nom
    heat_scale0 = ah_eff0 ** 2 / ha                                    # K per ohm per (C-rate^2)
    mean_rise0 = heat_scale0 * (r0 * cd("m0") + r1 * cd("m1"))
    f0, f1 = F0[code], F1[code]                                         # (b, a, P)
    peak_rise0 = heat_scale0 * np.max(r0[:, :, None] * f0 + r1[:, :, None] * f1, axis=2)
    v_q = ch("v_nom") * cd("q")
    loss_d = r0 * cd("l0d") + r1 * cd("l1d")
    loss_c = r0 * cd("l0c") + r1 * cd("l1c")

    def rte_at(ah_eff_scale):  # ah_eff_scale = Ah_eff * resistance scale
        return (v_q - ah_eff_scale * loss_d) / (v_q + ah_eff_scale * loss_c)

    # ---- ageing constants per pair
    if opt.use_trend:
        m_b = np.clip(col(B["trend"]) / ch("trend_ref_pp_per_kefc"), 0.2, 5.0)
    else:
        m_b = np.ones((nb, 1))
    k = ch("woehler_k")
    f_c = 1.0 + ch("crate_beta") * np.maximum(c_rate - ch("crate_ref"), 0.0)
    # cycling fade per day at 25 degC per unit SOH (nominal-Ah throughput = SOH * cycles * D)
    cyc_day = ch("q_eol") / ch("n100_cycles") * dod ** (k - 1.0) * (cycles * dod / DAYS_PER_YEAR) * f_c * m_b
    k_cal = ch("k_cal") * cd("soc_f")
    inv_r = 1.0 / R_J_PER_MOL_K
    ea_cal, ea_cyc = ch("ea_cal_j_per_mol") * inv_r, ch("ea_cyc_j_per_mol") * inv_r
    heat = opt.self_heating
    rho_cal, rho_cyc, rho_knee = ch("rho_cal"), ch("rho_cyc"), ch("rho_knee")

    # knee: Woehler-weighted cycles per year, stressed by C-rate and cold; lognormal knee life
    t_cell0 = t_amb + (mean_rise0 if heat else 0.0)
    stress = (1.0 + ch("knee_crate_gamma") * np.maximum(c_rate - ch("crate_ref"), 0.0)) \
        * (1.0 + ch("knee_cold_gamma") * np.maximum(ch("knee_cold_c") - t_cell0, 0.0))
    e_rate = cycles * dod ** k * stress * m_b                            # weighted cycles / year
    n_knee = ch("knee_efc") * np.where(accel, ch("accel_knee_factor"), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_knee = np.where(e_rate > 0, (n_knee - cyc0) / e_rate, np.where(n_knee > cyc0, np.inf, 0.0))
    t_knee = np.maximum(t_knee, 0.0) * np.ones(shape)
    past_knee = (n_knee <= cyc0) * np.ones(shape, dtype=bool)
    kappa = ch("knee_kappa") * np.where(accel, ch("accel_kappa_factor"), 1.0)
    post_knee = not opt.retire_at_knee

    # ---- the ageing loop on flat, contiguous per-pair arrays (battery-major, P = nb * na)
    flat = lambda x: np.array(np.broadcast_to(x, shape), dtype=float).ravel()  # a writable copy
    age_days = cyc0 / opt.first_life_efc_per_year * DAYS_PER_YEAR
    q_cal0 = ch("k_cal") * np.sqrt(age_days)                  # first-life calendar state (25 degC, SOC 0.5)
    unfit = (soh0 < min_soh) | (g0 > max_g)
    P = nb * shape[1]
    t_ref_inv = 1.0 / _T_REF_K
    st = {                                                     # compacted together
        "pid": np.arange(P),
        "soh": flat(soh0), "g1": flat(1.0 + g0), "q": flat(q_cal0),
        "k2": flat(k_cal ** 2 * np.exp(2.0 * ea_cal * t_ref_inv)),   # calendar rate^2 per day, times exp(2Ea/RT)
        "ea2": flat(2.0 * ea_cal), "cyc": flat(cyc_day * np.exp(ea_cyc * t_ref_inv)), "eac": flat(ea_cyc),
        "rc": flat(rho_cal), "ry": flat(rho_cyc), "tk": flat(t_amb + _ZERO_C_K),
        "lim_s": flat(np.where(unfit, -np.inf, min_soh)), "lim_g": flat(np.where(unfit, np.inf, 1.0 + max_g)),
    }
    st["q2"] = st["q"] * st["q"]
    if heat:
        st["mr"] = flat(mean_rise0 / ((1.0 + g0) * soh0 ** 2))
    else:  # constant cell temperature: Arrhenius factors once
        inv_t = 1.0 / st["tk"]
        st["k2"] = st["k2"] * np.exp(-st["ea2"] * inv_t)
        st["cyc"] = st["cyc"] * np.exp(-st["eac"] * inv_t)
    cyc_temp = heat and bool(np.any(st["eac"] != 0.0))
    if post_knee:
        st["x0"] = flat(cyc0 - n_knee)
        st["er"] = flat(e_rate)
        st["kap"] = flat(kappa)
        st["rk"] = flat(rho_knee)
    life = np.where(flat(unfit) > 0, 0.0, years)
    reason = np.where(flat(unfit) > 0, END_REASONS.index("unfit"), END_REASONS.index("horizon")).astype(np.int8)
    soh_end, g_end = st["soh"].copy(), st["g1"] - 1.0
    # SOH and growth when the knee comes, bucketed by the step that contains it
    tk_flat = flat(t_knee)
    soh_knee, g_knee = soh_end.copy(), g_end.copy()
    spy = opt.steps_per_year
    kstep = np.where(np.isfinite(tk_flat) & (tk_flat > 0) & (tk_flat < years),
                     np.ceil(tk_flat * spy - 1e-12), -1).astype(np.int64)
    korder = np.argsort(kstep, kind="stable")
    kbounds = np.searchsorted(kstep[korder], np.arange(t_years.size + 1))
    pos = np.arange(P)                                         # position of each pair in the compacted arrays
    if path is not None:
        path_flat = path[s:e].reshape(P, -1)
        path_flat[:, 0] = st["soh"]
    _freeze(st, np.flatnonzero(st["lim_s"] == -np.inf))           # unfit pairs do not age
    if path is None and unfit.any():
        st, pos = _compact(st, st["lim_s"] > -np.inf, P)

    for n in range(1, t_years.size):
        dt_d = (t_years[n] - t_years[n - 1]) * DAYS_PER_YEAR
        if dt_d <= 0 or st["pid"].size == 0:
            continue
        soh, g1, q, q2 = st["soh"], st["g1"], st["q"], st["q2"]
        if heat:                                               # cell temperature from the self-heating
            inv_t = soh * soh
            inv_t *= g1
            inv_t *= st["mr"]
            inv_t += st["tk"]
            np.reciprocal(inv_t, out=inv_t)
            a2 = np.multiply(st["ea2"], inv_t)
            np.negative(a2, out=a2)
            np.exp(a2, out=a2)
            a2 *= st["k2"]
            if cyc_temp:
                cr = np.multiply(st["eac"], inv_t)
                np.negative(cr, out=cr)
                np.exp(cr, out=cr)
                cr *= st["cyc"]
            else:
                cr = st["cyc"]
        else:
            a2, cr = st["k2"], st["cyc"]
        # calendar, equivalent-time rule: q <- sqrt(q^2 + k(T)^2 dt)
        dqc = np.multiply(a2, dt_d)
        q2 += dqc
        q_new = np.sqrt(q2)
        np.subtract(q_new, q, out=dqc)
        st["q"] = q_new
        # cycling: throughput in nominal Ah is SOH * cycles * D
        dqy = np.multiply(cr, soh)
        dqy *= dt_d
        soh -= dqc
        soh -= dqy
        dg = np.multiply(st["rc"], dqc)
        dg += st["ry"] * dqy
        if post_knee:
            x1 = np.maximum(st["x0"] + st["er"] * t_years[n], 0.0)
            x0 = np.maximum(st["x0"] + st["er"] * t_years[n - 1], 0.0)
            dqk = st["kap"] * (x1 * x1 - x0 * x0)
            soh -= dqk
            dg += st["rk"] * dqk
            dqy += dqk                                         # only used below to undo the step
        g1 += dg
        if path is not None:
            path_flat[st["pid"], n] = soh
        # knees inside this step: interpolate SOH and growth at the knee time
        kp = korder[kbounds[n]:kbounds[n + 1]]
        if kp.size:
            at = pos[kp]
            live = at >= 0
            kp, at = kp[live], at[live]
            w = (tk_flat[kp] - t_years[n - 1]) / (t_years[n] - t_years[n - 1])
            sp, gp = soh[at] + dqc[at] + dqy[at], g1[at] - dg[at]
            soh_knee[kp] = sp + w * (soh[at] - sp)
            g_knee[kp] = gp + w * (g1[at] - gp) - 1.0
        hit = soh < st["lim_s"]
        hit |= g1 > st["lim_g"]
        if hit.any():
            ii = np.flatnonzero(hit)
            sn, gn = soh[ii], g1[ii]
            sp, gp = sn + dqc[ii] + dqy[ii], gn - dg[ii]       # state before the step
            ls, lg = st["lim_s"][ii], st["lim_g"][ii]
            with np.errstate(divide="ignore", invalid="ignore"):
                fs = np.where(sn < ls, (sp - ls) / (sp - sn), np.inf)
                fg = np.where(gn > lg, (lg - gp) / (gn - gp), np.inf)
            frac = np.clip(np.minimum(fs, fg), 0.0, 1.0)
            pid = st["pid"][ii]
            life[pid] = t_years[n - 1] + frac * (t_years[n] - t_years[n - 1])
            reason[pid] = np.where(fs <= fg, END_REASONS.index("soh"), END_REASONS.index("resistance"))
            soh_end[pid] = sp + frac * (sn - sp)
            g_end[pid] = gp + frac * (gn - gp) - 1.0
            st["lim_s"][ii] = -np.inf                           # done: never triggers again,
            st["lim_g"][ii] = np.inf
            _freeze(st, ii)                                      # and ages no further
            if path is None and n % spy == 0:
                st, pos = _compact(st, st["lim_s"] > -np.inf, P)
    live = st["lim_s"] > -np.inf
    soh_end[st["pid"][live]] = st["soh"][live]
    g_end[st["pid"][live]] = st["g1"][live] - 1.0
    life, reason = life.reshape(shape), reason.reshape(shape)
    soh_end, g_end = soh_end.reshape(shape), g_end.reshape(shape)
    soh_knee, g_knee = soh_knee.reshape(shape), g_knee.reshape(shape)

    # ---- knee as end of service (seed 000 §2) and as a safety event
    planned = life.copy()                                               # without the knee
    knee_in_service = ~unfit & (t_knee < planned) & (t_knee < years)
    if opt.retire_at_knee:
        cut = knee_in_service
        soh_end = np.where(cut, soh_knee, soh_end)
        g_end = np.where(cut, g_knee, g_end)
        life = np.where(cut, t_knee, life)
        reason = np.where(cut, END_REASONS.index("knee"), reason).astype(np.int8)
    unfit_knee = past_knee & ~unfit
    life = np.where(unfit_knee, 0.0, life)
    reason = np.where(unfit_knee, END_REASONS.index("unfit"), reason).astype(np.int8)
    soh_end = np.where(unfit_knee, soh0, soh_end)
    g_end = np.where(unfit_knee, g0, g_end)

    # ---- efficiency and temperature at the start and the end of service
    scale_end = (1.0 + g_end) / (1.0 + g0)
    rte0 = rte_at(ah_eff0 * 1.0)
    rte1 = rte_at(soh_end * ah_nom * scale_end)
    peak_end = peak_rise0 * scale_end * (soh_end / soh0) ** 2
    peak = t_amb + np.maximum(peak_rise0, peak_end)
    thermal = peak > ch("t_limit_c")
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(cyc0 + e_rate * planned, 1e-12)) - np.log(n_knee)) / ch("knee_sigma")
    prob = np.where(thermal, 1.0, np.where(unfit, 0.0, _ndtr(z)))
    prob = np.where(unfit_knee, 1.0, prob)

    out["life"][s:e] = life
    out["rte"][s:e] = 0.5 * (rte0 + rte1)
    out["peak"][s:e] = peak
    out["breach"][s:e] = thermal | knee_in_service | unfit_knee
    out["prob"][s:e] = prob
    out["soh_end"][s:e] = soh_end
    out["g_end"][s:e] = g_end
    out["knee"][s:e] = np.where(past_knee, 0.0, t_knee)
    out["reason"][s:e] = reason


# --------------------------------------------------------------------------- BLAST-Lite cross-check

CALIBRATION_CASES = (
    # (chemistry, BLAST-Lite model, depth of discharge, cell temperature degC)
    ("LFP", "Lfp_Gr_250AhPrismatic", 0.8, 25.0),
    ("LFP", "Lfp_Gr_250AhPrismatic", 0.3, 35.0),
    ("NMC", "Nmc111_Gr_Kokam75Ah_Battery", 0.8, 25.0),
    ("NMC", "Nmc111_Gr_Kokam75Ah_Battery", 0.3, 35.0),
)
"""The four cross-check cases: one cycle a day at 0.5 C, SOC centred on 0.5, fresh cells."""


@dataclass(frozen=True)
class _TestCycle:
    """The daily cycle of a calibration case, with the application protocol the twin uses.

    Discharge at 0.5 C from SOC ``0.5 + dod/2`` at 06:00, rest empty, charge at 18:00, rest full:
    as long full as empty, so the time-mean SOC is 0.5. Fresh-cell limits never end service.
    """

    dod: float
    ambient_c: float
    c_rate: float = 0.5
    cycles_per_year: float = DAYS_PER_YEAR
    min_soh: float = 0.01
    max_r_growth: float = 1e6

    @property
    def name(self) -> str:
        return f"cycle_{round(self.dod * 100)}dod_{self.ambient_c:g}C"

    @property
    def rest_soc(self) -> float:
        return 0.5 + self.dod / 2.0

    def representative_day(self, resolution_min: int = 15):
        spd = 1440 // resolution_min
        dt_h = resolution_min / 60.0
        t0 = np.arange(spd) * dt_h                                    # step start (h)
        t1 = t0 + dt_h
        h = self.dod / self.c_rate

        def overlap(a, b):                                            # hours of [a, b) in each step
            return np.clip(np.minimum(t1, b) - np.maximum(t0, a), 0.0, None)

        c = self.c_rate * (overlap(18.0, 18.0 + h) - overlap(6.0, 6.0 + h)) / dt_h
        return c, 1.0

    def soc_trajectory(self, c, resolution_min: int = 15):
        return self.rest_soc + np.concatenate([[0.0], np.cumsum(np.asarray(c) * resolution_min / 60.0)])


def blast_reference(model_name: str, dod: float, temp_c: float, years: float = 10.0,
                    resolution_min: int = 5) -> float:
    """Relative capacity of a fresh BLAST-Lite cell after ``years`` of the calibration cycle.

    Builds the BLAST-Lite input (time s, SOC, temperature degC) from one day of the calibration
    cycle (discharge at 0.5 C at 06:00, charge at 18:00, SOC centred on 0.5) and repeats it (``is_constant_input=True``) with the DoD kept at
    ``dod`` of the current capacity (``is_conserve_energy_throughput=False``), as the twin does.
    Needs the ``blast-lite`` package (``import blast``).
    """
    import blast.models as bm

    app = _TestCycle(dod, temp_c)
    c, _ = app.representative_day(resolution_min)
    soc = app.soc_trajectory(c, resolution_min)
    t_s = np.arange(soc.size) * resolution_min * 60.0
    cell = getattr(bm, model_name)()
    cell.simulate_battery_life({"Time_s": t_s, "SOC": soc, "Temperature_C": np.full(soc.size, float(temp_c))},
                               threshold_time=years, is_constant_input=True,
                               is_conserve_energy_throughput=False)
    # BLAST-Lite stops at the first day past the threshold; interpolate to exactly `years`
    t = np.asarray(cell.stressors["t_days"], dtype=float) / DAYS_PER_YEAR
    q = np.asarray(cell.outputs["q"], dtype=float)
    return float(np.interp(years, t, q))


def calibration_table(options: TwinOptions | None = None, years: float = 10.0) -> pd.DataFrame:
    """Twin versus BLAST-Lite: remaining capacity of fresh cells after ``years`` (needs blast-lite).

    The twin runs a fresh module (SOH 1, R0 = the chemistry's new resistance, no first-life
    cycles, trend = reference) at cell temperature (``self_heating=False``), since BLAST-Lite's
    temperature input is the cell's.
    """
    opt = replace(options or TwinOptions(), self_heating=False, use_trend=True, retire_at_knee=False)
    rows = []
    for chem, model, dod, temp in CALIBRATION_CASES:
        p = opt.chemistry[chem]
        fleet = pd.DataFrame({
            "battery_id": [f"fresh-{chem}"], "chemistry": [chem], "nominal_kwh": [p.v_nom * 0.05],
            "soh": [1.0], "r0_mohm": [p.r_new_mohm], "r_growth": [0.0], "cycle_count": [0.0],
            "degradation_trend": [p.trend_ref_pp_per_kefc], "accelerated": [False]})
        res = simulate_twin(fleet, [_TestCycle(dod, temp)], years=years, options=opt)
        twin_q = float(res.soh_end[0, 0])
        ref_q = blast_reference(model, dod, temp, years)
        rows.append(dict(chemistry=chem, blast_model=model, dod=dod, temp_c=temp, twin_q=twin_q, blast_q=ref_q,
                         diff=twin_q - ref_q))
    return pd.DataFrame(rows)
