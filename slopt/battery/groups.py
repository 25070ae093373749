"""Battery groups that share one storage unit's power, and their state (declared once).

:class:`BatteryGroups` holds the seven per-group fields of Yuan et al. §4.2 (energy, rating,
SOH, efficiencies, SOC window). The instance's ``[dispatch]`` section
(:class:`slopt.io.instance.DispatchData`), the dispatch strategies (:mod:`slopt.dispatch`) and
the dispatch model's data (:class:`slopt.models.dispatch.DispatchModelData`) all hold one
:class:`BatteryGroups` instead of declaring the fields again. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["BatteryGroups", "GroupState", "GROUP_FIELDS"]


@dataclass(frozen=True)
class BatteryGroups:
    """Static data of battery groups, arrays broadcastable to ``(..., G)``.

    Attributes
    ----------
    e_kwh : nameplate energy; usable energy is ``soh * e_kwh``.
    p_kw : converter rating (charge and discharge, Eq. 11a).
    soh : state of health in (0, 1].
    eta_charge, eta_discharge : one-way efficiencies.
    soc_min, soc_max : SOC window (Eq. 11b), fractions of usable energy.
    """

    e_kwh: np.ndarray
    p_kw: np.ndarray
    soh: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray

    @property
    def usable_kwh(self) -> np.ndarray:
        """Usable energy ``soh * e_kwh``."""
        return self.soh * self.e_kwh

    def arrays(self) -> dict:
        """The fields as a dict (field name -> array), e.g. to build a modified copy."""
        return {f: getattr(self, f) for f in GROUP_FIELDS}


GROUP_FIELDS = tuple(f.name for f in fields(BatteryGroups))
"""Names of the :class:`BatteryGroups` fields, in order."""


@dataclass
class GroupState:
    """Dynamic state: stored energy (kWh) per group and the step length (h)."""

    e_stored_kwh: np.ndarray
    dt_h: float
