"""slopt: planning and operation of second-life battery storage on distribution feeders.

Import-light: this module pulls in numpy, networkx and pydantic but never Pyomo or pymoo
(those load with :mod:`slopt.models`, :mod:`slopt.solve` and :mod:`slopt.heuristics`).

>>> import slopt
>>> inst = slopt.load_instance("instances/ieee33-hybrid.toml")   # doctest: +SKIP
>>> pf = slopt.powerflow(inst.feeder, *inst.net_load_kw())       # doctest: +SKIP
"""

from __future__ import annotations

from importlib import metadata as _metadata

from slopt.errors import ArgumentError, InfeasibleError, InstanceError, OutputError, SloptError, SolverError
from slopt.grid.feeder import Feeder, load_feeder
from slopt.grid.powerflow import PowerFlowResult, powerflow
from slopt.io.instance import Candidates, Instance
from slopt.io.loader import load_instance

try:
    __version__ = _metadata.version("slopt")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

__all__ = [
    "__version__",
    "SloptError", "InstanceError", "ArgumentError", "InfeasibleError", "SolverError", "OutputError",
    "Feeder", "load_feeder", "powerflow", "PowerFlowResult",
    "Instance", "Candidates", "load_instance",
]


_LAZY = {"solve_sizing": "slopt.sizing", "SizingOptions": "slopt.sizing", "SizingResult": "slopt.sizing",
         "SolveOptions": "slopt.solve", "Status": "slopt.solve",
         "simulate_dispatch": "slopt.dispatch.simulate", "DispatchResult": "slopt.dispatch.simulate",
         "BatteryGroups": "slopt.dispatch.base",
         "generate_fleet": "slopt.fleet.data", "load_fleet": "slopt.fleet.data", "Fleet": "slopt.fleet.data",
         "assign": "slopt.fleet.assign", "AssignmentOptions": "slopt.fleet.assign",
         "simulate_twin": "slopt.battery.twin"}


def __getattr__(name):
    """Lazy exports (the Pyomo-backed API, dispatch simulation), so ``import slopt`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'slopt' has no attribute {name!r}")
