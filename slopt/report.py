"""Result tables, plots and atomic result files.

Every file is written to a temporary name in the target directory and renamed into place
(``os.replace``), so an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from slopt.io.results import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_text", "atomic_write_bytes", "to_json", "write_sizing_result", "plot_sizing",
           "dispatch_tables", "write_dispatch_result", "plot_dispatch"]


def _json_default(o):
    """Objects json cannot write: numpy scalars and arrays, paths, timestamps (as text)."""
    if isinstance(o, (np.generic, np.ndarray)):
        return _clean(o)
    return str(o)


def _clean(obj):
    """A copy of ``obj`` that is valid JSON: NaN and +-Infinity (Python, numpy or pandas) become
    ``null``, numpy scalars and arrays become Python numbers and lists, tuples become lists."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k: _clean(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is pd.NaT or obj is pd.NA:
        return None
    return obj


def to_json(obj, indent: int | None = 2) -> str:
    """Serialise a result payload as strictly valid JSON (RFC 8259).

    Non-finite numbers become ``null`` (:func:`_clean`); anything that still is not valid
    JSON raises instead of being written (``allow_nan=False``).

    >>> to_json({"a": float("nan"), "b": np.float32(1.5), "c": np.array([1.0, np.inf])}, indent=None)
    '{"a": null, "b": 1.5, "c": [1.0, null]}'
    """
    return json.dumps(_clean(obj), indent=indent, default=_json_default, allow_nan=False)


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
            ax.step(per_site.index, per_site[b], where="post", label=f"bus {b}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("time (h)")
        ax.set_ylabel("storage net load p_net_kw (kW, + charging)")      # the sign of dispatch.csv
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
        milp = getattr(result, "milp_objective_usd", None)
        if milp is not None:
            ax.axhline(milp, color="k", lw=1.0, ls=":", label=f"MILP optimum $ {milp:,.0f}")
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
    """Write ``sizing.csv``, ``dispatch.csv``, ``voltages.csv``, ``result.json`` and the PNG plots.

    An infeasible result writes ``diagnosis.csv``, ``least_violation.csv`` and ``result.json``.
    """
    out_dir = Path(out_dir)
    files = []
    if str(result.status) != "infeasible":
        files += [
            atomic_write_text(out_dir / "sizing.csv", result.sizing.to_csv(index=False)),
            atomic_write_text(out_dir / "dispatch.csv", result.dispatch.to_csv(index=False)),
            atomic_write_text(out_dir / "voltages.csv", result.voltages.to_csv(index=False)),
        ]
    else:   # no plan: the diagnosis and the labelled least-violation sizes
        files.append(atomic_write_text(out_dir / "diagnosis.csv", result.diagnosis.to_csv(index=False)
                                       if result.diagnosis is not None else ""))
        if getattr(result, "least_violation", None) is not None:
            files.append(atomic_write_text(out_dir / "least_violation.csv", result.least_violation.to_csv(index=False)))
    payload = result.summary()
    payload["instance"] = result.instance.name if result.instance is not None else None
    payload["history"] = result.history
    payload["sizing"] = result.sizing.to_dict(orient="records")
    if result.diagnosis is not None:
        payload["diagnosis"] = result.diagnosis.to_dict(orient="records")
    if getattr(result, "least_violation", None) is not None:
        payload["least_violation_plan"] = {"note": "not a plan: the sizes that come closest to the band",
                                           "sizing": result.least_violation.to_dict(orient="records")}
    files.append(atomic_write_text(out_dir / "result.json",
                                   to_json(payload)))
    if result.convergence is not None and not result.convergence.empty:
        files.append(atomic_write_text(out_dir / "convergence.csv", result.convergence.to_csv(index=False)))
    if plots:
        files += plot_sizing(result, out_dir)
    return files


# ----------------------------------------------------------------------------- dispatch
def dispatch_tables(runs) -> dict[str, pd.DataFrame]:
    """Long tables of several :class:`~slopt.dispatch.simulate.DispatchResult` runs.

    Returns ``{"power", "steps", "groups", "metrics", "voltages"}``, each with leading
    ``scenario`` and ``strategy`` columns (``voltages`` is empty without a feeder context).
    """
    def tag(df, r):
        df = df.copy()
        df.insert(0, "strategy", r.strategy)
        df.insert(0, "scenario", r.scenario)
        return df

    runs = list(runs)
    cat = lambda frames: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return {
        "power": cat([tag(r.power, r) for r in runs]),
        "steps": cat([tag(r.steps, r) for r in runs]),
        "groups": cat([tag(r.groups, r) for r in runs]),
        "metrics": pd.DataFrame([r.metrics for r in runs]),
        "voltages": cat([tag(r.voltages, r) for r in runs if r.voltages is not None]),
    }


def plot_dispatch(runs, out_dir: str | Path, scenario: str | None = None, title: str = "",
                  suffix: str = "") -> list[Path]:
    """Yuan et al. Fig. 7 (SOC per group, one panel per strategy) and Fig. 8 (energy per group).

    Plots the runs of ``scenario`` (default: the first run's). Writes ``soc_groups.png`` and
    ``energy_groups.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    runs = list(runs)
    if not runs:
        return []
    scenario = runs[0].scenario if scenario is None else scenario
    sel = [r for r in runs if r.scenario == scenario]
    paths = []
    n = len(sel)
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False, sharey=True)
    for ax, r in zip(axes.ravel(), sel):
        for i, name in enumerate(r.names):
            ax.plot(r.soc.index, r.soc[name], color=f"C{i % 10}", lw=1.2, label=name)
        ax.set_title(f"{r.strategy} ({r.label})", fontsize=9)
        ax.set_xlabel("time (h)")
        ax.set_ylabel("SOC (pu of usable energy)")
        ax.set_xlim(0, float(r.soc.index[-1]))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7, ncol=3, loc="best")
    fig.suptitle(f"{title + ': ' if title else ''}SOC per battery group, scenario {scenario} (Yuan et al. Fig. 7)", fontsize=10)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / f"soc_groups{suffix}.png"))
    plt.close(fig)

    names = list(sel[0].names)
    x = np.arange(len(names))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(names)), 4.2))
    for k, r in enumerate(sel):
        off = (k - (n - 1) / 2) * width
        ax.bar(x + off, r.groups["e_charged_kwh"], width, color=f"C{k}", label=f"{r.strategy}")
        ax.bar(x + off, -r.groups["e_discharged_kwh"], width, color=f"C{k}", alpha=0.55)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, names)
    ax.set_ylabel("energy (kWh): charged + / discharged -")
    ax.set_title(f"{title + ': ' if title else ''}energy per battery group, scenario {scenario} (Yuan et al. Fig. 8)",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / f"energy_groups{suffix}.png"))
    plt.close(fig)
    return paths


def write_dispatch_result(runs, out_dir: str | Path, *, extra: dict | None = None, plots: bool = True,
                          plot_scenario: str | None = None, title: str = "") -> list[Path]:
    """Write ``dispatch_power.csv``, ``dispatch_steps.csv``, ``dispatch_groups.csv``, ``metrics.csv``,
    ``voltages.csv`` (with a feeder context), ``result.json`` and the PNGs of :func:`plot_dispatch`.

    ``extra`` is merged into ``result.json`` (instance, consistency indices, Table 3, ...).
    """
    out_dir = Path(out_dir)
    runs = list(runs)
    t = dispatch_tables(runs)
    files = [
        atomic_write_text(out_dir / "dispatch_power.csv", t["power"].to_csv(index=False)),
        atomic_write_text(out_dir / "dispatch_steps.csv", t["steps"].to_csv(index=False)),
        atomic_write_text(out_dir / "dispatch_groups.csv", t["groups"].to_csv(index=False)),
        atomic_write_text(out_dir / "metrics.csv", t["metrics"].to_csv(index=False)),
    ]
    if not t["voltages"].empty:
        files.append(atomic_write_text(out_dir / "voltages.csv", t["voltages"].to_csv(index=False)))
    payload = dict(extra or {})
    payload["metrics"] = t["metrics"].to_dict(orient="records")
    payload["groups"] = t["groups"].to_dict(orient="records")
    files.append(atomic_write_text(out_dir / "result.json", to_json(payload)))
    if plots:
        from slopt.io.results import safe_name

        files += plot_dispatch(runs, out_dir, scenario=plot_scenario, title=title)
        scenarios = list(dict.fromkeys(r.scenario for r in runs))
        if len(scenarios) > 1:                      # every scenario that ran, one pair of figures each
            for sc in scenarios:
                files += plot_dispatch(runs, out_dir, scenario=sc, title=title, suffix=f"_{safe_name(sc)}")
    return files


# ----------------------------------------------------------------------------- year
def year_tables(yres) -> dict[str, pd.DataFrame]:
    """The year's tables: ``days`` (modelled days and weights), ``rounds``, ``voltage`` (per step:
    feeder min/max voltage without and with storage) and ``dispatch`` (per step and site:
    net storage load in kW, consumption positive, and SOC per technology)."""
    inst = yres.instance
    bp = inst.bus_profiles
    base = yres.base_vm_pu[:, 1:]
    times = pd.DatetimeIndex(bp.times())
    volt = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M"), "vm_min_pu": np.nan, "vm_max_pu": np.nan,
                         "vm_min_base_pu": base.min(axis=1), "vm_max_base_pu": base.max(axis=1)})
    disp = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M")})
    rep = yres.replay
    if rep is not None:
        volt["vm_min_pu"], volt["vm_max_pu"] = rep.vm_min_pu, rep.vm_max_pu
        sizing = yres.sizing
        built = sorted(set(sizing.loc[sizing.groupby("bus")["e_kwh"].transform("sum") > 1e-6, "bus"]))
        techs = [k for k in ("new", "retired") if k in inst.technologies]
        for i, b in enumerate(built):
            disp[f"p_kw:{b}"] = rep.p_site_kw[:, i]
            for j, k in enumerate(techs):
                disp[f"soc:{b}:{k}"] = rep.soc_pu[:, i, j]
    return {"days": yres.days, "rounds": yres.rounds, "voltage": volt, "dispatch": disp}


def plot_year(yres, out_dir: str | Path) -> list[Path]:
    """Heat maps (day x time of day) of the feeder's minimum (and maximum) voltage without and with
    storage, the representative days with their weights, and the SOC over the year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    inst = yres.instance
    bp = inst.bus_profiles
    D, spd = bp.n_days, bp.steps_per_day
    paths = []
    rep = yres.replay
    base = yres.base_vm_pu[:, 1:]
    sides = [("min", base.min(axis=1), None if rep is None else rep.vm_min_pu, inst.vmin_pu)]
    if base.max() > inst.vmax_pu - 0.01:
        sides.append(("max", base.max(axis=1), None if rep is None else rep.vm_max_pu, inst.vmax_pu))
    for side, without, with_, limit in sides:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        lo = min(without.min(), limit - 0.01)
        hi = max(without.max(), limit + 0.01)
        for ax, data, title in ((axes[0], without, "without storage"), (axes[1], with_, "with storage")):
            if data is None:
                ax.axis("off")
                continue
            im = ax.imshow(data.reshape(D, spd), aspect="auto", origin="lower", cmap="RdYlBu" if side == "min" else "RdYlBu_r",
                           vmin=lo, vmax=hi, extent=(0, 24, 0, D))
            ax.set_title(f"feeder {side} voltage, {title}", fontsize=9)
            ax.set_xlabel("time of day (h)")
        axes[0].set_ylabel("day of the year")
        fig.colorbar(im, ax=axes, label=f"p.u. (limit {limit:g})")
        paths.append(_save(fig, out_dir / f"year_v{side}.png"))
        plt.close(fig)
    days = yres.days
    fig, ax = plt.subplots(figsize=(8, 4))
    p, _ = bp.by_day()
    for _, r in days.iterrows():
        ls = "-" if r["kind"] == "typical" else ("--" if r["kind"] == "extreme" else ":")
        ax.plot(np.arange(spd) * bp.dt_h, p[int(r["day"])].sum(axis=1), ls=ls, lw=0.8 + 2.0 * r["weight"] / days["weight"].max(),
                label=f"{r['date']} ({r['kind']}, {r['weight']:g} d)")
    ax.set_xlabel("time of day (h)")
    ax.set_ylabel("feeder net load (kW)")
    ax.set_title("representative days (line width ~ days each stands for)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "year_days.png"))
    plt.close(fig)
    if rep is not None and rep.soc_pu.size:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        t = np.arange(rep.soc_pu.shape[0]) * bp.dt_h / 24.0
        for i in range(rep.soc_pu.shape[1]):
            for j in range(rep.soc_pu.shape[2]):
                s = rep.soc_pu[:, i, j]
                if np.isfinite(s).any():
                    ax.plot(t, s, lw=0.4, label=f"site {i + 1}, technology {j + 1}")
        ax.set_xlabel("day of the year")
        ax.set_ylabel("SOC (pu of usable energy)")
        ax.set_title("state of charge over the year (idle days not drawn)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "year_soc.png"))
        plt.close(fig)
    return paths


def write_year_result(yres, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write ``sizing.csv``, ``days.csv``, ``rounds.csv``, ``year_voltage.csv``, ``year_dispatch.csv``
    (CSV: a year at 15 min is 35,136 rows, written and read back by any tool), ``result.json``
    with the year figures, and the year plots."""
    out_dir = Path(out_dir)
    t = year_tables(yres)
    files = [atomic_write_text(out_dir / "sizing.csv", yres.sizing.to_csv(index=False)),
             atomic_write_text(out_dir / "days.csv", t["days"].to_csv(index=False)),
             atomic_write_text(out_dir / "rounds.csv", t["rounds"].to_csv(index=False)),
             atomic_write_text(out_dir / "year_voltage.csv", t["voltage"].to_csv(index=False)),
             atomic_write_text(out_dir / "year_dispatch.csv", t["dispatch"].to_csv(index=False))]
    payload = yres.summary()
    payload["instance"] = yres.instance.name
    payload["sizing"] = yres.sizing.to_dict(orient="records")
    payload["days"] = t["days"].to_dict(orient="records")
    payload["rounds"] = t["rounds"].to_dict(orient="records")
    files.append(atomic_write_text(out_dir / "result.json", to_json(payload)))
    if plots:
        files += plot_year(yres, out_dir)
    return files


# ----------------------------------------------------------------------------- fleet
def plot_allocation(fleet_table: pd.DataFrame, batteries: pd.DataFrame, name: str, out_dir: str | Path,
                    scatter_max: int = 3000) -> Path:
    """``allocation.png``: each battery's route over SOH and R0 (a scatter up to ``scatter_max``
    batteries); for larger fleets a summary that stays readable at any size: the SOH
    distribution of each route (stacked histogram) and the energy each route receives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tb = fleet_table.merge(batteries[["battery_id", "route"]], on="battery_id")
    routes = list(tb.groupby("route").size().sort_values(ascending=False).index)
    colors = {r: f"C{i % 10}" for i, r in enumerate(routes)}
    n = len(tb)
    if n <= scatter_max:
        fig, ax = plt.subplots(figsize=(8, 5))
        for r in routes:
            g = tb[tb["route"] == r]
            ax.scatter(100 * g["soh"], g["r0_mohm"], s=24 if n <= 500 else 10, color=colors[r], label=f"{r} ({len(g):,})")
        ax.set_xlabel("SOH (%)")
        ax.set_ylabel("R0 (mOhm)")
        ax.set_title(f"{name}: route per battery ({n:,})")
        ax.legend(fontsize=7)
    else:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
        bins = np.linspace(100 * tb["soh"].min(), 100 * tb["soh"].max(), 41)
        ax.hist([100 * tb.loc[tb["route"] == r, "soh"] for r in routes], bins=bins, stacked=True,
                color=[colors[r] for r in routes], label=[f"{r} ({(tb['route'] == r).sum():,})" for r in routes])
        ax.set_xlabel("SOH (%)")
        ax.set_ylabel("batteries")
        ax.set_title(f"{name}: routes by SOH ({n:,} batteries)")
        ax.legend(fontsize=7)
        e = tb.groupby("route")["nominal_kwh"].sum().reindex(routes) / 1e3 if "nominal_kwh" in tb else None
        if e is not None:
            bx.barh(routes, e.to_numpy(), color=[colors[r] for r in routes])
            bx.invert_yaxis()
            bx.set_xlabel("nominal energy (MWh)")
            bx.set_title("energy per route")
            bx.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    path = _save(fig, Path(out_dir) / "allocation.png")
    plt.close(fig)
    return path
