"""Per-bus load profiles over any whole number of days (a year of smart-meter or SimBench data).

Two sources give the same data object, :class:`BusProfiles` (net load per step and bus,
arrays ``(T, n_bus)`` in the feeder's internal bus order, kW and kvar, consumption
positive):

* per-bus series (one column per bus, kW; optional ``q:<bus>`` columns in kvar, else the
  bus's nominal power factor): :func:`from_bus_columns`;
* per-profile multipliers (one column per profile name, e.g. SimBench's ``H0-A_pload``,
  ``H0-A_qload``, ``PV5``), each element of the feeder (:class:`~slopt.grid.elements.GridElements`)
  taking its own profile times its rated power: :func:`from_profile_table`.

The time axis is checked by :func:`check_time_axis`: sorted, no duplicates, no gaps, one
uniform step of 60, 15 or 5 min, starting at 00:00 and covering whole days. Timestamps are
naive (local standard time or UTC, no daylight-saving jumps: a day has exactly 24 h).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from slopt.errors import InstanceError
from slopt.grid.elements import GridElements
from slopt.grid.feeder import Feeder
from slopt.grid.profiles import RESOLUTIONS_MIN
from slopt.bounds import MAX_POWER_KW

__all__ = ["BusProfiles", "ProfileTable", "check_time_axis", "check_values", "from_bus_columns",
           "from_profile_table", "profile_columns"]

_MIN = np.timedelta64(1, "m")
_BUS_NAME = re.compile(r"[+-]?[0-9]{1,10}")


@dataclass(frozen=True, eq=False)
class ProfileTable:
    """Named time series on a checked time axis (multipliers or kW, depending on the use).

    Attributes
    ----------
    names : tuple of str
        Column names.
    values : ndarray, shape (T, n_columns)
    resolution_min : int
    start : numpy.datetime64 or None
        Time of the first step (``None`` if the source gave times of day only).
    source : str
        File or data set, for error messages.
    """

    names: tuple
    values: np.ndarray
    resolution_min: int
    start: np.datetime64 | None
    source: str = ""

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


@dataclass(frozen=True, eq=False)
class BusProfiles:
    """Net load per step and bus over whole days.

    Attributes
    ----------
    p_kw, q_kvar : ndarray, shape (T, n_bus)
        Net load (consumption positive, generation subtracted), buses in the feeder's
        internal order (``feeder.bus_ids``). C-contiguous float64.
    resolution_min : int
        60, 15 or 5.
    start : numpy.datetime64 or None
        Start of the first step.
    source : str
        Where the data came from.
    p_gen_kw, q_gen_kvar : ndarray, shape (T, n_bus), or None
        The generation included in ``p_kw``/``q_kvar`` (positive = generation), when the
        source separates it (per-profile data); used by :meth:`scaled`.
    """

    p_kw: np.ndarray
    q_kvar: np.ndarray
    resolution_min: int
    start: np.datetime64 | None = None
    source: str = ""
    p_gen_kw: np.ndarray | None = None
    q_gen_kvar: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        return int(self.p_kw.shape[0])

    @property
    def steps_per_day(self) -> int:
        return 24 * 60 // self.resolution_min

    @property
    def n_days(self) -> int:
        return self.n_steps // self.steps_per_day

    @property
    def dt_h(self) -> float:
        return self.resolution_min / 60.0

    def times(self) -> np.ndarray:
        """Start of every step (``datetime64[m]``; from 1970-01-01 if the start is unknown)."""
        t0 = np.datetime64(0, "m") if self.start is None else self.start.astype("datetime64[m]")
        return t0 + np.arange(self.n_steps) * self.resolution_min * _MIN

    def by_day(self) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(p_kw, q_kvar)`` of shape (n_days, steps_per_day, n_bus)."""
        shape = (self.n_days, self.steps_per_day, self.p_kw.shape[1])
        return self.p_kw.reshape(shape), self.q_kvar.reshape(shape)

    def scaled(self, load: float = 1.0, gen: float = 1.0) -> "BusProfiles":
        """A copy with consumption times ``load`` and generation times ``gen``.

        Raises
        ------
        InstanceError
            If ``gen != 1`` but the source did not separate generation from load.
        """
        if load == 1.0 and gen == 1.0:
            return self
        if self.p_gen_kw is None:
            if gen != 1.0:
                raise InstanceError.at(self.source, "gen_scale", gen,
                                       "these profiles are net loads per bus; generation cannot be scaled separately")
            return BusProfiles(self.p_kw * load, self.q_kvar * load, self.resolution_min, self.start, self.source)
        pg, qg = self.p_gen_kw, self.q_gen_kvar
        p = (self.p_kw + pg) * load - pg * gen
        q = (self.q_kvar + qg) * load - qg * gen
        return BusProfiles(p, q, self.resolution_min, self.start, self.source, pg * gen, qg * gen)


