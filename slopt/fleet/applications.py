"""Second-life applications of Tang et al. §4 and Kumar et al. §3D, end-of-life routes, duty cycles.

An :class:`Application` holds what the digital twin (:mod:`slopt.battery.twin`) and the
assignment need to know about one power-system use of retired batteries:

- the requirements of Tang et al. §4.4 made numeric: C-rate, cycles per year, depth of
  discharge, SOC window, ambient temperature, minimum SOH, maximum resistance growth;
- the economics: second-life value of the delivered service and the default demand;
- a daily schedule (which half of the cycle comes first, at what hour, the rest between the
  halves) from which :func:`duty_cycle` builds a C-rate series.

:data:`APPLICATIONS` holds the eight applications. :data:`ROUTES` are the two
end-of-life routes besides echelon use (Tang et al. §2): remanufacture (SOH >= 0.8) and recycle.

Every number, its source (Tang et al. Table 3 power-to-energy ratios, Tang et al. §2 SOH
thresholds, Kumar et al. §5a) or the note "ours", is in ``docs/applications.md``.

Sign convention: C-rate > 0 charges, < 0 discharges; C-rate is relative to the battery's
current usable capacity, so a depth of discharge is a fraction of that capacity too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

import numpy as np

from slopt.battery.chemistry import CHEMISTRIES
from slopt.errors import InstanceError

__all__ = [
    "Application", "APPLICATIONS", "ROUTES", "REMANUFACTURE_MIN_SOH", "ECHELON_MIN_SOH", "RECYCLE_VALUE_USD_PER_KWH",
    "REMANUFACTURE_VALUE_USD_PER_KWH", "route_feasible", "duty_cycle", "soc_trajectory",
    "representative_day", "scale_demands", "DAYS_PER_YEAR",
]

DAYS_PER_YEAR = 365.0
"""Days in a year of the duty-cycle and twin calendars (as BLAST-Lite)."""

_FIRST = ("discharge", "charge", "centred")
_TOL = 1e-9


@dataclass(frozen=True)
class Application:
    """A second-life application and its requirements (one row of ``docs/applications.md``).

    Attributes
    ----------
    name : str
        Key, e.g. ``"frequency_regulation"``.
    c_rate : float
        Peak charge/discharge rate (1/h) of the duty cycle, relative to usable capacity.
    cycles_per_year : float
        Cycles of depth ``dod`` per year (>= 0); equivalent full cycles are ``cycles * dod``.
    dod : float
        Depth of each cycle, in (0, 1], fraction of usable capacity.
    soc_min, soc_max : float
        SOC window, ``0 <= soc_min < soc_max <= 1``.
    ambient_c : float
        Ambient temperature at the site (degC).
    min_soh : float
        Second life in this application ends when SOH falls below this (pu); an end-of-service
        threshold, not an entry rule (see :data:`ECHELON_MIN_SOH`).
    max_r_growth : float
        Second life ends when resistance growth (relative to new, ``R/R_new - 1``) exceeds this.
    value_usd_per_kwh_year : float
        Second-life value of the delivered service per kWh of usable capacity and year (USD).
    demand_kwh : float
        Default usable capacity the application can absorb for the 120-module default fleet
        (kWh; ``inf`` = unlimited). Override with :func:`dataclasses.replace` or
        :func:`scale_demands`.
    description, source : str
        What the application is; where the numbers come from.
    first_half : str
        ``"discharge"`` (rests full, e.g. backup), ``"charge"`` (rests empty, e.g. PV) or
        ``"centred"`` (rests mid-window and swings ``+dod/2``, ``-dod``, ``+dod/2`` around it,
        e.g. frequency regulation).
    start_hours : tuple of float
        Start hour of the 1st, 2nd, ... cycle of a day; days with more cycles than listed
        hours spread them evenly.
    gap_h : float
        Rest between the two halves of a cycle (h).
    jitter_h : float
        Half-width of the seeded random shift of each start time (h).
    """

    name: str
    c_rate: float
    cycles_per_year: float
    dod: float
    soc_min: float
    soc_max: float
    ambient_c: float
    min_soh: float
    max_r_growth: float
    value_usd_per_kwh_year: float
    demand_kwh: float
    description: str = ""
    source: str = ""
    first_half: str = "discharge"
    start_hours: tuple = (0.0,)
    gap_h: float = 0.0
    jitter_h: float = 0.5

    def __post_init__(self) -> None:
        where = f"application {self.name!r}"

        def bad(field, value, reason):
            raise InstanceError.at(where, field, value, reason)

        if not isinstance(self.name, str) or not self.name.strip():
            bad("name", self.name, "must be a non-empty string")
        for f in ("c_rate", "cycles_per_year", "dod", "soc_min", "soc_max", "ambient_c", "min_soh",
                  "max_r_growth", "value_usd_per_kwh_year", "gap_h", "jitter_h"):
            v = getattr(self, f)
            if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
                bad(f, v, "must be a finite number")
        if not isinstance(self.demand_kwh, (int, float, np.integer, np.floating)) or math.isnan(self.demand_kwh):
            bad("demand_kwh", self.demand_kwh, "must be a number (inf for unlimited)")
        if self.c_rate <= 0:
            bad("c_rate", self.c_rate, "must be > 0")
        if self.cycles_per_year < 0:
            bad("cycles_per_year", self.cycles_per_year, "must be >= 0")
        if not 0 < self.dod <= 1:
            bad("dod", self.dod, "must be in (0, 1]")
        if not 0 <= self.soc_min < self.soc_max <= 1:
            bad("soc_min", self.soc_min, f"need 0 <= soc_min < soc_max <= 1 (soc_max = {self.soc_max})")
        if self.first_half not in _FIRST:
            bad("first_half", self.first_half, f"must be one of {', '.join(_FIRST)}")
        window = self.soc_max - self.soc_min
        if self.dod > window + _TOL:
            bad("dod", self.dod, f"exceeds the usable SOC swing {window:g} of the window "
                                 f"[{self.soc_min:g}, {self.soc_max:g}] ({self.first_half} first)")
        if not -60 <= self.ambient_c <= 70:
            bad("ambient_c", self.ambient_c, "must be in [-60, 70] degC")
        if not 0 < self.min_soh <= 1:
            bad("min_soh", self.min_soh, "must be in (0, 1]")
        if self.max_r_growth < 0:
            bad("max_r_growth", self.max_r_growth, "must be >= 0")
        if self.value_usd_per_kwh_year < 0:
            bad("value_usd_per_kwh_year", self.value_usd_per_kwh_year, "must be >= 0")
        if self.demand_kwh < 0:
            bad("demand_kwh", self.demand_kwh, "must be >= 0")
        if self.gap_h < 0 or self.jitter_h < 0:
            bad("gap_h", self.gap_h, "gap_h and jitter_h must be >= 0")
        hours = tuple(float(h) for h in self.start_hours)
        if any(not (0 <= h < 24) for h in hours):
            bad("start_hours", self.start_hours, "must lie in [0, 24)")
        object.__setattr__(self, "start_hours", hours)
        if self.cycle_h > 24 + _TOL:
            bad("gap_h", self.gap_h, f"one cycle (2 x {self.half_cycle_h:g} h + gap) must fit in 24 h")

    # ------------------------------------------------------------------ derived
    @property
    def half_cycle_h(self) -> float:
        """Duration of one half cycle at the peak C-rate: ``dod / c_rate`` (h)."""
        return self.dod / self.c_rate

    @property
    def cycle_h(self) -> float:
        """Duration of one cycle including the rest between its halves (h)."""
        return 2.0 * self.half_cycle_h + self.gap_h

    @property
    def cycles_per_day(self) -> float:
        return self.cycles_per_year / DAYS_PER_YEAR

    @property
    def efc_per_year(self) -> float:
        """Equivalent full cycles per year, ``cycles_per_year * dod``."""
        return self.cycles_per_year * self.dod

    @property
    def rest_soc(self) -> float:
        """SOC between cycles: ``soc_max`` (discharge first), ``soc_min`` (charge first) or mid."""
        if self.first_half == "discharge":
            return self.soc_max
        if self.first_half == "charge":
            return self.soc_min
        return 0.5 * (self.soc_min + self.soc_max)

    def representative_day(self, resolution_min: int = 15) -> tuple[np.ndarray, float]:
        """See :func:`representative_day` (the protocol the digital twin uses)."""
        return representative_day(self, resolution_min)

    def soc_trajectory(self, c_rate, resolution_min: int = 15) -> np.ndarray:
        """See :func:`soc_trajectory`."""
        return soc_trajectory(self, c_rate, resolution_min)

    def with_(self, **changes) -> "Application":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


# --------------------------------------------------------------------------- routes

ROUTES = ("remanufacture", "recycle")
"""End-of-life routes besides the applications (Tang et al. §2, Fig. 6)."""

REMANUFACTURE_MIN_SOH = 0.8
"""Remanufacture for traction use needs SOH >= 0.8, the first-life end of life (Tang et al. §2)."""

ECHELON_MIN_SOH = 0.55
"""Floor for echelon use: repurposed cells must deliver >= 55 % of rated capacity (IEEE Std
2993-2025, GB/T 34015.3-2021; Tang et al. §2). An entry rule, not an application's end of life."""

