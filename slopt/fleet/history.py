"""Reading and validating BMS lifecycle histories (the data a battery passport is estimated from).

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
``hist.csv: row 12, current_a = 'x': not a number (line 13)``. The estimators are in
:mod:`slopt.fleet.estimate`; see ``docs/passport.md``.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.errors import InstanceError

__all__ = ["HISTORY_COLUMNS", "OPTIONAL_COLUMNS", "read_history", "is_read_history"]

HISTORY_COLUMNS = ("battery_id", "time", "voltage_v", "current_a", "temperature_c", "soc")
"""Required columns of a BMS history."""

OPTIONAL_COLUMNS = ("chemistry", "nominal_ah", "nominal_v")
"""Optional per-battery columns of a BMS history."""
_OPTIONAL_COLUMNS = OPTIONAL_COLUMNS
_MISSING_TOKENS = ("", "nan", "na", "n/a", "null", "none")


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


def is_read_history(source) -> bool:
    """Whether ``source`` is already the output of :func:`read_history`."""
    return isinstance(source, pd.DataFrame) and {"t_s", "row"} <= set(source.columns)
