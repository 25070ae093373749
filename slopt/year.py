"""Year-scale planning: size on representative days, then prove the plan on every day of the year.

A year of per-bus profiles (35,040 steps at 15 min) is too large for the exact sizing MILP, and
sizing on a few typical days alone proves nothing about the other days. The loop here (the
product of this module) closes that gap:

1. **Representative days** (:func:`representative_days`): the year's days are clustered with
   ``tsam`` (hierarchical clustering, medoid representation: every typical day is a real day of
   the year, the same for all buses) on the day's total net load and the AC voltage extremes
   of the feeder without storage (one batched sweep of the year), and the days with the lowest
   minimum and the highest maximum voltage are appended as extreme days. Each day is weighted
   by the number of days it stands for.
2. **Sizing** on those days (:func:`slopt.solve_sizing`, each day cyclic, operating terms
   weighted), optimal in AC on them (docs/sizing.md).
3. **Year replay** (:func:`replay_year`): with the sizes fixed, every day that violates the band
   without storage gets its own dispatch (the same AC-exact loop with the sizes fixed: a few
   small LPs; days are independent and run through :mod:`slopt.parallel`); days inside the
   band without storage keep the storage idle. Then the whole year is checked in AC by the
   batched sweep.
4. **Critical days**: the days that still violate the band are added to the modelled days
   (the worst first) and the sizing is solved again, until the whole year holds or
   ``max_rounds`` is reached. Each round adds constraints to the sizing, so its cost never
   falls and the loop ends after at most as many rounds as there are violating days; in
   practice one or two.

The result reports the typical and critical days and their weights, the rounds, the hours
outside the band without and with storage, the worst bus and step, and the year's voltage
range. The bilevel heuristics stay one-day (``slopt solve --method dbo`` refuses a year).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from slopt.errors import InstanceError
from slopt.grid.bus_profiles import BusProfiles
from slopt.grid.powerflow import powerflow
from slopt.grid.sensitivity import with_storage
from slopt.io.instance import Candidates, Instance
from slopt.sizing import SizingOptions, SizingResult, solve_sizing
from slopt.solve import SolveOptions, Status

__all__ = ["YearOptions", "YearResult", "YearReplay", "plan_year", "representative_days", "replay_year",
           "days_of"]


@dataclass(frozen=True)
class YearOptions:
    """Options of :func:`plan_year`.

    Attributes
    ----------
    typical_days : int
        Clusters (typical days) chosen by tsam; the two extreme days come on top.
    max_rounds : int
        Sizing rounds (each adds critical days).
    critical_per_round : int
        Critical days added per round (the most violated first). Each round costs one sizing on
        the modelled days, so adding every violating day (up to this many) at once beats adding
        a few per round: on the LV rural instance 8 per round took 2 rounds and 123 s, 4 per
        round took 4 rounds and about 260 s, at costs within 0.2 % of each other.
    sizing : SizingOptions
        Options of each sizing and of each day's dispatch in the replay. Where over-voltage binds,
        relaxed plans cycle through a unit to burn PV energy; the binaries that forbid it make the
        multi-day MILP very slow, so the default fixes the direction each such unit-step leaned to
        (``exclusivity="fix"``, an LP; the result is then ``feasible``, not ``optimal``) and gives
        HiGHS 60 s per MILP.
    backend, workers : str, int
        :func:`slopt.parallel.run_many` backend for the replay (``serial``, ``processes``, ``dask``).
    replay_bar : bool
        Show a progress bar over the replayed days (``slopt solve`` on a terminal).
    """

    typical_days: int = 10
    max_rounds: int = 6
    critical_per_round: int = 8
    sizing: SizingOptions = field(default_factory=lambda: SizingOptions(
        solver=SolveOptions(mip_rel_gap=1e-3, time_limit_s=60.0), exclusivity="fix", max_rounds=40))
    backend: str = "serial"
    workers: int = 1
    replay_bar: bool = False

    def __post_init__(self):
        if not 1 <= int(self.typical_days) <= 60:
            raise InstanceError.at(None, "typical_days", self.typical_days, "must be in [1, 60]")
        if int(self.max_rounds) < 1 or int(self.critical_per_round) < 1:
            raise InstanceError.at(None, "max_rounds/critical_per_round", f"{self.max_rounds}/{self.critical_per_round}",
                                   "must be >= 1")


def days_of(inst: Instance, days) -> Instance:
    """The instance restricted to ``days`` (day indices of its year, in the given order)."""
    bp = inst.bus_profiles
    if bp is None:
        raise InstanceError.at(inst.path, "profiles", "one day", "needs per-bus profiles over several days")
    days = np.asarray(days, dtype=int)
    p, q = bp.by_day()
    sel = BusProfiles(np.ascontiguousarray(p[days].reshape(-1, p.shape[2])),
                      np.ascontiguousarray(q[days].reshape(-1, q.shape[2])), bp.resolution_min, None, bp.source)
    T = sel.n_steps
    return inst.with_(bus_profiles=sel, load_mult=np.ones(T), pv_mult=np.zeros(T))


# ----------------------------------------------------------------------------- representative days
def _year_base_ac(inst: Instance):
    p, q = inst.net_load_kw()
    return powerflow(inst.feeder, p, q)


def representative_days(inst: Instance, n_typical: int = 10, base_vm_pu: np.ndarray | None = None):
    """Typical days (tsam medoids) and the extreme days, with the days each stands for.

    Returns a DataFrame ``day, date, weight, kind`` (``typical`` or ``extreme``); weights sum to
    the number of days of the year.
    """
    import tsam
    from tsam import ClusterConfig, ExtremeConfig

    bp = inst.bus_profiles
    if base_vm_pu is None:
        base_vm_pu = _year_base_ac(inst).vm_pu
    vm = base_vm_pu[:, 1:]
    times = pd.DatetimeIndex(bp.times())
    data = pd.DataFrame({"load_kw": bp.p_kw.sum(axis=1), "vmin_pu": vm.min(axis=1), "vmax_pu": vm.max(axis=1)},
                        index=times)
    n = min(int(n_typical), bp.n_days)
    res = tsam.aggregate(data, n, period_duration=24, temporal_resolution=bp.dt_h,
                         cluster=ClusterConfig(method="hierarchical", representation="medoid"),
                         extremes=ExtremeConfig(method="append", min_value=["vmin_pu"], max_value=["vmax_pu"]),
                         preserve_column_means=False)
    centers = [int(c) for c in res.clustering.cluster_centers]
    counts = res.cluster_counts
    extreme = set(int(i) for i in (res.clustering.extreme_cluster_indices or ()))
    rows = []
    for k, day in enumerate(centers):
        rows.append({"day": day, "weight": float(counts.get(k, 1.0)), "kind": "extreme" if k in extreme else "typical"})
    df = pd.DataFrame(rows).drop_duplicates("day").reset_index(drop=True)
    df.insert(1, "date", [str(times[d * bp.steps_per_day].date()) for d in df["day"]])
    return df


# ----------------------------------------------------------------------------- replay
@dataclass
class YearReplay:
    """The year with the sizes fixed.

    Attributes
    ----------
    p_site_kw : ndarray (T, C)
        Net load of each storage site per step (consumption positive).
    p_tech_kw : ndarray (T, C, K)
        Per technology.
    soc_pu : ndarray (T, C, K)
        State of charge (fraction of usable energy) at the end of each step.
    vm_min_pu, vm_max_pu : ndarray (T,)
        Feeder minimum and maximum voltage per step, with storage (AC sweep).
    day_violation_pu : ndarray (D,)
        Largest band violation of each day with storage.
    day_status : list of str
        ``idle`` (inside the band without storage), ``modelled`` (planned by the sizing),
        ``feasible`` (dispatched in the replay), or ``infeasible`` (the sizes cannot hold that day).
    """

    p_site_kw: np.ndarray
    p_tech_kw: np.ndarray
    soc_pu: np.ndarray
    vm_min_pu: np.ndarray
    vm_max_pu: np.ndarray
    vm_pu: np.ndarray
    day_violation_pu: np.ndarray
    day_status: list
    replay_s: float
    ac_s: float


def _built(inst: Instance, sizing: pd.DataFrame):
    """The built sites, their sizes (C, K) and the instance restricted to them (fixed siting)."""
    techs = [k for k in ("new", "retired") if k in inst.technologies]
    e = sizing.pivot_table(index="bus", columns="technology", values="e_kwh", aggfunc="sum").reindex(columns=techs).fillna(0.0)
    p = sizing.pivot_table(index="bus", columns="technology", values="p_kw", aggfunc="sum").reindex(columns=techs).fillna(0.0)
    built = e.index[e.sum(axis=1) > 1e-6]
    e, p = e.loc[built], p.loc[built]
    bus = np.asarray(built, dtype=int)
    n = bus.size
    cand = Candidates(bus, np.maximum(e.max(axis=1).to_numpy(), 1e-6), np.maximum(p.max(axis=1).to_numpy(), 1e-6),
                      np.zeros(n), n, True)
    return bus, e.to_numpy(), p.to_numpy(), techs, cand


def _fix_sizes(e_kwh, p_kw, bus, techs):
    def fix(m, d):
        for i, b in enumerate(bus):
            for j, k in enumerate(techs):
                m.E[int(b), k].fix(float(e_kwh[i, j]))
                m.P[int(b), k].fix(float(p_kw[i, j]))
    return fix


def _dispatch_day(task):
    """One day of the replay (module level: picklable for processes and Dask)."""
    day_inst, e_kwh, p_kw, bus, techs, opts = task
    res = solve_sizing(day_inst, options=opts, extra_constraints=_fix_sizes(e_kwh, p_kw, bus, techs))
    if res.dispatch.empty:
        return str(res.status), None, None
    disp = res.dispatch
    C, K, T = len(bus), len(techs), day_inst.n_steps
    p = disp["p_net_kw"].to_numpy().reshape(C, K, T)
    soc = disp["soc_pu"].to_numpy().reshape(C, K, T)
    return str(res.status), p, soc


def _modelled_dispatch(res: SizingResult, days, bus, techs, spd):
    """``{day: (p_net (spd, C, K), soc (spd, C, K))}`` from a sizing result on the modelled ``days``."""
    disp = res.dispatch
    out = {}
    if disp.empty:
        return out
    t = np.round(disp["time_h"].to_numpy() / res.instance.dt_h).astype(int)
    ci = {int(b): i for i, b in enumerate(bus)}
    ki = {k: j for j, k in enumerate(techs)}
    keep = disp["bus"].isin(list(ci)).to_numpy()
    D = len(days)
    p = np.zeros((D * spd, len(bus), len(techs)))
    soc = np.full_like(p, np.nan)
    rows = np.flatnonzero(keep)
    c = np.array([ci[int(b)] for b in disp["bus"].to_numpy()[rows]], dtype=int)
    k = np.array([ki[x] for x in disp["technology"].to_numpy()[rows]], dtype=int)
    p[t[rows], c, k] = disp["p_net_kw"].to_numpy()[rows]
    soc[t[rows], c, k] = disp["soc_pu"].to_numpy()[rows]
    for i, d in enumerate(days):
        out[int(d)] = (p[i * spd:(i + 1) * spd], soc[i * spd:(i + 1) * spd])
    return out


def replay_year(inst: Instance, sizing: pd.DataFrame, options: YearOptions | None = None, base_vm_pu=None,
                progress=None, modelled: dict | None = None) -> YearReplay:
    """Dispatch every day of the year with the sizes of ``sizing`` fixed, then the year in AC.

    ``modelled`` (``{day: (p_net, soc)}``, from the sizing on representative days) gives the
    dispatch of the days the sizing already planned; every other day that violates the band
    without storage is dispatched by the least-violation AC loop with the sizes fixed.
    """
    from slopt.parallel import run_many

    opts = options or YearOptions()
    t0 = time.perf_counter()
    bp = inst.bus_profiles
    D, spd = bp.n_days, bp.steps_per_day
    if base_vm_pu is None:
        base_vm_pu = _year_base_ac(inst).vm_pu
    bus, e_kwh, p_kw, techs, cand = _built(inst, sizing)
    C, K = bus.size, len(techs)
    tol = opts.sizing.ac_tol_pu
    base_viol = _violation(base_vm_pu, inst.vmin_pu, inst.vmax_pu).reshape(D, spd).max(axis=1)
    modelled = modelled or {}
    need = np.array([d for d in np.flatnonzero(base_viol > tol) if int(d) not in modelled], dtype=int) if C else \
        np.array([], dtype=int)
    sub = inst.with_(candidates=cand)
    day_opts = replace(opts.sizing, max_rounds=max(opts.sizing.max_rounds, 8), least_violation=True)
    tasks = [(days_of(sub, [d]), e_kwh, p_kw, bus, techs, day_opts) for d in need]
    results = run_many(_dispatch_day, tasks, backend=opts.backend, workers=opts.workers,
                       progress=progress if progress is not None else False) if tasks else []
    p_tech = np.zeros((D * spd, C, K))
    soc = np.full((D * spd, C, K), np.nan)
    status = ["idle"] * D
    for d, (st, p, s) in zip(need, results):
        status[d] = st
        if p is not None:
            p_tech[d * spd:(d + 1) * spd] = np.moveaxis(p, -1, 0)
            soc[d * spd:(d + 1) * spd] = np.moveaxis(s, -1, 0)
    for d, (p, s) in modelled.items():
        status[d] = "modelled"
        p_tech[d * spd:(d + 1) * spd] = p
        soc[d * spd:(d + 1) * spd] = s
    replay_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    p_site = p_tech.sum(axis=2)
    p, q = inst.net_load_kw()
    pf = powerflow(inst.feeder, with_storage(p, inst.feeder.index_of(bus), p_site.T), q)
    vm = pf.vm_pu
    ac_s = time.perf_counter() - t1
    viol = _violation(vm, inst.vmin_pu, inst.vmax_pu).reshape(D, spd).max(axis=1)
    return YearReplay(p_site, p_tech, soc, vm[:, 1:].min(axis=1), vm[:, 1:].max(axis=1), vm, viol, status,
                      replay_s, ac_s)


def _violation(vm, lo, hi):
    v = np.maximum(lo - vm, 0.0) + np.maximum(vm - hi, 0.0)
    v[..., 0] = 0.0
    return v.max(axis=-1)


# ----------------------------------------------------------------------------- the loop
@dataclass
class YearResult:
    """Outcome of :func:`plan_year` (tables in the manner of pandapower's ``res_*``)."""

    status: Status
    objective_usd: float | None
    sizing_result: SizingResult | None
    days: pd.DataFrame                 # day, date, weight, kind (typical / extreme / critical)
    rounds: pd.DataFrame               # per round: modelled days, objective, violating days, worst violation
    replay: YearReplay | None
    base_vm_pu: np.ndarray
    instance: Instance
    timings: dict = field(default_factory=dict)
    message: str = ""

    @property
    def sizing(self) -> pd.DataFrame:
        return self.sizing_result.sizing if self.sizing_result is not None else pd.DataFrame()

    def hours_outside(self, with_storage: bool = True) -> dict:
        """Hours of the year with some bus outside the band: ``{"below": h, "above": h, "total": h}``."""
        inst = self.instance
        vm = self.replay.vm_pu if (with_storage and self.replay is not None) else self.base_vm_pu
        tol = 1e-6
        below = (vm[:, 1:] < inst.vmin_pu - tol).any(axis=1)
        above = (vm[:, 1:] > inst.vmax_pu + tol).any(axis=1)
        dt = inst.dt_h
        return {"below": float(below.sum() * dt), "above": float(above.sum() * dt), "total": float((below | above).sum() * dt)}

    def summary(self) -> dict:
        inst = self.instance
        vm = self.replay.vm_pu if self.replay is not None else self.base_vm_pu
        viol = np.maximum(inst.vmin_pu - vm, 0.0) + np.maximum(vm - inst.vmax_pu, 0.0)
        viol[:, 0] = 0.0
        t, j = np.unravel_index(int(np.argmax(viol)), viol.shape)
        spd = inst.bus_profiles.steps_per_day
        return {
            "status": str(self.status), "objective_usd": self.objective_usd, "message": self.message,
            # the modelled days are a subset of the year, so the sizing's bound bounds the year too
            "bound_usd": None if self.sizing_result is None else self.sizing_result.bound_usd,
            "gap": None if self.sizing_result is None else self.sizing_result.gap,
            "days_modelled": int(len(self.days)), "typical_days": int((self.days["kind"] == "typical").sum()),
            "extreme_days": int((self.days["kind"] == "extreme").sum()),
            "critical_days": int((self.days["kind"] == "critical").sum()), "rounds": int(len(self.rounds)),
            "hours_outside_without_storage": self.hours_outside(False), "hours_outside_with_storage": self.hours_outside(True),
            "worst_violation_pu": float(viol.max()), "worst_bus": int(inst.feeder.bus_ids[j]),
            "worst_day": int(t // spd), "worst_time_h": float((t % spd) * inst.dt_h),
            "vmin_year_pu": float(vm[:, 1:].min()), "vmax_year_pu": float(vm[:, 1:].max()),
            "vmin_year_without_storage_pu": float(self.base_vm_pu[:, 1:].min()),
            "vmax_year_without_storage_pu": float(self.base_vm_pu[:, 1:].max()), **self.timings,
        }


def plan_year(inst: Instance, options: YearOptions | None = None, progress=None) -> YearResult:
    """Size storage on representative days until the plan holds the band on every day of the year.

    ``progress(stage, info)`` is called with ``"days"``, ``"sizing"``, ``"replay"`` stages.
    """
    if inst.bus_profiles is None or inst.n_days < 2:
        raise InstanceError.at(inst.path, "profiles", "one day", "year planning needs per-bus profiles over several days")
    opts = options or YearOptions()
    report = progress or (lambda stage, info: None)
    t0 = time.perf_counter()
    base = _year_base_ac(inst)
    if not base.all_converged:
        raise InstanceError(f"{inst.path or inst.name}: the AC power flow without storage diverges on some steps of "
                            "the year; the feeder cannot carry this net load")
    base_vm = base.vm_pu
    days = representative_days(inst, opts.typical_days, base_vm)
    timings = {"days_s": time.perf_counter() - t0, "sizing_s": 0.0, "replay_s": 0.0, "year_ac_s": 0.0}
    report("days", {"days": days})
    rounds, res, rep = [], None, None
    status, message = Status.ERROR, ""
    for rnd in range(1, opts.max_rounds + 1):
        t1 = time.perf_counter()
        sub = days_of(inst, days["day"].to_numpy())
        res = solve_sizing(sub, options=replace(opts.sizing, day_weights=tuple(days["weight"])))
        timings["sizing_s"] += time.perf_counter() - t1
        report("sizing", {"round": rnd, "result": res})
        if res.objective_usd is None:
            status, message = res.status, f"sizing on the modelled days: {res.message}"
            break
        bus, _, _, techs, _ = _built(inst, res.sizing)
        spd = inst.bus_profiles.steps_per_day
        rep = replay_year(inst, res.sizing, opts, base_vm, progress=opts.replay_bar,
                          modelled=_modelled_dispatch(res, days["day"].to_numpy(), bus, techs, spd))
        timings["replay_s"] += rep.replay_s
        timings["year_ac_s"] += rep.ac_s
        bad = np.flatnonzero(rep.day_violation_pu > opts.sizing.ac_tol_pu * 1.0001)
        rounds.append({"round": rnd, "days_modelled": len(days), "objective_usd": res.objective_usd,
                       "violating_days": int(bad.size), "worst_violation_pu": float(rep.day_violation_pu.max())})
        report("replay", rounds[-1])
        if bad.size == 0:
            status, message = res.status, res.message
            break
        new = [d for d in bad[np.argsort(-rep.day_violation_pu[bad])] if d not in set(days["day"])]
        if not new:
            status, message = Status.FEASIBLE, "some days cannot be held even when modelled"
            break
        new = new[:opts.critical_per_round]
        bp = inst.bus_profiles
        add = pd.DataFrame({"day": new, "date": [str(pd.Timestamp(bp.times()[d * bp.steps_per_day]).date()) for d in new],
                            "weight": 1.0, "kind": "critical"})
        days = pd.concat([days, add], ignore_index=True)
    else:
        status = Status.FEASIBLE
        message = f"the year still violates the band after {opts.max_rounds} rounds; raise max_rounds"
    timings["total_s"] = time.perf_counter() - t0
    return YearResult(status, None if res is None else res.objective_usd, res, days, pd.DataFrame(rounds), rep, base_vm,
                      inst, timings, message)