REMANUFACTURE_VALUE_USD_PER_KWH = 40.0
"""One-off value of a remanufactured module per nominal kWh, net of refurbishment (ours)."""

RECYCLE_VALUE_USD_PER_KWH = {name: c.recycle_usd_per_kwh for name, c in CHEMISTRIES.items()}
"""Net one-off recycling value per nominal kWh, by chemistry: the ``recycle_usd_per_kwh`` of
:data:`slopt.battery.chemistry.CHEMISTRIES` (ours; LFP -2, NMC and NCA 8). LFP recycling is usually
unprofitable (Tang et al. §2, ref. [35]: no cobalt or nickel), hence a small cost."""


def route_feasible(route: str, soh) -> np.ndarray:
    """Whether a route is open to batteries of the given SOH (vectorised).

    ``remanufacture``: ``SOH >= 0.8``; ``recycle``: always.
    """
    from slopt.errors import ArgumentError, InstanceError
    from slopt.checks import as_float_array

    s = as_float_array(soh, "route_feasible", "soh")
    if not isinstance(route, str):
        raise ArgumentError(f"route_feasible: route must be a route name ({', '.join(ROUTES)}), got {type(route).__name__}")
    if route == "remanufacture":
        return s >= REMANUFACTURE_MIN_SOH - 1e-12
    if route == "recycle":
        return np.ones(s.shape, dtype=bool)
    raise InstanceError.at(None, "route_feasible: route", route if isinstance(route, str) else type(route).__name__,
                           f"unknown route; expected one of {', '.join(ROUTES)}")


