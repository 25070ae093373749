"""``slopt dispatch INSTANCE``: dispatch strategies among battery groups (Tables 3-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _console

__all__ = ["dispatch", "dispatch_metrics_tables", "dispatch_table3"]


def _g(x, fmt: str) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "-" if not np.isfinite(x) else format(x, fmt)


#: Table 4 rows: (label, metric key, format)
_METRICS = (("SOH loss (%/day)", "soh_degradation_pct_per_day", ".5f"), ("mean |dev| (kW)", "deviation_mae_kw", ".3f"),
            ("rms dev (kW)", "deviation_rms_kw", ".3f"), ("unserved ch (kWh)", "unserved_charge_kwh", ".2f"),
            ("unserved dis (kWh)", "unserved_discharge_kwh", ".2f"), ("compute (s)", "compute_s", ".4f"),
            ("V RMSE (p.u.)", "voltage_rmse_pu", ".2e"), ("efficiency (%)", "system_efficiency_pct", ".2f"),
            ("active groups", "n_active_groups", ".0f"))


def dispatch_metrics_tables(runs, consistency: dict | None = None) -> list[Table]:
    """Table 4 of Yuan et al. (2025), one table per scenario: a row per metric, a column per
    strategy, so that it fits 80 columns with five strategies (full values in metrics.csv)."""
    tables = []
    for sc in dict.fromkeys(r.scenario for r in runs):
        sel = [r for r in runs if r.scenario == sc]
        t = Table(title=f"dispatch metrics, scenario {escape(sc)} (Table 4)", header_style="bold")
        t.add_column("metric", style="bold")
        for r in sel:
            t.add_column(escape(f"{r.strategy}\n({r.label})"), justify="right")
        for label, key, fmt in _METRICS:
            t.add_row(escape(label), *(_g(r.metrics[key], fmt) for r in sel))
        if consistency:
            t.add_row("consistency", *(_g((consistency or {}).get(r.strategy, {}).get(sc, float("nan")), ".3f")
                                      for r in sel))
        tables.append(t)
    return tables


def _cell3(col: str, v) -> str:
    """A compact Table 3 cell: counts for group lists, two decimals for SOC ranges."""
    if isinstance(v, float):
        return _g(v, ".2f")
    if col == "active_groups":
        return f"{len(str(v).split(','))} groups"
    lo, sep, hi = str(v).partition("-")
    try:
        return f"{float(lo):.2f}-{float(hi):.2f}" if sep else str(v)
    except ValueError:
        return str(v)


def dispatch_table3(table) -> Table:
    """Yuan et al. Table 3 for one strategy, transposed: one column per scenario."""
    t = Table(title=f"Table 3 of Yuan et al. 2025 ({escape(table.attrs.get('strategy', ''))})", header_style="bold")
    t.add_column("quantity", style="bold", no_wrap=True)
    for k in table.index:
        t.add_column(escape(str(k)), justify="right")
    labels = {"peak_request_kw": "peak (kW)", "active_groups": "active",
              "system_efficiency_pct": "efficiency (%)", "unserved_kwh": "unserved (kWh)",
              "consistency_index": "consistency"}
    for c in table.columns:
        label = labels.get(c, c.replace("soc_range[", "SOC range ").rstrip("]"))
        vals = [_cell3(c, v) for v in table[c].tolist()]
        t.add_row(escape(label), *(escape(v) for v in vals))
    return t


def dispatch(
    instance: Path = typer.Argument(..., help="Instance TOML file with a [dispatch] section.", show_default=False),
    strategy: str = typer.Option("priority,proportional,soh", "--strategy",
                                 help="priority (Eq. 9), proportional (CPD), soh (SOHD), mpc (MPCD), optimal (Eq. 10); "
                                      "a comma-separated list, or all (adds the Pyomo-based mpc and optimal)."),
    scenario: str = typer.Option("all", "--scenario", help="base (the request), a [[dispatch.scenarios]] name, or all."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<instance name>-dispatch]."),
    b: Optional[float] = typer.Option(None, "--b", help="Eq. 9 scaling parameter B [default: dispatch.priority_b]."),
    voltage: bool = typer.Option(True, "--voltage/--no-voltage", help="Voltage RMSE on the instance's feeder (AC sweep)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots (Figs 7-8 of Yuan et al. 2025)."),
    fmt: str = typer.Option("table", "--format", metavar="[table|csv|json]",
                            help="stdout: rich tables, the metrics as CSV, or the result summary as JSON."),
) -> None:
    """Simulate dispatch strategies among the battery groups of an instance; print and write the metrics."""
    from slopt.errors import InstanceError
    from slopt.io.loader import load_instance

    if b is not None and not (np.isfinite(b) and b >= 0):
        raise InstanceError.at(None, "--b", b, "must be >= 0")
    from slopt.dispatch.strategies import STRATEGIES, get_strategy

    if strategy.strip().lower() == "all":
        strategies = list(STRATEGIES.values())
    else:
        strategies = []
        for name in strategy.split(","):
            try:
                s = get_strategy(name)
            except InstanceError:
                raise InstanceError.at(None, "--strategy", strategy,
                                       f"unknown strategy {name.strip()!r}; use {', '.join(STRATEGIES)} "
                                       "(comma-separated) or all") from None
            if s not in strategies:
                strategies.append(s)
    inst = load_instance(instance)
    if inst.dispatch is None:
        from slopt.io.schema import MISSING

        raise InstanceError.at(instance, "dispatch", MISSING, "the instance has no [dispatch] section (battery groups)")
    d = inst.dispatch
    requests = d.requests()
    if scenario.strip().lower() == "all":
        chosen = list(requests)
    elif scenario in requests:
        chosen = [scenario]
    else:
        raise InstanceError.at(None, "--scenario", scenario, f"unknown scenario; use {', '.join(requests)} or all")

    from slopt.cli.common import check_format, emit, progress
    from slopt.dispatch.sweep import sweep_instance
    from slopt.report import write_dispatch_result

    console = _console()
    fmt = check_format(fmt)
    skipped = [s.name for s in strategies if len(strategies) > 1 and not s.available]
    strategies = [s for s in strategies if s.name not in skipped]
    with progress(console, f"dispatch {inst.name}", total=len(chosen) * len(strategies)) as status:
        sw = sweep_instance(inst, strategies, chosen, b=b, voltage=voltage,
                            progress=lambda done, total, sc, name: status.update(f"scenario {sc}: {name}",
                                                                                   completed=done))
    runs, consistency, tables3, bval = sw.runs, sw.consistency, sw.table3, sw.priority_b
    for t in (dispatch_metrics_tables(runs, consistency) if fmt == "table" else ()):
        console.print(t)
    if tables3:
        first = strategies[0].name
        if fmt == "table":
            console.print(dispatch_table3(tables3[first]))
    if skipped:
        console.print(escape(f"skipped (not available): {', '.join(skipped)}"))
    from slopt.io.results import check_output_dir, safe_name, staged_output

    out_dir = check_output_dir(out if out is not None else Path("out") / f"{safe_name(inst.name)}-dispatch")
    extra = {
        "instance": inst.name, "bus": d.bus, "resolution_min": d.resolution_min, "priority_b": bval,
        "groups_input": [{"group": n, "technology": tch, "e_kwh": e, "p_kw": p, "soh": h}
                         for n, tch, e, p, h in zip(d.names, d.technology, d.e_kwh, d.p_kw, d.soh)],
        "scenarios": {k: d.scenario_notes.get(k, f"request {d.request_source}") for k in chosen},
        "strategies": [s.name for s in strategies], "skipped": skipped,
        "consistency_index": consistency,
        "table3": {k: v.reset_index().to_dict(orient="records") for k, v in tables3.items()},
    }
    plot_sc = "base" if "base" in chosen else chosen[0]
    with staged_output(out_dir) as tmp:
        files = write_dispatch_result(runs, tmp, extra=extra, plots=plots, plot_scenario=plot_sc, title=inst.name)
    if fmt != "table":
        metrics = sw.metrics()
        emit(console, fmt, None, metrics, {**extra, "metrics": metrics.to_dict(orient="records")})
        return
    console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))


