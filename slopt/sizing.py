"""``solve_sizing``: exact capacity sizing whose plan is optimal in AC (``docs/sizing.md``).

The MILP of :mod:`slopt.models.sizing` holds the voltage band through a linear model of the
squared voltages in the sites' net load. The AC loop makes that model exact at the answer:

1. Round 1 linearises the AC power flow at the feeder without storage
   (:func:`slopt.grid.sensitivity.ac_model`) and solves the MILP.
2. Every plan is checked with the batched AC sweep; the AC power flow is linearised again at
   that plan (value and sensitivities, so the band rows are exact there) and the MILP is
   re-solved: a sequential linear programme whose fixed point satisfies the optimality
   conditions of the AC-constrained problem, not only of an approximation.
3. The loop ends when the AC band violation is at most ``ac_tol_pu`` AND no binding band row
   keeps more than ``ac_tol_pu`` of unused AC margin. Status ``optimal`` then means: the last
   MILP is solved to its gap and the plan is an AC fixed point. Reaching ``max_rounds`` first
   returns the cheapest plan that holds the band in AC with status ``feasible``.
4. A round whose linearisation admits no plan is followed by least-violation rounds (the band
   rows get slacks, phase 1), re-linearised at each least-violation plan. If one of them
   holds the band in AC, the least-cost rounds resume from it; if the least violation stops
   falling above ``ac_tol_pu``, the instance is infeasible in AC and the diagnosis lists every
   bus and step outside the band at the least-violation plan, with its AC shortfall.

An earlier loop only ever raised a LinDistFlow floor by the largest error seen so far; it kept
up to 1.25e-4 p.u. of unused margin (2.4 % of cost on ieee33-hybrid) and declared instances
with AC-feasible plans infeasible. The reference for the claims above is the independent
AC-exact solver of :mod:`slopt.reference` (tests and ``benchmarks/sizing.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from slopt.battery.cost import annualised_cost_usd, storage_cost_usd
from slopt.errors import InstanceError, SolverError
from slopt.grid.lindistflow import lindistflow_vm_pu
from slopt.grid.powerflow import powerflow
from slopt.grid.sensitivity import VoltageModel, ac_model, with_storage
from slopt.io.instance import Instance
from slopt.models.sizing import SizingData, SizingPlan, build_sizing_model, extract_plan, sizing_data
from slopt.solve import SolveOptions, SolveResult, Status, solve

__all__ = ["SizingOptions", "HeuristicOptions", "SizingResult", "solve_sizing", "ac_diagnosis", "HEURISTICS"]

#: Methods solved by the bilevel heuristic (pymoo) instead of the MILP.
HEURISTICS = ("dbo", "pso", "ga")


@dataclass(frozen=True)
class SizingOptions:
    """Options of :func:`solve_sizing`.

    Attributes
    ----------
    solver : SolveOptions
        Time limit (per round), gap, threads, seed of HiGHS.
    objective : str
        ``"capex"`` (Yuan et al. Eq. 2) or ``"annualised"``.
    ac_tol_pu : float
        Largest AC band violation accepted for the final plan, and largest unused AC margin
        left on a binding band row.
    max_rounds : int
        Maximum number of MILP solves in the AC loop.
    heuristic : HeuristicOptions
        Population, generations, seed and penalties for ``dbo``, ``pso`` and ``ga``.
    fixed_initial_soc : bool
        MILP: start and end the day at each technology's ``soc_initial`` instead of a free
        cyclic start (the free start is the periodic day the heuristics' warm-up reaches too).
    day_weights : tuple of float, optional
        Multi-day instances (representative days): the days each modelled day stands for, used
        wherever operating terms enter the objective. Default 1 per day.
    exclusivity : str
        Where a plan charges and discharges one unit in the same step (it burns energy, which
        pays where over-voltage binds): ``"binaries"`` (exact, can be slow) or ``"fix"`` (fix the
        direction the plan leaned to: an LP, reported ``feasible``, never ``optimal``).
    least_violation : bool
        Look for the plan with the least AC band violation instead of the least cost (phase 1
        only): for sizes fixed by ``extra_constraints``, as in the year replay. The status is
        ``feasible`` when a plan holds the band within ``ac_tol_pu``, else ``infeasible``.
    """

    solver: SolveOptions = field(default_factory=lambda: SolveOptions(mip_rel_gap=1e-3))
    objective: str = "capex"
    heuristic: "HeuristicOptions" = None  # type: ignore[assignment]
    ac_tol_pu: float = 1e-6
    max_rounds: int = 12
    fixed_initial_soc: bool = False
    day_weights: tuple | None = None
    least_violation: bool = False
    exclusivity: str = "binaries"

    def __post_init__(self):
        if self.heuristic is None:
            object.__setattr__(self, "heuristic", HeuristicOptions())
        if not isinstance(self.objective, str) or self.objective not in ("capex", "annualised"):
            raise InstanceError.at(None, "objective", self.objective, "must be capex or annualised")
        if not (np.isfinite(self.ac_tol_pu) and self.ac_tol_pu > 0):
            raise InstanceError.at(None, "ac_tol_pu", self.ac_tol_pu, "must be > 0")
        if self.exclusivity not in ("binaries", "fix"):
            raise InstanceError.at(None, "exclusivity", self.exclusivity, "must be binaries or fix")
        if int(self.max_rounds) < 1:
            raise InstanceError.at(None, "max_rounds", self.max_rounds, "must be >= 1")


@dataclass(frozen=True)
class HeuristicOptions:
    """Options of the bilevel heuristics (Yuan et al. Algorithm 1).

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
    compare_milp : bool
        Also solve the MILP and report ``gap_to_milp`` (relative cost above the MILP optimum).
    """

    pop_size: int = 30
    n_gen: int = 50
    seed: int = 1
    variant: str = "unbiased"
    capacity: object = None
    compare_milp: bool = False


@dataclass
class SizingResult:
    """Outcome of a sizing run, with pandas tables in the manner of pandapower's ``res_*``.

    Attributes
    ----------
    status : Status
        MILP: ``optimal`` = the last MILP within its gap AND an AC fixed point (violation and
        unused margin at most ``ac_tol_pu``); ``feasible`` = holds the band in AC but the loop
        or the solver stopped early; ``infeasible`` = no plan holds the band in AC (see
        ``diagnosis``; no plan is returned, only ``least_violation``).
    objective_usd : float or None
        Cost of the plan in the chosen objective (Eq. 2, or annualised).
    bound_usd, gap : float or None
        Best bound and relative gap from HiGHS for the last round's MILP. Where charge and
        discharge directions were fixed (``exclusivity="fix"``) that MILP's bound holds only for
        the restricted problem, so the bound is that of the same model with the directions free
        (a relaxation: units may cycle), and None if that solve gives none.
    sizing : DataFrame
        One row per candidate bus and technology: ``bus, technology, e_kwh, p_kw, capex_usd``
        (Eq. 2), ``annualised_usd`` and ``cost_usd`` (the objective's column; sums to
        ``objective_usd``).
    dispatch : DataFrame
        Per step, bus and technology: ``p_charge_kw, p_discharge_kw, p_net_kw`` (consumption
        positive), ``e_kwh``, ``soc_pu``.
    voltages : DataFrame
        Per step and bus: ``vm_lindistflow_pu`` (for reference), ``vm_ac_pu`` (with storage) and
        ``vm_base_ac_pu`` (without storage).
    rounds : int
        MILP solves in the AC loop.
    ac_max_violation_pu : float
        Largest AC band violation of the plan (0 if inside).
    ac_margin_left_pu : float
        Largest unused AC margin on a band row that binds in the last MILP.
    refinement_cost_change : float or None
        Relative cost change between the last two least-cost rounds (the AC refinement residual).
    build_s, solve_s : float
        Total model build (incl. AC linearisations) and HiGHS time over all rounds.
    diagnosis : DataFrame or None
        Infeasible: every bus and step outside the band at the least-violation plan, in AC:
        ``bus, time_h, side, limit_pu, vm_ac_pu, vm_base_ac_pu, shortfall_pu``.
    least_violation : DataFrame or None
        Infeasible: the sizing table of the least-violation plan (labelled as such, not a plan).
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
    milp_objective_usd: float | None = None
    ac_margin_left_pu: float | None = None
    refinement_cost_change: float | None = None
    least_violation: pd.DataFrame | None = None

    def table2(self) -> pd.DataFrame:
        """The plan in the shape of Yuan et al. Table 2 (rows: bus x quantity; columns: new, retired, total)."""
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
        """Scalars of the run; ``status_covers`` says what the status claims."""
        covers = None
        if self.method == "milp" and self.objective_usd is not None:
            covers = {"mip_gap": self.gap, "ac_max_violation_pu": self.ac_max_violation_pu,
                      "ac_margin_left_pu": self.ac_margin_left_pu,
                      "refinement_cost_change": self.refinement_cost_change,
                      "objective": "capex (Eq. 2)" if _objective(self) == "capex" else "annualised"}
        return {
            "method": self.method, "status": str(self.status), "objective_usd": self.objective_usd,
            "bound_usd": self.bound_usd, "gap": self.gap, "rounds": self.rounds,
            "ac_max_violation_pu": self.ac_max_violation_pu, "ac_margin_left_pu": self.ac_margin_left_pu,
            "refinement_cost_change": self.refinement_cost_change, "status_covers": covers,
            "build_s": self.build_s, "solve_s": self.solve_s,
            "n_evals": self.n_evals, "gap_to_milp": self.gap_to_milp, "milp_objective_usd": self.milp_objective_usd,
            "message": self.message,
        }


def _objective(res: SizingResult) -> str:
    s = res.sizing
    if s.empty or "annualised_usd" not in s:
        return "capex"
    return "annualised" if np.allclose(s["cost_usd"], s["annualised_usd"]) and not np.allclose(
        s["cost_usd"], s["capex_usd"]) else "capex"


def solve_sizing(instance: Instance, method: str = "milp", options: SizingOptions | None = None,
                 extra_constraints=None, progress=None) -> SizingResult:
    """Size new and second-life storage for an instance.

    Parameters
    ----------
    instance : Instance
    method : str
        ``"milp"`` (exact, Pyomo + HiGHS, AC loop of the module docstring), or a bilevel heuristic
        of Yuan et al. Algorithm 1 whose fitness simulates the day under MFAC control: ``"dbo"``
        (:class:`slopt.heuristics.DBO`), ``"pso"`` or ``"ga"`` (pymoo).
    options : SizingOptions, optional
    extra_constraints : callable, optional
        ``extra_constraints(model, data)``, applied in every round (``data.instance`` is the
        instance; components are indexed by bus id and technology name, ``m.E[18, "retired"]``).
    progress : callable, optional
        Called as ``progress(round, info_dict)`` after every round (generation for heuristics).

    Returns
    -------
    SizingResult
        MILP: see :class:`SizingResult` ``status``. Heuristics: ``feasible`` if the best plan
        holds the band in the closed-loop AC simulation within ``ac_tol_pu`` and restores its
        SOC over the day, otherwise ``error`` (no band-feasible plan found); never ``optimal``.
    """
    if not isinstance(instance, Instance):
        raise InstanceError.at(None, "instance", type(instance).__name__,
                               "solve_sizing needs an Instance (use slopt.load_instance(path))")
    if options is not None and not isinstance(options, SizingOptions):
        raise InstanceError.at(None, "options", type(options).__name__, "must be a SizingOptions")
    if not isinstance(method, str) or method not in ("milp", *HEURISTICS):
        raise InstanceError.at(None, "method", method if isinstance(method, str) else type(method).__name__,
                               "unknown method; use milp, dbo, pso or ga")
    opts = options or SizingOptions()
    if method in HEURISTICS:
        res = _solve_heuristic(instance, method, opts, progress)
        if opts.heuristic.compare_milp:
            if progress is not None:
                progress(0, {"note": "solving the MILP for the gap"})
            milp = _solve_milp(instance, opts, extra_constraints, None)
            if milp.objective_usd is not None and res.objective_usd is not None:
                res.milp_objective_usd = milp.objective_usd
                res.gap_to_milp = (res.objective_usd - milp.objective_usd) / milp.objective_usd
        return res
    if method != "milp":
        raise InstanceError.at(None, "method", method, "unknown method; use milp, dbo, pso or ga")
    return _solve_milp(instance, opts, extra_constraints, progress)


def _violation(vm: np.ndarray, lo, hi) -> np.ndarray:
    v = np.maximum(lo - vm, 0.0) + np.maximum(vm - hi, 0.0)
    v[..., 0] = 0.0                                   # the root is the slack bus
    return v


@dataclass
class _Checked:
    """A MILP plan with its AC check: the power flow at the plan and the model linearised there."""

    plan: SizingPlan
    model: VoltageModel
    pf: object
    violation_pu: float           # largest AC band violation
    margin_pu: float              # largest unused AC margin on a binding band row
    solve: SolveResult


def _check(d: SizingData, plan: SizingPlan, rows, res: SolveResult) -> _Checked:
    """AC power flow at the plan (and the linearisation there for the next round)."""
    inst = d.instance
    model, pf = ac_model(inst.feeder, d.base_p_kw, d.base_q_kvar, d.cand_idx, plan.p_site_kw)
    if not (pf.all_converged and np.isfinite(model.dw_dp_pu2_per_kw).all()):
        raise SolverError(f"{inst.name}: the AC power flow diverges at a storage plan of the MILP "
                          "(voltage collapse); the site bounds allow more power than the feeder carries")
    viol = _violation(pf.vm_pu, d.floor_pu, d.ceil_pu)
    worst = float(viol.max()) if pf.all_converged else float("inf")
    margin = 0.0
    if rows is not None and rows.t.size:
        binding = rows.slack(plan.p_site_kw) <= 1e-4        # scaled rows: kW
        if binding.any():
            t, j, side = rows.t[binding], rows.j[binding], rows.side[binding]
            vm = pf.vm_pu[t, j]
            left = np.where(side > 0, vm - d.floor_pu[t, j], d.ceil_pu[t, j] - vm)
            margin = float(max(left.max(), 0.0))
    return _Checked(plan, model, pf, worst, margin, res)


def _solve_round(d: SizingData, opts: SizingOptions, extra_constraints):
    t0 = time.perf_counter()
    m = build_sizing_model(d, extra_constraints=extra_constraints)
    build_s = time.perf_counter() - t0
    res = solve(m, opts.solver)
    plan = extract_plan(m, d) if res.has_solution else None
    return m, res, plan, build_s


def _least_violation(d: SizingData, opts: SizingOptions, extra_constraints):
    """Phase 1 at the current linearisation: the plan that minimises the band slack."""
    de = replace(d, elastic=True, row_window=None)      # every row that can bind: the true least violation
    solver = replace(opts.solver, mip_rel_gap=max(opts.solver.mip_rel_gap, 1e-3))
    t0 = time.perf_counter()
    m = build_sizing_model(de, extra_constraints=extra_constraints)
    build_s = time.perf_counter() - t0
    res = solve(m, solver)
    if not res.has_solution:
        return None, res, build_s
    plan = extract_plan(m, de)
    return _check(d, plan, None, res), res, build_s


@dataclass
class _Loop:
    """Book-keeping of the AC loop (rounds, timings, best AC-feasible plan)."""

    history: list = field(default_factory=list)
    build_s: float = 0.0
    solve_s: float = 0.0
    best: _Checked | None = None          # cheapest plan that holds the band in AC
    last: _Checked | None = None          # last least-cost plan
    least_violation: _Checked | None = None
    verifying: _Checked | None = None     # AC-converged plan at fixed sites, awaiting the siting MILP
    directions_fixed: int = 0             # unit-steps whose charge/discharge direction was fixed
    data: SizingData | None = None        # the model data of the last round (its linearisation)
    stationary_prev: bool = False
    stationary: bool = False              # ended on a stationary plan that keeps unused margin
    converged: bool = False
    infeasible: bool = False
    error: SolveResult | None = None

    def log(self, progress, **row):
        self.history.append(row)
        if progress is not None:
            progress(len(self.history), row)


def _ac_loop(d: SizingData, opts: SizingOptions, extra_constraints, progress) -> _Loop:
    """Sequential linearisation of the AC band (module docstring): least-cost rounds, with
    least-violation rounds (phase 1) whenever a linearisation admits no plan."""
    if opts.least_violation:
        return _least_violation_loop(d, opts, extra_constraints, progress)
    L = _Loop()
    tol = opts.ac_tol_pu
    phase1 = []                                        # max AC violation of each least-violation plan
    for rnd in range(1, opts.max_rounds + 1):
        m, res, plan, b_s = _solve_round(d, opts, extra_constraints)
        L.build_s += b_s
        L.solve_s += res.solve_s
        if plan is None and d.fixed_sites is not None:
            d = replace(d, fixed_sites=None)           # these sites admit no plan here: free the siting again
            L.verifying = None
            continue
        if plan is None:
            if res.status != Status.INFEASIBLE:
                L.error = res
                break
            chk, res1, b_s = _least_violation(d, opts, extra_constraints)
            L.build_s += b_s
            L.solve_s += res1.solve_s
            if chk is None:                            # infeasible without the band: not a voltage problem
                L.infeasible = True
                break
            both = np.minimum(chk.plan.p_charge_kw, chk.plan.p_discharge_kw) > 1e-6
            if both.any() and d.exclusivity is not True:
                d = _forbid_cycling(d, chk.plan, both, opts, L)
                continue
            if L.least_violation is None or chk.violation_pu < L.least_violation.violation_pu:
                L.least_violation = chk
            if chk.violation_pu <= tol and (L.best is None or chk.plan.cost_usd < L.best.plan.cost_usd):
                L.best = chk                          # holds the band in AC: a plan, if not the cheapest
            L.log(progress, round=rnd, phase="least violation", objective_usd=None,
                  ac_max_violation_pu=chk.violation_pu, ac_margin_left_pu=None, gap=None, solve_s=res1.solve_s)
            phase1.append(chk.violation_pu)
            if _phase1_stalled(phase1, tol):
                L.infeasible = True                    # the least violation stopped falling above the tolerance
                break
            # re-linearise at the least-violation plan; damped (midpoint) when it did not improve
            point = chk.plan.p_site_kw
            if len(phase1) >= 2 and phase1[-1] >= phase1[-2]:
                point = 0.5 * (point + d.band.p_point_kw)
            d = d.with_band(_relinearise(d, point, chk))
            continue
        both = np.minimum(plan.p_charge_kw, plan.p_discharge_kw) > 1e-6
        if both.any() and d.exclusivity is not True:
            plan, both, b_s, s_s = _uncycle(d, plan, opts, extra_constraints)
            L.build_s += b_s
            L.solve_s += s_s
        if both.any() and d.exclusivity is not True:
            # the plan cycled through a unit within a step: binaries there (and where it did before)
            d = _forbid_cycling(d, plan, both, opts, L)
            if not d.instance.candidates.fixed and d.fixed_sites is None and L.verifying is None:
                # go on at this plan's sites (LPs, or MILPs with only the exclusivity binaries):
                # the free-siting MILP at the end still confirms the sites, as after any refinement
                d = replace(d, fixed_sites=plan.sites.copy())
            L.log(progress, round=rnd, phase="least cost", objective_usd=res.objective, ac_max_violation_pu=None,
                  ac_margin_left_pu=None, gap=res.gap, solve_s=res.solve_s,
                  note=f"simultaneous charge/discharge in {int(both.sum())} entries; "
                       + ("direction fixed there" if opts.exclusivity == "fix" else "exclusivity binaries added"))
            continue
        rows = m._band_rows
        if L.verifying is not None:                    # a free-siting MILP checks the refined plan's sites
            cand = L.verifying
            L.verifying = None
            if np.array_equal(plan.sites, cand.plan.sites) or plan.cost_usd >= cand.plan.cost_usd * (1 - _gap_tol(opts)):
                bound = res.bound if res.bound is not None else cand.solve.bound
                gap = None if bound is None else max(cand.plan.cost_usd - bound, 0.0) / max(abs(cand.plan.cost_usd), 1e-9)
                status = res.status if res.status == Status.OPTIMAL else Status.FEASIBLE
                L.last = replace(cand, solve=replace(cand.solve, status=status, bound=bound, gap=gap))
                L.log(progress, round=rnd, phase="siting check", objective_usd=plan.cost_usd, ac_max_violation_pu=None,
                      ac_margin_left_pu=None, gap=res.gap, solve_s=res.solve_s, note="sites confirmed")
                L.converged = True
                break
        chk = _check(d, plan, rows, res)
        change = None if L.last is None else abs(plan.cost_usd - L.last.plan.cost_usd) / max(abs(plan.cost_usd), 1e-9)
        L.last = chk
        L.log(progress, round=rnd, phase="least cost" if d.fixed_sites is None else "least cost, sites fixed",
              objective_usd=plan.cost_usd, ac_max_violation_pu=chk.violation_pu, ac_margin_left_pu=chk.margin_pu,
              cost_change=change, gap=res.gap, solve_s=res.solve_s)
        if chk.violation_pu <= tol and (L.best is None or plan.cost_usd < L.best.plan.cost_usd):
            L.best = chk
        free = not d.instance.candidates.fixed
        stationary = change is not None and change <= 1e-9 and chk.violation_pu <= tol and L.stationary_prev
        L.stationary_prev = change is not None and change <= 1e-9 and chk.violation_pu <= tol
        if (chk.violation_pu <= tol and chk.margin_pu <= tol) or stationary:
            # ``stationary``: the same plan three rounds running; more rounds cannot use the margin
            # left (reported below: the status is then feasible, not optimal)
            L.stationary = stationary and chk.margin_pu > tol
            if free and d.fixed_sites is not None:    # refined with the sites fixed: check them with a MILP
                L.verifying = chk
                d = replace(_next_round(d, rows, chk), fixed_sites=None)
                continue
            L.converged = True
            break
        d = _next_round(d, rows, chk)
        if free:                                       # refine the continuous sizes as LPs at these sites
            d = replace(d, fixed_sites=plan.sites.copy())
    L.data = d
    return L


def _forbid_cycling(d: SizingData, plan: SizingPlan, both: np.ndarray, opts: SizingOptions, L) -> SizingData:
    """Where a plan charged and discharged one unit in the same step: exclusivity binaries
    (``opts.exclusivity == "binaries"``, exact) or the direction the plan leaned to fixed
    (``"fix"``: an LP, a restriction, so the result is never called optimal)."""
    if opts.exclusivity == "fix":
        direction = np.zeros(both.shape, dtype=np.int8) if d.direction is None else d.direction.copy()
        direction[both] = np.where(plan.p_charge_kw[both] >= plan.p_discharge_kw[both], 1, -1)
        L.directions_fixed += int(both.sum())
        return replace(d, direction=direction, pcs_hull=True)
    return replace(d, exclusivity=both if d.exclusivity is False else (np.asarray(d.exclusivity) | both), pcs_hull=True)


def _uncycle(d: SizingData, plan: SizingPlan, opts: SizingOptions, extra_constraints):
    """The plan's sizes with the least throughput (:func:`slopt.models.sizing.add_least_throughput`):
    the same cost, and cycling only where these sizes cannot hold the band without it. Returns
    ``(plan, cycling mask, build_s, solve_s)``; the plan unchanged if that LP gives none."""
    dc = replace(d, fixed_sizes=(plan.e_kwh, plan.p_kw), fixed_sites=plan.sites.copy())
    _, res, clean, build_s = _solve_round(dc, opts, extra_constraints)
    if clean is None:
        clean = plan
    else:
        clean = replace(clean, cost_usd=plan.cost_usd, sites=plan.sites)
    return clean, np.minimum(clean.p_charge_kw, clean.p_discharge_kw) > 1e-6, build_s, res.solve_s


def _relaxed_bound(d: SizingData, opts: SizingOptions, extra_constraints):
    """Lower bound on the cost of a plan that never cycles through a unit, at the last round's
    linearisation ``d``: the same model with the fixed directions dropped and the siting free
    (each unit may then charge and discharge in one step, within ``pch + pdis <= P``). Returns
    ``(bound or None, build_s, solve_s)``."""
    _, res, _, build_s = _solve_round(replace(d, direction=None, exclusivity=False, fixed_sites=None), opts,
                                      extra_constraints)
    return res.bound, build_s, res.solve_s


def _gap_tol(opts: SizingOptions) -> float:
    return max(opts.solver.mip_rel_gap, 1e-6)


def _next_round(d: SizingData, rows, chk: _Checked) -> SizingData:
    """Re-linearise at the plan; keep this round's floor rows that bind (or nearly) at the plan as
    tangent cuts. ``w`` is concave in the sites' net load on radial feeders (checked in the
    tests), so a floor tangent is an outer approximation: the cuts never remove an AC-feasible
    plan and stop the plans from zig-zagging between linearisations."""
    near = (rows.side > 0) & (rows.slack(chk.plan.p_site_kw) <= 1.0)         # scaled rows: within 1 kW
    cuts = rows.select(near)
    return replace(d, band=chk.model, cuts=cuts)


def _least_violation_loop(d: SizingData, opts: SizingOptions, extra_constraints, progress) -> _Loop:
    """Phase 1 only (``opts.least_violation``): re-linearised least-violation rounds until a plan
    holds the band in AC within the tolerance, or the least violation stops falling."""
    L = _Loop()
    tol = opts.ac_tol_pu
    seen = []
    for rnd in range(1, opts.max_rounds + 1):
        chk, res, b_s = _least_violation(d, opts, extra_constraints)
        L.build_s += b_s
        L.solve_s += res.solve_s
        if chk is None:
            L.infeasible = res.status == Status.INFEASIBLE
            L.error = None if L.infeasible else res
            break
        both = np.minimum(chk.plan.p_charge_kw, chk.plan.p_discharge_kw) > 1e-6
        if both.any() and d.exclusivity is not True:   # no cycling through a unit to burn energy
            d = _forbid_cycling(d, chk.plan, both, opts, L)
            continue
        L.log(progress, round=rnd, phase="least violation", objective_usd=chk.plan.cost_usd,
              ac_max_violation_pu=chk.violation_pu, ac_margin_left_pu=None, gap=res.gap, solve_s=res.solve_s)
        if L.least_violation is None or chk.violation_pu < L.least_violation.violation_pu:
            L.least_violation = chk
        seen.append(chk.violation_pu)
        if chk.violation_pu <= tol:
            L.last = L.best = chk
            L.converged = True
            break
        if _phase1_stalled(seen, tol):
            L.infeasible = True
            break
        point = chk.plan.p_site_kw
        if len(seen) >= 2 and seen[-1] >= seen[-2]:
            point = 0.5 * (point + d.band.p_point_kw)
        d = d.with_band(_relinearise(d, point, chk))
    else:
        L.infeasible = L.least_violation is not None
    return L


def _phase1_stalled(violations: list[float], tol: float) -> bool:
    """Phase 1 ends (infeasible) when the best least violation has not fallen by 1 % in the last
    two rounds while staying above ``tol``, or after six rounds."""
    best = min(violations)
    if best <= tol:
        return False
    if len(violations) >= 6:
        return True
    return len(violations) >= 3 and min(violations[-2:]) > 0.99 * min(violations[:-2])


def _relinearise(d: SizingData, point: np.ndarray, chk: _Checked) -> VoltageModel:
    if point is chk.plan.p_site_kw:
        return chk.model
    inst = d.instance
    model, _ = ac_model(inst.feeder, d.base_p_kw, d.base_q_kvar, d.cand_idx, point)
    return model


def _cost_change(history) -> float | None:
    changes = [h["cost_change"] for h in history if h.get("cost_change") is not None]
    return changes[-1] if changes else None


def _solve_milp(inst: Instance, opts: SizingOptions, extra_constraints, progress) -> SizingResult:
    t0 = time.perf_counter()
    d = sizing_data(inst, objective=opts.objective, fixed_initial_soc=opts.fixed_initial_soc, voltage_model="ac")
    if opts.day_weights is not None:
        w = np.asarray(opts.day_weights, dtype=float)
        if w.shape != (d.n_days,) or not np.all(np.isfinite(w) & (w > 0)):
            raise InstanceError.at(None, "day_weights", list(w), f"need {d.n_days} positive weights, one per day")
        d.day_weights = w
    base_ac = powerflow(inst.feeder, d.base_p_kw, d.base_q_kvar)
    if not (base_ac.all_converged and np.isfinite(d.band.dw_dp_pu2_per_kw).all()):
        bad = np.flatnonzero(~np.asarray(base_ac.converged))
        first = f" (first at {_times(d)[bad[0]]:g} h)" if bad.size else ""
        raise InstanceError(f"{inst.path or inst.name}: the AC power flow without storage diverges at {max(bad.size, 1)} "
                            f"step(s){first}: the feeder cannot carry this net load (check load_scale, loads and pv_kw)")
    setup_s = time.perf_counter() - t0
    L = _ac_loop(d, opts, extra_constraints, progress)
    build_s, solve_s = setup_s + L.build_s, L.solve_s
    common = dict(rounds=len(L.history), build_s=build_s, solve_s=solve_s, instance=inst, history=L.history,
                  refinement_cost_change=_cost_change(L.history))
    if L.converged or L.best is not None:
        chk = L.last if L.converged else L.best
        status = chk.solve.status if not opts.least_violation else Status.FEASIBLE
        msg = ""
        if L.stationary and status == Status.OPTIMAL:
            status = Status.FEASIBLE
            msg = (f"the plan is stationary but keeps {chk.margin_pu:.1e} p.u. of unused AC margin on a binding band "
                   "row: not proven optimal")
        bound = None
        if L.directions_fixed and L.converged and not opts.least_violation:
            # the last MILP's bound holds for the restricted problem only; the same model without the
            # fixed directions (cycling allowed) is a relaxation of the exclusive problem: its bound is
            bound, b_s, s_s = _relaxed_bound(L.data, opts, extra_constraints)
            build_s, solve_s = build_s + b_s, solve_s + s_s
            common.update(build_s=build_s, solve_s=solve_s)
        if L.directions_fixed:
            gap = None if bound is None else max(chk.plan.cost_usd - bound, 0.0) / max(abs(chk.plan.cost_usd), 1e-9)
            if status == Status.OPTIMAL and (gap is None or gap > _gap_tol(opts)):
                status = Status.FEASIBLE
                msg = (f"charge/discharge direction fixed at {L.directions_fixed} unit-steps where a plan cycled "
                       "through a unit (exclusivity='fix'): a restriction; "
                       + ("no bound" if gap is None else
                          f"the plan is within {100 * gap:.2f} % of the bound that lets units cycle"))
            chk = replace(chk, solve=replace(chk.solve, bound=bound, gap=gap))
        if not L.converged:
            status = Status.FEASIBLE
            msg = (f"AC refinement stopped after {opts.max_rounds} rounds; the cheapest plan that holds the band "
                   f"is returned (margin left {L.best.margin_pu:.1e} p.u. on a binding row)")
        return _result(d, chk, status, msg, base_ac, **common)
    if L.infeasible:
        chk = L.least_violation
        # no least-violation plan: the model is infeasible without the band (bounds, added constraints)
        diag = (ac_diagnosis(d, chk.pf.vm_pu, base_ac.vm_pu, opts.ac_tol_pu) if chk is not None
                else ac_diagnosis(d, np.full_like(base_ac.vm_pu, 0.5 * (inst.vmin_pu + inst.vmax_pu)), base_ac.vm_pu, 1.0))
        lv = _sizing_table(d, chk.plan.e_kwh, chk.plan.p_kw) if chk is not None else None
        return SizingResult(Status.INFEASIBLE, None, None, None, _empty_sizing(), pd.DataFrame(), pd.DataFrame(),
                            ac_max_violation_pu=chk.violation_pu if chk is not None else float("nan"),
                            diagnosis=diag, least_violation=lv, message=_diagnosis_message(diag), **common)
    if L.error is not None:
        res = L.error
        return SizingResult(res.status, None, None, None, _empty_sizing(), pd.DataFrame(), pd.DataFrame(),
                            ac_max_violation_pu=float("nan"), message=res.message or f"HiGHS: {res.termination}",
                            **common)
    chk = L.last if L.last is not None else L.least_violation
    viol = float("nan") if chk is None else chk.violation_pu
    msg = (f"no plan held the band in AC after {opts.max_rounds} rounds (last violation "
           f"{viol:.2e} p.u.); raise max_rounds")
    return SizingResult(Status.ERROR, None, None, None, _empty_sizing(), pd.DataFrame(), pd.DataFrame(),
                        ac_max_violation_pu=viol, message=msg, **common)


def _empty_sizing() -> pd.DataFrame:
    return pd.DataFrame(columns=["bus", "technology", "e_kwh", "p_kw", "capex_usd", "annualised_usd", "cost_usd"])


def _result(d: SizingData, chk: _Checked, status, msg, base_ac, **common) -> SizingResult:
    plan = chk.plan
    lin = lindistflow_vm_pu(d.instance.feeder, with_storage(d.base_p_kw, d.cand_idx, plan.p_site_kw), d.base_q_kvar)
    return SizingResult(
        status=status, objective_usd=plan.cost_usd, bound_usd=chk.solve.bound,
        gap=chk.solve.gap,
        sizing=_sizing_table(d, plan.e_kwh, plan.p_kw),
        dispatch=_dispatch_table(d, plan.p_charge_kw, plan.p_discharge_kw, plan.e_stored_kwh, plan.e_kwh),
        voltages=_voltage_table(d, lin, chk.pf.vm_pu, base_ac.vm_pu), ac_max_violation_pu=chk.violation_pu,
        ac_margin_left_pu=chk.margin_pu, message=msg, **common)


# --------------------------------------------------------------------------- tables
def _times(d: SizingData) -> np.ndarray:
    return np.round(np.arange(d.T) * d.dt_h, 6)


def _sizing_table(d: SizingData, E, P) -> pd.DataFrame:
    """Per bus and technology: sizes, the Eq. 2 capex, the annualised cost and ``cost_usd``, the
    column of the chosen objective (its sum is the objective)."""
    rows = []
    bus_ids = d.instance.feeder.bus_ids[d.cand_idx]
    for c, bus in enumerate(bus_ids):
        for k, tech in enumerate(d.techs):
            e_kwh = float(E[c, k]) if E[c, k] > 1e-9 else 0.0
            p_kw = float(P[c, k]) if P[c, k] > 1e-9 else 0.0
            capex = storage_cost_usd(tech, e_kwh, p_kw)
            annual = annualised_cost_usd(tech, e_kwh, p_kw)
            rows.append({"bus": int(bus), "technology": tech.name, "e_kwh": e_kwh, "p_kw": p_kw, "capex_usd": capex,
                         "annualised_usd": annual, "cost_usd": capex if d.objective == "capex" else annual})
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
def ac_diagnosis(d: SizingData, vm_pu: np.ndarray, vm_base_pu: np.ndarray, tol_pu: float) -> pd.DataFrame:
    """Every bus and step outside the band by more than ``tol_pu`` at AC voltages ``vm_pu``.

    Columns ``bus, time_h, side ('low'/'high'), limit_pu, vm_ac_pu, vm_base_ac_pu, shortfall_pu``
    (AC values from the sweep), sorted by shortfall.
    """
    cols = ["bus", "time_h", "side", "limit_pu", "vm_ac_pu", "vm_base_ac_pu", "shortfall_pu"]
    lo = d.floor_pu - vm_pu
    hi = vm_pu - d.ceil_pu
    lo[:, 0] = hi[:, 0] = -np.inf
    parts = []
    for side, short, lim in (("low", lo, d.floor_pu), ("high", hi, d.ceil_pu)):
        t, j = np.nonzero(short > tol_pu)
        parts.append(pd.DataFrame({"bus": d.instance.feeder.bus_ids[j].astype(int), "time_h": _times(d)[t],
                                   "side": side, "limit_pu": lim[t, j], "vm_ac_pu": vm_pu[t, j],
                                   "vm_base_ac_pu": vm_base_pu[t, j], "shortfall_pu": short[t, j]}))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    return df[cols].sort_values(["shortfall_pu", "time_h", "bus"], ascending=[False, True, True], ignore_index=True)


def _diagnosis_message(diag: pd.DataFrame | None) -> str:
    if diag is None or diag.empty:
        return ("infeasible: the voltage band is not the cause (check minimum sizes, bounds and added "
                "constraints)")
    worst = diag.iloc[0]
    buses = diag["bus"].nunique()
    steps = diag["time_h"].nunique()
    hours = f"{diag['time_h'].min():g}-{diag['time_h'].max():g} h"
    return (f"infeasible: the band cannot be held at {buses} bus(es) in {steps} step(s) ({hours}) "
            f"in AC even at the least-violation plan within the site bounds; worst bus {int(worst['bus'])} at {worst['time_h']:g} h is "
            f"{worst['shortfall_pu']:.4f} p.u. {'below' if worst['side'] == 'low' else 'above'} the limit")


# --------------------------------------------------------------------------- heuristics
def _solve_heuristic(inst: Instance, method: str, opts: SizingOptions, progress=None) -> SizingResult:
    """Algorithm 1 of Yuan et al. (2025): a pymoo algorithm over the capacity problem (MFAC in the
    loop), run by :func:`slopt.heuristics.run.run_bilevel`; here its plan becomes the result tables."""
    from slopt.heuristics.run import run_bilevel

    h = opts.heuristic
    run = run_bilevel(inst, method, h.pop_size, h.n_gen, h.seed, h.variant, h.capacity, progress)
    sim = run.sim
    worst = float(sim.max_violation_pu[0])
    deficit = float(sim.soc_deficit_kwh[0])
    ok = worst <= max(opts.ac_tol_pu, 1e-4) and deficit <= 1e-3   # a reactive MFAC day: 1e-4 p.u., as before
    status = Status.FEASIBLE if ok else Status.ERROR
    msg = "" if ok else (f"{method}: no band-feasible plan found in {h.n_gen} generations "
                         f"(max violation {worst:.2e} p.u., SOC deficit {deficit:.1f} kWh)")
    d = sizing_data(inst, voltage_model="lindistflow")
    pgrp = np.moveaxis(sim.p_group_kw[0], 0, -1)          # (C, K, T)
    egrp = np.moveaxis(sim.e_group_kwh[0], 0, -1)
    pch, pdis = np.maximum(pgrp, 0.0), np.maximum(-pgrp, 0.0)
    net = with_storage(d.base_p_kw, d.cand_idx, pgrp.sum(axis=1))
    lin = lindistflow_vm_pu(inst.feeder, net, d.base_q_kvar)
    base_ac = powerflow(inst.feeder, d.base_p_kw, d.base_q_kvar)
    return SizingResult(
        status=status, objective_usd=run.cost_usd, bound_usd=None, gap=None,
        sizing=_sizing_table(d, run.e_kwh, run.p_kw), dispatch=_dispatch_table(d, pch, pdis, egrp, run.e_kwh),
        voltages=_voltage_table(d, lin, sim.vm_pu[0], base_ac.vm_pu), rounds=1, ac_max_violation_pu=worst,
        build_s=run.build_s, solve_s=run.solve_s, method=method, instance=inst, message=msg,
        history=[{"fitness": run.fitness, "soc_deficit_kwh": deficit, "violation_puh": float(sim.violation_puh[0])}],
        convergence=run.convergence, n_evals=run.n_evals,
    )