# --------------------------------------------------------------------------- the eight applications

_T3 = "Tang et al. Table 3"
APPLICATIONS: dict[str, Application] = {
    a.name: a
    for a in (
        Application(
            name="grid_time_shift", c_rate=0.125, cycles_per_year=365, dod=0.8, soc_min=0.1, soc_max=0.95,
            ambient_c=25.0, min_soh=0.60, max_r_growth=1.5, value_usd_per_kwh_year=25.0, demand_kwh=25.0,
            description="Generator-side energy time shift / congestion relief: long, daily, deep cycles",
            source=f"{_T3}: B2U 1.5 MW/12.5 MWh (0.12 C), 3 MW/28 MWh (0.11 C); Tang et al. §4.1 "
                   "sustained discharge; Tang et al. §2 SOH 60 % as second-life end; rest ours",
            first_half="charge", start_hours=(0.0,), gap_h=9.6),
        Application(
            name="solar_pv", c_rate=0.5, cycles_per_year=330, dod=0.7, soc_min=0.1, soc_max=0.9,
            ambient_c=30.0, min_soh=0.60, max_r_growth=1.5, value_usd_per_kwh_year=30.0, demand_kwh=20.0,
            description="PV self-consumption storage: charge at midday, discharge in the evening",
            source=f"{_T3}: GM/ABB buildings 0.025 MW/0.05 MWh (0.5 C); Kumar et al. §3D solar needs good "
                   "cycling and efficiency; Tang et al. §2 SOH 60 % end; rest ours",
            first_half="charge", start_hours=(10.0,), gap_h=6.6),
        Application(
            name="residential_backup", c_rate=0.5, cycles_per_year=24, dod=0.8, soc_min=0.1, soc_max=0.95,
            ambient_c=25.0, min_soh=0.40, max_r_growth=2.5, value_usd_per_kwh_year=12.0, demand_kwh=20.0,
            description="Backup power: floats full, rare outages and monthly tests, low efficiency tolerated",
            source="Tang et al. §2: SOH 40 % as second-life end (refs [28, 29]); §4.2.3 infrequent use, low "
                   "efficiency tolerated; Kumar et al. §3D backup for lower-performance batteries; rest ours",
            first_half="discharge", start_hours=(19.0,), gap_h=0.5),
        Application(
            name="frequency_regulation", c_rate=1.0, cycles_per_year=2190, dod=0.25, soc_min=0.2, soc_max=0.8,
            ambient_c=25.0, min_soh=0.70, max_r_growth=1.0, value_usd_per_kwh_year=80.0, demand_kwh=10.0,
            description="Frequency regulation: many shallow cycles at high C-rate around mid SOC",
            source=f"{_T3}: BMW/Bosch 2 MW/2.8 MWh (0.71 C), Connected Energy 1.2 MW/0.72 MWh (1.67 C); "
                   "Tang et al. §4.2.1 high C-rate, plating, knee; §4.4 reliability first; rest ours",
            first_half="centred", start_hours=(), gap_h=0.0, jitter_h=1.0),
        Application(
            name="peak_shaving", c_rate=0.25, cycles_per_year=250, dod=0.8, soc_min=0.1, soc_max=0.95,
            ambient_c=25.0, min_soh=0.60, max_r_growth=1.5, value_usd_per_kwh_year=35.0, demand_kwh=15.0,
            description="Peak shaving: discharge over the evening peak on working days, recharge at night",
            source=f"{_T3}: BAK/CSG 2 MW/7.2 MWh (0.28 C), Alfen/Vattenfall 5 MW/20 MWh (0.25 C); "
                   "Tang et al. §4.2.2 long rests; Tang et al. §2 SOH 60 % end; rest ours",
            first_half="discharge", start_hours=(17.0,), gap_h=4.8),
        Application(
            name="microgrid", c_rate=0.5, cycles_per_year=438, dod=0.7, soc_min=0.1, soc_max=0.9,
            ambient_c=5.0, min_soh=0.60, max_r_growth=1.5, value_usd_per_kwh_year=55.0, demand_kwh=10.0,
            description="Remote microgrid: daily balancing, sometimes twice a day, cold site",
            source="Tang et al. §4.3.1 harsh conditions (high C-rate, low temperature); Tang et al. §2 SOH 60 % "
                   "as second-life end; rest ours",
            first_half="charge", start_hours=(6.0, 18.0), gap_h=4.0),
        Application(
            name="commercial_industrial", c_rate=0.25, cycles_per_year=300, dod=0.8, soc_min=0.1, soc_max=0.95,
            ambient_c=25.0, min_soh=0.60, max_r_growth=1.5, value_usd_per_kwh_year=40.0, demand_kwh=15.0,
            description="C&I park storage: night charge, daytime discharge, controlled environment",
            source=f"{_T3}: Aeroporti di Roma 2.5 MW/10 MWh (0.25 C); Tang et al. §4.3.2 controlled "
                   "environment, no high C-rates; Tang et al. §2 SOH 60 % end; rest ours",
            first_half="charge", start_hours=(0.0,), gap_h=6.8),
        Application(
            name="ev_charging_buffer", c_rate=0.8, cycles_per_year=730, dod=0.6, soc_min=0.1, soc_max=0.9,
            ambient_c=30.0, min_soh=0.65, max_r_growth=1.0, value_usd_per_kwh_year=60.0, demand_kwh=10.0,
            description="EV fast-charging buffer: two charging peaks a day at high C-rate, outdoor cabinet",
            source=f"{_T3}: Connected Energy 0.3 MW/0.36 MWh (0.83 C), Galp/TES 0.18 MW/0.368 MWh (0.49 C); "
                   "Tang et al. §4.3.4 high C-rate peaks; §4.4 reliability first; rest ours",
            first_half="discharge", start_hours=(8.0, 17.0), gap_h=1.0),
    )
}
"""The eight second-life applications, keyed by name."""


