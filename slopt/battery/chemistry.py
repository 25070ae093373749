"""Cell chemistries in one table: every per-chemistry number slopt uses, with its source.

A :class:`Chemistry` record carries, for one chemistry of the fleet table:

- **the module** (48 V class): nominal voltage ``v_nom`` and the open-circuit-voltage table
  ``ocv_soc``/``ocv_v`` (:meth:`Chemistry.ocv`, the one OCV model of slopt: the twin and the
  synthetic BMS histories both read it);
- **the circuit and heat** of the digital twin: the RC branch ``r1_mohm``/``tau1_s``, a new
  module's resistance ``r_new_mohm``, the lumped thermal data and the cell temperature limit;
- **calendar ageing** ``q_cal = k_cal * soc_stress * A_cal(T) * t^p_cal`` (:meth:`Chemistry.calendar_fade`);
- **cycling ageing** of the twin ``q_cyc = (k_cyc * phi(D, c) * g(T) * f_C * X)^p_cyc``
  (:meth:`Chemistry.cycling_fade`), the **knee** and **resistance growth**;
- **the Woehler cycle-life law** ``N(D) = N100 * D^-k`` of Yuan et al. Eq. 7c (:attr:`Chemistry.cycle_life`);
- **economics**: the net recycling value and a default purchase price of a retired module.

:data:`CHEMISTRIES` is the table. The twin (:mod:`slopt.battery.twin`), the ageing functions
(:mod:`slopt.battery.aging`), fleet generation (:func:`slopt.fleet.generate_fleet`), the
applications' recycling values and the passport's fleet-table mapping all read it. **Adding a
chemistry is one entry here plus its data**: the BLAST-Lite rows in
``tests/data/blast/reference.csv`` (``tools/blast_reference.py --chemistry X``) and the fit in
``tests/data/blast/fit.json`` (``tools/fit_twin.py --only X --write``); see ``docs/chemistry.md``.

**Two cycle-life descriptions, named on purpose.** The twin's cycling law (``k_cyc``, ``p_cyc``,
``dod_*``, ``rate_coef``, ``ea_*``) is fitted to BLAST-Lite's cells and is what the digital twin
ages batteries with. :attr:`Chemistry.woehler` is the nominal Woehler law (LFP
N100 = 5000, k = 1.2; NMC 2000, 1.8; inside the typical ranges LFP N100 3,000-8,000, k 1.0-1.5;
NMC 1,000-3,000, k 1.5-2.2): Yuan et al. Eq. 7c uses it only to weight rainflow cycles ``D^k``
in the dispatch simulator, the economics and the passport's weighted cycle count, and the
figures of Yuan et al. Tables 3-4 (``benchmarks/results/dispatch*``) are computed with it. The
Woehler law the twin implies (:meth:`Chemistry.twin_cycle_life`: LFP N100 ~ 8,700, k ~ 1.34;
NMC ~ 3,400, k ~ 2.9 at 25 degC) is a different cell's; a chemistry without a stated ``woehler`` (NCA) uses that one, so
it has a single source. ``docs/chemistry.md`` tabulates both.

This module is the bottom of the battery layer: numpy only, no other slopt import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

__all__ = [
    "Chemistry", "CHEMISTRIES", "Woehler", "get_chemistry", "chemistry_names", "anode_potential_v", "soc_stress",
    "R_J_PER_MOL_K", "ZERO_C_K", "T_REF_K", "TWIN_FLOAT_FIELDS",
]

R_J_PER_MOL_K = 8.314462618
"""Molar gas constant (J/(mol K))."""
ZERO_C_K = 273.15
"""0 degC in kelvin."""
T_REF_K = 298.15
"""Reference temperature of the ageing laws (25 degC), K."""

_SOC_TOL_PU = 1e-6


# --------------------------------------------------------------------------- Woehler law (Yuan et al. Eq. 7c)


def check_dod(dod_pu, fn: str) -> np.ndarray:
    """Depth of discharge as an array in [0, 1] (a tolerance of 1e-6 above 1 is clipped)."""
    d = np.asarray(dod_pu, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d < 0.0) or np.any(d > 1.0 + _SOC_TOL_PU):
        raise ValueError(f"{fn}: depth of discharge must be finite and in [0, 1] pu")
    return np.minimum(d, 1.0)


def _as_float(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


@dataclass(frozen=True)
class Woehler:
    """Woehler (power-law) cycle life versus depth of discharge: ``N(D) = N100 * D^-k``.

    Attributes
    ----------
    n100_cycles : float
        Cycles to end of life at 100 % depth of discharge.
    k : float
        Woehler exponent (dimensionless, > 0). One cycle of depth D wears ``D^k`` full cycles.
    name : str
        Label.

    Notes
    -----
    ``Woehler.LFP`` and ``Woehler.NMC`` are the ``cycle_life`` of :data:`CHEMISTRIES` (LFP
    N100 = 5000, k = 1.2; NMC 2000, 1.8, inside the typical ranges LFP N100 3,000-8,000,
    k 1.0-1.5; NMC 1,000-3,000, k 1.5-2.2);
    :meth:`for_chemistry` looks any chemistry of the table up.
    """

    n100_cycles: float
    k: float
    name: str = "custom"

    LFP: ClassVar["Woehler"]
    NMC: ClassVar["Woehler"]

    def __post_init__(self) -> None:
        if not (np.isfinite(self.n100_cycles) and self.n100_cycles > 0.0):
            raise ValueError(f"Woehler.n100_cycles must be > 0, got {self.n100_cycles}")
        if not (np.isfinite(self.k) and self.k > 0.0):
            raise ValueError(f"Woehler.k must be > 0, got {self.k}")

    def cycles(self, dod_pu):
        """Cycle life ``N(D) = N100 * D^-k`` at depth ``dod_pu`` (``inf`` at D = 0)."""
        d = check_dod(dod_pu, "Woehler.cycles")
        with np.errstate(divide="ignore"):
            return _as_float(self.n100_cycles * d ** (-float(self.k)))

    def full_cycle_equivalent(self, dod_pu):
        """Full-cycle equivalent of one cycle of depth D: ``N100/N(D) = D^k`` (Eq. 7c)."""
        d = check_dod(dod_pu, "Woehler.full_cycle_equivalent")
        return _as_float(d ** self.k)

    @classmethod
    def for_chemistry(cls, chemistry: str) -> "Woehler":
        """The cycle-life law of a chemistry of :data:`CHEMISTRIES` (name case-insensitive)."""
        return get_chemistry(chemistry).cycle_life


# --------------------------------------------------------------------------- graphite potential (calendar SOC stress)


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


def soc_stress(soc, sens_per_v: float, lin_per_pu: float = 0.0) -> np.ndarray:
    """Calendar-rate multiplier of the SOC: ``exp(-s*(Ua(soc) - Ua(0.5)) + b*(soc - 0.5))``, 1 at SOC 0.5.

    ``s`` is BLAST-Lite's sensitivity to the graphite potential at 25 degC: 11.94 /V for
    ``Lfp_Gr_250AhPrismatic`` (``-p3/T``), 43.78 /V for ``Nmc111_Gr_Kokam75Ah_Battery``
    (``-q1_2/0.123 * 308.15/T``). ``b`` is a sensitivity to the SOC itself, for models written in
    the SOC (``Nca_Gr_Panasonic3Ah_Battery``: ``qcal_C/T`` = 353/298.15 = 1.184 per unit SOC).
    """
    x = -sens_per_v * (anode_potential_v(soc) - _UA_HALF)
    if lin_per_pu:
        x = x + lin_per_pu * (np.asarray(soc, dtype=float) - 0.5)
    return np.exp(x)


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, kw_only=True)
class Chemistry:
    """Everything slopt knows about one cell chemistry (module level). Sources in ``docs/chemistry.md``.

    Identity: ``name`` (the fleet table's ``chemistry`` value), ``description``, ``blast_model``
    (the BLAST-Lite cell the ageing is fitted to; empty if none).

    Module: ``v_nom`` nominal voltage (V); ``ocv_soc``/``ocv_v`` the module OCV table.

    Circuit: ``r1_mohm``, ``tau1_s`` the RC branch (``C1 = tau1/R1``); ``r_new_mohm`` a new
    module's R0. Thermal: ``wh_per_kg`` module specific energy, ``cp_j_per_kg_k``,
    ``ha_w_per_k_per_kwh`` heat transfer per kWh of module, ``t_limit_c`` maximum cell temperature.

    Calendar fade ``q_cal = k_cal * f_soc * A_cal(T) * t^p_cal`` (t in days) at constant
    conditions: ``k_cal`` at 25 degC and SOC 0.5, ``ea_cal_j_per_mol`` (Arrhenius ``A_cal``),
    ``p_cal``, ``soc_sens_per_v`` the sensitivity to the graphite potential and ``soc_lin_per_pu``
    to the SOC at 25 degC (see :func:`soc_stress`; the stress scales as ``298.15/T`` like BLAST-Lite's).

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

    Cycle life (Yuan et al. Eq. 7c): ``woehler``, the nominal Woehler law, or ``None`` to use the
    one the twin's law implies (:attr:`cycle_life`, :meth:`twin_cycle_life`).

    Economics: ``recycle_usd_per_kwh`` net one-off recycling value per nominal kWh (negative: a
    cost); ``price_usd_per_kwh`` default purchase price of a retired module per nominal kWh.
    """

    name: str
    description: str = ""
    blast_model: str = ""
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
    soc_lin_per_pu: float = 0.0
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
    woehler: Woehler | None = None
    recycle_usd_per_kwh: float = 0.0
    price_usd_per_kwh: float = 30.0

    _POSITIVE: ClassVar[tuple] = (
        "v_nom", "r1_mohm", "tau1_s", "r_new_mohm", "wh_per_kg", "cp_j_per_kg_k", "ha_w_per_k_per_kwh", "k_cal",
        "p_cal", "k_cyc", "p_cyc", "dod_exp", "knee_efc", "crate_ref", "knee_sigma", "knee_floor")
    _NON_NEGATIVE: ClassVar[tuple] = (
        "knee_kappa", "rho_cal", "rho_cyc", "rho_knee", "crate_beta", "knee_crate_gamma", "rate_coef", "dod_beta",
        "knee_cold_slope", "accel_knee_factor", "accel_kappa_factor", "ea_plating_j_per_mol", "price_usd_per_kwh",
        "soc_sens_per_v", "ea_cal_j_per_mol", "ea_cyc_j_per_mol")

    def __post_init__(self) -> None:
        def bad(f, v, what):
            raise ValueError(f"Chemistry({self.name}).{f} must be {what}, got {v}")

        if not isinstance(self.name, str) or not self.name.strip():
            bad("name", self.name, "a non-empty string")
        for f in self._POSITIVE:
            if not (math.isfinite(getattr(self, f)) and getattr(self, f) > 0):
                bad(f, getattr(self, f), "finite and > 0")
        for f in self._NON_NEGATIVE:
            if not (math.isfinite(getattr(self, f)) and getattr(self, f) >= 0):
                bad(f, getattr(self, f), "finite and >= 0")
        for f in ("dod_share", "plating_share"):
            if not (math.isfinite(getattr(self, f)) and 0.0 <= getattr(self, f) <= 1.0):
                bad(f, getattr(self, f), "in [0, 1]")
        for f in ("recycle_usd_per_kwh", "soc_lin_per_pu", "t_limit_c", "knee_hot_c"):
            if not math.isfinite(getattr(self, f)):
                bad(f, getattr(self, f), "finite")
        if self.woehler is not None and not isinstance(self.woehler, Woehler):
            bad("woehler", self.woehler, "a Woehler or None")
        if len(self.ocv_soc) != len(self.ocv_v) or len(self.ocv_soc) < 2 or np.any(np.diff(self.ocv_soc) <= 0):
            raise ValueError(f"Chemistry({self.name}): OCV table needs increasing SOC knots")

    # ------------------------------------------------------------------ module and circuit
    def ocv(self, soc, v_nom: float | None = None) -> np.ndarray:
        """Module open-circuit voltage (V) at ``soc`` (linear interpolation of the table); scaled to a
        module of nominal voltage ``v_nom`` (more or fewer cells in series) when given."""
        v = np.interp(np.asarray(soc, dtype=float), self.ocv_soc, self.ocv_v)
        return v if v_nom is None else v * (float(v_nom) / self.v_nom)

    @property
    def c1_f(self) -> float:
        """RC capacitance ``C1 = tau1 / R1`` (F)."""
        return self.tau1_s / (self.r1_mohm * 1e-3)

    @property
    def tau_th_s(self) -> float:
        """Thermal time constant ``m*cp/hA`` (s); independent of module size (both scale with kWh)."""
        return 1000.0 / self.wh_per_kg * self.cp_j_per_kg_k / self.ha_w_per_k_per_kwh

    # ------------------------------------------------------------------ ageing laws
    def phi(self, dod, c_mean) -> np.ndarray:
        """Cycling stress of depth ``dod`` at time-mean ``|C-rate|`` ``c_mean`` (1 at DoD 1, no rate)."""
        d = np.asarray(dod, dtype=float)
        return (1.0 - self.dod_share + self.dod_share * np.exp(self.dod_beta * (d ** self.dod_exp - 1.0))
                + self.rate_coef * np.asarray(c_mean))

    def g_temp(self, temp_c) -> np.ndarray:
        """Temperature factor of the cycling fade, ``g(T)``, 1 at 25 degC."""
        x = 1.0 / (np.asarray(temp_c, dtype=float) + ZERO_C_K) - 1.0 / T_REF_K
        return ((1.0 - self.plating_share) * np.exp(-self.ea_cyc_j_per_mol / R_J_PER_MOL_K * x)
                + self.plating_share * np.exp(self.ea_plating_j_per_mol / R_J_PER_MOL_K * x))

    def soc_stress(self, soc) -> np.ndarray:
        """Calendar-rate multiplier of the SOC at 25 degC (:func:`soc_stress` of this chemistry)."""
        return soc_stress(soc, self.soc_sens_per_v, self.soc_lin_per_pu)

    def calendar_fade(self, t_days, temp_c=25.0, soc=0.5) -> np.ndarray:
        """Calendar fade (pu) of a fresh module stored ``t_days`` at constant ``temp_c`` and ``soc``.

        ``k_cal * f_soc(soc)^(T_ref/T) * exp(-Ea_cal/R (1/T - 1/T_ref)) * t^p_cal`` (the SOC
        stress scales as ``T_ref/T``, as BLAST-Lite's); the twin advances the same law with the
        equivalent-time rule for a time-varying temperature.
        """
        t_k = np.asarray(temp_c, dtype=float) + ZERO_C_K
        arr = np.exp(-self.ea_cal_j_per_mol / R_J_PER_MOL_K * (1.0 / t_k - 1.0 / T_REF_K))
        f_soc = self.soc_stress(soc) ** (T_REF_K / t_k)
        return self.k_cal * f_soc * arr * np.asarray(t_days, dtype=float) ** self.p_cal

    def cycling_fade(self, efc, dod, temp_c=25.0, c_mean=0.0, c_peak=0.5) -> np.ndarray:
        """Cycling fade (pu) after ``efc`` equivalent full cycles of depth ``dod`` at constant
        conditions: ``(k_cyc * phi(dod, c_mean) * g(T) * f_C(c_peak) * efc)^p_cyc``."""
        f_c = 1.0 + self.crate_beta * np.maximum(np.asarray(c_peak, dtype=float) - self.crate_ref, 0.0)
        z = self.k_cyc * self.phi(dod, c_mean) * self.g_temp(temp_c) * f_c * np.asarray(efc, dtype=float)
        return z ** self.p_cyc

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

    # ------------------------------------------------------------------ cycle life
    def twin_cycle_life(self, eol_fade: float = 0.2, c_rate: float = 0.5) -> Woehler:
        """The Woehler law the twin's cycling fade implies at 25 degC.

        Cycles of depth D, one a day at ``c_rate`` (``c_mean = 2 D / 24`` per h), until the
        cycling fade alone reaches ``eol_fade``: ``X(D) = eol_fade^(1/p_cyc) / (k_cyc phi(D,
        c_mean) f_C)`` EFC, ``N(D) = X(D)/D``. ``N100 = N(1)`` and ``k`` is the least-squares
        slope of ``log N`` on ``-log D`` through ``(0, log N100)`` over D = 0.2, 0.3, ..., 1.
        """
        d = np.linspace(0.2, 1.0, 9)
        f_c = 1.0 + self.crate_beta * max(c_rate - self.crate_ref, 0.0)
        x = eol_fade ** (1.0 / self.p_cyc) / (self.k_cyc * self.phi(d, 2.0 * d / 24.0) * f_c)
        n = x / d
        ld = np.log(d)
        k = float(-np.dot(ld, np.log(n) - math.log(n[-1])) / np.dot(ld, ld))
        return Woehler(n100_cycles=float(n[-1]), k=k, name=f"{self.name} (twin)")

    @property
    def cycle_life(self) -> Woehler:
        """The Woehler law of Yuan et al. Eq. 7c for this chemistry: ``woehler`` if stated, else
        :meth:`twin_cycle_life`."""
        return self.woehler if self.woehler is not None else self.twin_cycle_life()


TWIN_FLOAT_FIELDS = tuple(f.name for f in fields(Chemistry)
                          if f.name not in ("name", "description", "blast_model", "ocv_soc", "ocv_v", "woehler",
                                            "recycle_usd_per_kwh", "price_usd_per_kwh"))
"""The numeric fields the twin vectorises over (one array per field, one entry per chemistry)."""


def _cell_table(cells: int, volts) -> tuple:
    return tuple(round(cells * v, 4) for v in volts)


_SOC_KNOTS = (0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 0.95, 1.0)

CHEMISTRIES: dict[str, Chemistry] = {
    "LFP": Chemistry(
        name="LFP", description="lithium iron phosphate / graphite, 16s 48 V module",
        blast_model="Lfp_Gr_250AhPrismatic",
        v_nom=51.2, ocv_soc=_SOC_KNOTS, ocv_v=_cell_table(16, (2.80, 3.10, 3.20, 3.26, 3.29, 3.33, 3.38, 3.55)),
        r1_mohm=12.0, tau1_s=40.0, r_new_mohm=30.0,
        wh_per_kg=110.0, cp_j_per_kg_k=1050.0, ha_w_per_k_per_kwh=2.5, t_limit_c=55.0,
        # ageing: fitted to BLAST-Lite Lfp_Gr_250AhPrismatic by tools/fit_twin.py (tests/data/blast/fit.json);
        # the knee is ours (BLAST-Lite's LFP model has none)
        k_cal=0.0004859, ea_cal_j_per_mol=46610.0, soc_sens_per_v=11.94, p_cal=0.5288,
        k_cyc=1.241e-05, p_cyc=0.8133, dod_share=1.0, dod_beta=0.477, dod_exp=0.7192, rate_coef=3.293,
        ea_cyc_j_per_mol=3.073, plating_share=1.0, ea_plating_j_per_mol=22480.0, crate_ref=0.65,
        knee_efc=8000.0, knee_cold_slope=0.003, rho_cal=1.0, rho_cyc=2.0,
        woehler=Woehler(n100_cycles=5000.0, k=1.2, name="LFP"),
        recycle_usd_per_kwh=-2.0, price_usd_per_kwh=25.0),
    "NMC": Chemistry(
        name="NMC", description="nickel manganese cobalt oxide / graphite, 14s 48 V module",
        blast_model="Nmc111_Gr_Kokam75Ah_Battery",
        v_nom=51.8, ocv_soc=_SOC_KNOTS, ocv_v=_cell_table(14, (3.00, 3.40, 3.50, 3.62, 3.80, 4.05, 4.11, 4.20)),
        r1_mohm=15.0, tau1_s=30.0, r_new_mohm=28.0,
        wh_per_kg=140.0, cp_j_per_kg_k=1000.0, ha_w_per_k_per_kwh=2.5, t_limit_c=45.0,
        # ageing and knee: fitted to BLAST-Lite Nmc111_Gr_Kokam75Ah_Battery by tools/fit_twin.py
        k_cal=0.001244, ea_cal_j_per_mol=58770.0, soc_sens_per_v=43.78, p_cal=0.3562,
        k_cyc=3.737e-05, p_cyc=0.7848, dod_share=0.9403, dod_beta=2.884, dod_exp=2.496, rate_coef=0.0,
        ea_cyc_j_per_mol=59070.0, plating_share=0.0, ea_plating_j_per_mol=10490.0, crate_ref=1.0,
        knee_efc=7877.0, knee_cold_slope=0.01445, rho_cal=2.0, rho_cyc=3.0,
        woehler=Woehler(n100_cycles=2000.0, k=1.8, name="NMC"),
        recycle_usd_per_kwh=8.0, price_usd_per_kwh=40.0),
    "NCA": Chemistry(
        name="NCA", description="nickel cobalt aluminium oxide / graphite, 14s 48 V module",
        blast_model="Nca_Gr_Panasonic3Ah_Battery",
        v_nom=50.4, ocv_soc=_SOC_KNOTS, ocv_v=_cell_table(14, (3.00, 3.30, 3.42, 3.58, 3.82, 4.05, 4.10, 4.20)),
        r1_mohm=15.0, tau1_s=30.0, r_new_mohm=30.0,
        wh_per_kg=150.0, cp_j_per_kg_k=1000.0, ha_w_per_k_per_kwh=2.5, t_limit_c=45.0,
        # ageing: fitted to BLAST-Lite Nca_Gr_Panasonic3Ah_Battery by tools/fit_twin.py; its calendar
        # law is written in the SOC (soc_lin_per_pu = qcal_C/298.15), not the graphite potential.
        # The knee is ours (BLAST-Lite's NCA model has none); no stated Woehler law: the twin's.
        k_cal=0.001863, ea_cal_j_per_mol=26360.0, soc_sens_per_v=0.0, soc_lin_per_pu=1.184, p_cal=0.5113,
        k_cyc=1.183e-05, p_cyc=0.6987, dod_share=1.0, dod_beta=5.202, dod_exp=0.3, rate_coef=0.0,
        ea_cyc_j_per_mol=15710.0, plating_share=1.0, ea_plating_j_per_mol=456.8, crate_ref=0.5,
        knee_efc=3000.0, knee_cold_slope=0.01, rho_cal=2.0, rho_cyc=3.0,
        woehler=None, recycle_usd_per_kwh=8.0, price_usd_per_kwh=40.0),
}
"""The chemistries of the fleet table, by name. Numbers and sources: ``docs/chemistry.md``."""

Woehler.LFP = CHEMISTRIES["LFP"].cycle_life
Woehler.NMC = CHEMISTRIES["NMC"].cycle_life


def chemistry_names() -> tuple:
    """Names of :data:`CHEMISTRIES`, in table order."""
    return tuple(CHEMISTRIES)


def get_chemistry(name) -> Chemistry:
    """The :class:`Chemistry` called ``name`` (case-insensitive, surrounding spaces ignored).

    Raises
    ------
    ValueError
        For a name that is not in :data:`CHEMISTRIES` (the message lists the known ones).
    """
    if isinstance(name, Chemistry):
        return name
    key = str(name).strip().upper()
    for k, c in CHEMISTRIES.items():
        if k.upper() == key:
            return c
    raise ValueError(f"unknown chemistry {name!r}; expected one of {', '.join(CHEMISTRIES)}")
