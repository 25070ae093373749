"""Built-in 24 h load and PV multiplier profiles, and energy-preserving resampling.

Yuan et al. (§5, Fig. 5-6) run their feeders over one day at 1 h, 15 min and 5 min resolution
but publishes no numeric load or PV series. slopt therefore ships two synthetic day shapes,
given as 24 hourly averages; finer resolutions are derived from them with :func:`resample`,
so the three resolutions describe the same energy hour by hour.

Load (:data:`HOURLY_LOAD`)
    Multiplier of the feeder's nominal (MATPOWER) loads. A mixed residential/commercial
    feeder day, hand-drawn after the typical shapes of utility load research (for example
    the residential and small-commercial day types used with the IEEE/EPRI test feeders):
    night minimum 0.45 at 03-05 h, morning ramp from 06 h, a flat commercial plateau near
    0.75 around midday, and the residential evening peak of exactly 1.0 in the 19-20 h hour,
    so that the nominal loads are the peak-hour loads. It is not a measured data set.

PV (:data:`HOURLY_PV`)
    Output as a fraction of rated PV power on a clear day: hourly means of
    ``max(0, sin(pi (t - 6 h) / 13 h)) ** 1.2`` (sunrise 06:00, sunset 19:00, solar noon
    12:30; the exponent 1.2 mimics the flatter-than-sine flanks of a fixed tilted array),
    normalised so that the 12-13 h hour is 1.0, and rounded to 3 decimals. Zero from 19 h to
    06 h.

Resampling
    Down: block averages. Up: a smooth shape (piecewise linear through the coarse interval
    midpoints, cyclic over the day by default) corrected block by block so that each coarse
    interval's mean equals its value exactly (energy kept). A non-negative series stays
    non-negative: where the correction would go below zero the block is clipped and rescaled,
    which keeps its mean; a zero interval (PV at night) stays exactly zero.
"""

from __future__ import annotations

import numpy as np

from slopt.errors import InstanceError

__all__ = ["RESOLUTIONS_MIN", "HOURLY_LOAD", "HOURLY_PV", "load_profile", "pv_profile", "resample",
           "n_steps", "check_resolution"]

#: Supported time steps in minutes (Yuan et al. Fig. 6); the horizon is always 24 h.
RESOLUTIONS_MIN = (60, 15, 5)

#: Hourly average load multipliers, hour 0 = 00:00-01:00 (see module docstring).
HOURLY_LOAD = np.array([
    0.58, 0.52, 0.48, 0.45, 0.45, 0.48,   # 00-06 h: night, minimum at 03-05 h
    0.56, 0.65, 0.71, 0.74, 0.75, 0.76,   # 06-12 h: morning ramp to the midday plateau
    0.75, 0.74, 0.73, 0.74, 0.78, 0.86,   # 12-18 h: afternoon, ramp towards the evening
    0.94, 1.00, 0.98, 0.90, 0.79, 0.67,   # 18-24 h: evening peak 1.0 at 19-20 h, decline
])
HOURLY_LOAD.setflags(write=False)

#: Hourly average clear-sky PV output per unit of rating, hour 0 = 00:00-01:00.
HOURLY_PV = np.array([
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.082, 0.289, 0.508, 0.707, 0.864, 0.965,
    1.0, 0.965, 0.864, 0.707, 0.508, 0.289,
    0.082, 0.0, 0.0, 0.0, 0.0, 0.0,
])
HOURLY_PV.setflags(write=False)


def check_resolution(resolution_min) -> int:
    """Return ``resolution_min`` as int if it is 60, 15 or 5; else raise
    :class:`~slopt.errors.InstanceError` (a ``ValueError``)."""
    ok = isinstance(resolution_min, (int, float, np.integer, np.floating)) and not isinstance(resolution_min, (bool, np.bool_))
    if not ok or resolution_min not in RESOLUTIONS_MIN:
        raise InstanceError.at(None, "resolution_min", resolution_min, "must be one of 60, 15 or 5 minutes")
    return int(resolution_min)


def n_steps(resolution_min: int) -> int:
    """Number of steps in 24 h at ``resolution_min`` (24, 96 or 288)."""
    return 24 * 60 // check_resolution(resolution_min)