def scale_demands(applications: Mapping[str, Application] | Iterable[Application], factor: float
                  ) -> dict[str, Application]:
    """Copies of the applications with ``demand_kwh`` multiplied by ``factor`` (in [0, 1e4],
    :data:`slopt.bounds.MAX_SCALE`)."""
    from slopt.checks import as_number
    from slopt.bounds import MAX_SCALE

    factor = as_number(factor, "scale_demands", "factor", 0.0, MAX_SCALE)
    apps = applications.values() if isinstance(applications, Mapping) else applications
    return {a.name: replace(a, demand_kwh=a.demand_kwh * factor) for a in apps}


# --------------------------------------------------------------------------- duty cycles


def _steps_per_day(resolution_min: int) -> int:
    if not isinstance(resolution_min, (int, np.integer)) or resolution_min <= 0 or 1440 % resolution_min:
        raise ValueError(f"resolution_min must be a positive divisor of 1440, got {resolution_min!r}")
    return 1440 // int(resolution_min)


def _segment(amount: float, c_rate: float, dt_h: float) -> np.ndarray:
    """Steps at ``c_rate`` moving ``amount`` of SOC: whole steps, then one partial step."""
    h_steps = amount / c_rate / dt_h
    n_full = int(math.floor(h_steps + 1e-9))
    frac = h_steps - n_full
    return np.asarray([c_rate] * n_full + ([c_rate * frac] if frac > 1e-9 else []))


