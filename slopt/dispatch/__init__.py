"""Power dispatch among battery groups behind one interface (DESIGN section 9).

``allocate(groups, p_request_kw, state) -> p_group_kw``; sign convention of seed 002 Eq. 11a:
positive = charging, negative = discharging.
"""

from slopt.dispatch.base import BatteryGroups, GroupState, group_power_bounds, proportional, step_energy

__all__ = ["BatteryGroups", "GroupState", "group_power_bounds", "proportional", "step_energy"]
