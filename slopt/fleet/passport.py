"""BMS lifecycle histories -> per-battery health estimates and battery-passport records.

Seed 001 (the white paper) argues that the data a BMS records during the first life — time
series of voltage, current, temperature and SOC per battery — should drive second-life
grading, and that the EU battery passport (Regulation (EU) 2023/1542, Art. 77 and Annex XIII)
will require exactly these lifecycle data. DESIGN §10 asks for the ingestion that turns such
histories into the fleet table's SOH, resistance, equivalent cycles and thermal stress.

Input (:func:`read_history`): a CSV file or a DataFrame, one row per sample, several batteries
interleaved or in blocks, with the columns

==============  ===========================================================================
battery_id      identifier (text)
time            ISO 8601 datetime (naive = UTC) or seconds (a number; Unix epoch origin)
voltage_v       terminal voltage (V); an empty cell is a sensor dropout, not an error
current_a       current (A), **positive while charging**
temperature_c   cell/module temperature (degC); an empty cell is a sensor dropout
soc             state of charge, a fraction in [0, 1] (not percent)
==============  ===========================================================================

plus, optionally, ``chemistry``, ``nominal_ah`` and ``nominal_v`` (constant per battery).
Every bad cell is reported as a one-line :class:`~slopt.errors.InstanceError` naming the file,
the data row (1-based, header not counted), the column and the value, e.g.
``hist.csv: row 12, current_a = 'x': not a number (line 13)``.

Estimators (:func:`ingest_history`, all numpy-vectorised over the samples of a battery):

- **capacity** by coulomb counting over full swings. The SOC trajectory is reduced to its
  turning points with a hysteresis of ``soc_hysteresis_pu`` (so sensor noise does not cut a
  swing); each leg between consecutive turning points is monotone up to that hysteresis, and
  a leg with ``|dSOC| >= min_swing_pu`` (0.5) gives ``C = |integral I dt| / |dSOC|`` (Ah).
  The battery's capacity is the median over its swings; legs crossing a logging gap or an SOC
  jump are skipped. The integral holds each current sample until the next sample (zero-order
  hold, the BMS coulomb-counter convention).
- **SOH** = capacity / nominal capacity, and an SOH **history**: the history is cut into
  ``n_periods`` (>= 3) equal spans of time and the capacity is estimated from the swings of
  each span, dated at their mean time. Least-squares lines through them give the fade rate
  per year and per 1000 equivalent full cycles (the fleet table's ``degradation_trend``).
- **resistance** ``R = dV/dI`` at current steps (``|dI|`` above a threshold between two
  consecutive samples without a gap), the median over steps, in mOhm. When the current was
  steady over the interval before the step, that interval's voltage change (the OCV and
  polarisation drift) is subtracted first, ``R = (dV_k - dV_(k-1)) / dI_k``, which removes
  the drift bias at coarse logging intervals.
- **equivalent full cycles** with rainflow counting of the (hysteresis-filtered) SOC through
  :func:`slopt.battery.aging.equivalent_full_cycles`: once with ``k = 1`` (every cycle counts
  its depth; equals the charge throughput over twice the capacity) and once Woehler-weighted
  (``k`` of the chemistry, seed 002 Eq. 7c-8).
- **thermal stress**: hours above 35 and 45 degC and below 0 degC, minimum, mean and maximum
  temperature, and the Arrhenius-weighted exposure ``sum exp(-Ea/R (1/T - 1/T_ref)) dt``
  (equivalent hours at 25 degC).
- **data quality**: logging gaps, voltage/temperature dropouts and implausible readings
  (sensor faults, masked out), SOC jumps, an inverted current sign, missing nominal data.

:func:`passport_record` turns one battery's row into a JSON-serialisable record in the spirit
of the EU passport's performance-and-durability data; :func:`write_passport` writes it
atomically and :func:`read_passport` reads it back. :func:`to_fleet_table` maps the estimates
to the fleet-table columns used by grading, clustering and assignment. :func:`synthesize_history` generates
realistic histories with known capacity, resistance and cycle count for testing.
See ``docs/passport.md``.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from slopt.battery.aging import Woehler, arrhenius_factor, rainflow_cycles
from slopt.errors import InstanceError
from slopt.report import atomic_write_text

__all__ = [
    "HISTORY_COLUMNS", "PASSPORT_SCHEMA", "PASSPORT_KEYS", "IngestOptions", "SynthProfile",
    "read_history", "ingest_history", "to_fleet_table", "passport_record", "write_passport", "read_passport",
    "synthesize_history", "plausibility_warnings",
]

HISTORY_COLUMNS = ("battery_id", "time", "voltage_v", "current_a", "temperature_c", "soc")
"""Required columns of a BMS history."""

_OPTIONAL_COLUMNS = ("chemistry", "nominal_ah", "nominal_v")
_MISSING_TOKENS = ("", "nan", "na", "n/a", "null", "none")
_THROUGHPUT = Woehler(n100_cycles=1.0, k=1.0, name="throughput")

PASSPORT_SCHEMA = "slopt.passport/1"
PASSPORT_KEYS = (
    "schema", "battery_id", "chemistry", "rated", "state_of_health", "soh_history",
    "internal_resistance", "cycles", "thermal", "history", "data_quality",
)
"""Top-level keys every passport record carries (values may be ``null`` when unknown)."""


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class IngestOptions:
    """Estimator settings of :func:`ingest_history`.

    Attributes
    ----------
    min_swing_pu : float
        Smallest monotone SOC swing used for coulomb counting (pu). 0.5 by default.
    soc_hysteresis_pu : float
        SOC retracement that confirms a turning point (pu). Smaller reversals are treated as
        noise, both for the swings and for rainflow counting.
    step_min_a : float or None
        Smallest current step (A) used for the resistance; ``None``: ``step_fraction`` times the
        99th percentile of ``|I|`` of the battery.
    step_fraction : float
        See ``step_min_a``.
    gap_factor : float
        An interval longer than ``gap_factor`` times the median sampling interval is a gap:
        no charge is integrated over it, no swing or step may cross it, and it does not count
        as time at temperature.
    n_periods : int
        Number of equal time spans of the SOH history (>= 3).
    hot_thresholds_c : tuple of float
        Temperatures for the "hours above" statistics (degC).
    cold_threshold_c : float
        Temperature for the "hours below" statistic (degC).
    ea_j_per_mol, t_ref_c : float
        Activation energy and reference temperature of the Arrhenius exposure.
    woehler : Woehler or None
        DoD law of the weighted cycle count; ``None``: by chemistry (LFP when unknown).
    soc_jump_pu : float
        An SOC change between two consecutive samples that differs by more than this from the
        coulomb count (``I dt / C``, with the capacity of a first pass) is a jump
        (recalibration or fault); swings containing one are not used. A jump followed at once by
        one back is a spike: that sample is replaced by the coulomb count.
    noise_k : float
        The turning-point hysteresis is ``max(soc_hysteresis_pu, noise_k * sigma + quantum)``
        with the SOC's measured white-noise ``sigma`` and logging quantum.
    soh_tolerance : float
        A measured SOH up to ``1 + soh_tolerance`` is kept (flag ``soh_above_rated``: new cells
        often hold a few percent more than their rated, guaranteed-minimum capacity); above it the
        SOH is refused (NaN, flag ``soh_implausible``: the rated capacity, or the data, is wrong).
    voltage_range_v, temperature_range_c : tuple of float
        Plausible sensor ranges; readings outside are counted as sensor faults and masked.
    """

    min_swing_pu: float = 0.5
    soc_hysteresis_pu: float = 0.01
    step_min_a: float | None = None
    step_fraction: float = 0.2
    gap_factor: float = 5.0
    n_periods: int = 3
    hot_thresholds_c: tuple = (35.0, 45.0)
    cold_threshold_c: float = 0.0
    ea_j_per_mol: float = 50_000.0
    t_ref_c: float = 25.0
    woehler: Woehler | None = None
    soc_jump_pu: float = 0.1
    noise_k: float = 5.0
    soh_tolerance: float = 0.05
    voltage_range_v: tuple = (0.0, 1500.0)
    temperature_range_c: tuple = (-40.0, 100.0)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_swing_pu <= 1.0:
            raise ValueError(f"IngestOptions.min_swing_pu must be in (0, 1], got {self.min_swing_pu}")
        if not 0.0 <= self.soc_hysteresis_pu < self.min_swing_pu:
            raise ValueError("IngestOptions.soc_hysteresis_pu must be in [0, min_swing_pu)")
        if self.step_min_a is not None and not self.step_min_a > 0.0:
            raise ValueError(f"IngestOptions.step_min_a must be > 0, got {self.step_min_a}")
        if not 0.0 < self.step_fraction <= 1.0:
            raise ValueError(f"IngestOptions.step_fraction must be in (0, 1], got {self.step_fraction}")
        if not self.gap_factor > 1.0:
            raise ValueError(f"IngestOptions.gap_factor must be > 1, got {self.gap_factor}")
        if int(self.n_periods) != self.n_periods or self.n_periods < 3:
            raise ValueError(f"IngestOptions.n_periods must be an integer >= 3, got {self.n_periods}")
        if not self.soc_jump_pu > 0.0:
            raise ValueError(f"IngestOptions.soc_jump_pu must be > 0, got {self.soc_jump_pu}")
        if not (math.isfinite(self.noise_k) and self.noise_k >= 0.0):
            raise ValueError(f"IngestOptions.noise_k must be >= 0, got {self.noise_k}")
        if not (math.isfinite(self.soh_tolerance) and 0.0 <= self.soh_tolerance <= 0.5):
            raise ValueError(f"IngestOptions.soh_tolerance must be in [0, 0.5], got {self.soh_tolerance}")


# --------------------------------------------------------------------------- reading and validation


class _Where:
    """Row/line bookkeeping for one-line error messages."""

    def __init__(self, source, lines):
        self.source = source
        self.lines = lines  # physical file line per data row, or None for a DataFrame

    def error(self, pos: int, column: str, value, reason: str) -> InstanceError:
        line = f" (line {int(self.lines[pos])})" if self.lines is not None else ""
        return InstanceError.at(self.source, f"row {pos + 1}, {column}", value, reason + line)


def _load_table(source) -> tuple[pd.DataFrame, _Where]:
    if isinstance(source, pd.DataFrame):
        names = [str(c).strip().lower() for c in source.columns]
        _check_header(names, len(source), None)
        df = source.set_axis(names, axis=1)
        return df.reset_index(drop=True), _Where(None, None)
    path = Path(source)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
        sep = ";" if first.count(";") > first.count(",") else ","
        header = next(csv.reader([first], delimiter=sep), [])
        names = [h.strip().lower() for h in header]
        if not any(names):
            raise pd.errors.EmptyDataError
        _check_header(names, None, path)
        # every cell as text, converted column by column below: no dtype guessing, no warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False,
                             skipinitialspace=True, encoding="utf-8-sig", low_memory=False)
    except FileNotFoundError:
        raise InstanceError.at(path, "file", str(path), "no such file") from None
    except OSError as e:
        raise InstanceError.at(path, "file", str(path), f"cannot read file ({e.strerror or type(e).__name__})") from None
    except UnicodeDecodeError as e:
        raise InstanceError.at(path, "file", str(path), f"not UTF-8 text (byte {e.start})") from None
    except (pd.errors.EmptyDataError, StopIteration):
        raise InstanceError.at(path, "header", "", f"file is empty; expected columns {','.join(HISTORY_COLUMNS)}") from None
    except (pd.errors.ParserError, csv.Error) as e:
        msg = " ".join(str(e).split())
        raise InstanceError.at(path, "file", str(path), f"not a readable CSV file ({msg})") from None
    df.columns = names
    if sep == ";":                    # a ';'-separated export writes decimal commas: 52,1 -> 52.1
        for c in df.columns:
            if c not in ("battery_id", "time", "chemistry"):
                df[c] = df[c].str.replace(",", ".", regex=False)
    blank = _is_missing(df.to_numpy(dtype=object).ravel()).reshape(df.shape).all(axis=1)
    lines = np.flatnonzero(~blank) + 2  # the header is line 1
    df = df.loc[~blank].reset_index(drop=True)
    if len(df) == 0:
        raise InstanceError.at(path, "rows", 0, "history has no data rows")
    return df, _Where(path, lines)


def _check_header(names: list, n_rows, source) -> None:
    for c in HISTORY_COLUMNS:
        if c not in names:
            raise InstanceError.at(source, "header", ",".join(names),
                                   f"missing column {c!r}; expected columns {','.join(HISTORY_COLUMNS)}")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise InstanceError.at(source, "header", ",".join(names), f"duplicate column {dup[0]!r}")
    if n_rows == 0:
        raise InstanceError.at(source, "rows", 0, "history has no data rows")


def _is_missing(values) -> np.ndarray:
    """Which cells are missing (NaN/None or a missing-value token such as '' or 'nan')."""
    codes, uniq = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    if len(uniq) == 0:
        return np.ones(len(codes), bool)
    miss_u = np.array([str(u).strip().lower() in _MISSING_TOKENS for u in uniq])
    return np.where(codes < 0, True, miss_u[np.maximum(codes, 0)])


def _cell(s: pd.Series, k: int):
    v = s.iloc[k]
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else (v.strip() if isinstance(v, str) else v)


def _numeric(df: pd.DataFrame, col: str, where: _Where, allow_missing: bool) -> np.ndarray:
    """Column as float; NaN where a missing value is allowed; errors name the first bad row."""
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        raise where.error(0, col, s.iloc[0], "not a number")
    if pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype=float)
        nan = np.isnan(x)
        missing = nan
    else:
        x = pd.to_numeric(s.astype(object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        nan = np.isnan(x)
        missing = np.zeros(x.shape, bool)
        missing[nan] = _is_missing(s.to_numpy(dtype=object)[nan])
        bad_text = nan & ~missing
        if bad_text.any():
            k = int(np.argmax(bad_text))
            v = _cell(s, k)
            comma = isinstance(v, str) and _is_number(v.replace(",", ".", 1)) and v.count(",") == 1
            raise where.error(k, col, v, "not a number" + ("; a decimal comma? use '.' (or ';' as the separator)"
                                                           if comma else ""))
    inf = np.isinf(x)
    if inf.any():
        k = int(np.argmax(inf))
        raise where.error(k, col, x[k], "not a finite number")
    if not allow_missing and missing.any():
        k = int(np.argmax(missing))
        raise where.error(k, col, _cell(s, k), "missing value")
    return x


def _times_s(df: pd.DataFrame, where: _Where) -> np.ndarray:
    """``time`` as float seconds since 1970-01-01 UTC."""
    s = df["time"]
    if pd.api.types.is_datetime64_any_dtype(s):
        ts = pd.to_datetime(s, utc=True)
        nat = ts.isna().to_numpy()
        if nat.any():
            raise where.error(int(np.argmax(nat)), "time", "", "missing value")
        return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return _numeric(df, "time", where, allow_missing=False)
    obj = s.astype(object)
    first = _cell(s, 0)
    try:
        as_seconds = math.isfinite(float(first))
    except (TypeError, ValueError):
        as_seconds = False
    if as_seconds:
        x = pd.to_numeric(obj, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(x)
        reason = "not a number of seconds (row 1 gives seconds)"
    else:
        ts = pd.to_datetime(obj, errors="coerce", utc=True, format="ISO8601")
        bad = ts.isna().to_numpy()
        x = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
        reason = "not an ISO 8601 datetime or a number of seconds"
    if bad.any():
        k = int(np.argmax(bad))
        if _is_missing(obj.iloc[k:k + 1].to_numpy())[0]:
            reason = "missing value"
        elif not as_seconds and _is_number(_cell(s, k)):
            reason = "not an ISO 8601 datetime (row 1 gives a datetime)"
        raise where.error(k, "time", _cell(s, k), reason)
    return x


def _is_number(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def read_history(source) -> pd.DataFrame:
    """Read and validate a BMS history (CSV path or DataFrame); the input is not modified.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        A CSV file with a header row, or a DataFrame, with the columns of
        :data:`HISTORY_COLUMNS` (names are matched case-insensitively) and optionally
        ``chemistry``, ``nominal_ah``, ``nominal_v``. ``time`` is an ISO 8601 datetime
        (timezone-naive values are UTC) or a number of seconds (Unix epoch origin); a
        DataFrame may also hold ``datetime64`` values.

    Returns
    -------
    pandas.DataFrame
        Sorted by battery (in order of first appearance) then time, with columns
        ``battery_id`` (str), ``time`` (datetime64[ns, UTC]), ``t_s`` (float seconds since
        the epoch), ``voltage_v``, ``current_a``, ``temperature_c``, ``soc`` (float; NaN marks
        a voltage or temperature dropout), the optional columns when present, and ``row`` (the
        1-based data row of the input).

    Raises
    ------
    InstanceError
        One line naming the file, the row, the column and the value: a missing or duplicate
        column, a cell that is not a number (an empty ``voltage_v``/``temperature_c`` cell is
        allowed), an unparseable time, time not strictly increasing within a battery, SOC
        outside [0, 1], an empty ``battery_id``, or a per-battery optional column that changes.
    """
    df, where = _load_table(source)
    codes, uniq = pd.factorize(df["battery_id"].astype(object), use_na_sentinel=True)
    uniq_s = np.array([str(u).strip() for u in uniq] + [""], dtype=object)
    bid = uniq_s[codes]  # code -1 (NaN) picks the trailing ""
    id_missing = bid == ""
    if id_missing.any():
        raise where.error(int(np.argmax(id_missing)), "battery_id", "", "missing value")
    t_s = _times_s(df, where)
    data = {
        "voltage_v": _numeric(df, "voltage_v", where, allow_missing=True),
        "current_a": _numeric(df, "current_a", where, allow_missing=False),
        "temperature_c": _numeric(df, "temperature_c", where, allow_missing=True),
        "soc": _numeric(df, "soc", where, allow_missing=False),
    }
    soc = data["soc"]
    bad = (soc < 0.0) | (soc > 1.0)
    if bad.any():
        k = int(np.argmax(bad))
        pct = np.mean(soc > 1.0) > 0.5 and np.all(soc <= 100.0)
        hint = "; soc is a fraction, not percent" if pct else ""
        raise where.error(k, "soc", float(soc[k]), f"outside [0, 1]{hint}")

    codes, _ = pd.factorize(bid)
    order, drop, reordered = _time_order(codes, t_s, bid, df, data, where)

    out = pd.DataFrame({"battery_id": bid, "t_s": t_s, **data})
    out["time"] = pd.to_datetime(np.round(t_s * 1e9).astype(np.int64), utc=True)
    out["row"] = np.arange(1, len(df) + 1)
    for c in _OPTIONAL_COLUMNS:
        if c not in df.columns:
            continue
        if c == "chemistry":
            raw = df[c].to_numpy(dtype=object)
            vals = pd.Series(np.where(_is_missing(raw), None, raw), dtype=object).map(
                lambda x: None if x is None else str(x).strip())
        else:
            vals = pd.Series(_numeric(df, c, where, allow_missing=True))
            if (vals <= 0).any():
                k = int(np.argmax((vals <= 0).to_numpy()))
                raise where.error(k, c, float(vals.iloc[k]), "must be > 0")
        out[c] = vals
        first = vals.groupby(codes).transform("first")
        change = vals.notna() & first.notna() & (vals != first)
        if change.any():
            k = int(np.argmax(change.to_numpy()))
            raise where.error(k, c, _cell(df[c], k), f"differs from the first value of battery {bid[k]!r}")
    cols = ["battery_id", "time", "t_s", "voltage_v", "current_a", "temperature_c", "soc"]
    cols += [c for c in _OPTIONAL_COLUMNS if c in out.columns] + ["row"]
    out = out.iloc[order[~drop[order]]][cols].reset_index(drop=True)
    dup = pd.Series(bid[drop]).value_counts()
    out.attrs["duplicate_rows"] = {str(b): int(n) for b, n in dup.items()}
    out.attrs["reordered"] = sorted(reordered)
    return out


def _time_order(codes, t_s, bid, df, data: dict, where: _Where):
    """Order by battery (first appearance), then time; find exact duplicate rows and reordering.

    Returns the order, a mask of rows to drop (later copies of an identical row) and the batteries
    whose rows were not in time order. Two rows of one battery at one time with different values
    are an error.
    """
    order = np.lexsort((np.arange(codes.size), t_s, codes))
    o_codes, o_t = codes[order], t_s[order]
    same = (o_codes[1:] == o_codes[:-1]) & (o_t[1:] == o_t[:-1])
    drop = np.zeros(codes.size, bool)
    if same.any():
        j = np.flatnonzero(same)
        a, b = order[j], order[j + 1]                          # b is the later row of the pair
        equal = np.ones(j.size, bool)
        for x in data.values():
            equal &= (x[a] == x[b]) | (np.isnan(x[a]) & np.isnan(x[b]))
        if not equal.all():
            k = int(np.argmin(np.where(equal, np.iinfo(np.int64).max, b)))
            ka, kb = int(a[k]), int(b[k])
            raise where.error(kb, "time", df["time"].iloc[kb], f"same time as row {ka + 1} of battery {bid[kb]!r} "
                                                               "with different values")
        drop[b] = True
    in_file = np.argsort(codes, kind="stable")
    back = (codes[in_file][1:] == codes[in_file][:-1]) & (np.diff(t_s[in_file]) < 0.0)
    reordered = set(bid[in_file[1:][back]].tolist())
    return order, drop, reordered


# --------------------------------------------------------------------------- estimators


def _turning_points(x: np.ndarray, h: float) -> np.ndarray:
    """Indices of the turning points of ``x`` with hysteresis ``h`` (first and last included).

    A maximum is confirmed once the series has fallen ``h`` below it, a minimum once it has
    risen ``h`` above it (the "zigzag" filter), so every leg between consecutive indices is
    monotone up to retracements smaller than ``h``. The raw reversals are found with numpy; the
    confirmation walks over the reversals only (they are few for a BMS SOC, which is smooth).
    """
    n = x.size
    if n <= 2:
        return np.arange(n)
    d = np.diff(x)
    nz = np.flatnonzero(d != 0.0)
    if nz.size == 0:
        return np.array([0, n - 1])
    sgn = np.sign(d[nz])
    cand = np.concatenate(([0], nz[1:][sgn[1:] != sgn[:-1]], [n - 1]))
    v = x[cand].tolist()
    piv, trend, ext = [0], 0, 0
    for j in range(1, len(v)):
        vj = v[j]
        if trend == 0:
            if vj - v[0] >= h and vj > v[0]:
                trend, ext = 1, j
            elif v[0] - vj >= h and vj < v[0]:
                trend, ext = -1, j
        elif trend > 0:
            if vj >= v[ext]:
                ext = j
            elif v[ext] - vj >= h:
                piv.append(ext)
                trend, ext = -1, j
        else:
            if vj <= v[ext]:
                ext = j
            elif vj - v[ext] >= h:
                piv.append(ext)
                trend, ext = 1, j
    if trend != 0 and ext != piv[-1]:
        piv.append(ext)
    if piv[-1] != len(v) - 1:
        piv.append(len(v) - 1)
    return cand[np.asarray(piv)]


def _lookup(value, bid: str) -> float:
    """A per-battery value from a scalar, a mapping or a Series keyed by battery_id."""
    if value is None:
        return math.nan
    if isinstance(value, (pd.Series, Mapping)):
        try:
            v = value[bid]
        except (KeyError, IndexError):
            return math.nan
        return math.nan if v is None or pd.isna(v) else float(v)
    return float(value)


def _woehler_for(chemistry, opts: IngestOptions) -> Woehler:
    if opts.woehler is not None:
        return opts.woehler
    try:
        return Woehler.for_chemistry(str(chemistry)) if chemistry else Woehler.LFP
    except ValueError:
        return Woehler.LFP


@dataclass
class _Samples:
    """One battery's samples with sensor faults masked, and its sampling bookkeeping."""

    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    temp: np.ndarray
    soc: np.ndarray
    dt: np.ndarray
    sample_s: float
    gap: np.ndarray
    w: np.ndarray              # seconds that count (zero-order hold of sample k over [t_k, t_k+1))
    counts: dict


