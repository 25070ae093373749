"""Reader for MATPOWER ``.m`` case files of radial distribution feeders.

Written by hand because no maintained Python library evaluates the MATLAB post-processing
that MATPOWER's distribution cases carry at their end: their matrices hold branch
impedances in ohms and loads in kW (case141: kVA at 0.85 power factor), and MATLAB code
after the matrices converts them to p.u. and MW. A reader of the matrices alone gets loads
1000x too large.

The file is never evaluated. It is split into statements (``;`` or a line end outside
brackets, ``...`` continues a line, ``%`` starts a comment) and every statement must be one
of these, else the file is refused:

* ``function mpc = NAME`` (the first statement);
* ``mpc.NAME = [ numbers ]`` (a matrix: plain numbers, ``Inf``, ``NaN``), ``mpc.NAME = { ... }``
  (a cell array of strings and numbers, not used), ``mpc.NAME = number`` or ``= 'text'``;
* the index imports ``[PQ, PV, ...] = idx_bus`` (also ``idx_brch``, ``idx_gen``, ``idx_cost``);
* the unit conversions of MATPOWER's distribution cases, after the matrices:
  ``Vbase = mpc.bus(1, BASE_KV) * 1e3``, ``Sbase = mpc.baseMVA * 1e6``,
  ``mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase)``,
  ``mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3``, ``pf = 0.85``,
  ``mpc.bus(:, QD) = mpc.bus(:, PD) * sin(acos(pf))``, ``mpc.bus(:, PD) = mpc.bus(:, PD) * pf``.

Anything else (``system(...)``, ``x = 3``, any other function call) is refused with a
one-line :class:`~slopt.errors.InstanceError`. Sizes are bounded before any pattern is
matched: at most :data:`MAX_BYTES` bytes in :data:`MAX_LINES` lines of at most
:data:`MAX_LINE_CHARS` characters, and the ``file_mb`` and ``buses`` limits of
:mod:`slopt.limits`. Ids must be positive integers,
``baseMVA``, ``baseKV`` and the root voltage ``Vg`` finite and within the physical ranges
of :mod:`slopt.bounds`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slopt.grid.feeder import Feeder, register_feeder_reader
from slopt.errors import InstanceError
from slopt import bounds
from slopt.limits import check, check_file_size

__all__ = ["read_matpower", "parse_matpower", "MAX_LINES", "MAX_LINE_CHARS", "MAX_BYTES"]

#: Longest line accepted (the bundled cases have at most 179 characters per line).
MAX_LINE_CHARS = 10_000
#: Most lines accepted (a 10,000-bus case has about 25,000).
MAX_LINES = 500_000
#: Largest file accepted, in bytes (a 10,000-bus case is about 2 MB).
MAX_BYTES = 100_000_000

# MATPOWER column indices (0-based)
BUS_I, BUS_TYPE, PD, QD, GS, BS, VM, BASE_KV = 0, 1, 2, 3, 4, 5, 7, 9
F_BUS, T_BUS, BR_R, BR_X, BR_B, BR_STATUS = 0, 1, 2, 3, 4, 10
GEN_BUS, VG, GEN_STATUS = 0, 5, 7

_NAMES = {"PD": PD, "QD": QD, "BR_R": BR_R, "BR_X": BR_X, "GS": GS, "BS": BS}

_SPECIAL = re.compile(r"[\[\]{};']")
_FUNCTION = re.compile(r"function\s+mpc\s*=\s*[A-Za-z]\w*")
_MATRIX = re.compile(r"mpc\.([A-Za-z]\w*)\s*=\s*\[(.*)\]", re.S)
_CELL = re.compile(r"mpc\.([A-Za-z]\w*)\s*=\s*\{(.*)\}", re.S)
_SCALAR = re.compile(r"mpc\.([A-Za-z]\w*)\s*=\s*([^\[\]{}]*)")
_STRING = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_IDX = re.compile(r"\[\s*[A-Z_][A-Z0-9_]*(?:\s*,\s*[A-Z_][A-Z0-9_]*)*\s*\]\s*=\s*idx_(?:bus|brch|gen|cost)")
_MATRIX_CHARS = re.compile(r"[0-9eE.+\-\s,;InfaN]*")     # a matrix body: digits, signs, Inf, NaN, separators
_CELL_CHARS = re.compile(r"[0-9eE.+\-\s,;]*")             # a cell body once its strings are removed
_COLS = r"\[\s*([A-Z_]+(?:\s*,?\s*[A-Z_]+)*)\s*\]"         # [BR_R BR_X] or [PD, QD]


@dataclass(frozen=True)
class _Conversion:
    """A recognised post-processing statement and how to apply it."""

    kind: str
    line: int
    text: str
    cols: tuple = ()
    value: float = 0.0


# ----------------------------------------------------------------------------- statements
def _check_size(text: str, path) -> list[str]:
    """The lines of ``text``, after the size, line-count and line-length limits (checked before any regex)."""
    if len(text) > MAX_BYTES:
        raise InstanceError.at(path, "size", f"{len(text):,} characters", f"larger than {MAX_BYTES:,}; not a "
                               "distribution feeder case")
    n = text.count("\n") + 1
    if n > MAX_LINES:
        raise InstanceError.at(path, "lines", n, f"more than {MAX_LINES:,} lines; not a distribution feeder case")
    lines = text.split("\n")
    if len(text) > MAX_LINE_CHARS:
        lengths = list(map(len, lines))
        longest = max(lengths)
        if longest > MAX_LINE_CHARS:
            k = lengths.index(longest)
            raise InstanceError.at(path, f"line {k + 1}", f"{longest:,} characters",
                                   f"longer than {MAX_LINE_CHARS:,} characters; not a MATPOWER case file")
    return lines


def _strip_comment(line: str) -> str:
    """The line without its ``%`` comment (a ``%`` inside a quoted string does not count)."""
    if "%" not in line:
        return line
    if "'" not in line:
        return line[: line.index("%")]
    quoted = False
    for i, ch in enumerate(line):         # only lines with both ' and % (version lines): short
        if ch == "'":
            quoted = not quoted
        elif ch == "%" and not quoted:
            return line[:i]
    return line


def _statements(lines: list[str], path) -> list[tuple[int, str]]:
    """Split the file into ``(line number, statement)``: ``;`` or a line end outside brackets
    ends a statement; inside brackets a line end separates matrix rows; ``...`` continues."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    depth, start, opened = 0, 0, 0

    def flush():
        stmt = "".join(buf).strip()
        buf.clear()
        if stmt:
            out.append((start, stmt))

    for lineno, raw in enumerate(lines, 1):
        line = _strip_comment(raw)
        cont = "..." in line
        if cont:
            line = line[: line.index("...")]
        if not buf:
            start = lineno
        pos, quoted = 0, False
        for m in _SPECIAL.finditer(line):
            ch = m.group()
            if quoted:
                quoted = ch != "'"
                continue
            if ch == "'":
                quoted = True
            elif ch in "[{":
                depth += 1
                opened = opened if depth > 1 else lineno
            elif ch in "]}":
                depth -= 1
                if depth < 0:
                    raise InstanceError.at(path, f"line {lineno}", ch, "unbalanced bracket")
            elif depth == 0:  # ';' ends a statement
                buf.append(line[pos:m.start()])
                flush()
                pos, start = m.end(), lineno
        if quoted:
            raise InstanceError.at(path, f"line {lineno}", "'", "unterminated string")
        buf.append(line[pos:])
        if depth == 0 and not cont:
            flush()
        else:
            buf.append(" " if cont else "\n")
    if depth:
        raise InstanceError.at(path, f"line {opened}", "[", "bracket opened here is never closed")
    flush()
    return out