# ----------------------------------------------------------------------------- checks
def check_time_axis(times, source, *, column: str = "time", resolution_min: int | None = None,
                    first_line: int = 2) -> tuple[int, np.datetime64]:
    """Check a time column; return ``(resolution_min, start)``.

    Parameters
    ----------
    times : array of datetime64
        Step start times, NaT where a cell could not be parsed.
    resolution_min : int, optional
        Required step; by default the step found in the data (must be 60, 15 or 5).
    first_line : int
        File line of ``times[0]`` (for messages; 2 = after a header line).

    Raises
    ------
    InstanceError
        One line naming the source, the row and the problem: unparsable or missing time,
        duplicate, unsorted, gap or non-uniform step, a step that is not 60/15/5 min, a
        start that is not 00:00, or a length that is not a whole number of days.
    """
    t = np.asarray(times).astype("datetime64[s]")
    n = t.size
    row = lambda k: f"row {k + 1}, {column}"  # noqa: E731
    line = lambda k: f"line {k + first_line}"  # noqa: E731
    if n < 2:
        raise InstanceError.at(source, "rows", n, "need at least two time steps")
    nat = np.flatnonzero(np.isnat(t))
    if nat.size:
        k = int(nat[0])
        raise InstanceError.at(source, row(k), "", f"missing or unreadable time ({line(k)})")
    d = np.diff(t).astype(np.int64)  # seconds
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        what = "duplicate time" if d[k - 1] == 0 else "time is not sorted (earlier than the row before)"
        raise InstanceError.at(source, row(k), str(t[k]), f"{what} ({line(k)})")
    step = int(d[0]) if resolution_min is None else int(resolution_min) * 60
    if step % 60 or step // 60 not in RESOLUTIONS_MIN:
        raise InstanceError.at(source, row(1), str(t[1]),
                               f"step of {step / 60:g} min; must be 60, 15 or 5 min ({line(1)})")
    bad = np.flatnonzero(d != step)
    if bad.size:
        k = int(bad[0]) + 1
        gap = d[k - 1] > step and d[k - 1] % step == 0
        what = (f"gap: {d[k - 1] // step - 1} missing step(s) before this row" if gap
                else f"non-uniform step ({d[k - 1] / 60:g} min after the previous row, expected {step // 60})")
        raise InstanceError.at(source, row(k), str(t[k]), f"{what} ({line(k)})")
    res = step // 60
    start = t[0]
    if (start - start.astype("datetime64[D]")).astype(np.int64) != 0:
        raise InstanceError.at(source, row(0), str(start), f"the first step must start at 00:00 ({line(0)})")
    per_day = 24 * 60 // res
    if n % per_day:
        raise InstanceError.at(source, "rows", n, f"not a whole number of days: {n} steps of {res} min "
                               f"= {n / per_day:.3f} days (a day has {per_day} steps)")
    return res, start.astype("datetime64[m]")


