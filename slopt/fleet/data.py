"""Fleet tables of retired modules: the synthetic population of Kumar et al. and CSV loading.

A :class:`Fleet` is one row per retired battery module (``docs/fleet.md``):

=====================  ======================================================================
``battery_id``         unique id (str)
``chemistry``          a name of :data:`slopt.battery.chemistry.CHEMISTRIES` (LFP, NMC, NCA)
``nominal_kwh``        rated energy when new (kWh, > 0)
``soh``                state of health, usable / rated capacity, in (0, 1]
``r0_mohm``            measured DC (ohmic) resistance R0 (mOhm, > 0)
``r_growth``           resistance increase relative to new, ``R0/R_new - 1`` (>= 0)
``t_min_c, t_max_c``   range of the first-life temperature history (degC), min <= max
``cycle_count``        equivalent full cycles in first life (>= 0)
``degradation_trend``  recent SOH loss, percentage points per 1000 equivalent cycles (>= 0)
``accelerated``        flagged accelerated ager (bool)
=====================  ======================================================================

:func:`generate_fleet` reproduces the synthetic dataset of Kumar et al. §3A (120 modules, SOH
55-80 %, heterogeneous resistance and temperature, some accelerated agers), anchored on the
five sample rows of its Table 3. :func:`load_fleet` reads the same table from CSV and reports
the first problem as one line: ``fleet.csv: row 17, soh = 1.3: must be in (0, 1]``.
The generator's choices where Kumar et al. are silent are listed in ``docs/fleet.md``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.battery.chemistry import chemistry_names, get_chemistry
from slopt.errors import ArgumentError, InstanceError
from slopt.bounds import MAX_MODULE_KWH
from slopt.io.csvsafe import check_rows, not_a_table, read_csv_text
from slopt.limits import check as check_limit

__all__ = ["Fleet", "generate_fleet", "load_fleet", "validate_fleet_table", "as_fleet", "FLEET_COLUMNS", "CHEMISTRIES",
           "GeneratorSpec", "DEFAULT_SPEC"]

FLEET_COLUMNS = ("battery_id", "chemistry", "nominal_kwh", "soh", "r0_mohm", "r_growth", "t_min_c", "t_max_c",
                 "cycle_count", "degradation_trend", "accelerated")
"""Columns of a fleet table, in order. ``accelerated`` may be omitted in a CSV (false)."""

CHEMISTRIES = chemistry_names()
"""Chemistry names of :data:`slopt.battery.chemistry.CHEMISTRIES` at import (validation reads the
live table, so a chemistry added there is accepted)."""

_NUMERIC = ("nominal_kwh", "soh", "r0_mohm", "r_growth", "t_min_c", "t_max_c", "cycle_count", "degradation_trend")
#: Upper bounds of the numeric columns: values no real module reaches (a 1e308 kWh module
#: would put Infinity into every total).
_CAPS = {"nominal_kwh": MAX_MODULE_KWH, "r0_mohm": 1e5, "r_growth": 100.0, "cycle_count": 1e6,
         "degradation_trend": 1e3}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass(frozen=True)
class Fleet:
    """A validated fleet table (a private copy; the input frame is not modified).

    Construct with :func:`generate_fleet`, :func:`load_fleet` or ``Fleet(table)`` from a
    DataFrame with the columns of :data:`FLEET_COLUMNS` (``accelerated`` optional). Extra
    columns are kept after the standard ones.

    Examples
    --------
    >>> fleet = generate_fleet(120, seed=0)
    >>> len(fleet), fleet.table["soh"].between(0.55, 0.80).all()
    (120, True)
    """

    table: pd.DataFrame

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", _validate(self.table, source=None))

    def __len__(self) -> int:
        return len(self.table)

    @property
    def ids(self) -> np.ndarray:
        return self.table["battery_id"].to_numpy()

    @property
    def usable_kwh(self) -> np.ndarray:
        """Usable energy ``nominal_kwh * soh`` (kWh) per battery."""
        return self.table["nominal_kwh"].to_numpy() * self.table["soh"].to_numpy()

    def subset(self, rows) -> "Fleet":
        """The batteries selected by a boolean mask or positional indices."""
        rows = np.asarray(rows)
        sel = self.table.iloc[np.flatnonzero(rows) if rows.dtype == bool else rows]
        return Fleet(sel.reset_index(drop=True))

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (readable by :func:`load_fleet`)."""
        path = Path(path)
        self.table.to_csv(path, index=False, float_format="%.10g")
        return path

    def summary(self) -> pd.DataFrame:
        """Counts and means per chemistry and ageing class."""
        t = self.table
        return (t.groupby(["chemistry", "accelerated"])
                .agg(n=("battery_id", "size"), soh=("soh", "mean"), r0_mohm=("r0_mohm", "mean"),
                     r_growth=("r_growth", "mean"), cycle_count=("cycle_count", "mean"),
                     degradation_trend=("degradation_trend", "mean"), t_max_c=("t_max_c", "mean"))
                .reset_index())


