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
3. **Capacity fade** ``SOH = SOH0 - dq_cal - dq_cyc (- dq_knee)``, power laws of BLAST-Lite's
   forms advanced with the equivalent-time rule (``q = z^p``, ``z`` grows at the current rate,
   from the battery's first-life state), so a time-varying cell temperature is handled:

   - calendar ``q_cal = k_cal * f_soc(T) * exp(-Ea_cal/R (1/T - 1/T_ref)) * t^p_cal``;
   - cycling ``q_cyc = (k_cyc * phi(D, c_mean) * g(T) * f_C * m_b^(1/p) * X)^p_cyc`` over the
     nominal-Ah equivalent full cycles ``X``: a depth stress ``phi``, a temperature factor
     ``g`` with an SEI and a lithium-plating (cold) branch, a peak-C-rate factor ``f_C`` and the
     battery's own measured trend ``m_b = degradation_trend / trend_ref``;
   - the **knee**: the throughput reaches a knee life that is shorter in the cold, at depth,
     at high mean SOC and high C-rate (the loss-of-active-material onset of BLAST-Lite's NMC
     model; seed 000 §3.3, §4.2.1, §4.3.1) and for accelerated agers, first and second life
     added by Miner's rule. Seed 000 §2 treats entering the accelerated phase as the end of
     second life, so by default service ends there; with ``retire_at_knee=False`` the
     post-knee fade ``kappa*(E - N)^2`` is simulated instead.
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
uncertainty. BLAST-Lite simulates one fresh cell at a time in Python loops (seconds per
cell and 10-year duty), has no circuit or thermal model and pins numpy < 2; it is the reference
instead. The ageing parameters are fitted (``tools/fit_twin.py``) to BLAST-Lite's
``Lfp_Gr_250AhPrismatic`` and ``Nmc111_Gr_Kokam75Ah_Battery`` on a calibration subset of the
committed reference ``tests/data/blast/reference.csv`` (``tools/blast_reference.py``); fresh
cells are within 0.03 of BLAST-Lite's remaining capacity over 10 years on all 412 reference
duties, every application's among them (:func:`compare_reference`, ``tests/battery/test_twin.py``,
``docs/twin.md``).

This module imports nothing from the layers above ``battery``: it takes any fleet object with a
``table`` DataFrame (``slopt.fleet.Fleet``) or the DataFrame itself, and application objects
with the fields of :class:`slopt.fleet.applications.Application` and its two methods
``representative_day(resolution_min) -> (c_rate, activity)`` and
``soc_trajectory(c_rate, resolution_min) -> soc``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.aging import R_J_PER_MOL_K
from slopt.errors import ArgumentError, InstanceError
from slopt.checks import as_number

