"""The scenario x strategy sweep of an instance's battery groups (Tables 3-4 of Yuan et al. 2025).

One place for what ``slopt dispatch`` and ``benchmarks/dispatch.py`` both run: every chosen
strategy on every chosen request scenario, the consistency index across scenarios and Table 3
per strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from slopt.dispatch.simulate import (DispatchResult, consistency_index, feeder_context_from_instance,
                                     groups_from_instance, simulate_dispatch, table3)
from slopt.dispatch.strategies import Strategy, get_strategy
from slopt.errors import InstanceError

__all__ = ["DispatchSweep", "sweep_instance"]


@dataclass
class DispatchSweep:
    """Runs of a sweep and the tables computed across its scenarios.

    Attributes
    ----------
    runs : list of DispatchResult
        Scenario-major order; each run's ``metrics["consistency_index"]`` is filled.
    consistency : dict
        ``{strategy: {scenario: index}}`` (empty with one scenario).
    table3 : dict
        ``{strategy: DataFrame}``, Table 3 over the scenarios (empty with one scenario).
    scenarios, strategies : list of str
    priority_b : float
    """

    runs: list[DispatchResult]
    consistency: dict = field(default_factory=dict)
    table3: dict = field(default_factory=dict)
    scenarios: list = field(default_factory=list)
    strategies: list = field(default_factory=list)
    priority_b: float = 0.0

    def metrics(self) -> pd.DataFrame:
        """One row per run: scenario, strategy and every metric."""
        return pd.DataFrame([{"scenario": r.scenario, "strategy": r.strategy, **r.metrics} for r in self.runs])


def sweep_instance(inst, strategies=("priority", "proportional", "soh"), scenarios=None, *, b: float | None = None,
                   voltage: bool = True, progress=None) -> DispatchSweep:
    """Simulate ``strategies`` on the ``scenarios`` of ``inst``'s ``[dispatch]`` section.

    Parameters
    ----------
    inst : Instance
        With a ``[dispatch]`` section (battery groups and requests).
    strategies : iterable of str or Strategy
    scenarios : iterable of str, optional
        Request scenarios (``base`` and the instance's ``[[dispatch.scenarios]]``); default all.
    b : float, optional
        Eq. 9 scaling parameter for ``priority`` (default the instance's ``priority_b``).
    voltage : bool
        Voltage RMSE on the instance's feeder (AC sweep).
    progress : callable, optional
        ``progress(done, total, scenario, strategy)`` before each run.
    """
    if inst.dispatch is None:
        raise InstanceError.at(inst.path, "dispatch", "missing", "the instance has no [dispatch] section (battery groups)")
    d = inst.dispatch
    requests = d.requests()
    chosen = list(requests) if scenarios is None else list(scenarios)
    for sc in chosen:
        if sc not in requests:
            raise InstanceError.at(None, "scenario", sc, f"unknown scenario; use {', '.join(requests)}")
    strats: list[Strategy] = list(dict.fromkeys(get_strategy(s) for s in strategies))
    groups, info = groups_from_instance(inst)
    ctx = feeder_context_from_instance(inst) if voltage else None
    bval = d.priority_b if b is None else float(b)
    runs = []
    total = len(chosen) * len(strats)
    for sc in chosen:
        for s in strats:
            if progress is not None:
                progress(len(runs), total, sc, s.name)
            opts = {"b": bval} if s.name == "priority" else None
            runs.append(simulate_dispatch(groups, requests[sc], s, dt_h=info["dt_h"], soc0=info["soc0"], options=opts,
                                          feeder_context=ctx, names=info["names"], technology=info["technology"],
                                          scenario=sc))
    out = DispatchSweep(runs, scenarios=chosen, strategies=[s.name for s in strats], priority_b=bval)
    if len(chosen) > 1:
        for s in strats:
            by_sc = {r.scenario: r for r in runs if r.strategy == s.name}
            out.consistency[s.name] = consistency_index(by_sc).to_dict()
            t3 = table3(by_sc)
            t3.attrs["strategy"] = s.name
            out.table3[s.name] = t3
    for r in runs:
        r.metrics["consistency_index"] = out.consistency.get(r.strategy, {}).get(r.scenario, float("nan"))
    return out
