"""The validated instance: a plain data object (no Pyomo, no pymoo).

``slopt.load_instance(path)`` (in :mod:`slopt.io.loader`) reads a TOML file and its CSV
time series, validates them with the pydantic schema of :mod:`slopt.io.schema`, and
returns an :class:`Instance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from slopt.battery.cost import Technology
from slopt.grid.feeder import Feeder

__all__ = ["Instance", "Candidates"]


@dataclass(frozen=True)
class Candidates:
    """Where storage may be built.

    Attributes
    ----------
    bus_ids : ndarray of int
        Candidate buses (original bus numbers).
    e_max_kwh, p_max_kw : ndarray, shape (n_cand,)
        Upper bounds on the nameplate energy and power per candidate and technology
        (the same bound applies to each technology).
    e_min_kwh : ndarray, shape (n_cand,)
        Minimum energy if a site is built (0 allows any size).
    max_sites : int
        Maximum number of buses that get storage (free siting).
    fixed : bool
        True: every candidate bus is a site (e.g. buses 8, 18, 30 as in seed 002);
        False: the optimiser chooses at most ``max_sites`` of them.
    """

    bus_ids: np.ndarray
    e_max_kwh: np.ndarray
    p_max_kw: np.ndarray
    e_min_kwh: np.ndarray
    max_sites: int
    fixed: bool = True

    @property
    def n(self) -> int:
        return int(np.asarray(self.bus_ids).size)


@dataclass(frozen=True)
class Instance:
    """A sizing/operation instance (DESIGN section 2).

    Attributes
    ----------
    name : str
    path : Path or None
        The TOML file it was read from.
    feeder : Feeder
    vmin_pu, vmax_pu : float
        Voltage band.
    resolution_min : int
        Time step in minutes (60, 15 or 5); the horizon is 24 h.
    load_mult : ndarray, shape (T,)
        Load multiplier per step applied to the feeder's nominal loads.
    pv_mult : ndarray, shape (T,)
        PV output per step as a fraction of rated PV power.
    pv_bus_ids : ndarray of int, shape (n_pv,)
    pv_kw : ndarray, shape (n_pv,)
        Rated PV power per PV bus (kW); PV runs at unity power factor.
    technologies : dict[str, Technology]
        ``"new"`` and/or ``"retired"``.
    candidates : Candidates
    load_scale : float
        Extra factor on the nominal loads (1.0 = MATPOWER loads).
    description : str
        Free text from the instance file.
    profile_source : str
        Where the multipliers came from (the CSV path, or ``"built-in <res>-min"``).
    extra : dict
        Room for optional sections added later (dispatch, fleet, applications).
    """

    name: str
    path: Path | None
    feeder: Feeder
    vmin_pu: float
    vmax_pu: float
    resolution_min: int
    load_mult: np.ndarray
    pv_mult: np.ndarray
    pv_bus_ids: np.ndarray
    pv_kw: np.ndarray
    technologies: dict
    candidates: Candidates
    load_scale: float = 1.0
    description: str = ""
    profile_source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return int(self.load_mult.size)

    @property
    def dt_h(self) -> float:
        return self.resolution_min / 60.0

    def net_load_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Net load per step and bus without storage, consumption positive.

        Returns
        -------
        p_kw, q_kvar : ndarray, shape (T, n_bus)
            Buses in ``feeder.bus_ids`` order. PV is subtracted from ``p_kw``.
        """
        f = self.feeder
        m = self.load_scale * np.asarray(self.load_mult)[:, None]
        p = m * f.p_load_kw[None, :]
        q = m * f.q_load_kvar[None, :]
        if len(self.pv_bus_ids):
            pv = np.zeros(f.n_bus)
            np.add.at(pv, f.index_of(self.pv_bus_ids), self.pv_kw)
            p = p - np.asarray(self.pv_mult)[:, None] * pv[None, :]
        return p, q

    def with_(self, **changes) -> "Instance":
        """A modified copy (inputs are never mutated)."""
        return replace(self, **changes)