def _samples(g: pd.DataFrame, opts: IngestOptions) -> _Samples:
    t = g["t_s"].to_numpy(float)
    v = g["voltage_v"].to_numpy(float).copy()
    temp = g["temperature_c"].to_numpy(float).copy()
    counts = {"voltage_missing": int(np.isnan(v).sum()), "temperature_missing": int(np.isnan(temp).sum())}
    with np.errstate(invalid="ignore"):
        v_bad = ~np.isnan(v) & ((v <= opts.voltage_range_v[0]) | (v > opts.voltage_range_v[1]))
        t_bad = ~np.isnan(temp) & ((temp < opts.temperature_range_c[0]) | (temp > opts.temperature_range_c[1]))
    v[v_bad] = np.nan
    temp[t_bad] = np.nan
    counts.update(voltage_out_of_range=int(v_bad.sum()), temperature_out_of_range=int(t_bad.sum()))
    dt = np.diff(t)
    sample_s = float(np.median(dt)) if t.size > 1 else math.nan
    gap = dt > opts.gap_factor * sample_s if t.size > 1 else np.zeros(0, bool)
    return _Samples(t=t, v=v, i=g["current_a"].to_numpy(float), temp=temp, soc=g["soc"].to_numpy(float), dt=dt,
                    sample_s=sample_s, gap=gap, w=np.where(gap, 0.0, dt), counts=counts)


