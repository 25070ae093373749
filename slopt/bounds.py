"""Physical bounds on input magnitudes: values no real feeder, battery or market reaches.

An input of ``pv_kw = 1e25`` is not a plan a person means; it is a typo or a crafted file.
Left in, such a number becomes a row bound above 1e20 in the MILP (HiGHS treats those as
infinite and logs a warning per row), an overflow in a power flow, or ``Infinity`` in a
result file. The readers refuse every magnitude outside these bounds as bad input
(:class:`~slopt.errors.InstanceError`, exit code 2), naming the file, the field and the value.

The bounds are wide on purpose: each lies one or more orders of magnitude beyond the
largest physical case slopt is meant for, so that no real input is refused.

==========================  ===========  ====================================================
constant                    value        why
==========================  ===========  ====================================================
``MAX_POWER_KW``            1e7 (10 GW)  loads, PV, storage power, requests: a whole
                                         transmission substation is ~ 1-5 GW
``MAX_ENERGY_KWH``          1e8          storage energy: the largest battery plants hold
                            (100 GWh)    ~ 3 GWh (2024)
``MAX_MODULE_KWH``          1e4          one row of a fleet table: an EV pack is < 250 kWh
``MAX_USD_PER_WH``          1e3          cost coefficients in $/Wh or $/W (1e6 $/kWh);
                                         batteries cost ~ 0.1-1 $/Wh
``MAX_USD_PER_KWH``         1e6          fleet economics per kWh (recycling, repurposing)
``MAX_SCALE``               1e4          dimensionless factors: ``load_scale``,
                                         ``gen_scale``, scenario ``scale``
``MAX_MULTIPLIER``          1e3          profile multipliers (per unit of rated power)
``MAX_C_RATE``              1e3 (1/h)    power per energy: supercapacitors reach ~ 100
``MIN_LIFETIME_YEARS``      0.1          an annualised cost over a shorter life has no meaning
``MAX_LIFETIME_YEARS``      100
``MAX_YEARS``               100          horizons (twin, economics)
``MAX_BUS_ID``              2**31 - 1    bus numbers (MATPOWER, pandapower) are int32
``BASE_MVA``                [1e-3, 1e5]  per-unit power base of a feeder
``BASE_KV``                 [1e-2, 1e3]  line-to-line voltage base (10 V .. 1000 kV)
``V_ROOT_PU``               [0.5, 1.5]   substation voltage set point (p.u.)
``MAX_IMPEDANCE_PU``        1e6          series impedance of a branch (p.u.)
==========================  ===========  ====================================================
"""

from __future__ import annotations

import math

from slopt.errors import InstanceError

__all__ = ["MAX_POWER_KW", "MAX_ENERGY_KWH", "MAX_MODULE_KWH", "MAX_USD_PER_WH", "MAX_USD_PER_KWH", "MAX_SCALE",
           "MAX_MULTIPLIER", "MAX_C_RATE", "MIN_LIFETIME_YEARS", "MAX_LIFETIME_YEARS", "MAX_YEARS", "MAX_BUS_ID",
           "BASE_MVA", "BASE_KV", "V_ROOT_PU", "MAX_IMPEDANCE_PU", "check_range"]

MAX_POWER_KW = 1e7
MAX_ENERGY_KWH = 1e8
MAX_MODULE_KWH = 1e4
MAX_USD_PER_WH = 1e3
MAX_USD_PER_KWH = 1e6
MAX_SCALE = 1e4
MAX_MULTIPLIER = 1e3
MAX_C_RATE = 1e3
MIN_LIFETIME_YEARS = 0.1
MAX_LIFETIME_YEARS = 100.0
MAX_YEARS = 100.0
MAX_BUS_ID = 2**31 - 1
BASE_MVA = (1e-3, 1e5)
BASE_KV = (1e-2, 1e3)
V_ROOT_PU = (0.5, 1.5)
MAX_IMPEDANCE_PU = 1e6


def check_range(value, lo: float | None, hi: float | None, source, field: str, *, lo_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number in ``[lo, hi]`` (``(lo, hi]`` with
    ``lo_open``); else an :class:`InstanceError` ``source: field = value: must be ...``.

    >>> check_range(2.0, 0, 10, "x.toml", "a")
    2.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_np_real(value):
        raise InstanceError.at(source, field, value, "must be a number")
    try:
        x = float(value)
    except (OverflowError, ValueError):
        x = math.inf
    if not math.isfinite(x):
        raise InstanceError.at(source, field, value, "must be a finite number")
    low_ok = lo is None or (x > lo if lo_open else x >= lo)
    if not low_ok or (hi is not None and x > hi):
        left = "(" if lo_open else "["
        text = f"must be in {left}{_g(lo)}, {_g(hi)}]" if hi is not None else f"must be {'>' if lo_open else '>='} {_g(lo)}"
        raise InstanceError.at(source, field, value, text)
    return x


def _g(x) -> str:
    return "-inf" if x is None else f"{x:g}"


def _is_np_real(value) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, (np.integer, np.floating))