def _cycle_pattern(app: Application, resolution_min: int) -> np.ndarray:
    """C-rate of one cycle, per step.

    Every segment runs at the peak C-rate for whole steps; a last, partial step carries the
    rest, so the segment moves exactly its share of ``dod`` and never exceeds ``c_rate``.
    ``discharge``: ``-dod``, rest ``gap_h``, ``+dod``; ``charge``: the mirror image;
    ``centred``: ``+dod/2``, ``-dod``, rest, ``+dod/2`` (one rainflow cycle of depth ``dod``
    around the rest SOC).
    """
    dt_h = resolution_min / 60.0
    gap = np.zeros(int(round(app.gap_h / dt_h)))
    half = _segment(app.dod, app.c_rate, dt_h)
    if app.first_half == "centred":
        quarter = _segment(app.dod / 2.0, app.c_rate, dt_h)
        return np.concatenate([quarter, -half, gap, quarter])
    pattern = np.concatenate([-half, gap, half])
    return pattern if app.first_half == "discharge" else -pattern


def _build(app: Application, resolution_min: int, days: int, n_cycles: int, rng, jitter: bool) -> np.ndarray:
    spd = _steps_per_day(resolution_min)
    n = spd * days
    out = np.zeros(n)
    if n_cycles == 0:
        return out
    pattern = _cycle_pattern(app, resolution_min)
    length = pattern.size
    if n_cycles * length > n:
        raise ValueError(f"{app.name}: {n_cycles} cycles of {app.cycle_h:g} h do not fit in {days} day(s)")
    i = np.arange(n_cycles)
    day = np.floor((i + 0.5) * days / n_cycles).astype(np.int64)
    first_of_day = np.searchsorted(day, day)                        # index of the day's first cycle
    rank = i - first_of_day                                          # 0, 1, ... within the day
    per_day = np.bincount(day, minlength=days)[day]
    hours = np.asarray(app.start_hours, dtype=float)
    listed = per_day <= hours.size
    even = (rank + 0.5) * 24.0 / per_day - app.cycle_h / 2.0        # evenly spread, centred slots
    start_h = np.where(listed, hours[np.minimum(rank, max(hours.size - 1, 0))] if hours.size else even, even)
    if jitter and app.jitter_h > 0:
        start_h = start_h + rng.uniform(-app.jitter_h, app.jitter_h, n_cycles)
    dt_h = resolution_min / 60.0
    start = day * spd + np.round(start_h / dt_h).astype(np.int64)

    # no overlap, s[k+1] >= s[k] + length: push later cycles forward (a running maximum of
    # s[k] - k*length), then pull them back under the latest feasible starts n - (n_cycles-k)*length;
    # the minimum keeps the spacing because the bounds are themselves spaced by length.
    s = np.clip(start, 0, n - length)
    s = np.maximum.accumulate(s - i * length) + i * length
    s = np.minimum(s, n - (n_cycles - i) * length)
    idx = s[:, None] + np.arange(length)[None, :]
    out[idx] = pattern[None, :]
    return out