def _soc_noise(soc: np.ndarray) -> tuple[float, float]:
    """White-noise sigma of the logged SOC and its quantum (the logging resolution).

    sigma: ``1.4826 * MAD(second differences) / sqrt(6)`` (a second difference of white noise has
    variance ``6 sigma^2``; it cancels the constant-current ramps, and the MAD ignores the few
    corners and spikes). Quantum: the coarsest ``10^-k`` (k = 1..6) that every value is a
    multiple of, else 0.
    """
    d2 = np.diff(soc, 2)
    sigma = float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0)) if d2.size else 0.0
    quantum = 0.0
    for k in range(1, 7):
        x = soc * 10.0 ** k
        if np.all(np.abs(x - np.round(x)) < 1e-6):
            quantum = 10.0 ** -k
            break
    return sigma, quantum


@dataclass
class _Swings:
    """Coulomb counting over monotone SOC swings (see :func:`_capacity`)."""

    capacity_ah: float
    cap: np.ndarray            # capacity per used swing (Ah)
    mid: np.ndarray            # mid time of each used swing (s)
    sign: float                # +1, or -1 when the current sign is inverted
    q_ah: np.ndarray           # cumulative charge, sign-corrected (Ah)
    soc: np.ndarray            # SOC with spikes replaced by the coulomb count
    piv: np.ndarray            # turning points of that SOC
    jump: np.ndarray           # SOC steps the coulomb count does not explain (per interval)
    n_spikes: int
    sigma: float
    hysteresis: float


