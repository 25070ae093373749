"""What the digital twin returns: per (battery, application) arrays and their tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slopt.battery.twin.options import END_REASONS

__all__ = ["TwinResult"]


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

