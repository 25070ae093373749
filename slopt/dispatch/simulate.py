"""Day simulation of a dispatch strategy over battery groups, with the metrics of Yuan et al. §5.2-5.3.

:func:`simulate_dispatch` steps a strategy (:mod:`slopt.dispatch.strategies`) over the request,
updates the stored energy with :func:`~slopt.dispatch.base.step_energy`, counts equivalent full
cycles per group over the SOC trajectory with rainflow (Eq. 7c/8), moves each group along the
Eq. 7a SOH curve (:func:`slopt.battery.aging.soh_after`) and returns a :class:`DispatchResult`
with pandas tables and the metrics of Table 4 (SOH degradation rate, deviation of the delivered
from the requested power, computation time, voltage RMSE on a feeder) and Table 3 (active
groups, SOC ranges, system efficiency; the power-allocation consistency index across scenarios is
:func:`consistency_index`). Every metric is defined in ``docs/dispatch.md``.

Requests that cannot be served (rating or SOC window, Eq. 11a/11b) are reported as unserved
energy, for charging and discharging separately; they are never dropped silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from slopt.battery.aging import (Woehler, degradation_rate_pct_per_day, equivalent_full_cycles,
                                 remaining_cycles, soh_after)
from slopt.battery.groups import GROUP_FIELDS
from slopt.dispatch.base import BatteryGroups, DispatchContext, GroupState, group_power_bounds, step_energy
from slopt.dispatch.strategies import Strategy, get_strategy
from slopt.errors import ArgumentError, InstanceError, SolverError
from slopt.checks import as_float_array, as_number, require
from slopt.io.schema import MISSING

__all__ = ["FeederContext", "DispatchResult", "simulate_dispatch", "groups_from_instance",
           "feeder_context_from_instance", "voltage_rmse", "throughput_table", "consistency_matrix",
           "consistency_index", "table3", "ACTIVE_SHARE"]

#: A group is "active" (Table 3) when its energy throughput exceeds this share of the total.
ACTIVE_SHARE = 0.01
_TOL_KW = 1e-9


@dataclass(frozen=True)
class FeederContext:
    """Where the storage unit sits, for the voltage RMSE of Table 4.

    Attributes
    ----------
    instance : Instance
        Feeder, loads and PV profiles (``instance.net_load_kw()``).
    bus : int
        Original bus number of the unit.
    """

    instance: object
    bus: int


@dataclass
class DispatchResult:
    """Outcome of :func:`simulate_dispatch` (tables in the manner of pandapower's ``res_*``).

    Attributes
    ----------
    strategy, label : str
        Registry name and the paper's name (CPD, SOHD, ...).
    names, technology : tuple of str
        Group names and technologies (``""`` when unknown).
    dt_h : float
        Step length.
    p_request_kw : ndarray, shape (T,)
        The request (+ charging).
    p_group_kw : ndarray, shape (T, G)
        Delivered group powers (+ charging).
    soc_pu : ndarray, shape (T+1, G)
        SOC trajectory (fraction of usable energy ``soh * e_kwh``), including the start.
    steps : DataFrame
        Per step: ``step, time_h, p_request_kw, p_delivered_kw, deviation_kw`` (request minus
        delivered), ``unserved_kwh``.
    power : DataFrame
        Per step and group (long): ``step, time_h, group, p_kw, soc_end_pu``.
    soc : DataFrame
        SOC per group (columns) at every step boundary (index ``time_h`` from 0 to 24 h).
    groups : DataFrame
        Per group: ``group, technology, e_kwh, p_kw, soh_start, soh_end, efc, life_used_frac``
        (``efc / Num(SOH_start)``, Eq. 10's ``C_i * N_i^Life``), ``degradation_pct_per_day``,
        ``e_charged_kwh, e_discharged_kwh, throughput_kwh`` (AC side, Fig. 8), ``soc_min_pu,
        soc_max_pu, soc_range_pu, active``.
    metrics : dict
        Scalars of Tables 3 and 4; see ``docs/dispatch.md``.
    voltages : DataFrame or None
        With a feeder context: ``time_h, vm_request_pu, vm_delivered_pu`` at the unit's bus.
    """

    strategy: str
    label: str
    names: tuple
    technology: tuple
    dt_h: float
    p_request_kw: np.ndarray
    p_group_kw: np.ndarray
    soc_pu: np.ndarray
    steps: pd.DataFrame
    power: pd.DataFrame
    soc: pd.DataFrame
    groups: pd.DataFrame
    metrics: dict
    voltages: pd.DataFrame | None = None
    scenario: str = ""

    @property
    def p_delivered_kw(self) -> np.ndarray:
        return self.p_group_kw.sum(axis=1)

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics as a one-row DataFrame."""
        return pd.DataFrame([self.metrics])


# ----------------------------------------------------------------------------- inputs
def _groups_1d(groups: BatteryGroups) -> BatteryGroups:
    require(groups, BatteryGroups, "simulate_dispatch", "groups", "e.g. from groups_from_instance(instance)")
    arrays = {k: as_float_array(getattr(groups, k), "simulate_dispatch", f"groups.{k}")
              for k in GROUP_FIELDS}
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        raise ArgumentError(f"simulate_dispatch: the group arrays do not broadcast: "
                            f"{ {k: a.shape for k, a in arrays.items()} }") from None
    if len(shape) != 1 or shape[0] < 1:
        raise InstanceError.at(None, "groups", f"shape {shape}", "simulate_dispatch needs one unit: arrays of shape (G,)")
    arrays = {k: np.ascontiguousarray(np.broadcast_to(a, shape)) for k, a in arrays.items()}
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise InstanceError.at(None, f"groups.{k}", a.tolist(), "must be finite")
    checks = [("e_kwh", arrays["e_kwh"] > 0, "must be > 0"), ("p_kw", arrays["p_kw"] >= 0, "must be >= 0"),
              ("soh", (arrays["soh"] > 0) & (arrays["soh"] <= 1), "must be in (0, 1]"),
              ("eta_charge", (arrays["eta_charge"] > 0) & (arrays["eta_charge"] <= 1), "must be in (0, 1]"),
              ("eta_discharge", (arrays["eta_discharge"] > 0) & (arrays["eta_discharge"] <= 1), "must be in (0, 1]"),
              ("soc_min", (arrays["soc_min"] >= 0) & (arrays["soc_min"] < arrays["soc_max"]), "must be in [0, soc_max)"),
              ("soc_max", arrays["soc_max"] <= 1, "must be <= 1")]
    for k, ok, reason in checks:
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise InstanceError.at(None, f"groups.{k}[{i}]", float(arrays[k][i]), reason)
    return BatteryGroups(**arrays)


def groups_from_instance(instance) -> tuple[BatteryGroups, dict]:
    """``(BatteryGroups, info)`` from an instance's ``[dispatch]`` section.

    ``info`` holds ``names``, ``technology``, ``soc0`` (the groups' ``soc_initial``), ``dt_h``,
    ``bus`` and ``priority_b``.

    Raises
    ------
    InstanceError
        If the instance has no ``[dispatch]`` section.
    """
    from slopt.io.instance import Instance

    require(instance, Instance, "groups_from_instance", "instance", "use slopt.load_instance(path)")
    d = instance.dispatch
    if d is None:
        raise InstanceError.at(getattr(instance, "path", None), "dispatch", MISSING,
                               "the instance has no [dispatch] section (battery groups and request)")
    g = BatteryGroups(**{k: v.copy() for k, v in d.groups.arrays().items()})
    info = {"names": tuple(d.names), "technology": tuple(d.technology), "soc0": d.soc_initial.copy(),
            "dt_h": d.dt_h, "bus": d.bus, "priority_b": d.priority_b}
    return g, info


def feeder_context_from_instance(instance) -> FeederContext:
    """The :class:`FeederContext` of an instance's ``[dispatch]`` bus."""
    d = getattr(instance, "dispatch", None)
    if d is None:
        raise InstanceError.at(getattr(instance, "path", None), "dispatch", MISSING, "no [dispatch] section")
    return FeederContext(instance, d.bus)


# ----------------------------------------------------------------------------- simulation
def _enforce(groups: BatteryGroups, state: GroupState, req: float, p: np.ndarray) -> tuple[np.ndarray, float]:
    """Project a step's allocation onto Eq. 11a-c; returns it and the largest change (kW)."""
    p_lo, p_hi = group_power_bounds(groups, state)
    q = np.minimum(np.maximum(p, p_lo), p_hi)
    q = np.maximum(q, 0.0) if req > 0 else np.minimum(q, 0.0)
    s = abs(float(q.sum()))
    if s > abs(req):
        q = q * (abs(req) / s)
    return q, float(np.max(np.abs(q - p)))


def simulate_dispatch(groups: BatteryGroups, p_request_kw, strategy="priority", *, dt_h: float,
                      soc0=None, woehler: Woehler = Woehler.LFP, options=None,
                      feeder_context: FeederContext | None = None, names: Sequence[str] | None = None,
                      technology: Sequence[str] | None = None, scenario: str = "") -> DispatchResult:
    """Simulate one day (or any horizon) of a dispatch strategy over battery groups.

    Parameters
    ----------
    groups : BatteryGroups
        One unit's groups, arrays of shape (G,) (scalars broadcast).
    p_request_kw : array_like, shape (T,)
        Power asked of the unit per step, + charging; e.g. 24, 96 or 288 steps for 60, 15, 5 min.
    strategy : str, Strategy or callable
        ``"priority"`` (Eq. 9), ``"proportional"`` (CPD), ``"soh"`` (SOHD), ``"mpc"`` (MPCD),
        ``"optimal"`` (Eq. 10), a registered :class:`Strategy`, or a custom one-step rule
        ``rule(groups, p_request_kw, state)``.
    dt_h : float
        Step length (h).
    soc0 : float or array_like, optional
        Initial SOC per group (pu of usable energy); default the middle of each SOC window.
    woehler : Woehler
        Depth-of-discharge law for the equivalent full cycles (Eq. 7c).
    options : mapping or object, optional
        The strategy's options, handed over in the :class:`DispatchContext` (``{"b": 0.5}`` for
        ``priority``; an ``OptimalOptions`` for ``mpc`` and ``optimal``).
    feeder_context : FeederContext, optional
        Adds the voltage RMSE (Table 4): AC sweep of the day with the delivered instead of the
        requested power at ``feeder_context.bus``.
    names, technology : sequence of str, optional
        Group labels for the tables (default ``G1..GG``).
    scenario : str
        Label carried into the metrics.

    Returns
    -------
    DispatchResult

    Raises
    ------
    InstanceError
        Bad inputs (shapes, non-finite values, an unknown strategy, SOC0 outside the window).
    SolverError
        ``mpc``/``optimal`` unavailable or failing, or a non-converged power flow.
    """
    t_start = time.perf_counter()
    g = _groups_1d(groups)
    n_g = g.e_kwh.size
    req = as_float_array(p_request_kw, "simulate_dispatch", "p_request_kw")
    if req.ndim != 1 or req.size == 0:
        raise InstanceError.at(None, "p_request_kw", f"shape {req.shape}", "must be a non-empty 1-D series")
    if not np.all(np.isfinite(req)):
        raise InstanceError.at(None, "p_request_kw", "non-finite values", "must be finite")
    dt_h = as_number(dt_h, "simulate_dispatch", "dt_h", 0.0, 24.0 * 366, lo_open=True)
    strat: Strategy = get_strategy(strategy)
    names = tuple(f"G{i + 1}" for i in range(n_g)) if names is None else tuple(str(n) for n in names)
    technology = ("",) * n_g if technology is None else tuple(str(t) for t in technology)
    if len(names) != n_g or len(technology) != n_g:
        raise InstanceError.at(None, "names", list(names), f"need one name and technology per group ({n_g})")
    usable = g.soh * g.e_kwh
    if soc0 is None:
        soc_start = 0.5 * (g.soc_min + g.soc_max)
    else:
        soc_start = as_float_array(soc0, "simulate_dispatch", "soc0")
        if soc_start.ndim > 1 or soc_start.size not in (1, n_g):
            raise ArgumentError(f"simulate_dispatch: soc0 must be one number or one per group ({n_g}), "
                                f"got shape {soc_start.shape}")
        soc_start = np.broadcast_to(soc_start.reshape(-1), (n_g,)).copy()
    bad = ~(np.isfinite(soc_start) & (soc_start >= g.soc_min - 1e-12) & (soc_start <= g.soc_max + 1e-12))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InstanceError.at(None, f"soc0[{i}]", float(soc_start[i]),
                               f"must lie in the SOC window [{g.soc_min[i]:g}, {g.soc_max[i]:g}]")

    n_t = req.size
    p = np.zeros((n_t, n_g))
    e = np.empty((n_t + 1, n_g))
    e[0] = soc_start * usable
    compute_s = 0.0
    repair = 0.0
    life_per_kwh = dt_h / (2.0 * g.soh * g.e_kwh) / np.maximum(remaining_cycles(g.soh), 1e-9)
    ctx = DispatchContext(GroupState(e[0].copy(), float(dt_h)), 0, req, np.zeros(n_g), options)
    perf = time.perf_counter
    for t in range(n_t):
        state = GroupState(e[t].copy(), float(dt_h))
        ctx.state, ctx.step, ctx.forecast_kw = state, t, req[t:]
        ctx.life_used = np.abs(p[:t]).sum(axis=0) * life_per_kwh      # wear so far (Eq. 8, 10b)
        t0 = perf()
        try:
            pt = np.asarray(strat.allocate(g, req[t], ctx), dtype=float)
        except ImportError as exc:
            raise SolverError(f"dispatch strategy {strat.name!r} is not available: {exc}") from None
        compute_s += perf() - t0
        if pt.shape != (n_g,) or not np.all(np.isfinite(pt)):
            raise SolverError(f"dispatch strategy {strat.name!r} returned shape {pt.shape} or non-finite "
                              f"powers at step {t} (expected {(n_g,)})")
        pt, ch = _enforce(g, state, float(req[t]), pt)
        repair = max(repair, ch)
        p[t] = pt
        e[t + 1] = step_energy(g, state, pt)
    sim_s = time.perf_counter() - t_start
    return _assemble(strat, g, names, technology, req, float(dt_h), p, e, woehler, compute_s, sim_s, repair,
                     feeder_context, scenario)


def _assemble(strat, g, names, technology, req, dt_h, p, e, woehler, compute_s, sim_s, repair, ctx, scenario):
    n_t, n_g = p.shape
    usable = g.soh * g.e_kwh
    soc = np.clip(e / usable, 0.0, 1.0)
    efc = np.atleast_1d(equivalent_full_cycles(soc.T, woehler))
    soh_end = np.atleast_1d(soh_after(g.soh, efc))
    days = n_t * dt_h / 24.0
    rate = np.atleast_1d(degradation_rate_pct_per_day(g.soh, soh_end, days))
    life_used = efc / np.atleast_1d(remaining_cycles(g.soh))
    e_in = np.maximum(p, 0.0).sum(axis=0) * dt_h
    e_out = np.maximum(-p, 0.0).sum(axis=0) * dt_h
    thr = e_in + e_out
    tot = float(thr.sum())
    active = thr > ACTIVE_SHARE * tot if tot > 0 else np.zeros(n_g, dtype=bool)
    delivered = p.sum(axis=1)
    dev = req - delivered
    unserved = np.abs(dev) * dt_h
    d_e = e[-1] - e[0]
    num = float(e_out.sum() + (np.maximum(d_e, 0.0) * g.eta_discharge).sum())
    den = float(e_in.sum() + (np.maximum(-d_e, 0.0) / g.eta_charge).sum())
    eff = 100.0 * num / den if den > 0 else float("nan")
    x = life_used
    f_var = float(np.var(x, ddof=1)) if n_g > 1 else 0.0
    time_h = np.arange(n_t) * dt_h

    steps = pd.DataFrame({"step": np.arange(n_t), "time_h": time_h, "p_request_kw": req,
                          "p_delivered_kw": delivered, "deviation_kw": dev, "unserved_kwh": unserved})
    power = pd.DataFrame({"step": np.repeat(np.arange(n_t), n_g), "time_h": np.repeat(time_h, n_g),
                          "group": np.tile(np.array(names, dtype=object), n_t), "p_kw": p.ravel(),
                          "soc_end_pu": soc[1:].ravel()})
    soc_df = pd.DataFrame(soc, columns=list(names), index=pd.Index(np.arange(n_t + 1) * dt_h, name="time_h"))
    groups = pd.DataFrame({
        "group": list(names), "technology": list(technology), "e_kwh": g.e_kwh, "p_kw": g.p_kw,
        "soh_start": g.soh, "soh_end": soh_end, "efc": efc, "life_used_frac": life_used,
        "degradation_pct_per_day": rate, "e_charged_kwh": e_in, "e_discharged_kwh": e_out,
        "throughput_kwh": thr, "soc_start_pu": soc[0], "soc_end_pu": soc[-1], "soc_min_pu": soc.min(axis=0),
        "soc_max_pu": soc.max(axis=0), "soc_range_pu": soc.max(axis=0) - soc.min(axis=0), "active": active,
    })
    ch, dis = req > 0, req < 0
    metrics = {
        "scenario": scenario,
        "strategy": strat.name,
        "label": strat.label,
        "n_steps": n_t,
        "dt_h": dt_h,
        "n_groups": n_g,
        "soh_degradation_pct_per_day": float(rate.mean()),
        "soh_degradation_pct_per_day_max": float(rate.max()),
        "deviation_mae_kw": float(np.abs(dev).mean()),
        "deviation_rms_kw": float(np.sqrt(np.mean(dev ** 2))),
        "unserved_charge_kwh": float(unserved[ch].sum()),
        "unserved_discharge_kwh": float(unserved[dis].sum()),
        "requested_charge_kwh": float(req[ch].sum() * dt_h),
        "requested_discharge_kwh": float(-req[dis].sum() * dt_h),
        "compute_s": compute_s,
        "simulate_s": sim_s,
        "voltage_rmse_pu": float("nan"),
        "peak_request_kw": float(np.abs(req).max()),
        "energy_in_kwh": float(e_in.sum()),
        "energy_out_kwh": float(e_out.sum()),
        "stored_change_kwh": float(d_e.sum()),
        "system_efficiency_pct": eff,
        "active_groups": ",".join(n for n, a in zip(names, active) if a),
        "n_active_groups": int(active.sum()),
        "efc_total": float(efc.sum()),
        "life_variance_eq10": f_var,
        "repair_kw_max": repair,
    }
    voltages = None
    if ctx is not None:
        rmse, voltages = voltage_rmse(ctx, req, delivered, dt_h)
        metrics["voltage_rmse_pu"] = rmse
    return DispatchResult(strategy=strat.name, label=strat.label, names=tuple(names), technology=tuple(technology),
                          dt_h=dt_h, p_request_kw=req, p_group_kw=p, soc_pu=soc, steps=steps, power=power,
                          soc=soc_df, groups=groups, metrics=metrics, voltages=voltages, scenario=scenario)


# ----------------------------------------------------------------------------- voltage RMSE
def voltage_rmse(ctx: FeederContext, p_request_kw, p_delivered_kw, dt_h: float) -> tuple[float, pd.DataFrame]:
    """Voltage RMSE (p.u.) at the unit's bus between the delivered and the requested power.

    The instance's net load of the day (``instance.net_load_kw()``, PV subtracted, no other
    storage) is solved twice with the AC sweep (:func:`slopt.grid.powerflow.powerflow`): once
    with the requested power added at ``ctx.bus`` (consumption positive = charging), once with
    the delivered power. ``RMSE = sqrt(mean_t (V_delivered(t) - V_requested(t))^2)`` at that bus.
    When the request and the profiles have different resolutions, both are held constant over
    their steps and compared at the finer one.

    Returns
    -------
    rmse_pu : float
    voltages : DataFrame
        ``time_h, vm_request_pu, vm_delivered_pu``.

    Raises
    ------
    InstanceError
        If the resolutions do not divide each other or the bus is not in the feeder.
    SolverError
        If a power flow does not converge.
    """
    from slopt.grid.powerflow import powerflow

    inst = ctx.instance
    feeder = inst.feeder
    j = int(feeder.index_of(int(ctx.bus)))
    p_base, q_base = inst.net_load_kw()
    req = np.asarray(p_request_kw, dtype=float)
    dlv = np.asarray(p_delivered_kw, dtype=float)
    n_i, n_r = p_base.shape[0], req.size
    n = max(n_i, n_r)
    if n % n_i or n % n_r:
        raise InstanceError.at(getattr(inst, "path", None), "dispatch.resolution_min", f"{n_r} steps",
                               f"does not divide the profiles' {n_i} steps (or the reverse)")
    p_base, q_base = np.repeat(p_base, n // n_i, axis=0), np.repeat(q_base, n // n_i, axis=0)
    req, dlv = np.repeat(req, n // n_r), np.repeat(dlv, n // n_r)
    p = np.stack([p_base, p_base])
    p[0, :, j] += req
    p[1, :, j] += dlv
    pf = powerflow(feeder, p, np.stack([q_base, q_base]))
    if not pf.all_converged:
        bad = int(np.size(pf.converged) - np.count_nonzero(pf.converged))
        raise SolverError(f"voltage RMSE: AC power flow did not converge at {bad} of {2 * n} snapshots")
    vm = np.asarray(pf.vm_pu)[..., j]
    rmse = float(np.sqrt(np.mean((vm[1] - vm[0]) ** 2)))
    step_h = dt_h * n_r / n
    return rmse, pd.DataFrame({"time_h": np.arange(n) * step_h, "vm_request_pu": vm[0], "vm_delivered_pu": vm[1]})


# ----------------------------------------------------------------------------- across scenarios
def _as_mapping(results) -> dict:
    if isinstance(results, Mapping):
        return dict(results)
    out = {}
    for i, r in enumerate(results):
        key = r.scenario or f"run{i + 1}"
        out[key if key not in out else f"{key}#{i + 1}"] = r
    return out


def throughput_table(results) -> pd.DataFrame:
    """Energy throughput (charged + discharged, kWh) per group (columns) and run (rows).

    ``results``: a mapping ``{scenario: DispatchResult}`` or a sequence (labelled by
    ``result.scenario``). All runs must have the same groups.
    """
    res = _as_mapping(results)
    if not res:
        return pd.DataFrame()
    names = next(iter(res.values())).names
    for k, r in res.items():
        if r.names != names:
            raise InstanceError.at(None, "results", k, f"groups {list(r.names)} differ from {list(names)}")
    return pd.DataFrame({k: r.groups["throughput_kwh"].to_numpy() for k, r in res.items()}, index=list(names)).T


def consistency_matrix(results) -> pd.DataFrame:
    """Pearson correlation between the per-group throughput vectors of every pair of runs.

    NaN where a run has no throughput variance across groups (e.g. an all-zero request).
    """
    thr = throughput_table(results)
    return thr.T.corr(method="pearson")


def consistency_index(results) -> pd.Series:
    """Power allocation consistency index (Yuan et al. Table 3) per run.

    The mean Pearson correlation of the run's per-group energy-throughput vector with those of
    the other runs (Yuan et al.: "the correlation coefficient between power distribution patterns
    across different scenarios"). NaN with fewer than two runs.
    """
    c = consistency_matrix(results)
    if c.shape[0] < 2:
        return pd.Series(np.nan, index=c.index, name="consistency_index")
    m = c.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(m, np.nan)
    ok = np.isfinite(m)
    mean = np.where(ok.any(axis=1), np.where(ok, m, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)
    return pd.Series(mean, index=c.index, name="consistency_index")


def table3(results) -> pd.DataFrame:
    """Yuan et al. Table 3 for one strategy across scenarios.

    Columns: ``peak_request_kw``, ``active_groups``, ``soc_range[<group>]`` (``min-max`` of the SOC
    of each group), ``system_efficiency_pct``, ``unserved_kwh`` and ``consistency_index``.
    """
    res = _as_mapping(results)
    ci = consistency_index(res) if len(res) > 1 else pd.Series(np.nan, index=list(res))
    rows = []
    for k, r in res.items():
        m = r.metrics
        row = {"scenario": k, "peak_request_kw": m["peak_request_kw"], "active_groups": m["active_groups"]}
        for _, gr in r.groups.iterrows():
            row[f"soc_range[{gr['group']}]"] = f"{gr['soc_min_pu']:.3f}-{gr['soc_max_pu']:.3f}"
        row["system_efficiency_pct"] = m["system_efficiency_pct"]
        row["unserved_kwh"] = m["unserved_charge_kwh"] + m["unserved_discharge_kwh"]
        row["consistency_index"] = float(ci.get(k, np.nan))
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")