def _legs_capacity(s_soc, q, a, b) -> np.ndarray:
    """Capacity per leg ``[a, b]`` (Ah): the inverse slope of the least-squares line of SOC on charge
    over the leg's samples (uses every sample, so SOC noise averages out instead of biasing the
    end points)."""
    qc = q - np.mean(q)
    cs = lambda x: np.concatenate(([0.0], np.cumsum(x)))
    S1, Sq, Ss, Sqq, Sqs = (cs(x) for x in (np.ones_like(qc), qc, s_soc, qc * qc, qc * s_soc))
    seg = lambda S: S[b + 1] - S[a]
    n, sq, ss, sqq, sqs = seg(S1), seg(Sq), seg(Ss), seg(Sqq), seg(Sqs)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sqs - sq * ss) / (n * sqq - sq * sq)
    return np.abs(1.0 / slope)


def _capacity(s: _Samples, opts: IngestOptions, flags: list) -> _Swings:
    """Capacity by coulomb counting over monotone swings, the current sign, SOC spikes and jumps.

    Pass 1 (legs that cross no logging gap, end-point ratios) gives a first capacity and the
    current sign. An SOC step the coulomb count does not explain by more than ``soc_jump_pu`` is a
    jump; a jump straight back at the next sample makes the sample a spike, which is replaced by
    the coulomb count (flag ``soc_spikes``) and so counts in no swing and no cycle. Pass 2 finds
    the swings of the cleaned SOC, skips legs with a gap or a jump, and fits each leg.
    """
    sigma, quantum = _soc_noise(s.soc)
    h = max(opts.soc_hysteresis_pu, opts.noise_k * sigma + quantum)
    q_raw = np.concatenate(([0.0], np.cumsum(s.i[:-1] * s.w) / 3600.0))

    def swings(soc, bad):
        piv = _turning_points(soc, h)
        a, b = piv[:-1], piv[1:]
        dsoc, dq = soc[b] - soc[a], q_raw[b] - q_raw[a]
        cum = np.concatenate(([0], np.cumsum(bad)))
        use = (np.abs(dsoc) >= opts.min_swing_pu) & (np.abs(dq) > 0.0) & (cum[b] == cum[a])
        return piv, a[use], b[use], dsoc[use], dq[use]

    piv, a, b, dsoc, dq = swings(s.soc, s.gap)
    sign = 1.0
    if a.size and np.mean(np.sign(dq) == np.sign(dsoc)) < 0.5:
        flags.append("current_sign_inverted")
        sign = -1.0
    c1 = float(np.median(np.abs(dq / dsoc))) if a.size else math.nan
    expected = sign * s.i[:-1] * s.w / (3600.0 * c1) if np.isfinite(c1) else np.zeros(s.dt.size)
    soc = s.soc.copy()
    r = np.diff(soc) - expected
    jump = (np.abs(r) > opts.soc_jump_pu) & ~s.gap
    spike = np.flatnonzero(jump[:-1] & jump[1:] & (np.sign(r[:-1]) != np.sign(r[1:]))) + 1
    if spike.size:
        soc[spike] = np.clip(soc[spike - 1] + expected[spike - 1], 0.0, 1.0)
        flags.append("soc_spikes")
        jump = (np.abs(np.diff(soc) - expected) > opts.soc_jump_pu) & ~s.gap
    piv, a, b, dsoc, dq = swings(soc, s.gap | jump)
    cap = _legs_capacity(soc, sign * q_raw, a, b) if a.size else np.zeros(0)
    ok = np.isfinite(cap) & (cap > 0)
    a, b, cap = a[ok], b[ok], cap[ok]
    if not cap.size:
        flags.append("no_full_swing")
    return _Swings(capacity_ah=float(np.median(cap)) if cap.size else math.nan, cap=cap,
                   mid=0.5 * (s.t[a] + s.t[b]), sign=sign, q_ah=sign * q_raw, soc=soc, piv=piv, jump=jump,
                   n_spikes=int(spike.size), sigma=sigma, hysteresis=h)