__all__ = [
    "ChemistryParams", "DEFAULT_CHEMISTRY", "TwinOptions", "TwinResult", "simulate_twin",
    "rc_voltage", "thermal_response", "anode_potential_v", "soc_stress", "END_REASONS",
    "ReferenceDuty", "fresh_cell", "REFERENCE_OPTIONS",
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

    Calendar fade ``q_cal = k_cal * f_soc * A_cal(T) * t^p_cal`` (t in days) at constant
    conditions: ``k_cal`` at 25 degC and SOC 0.5, ``ea_cal_j_per_mol`` (Arrhenius ``A_cal``),
    ``p_cal``, ``soc_sens_per_v`` the sensitivity to the graphite potential at 25 degC (see
    :func:`soc_stress`; it scales as ``298.15/T`` like BLAST-Lite's).

    Cycling fade ``q_cyc = (k_cyc * phi * g(T) * f_C * X)^p_cyc`` over ``X`` equivalent full
    cycles of nominal-Ah throughput: ``phi = 1 - dod_share + dod_share * exp(dod_beta * (D^dod_exp
    - 1)) + rate_coef * c_mean`` (``D`` the depth, ``c_mean`` the time-mean ``|C-rate|``, 1/h);
    ``g(T) = (1 - plating_share) * exp(-Ea_cyc/R (1/T - 1/T_ref)) + plating_share *
    exp(+Ea_plating/R (1/T - 1/T_ref))``, a high-temperature (SEI) and a low-temperature
    (lithium plating) branch, 1 at 25 degC; ``f_C = 1 + crate_beta * max(c - crate_ref, 0)`` for
    the peak C-rate ``c`` above the rate the reference cell was tested at.

    Knee (onset of accelerated fade): the throughput to the knee is ``knee_efc * max(1 -
    knee_cold_slope * max(knee_hot_c - T, 0) * D * soc_mean / 0.5, knee_floor)`` EFC, shorter in
    the cold, at depth and at high mean SOC; the knee rate is stressed by ``1 + knee_crate_gamma *
    max(c - crate_ref, 0)``; lognormal spread ``knee_sigma``; ``knee_kappa`` post-knee fade (pu per
    EFC^2); ``accel_knee_factor`` and ``accel_kappa_factor`` for accelerated agers.
    Resistance: ``rho_cal``, ``rho_cyc``, ``rho_knee`` growth per unit of fade.
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
    p_cal: float
    k_cyc: float
    p_cyc: float
    dod_share: float
    dod_beta: float
    dod_exp: float
    rate_coef: float
    ea_cyc_j_per_mol: float
    plating_share: float
    ea_plating_j_per_mol: float
    knee_efc: float
    knee_cold_slope: float
    rho_cal: float
    rho_cyc: float
    crate_beta: float = 0.6
    crate_ref: float = 0.5
    knee_hot_c: float = 55.0
    knee_floor: float = 0.05
    knee_kappa: float = 1.0e-6
    rho_knee: float = 5.0
    knee_sigma: float = 0.25
    knee_crate_gamma: float = 1.0
    accel_knee_factor: float = 0.6
    accel_kappa_factor: float = 2.0

    def __post_init__(self) -> None:
        positive = ("v_nom", "r1_mohm", "tau1_s", "r_new_mohm", "wh_per_kg", "cp_j_per_kg_k",
                    "ha_w_per_k_per_kwh", "k_cal", "p_cal", "k_cyc", "p_cyc", "dod_exp", "knee_efc",
                    "crate_ref", "knee_sigma", "knee_floor")
        for f in positive:
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"ChemistryParams({self.name}).{f} must be finite and > 0, got {v}")
        for f in ("knee_kappa", "rho_cal", "rho_cyc", "rho_knee", "crate_beta", "knee_crate_gamma", "rate_coef", "dod_beta",
                  "knee_cold_slope", "accel_knee_factor", "accel_kappa_factor", "ea_plating_j_per_mol"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"ChemistryParams({self.name}).{f} must be finite and >= 0, got {v}")
        for f in ("dod_share", "plating_share"):
            v = getattr(self, f)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"ChemistryParams({self.name}).{f} must be in [0, 1], got {v}")
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

    def phi(self, dod, c_mean) -> np.ndarray:
        """Cycling stress of depth ``dod`` at time-mean ``|C-rate|`` ``c_mean`` (1 at DoD 1, no rate)."""
        d = np.asarray(dod, dtype=float)
        return (1.0 - self.dod_share + self.dod_share * np.exp(self.dod_beta * (d ** self.dod_exp - 1.0))
                + self.rate_coef * np.asarray(c_mean))

    def g_temp(self, temp_c) -> np.ndarray:
        """Temperature factor of the cycling fade, ``g(T)``, 1 at 25 degC."""
        x = 1.0 / (np.asarray(temp_c, dtype=float) + _ZERO_C_K) - 1.0 / _T_REF_K
        return ((1.0 - self.plating_share) * np.exp(-self.ea_cyc_j_per_mol / R_J_PER_MOL_K * x)
                + self.plating_share * np.exp(self.ea_plating_j_per_mol / R_J_PER_MOL_K * x))

    @property
    def trend_ref_pp_per_kefc(self) -> float:
        """Cycling fade of the default cell, in SOH points per 1000 EFC: the mean slope over 10
        years of one 80 % cycle a day at 25 degC and 0.5 C (2920 EFC; ``c_mean = 1.6/24`` per h).

        A battery whose measured ``degradation_trend`` equals this value ages at the calibrated
        rate (``m_b = 1``).
        """
        x = 2920.0
        q = (self.k_cyc * float(self.phi(0.8, 1.6 / 24.0)) * x) ** self.p_cyc
        return 1e5 * q / x

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
        # ageing: fitted to BLAST-Lite Lfp_Gr_250AhPrismatic by tools/fit_twin.py (tests/data/blast/fit.json);
        # the knee is ours (BLAST-Lite's LFP model has none)
        k_cal=0.0004859, ea_cal_j_per_mol=46610.0, soc_sens_per_v=11.94, p_cal=0.5288,
        k_cyc=1.241e-05, p_cyc=0.8133, dod_share=1.0, dod_beta=0.477, dod_exp=0.7192, rate_coef=3.293,
        ea_cyc_j_per_mol=3.073, plating_share=1.0, ea_plating_j_per_mol=22480.0, crate_ref=0.65,
        knee_efc=8000.0, knee_cold_slope=0.003, rho_cal=1.0, rho_cyc=2.0),
    "NMC": ChemistryParams(
        name="NMC", v_nom=51.8, ocv_soc=(0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 0.95, 1.0),
        ocv_v=_cell_table(14, (3.00, 3.40, 3.50, 3.62, 3.80, 4.05, 4.11, 4.20)),
        r1_mohm=15.0, tau1_s=30.0, r_new_mohm=28.0,
        wh_per_kg=140.0, cp_j_per_kg_k=1000.0, ha_w_per_k_per_kwh=2.5, t_limit_c=45.0,
        # ageing and knee: fitted to BLAST-Lite Nmc111_Gr_Kokam75Ah_Battery by tools/fit_twin.py
        k_cal=0.001244, ea_cal_j_per_mol=58770.0, soc_sens_per_v=43.78, p_cal=0.3562,
        k_cyc=3.737e-05, p_cyc=0.7848, dod_share=0.9403, dod_beta=2.884, dod_exp=2.496, rate_coef=0.0,
        ea_cyc_j_per_mol=59070.0, plating_share=0.0, ea_plating_j_per_mol=10490.0, crate_ref=1.0,
        knee_efc=7877.0, knee_cold_slope=0.01445, rho_cal=2.0, rho_cyc=3.0),
}
"""Default parameters of the two chemistries of the fleet table."""

