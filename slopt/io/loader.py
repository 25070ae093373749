"""Load an instance file (TOML + CSV time series) into an :class:`~slopt.io.instance.Instance`.

Every problem with the input surfaces as one :class:`~slopt.errors.InstanceError` whose
message is one line naming the file, the field path and the offending value, e.g.
``instances/x.toml: storage.retired.soh = 1.7: must be in (0, 1]``. No other exception type
escapes :func:`load_instance`, whatever the file contents.

Steps: read and parse the TOML (:mod:`tomllib`), validate it against
:class:`slopt.io.schema.InstanceSpec`, load the feeder (a bundled name, a MATPOWER ``.m``
case or a slopt feeder ``.toml``, paths relative to the instance file), check the bus ids
against the feeder, read the profile CSV (or take the built-in profiles of
:mod:`slopt.grid.profiles`) and assemble the :class:`Instance`.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from slopt.errors import InstanceError
from slopt.grid.feeder import BUNDLED_FEEDERS, Feeder, load_feeder
from slopt.grid.profiles import load_profile, n_steps, pv_profile
from slopt.checks import as_path
from slopt.bounds import MAX_MULTIPLIER, MAX_POWER_KW
from slopt.io.csvsafe import check_header, check_rows, not_a_table, read_csv_text, row_error, strict_float
from slopt.battery.groups import GROUP_FIELDS, BatteryGroups
from slopt.io.instance import Candidates, DispatchData, Instance
from slopt.io.schema import InstanceSpec, format_validation_error
from slopt.limits import check_file_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_instance", "read_profiles_csv", "read_request_csv", "PROFILE_COLUMNS", "REQUEST_COLUMNS"]

#: Columns of a profile CSV: step start time (HH:MM), load and PV multipliers.
PROFILE_COLUMNS = ("time", "load", "pv")
#: Columns of a dispatch request CSV: step start time (HH:MM) and the requested power (kW, + charge).
REQUEST_COLUMNS = ("time", "p_request_kw")

_TIME = re.compile(r"^(?:\d{4}-\d{2}-\d{2}[ T])?(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def load_instance(path: str | Path) -> Instance:
    """Read, validate and assemble an instance file.

    Parameters
    ----------
    path : str or Path
        The TOML file; CSV and feeder paths inside it are relative to its directory.

    Returns
    -------
    Instance

    Raises
    ------
    InstanceError
        For any problem with the file or the files it names; the message is one line.

    Examples
    --------
    >>> inst = load_instance("instances/ieee33-hybrid.toml")      # doctest: +SKIP
    >>> inst.n_steps, inst.dt_h                                     # doctest: +SKIP
    (96, 0.25)
    """
    path = as_path(path, "load_instance")
    check_file_size(path, "instance file")
    data = _read_toml(path)
    try:
        spec = InstanceSpec.model_validate(data)
    except ValidationError as e:
        field, value, reason = format_validation_error(e, path)
        raise InstanceError.at(path, field, value, reason) from None
    return _assemble(spec, path)


# ----------------------------------------------------------------------------- TOML
def _read_toml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InstanceError(f"{path}: cannot read instance file ({e.strerror or type(e).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InstanceError(f"{path}: line {line}: invalid TOML: not UTF-8 text (byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[: m.start()].strip()
            where = f"line {m.group(1)}, column {m.group(2)}"
        elif "end of document" in msg:
            where = f"line {text.count(chr(10)) + 1}"
            msg = re.sub(r"\s*\(at end of document\)", "", msg)
        else:
            where = "line ?"
        raise InstanceError(f"{path}: {where}: invalid TOML: {msg}") from None
    except (RecursionError, ValueError) as e:  # pathological nesting, odd numbers
        raise InstanceError(f"{path}: invalid TOML: {type(e).__name__}: {e}") from None


# ----------------------------------------------------------------------------- assembly
def _assemble(spec: InstanceSpec, path: Path) -> Instance:
    feeder = _feeder(spec.feeder, path)
    prof = spec.profiles
    cand = spec.candidates

    pv_buses = np.asarray(prof.pv_buses, dtype=int)
    _check_buses(feeder, prof.pv_buses, "profiles.pv_buses", path)
    _check_buses(feeder, cand.buses, "candidates.buses", path)

    res = prof.resolution_min
    bus_profiles = None
    if prof.bus_file is not None or prof.source is not None:
        bus_profiles = _bus_profiles(spec, path, feeder)
        load_mult, pv_mult = np.ones(bus_profiles.n_steps), np.zeros(bus_profiles.n_steps)
        source = bus_profiles.source
    elif prof.file is None:
        load_mult, pv_mult = load_profile(res), pv_profile(res)
        source = f"built-in {res}-min"
    else:
        csv_path = path.parent / prof.file
        if not _is_file(csv_path):
            raise InstanceError.at(path, "profiles.file", prof.file, f"file not found ({csv_path})")
        load_mult, pv_mult = read_profiles_csv(csv_path, res)
        source = str(csv_path)

    if prof.pv_kw is None:
        pv_kw = np.zeros(0)
    elif isinstance(prof.pv_kw, list):
        pv_kw = np.asarray(prof.pv_kw, dtype=float)
    else:
        pv_kw = np.full(pv_buses.size, float(prof.pv_kw))

    n = len(cand.buses)
    max_sites = n if cand.max_sites is None else int(cand.max_sites)
    candidates = Candidates(
        bus_ids=np.asarray(cand.buses, dtype=int),
        e_max_kwh=np.asarray(cand.per_bus("e_max_kwh")),
        p_max_kw=np.asarray(cand.per_bus("p_max_kw")),
        e_min_kwh=np.asarray(cand.per_bus("e_min_kwh")),
        max_sites=max_sites,
        fixed=cand.mode == "fixed",
    )
    inst = Instance(
        name=spec.name,
        path=path,
        feeder=feeder,
        vmin_pu=float(spec.band.vmin_pu),
        vmax_pu=float(spec.band.vmax_pu),
        resolution_min=int(res),
        load_mult=load_mult,
        pv_mult=pv_mult,
        pv_bus_ids=pv_buses,
        pv_kw=pv_kw,
        technologies=spec.storage.technologies(),
        candidates=candidates,
        load_scale=float(spec.load_scale),
        description=spec.description,
        profile_source=source,
        extra={"feeder": spec.feeder},
        dispatch=_dispatch(spec, path, feeder),
        bus_profiles=bus_profiles,
    )
    _check_net_load(inst, path)
    return inst


def _check_net_load(inst: Instance, path: Path) -> None:
    """The net load of every bus and step (loads x ``load_scale`` x profile - PV) is at most
    :data:`~slopt.bounds.MAX_POWER_KW` in magnitude: larger values are no physical feeder
    and would become MILP bounds beyond what a solver can represent."""
    for arr, what in zip(inst.net_load_kw(), ("active", "reactive")):
        peak = float(np.max(np.abs(arr))) if arr.size else 0.0
        if not peak <= MAX_POWER_KW:
            t, k = np.unravel_index(int(np.argmax(np.abs(arr))), arr.shape) if np.isfinite(peak) else (0, 0)
            bus = int(inst.feeder.bus_ids[k])
            raise InstanceError.at(path, "load_scale", inst.load_scale,
                                   f"gives a net {what} load of {peak:.3g} kW at bus {bus}, step {t + 1}; "
                                   f"at most {MAX_POWER_KW:g} kW per bus is accepted (slopt.bounds)")


def _bus_profiles(spec: InstanceSpec, path: Path, feeder: Feeder):
    """``profiles.bus_file`` or ``profiles.source = "simbench"`` as :class:`BusProfiles` at
    ``resolution_min`` (block means if coarser than the data; finer is refused), with
    ``load_scale`` on consumption and ``gen_scale`` on generation."""
    from slopt.grid.bus_profiles import BusProfiles
    from slopt.grid.profiles import resample

    prof = spec.profiles
    if prof.source == "simbench":
        if not spec.feeder.strip().lower().startswith("simbench:"):
            raise InstanceError.at(path, "profiles.source", "simbench", 'needs a SimBench feeder (feeder = "simbench:<code>")')
        from slopt.grid.simbench import simbench_profiles

        bp = simbench_profiles(spec.feeder.strip()[len("simbench:"):], feeder)
    else:
        csv_path = path.parent / prof.bus_file
        if not _is_file(csv_path):
            raise InstanceError.at(path, "profiles.bus_file", prof.bus_file, f"file not found ({csv_path})")
        from slopt.io.profiles_csv import read_bus_profiles

        bp = read_bus_profiles(csv_path, feeder)
    res = int(prof.resolution_min)
    if res < bp.resolution_min:
        raise InstanceError.at(path, "profiles.resolution_min", res, f"finer than the data ({bp.resolution_min} min "
                               f"in {bp.source}); use {bp.resolution_min} or coarser")
    if res > bp.resolution_min:
        down = lambda a: None if a is None else np.ascontiguousarray(resample(a.T, bp.resolution_min, res).T)  # noqa: E731
        bp = BusProfiles(down(bp.p_kw), down(bp.q_kvar), res, bp.start, bp.source, down(bp.p_gen_kw),
                         down(bp.q_gen_kvar))
    gen = 1.0 if prof.gen_scale is None else float(prof.gen_scale)
    try:
        return bp.scaled(load=float(spec.load_scale), gen=gen)
    except InstanceError as e:
        raise InstanceError.at(path, "profiles.gen_scale", gen, str(e).split(": ")[-1]) from None


def _dispatch(spec: InstanceSpec, path: Path, feeder: Feeder) -> DispatchData | None:
    """The ``[dispatch]`` section: bus check, request CSV, scenarios (defaults from the schema)."""
    d = spec.dispatch
    if d is None:
        return None
    _check_buses(feeder, d.bus, "dispatch.bus", path)
    res = int(d.resolution_min if d.resolution_min is not None else spec.profiles.resolution_min)
    request = _request(path, d.request_file, "dispatch.request_file", res)
    scenarios, notes = {}, {}
    peak = float(np.max(np.abs(request))) if request.size else 0.0
    for i, sc in enumerate(d.scenarios):
        if sc.request_file is not None:
            scenarios[sc.name] = _request(path, sc.request_file, f"dispatch.scenarios[{i}].request_file", res)
            notes[sc.name] = sc.description or f"request file {sc.request_file}"
        elif sc.scale is not None:
            scenarios[sc.name] = request * float(sc.scale)
            notes[sc.name] = sc.description or f"request x {sc.scale:g}"
            if peak * float(sc.scale) > MAX_POWER_KW:
                raise InstanceError.at(path, f"dispatch.scenarios[{i}].scale", sc.scale,
                                       f"gives a request of {peak * float(sc.scale):.3g} kW; at most {MAX_POWER_KW:g} kW "
                                       "is accepted (slopt.bounds)")
        else:
            if peak <= 0.0:
                raise InstanceError.at(path, f"dispatch.scenarios[{i}].peak_kw", sc.peak_kw,
                                       "cannot scale an all-zero request to a peak")
            scenarios[sc.name] = request * (float(sc.peak_kw) / peak)
            notes[sc.name] = sc.description or f"request scaled to a {sc.peak_kw:g} kW peak"
    rows = spec.dispatch_groups()
    col = lambda k: np.array([r[k] for r in rows], dtype=float)
    return DispatchData(
        bus=int(d.bus), resolution_min=res, request_kw=request,
        request_source=str(path.parent / d.request_file),
        names=tuple(r["name"] for r in rows), technology=tuple(r["technology"] for r in rows),
        groups=BatteryGroups(**{f: col(f) for f in GROUP_FIELDS}),
        soc_initial=col("soc_initial"), scenarios=scenarios, scenario_notes=notes,
        priority_b=float(d.priority_b),
    )


def _request(path: Path, name: str, field: str, resolution_min: int) -> np.ndarray:
    csv_path = path.parent / name
    if not _is_file(csv_path):
        raise InstanceError.at(path, field, name, f"file not found ({csv_path})")
    return read_request_csv(csv_path, resolution_min)


def _feeder(value: str, path: Path) -> Feeder:
    """A bundled feeder by name, or a MATPOWER ``.m`` / slopt feeder ``.toml`` file."""
    key = value.strip().lower()
    try:
        if key in BUNDLED_FEEDERS:
            return load_feeder(key)
        if key.startswith("simbench:"):
            from slopt.grid.simbench import simbench_feeder

            return simbench_feeder(value.strip()[len("simbench:"):])
        fpath = path.parent / value
        suffix = fpath.suffix.lower()
        if suffix not in (".m", ".toml"):
            raise InstanceError.at(
                path, "feeder", value,
                f"unknown feeder; choose one of {', '.join(BUNDLED_FEEDERS)}, simbench:<code>, or give a path to a "
                "MATPOWER .m or slopt feeder .toml file")
        if not _is_file(fpath):
            raise InstanceError.at(path, "feeder", value, f"file not found ({fpath})")
        if suffix == ".m":
            return Feeder.from_matpower(fpath)
        from slopt.io.feeder_file import read_feeder_toml

        return read_feeder_toml(fpath)
    except InstanceError as e:
        msg = str(e)
        if msg.startswith(f"{path}: "):
            raise
        raise InstanceError.at(path, "feeder", value, msg) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InstanceError.at(path, "feeder", value, f"cannot read feeder ({type(e).__name__}: {e})") from None


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):  # name too long, embedded NUL, ...
        return False


def _check_buses(feeder: Feeder, buses: list[int] | int, field: str, path: Path) -> None:
    """Every bus number exists in the feeder; a scalar ``buses`` is reported without an index."""
    known = set(int(b) for b in feeder.bus_ids)
    scalar = isinstance(buses, int)
    for i, b in enumerate([buses] if scalar else buses):
        if b not in known:
            lo, hi = int(feeder.bus_ids.min()), int(feeder.bus_ids.max())
            raise InstanceError.at(path, field if scalar else f"{field}[{i}]", b,
                                   f"no such bus in feeder {feeder.name} (buses {lo}..{hi}, {feeder.n_bus} in all)")


# ----------------------------------------------------------------------------- CSV
def read_profiles_csv(csv_path: str | Path, resolution_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a profile CSV with columns ``time,load,pv`` (extra columns are ignored).

    There must be exactly ``24 * 60 / resolution_min`` data rows; ``time`` is the start of
    each step (``HH:MM``, optionally with seconds or a leading date) and must match the
    resolution; ``load`` and ``pv`` are finite multipliers in ``[0, 1000]``
    (:data:`slopt.bounds.MAX_MULTIPLIER`).

    Returns
    -------
    load_mult, pv_mult : ndarray, shape (T,)

    Raises
    ------
    InstanceError
        Naming the CSV file, the column and the row.
    """
    out = _read_series_csv(csv_path, resolution_min, PROFILE_COLUMNS, nonnegative=True)
    return out["load"], out["pv"]


