"""Options of the assignment: economics, pack consistency, solver settings; route names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from slopt import bounds as B
from slopt.errors import ArgumentError, InstanceError

__all__ = ["PackRule", "AssignmentOptions", "check_assignment_options", "ASSIGN_COLUMNS", "REMANUFACTURE", "RECYCLE"]

#: Columns a fleet table needs for the assignment.
ASSIGN_COLUMNS = ("battery_id", "chemistry", "nominal_kwh", "soh", "r_growth")

REMANUFACTURE, RECYCLE = "remanufacture", "recycle"


@dataclass(frozen=True)
class PackRule:
    """Pack consistency of one application's installations (``docs/assignment.md``).

    Every installation holds one chemistry; its SOH spread ``max - min`` is at most
    ``soh_spread`` and its resistance spread ``(max R0 - min R0) / min R0`` at most
    ``r_spread_pu`` (the limits of :func:`slopt.fleet.grading.cluster`). An application has at
    most ``max_installations`` installations; ``None`` derives it from the demand,
    ``ceil(demand_kwh / installation_kwh)`` (an unlimited demand has no limit).
    """

    soh_spread: float = 0.05
    r_spread_pu: float = 0.15
    max_installations: int | None = None
    installation_kwh: float = 50.0

    def __post_init__(self) -> None:
        for f in ("soh_spread", "r_spread_pu", "installation_kwh"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InstanceError.at("PackRule", f, v, "must be a finite number > 0")
        k = self.max_installations
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
            raise InstanceError.at("PackRule", "max_installations", k, "must be an integer >= 0 or None")

    def installations(self, demand_kwh: float) -> int | None:
        """Installations allowed for a demand (None: no limit)."""
        if self.max_installations is not None:
            return int(self.max_installations)
        if not math.isfinite(demand_kwh):
            return None
        return max(1, math.ceil(demand_kwh / self.installation_kwh - 1e-9))


@dataclass(frozen=True)
class AssignmentOptions:
    """Economics, pack consistency and solver settings of :func:`assign`.

    Attributes
    ----------
    repurpose_usd_per_kwh : float
        Testing, repacking and integration cost of a second-life battery (per usable kWh).
    remanufacture_usd_per_kwh : float
        Net value of a module remanufactured for automotive reuse (per usable kWh).
    recycle_usd_per_kwh : float or None
        Net material value of recycling (per nominal kWh); ``None``: each battery's chemistry's
        ``recycle_usd_per_kwh`` (:data:`slopt.battery.chemistry.CHEMISTRIES`; LFP -2, NMC and NCA 8).
    pack : PackRule or None
        Pack consistency of every application (``None``: no rule).
    pack_by_app : mapping of str to PackRule or None
        Per-application overrides (``None`` switches the rule off for that application).
    window_offsets : int
        At fleet scale, installation windows start on a grid of ``spread / window_offsets``.
    exact_windows_max : int
        Exact candidate windows (corners at battery values) when an application has at most
        this many candidate batteries in the model; a grid beyond.
    full_model_max : int
        Fleets up to this size go into the MILP whole.
    windows_model_max : int
        Up to this size a binding pack rule is solved by the whole MILP with window variables;
        beyond, windows come from a model on aggregated cells (:func:`_select_windows`).
    reduced_batteries : int
        Free batteries of the reduced MILP at fleet scale (more when demands need it).
    lp_batteries : int
        Fleets up to this size get their prices from the LP on every battery (exact).
    milp_time_s : float
        Time for the MILPs of one solve: a whole model, or a reduced one (40 %) and then the
        neighbourhood search (rounds of ``lns_batteries`` free batteries, at most ``lns_time_s``
        each, at most ``lns_rounds``).
    gap_tol : float
        Certified relative gap at or below which the plan is reported ``optimal``.
    min_service_years : float
        An application is open to a battery only if the twin gives it at least this many
        years there (0: any life > 0; the value already rewards long lives).
    years : float
        Horizon of the twin (years).
    seed : int
        Seed of the dual warm-start sample.
    solver : SolveOptions or None
        HiGHS options of the MILP (default: optimal for a whole model, 1e-5 of the bound for
        a reduced one, 10 s; the certificate does not rely on them).
    """

    repurpose_usd_per_kwh: float = 40.0
    remanufacture_usd_per_kwh: float = 60.0
    recycle_usd_per_kwh: float | None = 5.0
    pack: PackRule | None = field(default_factory=PackRule)
    pack_by_app: Mapping = field(default_factory=dict)
    window_offsets: int = 2
    exact_windows_max: int = 150
    full_model_max: int = 150
    windows_model_max: int = 2000
    reduced_batteries: int = 200
    lp_batteries: int = 3000
    milp_time_s: float = 10.0
    lns_batteries: int = 80
    lns_rounds: int = 50
    lns_time_s: float = 1.5
    gap_tol: float = 1e-3
    min_service_years: float = 0.0
    years: float = 10.0
    seed: int = 0
    solver: object = None

    def rule(self, app_name: str) -> PackRule | None:
        return self.pack_by_app[app_name] if app_name in self.pack_by_app else self.pack


def check_assignment_options(options) -> None:
    """Apply the bounds of :class:`AssignSpec` to an ``AssignmentOptions`` built in a program.

    Raises
    ------
    ArgumentError
        If ``options`` is not an AssignmentOptions.
    InstanceError
        ``AssignmentOptions.field = value: reason`` for the first value out of its range.
    """
    if not isinstance(options, AssignmentOptions):
        raise ArgumentError(f"options must be an AssignmentOptions, got {type(options).__name__}")
    where = "AssignmentOptions"
    for k in ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh"):
        if k == "recycle_usd_per_kwh" and options.recycle_usd_per_kwh is None:
            continue                                  # per chemistry (slopt.battery.chemistry)
        B.check_range(getattr(options, k), 0.0, B.MAX_USD_PER_KWH, None, f"{where}.{k}")
    B.check_range(options.years, B.MIN_LIFETIME_YEARS, B.MAX_YEARS, None, f"{where}.years")
    B.check_range(options.min_service_years, 0.0, B.MAX_YEARS, None, f"{where}.min_service_years")
    B.check_range(options.milp_time_s, 0.0, 1e5, None, f"{where}.milp_time_s", lo_open=True)
    B.check_range(options.gap_tol, 0.0, 1.0, None, f"{where}.gap_tol")
    rules = [("pack", options.pack)] + [(f"pack_by_app[{k!r}]", r) for k, r in dict(options.pack_by_app).items()]
    for name, rule in rules:
        if rule is None:
            continue
        B.check_range(rule.soh_spread, 0.0, 1.0, None, f"{where}.{name}.soh_spread", lo_open=True)
        B.check_range(rule.r_spread_pu, 0.0, 100.0, None, f"{where}.{name}.r_spread_pu", lo_open=True)
        B.check_range(rule.installation_kwh, 0.0, B.MAX_ENERGY_KWH, None, f"{where}.{name}.installation_kwh",
                      lo_open=True)
        mi = rule.max_installations
        if mi is not None and (isinstance(mi, bool) or not isinstance(mi, int) or not 1 <= mi <= 10**6):
            raise InstanceError.at(None, f"{where}.{name}.max_installations", mi, "must be an integer in [1, 1e6]")
