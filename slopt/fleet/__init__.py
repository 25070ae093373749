"""Fleet layer: retired-battery tables, second-life applications and routes (DESIGN §10).

- :mod:`slopt.fleet.data`: :class:`Fleet`, :func:`generate_fleet` (seed 003's synthetic
  population), :func:`load_fleet` (CSV with one-line errors).
- :mod:`slopt.fleet.applications`: the eight applications of seed 000 §4 with their
  requirements and duty cycles, the end-of-life routes.

The digital twin that evaluates every battery in every application is
:func:`slopt.battery.twin.simulate_twin`.
"""

from slopt.fleet.applications import (
    APPLICATIONS, REMANUFACTURE_MIN_SOH, ROUTES, Application, duty_cycle, representative_day, route_feasible,
    scale_demands, soc_trajectory,
)
from slopt.fleet.data import FLEET_COLUMNS, Fleet, generate_fleet, load_fleet

__all__ = [
    "Fleet", "generate_fleet", "load_fleet", "FLEET_COLUMNS",
    "Application", "APPLICATIONS", "ROUTES", "REMANUFACTURE_MIN_SOH", "route_feasible", "duty_cycle",
    "representative_day", "soc_trajectory", "scale_demands",
]