# --------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class GeneratorSpec:
    """Knobs of :func:`generate_fleet` (Kumar et al. §3A and Table 3; the rest ours, see docs/fleet.md).

    ``wear = (soh_max - SOH)/(soh_max - soh_min)`` in [0, 1] drives resistance, cycle count and
    temperature history, as the five rows of Kumar et al. Table 3 do. ``chemistries`` is the mix:
    ``(name, share)`` pairs of :data:`slopt.battery.chemistry.CHEMISTRIES` names (shares > 0,
    normalised to sum 1), e.g. ``(("LFP", 0.3), ("NMC", 0.5), ("NCA", 0.2))``.
    """

    soh_min: float = 0.55               # Kumar et al. §3A
    soh_max: float = 0.80               # Kumar et al. §3A
    chemistries: tuple = (("LFP", 0.4), ("NMC", 0.6))   # ours: (name, share) pairs, any names of the table
    share_lfp: float | None = None      # former knob: LFP share of an LFP/NMC fleet (overrides chemistries)
    share_accelerated: float = 0.2      # ours ("some batteries", Kumar et al. §3A)
    module_ah: tuple = (40.0, 50.0, 60.0)   # ours: 48 V-class modules
    r0_at_best_mohm: float = 40.0       # Kumar et al. Table 3: B5, SOH 80 % -> 40 mOhm
    r0_span_mohm: float = 30.0          # Table 3: B4, SOH 58 % -> 70 mOhm
    r0_sd_mohm: float = 3.0
    r0_accel_mohm: float = 5.0
    r_new_sd: float = 0.05              # relative spread of the new-module R0 (ours)
    cycles_at_best: float = 1000.0      # Table 3: B5 1000 cycles
    cycles_span: float = 800.0          # Table 3: B4 1800 cycles
    cycles_sd: float = 80.0
    t_min_at_best_c: float = 20.0       # Table 3: 20-35 degC lower ends
    t_min_span_c: float = 15.0
    t_span_at_best_c: float = 8.0       # Table 3: ranges 7-15 K wide
    t_span_wear_c: float = 7.0
    t_sd_c: float = 2.0
    t_accel_c: float = 5.0              # accelerated agers: hotter history (Kumar et al. §3A)
    trend_wear: float = 1.0             # trend grows with wear: x2 at SOH 0.55 (ours)
    trend_sd: float = 0.2               # lognormal sigma (ours)
    trend_accel: tuple = (1.6, 2.6)     # accelerated agers' trend factor, uniform (ours)

    def __post_init__(self) -> None:
        if self.share_lfp is not None:
            if not (isinstance(self.share_lfp, (int, float)) and 0.0 <= self.share_lfp <= 1.0):
                raise InstanceError.at(None, "GeneratorSpec.share_lfp", self.share_lfp, "must be in [0, 1]")
            object.__setattr__(self, "chemistries", (("LFP", float(self.share_lfp)), ("NMC", 1.0 - self.share_lfp)))
        mix = tuple(self.chemistries) if isinstance(self.chemistries, (tuple, list)) else ()
        if not mix or any(not (isinstance(m, (tuple, list)) and len(m) == 2) for m in mix):
            raise InstanceError.at(None, "GeneratorSpec.chemistries", self.chemistries,
                                   "must be (name, share) pairs, e.g. (('LFP', 0.4), ('NMC', 0.6))")
        for name, share in mix:
            try:
                get_chemistry(name)
            except ValueError as e:
                raise InstanceError.at(None, "GeneratorSpec.chemistries", name, str(e)) from None
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not share >= 0 or share == float("inf"):
                raise InstanceError.at(None, f"GeneratorSpec.chemistries[{name}]", share, "share must be >= 0")
        if sum(float(sh) for _, sh in mix) <= 0:
            raise InstanceError.at(None, "GeneratorSpec.chemistries", self.chemistries, "shares must not all be 0")
        object.__setattr__(self, "chemistries", tuple((get_chemistry(n).name, float(sh)) for n, sh in mix))


