"""Variance-optimal dispatch (Yuan et al. Eq. 10-11) and its receding-horizon MPC baseline (Table 4 MPCD).

* :func:`plan_optimal` plans a whole horizon: the QP of :mod:`slopt.models.dispatch` minimises the
  variance of the normalised life consumption ``C_g N_g^Life`` (Eq. 10) under Eq. 11a-c and
  returns the group powers (T, G).
* :func:`mpc_allocate` is the MPC strategy: it solves the same model over the next
  ``options.horizon`` steps of the (forecast) request, from the current state, and applies the
  first step only.
* :func:`solve_dispatch` returns the full :class:`DispatchPlan` (energies, unserved power,
  life consumption, solver status and timings) behind both.

Sign convention of Yuan et al. Eq. 11a: positive = charging. See ``docs/dispatch_optimal.md``.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from slopt.battery.groups import GROUP_FIELDS, BatteryGroups, GroupState
from slopt.dispatch.strategies import Strategy, plan_rule, register_strategy
from slopt.errors import SolverError
from slopt.models.dispatch import (DispatchModelOptions, build_dispatch_model, dispatch_model_data,
                                   dispatch_solution)
from slopt.solve import SolveOptions, SolveResult, solve

__all__ = ["OptimalOptions", "DispatchPlan", "solve_dispatch", "plan_optimal", "mpc_allocate"]


@dataclass(frozen=True)
class OptimalOptions:
    """Options of the optimal and MPC dispatch.

    Attributes
    ----------
    dt_h : float or None
        Step length (h); None: ``state.dt_h``.
    horizon : int
        MPC look-ahead in steps (default 8); :func:`plan_optimal` uses the whole request.
    model : DispatchModelOptions
        Formulation: objective (``"variance"`` Eq. 10 or ``"throughput"``), sign coherence,
        penalty ``w_unserved`` and regulariser ``w_reg`` weights, Eq. 7b fit.
    solver : SolveOptions
        HiGHS options passed to :func:`slopt.solve.solve`.
    qp_iteration_limit : int or None
        HiGHS ``qp_iteration_limit`` unless ``solver.highs_options`` sets it. HiGHS's active-set QP
        solver can cycle near the optimum instead of terminating; the limit stops it and the
        incumbent is returned with status ``feasible``. With this formulation no cycling was seen
        (200 random 8-step windows, 60 random 96-step days; ``docs/dispatch_optimal.md``); solved
        plans need at most a few thousand iterations (9 groups x 96 steps).
    aggregate : bool
        Model identical groups (same data, stored energy and history) once, weighted by their
        count. Exact: the optimum is unique and symmetric. The case study's four new groups
        become one, which cuts the QP from 864 to 576 power variables.
    """

    dt_h: float | None = None
    horizon: int = 8
    model: DispatchModelOptions = field(default_factory=DispatchModelOptions)
    solver: SolveOptions = field(default_factory=SolveOptions)
    qp_iteration_limit: int | None = 20_000
    aggregate: bool = True

    def __post_init__(self) -> None:
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")

    def solve_options(self) -> SolveOptions:
        """``solver`` with the QP iteration limit added (a user's own ``qp_iteration_limit`` wins)."""
        if self.qp_iteration_limit is None or "qp_iteration_limit" in self.solver.highs_options:
            return self.solver
        return replace(self.solver, highs_options={"qp_iteration_limit": int(self.qp_iteration_limit),
                                                   **self.solver.highs_options})


@dataclass
class DispatchPlan:
    """A solved dispatch plan. Arrays over steps and groups have shape (T, G).

    Attributes
    ----------
    p_group_kw : group AC power, + charging.
    p_charge_kw, p_discharge_kw : its two parts (both >= 0).
    e_kwh : stored energy at the end of each step.
    unserved_kw : (T,) request not served, same sign as the request.
    efc : (G,) throughput equivalent full cycles over the horizon.
    life_used : (G,) normalised life consumption ``life0 + C_g EFC_g``.
    variance : Eq. 10a of ``life_used`` (sample variance, ddof = 1).
    max_simultaneous_kw : largest ``min(pch, pdis)`` of any group and step.
    result : SolveResult of the QP.
    build_s, total_s : model build time and build + solve wall time (s).
    dt_h : step length (h).
    """

    p_group_kw: np.ndarray
    p_charge_kw: np.ndarray
    p_discharge_kw: np.ndarray
    e_kwh: np.ndarray
    unserved_kw: np.ndarray
    efc: np.ndarray
    life_used: np.ndarray
    variance: float
    max_simultaneous_kw: float
    result: SolveResult
    build_s: float
    total_s: float
    dt_h: float = 1.0

    @property
    def unserved_kwh(self) -> float:
        """Energy not served over the horizon, ``sum_t |u_t| dt`` (kWh)."""
        return float(np.abs(self.unserved_kw).sum() * self.dt_h)

    def res_groups(self) -> pd.DataFrame:
        """One row per group: ``efc``, ``life_used``, ``throughput_kwh`` (AC)."""
        thr = (self.p_charge_kw + self.p_discharge_kw).sum(axis=0) * self.dt_h
        return pd.DataFrame({"efc": self.efc, "life_used": self.life_used, "throughput_kwh": thr},
                            index=pd.RangeIndex(self.efc.size, name="group"))


_BOUND_MSG = re.compile(r"numeric value `([^`]+)` outside the bounds \(([^,]+), ([^)]+)\)")


class _RoundOffFilter(logging.Filter):
    """Drop Pyomo's W1002 warning when HiGHS returns a value within ``tol`` of a bound (round-off such as
    ``-1e-16`` for a power bounded at 0); larger violations still warn. Powers are clipped at 0 on read."""

    def __init__(self, tol: float = 1e-6):
        super().__init__()
        self.tol = tol

    def filter(self, record: logging.LogRecord) -> bool:
        mt = _BOUND_MSG.search(record.getMessage())
        if mt is None:
            return True
        try:
            v, lo, hi = (float(x) if x.strip() != "None" else np.nan for x in mt.groups())
        except ValueError:
            return True
        viol = max(np.nan_to_num(lo - v, nan=0.0), np.nan_to_num(v - hi, nan=0.0), 0.0)
        return viol > self.tol


@contextmanager
def _quiet_round_off():
    logger, filt = logging.getLogger("pyomo.core"), _RoundOffFilter()
    logger.addFilter(filt)
    try:
        yield
    finally:
        logger.removeFilter(filt)


def _as_options(options) -> OptimalOptions:
    """``None``, an :class:`OptimalOptions`, or a mapping of its fields."""
    if options is None:
        return OptimalOptions()
    if isinstance(options, OptimalOptions):
        return options
    try:
        kw = dict(options)
        if isinstance(kw.get("model"), dict):
            kw["model"] = DispatchModelOptions(**kw["model"])
        if isinstance(kw.get("solver"), dict):
            kw["solver"] = SolveOptions(**kw["solver"])
        return OptimalOptions(**kw)
    except TypeError as exc:
        raise ValueError(f"options must be OptimalOptions or a mapping of its fields: {exc}") from None


def _group_arrays(groups: BatteryGroups) -> list[np.ndarray]:
    arrs = np.broadcast_arrays(*(np.atleast_1d(np.asarray(getattr(groups, n), dtype=float)) for n in GROUP_FIELDS))
    if arrs[0].ndim != 1:
        raise ValueError(f"optimal dispatch: battery groups must have shape (G,), got {arrs[0].shape}")
    return list(arrs)


def solve_dispatch(groups: BatteryGroups, p_request_kw, state: GroupState, options: OptimalOptions | None = None,
                   *, life_used0=None, extra_constraints=None) -> DispatchPlan:
    """Build and solve the Eq. 10-11 dispatch model over the whole request.

    Parameters
    ----------
    groups : BatteryGroups
        Arrays of shape (G,).
    p_request_kw : array_like, shape (T,)
        Power asked of the unit per step, + charging.
    state : GroupState
        Stored energy at the start (G,) and the step length.
    options : OptimalOptions or mapping of its fields, optional
    life_used0 : array_like (G,), optional
        Normalised life already consumed, ``C_g * EFC_g`` (Eq. 10 then balances the cumulative wear).
    extra_constraints : callable, optional
        ``extra_constraints(model, data)`` before solving.

    Returns
    -------
    DispatchPlan

    Raises
    ------
    SolverError
        If HiGHS returns no solution (the model is feasible and bounded by construction, so
        any such outcome is a solver failure).
    """
    opts = _as_options(options)
    t0 = time.perf_counter()
    dt_h = float(state.dt_h if opts.dt_h is None else opts.dt_h)
    cols = _group_arrays(groups)
    G = cols[0].size
    e0 = np.broadcast_to(np.asarray(state.e_stored_kwh, dtype=float), (G,))
    life0 = np.zeros(G) if life_used0 is None else np.broadcast_to(np.asarray(life_used0, dtype=float), (G,))
    if opts.aggregate and G > 1:
        # identical groups (data, state, history) share one set of variables, weighted by their count
        _, first, members, counts = np.unique(np.column_stack(cols + [e0, life0]), axis=0, return_index=True,
                                              return_inverse=True, return_counts=True)
        members = members.ravel()
    else:
        first, members, counts = np.arange(G), np.arange(G), np.ones(G, dtype=int)
    sel = [c[first] for c in cols]
    d = dispatch_model_data(BatteryGroups(*sel), e0[first], p_request_kw, dt_h, life0[first], opts.model,
                            multiplicity=counts)
    m = build_dispatch_model(d, extra_constraints)
    build_s = time.perf_counter() - t0
    with _quiet_round_off():
        res = solve(m, opts.solve_options())
    if not res.has_solution:
        raise SolverError(f"optimal dispatch: HiGHS returned {res.status} ({res.termination}) for "
                          f"{d.n_groups} groups x {d.T} steps {res.message}")
    sol = dispatch_solution(m)
    full = {k: sol[k][..., members] for k in ("p_charge_kw", "p_discharge_kw", "p_group_kw", "e_kwh", "efc",
                                               "life_used")}
    simult = float(np.minimum(full["p_charge_kw"], full["p_discharge_kw"]).max()) if d.T else 0.0
    return DispatchPlan(p_group_kw=full["p_group_kw"], p_charge_kw=full["p_charge_kw"],
                        p_discharge_kw=full["p_discharge_kw"], e_kwh=full["e_kwh"], unserved_kw=sol["unserved_kw"],
                        efc=full["efc"], life_used=full["life_used"], variance=sol["variance"],
                        max_simultaneous_kw=simult, result=res, build_s=build_s,
                        total_s=time.perf_counter() - t0, dt_h=dt_h)


def plan_optimal(groups: BatteryGroups, p_request_kw, state0: GroupState,
                 options: OptimalOptions | None = None) -> np.ndarray:
    """Variance-optimal plan (Yuan et al. Eq. 10 under Eq. 11a-c) over the whole request.

    Parameters
    ----------
    groups : BatteryGroups
        Arrays of shape (G,).
    p_request_kw : array_like, shape (T,)
        Power asked of the unit, + charging.
    state0 : GroupState
        State at the start of the horizon.
    options : OptimalOptions, optional

    Returns
    -------
    ndarray, shape (T, G)
        Group powers (kW, + charging). ``|sum_g p| <= |request|`` with the request's sign; the
        rest is unserved (see :func:`solve_dispatch` for the amounts).

    Raises
    ------
    SolverError
        If HiGHS returns no solution.
    """
    return solve_dispatch(groups, p_request_kw, state0, options).p_group_kw


def mpc_allocate(groups: BatteryGroups, p_request_kw_future, state: GroupState, options: OptimalOptions | None = None,
                 *, life_used0=None) -> np.ndarray:
    """Receding-horizon MPC (Yuan et al. Table 4 MPCD): plan the next ``options.horizon`` steps, apply the first.

    Parameters
    ----------
    groups : BatteryGroups
        Arrays of shape (G,).
    p_request_kw_future : array_like, shape (H',)
        The (forecast) request from the current step on; the first ``min(H', horizon)`` steps are
        used. Entry 0 is the request to serve now.
    state : GroupState
        Current stored energy and step length.
    options : OptimalOptions, optional
        ``horizon`` (default 8) and the model: by default the same Eq. 10 variance as
        :func:`plan_optimal`, so with ``horizon = T`` the first step equals the plan's first step.
    life_used0 : array_like (G,), optional
        Normalised life consumed so far (``C_g * EFC_g``). Without it each window balances only its
        own wear (a myopic MPC); with it the MPC balances the cumulative wear, as Eq. 10 over the day.

    Returns
    -------
    ndarray, shape (G,)
        Group powers for the current step (kW, + charging).
    """
    opts = _as_options(options)
    req = np.atleast_1d(np.asarray(p_request_kw_future, dtype=float))
    if req.ndim != 1 or req.size == 0:
        raise ValueError("mpc_allocate: p_request_kw_future must be a non-empty 1-D array")
    plan = solve_dispatch(groups, req[: int(opts.horizon)], state, opts, life_used0=life_used0)
    return plan.p_group_kw[0]


# ----------------------------------------------------------------------------- registry
def _mpc(groups, p_request_kw, ctx):
    """MPCD under the dispatch contract: the forecast from this step and the wear so far."""
    return mpc_allocate(groups, ctx.forecast_kw, ctx.state, ctx.options, life_used0=ctx.life_used)


register_strategy(Strategy("mpc", "MPCD", "lookahead", _mpc, "receding-horizon Eq. 10 (Pyomo + HiGHS)"))
register_strategy(Strategy("optimal", "Eq. 10", "plan", plan_rule(plan_optimal),
                           "day plan minimising the variance of normalised life consumption (Pyomo + HiGHS)"))
