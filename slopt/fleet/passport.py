"""Battery-passport records from BMS lifecycle histories, and their fleet-table rows.

The LiBat white paper argues that the data a BMS records during the first life — time series
of voltage, current, temperature and SOC per battery — should drive second-life grading, and
that the EU battery passport (Regulation (EU) 2023/1542, Art. 77 and Annex XIII) will require
exactly these lifecycle data. slopt provides the ingestion that turns such histories into
the fleet table's SOH, resistance, equivalent cycles and thermal stress. The work is cut by concern:

- :mod:`slopt.fleet.history`: reading and validating a history (:func:`read_history`);
- :mod:`slopt.fleet.estimate`: the estimators, one step at a time (:func:`ingest_history`);
- :mod:`slopt.fleet.synthetic`: synthetic histories with a known truth (:func:`synthesize_history`);
- this module: the passport record (:func:`passport_record`, :func:`write_passport`,
  :func:`read_passport`) and the fleet-table mapping (:func:`to_fleet_table`) that feeds
  grading, clustering and assignment.

Every name of the former single module is still importable from here. See ``docs/passport.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.chemistry import CHEMISTRIES
from slopt.errors import InstanceError
from slopt.fleet.estimate import IngestOptions, _lookup, ingest_history, plausibility_warnings
from slopt.fleet.history import HISTORY_COLUMNS, read_history
from slopt.fleet.synthetic import SynthProfile, synthesize_history
from slopt.report import atomic_write_text

__all__ = [
    "HISTORY_COLUMNS", "PASSPORT_SCHEMA", "PASSPORT_KEYS", "IngestOptions", "SynthProfile",
    "read_history", "ingest_history", "to_fleet_table", "passport_record", "write_passport", "read_passport",
    "synthesize_history", "plausibility_warnings",
]

PASSPORT_SCHEMA = "slopt.passport/1"
PASSPORT_KEYS = (
    "schema", "battery_id", "chemistry", "rated", "state_of_health", "soh_history",
    "internal_resistance", "cycles", "thermal", "history", "data_quality",
)
"""Top-level keys every passport record carries (values may be ``null`` when unknown)."""



def to_fleet_table(summary: pd.DataFrame, r_new_mohm=None) -> pd.DataFrame:
    """The fleet-table columns (:mod:`slopt.fleet.data`) from :func:`ingest_history`.

    So that passport data feed grading, clustering and assignment directly:
    ``nominal_kwh``, ``soh``, ``r0_mohm``, ``t_min_c``, ``t_max_c`` and ``degradation_trend``
    (SOH points per 1000 EFC, a negative fit clipped to 0) are the estimates; ``cycle_count`` is the k = 1 equivalent full
    cycles of the history (the first-life count only if the history covers the first life);
    ``r_growth = R0 / R_new - 1`` (clipped at 0) with ``R_new`` from ``r_new_mohm`` (a number,
    or per battery_id) or else the chemistry's new-module resistance of
    :data:`slopt.battery.chemistry.CHEMISTRIES` (LFP when the chemistry is unknown);
    ``accelerated`` is ``degradation_trend >= 1.6 x`` the chemistry's reference trend (the
    smallest acceleration factor of the synthetic fleet). Unknown values stay NaN.

    The passport's refusals carry over: a refused SOH (above ``1 + soh_tolerance``) or R0
    (``<= 0``) is NaN, so :class:`slopt.fleet.Fleet` refuses the row with a one-line error; an SOH
    within the tolerance above 1 is entered as 1.0. ``passport_ok`` says whether SOH and R0 are
    both usable, and ``passport_flags`` lists the passport's data-quality flags (``;``-separated).

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`ingest_history`.
    r_new_mohm : float, mapping or pandas.Series, optional

    Returns
    -------
    pandas.DataFrame
    """
    chem = [str(c).upper() if isinstance(c, str) and str(c).upper() in CHEMISTRIES else None
            for c in summary["chemistry"]]
    params = [CHEMISTRIES[c or "LFP"] for c in chem]
    r_new = np.array([_lookup(r_new_mohm, b) for b in summary["battery_id"]])
    r_new = np.where(np.isfinite(r_new), r_new, [p.r_new_mohm for p in params])
    r0 = summary["r0_mohm"].to_numpy(float)
    r0 = np.where(r0 > 0, r0, np.nan)                  # never a non-positive resistance
    soh = summary["soh"].to_numpy(float)
    trend = np.maximum(summary["degradation_trend"].to_numpy(float), 0.0)  # no measurable fade: 0; NaN stays
    ref = np.array([p.trend_ref_pp_per_kefc for p in params])
    return pd.DataFrame({
        "battery_id": summary["battery_id"].astype(str).to_numpy(dtype=object),
        "chemistry": np.array([c if c else s for c, s in zip(chem, summary["chemistry"])], dtype=object),
        "nominal_kwh": summary["nominal_kwh"].to_numpy(float),
        "soh": np.minimum(soh, 1.0),
        "r0_mohm": r0,
        "r_growth": np.maximum(r0 / r_new - 1.0, 0.0),
        "t_min_c": summary["t_min_c"].to_numpy(float),
        "t_max_c": summary["t_max_c"].to_numpy(float),
        "cycle_count": summary["efc"].to_numpy(float),
        "degradation_trend": trend,
        "accelerated": np.nan_to_num(trend, nan=0.0) >= 1.6 * ref,
        "passport_ok": np.isfinite(soh) & np.isfinite(r0) & (r0 > 0),
        "passport_flags": np.array([";".join(map(str, f)) if isinstance(f, (list, tuple)) else ""
                                    for f in summary.get("quality_flags", pd.Series([[]] * len(summary)))],
                                   dtype=object),
    })


# --------------------------------------------------------------------------- passport records


def _num(x):
    """JSON-safe number: Python int/float, ``None`` for NaN/inf/missing."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def passport_record(summary, battery_id: str | None = None) -> dict:
    """JSON-serialisable passport record of one battery, from a row of :func:`ingest_history`.

    The layout follows the performance-and-durability part of the EU battery passport
    (Regulation (EU) 2023/1542, Art. 77 and Annex XIII): rated capacity and energy, remaining
    capacity and capacity fade (the SOH), internal resistance, equivalent full cycles and
    capacity throughput, time spent at extreme temperatures, plus the dated SOH history and
    data-quality flags that the LiBat white paper asks the BMS to keep. Unknown values are ``None``.

    Parameters
    ----------
    summary : pandas.Series, mapping or pandas.DataFrame
        A row of :func:`ingest_history`, or the whole table together with ``battery_id``.
    battery_id : str, optional
        Which battery, when ``summary`` is a table (optional if it has one row).

    Returns
    -------
    dict
        With the keys :data:`PASSPORT_KEYS`; only str, int, float, bool, None, list, dict.
    """
    if isinstance(summary, pd.DataFrame):
        sel = summary if battery_id is None else summary[summary["battery_id"].astype(str) == str(battery_id)]
        if len(sel) != 1:
            raise ValueError(f"passport_record: expected one battery, found {len(sel)} rows"
                             + ("" if battery_id is None else f" for battery_id {battery_id!r}"))
        row = sel.iloc[0]
    else:
        row = summary
    get = (lambda k: row.get(k)) if hasattr(row, "get") else (lambda k: row[k])
    hot = sorted(k for k in (row.index if isinstance(row, pd.Series) else row.keys())
                 if str(k).startswith("hours_above_") or str(k).startswith("hours_below_"))
    cap, nom = _num(get("capacity_ah")), _num(get("nominal_ah"))
    chem = get("chemistry")
    return {
        "schema": PASSPORT_SCHEMA,
        "battery_id": str(get("battery_id")),
        "chemistry": None if chem is None or (isinstance(chem, float) and math.isnan(chem)) else str(chem),
        "rated": {"capacity_ah": nom, "voltage_v": _num(get("nominal_v")), "energy_kwh": _num(get("nominal_kwh"))},
        "state_of_health": {
            "soh": _num(get("soh")), "soh_measured": _num(get("soh_measured")), "remaining_capacity_ah": cap,
            "remaining_energy_kwh": _num(get("capacity_kwh")),
            "capacity_fade_pct": _num(100.0 * (1.0 - cap / nom)) if cap is not None and nom else None,
            "fade_pu_per_year": _num(get("soh_fade_pu_per_year")),
            "fade_pp_per_1000_efc": _num(get("degradation_trend")),
            "n_swings": _num(get("n_swings")), "capacity_iqr_ah": _num(get("capacity_iqr_ah")),
            "method": "coulomb counting over monotone SOC swings",
        },
        "soh_history": [{"date": str(h["date"]), "days": _num(h["days"]), "efc": _num(h.get("efc")),
                         "soh": _num(h["soh"]),
                         "capacity_ah": _num(h["capacity_ah"]), "r0_mohm": _num(h["r0_mohm"]),
                         "n_swings": _num(h["n_swings"])} for h in (get("soh_history") or [])],
        "internal_resistance": {"r0_mohm": _num(get("r0_mohm")), "r0_measured_mohm": _num(get("r0_measured_mohm")),
                                "iqr_mohm": _num(get("r0_iqr_mohm")),
                                "n_steps": _num(get("n_steps")), "at_interval_s": _num(get("sample_s")),
                                "method": "median dV/dI at current steps"},
        "cycles": {"equivalent_full_cycles": _num(get("efc")),
                   "equivalent_full_cycles_woehler": _num(get("efc_woehler")),
                   "woehler_k": _num(get("woehler_k")), "woehler_n100": _num(get("woehler_n100")),
                   "capacity_throughput_ah": _num(get("throughput_ah")),
                   "energy_throughput_kwh": _num(get("energy_throughput_kwh"))},
        "thermal": {"t_min_c": _num(get("t_min_c")), "t_mean_c": _num(get("t_mean_c")),
                    "t_max_c": _num(get("t_max_c")),
                    **{str(k): _num(get(k)) for k in hot},
                    "arrhenius_equiv_h": _num(get("arrhenius_equiv_h")),
                    "arrhenius_mean_factor": _num(get("arrhenius_mean_factor"))},
        "history": {"start": _ts(get("start")), "end": _ts(get("end")), "n_samples": _num(get("n_samples")),
                    "duration_h": _num(get("duration_h")), "sample_s": _num(get("sample_s"))},
        "data_quality": {**{k: _num(get(k)) for k in ("n_gaps", "gap_h", "max_gap_h", "voltage_missing",
                                                        "temperature_missing", "voltage_out_of_range",
                                                        "temperature_out_of_range", "soc_jumps", "soc_spikes",
                                                        "duplicate_rows", "soc_noise_pu", "soc_hysteresis_pu")},
                         "usable": _num(get("soh")) is not None and _num(get("r0_mohm")) is not None,
                         "flags": [str(f) for f in (get("quality_flags") or [])]},
    }