DEFAULT_SPEC = GeneratorSpec()


def generate_fleet(n: int = 120, seed=0, spec: GeneratorSpec = DEFAULT_SPEC) -> Fleet:
    """Synthetic fleet of retired modules after Kumar et al. §3A (vectorised; 100,000 in ~0.3 s).

    Each module draws a chemistry (``spec.chemistries``: 40 % LFP, 60 % NMC by default; any mix of
    the chemistry table), an accelerated-ager flag (20 %) and an SOH in
    [0.55, 0.80] (uniform; accelerated agers skewed low, Beta(1, 2)). Its ``wear`` (0 at SOH
    0.80, 1 at 0.55) sets, with noise, the resistance ``R0 = 40 + 30*wear`` mOhm, the cycle count
    ``1000 + 800*wear`` and the temperature history ``t_min = 20 + 15*wear``, width ``8 +
    7*wear`` K — straight lines through the five sample modules of Kumar et al. Table 3.
    Accelerated agers get +5 mOhm, a 5 K hotter history and a 1.6-2.6 times steeper
    degradation trend. ``r_growth = R0 / R_new - 1`` with the chemistry's new-module
    resistance; ``degradation_trend = trend_ref * (1 + wear) * lognormal(0.2)``, with
    ``trend_ref`` the twin's calibrated rate
    (:attr:`slopt.battery.chemistry.Chemistry.trend_ref_pp_per_kefc`). Details and the
    choices that are ours: ``docs/fleet.md``.

    Parameters
    ----------
    n : int
        Number of modules (>= 1).
    seed : int or numpy.random.Generator
    spec : GeneratorSpec

    Returns
    -------
    Fleet
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ArgumentError(f"generate_fleet: n must be an integer >= 1, got {type(n).__name__} {n!r:.40}")
    if n < 1:
        raise InstanceError.at(None, "generate_fleet: n", n, "must be an integer >= 1")
    check_limit("batteries", n, "generate_fleet: n")
    if not isinstance(spec, GeneratorSpec):
        raise ArgumentError(f"generate_fleet: spec must be a GeneratorSpec, got {type(spec).__name__}")
    rng = _rng(seed)
    s = spec
    chems = [get_chemistry(name) for name, _ in s.chemistries]
    share = np.array([sh for _, sh in s.chemistries])
    edges = np.cumsum(share / share.sum())[:-1]
    code = np.searchsorted(edges, rng.random(n), side="right")        # chemistry of each module
    per_chem = lambda attr: np.array([getattr(c, attr) for c in chems], dtype=float)[code]
    accel = rng.random(n) < s.share_accelerated
    span = s.soh_max - s.soh_min
    u = np.where(accel, rng.beta(1.0, 2.0, n), rng.random(n))          # accelerated: skewed to low SOH
    soh = np.round(s.soh_min + span * u, 4)
    wear = (s.soh_max - soh) / span

    r0 = s.r0_at_best_mohm + s.r0_span_mohm * wear + rng.normal(0.0, s.r0_sd_mohm, n) + s.r0_accel_mohm * accel
    r0 = np.round(np.clip(r0, 0.6 * s.r0_at_best_mohm, None), 2)
    r_new = per_chem("r_new_mohm") * np.exp(rng.normal(0.0, s.r_new_sd, n))
    r_new = np.minimum(r_new, r0)                                         # growth >= 0
    r_growth = np.round(r0 / r_new - 1.0, 4)

    cycles = s.cycles_at_best + s.cycles_span * wear + rng.normal(0.0, s.cycles_sd, n)
    cycles = np.round(np.clip(cycles, 0.0, None))
    t_min = s.t_min_at_best_c + s.t_min_span_c * wear + rng.normal(0.0, s.t_sd_c, n) + s.t_accel_c * accel
    width = s.t_span_at_best_c + s.t_span_wear_c * wear + np.abs(rng.normal(0.0, s.t_sd_c, n)) + s.t_accel_c * accel
    t_min = np.round(t_min, 1)
    t_max = np.round(t_min + width, 1)

    v_nom = per_chem("v_nom")
    ah = np.asarray(s.module_ah, dtype=float)[rng.integers(0, len(s.module_ah), n)]
    kwh = np.round(v_nom * ah / 1000.0, 3)

    trend_ref = per_chem("trend_ref_pp_per_kefc")
    f_acc = np.where(accel, rng.uniform(*s.trend_accel, n), 1.0)
    trend = trend_ref * (1.0 + s.trend_wear * wear) * np.exp(rng.normal(0.0, s.trend_sd, n)) * f_acc
    trend = np.round(trend, 3)

    width_id = len(str(n))
    ids = np.array([f"B{i:0{width_id}d}" for i in range(1, n + 1)], dtype=object)
    table = pd.DataFrame({
        "battery_id": ids, "chemistry": np.array([c.name for c in chems], dtype=object)[code],
        "nominal_kwh": kwh, "soh": soh, "r0_mohm": r0, "r_growth": r_growth, "t_min_c": t_min, "t_max_c": t_max,
        "cycle_count": cycles, "degradation_trend": trend, "accelerated": accel,
    })
    return Fleet(table)


def _rng(seed) -> np.random.Generator:
    """A Generator from ``seed`` (a Generator, or an integer >= 0); anything else is refused."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ArgumentError(f"seed must be an integer >= 0 or a numpy Generator, got {type(seed).__name__} {seed!r:.40}")
    if seed < 0:
        raise InstanceError.at(None, "seed", seed, "must be an integer >= 0")
    return np.random.default_rng(int(seed))