def _resistance(s: _Samples, sw: _Swings, opts: IngestOptions, flags: list):
    """``R = dV/dI`` at current steps of the sign-corrected current, drift-corrected (module doc)."""
    i = sw.sign * s.i
    di, dv = np.diff(i), np.diff(s.v)
    p99 = float(np.quantile(np.abs(i), 0.99)) if i.size else 0.0
    thr = opts.step_min_a if opts.step_min_a is not None else opts.step_fraction * p99
    step = (np.abs(di) >= thr) & (np.abs(di) > 0.0) & ~s.gap & np.isfinite(dv)
    prev_dv, prev_di, prev_gap = np.full(dv.shape, np.nan), np.full(di.shape, np.inf), np.ones(s.gap.shape, bool)
    prev_dv[1:], prev_di[1:], prev_gap[1:] = dv[:-1], di[:-1], s.gap[:-1]
    prev_ok = ~prev_gap & np.isfinite(prev_dv) & (np.abs(prev_di) <= 0.1 * np.abs(di))
    dv_corr = np.where(prev_ok, dv - np.where(prev_ok, prev_dv, 0.0), dv)
    r_steps = 1000.0 * dv_corr[step] / di[step]
    if r_steps.size and not np.isfinite(sw.capacity_ah) and np.median(r_steps) < 0:
        flags.append("current_sign_inverted")          # no swing to tell: the voltage response tells
        r_steps = -r_steps
    if not r_steps.size:
        flags.append("no_current_steps")
    return r_steps, s.t[1:][step], float(thr)


def _cycles(s: _Samples, sw: _Swings, woehler: Woehler, flags: list):
    """Equivalent full cycles from the coulomb count between the SOC's turning points.

    The SOC only says where the turning points are; the depth of each leg is the charge moved over
    it divided by the capacity, so SOC noise and spikes, which move no charge, add no cycles.
    Without a capacity, the SOC values themselves are counted (flag ``efc_from_soc``).
    """
    if np.isfinite(sw.capacity_ah) and sw.piv.size >= 2:
        x = sw.q_ah[sw.piv] / sw.capacity_ah
    else:
        x = sw.soc[sw.piv]
        if sw.piv.size >= 2:
            flags.append("efc_from_soc")
    cum = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(x))))) / 2.0       # k = 1: half the variation
    if x.size >= 2:
        rf = rainflow_cycles(x)
        efc_w = float(np.dot(rf["count"], np.minimum(rf["range"], 1.0) ** woehler.k))
    else:
        efc_w = 0.0
    return float(cum[-1]), efc_w, cum


def _soh_history(s: _Samples, sw: _Swings, r_steps, t_steps, cum_efc, nominal_ah: float, opts: IngestOptions,
                 flags: list) -> tuple[list, float, float]:
    """Capacity, SOH and R per equal time span; least-squares fade per year and per 1000 EFC."""
    t = s.t
    edges = np.linspace(t[0], t[-1], opts.n_periods + 1)
    per_leg = np.clip(np.searchsorted(edges, sw.mid, side="right") - 1, 0, opts.n_periods - 1)
    per_step = np.clip(np.searchsorted(edges, t_steps, side="right") - 1, 0, opts.n_periods - 1)
    history = []
    for p in range(opts.n_periods):
        sel = per_leg == p
        c = float(np.median(sw.cap[sel])) if sel.any() else math.nan
        date_s = float(np.mean(sw.mid[sel])) if sel.any() else 0.5 * (edges[p] + edges[p + 1])
        rs = r_steps[per_step == p]
        history.append({
            "date": _iso(date_s), "days": (date_s - t[0]) / 86400.0,
            "efc": float(np.interp(date_s, t[sw.piv], cum_efc)) if sw.piv.size else 0.0,
            "soh": c / nominal_ah if nominal_ah > 0 else math.nan,
            "capacity_ah": c, "r0_mohm": float(np.median(rs)) if rs.size else math.nan,
            "n_swings": int(sel.sum()),
        })
    if any(h["n_swings"] == 0 for h in history) and sw.cap.size:
        flags.append("period_without_swing")
    for h in history:                                  # refused as in _plausible
        if h["soh"] > 1.0 + opts.soh_tolerance:
            h["soh"] = math.nan
    hs = np.array([[h["days"], h["efc"], h["soh"]] for h in history if np.isfinite(h["soh"])]).reshape(-1, 3)
    fade_per_year = (-float(np.polyfit(hs[:, 0] / 365.25, hs[:, 2], 1)[0])
                     if hs.shape[0] >= 2 and np.ptp(hs[:, 0]) > 0 else math.nan)
    trend = (-float(np.polyfit(hs[:, 1] / 1000.0, 100.0 * hs[:, 2], 1)[0])
             if hs.shape[0] >= 2 and np.ptp(hs[:, 1]) > 0 else math.nan)
    return history, fade_per_year, trend


def _thermal(s: _Samples, opts: IngestOptions) -> dict:
    """Temperature statistics (temperature of sample k held over [t_k, t_k+1))."""
    temp, n = s.temp, s.t.size
    tk, wk = temp[:-1], s.w
    ok = np.isfinite(tk)
    hours_valid = float(np.sum(wk[ok]) / 3600.0)
    thermal = {
        "t_min_c": float(np.nanmin(temp)) if np.isfinite(temp).any() else math.nan,
        "t_mean_c": float(np.sum(tk[ok] * wk[ok]) / np.sum(wk[ok])) if hours_valid > 0 else math.nan,
        "t_max_c": float(np.nanmax(temp)) if np.isfinite(temp).any() else math.nan,
    }
    for th in opts.hot_thresholds_c:
        thermal[f"hours_above_{_fmt_c(th)}c"] = float(np.sum(wk[ok & (tk > th)]) / 3600.0) if n > 1 else 0.0
    thermal[f"hours_below_{_fmt_c(opts.cold_threshold_c)}c"] = (
        float(np.sum(wk[ok & (tk < opts.cold_threshold_c)]) / 3600.0) if n > 1 else 0.0)
    af = arrhenius_factor(tk[ok], opts.ea_j_per_mol, opts.t_ref_c) if ok.any() else np.zeros(0)
    equiv_h = float(np.sum(af * wk[ok]) / 3600.0)
    thermal["arrhenius_equiv_h"] = equiv_h
    thermal["arrhenius_mean_factor"] = equiv_h / hours_valid if hours_valid > 0 else math.nan
    return thermal


def _quality(s: _Samples, sw: _Swings, flags: list) -> dict:
    n_gaps = int(s.gap.sum())
    quality = {
        "n_gaps": n_gaps, "gap_h": float(np.sum(s.dt[s.gap]) / 3600.0),
        "max_gap_h": float(np.max(s.dt[s.gap]) / 3600.0) if n_gaps else 0.0,
        **s.counts, "soc_jumps": int(sw.jump.sum()), "soc_spikes": sw.n_spikes,
        "soc_noise_pu": sw.sigma, "soc_hysteresis_pu": sw.hysteresis,
    }
    for key, flag in (("n_gaps", "gaps"), ("voltage_missing", "voltage_dropouts"),
                      ("temperature_missing", "temperature_dropouts"),
                      ("voltage_out_of_range", "voltage_sensor_fault"),
                      ("temperature_out_of_range", "temperature_sensor_fault"), ("soc_jumps", "soc_jumps")):
        if quality[key]:
            flags.append(flag)
    if s.t.size < 2:
        flags.append("too_few_samples")
    return quality


