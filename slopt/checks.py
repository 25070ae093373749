"""Argument checks for the public library functions, shared by every layer (it imports only
:mod:`slopt.errors`): the wrong kind of argument (a path where a data object is expected, text where numbers are, a ragged list) becomes a one-line
:class:`~slopt.errors.ArgumentError`, never an ``AttributeError`` or a numpy error from deep
inside. Each helper names the function and the argument.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from slopt.errors import ArgumentError, InstanceError

__all__ = ["as_path", "as_float_array", "as_number", "as_int", "require"]


def as_path(value, func: str, name: str = "path") -> Path:
    """``value`` as a Path if it is a str or os.PathLike (not empty)."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value)
    raise ArgumentError(f"{func}: {name} must be a file path, got {type(value).__name__} {_short(value)}")


def as_float_array(value, func: str, name: str, ndim: int | None = None, finite: bool = False) -> np.ndarray:
    """``value`` as a float ndarray (numbers only; rectangular), optionally of ``ndim`` dimensions
    and with finite values only."""
    try:
        arr = None if isinstance(value, (str, bytes)) or value is None else np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None:
        raise ArgumentError(f"{func}: {name} must be numbers (an array or a sequence), got {type(value).__name__} "
                            f"{_short(value)}")
    if ndim is not None and arr.ndim != ndim:
        raise ArgumentError(f"{func}: {name} must have {ndim} dimension(s), got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise InstanceError.at(None, f"{func}: {name}", "non-finite values", "must be finite")
    return arr


def as_number(value, func: str, name: str, lo: float | None = None, hi: float | None = None,
              lo_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{func}: {name} must be a number, got {type(value).__name__} {_short(value)}")
    x = float(value)
    ok = math.isfinite(x) and (lo is None or (x > lo if lo_open else x >= lo)) and (hi is None or x <= hi)
    if not ok:
        rng = f"{'(' if lo_open else '['}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        raise InstanceError.at(None, f"{func}: {name}", value, f"must be a finite number in {rng}")
    return x


def as_int(value, func: str, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{func}: {name} must be an integer, got {type(value).__name__} {_short(value)}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InstanceError.at(None, f"{func}: {name}", v, f"must be an integer in [{lo}, {hi}]")
    return v


def require(value, cls, func: str, name: str, hint: str = ""):
    """``value`` if it is an instance of ``cls`` (a class or tuple), else an ArgumentError."""
    if isinstance(value, cls):
        return value
    names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
    raise ArgumentError(f"{func}: {name} must be a {names}{f' ({hint})' if hint else ''}, got {type(value).__name__}")


def _short(value) -> str:
    try:
        text = repr(value)
    except Exception:  # pragma: no cover - an object whose repr fails
        return ""
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
