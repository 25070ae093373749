"""Result tables, plots and atomic result files.

Every file is written to a temporary name in the target directory and renamed into place
(``os.replace``), so an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["atomic_write_text", "atomic_write_bytes", "write_sizing_result", "plot_sizing"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        f = float(o)
        return None if not math.isfinite(f) else f
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def plot_sizing(result, out_dir: str | Path) -> list[Path]:
    """PNG plots of a sizing result: storage power per site, and critical-bus voltages vs the band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = []
    disp = result.dispatch
    inst = result.instance
    if not disp.empty:
        per_site = disp.groupby(["bus", "time_h"])["p_net_kw"].sum().unstack(0)
        built = [b for b in per_site.columns if float(result.sizing.loc[result.sizing["bus"] == b, "e_kwh"].sum()) > 1e-6]
        fig, ax = plt.subplots(figsize=(8, 4))
        for b in built:
            ax.step(per_site.index, -per_site[b], where="post", label=f"bus {b}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("time (h)")
        ax.set_ylabel("storage power (kW, + discharge)")
        ax.set_title(f"{inst.name if inst else ''}: storage dispatch per site")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "power.png"))
        plt.close(fig)
    v = result.voltages
    if not v.empty:
        base = v.pivot(index="time_h", columns="bus", values="vm_base_ac_pu")
        after = v.pivot(index="time_h", columns="bus", values="vm_ac_pu")
        critical = list(base.min().nsmallest(3).index)
        fig, ax = plt.subplots(figsize=(8, 4))
        for i, b in enumerate(critical):
            ax.plot(base.index, base[b], ls="--", color=f"C{i}", label=f"bus {b} before")
            ax.plot(after.index, after[b], ls="-", color=f"C{i}", label=f"bus {b} with storage")
        if inst is not None:
            ax.axhline(inst.vmin_pu, color="r", lw=0.8)
            ax.axhline(inst.vmax_pu, color="r", lw=0.8)
        ax.set_xlabel("time (h)")
        ax.set_ylabel("AC voltage (p.u.)")
        ax.set_title("critical buses against the band (AC sweep)")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "voltages.png"))
        plt.close(fig)
    conv = getattr(result, "convergence", None)
    if conv is not None and not conv.empty:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(conv["generation"], conv["best_f"], label="fitness (cost + penalties)")
        ax.plot(conv["generation"], conv["best_cost_usd"], ls="--", label="cost of the best plan")
        ax.set_xlabel("generation")
        ax.set_ylabel("$")
        ax.set_yscale("log")
        ax.set_title(f"{result.method}: convergence")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "convergence.png"))
        plt.close(fig)
    return paths


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return atomic_write_bytes(path, buf.getvalue())


def write_sizing_result(result, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write ``sizing.csv``, ``dispatch.csv``, ``voltages.csv``, ``result.json`` and the PNG plots."""
    out_dir = Path(out_dir)
    files = [
        atomic_write_text(out_dir / "sizing.csv", result.sizing.to_csv(index=False)),
        atomic_write_text(out_dir / "dispatch.csv", result.dispatch.to_csv(index=False)),
        atomic_write_text(out_dir / "voltages.csv", result.voltages.to_csv(index=False)),
    ]
    payload = result.summary()
    payload["instance"] = result.instance.name if result.instance is not None else None
    payload["history"] = result.history
    payload["sizing"] = result.sizing.to_dict(orient="records")
    if result.diagnosis is not None:
        payload["diagnosis"] = result.diagnosis.to_dict(orient="records")
    files.append(atomic_write_text(out_dir / "result.json",
                                   json.dumps(_clean(payload), indent=2, default=_json_default)))
    if result.convergence is not None and not result.convergence.empty:
        files.append(atomic_write_text(out_dir / "convergence.csv", result.convergence.to_csv(index=False)))
    if plots:
        files += plot_sizing(result, out_dir)
    return files
