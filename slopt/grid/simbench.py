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

SimBench labels its steps with the German clock (CET/CEST); slopt relabels them in CET
standard time (UTC+1) so that every day has 96 steps: the data rows are unchanged, and
in summer a step labelled 13:00 by slopt is 14:00 on the local clock.
"""

from __future__ import annotations

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
    """The SimBench grid ``code`` converted with :meth:`Feeder.from_pandapower` (cached)."""
    key = (str(code).strip(), trafo_model)
    if key not in _FEEDERS:
        _FEEDERS[key] = Feeder.from_pandapower(simbench_net(key[0]), name=f"simbench:{key[0]}",
                                               trafo_model=trafo_model)
    return _FEEDERS[key]


def simbench_profile_table(code: str) -> ProfileTable:
    """All relative profiles of the grid (load, renewables, powerplants, storage) as one table."""
    code = str(code).strip()
    if code not in _TABLES:
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
        _TABLES[code] = ProfileTable(tuple(names), values, res, start, src)
    return _TABLES[code]


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