def check_values(values: np.ndarray, names, source, *, first_line: int = 2, cap: float = MAX_POWER_KW) -> None:
    """Every value finite and at most ``cap`` in magnitude (default
    :data:`slopt.bounds.MAX_POWER_KW`); else a one-line error naming the row and the column."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= cap)          # NaN compares False: caught too
    if bad.any():
        k, j = (int(x) for x in np.argwhere(bad)[0])
        v = values[k, j]
        reason = "must be a finite number" if not np.isfinite(v) else f"must be at most {cap:g} in magnitude"
        raise InstanceError.at(source, f"row {k + 1}, {names[j]}", v, f"{reason} (line {k + first_line})")


# ----------------------------------------------------------------------------- mapping
def from_bus_columns(feeder: Feeder, table: ProfileTable) -> BusProfiles:
    """Per-bus table: column ``"<bus>"`` is the bus's net load in kW, ``"q:<bus>"`` in kvar.

    A bus without a ``q:`` column takes its nominal power factor (``q = p * q_load / p_load``,
    zero if it has no nominal load). A bus with a nominal load but no column is an error;
    buses without load and without a column have zero load.

    Raises
    ------
    InstanceError
        For a column that is not a bus of the feeder, a duplicate, or a missing loaded bus.
    """
    src = table.source
    T = table.values.shape[0]
    p = np.zeros((T, feeder.n_bus))
    q = np.zeros((T, feeder.n_bus))
    has_p, has_q = np.zeros(feeder.n_bus, bool), np.zeros(feeder.n_bus, bool)
    for j, name in enumerate(table.names):
        is_q = name.lower().startswith("q:")
        key = name[2:].strip() if is_q else name
        if not _BUS_NAME.fullmatch(key):      # ASCII digits only: int() would also take '1_0' and '\u0663'
            raise InstanceError.at(src, "header", name, "expected a bus number (or q:<bus>) as column name")
        bus = int(key)
        k = feeder.index_of(bus) if bus in feeder._index else None
        if k is None:
            raise InstanceError.at(src, "header", name, f"no bus {bus} in feeder {feeder.name}")
        seen = has_q if is_q else has_p
        if seen[k]:
            raise InstanceError.at(src, "header", name, "duplicate column for this bus")
        seen[k] = True
        (q if is_q else p)[:, k] = table.values[:, j]
    missing = np.flatnonzero(~has_p & ((feeder.p_load_kw != 0) | (feeder.q_load_kvar != 0)))
    missing = missing[missing > 0]
    if missing.size:
        b = int(feeder.bus_ids[missing[0]])
        raise InstanceError.at(src, "header", b, f"bus {b} has a nominal load but no column "
                               f"({missing.size} loaded bus(es) missing; give a column of zeros to mean no load)")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(feeder.p_load_kw != 0, feeder.q_load_kvar / feeder.p_load_kw, 0.0)
    fill = ~has_q
    q[:, fill] = p[:, fill] * ratio[fill]
    return BusProfiles(p, q, table.resolution_min, table.start, src)


def profile_columns(elements: GridElements, names) -> tuple[np.ndarray, np.ndarray]:
    """Column index of each element's active and reactive multiplier (-1: none, constant).

    Active: ``<profile>_pload`` if the table has it (SimBench load profiles), else
    ``<profile>``. Reactive: ``<profile>_qload`` if present, else the active column.
    """
    pos = {n: j for j, n in enumerate(names)}
    jp = np.full(len(elements), -1)
    jq = np.full(len(elements), -1)
    for i, prof in enumerate(elements.profile):
        if not prof:
            continue
        jp[i] = pos.get(f"{prof}_pload", pos.get(prof, -1))
        jq[i] = pos.get(f"{prof}_qload", jp[i])
    return jp, jq


def from_profile_table(feeder: Feeder, table: ProfileTable) -> BusProfiles:
    """Each element's profile times its rated power, summed per bus (see :func:`profile_columns`).

    Elements without a profile name stay at their rated power (SimBench's convention).
    Computed as ``multipliers (T, k) @ weights (k, n_bus)`` with one weight row per table
    column, so the cost does not grow with the number of elements.

    Raises
    ------
    InstanceError
        If the feeder has no elements, or an element's profile is not in the table.
    """
    e = feeder.elements
    src = table.source
    if e is None or not len(e):
        raise InstanceError.at(src, "header", ",".join(table.names[:3]),
                               f"feeder {feeder.name} has no elements with profile names; give one column per bus")
    jp, jq = profile_columns(e, table.names)
    lost = np.flatnonzero((jp < 0) & (e.profile != ""))
    if lost.size:
        i = int(lost[0])
        raise InstanceError.at(src, "header", e.profile[i], f"profile of {e.kind[i]} {e.name[i] or e.index[i]} "
                               f"(bus {e.bus_id[i]}) is not a column")
    bus = feeder.index_of(e.bus_id)
    k = len(table.names)
    mult = np.concatenate([table.values, np.ones((table.values.shape[0], 1))], axis=1)  # last: constant
    jp = np.where(jp < 0, k, jp)
    jq = np.where(jq < 0, k, jq)
    gen = e.sign < 0
    out = []
    for sel in (~gen, gen):
        wp = np.zeros((k + 1, feeder.n_bus))
        wq = np.zeros((k + 1, feeder.n_bus))
        np.add.at(wp, (jp[sel], bus[sel]), e.p_kw[sel])
        np.add.at(wq, (jq[sel], bus[sel]), e.q_kvar[sel])
        out.append((mult @ wp, mult @ wq) if sel.any() else (None, None))
    (pl, ql), (pg, qg) = out
    T = mult.shape[0]
    pl = np.zeros((T, feeder.n_bus)) if pl is None else pl
    ql = np.zeros((T, feeder.n_bus)) if ql is None else ql
    if pg is None:
        return BusProfiles(pl, ql, table.resolution_min, table.start, src)
    return BusProfiles(pl - pg, ql - qg, table.resolution_min, table.start, src, pg, qg)
