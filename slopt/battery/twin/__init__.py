"""Per-battery digital twin: every battery of a fleet in every application's duty cycle, for years.

What it computes (Kumar et al. §3C; ``docs/twin.md``): for each battery ``b`` and application ``a``,
the expected second life in years, the round-trip efficiency, the peak cell temperature,
whether the safety margin is breached (and a probability of it), the SOH and resistance growth
at the end, and the time to the ageing knee. Arrays are shaped ``(n_battery, n_app)``;
:meth:`TwinResult.as_frame` gives the long table.

The model, per battery (module level; symbols as in ``docs/twin.md``):

1. **1RC Thevenin circuit** ``V = OCV(SOC) + I*R0 + v1``, ``C1 dv1/dt = I - v1/R1`` (``I > 0``
   charges; :mod:`slopt.battery.circuit`); R0 is the fleet's measured ``r0_mohm``, R1 and
   ``tau1 = R1*C1`` are per chemistry (R1 aged like R0). The current is ``I = c(t) * SOH *
   Ah_nom`` for the application's C-rate series ``c(t)``.
2. **Lumped thermal model** ``m*cp*dT/dt = Q - hA*(T - T_amb)`` with the Joule and polarisation
   heat ``Q = I^2*R0 + I*v1``. The periodic steady state of the representative day gives the
   peak and the mean temperature rise; the losses of the same day give the round-trip
   efficiency (:mod:`slopt.battery.twin.day`).
3. **Capacity fade** ``SOH = SOH0 - dq_cal - dq_cyc (- dq_knee)``: power laws of BLAST-Lite's
   forms advanced with the equivalent-time rule from the battery's first-life state, calendar
   and cycling (depth, temperature with an SEI and a lithium-plating branch, C-rate, the
   battery's own measured trend), and the **knee** (Tang et al. §3.3, §4.2.1, §4.3.1) by Miner's
   rule; service ends at the knee by default (Tang et al. §2) (:mod:`slopt.battery.twin.ageing`).
4. **Resistance growth** ``dg = rho_cal*dq_cal + rho_cyc*dq_cyc + rho_knee*dq_knee``, which
   raises R0 and R1, hence the heat, the temperature (fed back into the Arrhenius rates at each
   step) and the losses.

Every per-chemistry number comes from :data:`slopt.battery.chemistry.CHEMISTRIES`; the ageing
parameters are fitted to BLAST-Lite (:mod:`slopt.battery.twin.calibration`, ``tools/fit_twin.py``).

Modules: :mod:`~slopt.battery.twin.options` (options, end reasons), :mod:`~slopt.battery.twin.day`
(the representative day's constants), :mod:`~slopt.battery.twin.inputs` (the inputs as arrays),
:mod:`~slopt.battery.twin.ageing` (the ageing loop and its state),
:mod:`~slopt.battery.twin.simulate` (:func:`simulate_twin`), :mod:`~slopt.battery.twin.result`
(:class:`TwinResult`), :mod:`~slopt.battery.twin.calibration` (BLAST-Lite reference).

Why hand-written, not BLAST-Lite or PyBaMM: the twin is the product. It must evaluate
100,000 batteries x 8 applications x 10 years in seconds (``benchmarks/twin.py``), take a
second-life battery's measured state (SOH, R0, resistance growth, cycle count, trend) as its
starting point, couple resistance growth to heat and efficiency, and model the knee and its
uncertainty. BLAST-Lite simulates one fresh cell at a time in Python loops, has no circuit or
thermal model and pins numpy < 2; it is the reference instead.

This package imports nothing from the layers above ``battery``: it takes any fleet object with a
``table`` DataFrame (``slopt.fleet.Fleet``) or the DataFrame itself, and application objects
with the fields of :class:`slopt.fleet.applications.Application` and its two methods
``representative_day(resolution_min) -> (c_rate, activity)`` and
``soc_trajectory(c_rate, resolution_min) -> soc``.
"""

from slopt.battery.chemistry import CHEMISTRIES, Chemistry, anode_potential_v, soc_stress
from slopt.battery.circuit import rc_voltage, thermal_response
from slopt.battery.twin.calibration import (REFERENCE_OPTIONS, REFERENCE_YEARS, ReferenceDuty, compare_reference,
                                            fresh_cell, reference_duty)
from slopt.battery.twin.options import DAYS_PER_YEAR, END_REASONS, TwinOptions
from slopt.battery.twin.result import TwinResult
from slopt.battery.twin.simulate import simulate_twin

ChemistryParams = Chemistry
"""Former name of :class:`slopt.battery.chemistry.Chemistry` (kept for existing code)."""

DEFAULT_CHEMISTRY = CHEMISTRIES
"""Former name of :data:`slopt.battery.chemistry.CHEMISTRIES` (the same dict)."""

__all__ = [
    "ChemistryParams", "DEFAULT_CHEMISTRY", "TwinOptions", "TwinResult", "simulate_twin",
    "rc_voltage", "thermal_response", "anode_potential_v", "soc_stress", "END_REASONS", "DAYS_PER_YEAR",
    "ReferenceDuty", "fresh_cell", "REFERENCE_OPTIONS", "REFERENCE_YEARS", "reference_duty", "compare_reference",
]