def _plausible(capacity_ah: float, nominal_ah: float, r_mohm: float, opts: IngestOptions, flags: list):
    """SOH and R0 a passport may state: an SOH above ``1 + soh_tolerance`` (the rated capacity is
    wrong, or the data) and an R0 <= 0 are refused (NaN) and flagged; SOH in (1, 1 + tolerance] is
    kept and flagged ``soh_above_rated``."""
    soh = capacity_ah / nominal_ah if nominal_ah > 0 else math.nan
    if soh > 1.0 + opts.soh_tolerance:                  # the SOH history is refused with it
        flags.append("soh_implausible")
        soh = math.nan
    elif soh > 1.0:
        flags.append("soh_above_rated")
    if r_mohm <= 0.0:
        flags.append("resistance_implausible")
        r_mohm = math.nan
    return soh, r_mohm


def _estimate(g: pd.DataFrame, nominal_ah: float, nominal_v: float, chemistry, opts: IngestOptions) -> dict:
    """All estimates of one battery (``g``: its rows of :func:`read_history`)."""
    flags: list[str] = []
    s = _samples(g, opts)
    t, n = s.t, s.t.size
    sw = _capacity(s, opts, flags)
    r_steps, t_steps, thr = _resistance(s, sw, opts, flags)
    r_raw = float(np.median(r_steps)) if r_steps.size else math.nan
    woehler = _woehler_for(chemistry, opts)
    efc, efc_w, cum_efc = _cycles(s, sw, woehler, flags)
    history, fade_per_year, trend = _soh_history(s, sw, r_steps, t_steps, cum_efc, nominal_ah, opts, flags)
    thermal = _thermal(s, opts)
    quality = _quality(s, sw, flags)
    soh, r_mohm = _plausible(sw.capacity_ah, nominal_ah, r_raw, opts, flags)
    i = sw.sign * s.i
    return {
        "start": pd.Timestamp(_iso(t[0])), "end": pd.Timestamp(_iso(t[-1])), "n_samples": n,
        "duration_h": float((t[-1] - t[0]) / 3600.0), "sample_s": s.sample_s,
        "capacity_ah": sw.capacity_ah, "capacity_kwh": sw.capacity_ah * nominal_v / 1000.0,
        "soh": soh, "soh_measured": sw.capacity_ah / nominal_ah if nominal_ah > 0 else math.nan,
        "n_swings": int(sw.cap.size),
        "capacity_iqr_ah": float(np.subtract(*np.quantile(sw.cap, [0.75, 0.25]))) if sw.cap.size else math.nan,
        "r0_mohm": r_mohm, "r0_measured_mohm": r_raw,
        "r0_iqr_mohm": float(np.subtract(*np.quantile(r_steps, [0.75, 0.25]))) if r_steps.size else math.nan,
        "n_steps": int(r_steps.size), "step_min_a": thr,
        "efc": efc, "efc_woehler": efc_w, "woehler_k": woehler.k, "woehler_n100": woehler.n100_cycles,
        "throughput_ah": float(np.sum(np.abs(i[:-1]) * s.w) / 3600.0),
        "energy_throughput_kwh": float(np.nansum(np.abs(i[:-1] * s.v[:-1]) * s.w) / 3.6e6),
        **thermal,
        "soh_fade_pu_per_year": fade_per_year,
        "degradation_trend": trend,
        "soh_history": history,
        **quality,
        "quality_flags": flags,
    }


def _fmt_c(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x).replace(".", "p").replace("-", "m")


def _iso(t_s: float) -> str:
    """ISO 8601 UTC time, to the second."""
    return pd.Timestamp(int(round(t_s)), unit="s", tz="UTC").isoformat()


def ingest_history(source, nominal_ah=None, *, nominal_v=None, fleet: pd.DataFrame | None = None,
                   options: IngestOptions | None = None) -> pd.DataFrame:
    """Estimate capacity, SOH, resistance, cycles and thermal stress per battery of a BMS history.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        The history, see :func:`read_history` (or an already-read history from it).
    nominal_ah : float, mapping or pandas.Series, optional
        Rated capacity (Ah): one value for all batteries, or per ``battery_id``. Falls back to
        a ``nominal_ah`` column of the history, then to ``fleet`` (``nominal_kwh`` over the
        nominal voltage). Without it SOH is NaN and the flag ``nominal_unknown`` is set.
    nominal_v : float, mapping or pandas.Series, optional
        Nominal voltage (V), used for kWh values. Falls back to a ``nominal_v`` column of the
        history or of ``fleet``, then to the median measured voltage (flag
        ``nominal_v_estimated``).
    fleet : pandas.DataFrame, optional
        A fleet table with ``battery_id`` and any of ``chemistry``, ``nominal_kwh``,
        ``nominal_v``.
    options : IngestOptions, optional
        Estimator settings.

    Returns
    -------
    pandas.DataFrame
        One row per battery, in order of first appearance, with ``battery_id``, ``chemistry``,
        ``nominal_ah``, ``nominal_v``, ``nominal_kwh``, the estimates (``capacity_ah``,
        ``capacity_kwh``, ``soh``, ``n_swings``, ``r0_mohm``, ``n_steps``, ``efc``,
        ``efc_woehler``, ``throughput_ah``, ``t_min_c``, ``t_mean_c``, ``t_max_c``,
        ``hours_above_35c``, ``hours_above_45c``, ``hours_below_0c``, ``arrhenius_equiv_h``,
        ``arrhenius_mean_factor``, ``soh_fade_pu_per_year``, ``degradation_trend`` — the SOH
        fade in percentage points per 1000 equivalent full cycles, the unit of the fleet
        table), ``soh_history`` (a list of ``{date, days, efc, soh, capacity_ah, r0_mohm,
        n_swings}`` per period, ``efc`` counted from the start of the history), data-quality
        counts and ``quality_flags`` (a list of strings). NaN marks a value the data cannot
        give.

    Raises
    ------
    InstanceError
        For an invalid history (see :func:`read_history`).
    """
    opts = options or IngestOptions()
    hist = source if _is_read(source) else read_history(source)
    fl = None
    if fleet is not None:
        if "battery_id" not in fleet.columns:
            raise InstanceError.at("fleet table", "columns", ",".join(map(str, fleet.columns)),
                                   "missing column 'battery_id'")
        fl = fleet.assign(battery_id=fleet["battery_id"].astype(str)).drop_duplicates("battery_id").set_index("battery_id")
    rows = []
    dup, reordered = hist.attrs.get("duplicate_rows", {}), set(hist.attrs.get("reordered", ()))
    for bid, g in hist.groupby("battery_id", sort=False):
        flags = ["rows_reordered"] if bid in reordered else []
        if dup.get(bid):
            flags.append("duplicate_rows")
        chem = _first(g, "chemistry")
        if chem is None and fl is not None and "chemistry" in fl.columns and bid in fl.index:
            chem = fl.at[bid, "chemistry"] if pd.notna(fl.at[bid, "chemistry"]) else None
        vnom = _lookup(nominal_v, bid)
        if not np.isfinite(vnom):
            vnom = _first_float(g, "nominal_v")
        if not np.isfinite(vnom) and fl is not None and "nominal_v" in fl.columns:
            vnom = _lookup(fl["nominal_v"], bid)
        if not np.isfinite(vnom):
            vnom = float(np.nanmedian(g["voltage_v"])) if g["voltage_v"].notna().any() else math.nan
            flags.append("nominal_v_estimated")
        qnom = _lookup(nominal_ah, bid)
        if not np.isfinite(qnom):
            qnom = _first_float(g, "nominal_ah")
        if not np.isfinite(qnom) and fl is not None and "nominal_kwh" in fl.columns and np.isfinite(vnom):
            qnom = _lookup(fl["nominal_kwh"], bid) * 1000.0 / vnom
        if not np.isfinite(qnom):
            flags.append("nominal_unknown")
        est = _estimate(g, qnom if np.isfinite(qnom) else 0.0, vnom, chem, opts)
        est["quality_flags"] = flags + est["quality_flags"]
        est["duplicate_rows"] = int(dup.get(bid, 0))
        rows.append({"battery_id": bid, "chemistry": chem, "nominal_ah": qnom, "nominal_v": vnom,
                     "nominal_kwh": qnom * vnom / 1000.0, **est})
    return pd.DataFrame(rows)


