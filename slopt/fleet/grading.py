"""Health scoring, grading and consistent-pack clustering of retired batteries.

**Composite health score** (Kumar et al. §3B). Kumar et al. evaluate each battery on five indicators
instead of SOH alone — SOH, internal resistance, thermal stability, charge-discharge efficiency
and degradation-rate trend — and give each battery "a composite health score that reflects
its overall suitability". They publish no weights or scales, so these are ours
(``docs/grading.md``). Each indicator is mapped to a sub-score in [0, 1] by a clipped linear
ramp between a documented *bad* anchor (0) and *good* anchor (1); fixed anchors, not fleet
min-max, so a battery's score does not depend on the rest of the fleet and the score is
monotone in every indicator. The score is ``100 * sum_i w_i s_i`` with weights summing to 1.

Grades A-D come from score bands, then three gates tied to Kumar et al.: SOH < 0.5 is below the
second-life capacity window (Kumar et al. Table 1: 80-50 %) -> D; grade A (grid storage) needs
SOH >= 0.7 (Kumar et al. §5a); a thermally unstable battery (thermal sub-score < 0.25) is at most
C, i.e. "unsuitable for grid applications but could still be used in low-demand backup"
(Kumar et al. §3B).

Clustering into consistent packs sits apart, in :mod:`slopt.fleet.clustering`; its names are
re-exported here for existing code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.errors import InstanceError
from slopt.fleet.clustering import (  # the clustering half of the former module, re-exported
    DEFAULT_DYNAMIC, DEFAULT_DYNAMIC_TOL, DEFAULT_STATIC, ClusterOptions, ClusterResult, KMeansResult, cluster, kmeans,
)
from slopt.fleet.columns import float_columns as _columns
from slopt.fleet.columns import row_label as _label

__all__ = [
    "GradingOptions", "health_score", "GRADES", "KMeansResult", "kmeans",
    "ClusterOptions", "ClusterResult", "cluster", "DEFAULT_STATIC", "DEFAULT_DYNAMIC", "DEFAULT_DYNAMIC_TOL",
]

GRADES = ("A", "B", "C", "D")
COMPONENTS = ("soh", "resistance", "thermal", "efficiency", "trend")


# --------------------------------------------------------------------------- health score


@dataclass(frozen=True)
class GradingOptions:
    """Weights, normalisation anchors and grade bands of :func:`health_score`.

    Each anchor pair is ``(bad, good)``: the sub-score is 0 at or beyond ``bad``, 1 at or
    beyond ``good``, linear in between (either order; the ramp follows the pair).

    Attributes
    ----------
    weights : mapping
        Weight per component ``soh, resistance, thermal, efficiency, trend``; must sum to 1.
        Default 0.35 / 0.20 / 0.15 / 0.10 / 0.20.
    soh_pu : (bad, good)
        SOH (pu). (0.50, 0.80): the second-life window of Kumar et al. Table 1.
    r_growth_pu : (bad, good)
        Resistance growth over the new value, ``R0/R_new - 1``. (2.0, 0.0): retired modules
        arrive with roughly doubled resistance (growth ~1, the usual first-life end-of-life
        criterion); three times the new resistance scores 0.
    t_max_c : (bad, good)
        Peak recorded temperature (degC). (55, 30).
    t_span_k : (bad, good)
        Recorded temperature range ``t_max - t_min`` (K). (25, 5). Thermal stability is the
        mean of the peak and span sub-scores.
    rte_pu : (bad, good)
        Round-trip efficiency (pu). (0.85, 0.97).
    trend_pp_per_kefc : (bad, good)
        Degradation trend, SOH loss in percentage points per 1000 equivalent full cycles (the
        fleet table's unit). (10, 1): the twin's reference rate is ~2.8; accelerated agers run
        1.6-2.6 times faster.
    rte_c_rate : float
        C-rate of the ohmic efficiency proxy (used when the table has no ``rte`` column).
    nominal_v : float
        Module voltage of the proxy when the table has no ``nominal_v`` column (V).
    bands : tuple of (grade, min score)
        Score bands, best first. Default A >= 75, B >= 55, C >= 35, else D.
    grid_min_soh, second_life_min_soh, thermal_gate : float
        Gates: grade A needs SOH >= 0.7 (Kumar et al. §5a); SOH < 0.5 -> D (Kumar et al. Table 1);
        thermal sub-score < 0.25 -> at most C (Kumar et al. §3B).
    """

    weights: Mapping = field(default_factory=lambda: {
        "soh": 0.35, "resistance": 0.20, "thermal": 0.15, "efficiency": 0.10, "trend": 0.20})
    soh_pu: tuple = (0.50, 0.80)
    r_growth_pu: tuple = (2.0, 0.0)
    t_max_c: tuple = (55.0, 30.0)
    t_span_k: tuple = (25.0, 5.0)
    rte_pu: tuple = (0.85, 0.97)
    trend_pp_per_kefc: tuple = (10.0, 1.0)
    rte_c_rate: float = 0.5
    nominal_v: float = 51.2
    bands: tuple = (("A", 75.0), ("B", 55.0), ("C", 35.0), ("D", -math.inf))
    grid_min_soh: float = 0.70
    second_life_min_soh: float = 0.50
    thermal_gate: float = 0.25

    def __post_init__(self) -> None:
        w = dict(self.weights)
        if set(w) != set(COMPONENTS):
            raise ValueError(f"GradingOptions.weights must have exactly the keys {COMPONENTS}, got {sorted(w)}")
        if any(not (np.isfinite(v) and v >= 0) for v in w.values()) or abs(sum(w.values()) - 1.0) > 1e-9:
            raise ValueError(f"GradingOptions.weights must be >= 0 and sum to 1, got {w}")
        for name in ("soh_pu", "r_growth_pu", "t_max_c", "t_span_k", "rte_pu", "trend_pp_per_kefc"):
            bad, good = getattr(self, name)
            if not (np.isfinite(bad) and np.isfinite(good)) or bad == good:
                raise ValueError(f"GradingOptions.{name} must be two different finite numbers, got {(bad, good)}")
        lims = [b for _, b in self.bands]
        if [g for g, _ in self.bands] != list(GRADES) or lims != sorted(lims, reverse=True):
            raise ValueError("GradingOptions.bands must list A, B, C, D with decreasing minimum scores")


def _ramp(x: np.ndarray, anchors: tuple) -> np.ndarray:
    """Clipped linear ramp: 0 at ``bad``, 1 at ``good``."""
    bad, good = anchors
    return np.clip((x - bad) / (good - bad), 0.0, 1.0)


def _efficiency(table: pd.DataFrame, o: GradingOptions) -> np.ndarray:
    """Round-trip efficiency: the ``rte`` column, else an ohmic proxy at ``rte_c_rate``.

    Proxy: at C-rate c of the nominal capacity, the ohmic drop over the voltage is
    ``x = I R / V = c * E_nom * R / V^2`` (E in Wh, R in Ohm), and a charge-discharge round
    trip at that current keeps ``(1 - x) / (1 + x)`` of the energy. (The current is taken on
    the nominal, not the usable, capacity so that the proxy does not fall as SOH rises.)
    """
    if "rte" in table.columns:
        rte = _columns(table, ["rte"])["rte"]
        if np.any((rte <= 0) | (rte > 1)):
            i = int(np.argmax((rte <= 0) | (rte > 1)))
            raise InstanceError.at("fleet table", f"{_label(i, table)}, rte", rte[i], "must be in (0, 1]")
        return rte
    c = _columns(table, ["nominal_kwh", "r0_mohm"])
    v = _columns(table, ["nominal_v"])["nominal_v"] if "nominal_v" in table.columns else o.nominal_v
    x = o.rte_c_rate * c["nominal_kwh"] * 1000.0 * c["r0_mohm"] / 1000.0 / np.square(v)
    return np.clip((1.0 - x) / (1.0 + x), 0.0, 1.0)


def health_score(table: pd.DataFrame, options: GradingOptions | None = None) -> pd.DataFrame:
    """Composite health score in [0, 100] and grade A-D per battery (Kumar et al. §3B).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per battery with ``soh`` (pu), ``r_growth`` (``R0/R_new - 1``), ``t_min_c``,
        ``t_max_c`` (degC) and ``degradation_trend`` (SOH points per 1000 EFC), and either ``rte``
        (round-trip efficiency, pu) or ``nominal_kwh`` and ``r0_mohm`` (plus optionally
        ``nominal_v``) for the ohmic efficiency proxy. The fleet table of
        :mod:`slopt.fleet.data` has all of these. Not modified.
    options : GradingOptions, optional
        Weights, anchors, bands and gates.

    Returns
    -------
    pandas.DataFrame
        Same index as ``table``: ``battery_id`` (if present), the sub-scores ``s_soh``,
        ``s_resistance``, ``s_thermal``, ``s_efficiency``, ``s_trend`` (each in [0, 1]), the
        efficiency used ``rte_pu``, ``score`` (0-100) and ``grade`` (A-D).

    Raises
    ------
    InstanceError
        A missing column, or a value that is not a finite number (naming row and column).
    """
    o = options or GradingOptions()
    c = _columns(table, ["soh", "r_growth", "t_min_c", "t_max_c", "degradation_trend"])
    rte = _efficiency(table, o)
    s = {
        "soh": _ramp(c["soh"], o.soh_pu),
        "resistance": _ramp(c["r_growth"], o.r_growth_pu),
        "thermal": 0.5 * (_ramp(c["t_max_c"], o.t_max_c)
                          + _ramp(np.maximum(c["t_max_c"] - c["t_min_c"], 0.0), o.t_span_k)),
        "efficiency": _ramp(rte, o.rte_pu),
        "trend": _ramp(c["degradation_trend"], o.trend_pp_per_kefc),
    }
    score = 100.0 * sum(o.weights[k] * s[k] for k in COMPONENTS)
    lims = np.array([b for _, b in o.bands])
    idx = np.sum(score[:, None] < lims[None, :-1], axis=1)  # 0 = A ... 3 = D
    idx = np.where(c["soh"] < o.grid_min_soh, np.maximum(idx, 1), idx)
    idx = np.where(s["thermal"] < o.thermal_gate, np.maximum(idx, 2), idx)
    idx = np.where(c["soh"] < o.second_life_min_soh, 3, idx)
    out = pd.DataFrame(index=table.index)
    if "battery_id" in table.columns:
        out["battery_id"] = table["battery_id"].to_numpy()
    for k in COMPONENTS:
        out[f"s_{k}"] = s[k]
    out["rte_pu"] = rte
    out["score"] = score
    out["grade"] = np.array(GRADES, dtype=object)[idx]
    return out
