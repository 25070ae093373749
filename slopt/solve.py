"""The one place in slopt that calls a solver (HiGHS through Pyomo's ``contrib.solver`` API).

Every model builder returns a Pyomo model; :func:`solve` hands it to HiGHS with the options
of :class:`SolveOptions` and maps the outcome to an honest :class:`Status`:

* ``optimal``    - HiGHS proved optimality within the requested relative gap;
* ``feasible``   - a limit (time, iterations) stopped it with an incumbent; the gap says how good;
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
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

    opts = options or SolveOptions()
    solver = _quiet_highs_class()()
    highs_opts = {"random_seed": int(opts.seed) % 2**31, **({} if opts.tee else {"output_flag": False}), **opts.highs_options}
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
    bound = res.objective_bound
    if bound is not None and abs(bound) == float("inf"):
        bound = None if inc is None else bound
    if tc == TC.convergenceCriteriaSatisfied and has_inc:
        status = Status.OPTIMAL
    elif tc in (TC.maxTimeLimit, TC.iterationLimit, TC.objectiveLimit, TC.interrupted, TC.minStepLength) and has_inc:
        status = Status.FEASIBLE
    elif tc in (TC.provenInfeasible, TC.locallyInfeasible):
        status = Status.INFEASIBLE
    elif tc == TC.unbounded:
        status = Status.UNBOUNDED
    elif tc == TC.infeasibleOrUnbounded:
        status = Status.INFEASIBLE if not has_inc else Status.UNBOUNDED
    else:
        status = Status.ERROR
    if has_inc:
        res.solution_loader.load_vars()
        if _wants_duals(model):
            try:  # an LP: row duals into the model's IMPORT ``dual`` suffix (none for a MILP)
                res.solution_loader.load_import_suffixes()
            except Exception:  # noqa: BLE001 - duals unavailable: the suffix stays empty
                pass
    gap = _rel_gap(inc, bound) if has_inc else None
    if status == Status.OPTIMAL and gap is not None and gap > max(opts.mip_rel_gap, 1e-6) * 1.0001:
        status = Status.FEASIBLE  # never claim optimality outside the requested gap
    msg = "" if status != Status.ERROR else f"HiGHS stopped with {tc.name} and no incumbent"
    return SolveResult(status, inc, bound, gap, solve_s, tc.name, msg)
