"""Options of the digital twin and the codes of why a battery's service ended."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from slopt.battery.chemistry import CHEMISTRIES

__all__ = ["TwinOptions", "END_REASONS", "DAYS_PER_YEAR"]

DAYS_PER_YEAR = 365.0
"""Days in a year of the twin's calendar (as BLAST-Lite)."""

END_REASONS = ("horizon", "soh", "resistance", "knee", "unfit")
"""Codes of :attr:`TwinResult.end_reason`: service lasted the horizon; SOH fell below the
application's minimum; resistance growth exceeded its maximum; the ageing knee was reached;
the battery was below a limit (or past its knee) at the start."""


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
        End second life at the knee (Tang et al. §2). If False, keep running with post-knee fade.
    use_trend : bool
        Scale each battery's cycling fade by ``degradation_trend / trend_ref`` (clipped to
        [0.2, 5]).
    first_life_efc_per_year : float
        Equivalent cycles per first-life year, to turn ``cycle_count`` into a first-life age for
        the calendar clock (ours: 150).
    chemistry : Mapping[str, Chemistry]
        Parameters per chemistry name of the fleet table (default: :data:`slopt.battery.chemistry.CHEMISTRIES`).
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
    chemistry: Mapping = field(default_factory=lambda: dict(CHEMISTRIES))
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
