"""Power dispatch among battery groups behind one interface (DESIGN section 9).

``allocate(groups, p_request_kw, state) -> p_group_kw``; sign convention of seed 002 Eq. 11a:
positive = charging, negative = discharging.

- :mod:`slopt.dispatch.base`: groups, state, Eq. 11a/11b bounds, the SOC step, proportional (CPD);
- :mod:`slopt.dispatch.strategies`: priority (Eq. 9), SOH-weighted (SOHD) and the registry
  ``STRATEGIES`` / ``get_strategy`` (``mpc`` and ``optimal`` load lazily from
  :mod:`slopt.dispatch.optimal`, which needs Pyomo);
- :mod:`slopt.dispatch.simulate`: ``simulate_dispatch`` over a day, with the metrics of seed 002
  Tables 3 and 4.
"""

from slopt.dispatch.base import BatteryGroups, GroupState, group_power_bounds, proportional, step_energy
from slopt.dispatch.simulate import (DispatchResult, FeederContext, consistency_index, consistency_matrix,
                                     groups_from_instance, simulate_dispatch, table3, throughput_table)
from slopt.dispatch.strategies import STRATEGIES, Strategy, get_strategy, priority, soh_weighted

__all__ = ["BatteryGroups", "GroupState", "group_power_bounds", "proportional", "step_energy",
           "priority", "soh_weighted", "STRATEGIES", "Strategy", "get_strategy",
           "simulate_dispatch", "DispatchResult", "FeederContext", "groups_from_instance",
           "consistency_index", "consistency_matrix", "throughput_table", "table3"]