def load_profile(resolution_min: int = 60) -> np.ndarray:
    """Built-in load multipliers over 24 h, shape ``(24 * 60 / resolution_min,)``.

    Examples
    --------
    >>> load_profile(15).shape
    (96,)
    >>> float(load_profile(60).max())
    1.0
    """
    return resample(HOURLY_LOAD, 60, resolution_min)


def pv_profile(resolution_min: int = 60) -> np.ndarray:
    """Built-in clear-sky PV multipliers over 24 h, shape ``(24 * 60 / resolution_min,)``.

    Examples
    --------
    >>> p = pv_profile(5)
    >>> float(p[:72].max()), float(p[19 * 12:].max())     # zero before 06 h and after 19 h
    (0.0, 0.0)
    """
    return resample(HOURLY_PV, 60, resolution_min)


def resample(values, from_min: int, to_min: int, *, periodic: bool = True) -> np.ndarray:
    """Resample a series between 60, 15 and 5 min steps along its last axis.

    Parameters
    ----------
    values : array_like, shape (..., n)
        Per-step averages (multipliers, kW, ...); leading axes are independent series.
    from_min, to_min : int
        Step of ``values`` and of the result, each one of 60, 15, 5.
    periodic : bool
        Upsampling only: treat the series as one repeating day, so the smooth shape wraps
        from the last interval to the first. ``False`` holds the end values instead.

    Returns
    -------
    ndarray, shape (..., n * from_min / to_min)
        Downsampling: block means. Upsampling: each coarse interval's mean is kept exactly
        (so is the energy ``sum(values) * dt``); a non-negative input gives a non-negative
        result and zero intervals stay zero.

    Raises
    ------
    InstanceError
        (a ``ValueError``) If a resolution is not 60, 15 or 5, or ``n`` is not a whole number
        of coarse steps. :class:`~slopt.errors.ArgumentError` if ``values`` are not numbers.

    Examples
    --------
    >>> import numpy as np
    >>> y = resample([0.0, 1.0, 1.0, 0.0], 60, 15)
    >>> y.reshape(4, 4).mean(axis=1).round(12).tolist()
    [0.0, 1.0, 1.0, 0.0]
    >>> resample(y, 15, 60).round(12).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    from_min = check_resolution(from_min)
    to_min = check_resolution(to_min)
    from slopt.checks import as_float_array

    v = as_float_array(values, "resample", "values")
    if v.ndim == 0:
        raise InstanceError.at(None, "resample: values", "a scalar", "must have at least one axis (time)")
    n = v.shape[-1]
    if from_min == to_min:
        return v.copy()
    lead = v.shape[:-1]
    if to_min > from_min:  # downsample: block means
        k = to_min // from_min
        if n % k:
            raise InstanceError.at(None, "resample: values", f"{n} steps of {from_min} min",
                                   f"not a whole number of {to_min}-min steps")
        return v.reshape(*lead, n // k, k).mean(axis=-1)

    k = from_min // to_min
    # 1) smooth shape: linear through the coarse midpoints, evaluated at the fine midpoints
    u = (np.arange(n * k) + 0.5) / k - 0.5          # fine midpoints in coarse-index units
    i0 = np.floor(u).astype(int)
    w = u - i0
    if periodic:
        i1 = (i0 + 1) % n
        i0 = i0 % n
    else:
        i1 = np.clip(i0 + 1, 0, n - 1)
        i0 = np.clip(i0, 0, n - 1)
    shape = v[..., i0] * (1.0 - w) + v[..., i1] * w
    # 2) additive correction: each block's mean equals the coarse value
    blocks = shape.reshape(*lead, n, k)
    blocks = blocks + (v - blocks.mean(axis=-1))[..., None]
    # 3) a non-negative series stays non-negative: clip and rescale the touched blocks
    if np.all(v >= 0):
        touched = np.any(blocks < 0, axis=-1)
        if np.any(touched):
            clipped = np.maximum(blocks, 0.0)
            mean = clipped.mean(axis=-1)
            safe = np.where(mean > 0, mean, 1.0)
            factor = np.where(touched, np.where(mean > 0, v / safe, 0.0), 1.0)
            blocks = np.where(touched[..., None], clipped * factor[..., None], blocks)
    return blocks.reshape(*lead, n * k)
