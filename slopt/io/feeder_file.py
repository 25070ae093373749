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
import math
import sys
from pathlib import Path

import numpy as np

from slopt.errors import InstanceError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["read_feeder_toml"]

_REQUIRED = ("name", "base_kv", "base_mva", "root_bus", "buses", "branches")
_OPTIONAL = ("source", "citation", "header", "v_root_pu")
_BUS_COLUMNS = ("bus_id", "p_kw", "q_kvar")
_BRANCH_COLUMNS = ("from_bus", "to_bus", "r_ohm", "x_ohm")


def _positive(path: Path, meta: dict, key: str) -> float:
    val = meta[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
        raise InstanceError.at(path, key, val, "must be a positive number")
    return float(val)


def _read_table(path: Path, columns: tuple[str, ...], int_columns: int) -> list[np.ndarray]:
    """Read a CSV with exactly ``columns``; the first ``int_columns`` are integers."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise InstanceError.at(path, "file", str(path), f"cannot read file ({e.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise InstanceError.at(path, "file", str(path), f"not a readable CSV text file ({type(e).__name__})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InstanceError.at(path, "header", "", f"empty file; expected columns {','.join(columns)}")
    header = tuple(c.strip() for c in rows[0])
    if header != columns:
        raise InstanceError.at(path, "header", ",".join(header), f"expected columns {','.join(columns)}")
    if len(rows) == 1:
        raise InstanceError.at(path, "rows", 0, "table has no data rows")
    out = [[] for _ in columns]
    for k, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise InstanceError.at(path, f"line {k}", ",".join(row), f"expected {len(columns)} values")
        for j, (col, cell) in enumerate(zip(columns, row)):
            cell = cell.strip()
            try:
                val = int(cell) if j < int_columns else float(cell)
            except ValueError:
                kind = "an integer bus number" if j < int_columns else "a number"
                raise InstanceError.at(path, f"line {k}.{col}", cell, f"must be {kind}") from None
            if j >= int_columns and not math.isfinite(val):
                raise InstanceError.at(path, f"line {k}.{col}", cell, "must be finite")
            out[j].append(val)
    return [np.asarray(c, dtype=int if j < int_columns else float) for j, c in enumerate(out)]


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
    from slopt.grid.feeder import Feeder

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InstanceError.at(path, "feeder", str(path), f"cannot read file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InstanceError.at(path, "feeder", str(path), "not a UTF-8 text file") from None
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
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
    base_kv = _positive(path, meta, "base_kv")
    base_mva = _positive(path, meta, "base_mva")
    meta.setdefault("v_root_pu", 1.0)
    v_root = _positive(path, meta, "v_root_pu")
    root = meta["root_bus"]
    if isinstance(root, bool) or not isinstance(root, int):
        raise InstanceError.at(path, "root_bus", root, "must be an integer bus number")

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