# --------------------------------------------------------------------------- loading and validation


def load_fleet(csv_path: str | Path) -> Fleet:
    """Read a fleet CSV (header row with the :data:`FLEET_COLUMNS`; ``accelerated`` optional).

    The file passes the checks of :mod:`slopt.io.csvsafe` first: its size against the
    ``file_mb`` limit and its row count against the ``batteries`` limit before it is parsed,
    UTF-8 text without binary data, every row as long as the header, no line breaks inside
    quoted fields. Numbers must be plain decimals and lie within the bounds of
    :func:`validate_fleet_table`.

    Raises
    ------
    InstanceError
        One line naming the file, the 1-based data row and the column, e.g.
        ``fleet.csv: row 17, soh = 1.3: must be in (0, 1]``; or the missing column, an
        unreadable file, an empty table. The file's own text is never shown beyond the
        offending cell.
    """
    if not isinstance(csv_path, (str, Path)):
        raise ArgumentError(f"load_fleet: csv_path must be a file path, got {type(csv_path).__name__}")
    path = Path(csv_path)
    text = read_csv_text(path, FLEET_COLUMNS[:-1], what="fleet file")
    if not text.strip():
        raise InstanceError(f"{path}: empty fleet file (no header)")
    check_rows(text, path, FLEET_COLUMNS[:-1], required=("battery_id",), max_rows=("batteries", "fleet rows"))
    header = _header(text)
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InstanceError(f"{path}: duplicate column {dup[0]!r}")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise not_a_table(path, FLEET_COLUMNS, type(e).__name__) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return Fleet(_validate(raw, source=path))