def _ts(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return pd.Timestamp(x).isoformat()


def write_passport(record: dict, path: str | Path) -> Path:
    """Write a passport record as JSON atomically (temporary file + rename); NaN becomes null."""
    text = json.dumps(_json_safe(record), indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, (bool, int, float, np.bool_, np.number)):
        return _num(obj)  # NaN and inf become None
    return str(obj)


def read_passport(path: str | Path) -> dict:
    """Read a passport record written by :func:`write_passport` and check its top-level keys.

    Raises
    ------
    InstanceError
        If the file cannot be read, is not JSON, or lacks a key of :data:`PASSPORT_KEYS`.
    """
    path = Path(path)
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InstanceError.at(path, "file", str(path), f"cannot read file ({e.strerror or type(e).__name__})") from None
    except json.JSONDecodeError as e:
        raise InstanceError.at(path, "file", str(path), f"not JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(rec, dict):
        raise InstanceError.at(path, "record", type(rec).__name__, "expected a JSON object")
    for k in PASSPORT_KEYS:
        if k not in rec:
            raise InstanceError.at(path, "keys", ",".join(rec), f"missing key {k!r}")
    if rec["schema"] != PASSPORT_SCHEMA:
        raise InstanceError.at(path, "schema", rec["schema"], f"expected {PASSPORT_SCHEMA!r}")
    return rec