_CHEM_FLOATS = tuple(f.name for f in fields(ChemistryParams) if f.name not in ("name", "ocv_soc", "ocv_v"))


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
        raise ArgumentError(f"simulate_twin: fleet must be a Fleet or a pandas DataFrame, got {type(fleet).__name__}")
    missing = [c for c in _FLEET_COLUMNS if c not in table.columns]
    if missing:
        raise InstanceError.at(None, "fleet", f"columns {list(table.columns)[:8]}", f"lacks columns {missing}")
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
    soc_mean = w * float(np.mean(0.5 * (soc[:-1] + soc[1:]))) + (1.0 - w) * float(app.rest_soc)
    return _DayConst(
        m0=float(g0.mean() * activity), m1=float(g1.mean() * activity), f0=f0[keep], f1=f1[keep],
        l0c=float(g0[ch].sum() * dt_h), l1c=float(g1[ch].sum() * dt_h),
        l0d=float(g0[dis].sum() * dt_h), l1d=float(g1[dis].sum() * dt_h),
        q=float(c[dis].sum() * -dt_h), soc_f=float(soc_f), c_mean=float(np.abs(c).mean() * activity),
        soc_mean=soc_mean)


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
    years = as_number(years, "simulate_twin", "years", 0.0, 100.0, lo_open=True)
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
    C = {k: chem_arr(k) for k in _CHEM_FLOATS + ("trend_ref_pp_per_kefc",)}
    D = {k: cg(k) for k in ("m0", "m1", "l0c", "l1c", "l0d", "l1d", "q", "soc_f", "c_mean", "soc_mean")}

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
    out, path = _run_blocks(B, A, C, D, F0, F1, t_years, years, opt, nb, na)
    return TwinResult(
        battery_id=table["battery_id"].astype(str).to_numpy(), application=tuple(a.name for a in apps),
        years=float(years), second_life_years=out["life"], rte=out["rte"], peak_temp_c=out["peak"],
        safety_breach=out["breach"], breach_prob=out["prob"], soh_end=out["soh_end"],
        r_growth_end=out["g_end"], knee_years=out["knee"], end_reason=out["reason"], t_years=t_years,
        soh_path=path)


def _run_blocks(B, A, C, D, F0, F1, t_years, years, opt: TwinOptions, nb: int, na: int):
    """Simulate blocks of batteries, grouped by chemistry (a block then skips the temperature
    branches its chemistry does not use; results do not depend on the grouping or the blocks)."""
    perm = np.argsort(B["code"], kind="stable")
    Bp = {k: v[perm] for k, v in B.items()}
    out = {k: np.empty((nb, na)) for k in ("life", "rte", "peak", "prob", "soh_end", "g_end", "knee")}
    out["breach"] = np.empty((nb, na), dtype=bool)
    out["reason"] = np.empty((nb, na), dtype=np.int8)
    path = np.empty((nb, na, t_years.size)) if opt.record_path else None
    blocks = [(s, min(s + opt.chunk_size, nb)) for s in range(0, nb, opt.chunk_size)]
    run = lambda se: _simulate_block(se, Bp, A, C, D, F0, F1, t_years, years, opt, out, path)
    if opt.n_threads > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=opt.n_threads) as ex:
            list(ex.map(run, blocks))
    else:
        for se in blocks:
            run(se)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(nb)
    return {k: v[inv] for k, v in out.items()}, (path[inv] if path is not None else None)


def _compact(st: dict, keep: np.ndarray) -> dict:
    """Drop finished pairs from the loop arrays."""
    return {k: v[keep] for k, v in st.items()}


def _freeze(st: dict, ii: np.ndarray) -> None:
    """Stop the ageing of finished pairs (their SOH stays at the end-of-service value)."""
    for k in ("kc", "ky", "kh", "kp", "kap", "er"):
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


class _Block:
    """Views of one block of batteries (rows ``s:e``) against all applications.

    ``bat`` gives a battery column (b, 1), ``app`` an application row (1, a), ``chem`` a
    chemistry parameter per battery (b, 1) and ``day`` a (chemistry, application) constant (b, a).
    """

    def __init__(self, se, B, A, C, D):
        self.s, self.e = se
        self.code = B["code"][self.s:self.e]
        self.B, self.A, self.C, self.D = B, A, C, D
        self.shape = (self.e - self.s, A["t_amb"].size)

    def bat(self, name: str) -> np.ndarray:
        return self.B[name][self.s:self.e][:, None]

    def app(self, name: str) -> np.ndarray:
        return self.A[name][None, :]

    def chem(self, name: str) -> np.ndarray:
        return self.C[name][self.code][:, None]

    def day(self, name: str) -> np.ndarray:
        return self.D[name][self.code]