# ----------------------------------------------------------------------------- matrices
def _parse_matrix(body: str, path, name: str, line: int) -> np.ndarray:
    plain = _MATRIX_CHARS.fullmatch(body) is not None     # fast path: only number characters
    rows = []
    for raw in re.split(r"[;\n]", body):
        tokens = [t for t in re.split(r"[\s,]+", raw) if t]
        if not tokens:
            continue
        bad = None if plain else next((t for t in tokens if not _is_number(t)), None)
        try:
            if bad is None:
                rows.append([float(t) for t in tokens])
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
        if bad is not None:
            raise InstanceError.at(path, f"mpc.{name}[row {len(rows) + 1}]", bad,
                                   f"not a number (line {line + body[:body.find(raw)].count(chr(10))})")
    if not rows:
        return np.zeros((0, 0))
    width = len(rows[0])
    for k, r in enumerate(rows):
        if len(r) != width:
            raise InstanceError.at(path, f"mpc.{name}[row {k + 1}]", len(r), f"row has {len(r)} columns, expected {width}")
    return np.array(rows)


def _is_number(token: str) -> bool:
    return bool(_NUMBER.fullmatch(token)) or token.lstrip("+-") in ("Inf", "inf", "NaN", "nan")


def _cols(spec: str, path, line: int) -> tuple:
    names = [s for s in re.split(r"[\s,]+", spec) if s]
    unknown = [s for s in names if s not in _NAMES]
    if unknown:
        raise InstanceError.at(path, f"line {line}", unknown[0], f"unknown column name; known: {', '.join(_NAMES)}")
    return tuple(_NAMES[s] for s in names)


