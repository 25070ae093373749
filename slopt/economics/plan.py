"""What the economics reads from a slopt plan: sizes, throughput, cycles and idle time per technology.

A plan is a sizing result (:class:`slopt.sizing.SizingResult`, or the ``sizing.csv``,
``dispatch.csv`` and ``result.json`` that ``slopt solve`` writes) plus the instance's
technologies. :func:`plan_from_tables` is the one place that turns the tables into a
:class:`Plan`; :func:`plan_from_result` and :func:`plan_from_dir` feed it.

Per technology (summed over buses): nameplate energy and power, the Eq. 2 cost of the plan,
the day's charged and discharged energy per hour of day (to price with any tariff),
rainflow equivalent full cycles per day (:func:`slopt.battery.aging.equivalent_full_cycles`,
Yuan et al. Eq. 7c and 8; each unit's day is counted as a closed loop starting at its highest SOC,
since the plan's day repeats; energy-weighted over units) and
idle hours (steps in which a built unit neither charges nor discharges).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.aging import Woehler, equivalent_full_cycles
from slopt.battery.cost import Technology
from slopt.errors import InstanceError

__all__ = ["TechPlan", "Plan", "plan_from_tables", "plan_from_result", "plan_from_dir", "IDLE_TOL_PU"]

IDLE_TOL_PU = 1e-3
"""A unit is idle in a step when ``p_charge + p_discharge <= IDLE_TOL_PU * p_kw``."""

_SIZING_COLS = ("bus", "technology", "e_kwh", "p_kw", "cost_usd")
_DISPATCH_COLS = ("time_h", "bus", "technology", "p_charge_kw", "p_discharge_kw", "soc_pu")


@dataclass(frozen=True)
class TechPlan:
    """One technology of the plan, summed over its buses.

    Attributes
    ----------
    tech : Technology
        The instance's parameters (Eq. 1 coefficients, SOH, efficiencies, lifetime).
    e_kwh, p_kw : float
        Nameplate energy and power over all buses.
    eq2_cost_usd : float
        The plan's Eq. 2 cost of this technology (capital + one year of O&M).
    charge_kwh_by_hour, discharge_kwh_by_hour : ndarray, shape (24,)
        Energy charged / discharged (AC side) in each hour of the day, kWh.
    efc_per_day : float
        Rainflow equivalent full cycles per day (Eq. 7c, 8), energy-weighted over the units.
    idle_hours_per_day : float
        Hours in which a built unit is idle, energy-weighted over the units.
    """

    tech: Technology
    e_kwh: float
    p_kw: float
    eq2_cost_usd: float
    charge_kwh_by_hour: np.ndarray
    discharge_kwh_by_hour: np.ndarray
    efc_per_day: float
    idle_hours_per_day: float

    @property
    def name(self) -> str:
        return self.tech.name

    @property
    def charge_kwh_day(self) -> float:
        return float(self.charge_kwh_by_hour.sum())

    @property
    def discharge_kwh_day(self) -> float:
        return float(self.discharge_kwh_by_hour.sum())

    @property
    def throughput_efc_per_day(self) -> float:
        """Discharged energy over usable energy (the throughput definition of a cycle)."""
        usable = self.e_kwh * self.tech.soh * (self.tech.soc_max - self.tech.soc_min)
        return self.discharge_kwh_day / usable if usable > 0 else 0.0


@dataclass(frozen=True)
class Plan:
    """A sizing plan as the economics sees it: the built technologies and the source tables."""

    name: str
    techs: tuple[TechPlan, ...]
    dt_h: float
    sizing: pd.DataFrame
    dispatch: pd.DataFrame

    @property
    def e_kwh(self) -> float:
        return float(sum(t.e_kwh for t in self.techs))

    @property
    def p_kw(self) -> float:
        return float(sum(t.p_kw for t in self.techs))

    def tech(self, name: str) -> TechPlan | None:
        return next((t for t in self.techs if t.name == name), None)

    def summary(self) -> pd.DataFrame:
        """One row per technology: sizes, Eq. 2 cost, throughput, cycles, idle hours."""
        return pd.DataFrame([{
            "technology": t.name, "e_kwh": t.e_kwh, "p_kw": t.p_kw, "soh": t.tech.soh,
            "lifetime_years": t.tech.lifetime_years, "eq2_cost_usd": t.eq2_cost_usd,
            "charge_kwh_day": t.charge_kwh_day, "discharge_kwh_day": t.discharge_kwh_day,
            "efc_rainflow_per_day": t.efc_per_day, "efc_throughput_per_day": t.throughput_efc_per_day,
            "idle_hours_per_day": t.idle_hours_per_day} for t in self.techs])


def _need(df: pd.DataFrame, cols, source, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InstanceError.at(source, f"{what}.columns", ", ".join(missing), "missing column(s)")
    num = [c for c in cols if c not in ("technology", "soc_pu")]
    arr = df[num].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InstanceError.at(source, f"{what}[{r}].{num[c]}", df[num[c]].iloc[r], "must be a finite number")
    neg = arr[:, [i for i, c in enumerate(num) if c not in ("time_h", "bus")]] < -1e-9
    if neg.any():
        r, c = np.argwhere(neg)[0]
        col = [c_ for c_ in num if c_ not in ("time_h", "bus")][c]
        raise InstanceError.at(source, f"{what}[{r}].{col}", df[col].iloc[r], "must be >= 0")


def plan_from_tables(sizing: pd.DataFrame, dispatch: pd.DataFrame, technologies: dict, *, name: str = "plan",
                     chemistry: str = "lfp", source=None) -> Plan:
    """Build a :class:`Plan` from the sizing and dispatch tables of a sizing result.

    Parameters
    ----------
    sizing : DataFrame
        ``bus, technology, e_kwh, p_kw, cost_usd`` (one row per bus and technology).
    dispatch : DataFrame
        ``time_h, bus, technology, p_charge_kw, p_discharge_kw, soc_pu`` per step; one day.
    technologies : dict[str, Technology]
        The instance's technologies by name.
    chemistry : str
        Woehler law for the rainflow cycle weights (``"lfp"`` or ``"nmc"``).
    """
    _need(sizing, _SIZING_COLS, source, "sizing")
    _need(dispatch, _DISPATCH_COLS, source, "dispatch")
    times = np.unique(dispatch["time_h"].to_numpy(float))
    if times.size < 2:
        raise InstanceError.at(source, "dispatch.time_h", times.size, "need at least two time steps")
    dt_h = float(np.median(np.diff(times)))
    woehler = Woehler.for_chemistry(chemistry)
    techs = []
    for tname, grp in sizing.groupby("technology", sort=False):
        if tname not in technologies:
            raise InstanceError.at(source, "sizing.technology", tname,
                                   f"not a technology of the instance ({', '.join(technologies)})")
        built = grp[grp["e_kwh"] > 1e-6]
        if built.empty:
            continue
        tech = technologies[tname]
        d = dispatch[(dispatch["technology"] == tname) & dispatch["bus"].isin(built["bus"])]
        techs.append(_tech_plan(tech, built, d, dt_h, woehler))
    if not techs:
        raise InstanceError.at(source, "sizing.e_kwh", 0, "the plan builds no storage; nothing to evaluate")
    return Plan(name=name, techs=tuple(techs), dt_h=dt_h, sizing=sizing.copy(), dispatch=dispatch.copy())


def _tech_plan(tech: Technology, built: pd.DataFrame, d: pd.DataFrame, dt_h: float, woehler: Woehler) -> TechPlan:
    hour = np.floor(d["time_h"].to_numpy(float) + 1e-9).astype(int) % 24
    ch = np.bincount(hour, weights=d["p_charge_kw"].to_numpy(float) * dt_h, minlength=24)
    dis = np.bincount(hour, weights=d["p_discharge_kw"].to_numpy(float) * dt_h, minlength=24)
    # per unit (bus): rainflow EFC of the cyclic day and idle hours; units are weighted by energy
    wide_soc = d.pivot_table(index="time_h", columns="bus", values="soc_pu", aggfunc="first").sort_index()
    act = (d.assign(a=d["p_charge_kw"] + d["p_discharge_kw"])
           .pivot_table(index="time_h", columns="bus", values="a", aggfunc="sum").sort_index())
    e_bus = built.set_index("bus")["e_kwh"]
    p_bus = built.set_index("bus")["p_kw"]
    buses = [b for b in e_bus.index if b in wide_soc.columns]
    if not buses:
        raise InstanceError.at(None, "dispatch", tech.name, "no dispatch rows for the built units")
    soc = np.clip(wide_soc[buses].to_numpy(float).T, 0.0, 1.0)            # (units, T)
    soc = np.nan_to_num(soc, nan=0.0)
    # the day repeats: count it as a closed loop, started (and ended) at its highest SOC (ASTM E1049 practice
    # for a periodic history), so that every excursion is a full cycle rather than two stray half cycles
    T = soc.shape[1]
    idx = (np.arange(T + 1)[None, :] + np.argmax(soc, axis=1)[:, None]) % T
    closed = soc[np.arange(soc.shape[0])[:, None], idx]
    efc = np.atleast_1d(equivalent_full_cycles(closed, woehler))
    idle = (act[buses].to_numpy(float).T <= IDLE_TOL_PU * p_bus[buses].to_numpy(float)[:, None]).sum(axis=1) * dt_h
    w = e_bus[buses].to_numpy(float)
    return TechPlan(tech=tech, e_kwh=float(built["e_kwh"].sum()), p_kw=float(built["p_kw"].sum()),
                    eq2_cost_usd=float(built["cost_usd"].sum()), charge_kwh_by_hour=ch, discharge_kwh_by_hour=dis,
                    efc_per_day=float(np.dot(w, efc) / w.sum()), idle_hours_per_day=float(np.dot(w, idle) / w.sum()))


def plan_from_result(result, *, chemistry: str = "lfp") -> Plan:
    """A :class:`Plan` from a :class:`slopt.sizing.SizingResult` (it must carry its instance)."""
    if not all(hasattr(result, k) for k in ("instance", "objective_usd", "sizing", "dispatch")):
        from slopt.errors import ArgumentError

        raise ArgumentError(f"plan_from_result: result must be a SizingResult (from slopt.solve_sizing), "
                            f"got {type(result).__name__}")
    if result.instance is None or result.objective_usd is None or result.sizing.empty:
        raise InstanceError.at(None, "result", getattr(result, "status", "?"), "a solved plan with its instance is needed")
    return plan_from_tables(result.sizing, result.dispatch, result.instance.technologies, name=result.instance.name,
                            chemistry=chemistry)


def plan_from_dir(path: str | Path, instance=None, *, chemistry: str = "lfp") -> Plan:
    """A :class:`Plan` from a ``slopt solve`` output directory.

    ``result.json`` names the instance; its technologies come from ``instance`` (an
    :class:`~slopt.io.instance.Instance` or a TOML path) or, when omitted, from
    ``instances/<name>.toml`` found next to the directory or below the working directory.
    """
    from slopt.checks import as_path
    from slopt.io.loader import load_instance

    path = as_path(path, "plan_from_dir")
    files = {k: path / f"{k}" for k in ("result.json", "sizing.csv", "dispatch.csv")}
    for k, f in files.items():
        if not f.is_file():
            raise InstanceError.at(path, k, "(missing)", "not a slopt solve output directory")
    try:
        meta = json.loads(files["result.json"].read_text())
        sizing = pd.read_csv(files["sizing.csv"])
        dispatch = pd.read_csv(files["dispatch.csv"])
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise InstanceError.at(path, "files", type(e).__name__, " ".join(str(e).split())[:120]) from None
    name = str(meta.get("instance") or path.name)
    if instance is None:
        cands = [p / "instances" / f"{name}.toml" for p in (Path.cwd(), *path.resolve().parents)]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            raise InstanceError.at(files["result.json"], "instance", name,
                                   "cannot find the instance file; pass it with --instance")
        instance = found
    inst = instance if hasattr(instance, "technologies") else load_instance(instance)
    return plan_from_tables(sizing, dispatch, inst.technologies, name=name, chemistry=chemistry, source=path)