@dataclass
class _Electrical:
    """Heat and efficiency constants of the pairs of a block at the start of service (b, a)."""

    ah_nom: np.ndarray
    ah_eff0: np.ndarray
    mean_rise0: np.ndarray
    peak_rise0: np.ndarray
    v_q: np.ndarray
    loss_d: np.ndarray
    loss_c: np.ndarray

    def rte(self, ah_eff_scale) -> np.ndarray:
        """Round-trip efficiency at ``Ah_eff * resistance scale`` (NaN for a duty that moves no charge)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.v_q - ah_eff_scale * self.loss_d) / (self.v_q + ah_eff_scale * self.loss_c)


def _electrical(k: _Block, F0, F1) -> _Electrical:
    g0, r0, kwh = k.bat("g0"), k.bat("r0"), k.bat("kwh")
    ah_nom = kwh * 1000.0 / k.chem("v_nom")
    r1 = k.chem("r1_mohm") * 1e-3 * (1.0 + g0)          # the RC branch ages like R0: R1 = R1_new * (1 + g0)
    ha = k.chem("ha_w_per_k_per_kwh") * kwh / k.bat("phi")           # thermal-instability proxy phi
    ah_eff0 = k.bat("soh") * ah_nom
    heat_scale0 = ah_eff0 ** 2 / ha                                    # K per ohm per (C-rate^2)
    mean_rise0 = heat_scale0 * (r0 * k.day("m0") + r1 * k.day("m1"))
    f0, f1 = F0[k.code], F1[k.code]                                   # (b, a, P)
    peak_rise0 = heat_scale0 * np.max(r0[:, :, None] * f0 + r1[:, :, None] * f1, axis=2)
    return _Electrical(
        ah_nom=ah_nom, ah_eff0=ah_eff0, mean_rise0=mean_rise0, peak_rise0=peak_rise0,
        v_q=k.chem("v_nom") * k.day("q"), loss_d=r0 * k.day("l0d") + r1 * k.day("l1d"),
        loss_c=r0 * k.day("l0c") + r1 * k.day("l1c"))


def _phi(ch, dod, c_mean):
    """Cycling stress per block (see :meth:`ChemistryParams.phi`)."""
    share = ch("dod_share")
    return 1.0 - share + share * np.exp(ch("dod_beta") * (dod ** ch("dod_exp") - 1.0)) + ch("rate_coef") * c_mean


def _knee_throughput(k: _Block, temp_c, dod, soc_mean):
    """Nominal-Ah throughput (EFC) to the knee at a duty, per battery (accelerated agers x0.6)."""
    cold = np.maximum(k.chem("knee_hot_c") - temp_c, 0.0)
    frac = np.maximum(1.0 - k.chem("knee_cold_slope") * cold * dod * soc_mean / 0.5, k.chem("knee_floor"))
    return k.chem("knee_efc") * frac * np.where(k.bat("accel") > 0, k.chem("accel_knee_factor"), 1.0)


def _knee(k: _Block, t_cell0, m_b) -> dict:
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
    return {"n_app": n_app * np.ones(k.shape), "f0": f0 * np.ones(k.shape),
            "Nk": np.maximum(1.0 - f0, 0.0) * n_app,
            "er": cycles * dod * stress * m_b / DAYS_PER_YEAR,            # EFC per day per unit SOH
            "kap": k.chem("knee_kappa") * np.where(k.bat("accel") > 0, k.chem("accel_kappa_factor"), 1.0)}


def _ageing_state(k: _Block, el: _Electrical, opt: TwinOptions):
    """Flat per-pair state of the ageing loop (battery-major), the unfit mask and the knee.

    Both fades are power laws advanced by the equivalent-time rule, ``q = z^p`` with ``z`` growing
    at ``k^(1/p)`` (calendar, per day) or ``k_cyc * phi * g(T) * f_C`` (cycling, per EFC of
    nominal-Ah throughput); ``z`` starts from the first-life state (``cycle_count`` at the
    reference duty, age ``cycle_count / first_life_efc_per_year``).
    """
    shape, ch = k.shape, k.chem
    soh0, g0, cyc0 = k.bat("soh"), k.bat("g0"), k.bat("cycles")
    t_amb, c_rate, dod, cycles = k.app("t_amb"), k.app("c_rate"), k.app("dod"), k.app("cycles")
    heat = opt.self_heating
    m_b = np.clip(k.bat("trend") / ch("trend_ref_pp_per_kefc"), 0.2, 5.0) if opt.use_trend else np.ones_like(soh0)
    t_cell0 = t_amb + (el.mean_rise0 if heat else 0.0)
    inv_r, tr = 1.0 / R_J_PER_MOL_K, 1.0 / _T_REF_K
    p_cal, p_cyc = ch("p_cal"), ch("p_cyc")
    # calendar: SOC stress at T is f_soc^(T_ref/T), folded into the activation energy
    f_soc = k.day("soc_f")
    ea_cal = (ch("ea_cal_j_per_mol") * inv_r - _T_REF_K * np.log(f_soc)) / p_cal       # K, z-space
    kz_cal = (ch("k_cal") * f_soc) ** (1.0 / p_cal)
    # cycling, per day at SOH 1 and 25 degC
    f_c = 1.0 + ch("crate_beta") * np.maximum(c_rate - ch("crate_ref"), 0.0)
    kz_cyc = ch("k_cyc") * _phi(ch, dod, k.day("c_mean")) * f_c * m_b ** (1.0 / p_cyc) * (cycles * dod / DAYS_PER_YEAR)
    w = ch("plating_share")
    ea_hi, ea_pl = ch("ea_cyc_j_per_mol") * inv_r, ch("ea_plating_j_per_mol") * inv_r
    # first-life states: calendar age at 25 degC and SOC 0.5, cycles at the reference duty
    z_cal0 = ch("k_cal") ** (1.0 / p_cal) * cyc0 / opt.first_life_efc_per_year * DAYS_PER_YEAR
    z_cyc0 = ch("k_cyc") * _phi(ch, 0.8, 1.6 / 24.0) * m_b ** (1.0 / p_cyc) * cyc0
    unfit = (soh0 < k.app("min_soh")) | (g0 > k.app("max_g"))
    flat = lambda x: np.array(np.broadcast_to(x, shape), dtype=float).ravel()  # a writable copy
    st = {"pid": np.arange(shape[0] * shape[1]), "soh": flat(soh0), "g1": flat(1.0 + g0),
          "zc": flat(z_cal0), "pc": flat(p_cal), "zy": flat(z_cyc0), "py": flat(p_cyc),
          "rc": flat(ch("rho_cal")), "ry": flat(ch("rho_cyc")), "E": flat(0.0),
          "lim_s": flat(np.where(unfit, -np.inf, k.app("min_soh"))),
          "lim_g": flat(np.where(unfit, np.inf, 1.0 + k.app("max_g")))}
    knee = _knee(k, t_cell0, m_b)
    st.update({key: flat(knee[key]) for key in ("Nk", "er", "kap")})
    st["qc"], st["qy"] = st["zc"] ** st["pc"], st["zy"] ** st["py"]
    if heat:                                                   # Arrhenius factors evaluated every step
        st.update(kc=flat(kz_cal * np.exp(ea_cal * tr)), eac=flat(ea_cal),
                  kh=flat(kz_cyc * (1.0 - w) * np.exp(ea_hi * tr)), eah=flat(ea_hi),
                  kp=flat(kz_cyc * w * np.exp(-ea_pl * tr)), eap=flat(ea_pl),
                  tk=flat(t_amb + _ZERO_C_K), mr=flat(el.mean_rise0 / ((1.0 + g0) * soh0 ** 2)))
        for key, ea in (("kh", "eah"), ("kp", "eap")):         # a branch no pair of the block uses
            if not st[key].any():
                del st[key], st[ea]
    else:                                                      # constant cell temperature: once
        x = 1.0 / (t_amb + _ZERO_C_K) - tr
        g = (1.0 - w) * np.exp(-ea_hi * x) + w * np.exp(ea_pl * x)
        st.update(kc=flat(kz_cal * np.exp(-ea_cal * x)), ky=flat(kz_cyc * g))
    if opt.retire_at_knee:
        del st["kap"]                                          # service ends at the knee: no post-knee fade
    else:
        st["rk"] = flat(ch("rho_knee"))
    return st, unfit, knee


def _fade_step(st: dict, dt_d: float):
    """Advance the state by one step of ``dt_d`` days; return the SOH and growth changes and ``dE``."""
    soh = st["soh"]
    if "tk" in st:                                             # cell temperature from the self-heating
        inv_t = soh * soh
        inv_t *= st["g1"]
        inv_t *= st["mr"]
        inv_t += st["tk"]
        np.reciprocal(inv_t, out=inv_t)
        kc = np.exp(-st["eac"] * inv_t)
        kc *= st["kc"]
        ky = np.zeros_like(soh)
        if "kh" in st:                                          # SEI branch of g(T)
            ky += st["kh"] * np.exp(-st["eah"] * inv_t)
        if "kp" in st:                                          # lithium-plating branch of g(T)
            ky += st["kp"] * np.exp(st["eap"] * inv_t)
    else:
        kc, ky = st["kc"], st["ky"]
    kc = kc * dt_d
    st["zc"] += kc
    dqc = np.power(st["zc"], st["pc"])
    dqc, st["qc"] = dqc - st["qc"], dqc
    ky = ky * soh
    ky *= dt_d
    st["zy"] += ky
    dqy = np.power(st["zy"], st["py"])
    dqy, st["qy"] = dqy - st["qy"], dqy
    dq = dqc + dqy
    dg = st["rc"] * dqc
    dg += st["ry"] * dqy
    de = soh - 0.5 * dq                                         # nominal-Ah throughput (EFC) of the step,
    de *= st["er"]                                              # at the mean SOH over the step
    de *= dt_d
    e0 = st["E"]
    e1 = e0 + de
    if "kap" in st:                                             # post-knee fade kappa * (E - N)^2
        x0, x1 = np.maximum(e0 - st["Nk"], 0.0), np.maximum(e1 - st["Nk"], 0.0)
        dqk = st["kap"] * (x1 * x1 - x0 * x0)
        dq += dqk
        dg += st["rk"] * dqk
    soh -= dq
    st["g1"] += dg
    st["E"] = e1
    return dq, dg, de


@dataclass
class _Ends:
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


def _record_knees(st: dict, ends: _Ends, dq, dg, de, t0: float, t1: float) -> None:
    """Pairs whose throughput reached the knee in the step: interpolate time, SOH and growth."""
    e1 = st["E"]
    ii = np.flatnonzero((e1 >= st["Nk"]) & (e1 - de < st["Nk"]))
    if ii.size:
        w = (st["Nk"][ii] - (e1[ii] - de[ii])) / de[ii]
        pid = st["pid"][ii]
        sp, gp = st["soh"][ii] + dq[ii], st["g1"][ii] - dg[ii]
        ends.t_knee[pid] = t0 + w * (t1 - t0)
        ends.soh_knee[pid] = sp - w * dq[ii]
        ends.g_knee[pid] = gp + w * dg[ii] - 1.0


def _record_hits(st: dict, ends: _Ends, dq, dg, de, t0: float, t1: float) -> bool:
    """Pairs that crossed a limit in the step: interpolate the crossing, freeze them."""
    soh, g1 = st["soh"], st["g1"]
    hit = soh < st["lim_s"]
    hit |= g1 > st["lim_g"]
    if not hit.any():
        return False
    ii = np.flatnonzero(hit)
    sn, gn = soh[ii], g1[ii]
    sp, gp = sn + dq[ii], gn - dg[ii]                          # state before the step
    ls, lg = st["lim_s"][ii], st["lim_g"][ii]
    with np.errstate(divide="ignore", invalid="ignore"):
        fs = np.where(sn < ls, (sp - ls) / (sp - sn), np.inf)
        fg = np.where(gn > lg, (lg - gp) / (gn - gp), np.inf)
    frac = np.clip(np.minimum(fs, fg), 0.0, 1.0)
    pid = st["pid"][ii]
    ends.life[pid] = t0 + frac * (t1 - t0)
    ends.reason[pid] = np.where(fs <= fg, END_REASONS.index("soh"), END_REASONS.index("resistance"))
    ends.soh_end[pid] = sp + frac * (sn - sp)
    ends.g_end[pid] = gp + frac * (gn - gp) - 1.0
    ends.e_end[pid] = st["E"][ii] - (1.0 - frac) * de[ii]
    ends.e_rate[pid] = st["er"][ii] * ends.soh_end[pid] * DAYS_PER_YEAR
    st["lim_s"][ii] = -np.inf                                   # done: never triggers again,
    st["lim_g"][ii] = np.inf
    _freeze(st, ii)                                             # and ages no further
    return True


def _age(st: dict, years: float, t_years: np.ndarray, opt: TwinOptions, path) -> _Ends:
    """The ageing loop over steps on flat, contiguous per-pair arrays; finished pairs drop out."""
    P = st["pid"].size
    unfit = st["lim_s"] == -np.inf
    nan = np.full(P, np.nan)
    ends = _Ends(life=np.where(unfit, 0.0, years), soh_end=st["soh"].copy(), g_end=st["g1"] - 1.0,
                 reason=np.where(unfit, END_REASONS.index("unfit"), END_REASONS.index("horizon")).astype(np.int8),
                 e_end=st["E"].copy(), e_rate=st["er"] * st["soh"] * DAYS_PER_YEAR,
                 t_knee=nan.copy(), soh_knee=nan.copy(), g_knee=nan.copy())
    if path is not None:
        path[:, 0] = st["soh"]
    _freeze(st, np.flatnonzero(unfit))                          # unfit pairs do not age
    if path is None and unfit.any():
        st = _compact(st, ~unfit)
    for n in range(1, t_years.size):
        t0, t1 = t_years[n - 1], t_years[n]
        if t1 <= t0 or st["pid"].size == 0:
            continue
        dq, dg, de = _fade_step(st, (t1 - t0) * DAYS_PER_YEAR)
        if path is not None:
            path[st["pid"], n] = st["soh"]
        _record_knees(st, ends, dq, dg, de, t0, t1)
        if _record_hits(st, ends, dq, dg, de, t0, t1) and path is None and n % opt.steps_per_year == 0:
            st = _compact(st, st["lim_s"] > -np.inf)
    live = st["pid"][st["lim_s"] > -np.inf]
    ends.soh_end[live] = st["soh"][st["lim_s"] > -np.inf]
    ends.g_end[live] = st["g1"][st["lim_s"] > -np.inf] - 1.0
    ends.e_end[live] = st["E"][st["lim_s"] > -np.inf]
    ends.e_rate[live] = st["er"][st["lim_s"] > -np.inf] * ends.soh_end[live] * DAYS_PER_YEAR
    return ends


def _knee_time(ends: _Ends, n_knee: np.ndarray) -> np.ndarray:
    """Knee time: as found in the loop, else extrapolated at the throughput rate of the end of
    service (``inf`` without cycling); 0 when past the knee at the start."""
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(ends.e_rate > 0, (n_knee - ends.e_end) / ends.e_rate, np.inf)
    return np.where(np.isnan(ends.t_knee), ends.life + np.maximum(extra, 0.0), ends.t_knee)


def _simulate_block(se, B, A, C, D, F0, F1, t_years, years, opt: TwinOptions, out, path) -> None:
    k = _Block(se, B, A, C, D)
    s, e = se
    shape = k.shape
    el = _electrical(k, F0, F1)
    st, unfit, knee = _ageing_state(k, el, opt)
    n_knee = st["Nk"].reshape(shape)
    path_flat = path[s:e].reshape(st["pid"].size, -1) if path is not None else None
    ends = _age(st, years, t_years, opt, path_flat)
    t_knee = _knee_time(ends, n_knee.ravel()).reshape(shape)
    life, reason = ends.life.reshape(shape), ends.reason.reshape(shape)
    soh_end, g_end = ends.soh_end.reshape(shape), ends.g_end.reshape(shape)
    soh0, g0 = k.bat("soh"), k.bat("g0")
    past = (knee["f0"] >= 1.0) & ~unfit

    # ---- knee as end of service (seed 000 §2) and as a safety event
    knee_in_service = ~unfit & ~past & (t_knee < life) & (t_knee < years)
    if opt.retire_at_knee:
        soh_end = np.where(knee_in_service, ends.soh_knee.reshape(shape), soh_end)
        g_end = np.where(knee_in_service, ends.g_knee.reshape(shape), g_end)
        reason = np.where(knee_in_service, END_REASONS.index("knee"), reason).astype(np.int8)
    planned_e = ends.e_end.reshape(shape)                                # throughput at the planned end
    if opt.retire_at_knee:
        life = np.where(knee_in_service, t_knee, life)
    life = np.where(past, 0.0, life)
    reason = np.where(past, END_REASONS.index("unfit"), reason).astype(np.int8)
    soh_end = np.where(past, soh0, soh_end)
    g_end = np.where(past, g0, g_end)

    # ---- efficiency and temperature at the start and the end of service
    scale_end = (1.0 + g_end) / (1.0 + g0)
    peak_end = el.peak_rise0 * scale_end * (soh_end / soh0) ** 2
    peak = k.app("t_amb") + np.maximum(el.peak_rise0, peak_end)
    thermal = peak > k.chem("t_limit_c")
    with np.errstate(divide="ignore"):
        z = np.log(np.maximum(knee["f0"] + planned_e / knee["n_app"], 1e-12)) / k.chem("knee_sigma")
    prob = np.where(thermal, 1.0, np.where(unfit, 0.0, _ndtr(z)))
    out["life"][s:e] = life
    out["rte"][s:e] = 0.5 * (el.rte(el.ah_eff0) + el.rte(soh_end * el.ah_nom * scale_end))
    out["peak"][s:e] = peak
    out["breach"][s:e] = thermal | knee_in_service | past
    out["prob"][s:e] = np.where(past, 1.0, prob)
    out["soh_end"][s:e] = soh_end
    out["g_end"][s:e] = g_end
    out["knee"][s:e] = np.where(past, 0.0, t_knee)
    out["reason"][s:e] = reason


# --------------------------------------------------------------------------- reference duties


@dataclass(frozen=True)
class ReferenceDuty:
    """A synthetic duty of the BLAST-Lite cross-check (``tools/blast_reference.py``), in the
    application protocol the twin takes.

    ``cycles_per_day`` cycles of depth ``dod`` at ``c_rate`` swing around ``soc_mid``: each cycle
    owns a slot of ``24/cycles_per_day`` hours, discharges from ``soc_mid + dod/2`` a quarter into
    the slot and charges back three quarters into it, so the cell waits as long full as empty
    (time-mean SOC ``soc_mid``). ``cycles_per_day = 0`` (or ``dod = 0``) is storage at
    ``soc_mid``. With one cycle a day this is the calibration cycle of the original twin
    (discharge at 06:00, charge at 18:00). Fresh-cell limits never end service.
    """

    dod: float
    ambient_c: float
    c_rate: float = 0.5
    cycles_per_day: int = 1
    soc_mid: float = 0.5
    min_soh: float = 0.01
    max_r_growth: float = 1e6

    def __post_init__(self) -> None:
        n = self.cycles_per_day
        if not (isinstance(n, (int, np.integer)) and 0 <= n <= 12):
            raise ValueError(f"ReferenceDuty.cycles_per_day must be an integer in [0, 12], got {n!r}")
        if not (0.0 <= self.dod <= 1.0 and self.c_rate > 0):
            raise ValueError(f"ReferenceDuty: need 0 <= dod <= 1 and c_rate > 0, got {self.dod}, {self.c_rate}")
        if self.soc_mid - self.dod / 2 < -1e-12 or self.soc_mid + self.dod / 2 > 1 + 1e-12:
            raise ValueError(f"ReferenceDuty: SOC swing {self.dod} around {self.soc_mid} leaves [0, 1]")
        if n and self.dod / self.c_rate > 12.0 / n + 1e-9:
            raise ValueError(f"ReferenceDuty: {n} cycles of {self.dod} at {self.c_rate} C do not fit in a day")

    @property
    def cycles(self) -> int:
        """Cycles per day actually run (0 for storage)."""
        return int(self.cycles_per_day) if self.dod > 0 else 0

    @property
    def name(self) -> str:
        if not self.cycles:
            return f"storage_soc{round(self.soc_mid * 100)}_{self.ambient_c:g}C"
        return (f"cycle_{round(self.dod * 100)}dod_{self.ambient_c:g}C_{self.cycles}x"
                f"_{self.c_rate:g}C_soc{round(self.soc_mid * 100)}")

    @property
    def cycles_per_year(self) -> float:
        return self.cycles * DAYS_PER_YEAR

    @property
    def soc_min(self) -> float:
        return self.soc_mid - self.dod / 2.0

    @property
    def soc_max(self) -> float:
        return self.soc_mid + self.dod / 2.0

    @property
    def rest_soc(self) -> float:
        """SOC at midnight (the top of the swing)."""
        return self.soc_max

    def representative_day(self, resolution_min: int = 15):
        spd = 1440 // resolution_min
        dt_h = resolution_min / 60.0
        c = np.zeros(spd)
        if not self.cycles:
            return c, 1.0
        t0 = np.arange(spd) * dt_h                                    # step start (h)
        t1 = t0 + dt_h
        h = self.dod / self.c_rate
        slot = 24.0 / self.cycles

        def overlap(a, b):                                            # hours of [a, b) in each step
            return np.clip(np.minimum(t1, b) - np.maximum(t0, a), 0.0, None)

        for j in range(self.cycles):
            dis, cha = slot * (j + 0.25), slot * (j + 0.75)
            c += self.c_rate * (overlap(cha, cha + h) - overlap(dis, dis + h)) / dt_h
        return c, 1.0

    def soc_trajectory(self, c, resolution_min: int = 15):
        return self.rest_soc + np.concatenate([[0.0], np.cumsum(np.asarray(c) * resolution_min / 60.0)])


def fresh_cell(chem: ChemistryParams) -> pd.DataFrame:
    """A one-row fleet table of a fresh module of ``chem`` (SOH 1, new R0, no first-life cycles,
    reference trend): the state BLAST-Lite simulates."""
    return pd.DataFrame({
        "battery_id": [f"fresh-{chem.name}"], "chemistry": [chem.name], "nominal_kwh": [chem.v_nom * 0.05],
        "soh": [1.0], "r0_mohm": [chem.r_new_mohm], "r_growth": [0.0], "cycle_count": [0.0],
        "degradation_trend": [chem.trend_ref_pp_per_kefc], "accelerated": [False]})


REFERENCE_OPTIONS = TwinOptions(self_heating=False, use_trend=True, retire_at_knee=False, record_path=True)
"""Twin options of the BLAST-Lite comparison: age at the cell temperature BLAST-Lite is given
(no self-heating), reference trend, no retirement at the knee, SOH path kept."""


REFERENCE_YEARS = 10
"""Horizon of the BLAST-Lite reference (``tests/data/blast/reference.csv``)."""


def reference_duty(row, applications: Mapping):
    """The duty of one row of the BLAST-Lite reference table: the named application (from
    ``applications``, e.g. :data:`slopt.fleet.applications.APPLICATIONS`) or a :class:`ReferenceDuty`."""
    if row["kind"] == "application":
        return applications[row["application"]]
    n = int(round(float(row["cycles_per_day"])))
    mid = 0.5 * (float(row["soc_min"]) + float(row["soc_max"]))
    if row["kind"] == "storage":
        return ReferenceDuty(0.0, float(row["temp_c"]), cycles_per_day=0, soc_mid=mid)
    return ReferenceDuty(float(row["dod"]), float(row["temp_c"]), c_rate=float(row["c_rate"]), cycles_per_day=n,
                         soc_mid=mid)


def compare_reference(table: pd.DataFrame, applications: Mapping, chemistry: Mapping | None = None) -> pd.DataFrame:
    """The twin against BLAST-Lite on every row of the reference table (fresh cells, no self-heating).

    Capacities are compared at whole years before BLAST-Lite's knee (``blast_knee_years``; its
    loss-of-active-material cliff), with the twin's post-knee fade off (``knee_kappa = 0``); the
    knee is compared by its time, both capped at the horizon.

    Returns
    -------
    pandas.DataFrame
        ``table`` plus ``twin_q_{y}y``, ``years_compared`` (capacities at years ``1..years_compared``
        are compared), ``max_abs_diff`` over them, ``twin_knee_years`` and ``knee_diff_years``
        (twin - BLAST-Lite, both capped at the horizon).
    """
    chem_map = dict(chemistry or DEFAULT_CHEMISTRY)
    out = table.copy()
    H = REFERENCE_YEARS
    q_twin = np.empty((len(table), H))
    knee = np.empty(len(table))
    for chem, idx in table.groupby("chemistry", sort=False).indices.items():
        params = {chem: replace(chem_map[chem], knee_kappa=0.0)}
        duties = [reference_duty(table.iloc[i], applications) for i in idx]
        res = simulate_twin(fresh_cell(params[chem]), duties, years=float(H),
                            options=replace(REFERENCE_OPTIONS, chemistry=params))
        spy = REFERENCE_OPTIONS.steps_per_year
        q_twin[idx] = res.soh_path[0][:, spy::spy][:, :H]
        knee[idx] = res.knee_years[0]
    blast_q = table[[f"q_{y}y" for y in range(1, H + 1)]].to_numpy(dtype=float)
    bk = table["blast_knee_years"].to_numpy(dtype=float)
    compared = np.where(np.isnan(bk), H, np.floor(np.nan_to_num(bk, nan=H) - 1e-9)).astype(int)
    mask = np.arange(1, H + 1)[None, :] <= compared[:, None]
    diff = np.where(mask, q_twin - blast_q, 0.0)
    for y in range(H):
        out[f"twin_q_{y + 1}y"] = q_twin[:, y]
    out["years_compared"] = compared
    out["max_abs_diff"] = np.abs(diff).max(axis=1)
    out["signed_diff_at_max"] = diff[np.arange(len(diff)), np.abs(diff).argmax(axis=1)]
    out["twin_knee_years"] = knee
    out["knee_diff_years"] = np.minimum(knee, H) - np.minimum(np.nan_to_num(bk, nan=np.inf), H)
    return out