# ----------------------------------------------------------------------------- conversions
def _conversion(st: str, line: int, path) -> _Conversion | None:
    """The recognised unit conversion ``st``, or None."""
    s = " ".join(st.split())
    if re.fullmatch(r"Vbase ?= ?mpc\.bus\( ?1 ?, ?BASE_KV ?\) ?\* ?1e3", s):
        return _Conversion("vbase", line, s)
    if re.fullmatch(r"Sbase ?= ?mpc\.baseMVA ?\* ?1e6", s):
        return _Conversion("sbase", line, s)
    m = re.fullmatch(r"pf ?= ?(\S+)", s)
    if m:
        if not _NUMBER.fullmatch(m.group(1)) or not 0 < float(m.group(1)) <= 1:
            raise InstanceError.at(path, f"line {line}, pf", m.group(1), "power factor must be a number in (0, 1]")
        return _Conversion("pf", line, s, value=float(m.group(1)))
    m = re.fullmatch(rf"mpc\.branch\(:, ?{_COLS}\) ?= ?mpc\.branch\(:, ?{_COLS}\) ?/ ?\( ?Vbase\^2 ?/ ?Sbase ?\)", s)
    if m and _cols(m.group(1), path, line) == _cols(m.group(2), path, line):
        return _Conversion("ohm", line, s, _cols(m.group(1), path, line))
    m = re.fullmatch(rf"mpc\.bus\(:, ?{_COLS}\) ?= ?mpc\.bus\(:, ?{_COLS}\) ?/ ?1e3", s)
    if m and _cols(m.group(1), path, line) == _cols(m.group(2), path, line):
        return _Conversion("kw", line, s, _cols(m.group(1), path, line))
    if re.fullmatch(r"mpc\.bus\(:, ?QD\) ?= ?mpc\.bus\(:, ?PD\) ?\* ?sin\(acos\(pf\)\)", s):
        return _Conversion("q_from_pf", line, s)
    if re.fullmatch(r"mpc\.bus\(:, ?PD\) ?= ?mpc\.bus\(:, ?PD\) ?\* ?pf", s):
        return _Conversion("p_from_pf", line, s)
    return None


