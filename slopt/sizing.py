"""``solve_sizing``: exact capacity sizing with an AC-checked plan (DESIGN sections 5 and 12).

The MILP of :mod:`slopt.models.sizing` uses LinDistFlow, which ignores losses and is
optimistic by a few mV. Every plan is therefore re-simulated with the AC sweep; where the
AC voltage leaves the band, the LinDistFlow floor (ceiling) at that bus and step is moved by
the observed violation plus a small margin and the model is re-solved, until the AC
violation is at most ``ac_tol_pu``. An infeasible instance is diagnosed by an elastic
re-solve that names the buses and steps that cannot be held and by how much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from slopt.battery.cost import storage_cost_usd
from slopt.grid.lindistflow import lindistflow_vm_pu
from slopt.grid.powerflow import powerflow
from slopt.io.instance import Instance
from slopt.models.sizing import SizingData, build_sizing_model, sizing_data
from slopt.solve import SolveOptions, SolveResult, Status, solve

__all__ = ["SizingOptions", "HeuristicOptions", "SizingResult", "solve_sizing", "diagnose_infeasibility",
           "HEURISTICS"]

#: Methods solved by the bilevel heuristic (pymoo) instead of the MILP.
HEURISTICS = ("dbo", "pso", "ga")


@dataclass(frozen=True)
class SizingOptions:
    """Options of :func:`solve_sizing`.

    Attributes
    ----------
    solver : SolveOptions
        Time limit, gap, threads, seed of HiGHS.
    objective : str
        ``"capex"`` (seed 002 Eq. 2) or ``"annualised"``.
    ac_tol_pu : float
        Largest AC band violation accepted for the final plan.
    ac_margin_pu : float
        Extra tightening added at each offending bus and step.
    max_rounds : int
        Maximum number of MILP solves in the AC check loop.
    heuristic : HeuristicOptions
        Population, generations, seed and penalties for ``dbo``, ``pso`` and ``ga``.
    fixed_initial_soc : bool
        MILP: start and end the day at each technology's ``soc_initial`` instead of a free
        cyclic start (the free start is the periodic day the heuristics' warm-up reaches too).
    """

    solver: SolveOptions = field(default_factory=lambda: SolveOptions(mip_rel_gap=1e-3))
    objective: str = "capex"
    heuristic: "HeuristicOptions" = None  # type: ignore[assignment]
    ac_tol_pu: float = 1e-4
    ac_margin_pu: float = 2e-5
    max_rounds: int = 8
    fixed_initial_soc: bool = False

    def __post_init__(self):
        if self.heuristic is None:
            object.__setattr__(self, "heuristic", HeuristicOptions())


@dataclass(frozen=True)
class HeuristicOptions:
    """Options of the bilevel heuristics (seed 002 Algorithm 1).

    Attributes
    ----------
    pop_size, n_gen : int
        Population size and generations (pymoo termination ``("n_gen", n_gen)``).
    seed : int
        pymoo seed; the same seed gives the same run.
    variant : str
        DBO variant: ``"unbiased"`` (default) or ``"paper"``.
    capacity : CapacityOptions or None
        Penalty weights and day-simulation options (``None``: defaults).
    """

    pop_size: int = 30
    n_gen: int = 50
    seed: int = 1
    variant: str = "unbiased"
    capacity: object = None


@dataclass
class SizingResult:
    """Outcome of a sizing run, with pandas tables in the manner of pandapower's ``res_*``.

    Attributes
    ----------
    status : Status
    objective_usd : float or None
        Eq. 2 (or annualised) cost of the plan.
    bound_usd, gap : float or None
        Best bound and relative gap from HiGHS (last round).
    sizing : DataFrame
        One row per candidate bus and technology: ``bus, technology, e_kwh, p_kw, cost_usd``.
    dispatch : DataFrame
        Per step, bus and technology: ``p_charge_kw, p_discharge_kw, p_net_kw`` (consumption
        positive), ``e_kwh``, ``soc_pu``.
    voltages : DataFrame
        Per step and bus: ``vm_lindistflow_pu``, ``vm_ac_pu`` (with storage) and
        ``vm_base_ac_pu`` (without storage).
    rounds : int
        MILP solves in the AC check loop.
    ac_max_violation_pu : float
        Largest AC band violation of the final plan (0 if inside).
    build_s, solve_s : float
        Total model build and HiGHS time over all rounds.
    diagnosis : DataFrame or None
        For infeasible instances: buses and steps that cannot be held and the shortfall.
    """

    status: Status
    objective_usd: float | None
    bound_usd: float | None
    gap: float | None
    sizing: pd.DataFrame
    dispatch: pd.DataFrame
    voltages: pd.DataFrame
    rounds: int
    ac_max_violation_pu: float
    build_s: float
    solve_s: float
    method: str = "milp"
    instance: Instance | None = None
    diagnosis: pd.DataFrame | None = None
    message: str = ""
    history: list = field(default_factory=list)
    convergence: pd.DataFrame | None = None
    n_evals: int = 0
    gap_to_milp: float | None = None

    def table2(self) -> pd.DataFrame:
        """The plan in the shape of seed 002 Table 2 (rows: bus x quantity; columns: new, retired, total)."""
        if self.sizing.empty:
            return pd.DataFrame()
        s = self.sizing.copy()
        built = s.groupby("bus")["e_kwh"].transform("sum") > 1e-6
        s = s[built]
        long = s.melt(id_vars=["bus", "technology"], value_vars=["e_kwh", "p_kw", "cost_usd"], var_name="quantity")
        wide = long.pivot_table(index=["bus", "quantity"], columns="technology", values="value", aggfunc="sum").fillna(0.0)
        wide["total"] = wide.sum(axis=1)
        order = {"e_kwh": 0, "p_kw": 1, "cost_usd": 2}
        wide = wide.sort_index(level=[0, 1], key=lambda ix: ix.map(order) if ix.name == "quantity" else ix)
        wide = wide.rename(index={"e_kwh": "Capacity (kWh)", "p_kw": "Power (kW)", "cost_usd": "Cost ($)"})
        return wide

    def summary(self) -> dict:
        return {
            "method": self.method, "status": str(self.status), "objective_usd": self.objective_usd,
            "bound_usd": self.bound_usd, "gap": self.gap, "rounds": self.rounds,
            "ac_max_violation_pu": self.ac_max_violation_pu, "build_s": self.build_s, "solve_s": self.solve_s,
            "n_evals": self.n_evals, "gap_to_milp": self.gap_to_milp, "message": self.message,
        }


def _extract(m, d: SizingData):
    C, K, T = d.n_cand, len(d.techs), d.T
    E = np.array([[pyo.value(m.E[c, k]) for k in range(K)] for c in range(C)])
    P = np.array([[pyo.value(m.P[c, k]) for k in range(K)] for c in range(C)])
    get = lambda var: np.array([[[var[c, k, t].value for t in range(T)] for k in range(K)] for c in range(C)], dtype=float)
    return E, P, get(m.pch), get(m.pdis), get(m.e)


def _plan_voltages(d: SizingData, pch: np.ndarray, pdis: np.ndarray):
    """AC and LinDistFlow voltages of the plan; storage net power (C, T) added to the net load."""
    net_ct = (pch - pdis).sum(axis=1)  # (C, T)
    p = d.base_p_kw.copy()
    np.add.at(p.T, d.cand_idx, net_ct)  # p[:, cand] += net.T, duplicates safe
    ac = powerflow(d.instance.feeder, p, d.base_q_kvar)
    lin = lindistflow_vm_pu(d.instance.feeder, p, d.base_q_kvar)
    return ac, lin, p


def _violation(vm: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.maximum(lo - vm, 0.0) + np.maximum(vm - hi, 0.0)


def solve_sizing(instance: Instance, method: str = "milp", options: SizingOptions | None = None,
                 extra_constraints=None, progress=None) -> SizingResult:
    """Size new and second-life storage for an instance.

    Parameters
    ----------
    instance : Instance
    method : str
        ``"milp"`` (exact, Pyomo + HiGHS), or a bilevel heuristic of seed 002 Algorithm 1 whose
        fitness simulates the day under MFAC control: ``"dbo"`` (:class:`slopt.heuristics.DBO`),
        ``"pso"`` or ``"ga"`` (pymoo).
    options : SizingOptions, optional
    extra_constraints : callable, optional
        ``extra_constraints(model, instance)``, applied in every round.
    progress : callable, optional
        Called as ``progress(round, info_dict)`` after every round.

    Returns
    -------
    SizingResult
        MILP: ``status`` is ``optimal`` only if the last round was solved to the requested gap
        and its plan holds the band in AC within ``ac_tol_pu``. Heuristics: ``feasible`` if the
        best plan holds the band in the closed-loop AC simulation within ``ac_tol_pu`` and
        restores its SOC over the day, otherwise ``error`` (no band-feasible plan found); never
        ``optimal``.
    """
    opts = options or SizingOptions()
    if method in HEURISTICS:
        return _solve_heuristic(instance, method, opts, progress)
    if method != "milp":
        raise ValueError(f"unknown method {method!r}; use 'milp', 'dbo', 'pso' or 'ga'")
    inst = instance
    t_build = time.perf_counter()
    d = sizing_data(inst, objective=opts.objective, fixed_initial_soc=opts.fixed_initial_soc)
    build_s = time.perf_counter() - t_build
    solve_s = 0.0
    base_ac = powerflow(inst.feeder, d.base_p_kw, d.base_q_kvar)
    history = []
    res: SolveResult | None = None
    plan = None
    for rnd in range(1, opts.max_rounds + 1):
        t0 = time.perf_counter()
        m = build_sizing_model(d, extra_constraints=extra_constraints)
        build_s += time.perf_counter() - t0
        res = solve(m, opts.solver)
        solve_s += res.solve_s
        if not res.has_solution:
            break
        E, P, pch, pdis, e = _extract(m, d)
        if not d.exclusivity and np.any(np.minimum(pch, pdis) > 1e-6):
            d.exclusivity = True   # relaxed plan cycled within a step: re-solve with binaries
            history.append({"round": rnd, "objective_usd": res.objective, "ac_max_violation_pu": None,
                            "note": "simultaneous charge/discharge; exclusivity binaries added"})
            continue
        ac, lin, _ = _plan_voltages(d, pch, pdis)
        viol = _violation(ac.vm_pu, inst.vmin_pu, inst.vmax_pu)
        viol[:, 0] = 0.0
        worst = float(viol.max()) if ac.all_converged else float("inf")
        plan = (m, E, P, pch, pdis, e, ac, lin, worst)
        history.append({"round": rnd, "objective_usd": res.objective, "ac_max_violation_pu": worst,
                        "gap": res.gap, "solve_s": res.solve_s})
        if progress is not None:
            progress(rnd, history[-1])
        if worst <= opts.ac_tol_pu:
            break
        # Tighten: raise each LinDistFlow floor (lower each ceiling) by the linearisation error
        # observed at this plan, never relaxing an earlier round's correction; buses and steps
        # that are still outside the band in AC get the violation on top (DESIGN section 12).
        err = lin - ac.vm_pu
        err[:, 0] = 0.0
        low = ac.vm_pu < inst.vmin_pu
        high = ac.vm_pu > inst.vmax_pu
        low[:, 0] = high[:, 0] = False
        offset_lo = np.maximum(d.floor_pu - inst.vmin_pu, np.clip(err, 0.0, None) + opts.ac_margin_pu)
        offset_lo[low] += np.clip(inst.vmin_pu - ac.vm_pu[low] - np.clip(err[low], 0.0, None), 0.0, None)
        offset_hi = np.maximum(inst.vmax_pu - d.ceil_pu, np.clip(-err, 0.0, None) + opts.ac_margin_pu)
        offset_hi[high] += np.clip(ac.vm_pu[high] - inst.vmax_pu - np.clip(-err[high], 0.0, None), 0.0, None)
        d.floor_pu = inst.vmin_pu + offset_lo
        d.ceil_pu = inst.vmax_pu - offset_hi

    assert res is not None
    if plan is None:
        status = res.status
        diag = None
        msg = res.message
        if status == Status.INFEASIBLE:
            t0 = time.perf_counter()
            # the diagnosis only needs the shortfall pattern: 1 % gap and at most 120 s
            diag_opts = replace(opts.solver, mip_rel_gap=max(opts.solver.mip_rel_gap, 1e-2),
                                time_limit_s=min(opts.solver.time_limit_s or 120.0, 120.0))
            diag = diagnose_infeasibility(d, diag_opts)
            solve_s += time.perf_counter() - t0
            msg = _diagnosis_message(diag)
        return SizingResult(status, None, None, None, pd.DataFrame(columns=["bus", "technology", "e_kwh", "p_kw", "cost_usd"]),
                            pd.DataFrame(), pd.DataFrame(), len(history) + 1, float("nan"), build_s, solve_s,
                            instance=inst, diagnosis=diag, message=msg, history=history)

    m, E, P, pch, pdis, e, ac, lin, worst = plan
    status = res.status
    msg = ""
    if worst > opts.ac_tol_pu:
        status = Status.FEASIBLE if status == Status.OPTIMAL else status
        msg = f"AC check: band violated by {worst:.2e} p.u. after {len(history)} rounds"
    return SizingResult(
        status=status, objective_usd=float(pyo.value(m.cost_usd)), bound_usd=res.bound, gap=res.gap,
        sizing=_sizing_table(d, E, P), dispatch=_dispatch_table(d, pch, pdis, e, E),
        voltages=_voltage_table(d, lin, ac.vm_pu, base_ac.vm_pu), rounds=len(history),
        ac_max_violation_pu=worst, build_s=build_s, solve_s=solve_s, instance=inst, message=msg, history=history,
    )


# --------------------------------------------------------------------------- tables
def _times(d: SizingData) -> np.ndarray:
    return np.round(np.arange(d.T) * d.dt_h, 6)


def _sizing_table(d: SizingData, E, P) -> pd.DataFrame:
    rows = []
    bus_ids = d.instance.feeder.bus_ids[d.cand_idx]
    for c, bus in enumerate(bus_ids):
        for k, tech in enumerate(d.techs):
            e_kwh = float(E[c, k]) if E[c, k] > 1e-9 else 0.0
            p_kw = float(P[c, k]) if P[c, k] > 1e-9 else 0.0
            rows.append({"bus": int(bus), "technology": tech.name, "e_kwh": e_kwh, "p_kw": p_kw,
                         "cost_usd": storage_cost_usd(tech, e_kwh, p_kw)})
    return pd.DataFrame(rows)


def _dispatch_table(d: SizingData, pch, pdis, e, E) -> pd.DataFrame:
    C, K, T = pch.shape
    bus_ids = d.instance.feeder.bus_ids[d.cand_idx]
    usable = np.array([[E[c, k] * d.techs[k].soh for k in range(K)] for c in range(C)])
    with np.errstate(invalid="ignore", divide="ignore"):
        soc = np.where(usable[:, :, None] > 1e-9, e / usable[:, :, None], np.nan)
    idx = pd.MultiIndex.from_product([range(C), range(K), range(T)], names=["c", "k", "t"])
    df = pd.DataFrame({
        "time_h": np.tile(_times(d), C * K),
        "bus": np.repeat(bus_ids, K * T),
        "technology": np.tile(np.repeat([t.name for t in d.techs], T), C),
        "p_charge_kw": pch.ravel(), "p_discharge_kw": pdis.ravel(),
        "p_net_kw": (pch - pdis).ravel(), "e_kwh": e.ravel(), "soc_pu": soc.ravel(),
    }, index=idx).reset_index(drop=True)
    return df


def _voltage_table(d: SizingData, lin, ac, base) -> pd.DataFrame:
    T, n = ac.shape
    return pd.DataFrame({
        "time_h": np.repeat(_times(d), n),
        "bus": np.tile(d.instance.feeder.bus_ids, T),
        "vm_lindistflow_pu": lin.ravel(), "vm_ac_pu": ac.ravel(), "vm_base_ac_pu": base.ravel(),
    })


# --------------------------------------------------------------------------- infeasibility
def diagnose_infeasibility(d: SizingData, solver: SolveOptions | None = None) -> pd.DataFrame:
    """Elastic re-solve: voltage rows get slacks, and their sum is minimised.

    Returns one row per bus and step that cannot be held: ``bus, time_h, side ('low'/'high'),
    limit_pu, shortfall_pu`` (how far the best plan within the ratings stays outside the
    LinDistFlow limit), sorted by shortfall. Empty if the elastic model needs no slack (the
    infeasibility then lies elsewhere, e.g. a minimum size beyond a bound).
    """
    m = build_sizing_model(d)
    m.objective.deactivate()
    m.s_lo = pyo.Var(m.V_LO, within=pyo.NonNegativeReals)
    m.s_hi = pyo.Var(m.V_HI, within=pyo.NonNegativeReals)
    band = m._band
    for (t, a) in m.V_LO:
        m.v_lo[t, a].set_value(m.dw[a, t] + m.s_lo[t, a] >= float(band["lo"][t, a]))
    for (t, a) in m.V_HI:
        m.v_hi[t, a].set_value(m.dw[a, t] - m.s_hi[t, a] <= float(band["hi"][t, a]))
    # shortfall first; cost as a tie-breaker keeps the plan sensible
    m.elastic = pyo.Objective(expr=1e6 * (sum(m.s_lo.values()) + sum(m.s_hi.values())) + 1e-3 * m.cost_usd)
    res = solve(m, solver or SolveOptions())
    cols = ["bus", "time_h", "side", "limit_pu", "shortfall_pu"]
    if not res.has_solution:
        return pd.DataFrame(columns=cols)
    rows = []
    bus_ids = d.instance.feeder.bus_ids
    for (t, a), var in list(m.s_lo.items()):
        s = var.value or 0.0
        if s > 1e-9:
            j = band["worst_lo"][t, a]
            lim = d.floor_pu[t, j]
            rows.append((int(bus_ids[j]), t * d.dt_h, "low", lim, lim - np.sqrt(max(lim**2 - s, 0.0))))
    for (t, a), var in list(m.s_hi.items()):
        s = var.value or 0.0
        if s > 1e-9:
            j = band["worst_hi"][t, a]
            lim = d.ceil_pu[t, j]
            rows.append((int(bus_ids[j]), t * d.dt_h, "high", lim, np.sqrt(lim**2 + s) - lim))
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("shortfall_pu", ascending=False, ignore_index=True)


def _diagnosis_message(diag: pd.DataFrame | None) -> str:
    if diag is None or diag.empty:
        return "infeasible: the voltage band is not the cause (check minimum sizes and bounds)"
    worst = diag.iloc[0]
    buses = diag["bus"].nunique()
    steps = diag["time_h"].nunique()
    hours = f"{diag['time_h'].min():g}-{diag['time_h'].max():g} h"
    return (f"infeasible: the band cannot be held at {buses} bus(es) in {steps} step(s) ({hours}) "
            f"even with storage at its bounds; worst bus {int(worst['bus'])} at {worst['time_h']:g} h is "
            f"{worst['shortfall_pu']:.4f} p.u. {'below' if worst['side'] == 'low' else 'above'} the limit")


# --------------------------------------------------------------------------- heuristics
def _solve_heuristic(inst: Instance, method: str, opts: SizingOptions, progress=None) -> SizingResult:
    """Seed 002 Algorithm 1: a pymoo algorithm over :class:`CapacityProblem` (MFAC in the loop)."""
    from pymoo.core.callback import Callback
    from pymoo.optimize import minimize

    from slopt.heuristics.capacity import CapacityOptions, CapacityProblem
    from slopt.heuristics.simulation import simulate_day

    h = opts.heuristic
    t0 = time.perf_counter()
    problem = CapacityProblem(inst, h.capacity if h.capacity is not None else CapacityOptions())
    algorithm = make_algorithm(method, h)
    build_s = time.perf_counter() - t0

    class _Track(Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def notify(self, algorithm):
            opt = algorithm.opt[0]
            row = {"generation": int(algorithm.n_gen), "n_evals": int(algorithm.evaluator.n_eval),
                   "best_f": float(opt.F[0]), "best_cost_usd": float(opt.get("cost_usd")),
                   "best_max_violation_pu": float(opt.get("max_violation_pu")),
                   "elapsed_s": time.perf_counter() - t1}
            self.rows.append(row)
            if progress is not None:
                progress(row["generation"], row)

    track = _Track()
    t1 = time.perf_counter()
    res = minimize(problem, algorithm, ("n_gen", int(h.n_gen)), seed=int(h.seed), callback=track, verbose=False)
    solve_s = time.perf_counter() - t1
    e, p = problem.decode(res.X)
    sim = simulate_day(inst, e, p, problem.options.simulation, record=True)
    worst = float(sim.max_violation_pu[0])
    deficit = float(sim.soc_deficit_kwh[0])
    ok = worst <= opts.ac_tol_pu and deficit <= 1e-3
    status = Status.FEASIBLE if ok else Status.ERROR
    msg = "" if ok else (f"{method}: no band-feasible plan found in {h.n_gen} generations "
                         f"(max violation {worst:.2e} p.u., SOC deficit {deficit:.1f} kWh)")
    d = sizing_data(inst)
    E, P = e[0], p[0]
    pgrp = np.moveaxis(sim.p_group_kw[0], 0, -1)          # (C, K, T)
    egrp = np.moveaxis(sim.e_group_kwh[0], 0, -1)
    pch, pdis = np.maximum(pgrp, 0.0), np.maximum(-pgrp, 0.0)
    net = d.base_p_kw.copy()
    np.add.at(net.T, d.cand_idx, pgrp.sum(axis=1))
    lin = lindistflow_vm_pu(inst.feeder, net, d.base_q_kvar)
    base_ac = powerflow(inst.feeder, d.base_p_kw, d.base_q_kvar)
    conv = pd.DataFrame(track.rows)
    return SizingResult(
        status=status, objective_usd=float(problem.cost_usd(e, p)[0]), bound_usd=None, gap=None,
        sizing=_sizing_table(d, E, P), dispatch=_dispatch_table(d, pch, pdis, egrp, E),
        voltages=_voltage_table(d, lin, sim.vm_pu[0], base_ac.vm_pu), rounds=1, ac_max_violation_pu=worst,
        build_s=build_s, solve_s=solve_s, method=method, instance=inst, message=msg,
        history=[{"fitness": float(res.F[0]), "soc_deficit_kwh": deficit, "violation_puh": float(sim.violation_puh[0])}],
        convergence=conv, n_evals=int(res.algorithm.evaluator.n_eval),
    )


def make_algorithm(method: str, h: HeuristicOptions):
    """The pymoo algorithm for ``method`` with population ``h.pop_size``."""
    if method == "dbo":
        from slopt.heuristics.dbo import DBO

        return DBO(pop_size=h.pop_size, variant=h.variant)
    if method == "pso":
        from pymoo.algorithms.soo.nonconvex.pso import PSO

        return PSO(pop_size=h.pop_size)
    if method == "ga":
        from pymoo.algorithms.soo.nonconvex.ga import GA

        return GA(pop_size=h.pop_size, eliminate_duplicates=True)
    raise ValueError(f"unknown heuristic {method!r}")