def duty_cycle(app: Application, resolution_min: int = 15, days: int = 1, seed=0) -> np.ndarray:
    """C-rate per step (1/h, + charge) of ``days`` days of the application's operation.

    The series holds ``round(cycles_per_year * days / 365)`` cycles. Each cycle is a half of
    depth ``dod`` at the peak ``c_rate`` (discharge or charge first, per ``app.first_half``), a
    rest of ``gap_h`` and the opposite half; a ``"centred"`` cycle swings ``+dod/2, -dod, +dod/2``
    around mid-window. The SOC returns to :attr:`Application.rest_soc` after every cycle and stays
    inside ``[soc_min, soc_max]``. Cycles are spread evenly over the days; the
    cycles of a day start at ``app.start_hours`` (or evenly spaced when a day has more cycles
    than listed hours), shifted by a seeded uniform jitter of ``+-jitter_h``. Rainflow counting of
    the SOC (:func:`soc_trajectory`) finds the cycles, each of depth ``dod``.

    Parameters
    ----------
    app : Application
    resolution_min : int
        Step length (min), a divisor of 1440.
    days : int
        Number of days (>= 1).
    seed : int or numpy.random.Generator
        Randomness of the start-time jitter.

    Returns
    -------
    numpy.ndarray, shape (days * 1440 / resolution_min,)
        C-rate per step; ``|c| <= app.c_rate``; sums to zero (charge balance).

    Raises
    ------
    ValueError
        Bad resolution or days, or the cycles do not fit in the horizon.
    """
    if not isinstance(days, (int, np.integer)) or days < 1:
        raise ValueError(f"days must be an integer >= 1, got {days!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_cycles = int(round(app.cycles_per_year * days / DAYS_PER_YEAR))
    return _build(app, resolution_min, int(days), n_cycles, rng, jitter=True)


def representative_day(app: Application, resolution_min: int = 15) -> tuple[np.ndarray, float]:
    """One active day of the application and how often it occurs.

    The day holds ``n = max(1, round(cycles_per_day))`` cycles at the canonical start times (no
    jitter). The returned ``activity =
    cycles_per_day / n`` scales day-averaged quantities (mean heat, throughput) to the yearly
    average: 1 for daily cycling, 24/365 for backup with 24 cycles a year.

    Returns
    -------
    (numpy.ndarray, float)
        The C-rate series of the day and ``activity``.
    """
    n = max(1, int(round(app.cycles_per_day)))
    profile = _build(app, resolution_min, 1, n, None, jitter=False)
    return profile, app.cycles_per_day / n


def soc_trajectory(app: Application, c_rate, resolution_min: int = 15) -> np.ndarray:
    """SOC at the step boundaries of a C-rate series, starting from ``app.rest_soc``.

    ``soc[k] = rest_soc + sum_{j<k} c[j] * dt_h``; shape ``(T + 1,)`` for a (T,) series, or
    ``(..., T + 1)`` for a batch.
    """
    c = np.asarray(c_rate, dtype=float)
    dt_h = resolution_min / 60.0
    soc = np.cumsum(c * dt_h, axis=-1)
    pad = [(0, 0)] * (c.ndim - 1) + [(1, 0)]
    return app.rest_soc + np.pad(soc, pad)