def _apply(conversions: list[_Conversion], mpc: dict, path) -> list[str]:
    """Apply the conversions in file order. Returns what was applied."""
    env: dict[str, float] = {}
    applied = []
    bus, branch = mpc["bus"], mpc["branch"]

    def need(name: str, c: _Conversion) -> float:
        if name not in env:
            raise InstanceError.at(path, f"line {c.line}", c.text, f"uses {name} before it is set")
        return env[name]

    for c in conversions:
        if c.kind == "vbase":
            env["Vbase"] = _base_kv(bus, 0, path) * 1e3
        elif c.kind == "sbase":
            env["Sbase"] = mpc["baseMVA"] * 1e6
        elif c.kind == "pf":
            env["pf"] = c.value
        elif c.kind == "ohm":
            branch[:, list(c.cols)] /= need("Vbase", c) ** 2 / need("Sbase", c)
            applied.append("branch r,x: ohm -> p.u.")
        elif c.kind == "kw":
            bus[:, list(c.cols)] /= 1e3
            applied.append("bus loads: kW -> MW")
        elif c.kind == "q_from_pf":
            pf = need("pf", c)
            bus[:, QD] = bus[:, PD] * math.sin(math.acos(pf))
            applied.append(f"bus QD = S*sin(acos({pf}))")
        else:
            pf = need("pf", c)
            bus[:, PD] = bus[:, PD] * pf
            applied.append(f"bus PD = S*{pf}")
    return applied


# ----------------------------------------------------------------------------- parse
def parse_matpower(text: str, path: str | Path = "<string>") -> dict:
    """Parse MATPOWER case text into arrays, with the trailing unit conversions applied.

    Returns
    -------
    dict
        ``baseMVA`` (float), ``bus``, ``branch``, ``gen`` (ndarrays, MATPOWER units: MW,
        MVAr, p.u.) and ``applied`` (list of conversions that were applied).

    Raises
    ------
    InstanceError
        A statement the module docstring does not list, a line or file too long, a
        malformed matrix, or ids, ``baseMVA`` or ``baseKV`` outside their ranges.
    """
    if not isinstance(text, str):
        from slopt.errors import ArgumentError

        raise ArgumentError(f"parse_matpower: text must be the case file's text (a str), got {type(text).__name__}")
    statements = _statements(_check_size(text, path), path)
    if not statements or not _FUNCTION.fullmatch(" ".join(statements[0][1].split())):
        raise InstanceError(f"{path}: not a MATPOWER case file (the first statement must be 'function mpc = NAME')")
    mpc: dict = {}
    conversions: list[_Conversion] = []
    for line, st in statements[1:]:
        kind = _statement(st, line, path, mpc, conversions)
        if kind == "matrix" and conversions:
            raise InstanceError.at(path, f"line {line}", st.split("=")[0].strip(),
                                   "matrix assigned after a unit conversion; put the conversions after all matrices")
    _check_structure(mpc, path)
    mpc["applied"] = _apply(conversions, mpc, path)
    _check_converted(mpc, path)
    return mpc


def _statement(st: str, line: int, path, mpc: dict, conversions: list) -> str:
    """Classify one statement, storing matrices/scalars in ``mpc``; refuse anything unknown."""
    m = _MATRIX.fullmatch(st)
    if m:
        mpc[m.group(1)] = _parse_matrix(m.group(2), path, m.group(1), line)
        return "matrix"
    m = _CELL.fullmatch(st)
    if m:
        if not _CELL_CHARS.fullmatch(_STRING.sub("", m.group(2))):
            raise InstanceError.at(path, f"mpc.{m.group(1)} (line {line})", "{...}",
                                   "a cell array may hold only quoted strings and numbers")
        return "cell"
    m = _SCALAR.fullmatch(st)
    if m and (_is_number(m.group(2).strip()) or _STRING.fullmatch(m.group(2).strip())):
        val = m.group(2).strip()
        mpc[m.group(1)] = val.strip("'") if val.startswith("'") else float(val)
        return "scalar"
    if _IDX.fullmatch(st):
        return "import"
    conv = _conversion(st, line, path)
    if conv is not None:
        if "bus" not in mpc or "branch" not in mpc:
            raise InstanceError.at(path, f"line {line}", st, "unit conversion before the bus and branch matrices")
        conversions.append(conv)
        return "conversion"
    raise InstanceError.at(path, f"line {line}, statement", st, "unsupported MATLAB statement; the reader accepts only the "
                           "case matrices and MATPOWER's unit conversions (see slopt.io.matpower)")