def _header(text: str) -> list:
    """Column names of the first non-blank CSV line, as written (pandas renames duplicates)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return [c.strip() for c in next(csv.reader([first]), [])]


def validate_fleet_table(table, source=None, required=FLEET_COLUMNS[:-1]) -> pd.DataFrame:
    """Check a fleet table and return a clean, typed copy (what :class:`Fleet` holds).

    Library functions that take a fleet as a DataFrame call this before using it, so a table
    with NaN or out-of-range values, duplicate ids or missing columns never reaches a model.

    ``required`` names the columns that must be present (default: all but ``accelerated``);
    a function that needs fewer (``slopt.assign`` reads battery_id, chemistry, nominal_kwh, soh,
    r_growth) passes those, and the other standard columns are checked when present.

    Bounds (besides the column rules of the module docstring): ``nominal_kwh`` in (0, 1e4]
    (:data:`slopt.bounds.MAX_MODULE_KWH`), ``r0_mohm`` <= 1e5, ``r_growth`` <= 100,
    ``cycle_count`` <= 1e6, ``degradation_trend`` <= 1000; at most the ``batteries`` limit rows.

    Raises
    ------
    ArgumentError
        If ``table`` is not a DataFrame.
    InstanceError
        ``fleet: row N, column = value: reason`` for the first bad cell.
    """
    return _validate(table, source, required)


def as_fleet(fleet) -> Fleet:
    """A validated :class:`Fleet` from a Fleet, a DataFrame or the path of a fleet CSV.

    Raises
    ------
    ArgumentError
        For anything else (None, a number, a list).
    InstanceError
        For a table or file with bad values (see :func:`validate_fleet_table`).
    """
    if isinstance(fleet, Fleet):
        return fleet
    if isinstance(fleet, pd.DataFrame):
        return Fleet(fleet)
    if isinstance(fleet, (str, Path)):
        return load_fleet(fleet)
    raise ArgumentError(f"fleet must be a Fleet, a DataFrame or a fleet CSV path, got {type(fleet).__name__}")


def _validate(table: pd.DataFrame, source, required=FLEET_COLUMNS[:-1]) -> pd.DataFrame:
    """Check a fleet table and return a clean, typed copy; raise InstanceError on the first problem.

    Columns in ``required`` must be present (``battery_id`` always); the other standard
    columns are checked when present."""
    t = _check_frame(table, source, required)
    rows = _Rows(source, len(t))
    out = {"battery_id": _ids(t, rows)}
    if "chemistry" in t.columns:
        out["chemistry"] = _chemistry(t, rows)
    num, text_of = _numbers(t, rows)
    _check_bounds(num, text_of, rows)
    out.update(num)
    out["accelerated"] = _accelerated(t, rows)
    clean = pd.DataFrame({c: out[c] for c in FLEET_COLUMNS if c in out})
    for c in (c for c in t.columns if c not in FLEET_COLUMNS):
        clean[c] = t[c].to_numpy()
    return clean


class _Rows:
    """One-line errors ``fleet.csv: row N, column = value: reason`` (rows 1-based)."""

    def __init__(self, source, n: int):
        self.source = source if source is not None else "fleet"
        self.rows = np.arange(1, n + 1)

    def fail(self, i: int, column: str, value, reason: str):
        raise InstanceError.at(self.source, f"row {self.rows[i]}, {column}", value, reason)


def _check_frame(table, source, required) -> pd.DataFrame:
    """The table itself: a DataFrame, no duplicate or missing column, some rows within the limit."""
    where = source if source is not None else "fleet"
    if not isinstance(table, pd.DataFrame):
        raise ArgumentError(f"{where}: fleet table must be a pandas DataFrame, got {type(table).__name__}")
    cols = [str(c) for c in table.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise InstanceError(f"{where}: duplicate column {dup[0]!r}")
    required = ("battery_id", *(c for c in required if c != "battery_id"))
    missing = [c for c in required if c not in cols]
    if missing:
        raise InstanceError(f"{where}: missing column {missing[0]!r} (required: {', '.join(required)})")
    if len(table) == 0:
        raise InstanceError(f"{where}: no data rows")
    check_limit("batteries", len(table), "fleet rows", source=where)
    return table.reset_index(drop=True)


def _ids(t: pd.DataFrame, rows: _Rows) -> np.ndarray:
    """Non-empty, unique battery ids (stripped text)."""
    ids = t["battery_id"]
    ids_s = _text(ids)
    empty = np.flatnonzero(ids_s.to_numpy() == "")
    if empty.size:
        rows.fail(empty[0], "battery_id", ids.iloc[empty[0]], "must be a non-empty id")
    dup_mask = ids_s.duplicated(keep="first").to_numpy()
    if dup_mask.any():
        i = int(np.flatnonzero(dup_mask)[0])
        first = int(np.flatnonzero((ids_s == ids_s.iloc[i]).to_numpy())[0])
        rows.fail(i, "battery_id", ids_s.iloc[i], f"duplicate of row {rows.rows[first]}")
    return ids_s.astype(object).to_numpy()


def _chemistry(t: pd.DataFrame, rows: _Rows) -> np.ndarray:
    """Chemistry names of :data:`slopt.battery.chemistry.CHEMISTRIES` (case and spaces normalised)."""
    known = chemistry_names()
    chem = t["chemistry"]
    if not chem.isin(known).all():  # normalise only when needed (case, spaces)
        chem = _text(chem).str.upper().map({k.upper(): k for k in known}).fillna(_text(chem))
    bad = np.flatnonzero(~chem.isin(known).to_numpy())
    if bad.size:
        rows.fail(bad[0], "chemistry", t["chemistry"].iloc[bad[0]], f"must be one of {', '.join(known)}")
    return chem.astype(object).to_numpy()


def _numbers(t: pd.DataFrame, rows: _Rows) -> tuple[dict, dict]:
    """The numeric columns as finite floats, and the text of those read from CSV (for messages)."""
    num, text_of = {}, {}
    for c in (c for c in _NUMERIC if c in t.columns):
        col = t[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            text = _text(col)
            vals = pd.to_numeric(text.where(text != "", "nan"), errors="coerce").to_numpy(dtype=float)
            not_num = np.flatnonzero(np.isnan(vals) & ~text.str.lower().isin(["nan"]).to_numpy())
            if not_num.size:
                i = not_num[0]
                rows.fail(i, c, text.iloc[i], "must be a number" if text.iloc[i] else "missing value")
            text_of[c] = text.to_numpy()
        else:
            try:
                vals = col.to_numpy(dtype=float)
            except (TypeError, ValueError):
                vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        nonfinite = np.flatnonzero(~np.isfinite(vals))
        if nonfinite.size:
            i = nonfinite[0]
            rows.fail(i, c, text_of[c][i] if c in text_of else _Verbatim(f"{vals[i]:g}"), "must be a finite number")
        num[c] = vals
    return num, text_of


def _check_bounds(num: dict, text_of: dict, rows: _Rows) -> None:
    """Ranges of the numeric columns (see :func:`validate_fleet_table`)."""

    def shown(c: str, i: int):
        """The value as written in the file (CSV) or formatted (DataFrame)."""
        return _Verbatim(text_of[c][i] if c in text_of else f"{num[c][i]:g}")

    def check(c: str, ok, reason: str):
        if c not in num:
            return
        bad = np.flatnonzero(~ok(num[c]))
        if bad.size:
            i = bad[0]
            v = num[c][i]
            hint = ""
            if c == "soh" and 5 < v <= 100:
                hint = " (give SOH as a fraction, e.g. 0.78, not %)"
            rows.fail(i, c, shown(c, i), reason + hint)

    check("nominal_kwh", lambda v: v > 0, "must be > 0")
    check("soh", lambda v: (v > 0) & (v <= 1), "must be in (0, 1]")
    check("r0_mohm", lambda v: v > 0, "must be > 0")
    for c in ("r_growth", "cycle_count", "degradation_trend"):
        check(c, lambda v: v >= 0, "must be >= 0")
    for c, cap in _CAPS.items():
        check(c, lambda v: v <= cap, f"must be at most {cap:g} (no real module is larger; see validate_fleet_table)")
    for c in ("t_min_c", "t_max_c"):
        check(c, lambda v: (v >= -60) & (v <= 120), "must be in [-60, 120] degC")
    both = "t_min_c" in num and "t_max_c" in num
    bad = np.flatnonzero(num["t_max_c"] < num["t_min_c"]) if both else np.zeros(0, int)
    if bad.size:
        i = bad[0]
        rows.fail(i, "t_max_c", shown("t_max_c", i), f"must be >= t_min_c ({shown('t_min_c', i)})")


def _accelerated(t: pd.DataFrame, rows: _Rows) -> np.ndarray:
    """The accelerated-ager flag (true/false words; false when the column is absent)."""
    if "accelerated" not in t.columns:
        return np.zeros(len(t), dtype=bool)
    col = t["accelerated"]
    if col.dtype == bool:
        return col.to_numpy(dtype=bool)
    text = _text(col).str.lower()
    tru, fal = text.isin(_TRUE).to_numpy(), text.isin(_FALSE).to_numpy()
    bad = np.flatnonzero(~(tru | fal))
    if bad.size:
        rows.fail(bad[0], "accelerated", col.iloc[bad[0]], "must be true or false")
    return tru


def _text(col: pd.Series) -> pd.Series:
    """Stripped text of a column; missing values (None, NaN) become ''."""
    return col.where(col.notna(), "").astype(str).str.strip()


class _Verbatim:
    """A value printed as is (no quotes) in an InstanceError message."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text