def plausibility_warnings(summary: pd.DataFrame) -> list[str]:
    """One line per refused or doubtful estimate of :func:`ingest_history`, for the user."""
    out = []
    for _, r in summary.iterrows():
        flags, bid = r.get("quality_flags") or [], r["battery_id"]
        if "soh_implausible" in flags:
            out.append(f"{bid}: measured SOH {r['soh_measured']:.3f} is above the rated capacity "
                       f"{r['nominal_ah']:g} Ah by more than the tolerance: SOH refused (is the rated capacity right?)")
        elif "soh_above_rated" in flags:
            out.append(f"{bid}: SOH {r['soh']:.3f} is above 1 (within the tolerance; entered as 1.0 in a fleet table)")
        if "resistance_implausible" in flags:
            out.append(f"{bid}: measured R0 {r['r0_measured_mohm']:.1f} mOhm is not positive: R0 refused")
    return out


def _is_read(source) -> bool:
    return isinstance(source, pd.DataFrame) and {"t_s", "row"} <= set(source.columns)


def _first(g: pd.DataFrame, col: str):
    if col not in g.columns:
        return None
    s = g[col].dropna()
    return None if s.empty else s.iloc[0]


def _first_float(g: pd.DataFrame, col: str) -> float:
    v = _first(g, col)
    return math.nan if v is None else float(v)


