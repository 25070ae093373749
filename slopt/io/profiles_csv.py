"""Reader for per-bus / per-profile time-series CSV files over any whole number of days.

Format: a header line, a ``time`` column (step start) and one column per bus number
(net load in kW, ``q:<bus>`` in kvar) or one column per profile name (multipliers of the
elements' rated power, e.g. SimBench's ``H0-A_pload``/``H0-A_qload``/``PV5``)::

    time,2,3,4,q:4
    2024-01-01 00:00,12.5,8.1,-3.0,1.2
    2024-01-01 00:15,11.9,8.0,-2.5,1.1
    ...

Times: ``YYYY-MM-DD HH:MM[:SS]`` (or ``T`` as separator) or ``DD.MM.YYYY HH:MM`` (SimBench),
naive standard time; a one-day file may give ``HH:MM`` only. The axis must be sorted,
uniform (60, 15 or 5 min), start at 00:00 and cover whole days
(:func:`slopt.grid.bus_profiles.check_time_axis`). Every value must be a finite number.

pandas' C parser reads the file (a year at 15 min on 150 buses is 5 million cells);
the checks are vectorised. Every problem is one :class:`~slopt.errors.InstanceError`
naming the file, the column or row, and the value.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from slopt.errors import InstanceError
from slopt.grid.bus_profiles import (BusProfiles, ProfileTable, check_time_axis, check_values, from_bus_columns,
                                     from_profile_table)
from slopt.grid.feeder import Feeder
from slopt.checks import as_path, require
from slopt.io.csvsafe import check_rows, not_a_table, read_csv_text

__all__ = ["read_profile_table", "read_bus_profiles"]

_HHMM = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")
_FORMATS = ("ISO8601", "%d.%m.%Y %H:%M")
_COLUMNS = "time,<bus numbers or profile names>"
#: Words pandas' C parser reads as numbers in a float column.
_BOOLEAN = re.compile(r"(?i)\b(?:true|false)\b")


def _has_boolean(text: str) -> bool:
    """Whether ``text`` holds the word true or false (a cheap substring test first: the
    case-insensitive regex alone takes ~1 s on a year of 15-min data for 150 buses)."""
    low = text.lower()
    return ("true" in low or "false" in low) and _BOOLEAN.search(text) is not None


def read_profile_table(path: str | Path, resolution_min: int | None = None) -> ProfileTable:
    """Read a time column and named numeric columns.

    The file first passes the checks of :mod:`slopt.io.csvsafe` (size limit, UTF-8 text,
    one row per line, equal row lengths); values must be plain numbers, finite and at most
    :data:`slopt.bounds.MAX_POWER_KW` in magnitude.

    Parameters
    ----------
    path : str or Path
    resolution_min : int, optional
        Required step (60, 15, 5); by default the file's own step.

    Raises
    ------
    InstanceError
        Unreadable file, missing/duplicate columns, bad or irregular times, wrong length,
        non-numeric, NaN, infinite or out-of-range values.
    """
    import pandas as pd

    path = as_path(path, "read_profile_table")
    text = read_csv_text(path, _COLUMNS)
    check_rows(text, path, _COLUMNS, required=("time",), max_rows=("steps", "rows"))
    opts = dict(skip_blank_lines=True)
    try:
        head = pd.read_csv(io.StringIO(text), nrows=0, **opts)
        names = [str(c).strip() for c in head.columns]
        lower = [c.lower() for c in names]
        if "time" not in lower:
            raise not_a_table(path, _COLUMNS, "no column 'time' in the first line")
        tcol = head.columns[lower.index("time")]
        if not _has_boolean(text):  # fast path: pandas' C parser (it would read 'true' as 1.0)
            try:
                df = pd.read_csv(io.StringIO(text), dtype={c: (str if c == tcol else float) for c in head.columns},
                                 keep_default_na=False, **opts)
            except ValueError:  # a cell that is not a number: read as text to name it
                df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, **opts)
        else:
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, **opts)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise not_a_table(path, _COLUMNS, type(e).__name__) from None
    dup = next((c for c in names if names.count(c) > 1 or re.fullmatch(r".+\.\d+", c) and c.rsplit(".", 1)[0] in names),
               None)
    if dup is not None:
        raise InstanceError.at(path, "header", dup, "duplicate column")
    if len(names) < 2:
        raise not_a_table(path, _COLUMNS, "no data columns besides 'time'")
    it = lower.index("time")
    times = _parse_times(df.iloc[:, it].astype(str).str.strip(), path)
    res, start = check_time_axis(times, path, column=names[it], resolution_min=resolution_min)
    keep = [i for i in range(len(names)) if i != it]
    data_cols = [names[i] for i in keep]
    block = df.iloc[:, keep]
    if all(dt.kind == "f" for dt in block.dtypes):
        values = block.to_numpy(dtype=float)
    else:
        values = block.apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce")).to_numpy(dtype=float)
        bad = np.isnan(values)
        if bad.any():  # an unparsable cell: name it
            k, j = (int(x) for x in np.argwhere(bad)[0])
            raise InstanceError.at(path, f"row {k + 1}, {data_cols[j]}", block.iat[k, j],
                                   f"must be a finite number (line {k + 2})")
    check_values(values, data_cols, path)
    if _one_day_clock(times):
        start = None
    return ProfileTable(tuple(data_cols), np.ascontiguousarray(values), res, start, str(path))


def _parse_times(col, path) -> np.ndarray:
    """datetime64 per row (NaT where unreadable). ``HH:MM`` alone is a time of day on 1970-01-01."""
    import pandas as pd

    if len(col) and col.map(lambda s: bool(_HHMM.match(s))).all():
        parts = col.str.split(":", expand=True).astype(int)
        secs = parts[0] * 3600 + parts[1] * 60 + (parts[2] if parts.shape[1] > 2 else 0)
        return (np.datetime64("1970-01-01T00:00", "s") + secs.to_numpy() * np.timedelta64(1, "s"))
    for fmt in _FORMATS:
        try:
            t = pd.to_datetime(col, format=fmt)
        except (ValueError, TypeError):
            continue
        if getattr(t.dt, "tz", None) is not None:
            raise InstanceError.at(path, "row 1, time", col.iloc[0], "time zones are not supported; give naive "
                                   "standard time (no daylight saving)")
        return t.to_numpy()
    t = pd.to_datetime(col, format="ISO8601", errors="coerce")  # NaT marks the first bad row
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_localize(None)
    return t.to_numpy()


def _one_day_clock(times) -> bool:
    return bool(np.asarray(times).astype("datetime64[D]")[0] == np.datetime64("1970-01-01"))


def read_bus_profiles(path: str | Path, feeder: Feeder, resolution_min: int | None = None) -> BusProfiles:
    """Read a per-bus or per-profile CSV into :class:`BusProfiles` for ``feeder``.

    Columns that are bus numbers (or ``q:<bus>``) give per-bus kW/kvar
    (:func:`~slopt.grid.bus_profiles.from_bus_columns`); otherwise the columns are profile
    names matched to ``feeder.elements`` (:func:`~slopt.grid.bus_profiles.from_profile_table`).
    Mixing the two is an error.
    """
    require(feeder, Feeder, "read_bus_profiles", "feeder", "e.g. slopt.load_feeder('ieee33')")
    table = read_profile_table(as_path(path, "read_bus_profiles"), resolution_min)
    is_bus = [_is_bus_column(c) for c in table.names]
    if all(is_bus):
        return from_bus_columns(feeder, table)
    if any(is_bus):
        j = is_bus.index(True) if not is_bus[0] else is_bus.index(False)
        raise InstanceError.at(path, "header", table.names[j],
                               "mixes bus-number columns and profile-name columns; use one kind")
    return from_profile_table(feeder, table)


def _is_bus_column(name: str) -> bool:
    key = name[2:].strip() if name.lower().startswith("q:") else name
    return bool(re.fullmatch(r"[+-]?[0-9]{1,10}", key))
