"""Resource limits checked before any work starts.

Sizes that come from input files or options (fleet size, population x generations x steps,
thread count, input file size) are compared with these limits before anything is computed,
so that a typo (``generate = 1000000000``, ``--pop 1000000``) ends at once with a one-line
error instead of hours of work or a memory blow-up. Every limit can be raised:

* on the command line, ``slopt --limit NAME=VALUE COMMAND ...`` (repeatable);
* in the environment, ``SLOPT_LIMITS="NAME=VALUE,NAME=VALUE"``;
* in a program, :func:`set_limit`.

=====================  ===============  ====================================================
name                   default          what it bounds
=====================  ===============  ====================================================
``threads``            64               HiGHS threads (``--threads``)
``pop``                10,000           heuristic population (``--pop``)
``gens``               100,000          heuristic generations (``--gens``)
``evaluations``        2e8              population x generations x time steps of a heuristic
``batteries``          2,000,000        batteries in a fleet (file rows or ``generate``)
``file_mb``            1,000            size of one input file (MB)
``steps``              600,000          time steps of an instance (a year at 1 min is 525,600)
``buses``              10,000           buses of a feeder (dense n x n matrices: 0.8 GB at 10,000)
=====================  ===============  ====================================================
"""

from __future__ import annotations

import os

from slopt.errors import InstanceError

__all__ = ["DEFAULTS", "limit", "set_limit", "check", "check_file_size", "parse_limit"]

DEFAULTS: dict[str, float] = {
    "threads": 64, "pop": 10_000, "gens": 100_000, "evaluations": 2e8, "batteries": 2_000_000,
    "file_mb": 1_000, "steps": 600_000, "buses": 10_000,
}
_overrides: dict[str, float] = {}


def parse_limit(text: str) -> tuple[str, float]:
    """``"name=value"`` -> ``(name, value)``, with a one-line error for anything else."""
    name, sep, value = str(text).partition("=")
    name = name.strip()
    if not sep or name not in DEFAULTS:
        raise InstanceError.at(None, "--limit", text, f"use NAME=VALUE with NAME one of {', '.join(DEFAULTS)}")
    try:
        v = float(value)
    except ValueError:
        raise InstanceError.at(None, f"--limit {name}", value, "must be a number") from None
    if not v > 0 or v != v:
        raise InstanceError.at(None, f"--limit {name}", value, "must be > 0")
    return name, v


def set_limit(name: str, value) -> None:
    """Raise (or lower) a limit for this process."""
    name, value = parse_limit(f"{name}={value}")
    _overrides[name] = value


def limit(name: str) -> float:
    """The current value of a limit (override, then ``SLOPT_LIMITS``, then the default)."""
    if name in _overrides:
        return _overrides[name]
    env = os.environ.get("SLOPT_LIMITS", "")
    for part in filter(None, (p.strip() for p in env.split(","))):
        k, v = parse_limit(part)
        if k == name:
            return v
    return DEFAULTS[name]


def check(name: str, value: float, what: str, source=None) -> None:
    """Raise :class:`InstanceError` if ``value`` exceeds the limit ``name``."""
    cap = limit(name)
    if value > cap:
        raise InstanceError.at(source, what, value if value < 1e15 else f"{value:.3g}",
                               f"exceeds the limit {name} = {cap:,.0f}; raise it with "
                               f"'slopt --limit {name}=N' or SLOPT_LIMITS if this is intended")


def check_file_size(path, field: str = "file") -> None:
    """Refuse input files larger than the ``file_mb`` limit before reading them."""
    try:
        size_mb = os.path.getsize(path) / 1e6
    except OSError:
        return                                   # the reader reports a missing file itself
    check("file_mb", size_mb, f"{field} size (MB)", source=path)
