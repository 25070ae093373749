"""``slopt info``: versions of slopt and its solver stack, and the bundled feeders."""

from __future__ import annotations

import platform
import sys
from importlib import metadata, util
from typing import Optional

from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _console, _row
from slopt.errors import SloptError

__all__ = ["info"]


_PACKAGES = ("numpy", "pandas", "pydantic", "networkx", "pyomo", "highspy", "pymoo", "pandapower", "dask")


def _version(dist: str) -> Optional[str]:
    if util.find_spec(dist) is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "installed (version unknown)"


def info() -> None:
    """Versions of slopt, Python and the solver stack, and the bundled feeders."""
    from slopt import __version__
    from slopt.grid.feeder import BUNDLED_FEEDERS, load_feeder

    t = Table(title="slopt", header_style="bold")
    t.add_column("component", style="bold")
    t.add_column("version")
    _row(t, "slopt", __version__)
    _row(t, "python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.platform})")
    for dist in _PACKAGES:
        v = _version(dist)
        _row(t, dist, v if v is not None else "[dim]not installed[/dim]", markup=v is None)
    ft = Table(title="bundled feeders", header_style="bold")
    for col in ("name", "case", "buses", "load kW", "load kvar", "base kV"):
        ft.add_column(col)
    for name, stem in BUNDLED_FEEDERS.items():
        try:
            f = load_feeder(name)
        except SloptError as e:
            ft.add_row(name, stem, "-", "-", "-", f"[red]unavailable: {escape(str(e))}[/red]")
            continue
        ft.add_row(name, stem, str(f.n_bus), f"{f.p_load_kw.sum():.1f}", f"{f.q_load_kvar.sum():.1f}", f"{f.base_kv:g}")
    console = _console()
    console.print(t)
    console.print(ft)


