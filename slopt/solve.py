"""The one place in slopt that calls a solver (HiGHS through Pyomo's ``contrib.solver`` API).

Every model builder returns a Pyomo model; :func:`solve` hands it to HiGHS with the options
of :class:`SolveOptions` and maps the outcome to an honest :class:`Status`:

* ``optimal``    - HiGHS proved optimality within the requested relative gap (also when a limit
  stopped it after its bound had already closed that gap);
* ``feasible``   - a limit (time, iterations) stopped it with an incumbent outside the requested
  gap; the gap says how good;
* ``infeasible`` - proven infeasible (also reported for infeasible-or-unbounded with no incumbent
  when the model is bounded by construction, see ``assume_bounded``);
* ``unbounded``;
* ``error``      - anything else, including a limit reached without an incumbent.

The relative gap is computed here from the incumbent and the
bound (``|inc - bound| / max(|inc|, 1e-10)``) because the legacy wrapper reports an absolute gap.

HiGHS's own log is switched off (``output_flag = False``) from the moment the HiGHS object is
created, unless ``tee`` is set. Pyomo captures the solver's file descriptors through a pipe that
a Python thread drains; HiGHS writes to it while the main thread holds the interpreter lock, so
a model whose loading makes HiGHS log more than a pipe buffer (one warning per row bound above
1e20, for instance) used to hang the process with no time limit able to end it.

**How the model reaches HiGHS.** A linear model (LP or MILP) is compiled to sparse matrices by
Pyomo's own ``LinearStandardFormCompiler`` and passed to ``highspy`` in one call
(:func:`_solve_compiled`). Pyomo's persistent interface, which adds constraints one by one, spent
10-20 times longer loading a 40,000-row sizing model than HiGHS spent solving it, and most of the
year planner's time. Both paths read the same Pyomo model and load the same values (and LP
duals) back into it; quadratic models (the variance dispatch), ``tee`` runs and anything the
compiler refuses take the persistent interface (:func:`_solve_persistent`), and so does a
compiled solve that HiGHS ends without a status (``unknown``; seen once, on an infeasible LP).
tests/test_solve.py checks that the two paths agree on LPs, MILPs, duals and every status.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

__all__ = ["Status", "SolveOptions", "SolveResult", "solve"]


class Status(str, enum.Enum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"

    def __str__(self) -> str:  # plain value in tables and JSON
        return self.value


@dataclass(frozen=True)
class SolveOptions:
    """Options passed to HiGHS.

    Attributes
    ----------
    time_limit_s : float or None
        Wall-clock limit inside HiGHS.
    mip_rel_gap : float
        Relative MIP gap at which HiGHS stops (``1e-3`` = 0.1 %).
    threads : int or None
        HiGHS threads (None: HiGHS default).
    seed : int
        HiGHS ``random_seed``; the same seed gives the same run.
    tee : bool
        Stream the HiGHS log to stdout.
    highs_options : dict
        Any further raw HiGHS options (e.g. ``{"presolve": "off"}``).
    """

    time_limit_s: float | None = None
    mip_rel_gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    tee: bool = False
    highs_options: dict = field(default_factory=dict)

    def __post_init__(self):
        """Refuse values HiGHS cannot take (as slopt's own errors, before any model is built):
        time limit finite and > 0, gap in [0, 1), threads in [1, limit ``threads``], seed in
        [0, 2**32 - 1] (HiGHS gets it modulo 2**31), options a dict."""
        from slopt.checks import as_int, as_number, require
        from slopt.limits import limit

        if self.time_limit_s is not None:
            as_number(self.time_limit_s, "SolveOptions", "time_limit_s", 0.0, 1e9, lo_open=True)
        as_number(self.mip_rel_gap, "SolveOptions", "mip_rel_gap", 0.0, 1.0)
        if self.mip_rel_gap >= 1.0:
            as_number(self.mip_rel_gap, "SolveOptions", "mip_rel_gap", 0.0, 0.999999)
        if self.threads is not None:
            as_int(self.threads, "SolveOptions", "threads", 1, int(limit("threads")))
        as_int(self.seed, "SolveOptions", "seed", 0, 2**32 - 1)
        require(self.highs_options, dict, "SolveOptions", "highs_options")


@dataclass
class SolveResult:
    """Outcome of one solve. Variable values are loaded into the model only if an incumbent exists."""

    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    solve_s: float
    termination: str
    message: str = ""

    @property
    def has_solution(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    def as_dict(self) -> dict:
        return {"status": str(self.status), "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "solve_s": self.solve_s, "termination": self.termination,
                "message": self.message}


def _rel_gap(inc: float | None, bound: float | None) -> float | None:
    if inc is None or bound is None:
        return None
    if abs(bound) == float("inf"):
        return float("inf")
    return abs(inc - bound) / max(abs(inc), 1e-10)


def _silent(factory):
    """A HiGHS object with its log off; its start-up banner goes to the null device (a file
    descriptor that never blocks), not to the terminal."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        h = factory()
        h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    return h


def _quiet_highs_class():
    """Pyomo's HiGHS interface with HiGHS silenced before the model is loaded (module docstring)."""
    from pyomo.contrib.solver.solvers.highs import Highs

    class QuietHighs(Highs):
        def set_instance(self, model):
            if getattr(self._active_config, "tee", None):
                return super().set_instance(model)
            import highspy

            if self._last_results_object is not None:
                self._last_results_object.solution_loader.invalidate()
            self._reinit()
            self._model = model
            self._solver_model = _silent(highspy.Highs)
            self.add_block(model)
            if self._objective is None:
                self.set_objective(None)

    return QuietHighs


def _wants_duals(model) -> bool:
    """True if the model declares an importing ``dual`` Suffix (``Suffix(direction=IMPORT)``)."""
    from pyomo.environ import Suffix

    sfx = getattr(model, "dual", None)
    return isinstance(sfx, Suffix) and sfx.import_enabled()


def solve(model, options: SolveOptions | None = None) -> SolveResult:
    """Solve a Pyomo model with HiGHS and load the incumbent, if any, into it.

    An LP whose model declares ``model.dual = Suffix(direction=Suffix.IMPORT)`` also gets its
    row duals there.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A linear or mixed-integer linear (or convex quadratic) model with one active objective.
    options : SolveOptions, optional

    Returns
    -------
    SolveResult
        Never raises for solver outcomes: infeasibility and limits are statuses.
    """
    opts = options or SolveOptions()
    if not opts.tee:
        t0 = time.perf_counter()
        compiled = _compile(model)
        if compiled is not None:
            res = _solve_compiled(model, compiled, opts, t0)
            if res.status != Status.ERROR:
                return res
            # HiGHS ended 'unknown' (seen on an infeasible LP whose dual simplex stalls in
            # postsolve; the row order decides it): the persistent path decides instead
    return _solve_persistent(model, opts)


def _highs_options(opts: SolveOptions) -> dict:
    return {"random_seed": int(opts.seed) % 2**31, **({} if opts.tee else {"output_flag": False}),
            **opts.highs_options}


def _status(tc_name: str, has_inc: bool) -> Status:
    """Map a termination (Pyomo's ``TerminationCondition`` names) and whether an incumbent exists."""
    if tc_name == "convergenceCriteriaSatisfied" and has_inc:
        return Status.OPTIMAL
    if tc_name in ("maxTimeLimit", "iterationLimit", "objectiveLimit", "interrupted", "minStepLength") and has_inc:
        return Status.FEASIBLE
    if tc_name in ("provenInfeasible", "locallyInfeasible"):
        return Status.INFEASIBLE
    if tc_name == "unbounded":
        return Status.UNBOUNDED
    if tc_name == "infeasibleOrUnbounded":
        return Status.INFEASIBLE if not has_inc else Status.UNBOUNDED
    return Status.ERROR


def _result(status: Status, inc, bound, solve_s: float, tc_name: str, opts: SolveOptions) -> SolveResult:
    has_inc = status in (Status.OPTIMAL, Status.FEASIBLE)
    if bound is not None and abs(bound) == float("inf"):
        bound = None if inc is None else bound
    gap = _rel_gap(inc, bound) if has_inc else None
    if status == Status.OPTIMAL and gap is not None and gap > max(opts.mip_rel_gap, 1e-6) * 1.0001:
        status = Status.FEASIBLE  # never claim optimality outside the requested gap
    elif status == Status.FEASIBLE and gap is not None and gap <= max(opts.mip_rel_gap, 1e-6):
        status = Status.OPTIMAL   # a limit stopped HiGHS, but its bound already proves the requested gap
    msg = "" if status != Status.ERROR else f"HiGHS stopped with {tc_name} and no incumbent"
    return SolveResult(status, inc, bound, gap, solve_s, tc_name, msg)


def _compile(model):
    """The model as sparse matrices (``LinearStandardFormInfo``), or None if it is not linear
    with exactly one active objective, or the compiler refuses it (the persistent path decides)."""
    from pyomo.core.base import Objective
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    if len(list(model.component_data_objects(Objective, active=True, descend_into=True))) != 1:
        return None
    try:
        info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    except Exception:  # noqa: BLE001 - quadratic terms, trivially infeasible rows: persistent path
        return None
    if len(info.objectives) != 1 or info.A.shape[1] == 0:
        return None
    return info


_HIGHS_TERMINATION = {  # HighsModelStatus name -> Pyomo TerminationCondition name (as Pyomo maps it)
    "kOptimal": "convergenceCriteriaSatisfied", "kInfeasible": "provenInfeasible",
    "kUnboundedOrInfeasible": "infeasibleOrUnbounded", "kUnbounded": "unbounded",
    "kObjectiveBound": "objectiveLimit", "kObjectiveTarget": "objectiveLimit", "kTimeLimit": "maxTimeLimit",
    "kIterationLimit": "iterationLimit", "kSolutionLimit": "iterationLimit", "kInterrupt": "interrupted",
}


def _row_bounds(info):
    """Row bounds of the compiled rows, a range constraint's two rows merged into one HiGHS row.

    Returns ``keep`` (row indices of A kept), ``lower``, ``upper`` and ``cons`` (the constraint
    of each kept row)."""
    import numpy as np

    rows, rhs = info.rows, np.asarray(info.rhs, dtype=float)
    n = len(rows)
    keep, lower, upper, cons = [], [], [], []
    i = 0
    while i < n:
        con, kind = rows[i]
        if kind == 0:
            lo = hi = rhs[i]
        elif kind == 1:
            lo, hi = -np.inf, rhs[i]
            if i + 1 < n and rows[i + 1][0] is con and rows[i + 1][1] == -1:
                lo = rhs[i + 1]
                keep.append(i), lower.append(lo), upper.append(hi), cons.append(con)
                i += 2
                continue
        else:
            lo, hi = rhs[i], np.inf
        keep.append(i), lower.append(lo), upper.append(hi), cons.append(con)
        i += 1
    return np.asarray(keep, dtype=int), np.asarray(lower), np.asarray(upper), cons


def _solve_compiled(model, info, opts: SolveOptions, t0: float) -> SolveResult:
    """Solve the compiled model with ``highspy`` and load the incumbent (and LP duals) into ``model``.

    ``t0`` is when the compilation started: ``solve_s`` counts the hand-over to HiGHS, as the
    persistent path's does."""
    import highspy
    import numpy as np
    from pyomo.common.enums import ObjectiveSense

    keep, row_lo, row_hi, cons = _row_bounds(info)
    A = info.A.tocsr()[keep].tocsc() if keep.size != info.A.shape[0] else info.A.tocsc()
    cols = info.columns
    n = len(cols)
    col_lo = np.array([-np.inf if v.lb is None else float(v.lb) for v in cols])
    col_hi = np.array([np.inf if v.ub is None else float(v.ub) for v in cols])
    integer = np.array([v.is_integer() for v in cols], dtype=bool)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, int(keep.size)
    lp.col_cost_ = np.asarray(info.c.toarray()[0], dtype=float)
    lp.offset_ = float(np.asarray(info.c_offset).ravel()[0]) if np.size(info.c_offset) else 0.0
    lp.col_lower_, lp.col_upper_ = col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    maximize = info.objectives[0].sense == ObjectiveSense.maximize
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    try:
        h = _silent(highspy.Highs)
        for k, v in _highs_options(opts).items():
            h.setOptionValue(k, v)
        h.setOptionValue("mip_rel_gap", float(opts.mip_rel_gap))
        if opts.time_limit_s is not None:
            h.setOptionValue("time_limit", float(opts.time_limit_s))
        if opts.threads is not None:
            h.setOptionValue("threads", int(opts.threads))
        if h.passModel(lp) == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS refused the model (passModel)")
        h.run()
    except Exception as exc:  # solver or interface failure: an honest 'error' status
        return SolveResult(Status.ERROR, None, None, None, time.perf_counter() - t0,
                           type(exc).__name__, " ".join(str(exc).split())[:300])
    solve_s = time.perf_counter() - t0
    ms = h.getModelStatus()
    tc_name = _HIGHS_TERMINATION.get(ms.name, "unknown")
    info_h = h.getInfo()
    has_inc = info_h.primal_solution_status == 2
    inc = float(info_h.objective_function_value) if has_inc else None
    if info_h.mip_node_count == -1:   # an LP: the bound is the optimum once proven
        bound = inc if (has_inc and tc_name == "convergenceCriteriaSatisfied") else None
    else:
        bound = float(info_h.mip_dual_bound)
    status = _status(tc_name, has_inc)
    if has_inc:
        sol = h.getSolution()
        for v, x in zip(cols, sol.col_value):
            v.set_value(x, skip_validation=True)
        if _wants_duals(model) and sol.dual_valid and not integer.any():
            for con, d in zip(cons, sol.row_dual):
                model.dual[con] = d
    return _result(status, inc, bound, solve_s, tc_name, opts)


def _solve_persistent(model, opts: SolveOptions) -> SolveResult:
    """Pyomo's persistent HiGHS interface (quadratic models, ``tee``)."""
    from pyomo.contrib.solver.common.results import SolutionStatus

    solver = _quiet_highs_class()()
    highs_opts = _highs_options(opts)
    kwargs = dict(load_solutions=False, raise_exception_on_nonoptimal_result=False,
                  tee=opts.tee, rel_gap=opts.mip_rel_gap, solver_options=highs_opts)
    if opts.time_limit_s is not None:
        kwargs["time_limit"] = float(opts.time_limit_s)
    if opts.threads is not None:
        kwargs["threads"] = int(opts.threads)
    t0 = time.perf_counter()
    try:
        res = solver.solve(model, **kwargs)
    except Exception as exc:  # solver or interface failure: an honest 'error' status
        return SolveResult(Status.ERROR, None, None, None, time.perf_counter() - t0,
                           type(exc).__name__, " ".join(str(exc).split())[:300])
    solve_s = time.perf_counter() - t0
    tc = res.termination_condition
    has_inc = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    inc = res.incumbent_objective if has_inc else None
    status = _status(tc.name, has_inc)
    if has_inc:
        res.solution_loader.load_vars()
        if _wants_duals(model):
            try:  # an LP: row duals into the model's IMPORT ``dual`` suffix (none for a MILP)
                res.solution_loader.load_import_suffixes()
            except Exception:  # noqa: BLE001 - duals unavailable: the suffix stays empty
                pass
    return _result(status, inc, res.objective_bound, solve_s, tc.name, opts)
