"""The validated instance: a plain data object (no Pyomo, no pymoo).

``slopt.load_instance(path)`` (in :mod:`slopt.io.loader`) reads a TOML file and its CSV
time series, validates them with the pydantic schema of :mod:`slopt.io.schema`, and
returns an :class:`Instance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from slopt.battery.groups import GROUP_FIELDS, BatteryGroups
from slopt.grid.bus_profiles import BusProfiles
from slopt.grid.feeder import Feeder

__all__ = ["Instance", "Candidates", "DispatchData"]


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
        True: every candidate bus is a site (e.g. buses 8, 18, 30 as in Yuan et al.);
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
class DispatchData:
    """The optional ``[dispatch]`` section: battery groups at one bus and their power request.

    Attributes
    ----------
    bus : int
        Bus (original number) where the groups' unit is connected.
    resolution_min : int
        Step of the request (60, 15 or 5 min; 24 h horizon).
    request_kw : ndarray, shape (T,)
        Power asked of the unit, + charging (consumption), - discharging.
    request_source : str
        The CSV it was read from.
    names, technology : tuple of str, length G
        Group names and technologies (``"new"`` / ``"retired"``).
    groups : BatteryGroups
        Nameplate energy, power rating (Eq. 11a), SOH, efficiencies and SOC window (fractions of
        the usable energy ``soh * e_kwh``) of the G groups, defaults already filled in. Its fields
        are also readable here (``dispatch.e_kwh`` is ``dispatch.groups.e_kwh``).
    soc_initial : ndarray, shape (G,)
        SOC at the start (fraction of the usable energy).
    scenarios : dict[str, ndarray]
        Named variants of the request (``[[dispatch.scenarios]]``), each shape (T,).
    scenario_notes : dict[str, str]
        How each scenario was defined (``"scale 1.5"``, ``"peak 38.9 kW"``, a file).
    priority_b : float
        Scaling parameter ``B`` of Yuan et al. Eq. 9.
    """

    bus: int
    resolution_min: int
    request_kw: np.ndarray
    request_source: str
    names: tuple
    technology: tuple
    groups: BatteryGroups
    soc_initial: np.ndarray
    scenarios: dict = field(default_factory=dict)
    scenario_notes: dict = field(default_factory=dict)
    priority_b: float = 1.0

    def __getattr__(self, name: str):
        """The :class:`BatteryGroups` fields (``e_kwh``, ``p_kw``, ``soh``, ...) read through ``groups``."""
        if name in GROUP_FIELDS and "groups" in self.__dict__:
            return getattr(self.groups, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @property
    def n_steps(self) -> int:
        return int(np.asarray(self.request_kw).size)

    @property
    def dt_h(self) -> float:
        return self.resolution_min / 60.0

    def requests(self) -> dict:
        """``{"base": request_kw, **scenarios}`` in file order."""
        return {"base": self.request_kw, **self.scenarios}


@dataclass(frozen=True)
class Instance:
    """A sizing/operation instance (format: ``docs/instances.md``).

    Attributes
    ----------
    name : str
    path : Path or None
        The TOML file it was read from.
    feeder : Feeder
    vmin_pu, vmax_pu : float
        Voltage band.
    resolution_min : int
        Time step in minutes (60, 15 or 5); the horizon is 24 h, or the whole days of
        ``bus_profiles``.
    load_mult : ndarray, shape (T,)
        Load multiplier per step applied to the feeder's nominal loads (all ones, unused,
        when ``bus_profiles`` is given).
    pv_mult : ndarray, shape (T,)
        PV output per step as a fraction of rated PV power (zeros when ``bus_profiles`` is given).
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
        Room for optional sections added later (fleet, applications).
    dispatch : DispatchData or None
        The optional ``[dispatch]`` section (battery groups and their request).
    bus_profiles : BusProfiles or None
        Per-bus net loads over whole days (``profiles.bus_file`` or ``source = "simbench"``),
        ``load_scale`` and ``gen_scale`` already applied; ``None`` for a one-day instance.
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
    dispatch: DispatchData | None = None
    bus_profiles: BusProfiles | None = None

    @property
    def n_steps(self) -> int:
        return int(self.load_mult.size)

    @property
    def n_days(self) -> int:
        """Number of days covered (1 for a one-day instance)."""
        return 1 if self.bus_profiles is None else self.bus_profiles.n_days

    @property
    def dt_h(self) -> float:
        return self.resolution_min / 60.0

    def net_load_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Net load per step and bus without storage, consumption positive.

        Returns
        -------
        p_kw, q_kvar : ndarray, shape (T, n_bus)
            Buses in ``feeder.bus_ids`` order. PV is subtracted from ``p_kw``. With
            ``bus_profiles``, their arrays (already scaled), T = all steps of all days.
        """
        if self.bus_profiles is not None:
            return self.bus_profiles.p_kw, self.bus_profiles.q_kvar
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
