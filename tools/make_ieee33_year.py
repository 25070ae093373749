"""Write ``instances/profiles/ieee33_year_60min.csv``: a year of per-bus profiles for ieee33.

Source: the SimBench profile set of grid 1-LV-rural1--0-sw (year 2016, 15 min, CET standard
time; SimBench: Meinecke et al., "SimBench - A Benchmark Dataset of Electric Power Systems to
Compare Innovative Solutions Based on Power Flow Analysis", Energies 13 (2020) 3290), read with
``slopt.grid.simbench`` (needs the ``slopt[simbench]`` extra):

* every load bus of the MATPOWER case33bw takes one SimBench load profile, in turn H0-A, H0-B,
  H0-C (households) and L1-A, L2-A (agricultural), by bus number; the profile's active and
  reactive series are scaled so that their yearly maxima equal the bus's nominal kW and kvar of
  case33bw, then all loads by one factor so that the feeder's coincident peak of the year
  equals the sum of the MATPOWER loads (3,715 kW), the peak the MATPOWER case describes;
* PV on the 13 buses of ``instances/ieee33-hybrid.toml``, 150 kW each, times SimBench's PV5
  profile normalised to a maximum of 1;
* hourly means of the 15-minute data (8,784 hours: 2016 is a leap year).

The instance ``instances/ieee33-year.toml`` scales the loads with ``load_scale``.

    python tools/make_ieee33_year.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import slopt
from slopt.grid.simbench import simbench_profile_table

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "instances" / "profiles" / "ieee33_year_60min.csv"
LOADS = ("H0-A", "H0-B", "H0-C", "L1-A", "L2-A")
PV_BUSES = (7, 10, 13, 15, 17, 18, 21, 24, 25, 28, 30, 31, 33)
PV_KW = 150.0


def main() -> None:
    tab = simbench_profile_table("1-LV-rural1--0-sw")
    col = {n: tab.values[:, i] for i, n in enumerate(tab.names)}
    hourly = lambda x: x.reshape(-1, 4).mean(axis=1)
    f = slopt.load_feeder("ieee33")
    T = tab.values.shape[0] // 4
    data = {}
    q = {}
    loaded = [i for i in range(f.n_bus) if f.p_load_kw[i] > 0]
    for n, i in enumerate(sorted(loaded, key=lambda i: int(f.bus_ids[i]))):
        name = LOADS[n % len(LOADS)]
        p = hourly(col[f"{name}_pload"])
        qq = hourly(col[f"{name}_qload"])
        bus = int(f.bus_ids[i])
        data[bus] = p / p.max() * f.p_load_kw[i]
        q[bus] = qq / np.abs(qq).max() * f.q_load_kvar[i] if np.abs(qq).max() > 0 else np.zeros(T)
    # the feeder's coincident peak equals the sum of the MATPOWER loads (3,715 kW, 2,300 kvar)
    peak = np.sum([data[b] for b in data], axis=0).max()
    k = f.p_load_kw.sum() / peak
    for b in data:
        data[b] *= k
        q[b] *= k
    pv = hourly(col["PV5"])
    pv = pv / pv.max()
    for bus in PV_BUSES:
        data[bus] = data.get(bus, np.zeros(T)) - PV_KW * pv
    times = pd.date_range("2016-01-01", periods=T, freq="h").strftime("%Y-%m-%d %H:%M")
    df = pd.DataFrame({"time": times})
    for bus in sorted(data):
        df[str(bus)] = np.round(data[bus], 2)
    for bus in sorted(q):
        df[f"q:{bus}"] = np.round(q[bus], 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({T} hours, {len(data)} buses, {OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