def to_fleet_table(summary: pd.DataFrame, r_new_mohm=None) -> pd.DataFrame:
    """The fleet-table columns (DESIGN §10, :mod:`slopt.fleet.data`) from :func:`ingest_history`.

    So that passport data feed grading, clustering and assignment directly:
    ``nominal_kwh``, ``soh``, ``r0_mohm``, ``t_min_c``, ``t_max_c`` and ``degradation_trend``
    (SOH points per 1000 EFC, a negative fit clipped to 0) are the estimates; ``cycle_count`` is the k = 1 equivalent full
    cycles of the history (the first-life count only if the history covers the first life);
    ``r_growth = R0 / R_new - 1`` (clipped at 0) with ``R_new`` from ``r_new_mohm`` (a number,
    or per battery_id) or else the chemistry's new-module resistance of
    :data:`slopt.battery.twin.DEFAULT_CHEMISTRY` (LFP when the chemistry is unknown);
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
    from slopt.battery.twin import DEFAULT_CHEMISTRY  # lazy: the twin is not needed to ingest

    chem = [str(c).upper() if isinstance(c, str) and str(c).upper() in DEFAULT_CHEMISTRY else None
            for c in summary["chemistry"]]
    params = [DEFAULT_CHEMISTRY[c or "LFP"] for c in chem]
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
    data-quality flags that seed 001 asks the BMS to keep. Unknown values are ``None``.

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


# --------------------------------------------------------------------------- synthetic histories


@dataclass(frozen=True)
class SynthProfile:
    """Duty cycle and physics of :func:`synthesize_history`.

    Each day holds ``cycles_per_day`` slots. A slot starts fully charged (``soc_max_pu``),
    rests, discharges by ``dod_pu +- dod_jitter_pu`` in piecewise-constant current levels
    (uniform in 0.2-``discharge_c_max`` C, each held 10-40 min), rests 30 min, charges back at
    ``charge_c`` with a half-rate step for the last 5 % of capacity, and rests until the slot
    ends. Capacity fades linearly by ``fade_pu`` and resistance grows linearly by
    ``r_growth_pu`` over the history (constant within a slot).

    Physics: terminal voltage ``V = (nominal_v/3.2) * OCV_cell(SOC) + I*R0 + V_RC`` with an
    LFP-like cell OCV curve and one RC branch (``R1 = 0.05*R0``, 600 s); temperature = daily
    sinusoidal ambient (``ambient_c +- ambient_swing_c``, peak at 15:00) plus a first-order
    (30 min) Joule rise of ``heating_k_at_1c`` at 1 C. With ``noise``: current noise 0.2 % of
    1 C, voltage 5 mV, temperature 0.1 degC (logged to 0.1 degC), SOC logged to 1e-4.
    """

    cycles_per_day: int = 1
    soc_max_pu: float = 0.95
    dod_pu: float = 0.8
    dod_jitter_pu: float = 0.05
    discharge_c_max: float = 1.0
    charge_c: float = 0.5
    nominal_v: float = 51.2
    ambient_c: float = 25.0
    ambient_swing_c: float = 6.0
    heating_k_at_1c: float = 8.0
    fade_pu: float = 0.0
    r_growth_pu: float = 0.0
    noise: bool = True

    def __post_init__(self) -> None:
        if int(self.cycles_per_day) != self.cycles_per_day or self.cycles_per_day < 1:
            raise ValueError("SynthProfile.cycles_per_day must be an integer >= 1")
        if not 0.0 < self.soc_max_pu <= 1.0:
            raise ValueError("SynthProfile.soc_max_pu must be in (0, 1]")
        if not 0.0 < self.dod_pu - self.dod_jitter_pu and self.dod_pu + self.dod_jitter_pu <= self.soc_max_pu:
            raise ValueError("SynthProfile: dod_pu +- dod_jitter_pu must lie in (0, soc_max_pu]")
        if not 0.0 <= self.fade_pu < 1.0:
            raise ValueError("SynthProfile.fade_pu must be in [0, 1)")
        if self.discharge_c_max <= 0.2 or self.charge_c <= 0.0:
            raise ValueError("SynthProfile: discharge_c_max must exceed 0.2 and charge_c must be > 0")


def _ocv_cell(soc: np.ndarray) -> np.ndarray:
    """LFP-like open-circuit voltage of one cell (V): flat plateau with steep ends."""
    return 3.2 + 0.15 * (soc - 0.5) - 0.12 * np.exp(-soc / 0.08) + 0.10 * np.exp(-(1.0 - soc) / 0.05)


def _first_order(target: np.ndarray, lengths: np.ndarray, a: float) -> np.ndarray:
    """Samples of ``y[k+1] = a*y[k] + (1-a)*u`` with ``u`` constant per segment, from ``y = 0``.

    Closed form within a segment (``y = u + (y0 - u) a^m``); the only loop is over segments.
    """
    y0 = np.empty(target.size)
    y = 0.0
    an = a ** lengths
    for j in range(target.size):
        y0[j] = y
        y = target[j] + (y - target[j]) * an[j]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    m = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    return np.repeat(target, lengths) + np.repeat(y0 - target, lengths) * a ** m


def synthesize_history(n_days: int, true_capacity_ah: float, true_r_mohm: float, seed,
                       resolution_s: int = 60, *, battery_id: str = "B001",
                       start: str = "2024-01-01T00:00:00Z", profile: SynthProfile | None = None) -> pd.DataFrame:
    """A synthetic BMS history with known capacity, resistance and cycling.

    Parameters
    ----------
    n_days : int
        Length (days), >= 1.
    true_capacity_ah : float
        Capacity at the start of the history (Ah); fades by ``profile.fade_pu`` linearly.
    true_r_mohm : float
        Ohmic resistance R0 at the start (mOhm); grows by ``profile.r_growth_pu`` linearly.
    seed : int or numpy.random.Generator
        Randomness (current levels, durations, depths, noise).
    resolution_s : int
        Logging interval (s); must divide a slot (86400 / cycles_per_day).
    battery_id, start : str
        Identifier and ISO start time.
    profile : SynthProfile, optional
        Duty cycle and physics.

    Returns
    -------
    pandas.DataFrame
        Columns ``battery_id, time (datetime64[ns, UTC]), voltage_v, current_a (+ charge),
        temperature_c, soc``. ``attrs["truth"]`` holds ``capacity_ah`` and ``r_mohm`` (start
        values), ``n_cycles``, ``efc`` (sum of the cycle depths: the equivalent full cycles
        with k = 1), ``fade_pu``, ``r_growth_pu``, ``nominal_v``; ``attrs["cycles"]`` is a table
        per cycle with ``start`` (time), ``dod``, ``capacity_ah``, ``r_mohm``. The capacity at
        fraction ``f`` of the history is ``capacity_ah * (1 - fade_pu * f)`` (constant within a
        slot, evaluated at the slot middle).

    Raises
    ------
    ValueError
        On bad arguments, or if a cycle does not fit in its slot.
    """
    prof = profile or SynthProfile()
    if int(n_days) != n_days or n_days < 1:
        raise ValueError(f"synthesize_history: n_days must be an integer >= 1, got {n_days}")
    if not (true_capacity_ah > 0 and true_r_mohm > 0):
        raise ValueError("synthesize_history: true_capacity_ah and true_r_mohm must be > 0")
    slot_s = 86400 // prof.cycles_per_day
    if int(resolution_s) != resolution_s or resolution_s <= 0 or slot_s % resolution_s or 86400 % prof.cycles_per_day:
        raise ValueError(f"synthesize_history: resolution_s={resolution_s} must divide the slot of {slot_s} s")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    res = float(resolution_s)
    slot_n = slot_s // int(resolution_s)
    n_slots = int(n_days) * prof.cycles_per_day
    c0, r0 = float(true_capacity_ah), float(true_r_mohm) / 1000.0

    seg_i, seg_n, seg_r, seg_c = [], [], [], []
    cyc = []

    def leg(out, q_ah, levels_a, n_levels, cap, r):
        """Append segments moving ``q_ah`` with current levels (A, signed); exact last sample."""
        rem = q_ah
        for lvl, nl in zip(levels_a, n_levels):
            dq = abs(lvl) * nl * res / 3600.0
            if dq < rem - 1e-12:
                out.append((lvl, nl, r, cap))
                rem -= dq
                continue
            full = int(np.floor(rem / (abs(lvl) * res / 3600.0) + 1e-12))
            if full:
                out.append((lvl, full, r, cap))
                rem -= abs(lvl) * full * res / 3600.0
            if rem > 1e-9:
                out.append((np.sign(lvl) * rem * 3600.0 / res, 1, r, cap))
            return
        raise AssertionError("current levels exhausted")  # pragma: no cover - levels are ample

    for s in range(n_slots):
        f = (s + 0.5) / n_slots
        cap = c0 * (1.0 - prof.fade_pu * f)
        r = r0 * (1.0 + prof.r_growth_pu * f)
        dod = prof.dod_pu + rng.uniform(-prof.dod_jitter_pu, prof.dod_jitter_pu)
        out = []
        n_rest0 = int(rng.integers(1, max(2, slot_n // 8)))
        out.append((0.0, n_rest0, r, cap))
        lv = -rng.uniform(0.2, prof.discharge_c_max, 64) * cap
        nl = np.maximum(1, np.round(rng.uniform(10, 40, 64) * 60.0 / res)).astype(int)
        leg(out, dod * cap, lv, nl, cap, r)
        out.append((0.0, max(1, int(round(1800 / res))), r, cap))
        q_taper = min(0.05 * cap, dod * cap)
        leg(out, dod * cap - q_taper, np.full(1, prof.charge_c * cap), np.full(1, 10 ** 9), cap, r)
        leg(out, q_taper, np.full(1, 0.5 * prof.charge_c * cap), np.full(1, 10 ** 9), cap, r)
        used = sum(o[1] for o in out)
        if used >= slot_n:
            raise ValueError("synthesize_history: a cycle does not fit in its slot; lower cycles_per_day or "
                             "dod_pu, or raise the C-rates")
        out.append((0.0, slot_n - used, r, cap))
        cyc.append((s * slot_s + n_rest0 * res, dod, cap, r * 1000.0))
        for o in out:
            seg_i.append(o[0])
            seg_n.append(o[1])
            seg_r.append(o[2])
            seg_c.append(o[3])

    seg_i, seg_r, seg_c = np.array(seg_i), np.array(seg_r), np.array(seg_c)
    seg_n = np.array(seg_n, dtype=np.int64)
    i_true = np.repeat(seg_i, seg_n)
    cap_k = np.repeat(seg_c, seg_n)
    r_k = np.repeat(seg_r, seg_n)
    n = i_true.size
    soc = prof.soc_max_pu + np.concatenate(([0.0], np.cumsum(i_true * res / (3600.0 * cap_k))[:-1]))
    soc = np.clip(soc, 0.0, 1.0)
    t = np.arange(n) * res
    v_rc = _first_order(seg_i * 0.05 * seg_r, seg_n, math.exp(-res / 600.0))
    heat = prof.heating_k_at_1c * (seg_i / c0) ** 2 * (seg_r / r0)
    d_temp = _first_order(heat, seg_n, math.exp(-res / 1800.0))
    hour = t / 3600.0 % 24.0
    temp = prof.ambient_c + prof.ambient_swing_c * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + d_temp
    volt = prof.nominal_v / 3.2 * _ocv_cell(soc) + i_true * r_k + v_rc
    i_meas = i_true
    if prof.noise:
        i_meas = i_true + rng.normal(0.0, 0.002 * c0, n)
        volt = volt + rng.normal(0.0, 0.005, n)
        temp = temp + rng.normal(0.0, 0.1, n)
        soc = np.round(soc, 4)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    df = pd.DataFrame({
        "battery_id": battery_id,
        "time": t0 + pd.to_timedelta(t, unit="s"),
        "voltage_v": np.round(volt, 4),
        "current_a": np.round(i_meas, 4),
        "temperature_c": np.round(temp, 1),
        "soc": soc,
    })
    cyc = np.array(cyc, dtype=float).reshape(-1, 4)
    cycles = {"start": [(t0 + pd.Timedelta(seconds=float(x))).isoformat() for x in cyc[:, 0]],
              "dod": cyc[:, 1].tolist(), "capacity_ah": cyc[:, 2].tolist(), "r_mohm": cyc[:, 3].tolist()}
    df.attrs["truth"] = {"battery_id": battery_id, "capacity_ah": c0, "r_mohm": float(true_r_mohm),
                         "n_cycles": n_slots, "efc": float(cyc[:, 1].sum()),
                         "fade_pu": prof.fade_pu, "r_growth_pu": prof.r_growth_pu, "nominal_v": prof.nominal_v,
                         "cycles": cycles}
    return df
