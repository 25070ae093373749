"""Power dispatch among battery groups behind one interface (``docs/dispatch.md``).

``allocate(groups, p_request_kw, ctx) -> p_group_kw`` with a :class:`DispatchContext` (state,
forecast, wear so far, options) for every strategy, step, look-ahead or whole-day; sign
convention of Eq. 11a (Yuan et al. 2025): positive = charging, negative = discharging.

- :mod:`slopt.dispatch.base`: groups, state, Eq. 11a/11b bounds, the SOC step, proportional (CPD);
- :mod:`slopt.dispatch.strategies`: priority (Eq. 9), SOH-weighted (SOHD) and the registry
  ``STRATEGIES`` / ``get_strategy`` / ``register_strategy``;
- :mod:`slopt.dispatch.optimal`: MPCD and the Eq. 10 plan (Pyomo + HiGHS), registered on import;
- :mod:`slopt.dispatch.simulate`: ``simulate_dispatch`` over a day, with the metrics of Yuan et al.
  Tables 3 and 4.
"""

from slopt.dispatch.base import (BatteryGroups, DispatchContext, GroupState, group_power_bounds, proportional,
                                 step_energy)
from slopt.dispatch.simulate import (DispatchResult, FeederContext, consistency_index, consistency_matrix,
                                     groups_from_instance, simulate_dispatch, table3, throughput_table)
from slopt.dispatch.strategies import (STRATEGIES, Strategy, get_strategy, priority, register_strategy,
                                      soh_weighted)
import slopt.dispatch.optimal  # noqa: E402,F401  (registers mpc and optimal)
from slopt.dispatch.sweep import DispatchSweep, sweep_instance  # noqa: E402

__all__ = ["BatteryGroups", "GroupState", "DispatchContext", "register_strategy", "group_power_bounds", "proportional", "step_energy",
           "priority", "soh_weighted", "STRATEGIES", "Strategy", "get_strategy",
           "simulate_dispatch", "DispatchResult", "FeederContext", "groups_from_instance",
           "consistency_index", "consistency_matrix", "throughput_table", "table3", "DispatchSweep",
           "sweep_instance"]