def _check_structure(mpc: dict, path) -> None:
    """Shapes, ``baseMVA`` and the id columns, before any conversion is applied."""
    for key in ("baseMVA", "bus", "branch"):
        if key not in mpc:
            raise InstanceError.at(path, f"mpc.{key}", "missing", "not a MATPOWER case file")
    bus, branch = mpc["bus"], mpc["branch"]
    if bus.ndim != 2 or bus.shape[1] < 13:
        raise InstanceError.at(path, "mpc.bus", f"{bus.shape[1] if bus.ndim == 2 else 0} columns", "bus matrix needs 13 columns")
    if branch.ndim != 2 or branch.shape[1] < 11:
        raise InstanceError.at(path, "mpc.branch", "too few columns", "branch matrix needs at least 11 columns")
    check("buses", bus.shape[0], "mpc.bus rows", source=path)
    base, (lo, hi) = mpc["baseMVA"], bounds.BASE_MVA
    if not isinstance(base, float) or not (lo <= base <= hi):
        raise InstanceError.at(path, "mpc.baseMVA", base, f"must be a number in [{lo:g}, {hi:g}] MVA")
    _check_ids(bus[:, BUS_I], path, "mpc.bus", "bus_i")
    _check_ids(branch[:, F_BUS], path, "mpc.branch", "fbus")
    _check_ids(branch[:, T_BUS], path, "mpc.branch", "tbus")
    bad = np.flatnonzero(~np.isin(bus[:, BUS_TYPE], (1, 2, 3, 4)))
    if bad.size:
        raise InstanceError.at(path, f"mpc.bus[row {bad[0] + 1}].type", bus[bad[0], BUS_TYPE], "must be 1, 2, 3 or 4")
    bad = np.flatnonzero(~np.isin(branch[:, BR_STATUS], (0, 1)))
    if bad.size:
        raise InstanceError.at(path, f"mpc.branch[row {bad[0] + 1}].status", branch[bad[0], BR_STATUS], "must be 0 or 1")
    gen = mpc.get("gen")
    if gen is not None and gen.size:
        if gen.ndim != 2 or gen.shape[1] < 8:
            raise InstanceError.at(path, "mpc.gen", f"{gen.shape[1]} columns", "generator matrix needs at least 8 columns")
        _check_ids(gen[:, GEN_BUS], path, "mpc.gen", "bus")
    mpc["bus"] = bus.astype(float).copy()
    mpc["branch"] = branch.astype(float).copy()


def _check_ids(col: np.ndarray, path, matrix: str, field: str) -> None:
    ok = np.isfinite(col) & (col >= 1) & (col <= bounds.MAX_BUS_ID)
    ok[ok] = col[ok] == np.round(col[ok])
    bad = np.flatnonzero(~ok)
    if bad.size:
        k = int(bad[0])
        raise InstanceError.at(path, f"{matrix}[row {k + 1}].{field}", _fmt(col[k]),
                               f"must be a positive integer bus number (at most {bounds.MAX_BUS_ID})")


def _check_converted(mpc: dict, path) -> None:
    """Loads and impedances after the conversions: finite and within the physical bounds."""
    p_max, z_max = bounds.MAX_POWER_KW / 1e3, bounds.MAX_IMPEDANCE_PU
    for arr, name, cols in ((mpc["bus"], "mpc.bus", ((PD, "Pd", p_max, "MW"), (QD, "Qd", p_max, "MVAr"),
                                                     (GS, "Gs", np.inf, ""), (BS, "Bs", np.inf, ""))),
                            (mpc["branch"], "mpc.branch", ((BR_R, "r", z_max, "p.u."), (BR_X, "x", z_max, "p.u."),
                                                           (BR_B, "b", np.inf, "")))):
        for j, fld, cap, unit in cols:
            with np.errstate(invalid="ignore"):
                bad = np.flatnonzero(~(np.abs(arr[:, j]) <= cap))        # NaN compares False: caught too
            if bad.size:
                k = int(bad[0])
                reason = ("must be finite" if not np.isfinite(arr[k, j])
                          else f"must be at most {cap:g} {unit} in magnitude (after the unit conversions)")
                raise InstanceError.at(path, f"{name}[row {k + 1}].{fld}", _fmt(arr[k, j]), reason)


