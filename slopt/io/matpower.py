"""Reader for MATPOWER ``.m`` case files of radial distribution feeders.

Written by hand because no maintained Python library evaluates the MATLAB post-processing
that MATPOWER's distribution cases carry at their end: their matrices hold branch
impedances in ohms and loads in kW (case141: kVA at 0.85 power factor), and MATLAB code
after the matrices converts them to p.u. and MW. A reader of the matrices alone gets loads
1000x too large. This reader recognises those statements and applies them in order; any
other statement that assigns to ``mpc`` is refused rather than silently ignored.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from slopt.errors import InstanceError

__all__ = ["read_matpower", "parse_matpower"]

_MATRIX = re.compile(r"mpc\.(\w+)\s*=\s*\[(.*?)\]\s*;", re.S)
_SCALAR = re.compile(r"mpc\.(\w+)\s*=\s*([-+0-9.eE]+|'[^']*')\s*;")
_CELL = re.compile(r"mpc\.(\w+)\s*=\s*\{.*?\}\s*;", re.S)  # bus_name, genfuel, ...: not used

# MATPOWER column indices (0-based)
BUS_I, BUS_TYPE, PD, QD, GS, BS, VM, BASE_KV = 0, 1, 2, 3, 4, 5, 7, 9
F_BUS, T_BUS, BR_R, BR_X, BR_B, BR_STATUS = 0, 1, 2, 3, 4, 10
GEN_BUS, VG, GEN_STATUS = 0, 5, 7

_NAMES = {"PD": PD, "QD": QD, "BR_R": BR_R, "BR_X": BR_X, "GS": GS, "BS": BS}


def _strip_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        # '%' starts a comment unless inside a quoted string (only used in version lines)
        m = re.match(r"^((?:[^'%]|'[^']*')*)%.*$", line)
        out.append(m.group(1) if m else line)
    return "\n".join(out)


def _parse_matrix(body: str, path, name: str) -> np.ndarray:
    rows = []
    for k, raw in enumerate(re.split(r"[;\n]", body)):
        raw = raw.strip()
        if not raw:
            continue
        try:
            rows.append([float(v) for v in raw.replace(",", " ").split()])
        except ValueError:
            raise InstanceError.at(path, f"mpc.{name}[row {len(rows) + 1}]", raw, "not a row of numbers") from None
    if not rows:
        return np.zeros((0, 0))
    width = len(rows[0])
    for k, r in enumerate(rows):
        if len(r) != width:
            raise InstanceError.at(path, f"mpc.{name}[row {k + 1}]", len(r), f"row has {len(r)} columns, expected {width}")
    return np.array(rows)


def _cols(spec: str) -> list[int]:
    names = [s for s in re.split(r"[\s,\[\]]+", spec) if s]
    try:
        return [_NAMES[s] for s in names]
    except KeyError as e:
        raise KeyError(str(e)) from None


def _apply_postprocessing(trailer: str, mpc: dict, path) -> list[str]:
    """Apply the unit conversions found after the matrices. Returns what was applied."""
    env: dict[str, float] = {}
    applied = []
    bus, branch = mpc["bus"], mpc["branch"]
    statements = [s.strip() for s in re.split(r";\s*\n|;\s*$|\n", trailer) if s.strip()]
    for st in statements:
        st = st.rstrip(";").strip()
        if not st or st.startswith("[") or st.startswith("...") or re.match(r"^[A-Z_, .\]]+=\s*idx_\w+$", st) or "idx_bus" in st or "idx_brch" in st or "idx_gen" in st:
            continue  # index-name imports: [PQ, PV, ...] = idx_bus
        if re.fullmatch(r"[A-Z_,\s.]+", st):  # continuation lines of the idx imports
            continue
        m = re.fullmatch(r"Vbase\s*=\s*mpc\.bus\(\s*1\s*,\s*BASE_KV\s*\)\s*\*\s*1e3", st)
        if m:
            env["Vbase"] = bus[0, BASE_KV] * 1e3
            continue
        m = re.fullmatch(r"Sbase\s*=\s*mpc\.baseMVA\s*\*\s*1e6", st)
        if m:
            env["Sbase"] = mpc["baseMVA"] * 1e6
            continue
        m = re.fullmatch(r"pf\s*=\s*([0-9.]+)", st)
        if m:
            env["pf"] = float(m.group(1))
            continue
        m = re.fullmatch(
            r"mpc\.branch\(:,\s*\[(.*?)\]\)\s*=\s*mpc\.branch\(:,\s*\[(.*?)\]\)\s*/\s*\(\s*Vbase\^2\s*/\s*Sbase\s*\)", st
        )
        if m and m.group(1).replace(" ", "") == m.group(2).replace(" ", ""):
            zb = env["Vbase"] ** 2 / env["Sbase"]
            branch[:, _cols(m.group(1))] /= zb
            applied.append("branch r,x: ohm -> p.u.")
            continue
        m = re.fullmatch(r"mpc\.bus\(:,\s*\[(.*?)\]\)\s*=\s*mpc\.bus\(:,\s*\[(.*?)\]\)\s*/\s*1e3", st)
        if m and m.group(1).replace(" ", "") == m.group(2).replace(" ", ""):
            bus[:, _cols(m.group(1))] /= 1e3
            applied.append("bus loads: kW -> MW")
            continue
        m = re.fullmatch(r"mpc\.bus\(:,\s*QD\)\s*=\s*mpc\.bus\(:,\s*PD\)\s*\*\s*sin\(acos\(pf\)\)", st)
        if m:
            bus[:, QD] = bus[:, PD] * math.sin(math.acos(env["pf"]))
            applied.append(f"bus QD = S*sin(acos({env['pf']}))")
            continue
        m = re.fullmatch(r"mpc\.bus\(:,\s*PD\)\s*=\s*mpc\.bus\(:,\s*PD\)\s*\*\s*pf", st)
        if m:
            bus[:, PD] = bus[:, PD] * env["pf"]
            applied.append(f"bus PD = S*{env['pf']}")
            continue
        if "mpc" in st or "=" in st:
            raise InstanceError.at(path, "post-processing", st, "unsupported MATLAB statement after the case matrices")
    return applied


def parse_matpower(text: str, path: str | Path = "<string>") -> dict:
    """Parse MATPOWER case text into arrays, with the trailing unit conversions applied.

    Returns
    -------
    dict
        ``baseMVA`` (float), ``bus``, ``branch``, ``gen`` (ndarrays, MATPOWER units: MW,
        MVAr, p.u.) and ``applied`` (list of conversions that were applied).
    """
    clean = _strip_comments(text)
    mpc: dict = {}
    last_end = 0
    spans = []
    for m in _MATRIX.finditer(clean):
        mpc[m.group(1)] = _parse_matrix(m.group(2), path, m.group(1))
        last_end = max(last_end, m.end())
        spans.append((m.start(), m.end()))
    for m in _SCALAR.finditer(clean):
        val = m.group(2)
        mpc[m.group(1)] = val.strip("'") if val.startswith("'") else float(val)
        spans.append((m.start(), m.end()))
    for m in _CELL.finditer(clean):
        last_end = max(last_end, m.end())
        spans.append((m.start(), m.end()))
    # Text before the last matrix that is neither a matrix, a scalar assignment nor the
    # function line would be skipped silently: refuse any statement there.
    pos, between = 0, []
    for a, b in sorted(spans):
        if a >= last_end:
            break
        if a >= pos:
            between.append(clean[pos:a])
            pos = b
    for st in re.split(r"[;\n]", "".join(between)):
        st = st.strip()
        if st and not re.fullmatch(r"function\s+mpc\s*=\s*\w+", st):
            raise InstanceError.at(path, "statement", st, "unsupported MATLAB statement among the case matrices")
    for key in ("baseMVA", "bus", "branch"):
        if key not in mpc:
            raise InstanceError.at(path, f"mpc.{key}", "missing", "not a MATPOWER case file")
    if mpc["bus"].ndim != 2 or mpc["bus"].shape[1] < 13:
        raise InstanceError.at(path, "mpc.bus", f"{mpc['bus'].shape[1] if mpc['bus'].ndim == 2 else 0} columns", "bus matrix needs 13 columns")
    if mpc["branch"].ndim != 2 or mpc["branch"].shape[1] < 11:
        raise InstanceError.at(path, "mpc.branch", "too few columns", "branch matrix needs at least 11 columns")
    if not (isinstance(mpc["baseMVA"], float) and mpc["baseMVA"] > 0):
        raise InstanceError.at(path, "mpc.baseMVA", mpc["baseMVA"], "must be a positive number")
    mpc["bus"] = mpc["bus"].astype(float).copy()
    mpc["branch"] = mpc["branch"].astype(float).copy()
    try:
        mpc["applied"] = _apply_postprocessing(clean[last_end:], mpc, path)
    except KeyError as e:
        raise InstanceError.at(path, "post-processing", str(e), "unknown column name or undefined variable") from None
    return mpc


def read_matpower(path: str | Path, name: str | None = None):
    """Read a radial MATPOWER case into a :class:`~slopt.grid.feeder.Feeder`.

    Out-of-service branches (status 0) are dropped. The root is the reference bus (type 3);
    its voltage is the generator set point ``Vg`` there (1.0 if absent). Shunts and line
    charging are not modelled; a case with nonzero ``Gs``, ``Bs`` or branch ``b`` is refused.

    Raises
    ------
    InstanceError
        If the file cannot be read or parsed, or the network is not radial.
    """
    from slopt.grid.feeder import Feeder

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InstanceError.at(path, "feeder", str(path), f"cannot read file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InstanceError.at(path, "feeder", str(path), "not a UTF-8 text file") from None
    mpc = parse_matpower(text, path)
    bus, branch = mpc["bus"], mpc["branch"]
    base_mva = float(mpc["baseMVA"])
    if "gen" in mpc and mpc["gen"].size and mpc["gen"].ndim == 2:
        gen = mpc["gen"]
    else:
        gen = np.zeros((0, 8))
    ref = np.flatnonzero(bus[:, BUS_TYPE] == 3)
    if ref.size != 1:
        raise InstanceError.at(path, "mpc.bus.type", f"{ref.size} reference buses", "a radial feeder needs exactly one reference (type 3) bus")
    root = int(bus[ref[0], BUS_I])
    for col, fld in ((GS, "Gs"), (BS, "Bs")):
        nz = np.flatnonzero(bus[:, col] != 0)
        if nz.size:
            raise InstanceError.at(path, f"mpc.bus[{int(bus[nz[0], BUS_I])}].{fld}", bus[nz[0], col], "bus shunts are not supported")
    live = branch[:, BR_STATUS] != 0
    br = branch[live]
    nzb = np.flatnonzero(br[:, BR_B] != 0)
    if nzb.size:
        k = int(nzb[0])
        raise InstanceError.at(path, f"mpc.branch[{k}].b", br[k, BR_B], "line charging is not supported on radial feeders")
    v_root = 1.0
    if gen.shape[0]:
        on_root = gen[(gen[:, GEN_BUS] == root) & (gen[:, GEN_STATUS] != 0)]
        if on_root.shape[0]:
            v_root = float(on_root[0, VG])
    base_kv = float(bus[ref[0], BASE_KV])
    if not base_kv > 0:
        raise InstanceError.at(path, f"mpc.bus[{root}].baseKV", base_kv, "must be > 0")
    return Feeder.from_branches(
        name=name or path.stem,
        bus_ids=bus[:, BUS_I].astype(int),
        p_load_kw=bus[:, PD] * 1e3,
        q_load_kvar=bus[:, QD] * 1e3,
        from_bus=br[:, F_BUS].astype(int),
        to_bus=br[:, T_BUS].astype(int),
        r_pu=br[:, BR_R],
        x_pu=br[:, BR_X],
        base_kv=base_kv,
        base_mva=base_mva,
        root=root,
        v_root_pu=v_root,
        source=str(path),
    )