def read_request_csv(csv_path: str | Path, resolution_min: int) -> np.ndarray:
    """Read a dispatch request CSV with columns ``time,p_request_kw`` (extra columns are ignored).

    Same row and time rules as :func:`read_profiles_csv`; ``p_request_kw`` is the power asked
    of the storage unit, finite, positive when charging, at most
    :data:`slopt.bounds.MAX_POWER_KW` in magnitude.

    Returns
    -------
    ndarray, shape (T,)

    Raises
    ------
    InstanceError
        Naming the CSV file, the column and the row.
    """
    return _read_series_csv(csv_path, resolution_min, REQUEST_COLUMNS, nonnegative=False)["p_request_kw"]


def _read_series_csv(csv_path: str | Path, resolution_min: int, columns: tuple, nonnegative: bool) -> dict:
    """Columns ``columns[1:]`` of a 24-h CSV whose first column ``columns[0]`` is the step start.

    The file goes through :mod:`slopt.io.csvsafe` (size, UTF-8, no binary, one row per line,
    equal row lengths, strict ASCII numbers); errors are ``file: row N, column = value: reason``
    and never show the file's own text.
    """
    csv_path = as_path(csv_path, "read_profiles_csv" if columns == PROFILE_COLUMNS else "read_request_csv", "csv_path")
    want = n_steps(resolution_min)
    text = read_csv_text(csv_path, columns)
    check_rows(text, csv_path, columns, required=columns)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        raise not_a_table(csv_path, columns, "malformed CSV") from None
    lines = [(k + 1, r) for k, r in enumerate(rows) if any(c.strip() for c in r)]
    if not lines:
        raise not_a_table(csv_path, columns, "the file is empty")
    _, header = lines[0]
    cols = check_header(header, csv_path, columns)
    data = lines[1:]
    if len(data) != want:
        what = "short" if len(data) < want else "too long"
        raise InstanceError.at(csv_path, "rows", len(data),
                               f"file is {what}: expected {want} rows (24 h at {resolution_min} min)")
    time_col, value_cols = columns[0], columns[1:]
    out = {c: np.empty(want) for c in value_cols}
    cap = MAX_MULTIPLIER if nonnegative else MAX_POWER_KW
    rule = f"a finite number in [0, {cap:g}]" if nonnegative else f"a finite number in [-{cap:g}, {cap:g}]"
    for r, (line, row) in enumerate(data):
        t = row[cols[time_col]].strip()
        m = _TIME.match(t) if len(t) <= 40 else None
        minutes = int(m.group(1)) * 60 + int(m.group(2)) if m else -1
        if not m or (m.group(3) or "00") != "00" or minutes != r * resolution_min:
            expect = r * resolution_min
            raise row_error(csv_path, r + 1, time_col, t,
                            f"expected {expect // 60:02d}:{expect % 60:02d} (step start at {resolution_min}-min "
                            f"resolution, line {line})")
        for c in value_cols:
            cell = row[cols[c]].strip()
            x = strict_float(cell)
            if x is None or not math.isfinite(x) or (nonnegative and x < 0) or abs(x) > cap:
                raise row_error(csv_path, r + 1, c, cell, f"must be {rule} (line {line})")
            out[c][r] = x
    return out
