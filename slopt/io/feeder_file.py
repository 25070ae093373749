"""Reader for the project's feeder format: one TOML file and two CSV files.

The format (written by ``tools/convert_feeders.py``, documented in ``docs/feeders.md``)::

    name = "case33bw"
    source = "matpower/case33bw.m"          # optional, provenance
    citation = "M. E. Baran and F. F. Wu, ..."  # optional
    header = '''...'''                       # optional, original header comment
    base_kv = 12.66                          # line-to-line voltage base, kV
    base_mva = 10.0                          # power base, MVA
    root_bus = 1                             # substation bus number
    v_root_pu = 1.0                          # optional, default 1.0
    buses = "case33bw_buses.csv"             # bus_id,p_kw,q_kvar
    branches = "case33bw_branches.csv"       # from_bus,to_bus,r_ohm,x_ohm (ohm on base_kv)

CSV paths are relative to the TOML file. Loads are in kW/kvar (consumption positive),
impedances in ohm; they are converted to p.u. with ``z_base = base_kv^2 / base_mva``.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from pathlib import Path

import numpy as np

from slopt.grid.feeder import Feeder, register_feeder_reader
from slopt.errors import InstanceError
from slopt.checks import as_path
from slopt.bounds import BASE_KV, BASE_MVA, MAX_BUS_ID, V_ROOT_PU, check_range
from slopt.io.csvsafe import check_header, check_rows, not_a_table, read_csv_text, row_error, strict_float
from slopt.limits import check_file_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["read_feeder_toml"]

_REQUIRED = ("name", "base_kv", "base_mva", "root_bus", "buses", "branches")
_OPTIONAL = ("source", "citation", "header", "v_root_pu")
_BUS_COLUMNS = ("bus_id", "p_kw", "q_kvar")
_BRANCH_COLUMNS = ("from_bus", "to_bus", "r_ohm", "x_ohm")
_BUS_ID = re.compile(r"\+?[0-9]{1,10}")


def _positive(path: Path, meta: dict, key: str, lo: float, hi: float) -> float:
    val = meta[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
        raise InstanceError.at(path, key, val, "must be a positive number")
    return check_range(val, lo, hi, path, key)


def _read_table(path: Path, columns: tuple[str, ...], int_columns: int) -> list[np.ndarray]:
    """Read a CSV with exactly ``columns``; the first ``int_columns`` are integer bus numbers.

    Checked by :mod:`slopt.io.csvsafe` (size, UTF-8, row shape, strict numbers); errors are
    ``file: row N, column = value: reason``."""
    text = read_csv_text(path, columns)
    check_rows(text, path, columns, required=columns)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        raise not_a_table(path, columns, "malformed CSV") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    header = tuple(c.strip() for c in rows[0])
    if header != columns:
        check_header(list(header), path, columns)
        raise not_a_table(path, columns, "columns in another order or extra columns")
    if len(rows) == 1:
        raise InstanceError.at(path, "rows", 0, "table has no data rows")
    out = [[] for _ in columns]
    for k, row in enumerate(rows[1:], start=1):
        for j, (col, cell) in enumerate(zip(columns, row)):
            cell = cell.strip()
            if j < int_columns:
                if not _BUS_ID.fullmatch(cell) or int(cell) > MAX_BUS_ID:
                    raise row_error(path, k, col, cell, f"must be an integer bus number in [0, {MAX_BUS_ID}]")
                out[j].append(int(cell))
                continue
            val = strict_float(cell)
            if val is None:
                raise row_error(path, k, col, cell, "must be a number")
            elif not math.isfinite(val):
                raise row_error(path, k, col, cell, "must be finite")
            out[j].append(val)
    return [np.asarray(c, dtype=np.int64 if j < int_columns else float) for j, c in enumerate(out)]


def read_feeder_toml(path: str | Path):
    """Read a feeder in the project's TOML + CSV format.

    Parameters
    ----------
    path : str or Path
        The TOML file; the CSV files it names are read relative to it.

    Returns
    -------
    Feeder
        Built with :meth:`Feeder.from_branches`, so radiality, connectivity and impedances
        are checked.

    Raises
    ------
    InstanceError
        One line naming the file, the field and the offending value: unreadable or invalid
        TOML, missing/unknown/ill-typed fields, malformed CSV, or a non-radial network.

    Examples
    --------
    >>> f = read_feeder_toml("instances/feeders/case33bw.toml")   # doctest: +SKIP
    >>> f.n_bus, round(f.p_load_kw.sum(), 1)                      # doctest: +SKIP
    (33, 3715.0)
    """

    path = as_path(path, "read_feeder_toml")
    check_file_size(path, "feeder")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InstanceError.at(path, "feeder", str(path), f"cannot read file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InstanceError.at(path, "feeder", str(path), "not a UTF-8 text file") from None
    try:
        meta = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        raise InstanceError.at(path, "toml", str(e), "not valid TOML") from None
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise InstanceError.at(path, missing[0], "missing", "required field of a feeder file")
    unknown = sorted(set(meta) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise InstanceError.at(path, unknown[0], meta[unknown[0]], f"unknown field; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    for key in ("name", "buses", "branches"):
        if not isinstance(meta[key], str) or not meta[key].strip():
            raise InstanceError.at(path, key, meta[key], "must be a non-empty string")
    base_kv = _positive(path, meta, "base_kv", *BASE_KV)
    base_mva = _positive(path, meta, "base_mva", *BASE_MVA)
    meta.setdefault("v_root_pu", 1.0)
    v_root = _positive(path, meta, "v_root_pu", *V_ROOT_PU)
    root = meta["root_bus"]
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root <= MAX_BUS_ID:
        raise InstanceError.at(path, "root_bus", root, f"must be an integer bus number in [0, {MAX_BUS_ID}]")

    bus_ids, p_kw, q_kvar = _read_table(path.parent / meta["buses"], _BUS_COLUMNS, 1)
    fb, tb, r_ohm, x_ohm = _read_table(path.parent / meta["branches"], _BRANCH_COLUMNS, 2)
    if root not in set(bus_ids.tolist()):
        raise InstanceError.at(path, "root_bus", root, f"not a bus of {meta['buses']}")
    z_base = base_kv**2 / base_mva
    return Feeder.from_branches(
        name=meta["name"],
        bus_ids=bus_ids,
        p_load_kw=p_kw,
        q_load_kvar=q_kvar,
        from_bus=fb,
        to_bus=tb,
        r_pu=r_ohm / z_base,
        x_pu=x_ohm / z_base,
        base_kv=base_kv,
        base_mva=base_mva,
        root=root,
        v_root_pu=v_root,
        source=str(path),
    )


register_feeder_reader(".toml", read_feeder_toml)
