"""An independent generator of BMS histories for the passport tests, and the mess a field export has.

Deliberately simpler than, and separate from, :func:`slopt.fleet.passport.synthesize_history`:
constant-current cycles (rest full, discharge at ``c_dis`` by ``dod``, rest, charge back at
``c_chg``), a linear open-circuit voltage and a purely ohmic cell, so the truth is exact by
hand:

- capacity ``capacity_ah`` and resistance ``r_mohm`` (``V = OCV(SOC) + I*R``, ``I > 0`` charging);
- equivalent full cycles ``n_days * cycles_per_day * dod`` (the sum of the cycle depths);
- the time-mean temperature ``temp_c``.

The corruptions (``corrupt_*``) each return a new frame and document what a correct reader must do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Truth:
    capacity_ah: float
    r_mohm: float
    efc: float
    n_cycles: int
    temp_c: float


def make_history(n_days=20, capacity_ah=80.0, r_mohm=40.0, dt_s=60, dod=0.8, cycles_per_day=1, c_dis=0.5,
                 c_chg=0.4, soc_top=0.95, temp_c=25.0, v_cells=16, battery_id="G-1", seed=0):
    """A clean history (SOC exact to float precision, no noise) and its :class:`Truth`."""
    slot = 86400 // cycles_per_day
    n_slot = slot // dt_s
    t_dis = int(round(dod / c_dis * 3600 / dt_s))
    t_chg = int(round(dod / c_chg * 3600 / dt_s))
    rest = (n_slot - t_dis - t_chg) // 2
    assert rest > 2, "cycle does not fit"
    i_slot = np.zeros(n_slot)
    i_slot[rest:rest + t_dis] = -c_dis * capacity_ah
    i_slot[2 * rest + t_dis:2 * rest + t_dis + t_chg] = c_chg * capacity_ah
    # make every charge return exactly to the top: rescale the charge current
    i_slot[2 * rest + t_dis:2 * rest + t_dis + t_chg] *= (c_dis * t_dis) / (c_chg * t_chg)
    n_slots = n_days * cycles_per_day
    current = np.tile(i_slot, n_slots)
    # SOC at sample k from the charge moved by samples 0..k-1 (zero-order hold of the current)
    soc = soc_top + np.concatenate(([0.0], np.cumsum(current[:-1]) * dt_s / 3600.0 / capacity_ah))
    depth = c_dis * t_dis * dt_s / 3600.0
    ocv = v_cells * (3.0 + 0.4 * soc)
    volt = ocv + current * r_mohm / 1000.0
    t = pd.Timestamp("2024-01-01T00:00:00Z") + pd.to_timedelta(np.arange(current.size) * dt_s, unit="s")
    df = pd.DataFrame({"battery_id": battery_id, "time": t, "voltage_v": volt, "current_a": current,
                       "temperature_c": np.full(current.size, temp_c), "soc": soc})
    return df, Truth(capacity_ah, r_mohm, n_slots * depth, n_slots, temp_c)


def corrupt_soc_noise(df, sigma, seed=0, quantum=1e-4):
    """White SOC noise of ``sigma`` and the BMS's quantisation (SOC kept in [0, 1])."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    noisy = out["soc"].to_numpy() + rng.normal(0.0, sigma, len(out))
    out["soc"] = np.clip(np.round(noisy / quantum) * quantum, 0.0, 1.0)
    return out


def corrupt_invert_sign(df):
    out = df.copy()
    out["current_a"] = -out["current_a"]
    return out


def corrupt_spike(df, at, value=0.0):
    out = df.copy()
    out.loc[at, "soc"] = value
    return out


def corrupt_gap(df, start, n):
    """Drop ``n`` samples from ``start``: the logger was off (the battery was at rest)."""
    return df.drop(index=range(start, start + n)).reset_index(drop=True)


def corrupt_duplicates(df, rows):
    return pd.concat([df, df.iloc[list(rows)]]).sort_index(kind="stable").reset_index(drop=True)


def corrupt_shuffle(df, seed=0):
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def to_csv(df, path, decimal=".", sep=",", iso_time=True):
    """Write as a BMS export would: ISO times (or Unix seconds), 6 decimals."""
    out = df.copy()
    if iso_time:
        out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        out["time"] = (out["time"] - pd.Timestamp("1970-01-01T00:00:00Z")) // pd.Timedelta(seconds=1)
    out.to_csv(path, index=False, decimal=decimal, sep=sep, float_format="%.6f")
    return path
