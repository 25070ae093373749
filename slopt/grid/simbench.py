"""SimBench grids and their year of 15-minute profiles (optional extra ``slopt[simbench]``).

SimBench (Meinecke et al., "SimBench - A Benchmark Dataset of Electric Power Systems to
Compare Innovative Solutions Based on Power Flow Analysis", Energies 13(12), 2020) ships
German LV/MV/HV grids as pandapower nets with one year (2016, 366 days) of 15-minute
profiles per load type, PV/wind plant and storage. ``simbench`` and ``pandapower`` are
imported lazily, only here.

* :func:`simbench_net` - the pandapower net (cached per process; do not modify it, copy it);
* :func:`simbench_feeder` - the net as a :class:`~slopt.grid.feeder.Feeder` (cached);
* :func:`simbench_profiles` - :class:`~slopt.grid.bus_profiles.BusProfiles`: each load's
  and generator's own profile times its rated power, summed per bus (SimBench's
  ``get_absolute_values`` convention: loads ``p_mw * <profile>_pload`` and
  ``q_mvar * <profile>_qload``, static generators and storage ``p_mw * <profile>``).

Disk cache: reading a net with ``simbench.get_simbench_net`` takes seconds (the package
parses its whole data set). The converted feeder and the profile table are therefore cached
as one ``.npz`` per grid in ``$SLOPT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/slopt`` or
``~/.cache/slopt``), keyed by the grid code, the transformer model, the simbench version and
a hash of slopt's converter source, so a changed converter never reads a stale file. An
unwritable cache directory only disables the cache.

SimBench labels its steps with the German clock (CET/CEST); slopt relabels them in CET
standard time (UTC+1) so that every day has 96 steps: the data rows are unchanged, and
in summer a step labelled 13:00 by slopt is 14:00 on the local clock.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from slopt.errors import InstanceError
from slopt.grid.bus_profiles import BusProfiles, ProfileTable, check_time_axis, check_values, from_profile_table
from slopt.grid.feeder import Feeder

__all__ = ["simbench_net", "simbench_feeder", "simbench_profiles", "simbench_profile_table"]

_NETS: dict = {}
_FEEDERS: dict = {}
_TABLES: dict = {}


def _import_simbench():
    try:
        import simbench
    except ImportError:
        raise InstanceError.at(None, "feeder", "simbench", "the simbench package is not installed; "
                               "install the extra: pip install 'slopt[simbench]'") from None
    return simbench


def simbench_net(code: str):
    """The SimBench net ``code`` (e.g. ``"1-LV-rural1--0-sw"``), read once per process.

    Raises
    ------
    InstanceError
        If simbench is not installed or the code is unknown.
    """
    code = str(code).strip()
    if code not in _NETS:
        sb = _import_simbench()
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _NETS[code] = sb.get_simbench_net(code)
        except Exception as e:  # simbench raises KeyError/ValueError/... for bad codes
            raise InstanceError.at(None, "feeder", f"simbench:{code}",
                                   f"not a SimBench grid code ({type(e).__name__}: {e}); "
                                   "e.g. simbench:1-LV-rural1--0-sw or simbench:1-MV-rural--0-sw") from None
    return _NETS[code]


def simbench_feeder(code: str, *, trafo_model: str = "t") -> Feeder:
    """The SimBench grid ``code`` converted with :meth:`Feeder.from_pandapower` (cached in
    memory and on disk)."""
    key = (str(code).strip(), trafo_model)
    if key not in _FEEDERS:
        _load_or_build(*key)
    return _FEEDERS[key]


def simbench_profile_table(code: str) -> ProfileTable:
    """All relative profiles of the grid (load, renewables, powerplants, storage) as one table."""
    code = str(code).strip()
    if code not in _TABLES:
        _load_or_build(code, "t")
    return _TABLES[code]


def _load_or_build(code: str, trafo_model: str) -> None:
    """Fill the memory caches for ``code`` from the disk cache, or from the simbench package."""
    path = _cache_path(code, trafo_model)
    if path is not None and path.is_file():
        try:
            feeder, table = _read_cache(path)
        except (OSError, ValueError, KeyError):  # corrupt or foreign file: rebuild it
            feeder = table = None
        if feeder is not None:
            _FEEDERS[(code, trafo_model)] = feeder
            _TABLES.setdefault(code, table)
            return
    feeder = Feeder.from_pandapower(simbench_net(code), name=f"simbench:{code}", trafo_model=trafo_model)
    table = _TABLES[code] if code in _TABLES else _build_table(code)
    _FEEDERS[(code, trafo_model)] = feeder
    _TABLES[code] = table
    if path is not None:
        _write_cache(path, feeder, table)


_CACHED_SOURCES = ("pandapower_net.py", "elements.py", "feeder.py", "simbench.py", "bus_profiles.py")


def _cache_path(code: str, trafo_model: str) -> Path | None:
    root = os.environ.get("SLOPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "slopt")
    from importlib.metadata import PackageNotFoundError, version

    try:  # the version without importing simbench (which imports pandapower: ~1 s)
        h = hashlib.sha1(version("simbench").encode())
        here = Path(__file__).resolve().parent
        for name in _CACHED_SOURCES:
            h.update((here / name).read_bytes())
    except (PackageNotFoundError, OSError):
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in code)
    return Path(root) / "simbench" / f"{safe}-{trafo_model}-{h.hexdigest()[:12]}.npz"


def _write_cache(path: Path, f: Feeder, t: ProfileTable) -> None:
    e = f.elements
    arrays = dict(
        name=np.array(f.name), bus_ids=f.bus_ids, parent=f.parent, r_pu=f.r_pu, x_pu=f.x_pu, p_load_kw=f.p_load_kw,
        q_load_kvar=f.q_load_kvar, base_kv=np.array(f.base_kv), base_mva=np.array(f.base_mva),
        v_root_pu=np.array(f.v_root_pu), source=np.array(f.source), g_shunt_pu=f.g_shunt_pu,
        b_shunt_pu=f.b_shunt_pu, vn_kv=f.vn_kv, e_kind=e.kind, e_name=e.name, e_index=e.index, e_bus_id=e.bus_id,
        e_p_kw=e.p_kw, e_q_kvar=e.q_kvar, e_profile=e.profile, t_names=np.array(t.names), t_values=t.values,
        t_res=np.array(t.resolution_min), t_start=np.array(t.start), t_source=np.array(t.source))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    except OSError:
        pass  # read-only home, full disk...: no cache


def _read_cache(path: Path) -> tuple[Feeder, ProfileTable]:
    from slopt.grid.elements import GridElements

    with np.load(path, allow_pickle=False) as z:
        e = GridElements(kind=z["e_kind"], name=z["e_name"], index=z["e_index"], bus_id=z["e_bus_id"],
                         p_kw=z["e_p_kw"], q_kvar=z["e_q_kvar"], profile=z["e_profile"])
        f = Feeder(name=str(z["name"]), bus_ids=z["bus_ids"], parent=z["parent"], r_pu=z["r_pu"], x_pu=z["x_pu"],
                   p_load_kw=z["p_load_kw"], q_load_kvar=z["q_load_kvar"], base_kv=float(z["base_kv"]),
                   base_mva=float(z["base_mva"]), v_root_pu=float(z["v_root_pu"]), source=str(z["source"]),
                   g_shunt_pu=z["g_shunt_pu"], b_shunt_pu=z["b_shunt_pu"], vn_kv=z["vn_kv"], elements=e)
        t = ProfileTable(tuple(str(n) for n in z["t_names"]), np.ascontiguousarray(z["t_values"]), int(z["t_res"]),
                         z["t_start"][()], str(z["t_source"]))
    return f, t


def _build_table(code: str) -> ProfileTable:
    """Read the net's relative profiles into one table on a checked CET time axis."""
    net = simbench_net(code)
    src = f"simbench:{code} profiles"
    names, cols, time = [], [], None
    for key in ("load", "renewables", "powerplants", "storage"):
        df = net.profiles.get(key) if hasattr(net, "profiles") else None
        if df is None or len(df) == 0:
            continue
        if time is None:
            time = df["time"].to_numpy()
        for c in df.columns:
            if c != "time" and c not in names:
                names.append(str(c))
                cols.append(df[c].to_numpy(dtype=float))
    if time is None:
        raise InstanceError.at(None, "profiles", "simbench", f"grid {code} has no profiles")
    import pandas as pd

    t = _standard_time(pd.Series(time), src)
    res, start = check_time_axis(t, src)
    values = np.ascontiguousarray(np.stack(cols, axis=1))
    check_values(values, names, src)
    return ProfileTable(tuple(names), values, res, start, src)


def _standard_time(labels, src) -> np.ndarray:
    """SimBench's German local clock labels (CET/CEST: 02:00-02:45 missing in March and
    repeated in October) as naive CET standard time (UTC+1), a uniform axis."""
    import pandas as pd

    t = pd.to_datetime(labels, format="%d.%m.%Y %H:%M", errors="coerce")
    try:
        t = t.dt.tz_localize("Europe/Berlin", ambiguous="infer").dt.tz_convert("Etc/GMT-1").dt.tz_localize(None)
    except Exception as e:  # not a clean local-time series: report it through check_time_axis
        raise InstanceError.at(src, "time", str(labels.iloc[0]), f"cannot read SimBench local times ({e})") from None
    return t.to_numpy()


def simbench_profiles(code: str, feeder: Feeder | None = None) -> BusProfiles:
    """Per-bus net load of the SimBench grid over its year (kW/kvar, shape (T, n_bus)).

    Parameters
    ----------
    code : str
        SimBench grid code.
    feeder : Feeder, optional
        The converted grid (default :func:`simbench_feeder`); its elements carry the
        profile names.
    """
    f = simbench_feeder(code) if feeder is None else feeder
    return from_profile_table(f, simbench_profile_table(code))