def _base_kv(bus: np.ndarray, k: int, path) -> float:
    base_kv, (lo, hi) = float(bus[k, BASE_KV]), bounds.BASE_KV
    if not lo <= base_kv <= hi:
        raise InstanceError.at(path, f"mpc.bus[{_fmt(bus[k, BUS_I])}].baseKV", _fmt(base_kv),
                               f"must be a number in [{lo:g}, {hi:g}] kV")
    return base_kv


def _fmt(x: float) -> str:
    return f"{x:.12g}"


# ----------------------------------------------------------------------------- feeder
def read_matpower(path: str | Path, name: str | None = None):
    """Read a radial MATPOWER case into a :class:`~slopt.grid.feeder.Feeder`.

    Out-of-service branches (status 0) are dropped. The root is the reference bus (type 3);
    its voltage is the generator set point ``Vg`` there (1.0 if absent), which must lie in
    [0.5, 1.5] p.u. Shunts and line charging are not modelled; a case with nonzero ``Gs``,
    ``Bs`` or branch ``b`` is refused.

    Raises
    ------
    InstanceError
        If the file cannot be read or parsed (see the module docstring for what is
        accepted), or the network is not radial.
    """
    if not isinstance(path, (str, Path)):
        from slopt.errors import ArgumentError

        raise ArgumentError(f"read_matpower: path must be a file path, got {type(path).__name__}")
    path = Path(path)
    check_file_size(path, "feeder")
    try:
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            raise InstanceError.at(path, "size", f"{path.stat().st_size:,} bytes", f"larger than {MAX_BYTES:,}; not a "
                                   "distribution feeder case")
        raw = path.read_bytes()
    except OSError as e:
        raise InstanceError.at(path, "feeder", str(path), f"cannot read file ({e.strerror or type(e).__name__})") from None
    if b"\x00" in raw:
        raise InstanceError(f"{path}: not a MATPOWER case file (binary data)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InstanceError.at(path, "feeder", str(path), "not a UTF-8 text file") from None
    mpc = parse_matpower(text, path)
    return _feeder(mpc, path, name)


def _feeder(mpc: dict, path: Path, name: str | None):

    bus, branch = mpc["bus"], mpc["branch"]
    gen = mpc["gen"] if "gen" in mpc and mpc["gen"].size and mpc["gen"].ndim == 2 else np.zeros((0, 8))
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
            v_root, (lo, hi) = float(on_root[0, VG]), bounds.V_ROOT_PU
            if not lo <= v_root <= hi:
                raise InstanceError.at(path, f"mpc.gen[bus {root}].Vg", _fmt(v_root),
                                       f"root voltage must be a number in [{lo:g}, {hi:g}] p.u.")
    base_kv = _base_kv(bus, int(ref[0]), path)
    return Feeder.from_branches(
        name=name or path.stem,
        bus_ids=bus[:, BUS_I].astype(np.int64),
        p_load_kw=bus[:, PD] * 1e3,
        q_load_kvar=bus[:, QD] * 1e3,
        from_bus=br[:, F_BUS].astype(np.int64),
        to_bus=br[:, T_BUS].astype(np.int64),
        r_pu=br[:, BR_R],
        x_pu=br[:, BR_X],
        base_kv=base_kv,
        base_mva=float(mpc["baseMVA"]),
        root=root,
        v_root_pu=v_root,
        source=str(path),
    )


register_feeder_reader(".m", read_matpower)
