"""Synthetic BMS histories with known capacity, resistance and cycling, for testing the estimators.

:func:`synthesize_history` writes the history a BMS would log (time, voltage, current,
temperature, SOC) of a module whose capacity, resistance and cycle depths are known by
construction (``attrs["truth"]``). The physics is that of the digital twin: the module's
open-circuit voltage :meth:`slopt.battery.chemistry.Chemistry.ocv`, the RC branch
:func:`slopt.battery.circuit.rc_polarisation_v` and the lumped thermal lag
:func:`slopt.battery.circuit.temperature_rise_k`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from slopt.battery.chemistry import get_chemistry
from slopt.battery.circuit import rc_polarisation_v, temperature_rise_k

__all__ = ["SynthProfile", "synthesize_history"]


@dataclass(frozen=True)
class SynthProfile:
    """Duty cycle and physics of :func:`synthesize_history`.

    Each day holds ``cycles_per_day`` slots. A slot starts fully charged (``soc_max_pu``),
    rests, discharges by ``dod_pu +- dod_jitter_pu`` in piecewise-constant current levels
    (uniform in 0.2-``discharge_c_max`` C, each held 10-40 min), rests 30 min, charges back at
    ``charge_c`` with a half-rate step for the last 5 % of capacity, and rests until the slot
    ends. Capacity fades linearly by ``fade_pu`` and resistance grows linearly by
    ``r_growth_pu`` over the history (constant within a slot).

    Physics: terminal voltage ``V = OCV(SOC) + I*R0 + v1`` with the OCV of ``chemistry``
    (:data:`slopt.battery.chemistry.CHEMISTRIES`) scaled to ``nominal_v`` and one RC branch
    (``R1 = 0.05*R0``, 600 s); temperature = daily sinusoidal ambient (``ambient_c +-
    ambient_swing_c``, peak at 15:00) plus a first-order (30 min) Joule rise of
    ``heating_k_at_1c`` at 1 C. With ``noise``: current noise 0.2 % of 1 C, voltage 5 mV,
    temperature 0.1 degC (logged to 0.1 degC), SOC logged to 1e-4.
    """

    cycles_per_day: int = 1
    soc_max_pu: float = 0.95
    dod_pu: float = 0.8
    dod_jitter_pu: float = 0.05
    discharge_c_max: float = 1.0
    charge_c: float = 0.5
    nominal_v: float = 51.2
    ambient_c: float = 25.0
    ambient_swing_c: float = 6.0
    heating_k_at_1c: float = 8.0
    fade_pu: float = 0.0
    r_growth_pu: float = 0.0
    noise: bool = True
    chemistry: str = "LFP"

    def __post_init__(self) -> None:
        if int(self.cycles_per_day) != self.cycles_per_day or self.cycles_per_day < 1:
            raise ValueError("SynthProfile.cycles_per_day must be an integer >= 1")
        if not 0.0 < self.soc_max_pu <= 1.0:
            raise ValueError("SynthProfile.soc_max_pu must be in (0, 1]")
        if not 0.0 < self.dod_pu - self.dod_jitter_pu and self.dod_pu + self.dod_jitter_pu <= self.soc_max_pu:
            raise ValueError("SynthProfile: dod_pu +- dod_jitter_pu must lie in (0, soc_max_pu]")
        if not 0.0 <= self.fade_pu < 1.0:
            raise ValueError("SynthProfile.fade_pu must be in [0, 1)")
        if self.discharge_c_max <= 0.2 or self.charge_c <= 0.0:
            raise ValueError("SynthProfile: discharge_c_max must exceed 0.2 and charge_c must be > 0")
        get_chemistry(self.chemistry)


R1_SHARE = 0.05
"""RC-branch resistance as a share of R0 in the synthetic module."""
TAU1_S = 600.0
"""RC-branch time constant of the synthetic module (s)."""
TAU_TH_S = 1800.0
"""Thermal time constant of the synthetic module (s)."""


@dataclass
class _Segments:
    """Piecewise-constant current: per segment the current (A, + charge), its samples, R0 (ohm) and
    the capacity (Ah); and per cycle (start s, depth, capacity Ah, R0 mOhm)."""

    current_a: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    r0_ohm: list = field(default_factory=list)
    capacity_ah: list = field(default_factory=list)
    cycles: list = field(default_factory=list)

    def add(self, current_a: float, samples: int, r0_ohm: float, capacity_ah: float) -> None:
        self.current_a.append(current_a)
        self.samples.append(samples)
        self.r0_ohm.append(r0_ohm)
        self.capacity_ah.append(capacity_ah)


def _leg(seg: _Segments, q_ah: float, levels_a, n_levels, cap: float, r: float, res: float) -> None:
    """Append segments moving ``q_ah`` with current levels (A, signed); exact last sample."""
    rem = q_ah
    for lvl, nl in zip(levels_a, n_levels):
        dq = abs(lvl) * nl * res / 3600.0
        if dq < rem - 1e-12:
            seg.add(lvl, nl, r, cap)
            rem -= dq
            continue
        full = int(np.floor(rem / (abs(lvl) * res / 3600.0) + 1e-12))
        if full:
            seg.add(lvl, full, r, cap)
            rem -= abs(lvl) * full * res / 3600.0
        if rem > 1e-9:
            seg.add(np.sign(lvl) * rem * 3600.0 / res, 1, r, cap)
        return
    raise AssertionError("current levels exhausted")  # pragma: no cover - levels are ample


def _slot(seg: _Segments, prof: SynthProfile, rng, k: int, slot_n: int, res: float, cap: float, r: float) -> None:
    """One slot: rest, discharge by the jittered depth, rest 30 min, charge back (tapered), rest."""
    first = len(seg.samples)
    dod = prof.dod_pu + rng.uniform(-prof.dod_jitter_pu, prof.dod_jitter_pu)
    n_rest0 = int(rng.integers(1, max(2, slot_n // 8)))
    seg.add(0.0, n_rest0, r, cap)
    lv = -rng.uniform(0.2, prof.discharge_c_max, 64) * cap
    nl = np.maximum(1, np.round(rng.uniform(10, 40, 64) * 60.0 / res)).astype(int)
    _leg(seg, dod * cap, lv, nl, cap, r, res)
    seg.add(0.0, max(1, int(round(1800 / res))), r, cap)
    q_taper = min(0.05 * cap, dod * cap)
    _leg(seg, dod * cap - q_taper, np.full(1, prof.charge_c * cap), np.full(1, 10 ** 9), cap, r, res)
    _leg(seg, q_taper, np.full(1, 0.5 * prof.charge_c * cap), np.full(1, 10 ** 9), cap, r, res)
    used = sum(seg.samples[first:])
    if used >= slot_n:
        raise ValueError("synthesize_history: a cycle does not fit in its slot; lower cycles_per_day or "
                         "dod_pu, or raise the C-rates")
    seg.add(0.0, slot_n - used, r, cap)
    seg.cycles.append((k * slot_n * res + n_rest0 * res, dod, cap, r * 1000.0))


def _start_of_step(y_end: np.ndarray) -> np.ndarray:
    """The state at each sample time (before the sample's step) from the states at the step ends."""
    return np.concatenate(([0.0], y_end[:-1]))


def _signals(seg: _Segments, prof: SynthProfile, res: float, c0: float, r0: float):
    """True current, SOC, voltage and temperature at every sample."""
    n_k = np.array(seg.samples, dtype=np.int64)
    i_true = np.repeat(np.array(seg.current_a), n_k)
    cap_k = np.repeat(np.array(seg.capacity_ah), n_k)
    r_k = np.repeat(np.array(seg.r0_ohm), n_k)
    soc = prof.soc_max_pu + np.concatenate(([0.0], np.cumsum(i_true * res / (3600.0 * cap_k))[:-1]))
    soc = np.clip(soc, 0.0, 1.0)
    t = np.arange(i_true.size) * res
    v1 = _start_of_step(rc_polarisation_v(i_true, res, R1_SHARE * r_k, TAU1_S))
    rise = _start_of_step(temperature_rise_k(prof.heating_k_at_1c * (i_true / c0) ** 2 * (r_k / r0), res, TAU_TH_S))
    hour = t / 3600.0 % 24.0
    temp = prof.ambient_c + prof.ambient_swing_c * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + rise
    volt = get_chemistry(prof.chemistry).ocv(soc, prof.nominal_v) + i_true * r_k + v1
    return t, i_true, soc, volt, temp


def synthesize_history(n_days: int, true_capacity_ah: float, true_r_mohm: float, seed,
                       resolution_s: int = 60, *, battery_id: str = "B001",
                       start: str = "2024-01-01T00:00:00Z", profile: SynthProfile | None = None) -> pd.DataFrame:
    """A synthetic BMS history with known capacity, resistance and cycling.

    Parameters
    ----------
    n_days : int
        Length (days), >= 1.
    true_capacity_ah : float
        Capacity at the start of the history (Ah); fades by ``profile.fade_pu`` linearly.
    true_r_mohm : float
        Ohmic resistance R0 at the start (mOhm); grows by ``profile.r_growth_pu`` linearly.
    seed : int or numpy.random.Generator
        Randomness (current levels, durations, depths, noise).
    resolution_s : int
        Logging interval (s); must divide a slot (86400 / cycles_per_day).
    battery_id, start : str
        Identifier and ISO start time.
    profile : SynthProfile, optional
        Duty cycle and physics.

    Returns
    -------
    pandas.DataFrame
        Columns ``battery_id, time (datetime64[ns, UTC]), voltage_v, current_a (+ charge),
        temperature_c, soc``. ``attrs["truth"]`` holds ``capacity_ah`` and ``r_mohm`` (start
        values), ``n_cycles``, ``efc`` (sum of the cycle depths: the equivalent full cycles
        with k = 1), ``fade_pu``, ``r_growth_pu``, ``nominal_v``; ``attrs["cycles"]`` is a table
        per cycle with ``start`` (time), ``dod``, ``capacity_ah``, ``r_mohm``. The capacity at
        fraction ``f`` of the history is ``capacity_ah * (1 - fade_pu * f)`` (constant within a
        slot, evaluated at the slot middle).

    Raises
    ------
    ValueError
        On bad arguments, or if a cycle does not fit in its slot.
    """
    prof = profile or SynthProfile()
    if int(n_days) != n_days or n_days < 1:
        raise ValueError(f"synthesize_history: n_days must be an integer >= 1, got {n_days}")
    if not (true_capacity_ah > 0 and true_r_mohm > 0):
        raise ValueError("synthesize_history: true_capacity_ah and true_r_mohm must be > 0")
    slot_s = 86400 // prof.cycles_per_day
    if int(resolution_s) != resolution_s or resolution_s <= 0 or slot_s % resolution_s or 86400 % prof.cycles_per_day:
        raise ValueError(f"synthesize_history: resolution_s={resolution_s} must divide the slot of {slot_s} s")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    res = float(resolution_s)
    slot_n = slot_s // int(resolution_s)
    n_slots = int(n_days) * prof.cycles_per_day
    c0, r0 = float(true_capacity_ah), float(true_r_mohm) / 1000.0
    seg = _Segments()
    for k in range(n_slots):
        f = (k + 0.5) / n_slots
        _slot(seg, prof, rng, k, slot_n, res, c0 * (1.0 - prof.fade_pu * f), r0 * (1.0 + prof.r_growth_pu * f))
    t, i_true, soc, volt, temp = _signals(seg, prof, res, c0, r0)
    return _frame(seg, prof, rng, battery_id, start, t, i_true, soc, volt, temp, c0, float(true_r_mohm), n_slots)


def _frame(seg: _Segments, prof: SynthProfile, rng, battery_id: str, start: str, t, i_true, soc, volt, temp,
           c0: float, r_mohm: float, n_slots: int) -> pd.DataFrame:
    """The logged table (noise and logging resolution added) with the truth in ``attrs``."""
    n = i_true.size
    i_meas = i_true
    if prof.noise:
        i_meas = i_true + rng.normal(0.0, 0.002 * c0, n)
        volt = volt + rng.normal(0.0, 0.005, n)
        temp = temp + rng.normal(0.0, 0.1, n)
        soc = np.round(soc, 4)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    df = pd.DataFrame({
        "battery_id": battery_id,
        "time": t0 + pd.to_timedelta(t, unit="s"),
        "voltage_v": np.round(volt, 4),
        "current_a": np.round(i_meas, 4),
        "temperature_c": np.round(temp, 1),
        "soc": soc,
    })
    cyc = np.array(seg.cycles, dtype=float).reshape(-1, 4)
    cycles = {"start": [(t0 + pd.Timedelta(seconds=float(x))).isoformat() for x in cyc[:, 0]],
              "dod": cyc[:, 1].tolist(), "capacity_ah": cyc[:, 2].tolist(), "r_mohm": cyc[:, 3].tolist()}
    df.attrs["truth"] = {"battery_id": battery_id, "capacity_ah": c0, "r_mohm": r_mohm,
                         "n_cycles": n_slots, "efc": float(cyc[:, 1].sum()),
                         "fade_pu": prof.fade_pu, "r_growth_pu": prof.r_growth_pu, "nominal_v": prof.nominal_v,
                         "chemistry": prof.chemistry, "cycles": cycles}
    return df
