"""The twin's inputs as arrays: per battery, per application, per chemistry, and block views of them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.chemistry import TWIN_FLOAT_FIELDS, Chemistry
from slopt.battery.twin.day import DayTable
from slopt.errors import ArgumentError, InstanceError

__all__ = ["BatteryInputs", "ApplicationInputs", "ChemistryArrays", "Block", "FLEET_COLUMNS", "fleet_table",
           "application_list"]

FLEET_COLUMNS = ("battery_id", "chemistry", "nominal_kwh", "soh", "r0_mohm", "r_growth", "cycle_count",
                 "degradation_trend")
"""Fleet-table columns the twin reads (``accelerated``, ``t_min_c`` and ``t_max_c`` optional)."""


def fleet_table(fleet) -> pd.DataFrame:
    """The fleet's DataFrame (a ``Fleet`` or the frame itself), with the columns the twin reads."""
    table = fleet.table if hasattr(fleet, "table") else fleet
    if not isinstance(table, pd.DataFrame):
        raise ArgumentError(f"simulate_twin: fleet must be a Fleet or a pandas DataFrame, got {type(fleet).__name__}")
    missing = [c for c in FLEET_COLUMNS if c not in table.columns]
    if missing:
        raise InstanceError.at(None, "fleet", f"columns {list(table.columns)[:8]}", f"lacks columns {missing}")
    return table


def application_list(applications) -> list:
    """Applications as a list: from a mapping by name, a sequence, or one application."""
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
class BatteryInputs:
    """Per-battery arrays, shape (n_battery,).

    ``code`` chemistry index; ``kwh`` nominal energy; ``soh``; ``r0`` R0 (ohm); ``g0`` resistance
    growth; ``cycles`` first-life EFC; ``trend`` measured degradation trend; ``phi`` thermal-history
    factor on the temperature rises; ``accel`` accelerated ager.
    """

    code: np.ndarray
    kwh: np.ndarray
    soh: np.ndarray
    r0: np.ndarray
    g0: np.ndarray
    cycles: np.ndarray
    trend: np.ndarray
    phi: np.ndarray
    accel: np.ndarray

    @classmethod
    def from_table(cls, table: pd.DataFrame, code: np.ndarray, thermal_history_ref_k) -> "BatteryInputs":
        col = lambda name: table[name].to_numpy(dtype=float)
        accel = (table["accelerated"].to_numpy(dtype=bool) if "accelerated" in table.columns
                 else np.zeros(len(table), bool))
        return cls(code=code, kwh=col("nominal_kwh"), soh=col("soh"), r0=col("r0_mohm") * 1e-3, g0=col("r_growth"),
                   cycles=col("cycle_count"), trend=col("degradation_trend"),
                   phi=_thermal_factor(table, thermal_history_ref_k), accel=accel)

    def take(self, idx: np.ndarray) -> "BatteryInputs":
        """The batteries at ``idx`` (a permutation or a selection)."""
        return BatteryInputs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _thermal_factor(table: pd.DataFrame, ref_k) -> np.ndarray:
    """Temperature-rise multiplier from the first-life temperature range (TwinOptions)."""
    if ref_k is None or "t_min_c" not in table.columns or "t_max_c" not in table.columns:
        return np.ones(len(table))
    spread = table["t_max_c"].to_numpy(dtype=float) - table["t_min_c"].to_numpy(dtype=float)
    return np.clip(spread / ref_k, 0.5, 2.0)


@dataclass(frozen=True)
class ApplicationInputs:
    """Per-application arrays, shape (n_app,): peak C-rate, cycles per year, depth, ambient, limits."""

    c_rate: np.ndarray
    cycles: np.ndarray
    dod: np.ndarray
    t_amb: np.ndarray
    min_soh: np.ndarray
    max_g: np.ndarray

    @classmethod
    def from_apps(cls, apps: list) -> "ApplicationInputs":
        f = lambda attr: np.array([float(getattr(a, attr)) for a in apps])
        return cls(c_rate=f("c_rate"), cycles=f("cycles_per_year"), dod=f("dod"), t_amb=f("ambient_c"),
                   min_soh=f("min_soh"), max_g=f("max_r_growth"))


class ChemistryArrays:
    """The twin's numeric :class:`~slopt.battery.chemistry.Chemistry` fields, one array per field
    with one entry per chemistry (in the order of ``chems``); ``get(name)`` by field name."""

    NAMES = TWIN_FLOAT_FIELDS + ("trend_ref_pp_per_kefc",)

    def __init__(self, chems: list[Chemistry]):
        self._arrays = {k: np.array([getattr(c, k) for c in chems], dtype=float) for k in self.NAMES}

    def get(self, name: str) -> np.ndarray:
        return self._arrays[name]


class Block:
    """Views of one block of batteries (rows ``s:e``) against all applications.

    ``bat`` gives a battery column (b, 1), ``app`` an application row (1, a), ``chem`` a
    chemistry parameter per battery (b, 1) and ``day`` a (chemistry, application) constant (b, a).
    """

    def __init__(self, se, batteries: BatteryInputs, apps: ApplicationInputs, chems: ChemistryArrays, days: DayTable):
        self.s, self.e = se
        self.code = batteries.code[self.s:self.e]
        self.batteries, self.apps, self.chems, self.days = batteries, apps, chems, days
        self.shape = (self.e - self.s, apps.t_amb.size)

    def bat(self, name: str) -> np.ndarray:
        return getattr(self.batteries, name)[self.s:self.e][:, None]

    def app(self, name: str) -> np.ndarray:
        return getattr(self.apps, name)[None, :]

    def chem(self, name: str) -> np.ndarray:
        return self.chems.get(name)[self.code][:, None]

    def day(self, name: str) -> np.ndarray:
        return getattr(self.days, name)[self.code]
