"""Fleet layer: retired-battery tables, second-life applications, passports, grading, assignment.

- :mod:`slopt.fleet.data`: :class:`Fleet`, :func:`generate_fleet` (Kumar et al.'s synthetic
  population, any mix of :data:`slopt.battery.chemistry.CHEMISTRIES`), :func:`load_fleet`
  (CSV with one-line errors).
- :mod:`slopt.fleet.applications`: the eight applications of Tang et al. §4 with their
  requirements and duty cycles, the end-of-life routes.
- :mod:`slopt.fleet.history`, :mod:`slopt.fleet.estimate`, :mod:`slopt.fleet.synthetic`,
  :mod:`slopt.fleet.passport`: BMS histories, health estimates, synthetic histories, passports.
- :mod:`slopt.fleet.grading` (health score and grades) and :mod:`slopt.fleet.clustering`
  (consistent packs).
- :mod:`slopt.fleet.assign`: every battery to one route (``slopt.assign``).

The digital twin that evaluates every battery in every application is
:func:`slopt.battery.twin.simulate_twin`.
"""

from slopt.fleet.applications import (
    APPLICATIONS, REMANUFACTURE_MIN_SOH, ROUTES, Application, duty_cycle, representative_day, route_feasible,
    scale_demands, soc_trajectory,
)
from slopt.fleet.clustering import ClusterOptions, ClusterResult, cluster, kmeans
from slopt.fleet.data import FLEET_COLUMNS, Fleet, GeneratorSpec, generate_fleet, load_fleet
from slopt.fleet.grading import GradingOptions, health_score

__all__ = [
    "Fleet", "generate_fleet", "load_fleet", "FLEET_COLUMNS", "GeneratorSpec",
    "Application", "APPLICATIONS", "ROUTES", "REMANUFACTURE_MIN_SOH", "route_feasible", "duty_cycle",
    "representative_day", "soc_trajectory", "scale_demands",
    "cluster", "ClusterOptions", "ClusterResult", "kmeans", "health_score", "GradingOptions",
]
