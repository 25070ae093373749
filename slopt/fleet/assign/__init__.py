"""``slopt.assign``: every retired battery to one second-life route, optimal per battery.

The problem (Kumar et al. §3D and §5, Tang et al. end-of-life routes; formulation
and equation numbers in ``docs/assignment.md``):

- battery ``i`` has its own usable energy ``e[i]`` and its own value ``v[i,r]`` on every route
  ``r`` (the eight applications, remanufacture, recycle), from the digital twin
  (:func:`route_values`); a route the twin rejects is closed to it;
- every battery takes exactly one route; application ``a`` absorbs at most ``D[a]`` kWh;
- pack consistency (:class:`PackRule`): the batteries of an application form at most ``K[a]``
  installations, each of one chemistry and within the application's SOH and resistance spreads.

How it is solved, exactly per battery:

1. **Dual prices and the bound.** Only the demand rows couple the batteries. For prices
   ``lam >= 0`` ($/kWh) the Lagrangian ``g(lam) = sum_a lam[a] D[a] + sum_i max_r (v[i,r] -
   lam[r] e[i])`` is a true upper bound of the per-battery problem; its minimum is the
   per-battery LP bound. Up to ``lp_batteries`` the LP relaxation of the Pyomo model is solved
   over every battery and its duals are the prices; beyond, ``g`` is minimised by L-BFGS on an
   entropy-smoothed dual (scipy), warm-started on samples. The bound is the exact ``g``.
2. **Incumbent and column fixing.** At the prices each battery's best route is an argmax; a
   repair (or the rounded LP vertex) makes it feasible. A plan better than the incumbent
   uses no column whose reduced cost exceeds ``bound - incumbent``: those leave the model.
3. **Reduced MILP.** Small fleets go into the Pyomo model of :mod:`slopt.models.assignment`
   whole. Beyond, the batteries closest to switching (per application, on both sides of its
   price) stay free, the others keep their incumbent route, and the residual demands go to the
   model; then a neighbourhood search solves small exact MILPs on changing near-tie sets.
   Identical batteries share one integer column (exact). HiGHS runs through
   :func:`slopt.solve.solve`.
4. **Certificate.** ``objective_usd`` is the value of the returned plan, recomputed battery by
   battery; ``gap = (bound - objective) / |bound|``. When the model held every battery, or every
   battery left out has all other routes at a reduced cost above ``bound - objective``, no
   better plan exists outside the model and the HiGHS bound applies too (``extra["proven"]``).
5. **Pack consistency.** Small fleets: installation windows are binaries of the MILP (exact
   candidate windows, so its bound holds for the rule). Larger fleets: if the unconstrained
   plan fits in ``K[a]`` windows per application it stands; otherwise the whole MILP with
   grid windows (up to ``windows_model_max``), or two window choices (a window-selection model
   on aggregated cells, a greedy cover of dual gains) with the per-battery problem re-solved
   inside each. The bound then stays the unconstrained one (true, conservative).

The static baseline of Kumar et al. §5a (SOH >= 0.7 to grid storage, the rest to backup) gets the
same demands: a full rule passes its overflow to the next rule, then to recycling
(:func:`static_baseline`). :func:`allocation_metrics` scores both on the same footing.

A study adds its own constraints with ``assign(..., extra_constraints=f)``: ``f(model, data)``
is called on the MILP (:func:`slopt.models.assignment.build_assignment_model`), whose
components are indexed by names: ``model.y[battery_id, route]`` (only for routes open to the
battery), ``model.demand[application]``, ``model.one_route[battery_id]``. With a hook every
battery is its own column of one whole model (no merging, no column fixing).

Modules: :mod:`~slopt.fleet.assign.options` (options, pack rule), :mod:`~slopt.fleet.assign.values`
(route values), :mod:`~slopt.fleet.assign.duals` (bound and prices), :mod:`~slopt.fleet.assign.engine`
(the per-battery solve), :mod:`~slopt.fleet.assign.packs` (pack consistency),
:mod:`~slopt.fleet.assign.tables` (result tables, baseline, metrics), :mod:`~slopt.fleet.assign.api`
(:func:`assign`, :func:`assign_arrays`).
"""

from slopt.fleet.assign.api import ArrayPlan, AssignmentResult, assign, assign_arrays
from slopt.fleet.assign.duals import lagrangian_bound
from slopt.fleet.assign.options import (ASSIGN_COLUMNS, RECYCLE, REMANUFACTURE, AssignmentOptions, PackRule,
                                       check_assignment_options)
from slopt.fleet.assign.packs import exact_windows, grid_windows
from slopt.fleet.assign.tables import allocation_metrics, static_baseline
from slopt.fleet.assign.values import check_plan, plan_value, route_values

__all__ = ["AssignmentOptions", "AssignmentResult", "ArrayPlan", "PackRule", "assign", "assign_arrays",
           "static_baseline", "route_values", "allocation_metrics", "plan_value", "check_plan", "lagrangian_bound",
           "grid_windows", "exact_windows", "REMANUFACTURE", "RECYCLE", "ASSIGN_COLUMNS", "check_assignment_options"]
