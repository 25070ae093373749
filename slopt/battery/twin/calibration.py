"""Calibration against BLAST-Lite: the reference duties, a fresh cell, and the comparison.

The committed reference ``tests/data/blast/reference.csv`` (``tools/blast_reference.py``) holds
BLAST-Lite's remaining capacity of fresh cells on every application's duty and on a grid of
synthetic duties (:class:`ReferenceDuty`); :func:`compare_reference` runs the twin on the same
duties, and ``tools/fit_twin.py`` fits the ageing parameters of
:data:`slopt.battery.chemistry.CHEMISTRIES` to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.chemistry import CHEMISTRIES, Chemistry
from slopt.battery.twin.options import DAYS_PER_YEAR, TwinOptions
from slopt.battery.twin.simulate import simulate_twin

__all__ = ["ReferenceDuty", "fresh_cell", "REFERENCE_OPTIONS", "REFERENCE_YEARS", "reference_duty",
           "compare_reference"]


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


def fresh_cell(chem: Chemistry) -> pd.DataFrame:
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
    chem_map = dict(chemistry or CHEMISTRIES)
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

