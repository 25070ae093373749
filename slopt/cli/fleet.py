"""``slopt assign`` and ``slopt passport``: the fleet commands (registered in :mod:`slopt.cli`).

Same conventions as ``slopt solve``: inputs are validated before anything is printed or
written (bad input: one line ``error: ...``, exit 2), results are rich tables plus CSV, JSON
and PNG files written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _console, _row
from slopt.errors import InstanceError

def _assign_options(spec: dict, pack: bool):
    """AssignmentOptions from the TOML fields (economics, pack rule, horizon)."""
    from slopt.fleet.assign import AssignmentOptions, PackRule

    kw = {k: float(spec[k]) for k in ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh",
                                       "years", "min_service_years", "milp_time_s") if k in spec}
    rule = None
    if pack and spec.get("pack", True):
        rule = PackRule(soh_spread=float(spec.get("soh_spread", 0.05)), r_spread_pu=float(spec.get("r_spread", 0.15)),
                        max_installations=spec.get("max_installations"),
                        installation_kwh=float(spec.get("installation_kwh", 50.0)))
    return AssignmentOptions(pack=rule, **kw)


def assign(
    instance: Path = typer.Argument(..., help="Fleet CSV, or an assignment TOML (fleet or generate, options).",
                                    show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<name>]."),
    demand_scale: Optional[float] = typer.Option(None, "--demand-scale",
                                                 help="Scale the default application demands [default: fleet size / 120]."),
    unlimited: bool = typer.Option(False, "--unlimited", help="No market limits: every battery may take its best route."),
    pack: bool = typer.Option(True, "--pack/--no-pack", help="Pack consistency of installations (docs/assignment.md)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the allocation PNG."),
) -> None:
    """Assign every battery to an application, remanufacture or recycling (twin + per-battery MILP)."""
    from slopt.fleet import APPLICATIONS, generate_fleet, load_fleet, scale_demands
    from slopt.fleet.assign import assign as run_assign, static_baseline

    from slopt.io.assign_toml import AssignSpec, read_assign_toml
    from slopt.io.results import check_output_dir, safe_name

    if instance.suffix.lower() == ".csv":
        spec_obj = AssignSpec(fleet=str(instance), name=instance.stem)
    elif instance.suffix.lower() == ".toml":
        spec_obj = read_assign_toml(instance)          # strict types, ranges and limits (docs/fleet.md)
    else:
        raise InstanceError.at(None, "INSTANCE", str(instance), "expected a fleet .csv or an assignment .toml")
    if demand_scale is not None and not (np.isfinite(demand_scale) and demand_scale >= 0):
        raise InstanceError.at(None, "--demand-scale", demand_scale, "must be a finite number >= 0")
    fleet = load_fleet(spec_obj.fleet) if spec_obj.fleet is not None else generate_fleet(spec_obj.generate,
                                                                                          seed=spec_obj.seed)
    spec = spec_obj.model_dump(exclude_unset=True)     # the fields the file sets
    name = spec_obj.name or instance.stem
    out_dir = check_output_dir(out if out is not None else Path("out") / safe_name(name))
    n = len(fleet.table)
    if unlimited or spec.get("unlimited", False):
        apps = {k: a.with_(demand_kwh=np.inf) for k, a in APPLICATIONS.items()}
    else:
        apps = scale_demands(APPLICATIONS, demand_scale if demand_scale is not None else spec.get("demand_scale", n / 120))
    opts = _assign_options(spec, pack)
    service = float(spec.get("service_years", 5.0))
    console = _console()
    import time

    from slopt.battery.twin import simulate_twin
    from slopt.cli.common import progress

    with progress(console, f"assign {n:,} batteries", total=3) as bar:
        bar.update("digital twin: every battery in every application", completed=0)
        t0 = time.perf_counter()
        twin = simulate_twin(fleet, list(apps.values()), years=opts.years)
        twin_s = time.perf_counter() - t0
        bar.update(f"twin done in {twin_s:.1f} s; per-battery assignment (prices, MILP)", completed=1)
        res = run_assign(fleet, apps, twin=twin, options=opts)
        res.extra["cli_twin_s"] = twin_s
        bar.update(f"assignment done, gap {100 * (res.gap or 0.0):.3f} %; static baseline", completed=2)
        base = static_baseline(fleet, apps, twin=twin, options=opts)
    _print_assignment(console, name, n, res, base, service)
    from slopt.io.results import staged_output

    with staged_output(out_dir) as tmp:
        _write_assignment(tmp, name, n, fleet, res, base, service, plots)
    console.print(escape(f"wrote assignment.csv, routes.csv, installations.csv, static.csv, result.json"
                         f"{', allocation.png' if plots else ''} to {out_dir}"))


def _print_assignment(console, name: str, n: int, res, base, service: float) -> None:
    from slopt.fleet.assign import allocation_metrics

    t = Table(title=f"assignment: {escape(name)} ({n:,} batteries)", header_style="bold")
    for col in ("route", "n", "kWh", "demand", "value $", "years", "RTE"):
        t.add_column(col, justify="left" if col == "route" else "right", no_wrap=col == "route")
    for _, r in res.routes.iterrows():
        t.add_row(str(r["route"]), f"{int(r['count']):,}", f"{r['energy_kwh']:,.1f}",
                  "" if not np.isfinite(r["demand_kwh"]) else f"{r['demand_kwh']:,.1f}", f"{r['value_usd']:,.0f}",
                  "" if np.isnan(r["mean_years"]) else f"{r['mean_years']:.2f}",
                  "" if np.isnan(r["mean_rte"]) else f"{r['mean_rte']:.3f}")
    console.print(t)
    ma, mb = res.metrics(service_years=service), allocation_metrics(base, service_years=service)
    mt = Table(title=f"adaptive (twin + MILP) vs static SOH threshold (Kumar et al. §5a), same demands; "
                     f"correct = fit for {service:g} years", header_style="bold")
    for col in ("metric", "adaptive", "static"):
        mt.add_column(col, justify="right" if col != "metric" else "left")
    for key, fmt in (("correct_pct", "{:.1f} %"), ("misallocated_pct", "{:.1f} %"), ("mean_years", "{:.2f}"),
                     ("mean_rte", "{:.3f}"), ("utilisation_pct", "{:.1f} %"), ("energy_in_apps_kwh", "{:,.1f}"),
                     ("value_usd", "$ {:,.0f}")):
        mt.add_row(key, fmt.format(ma[key]), fmt.format(mb[key]))
    console.print(mt)
    s = Table(show_header=False)
    s.add_column("item", style="bold")
    s.add_column("value")
    _row(s, "plan", f"{res.status}: value $ {res.objective_usd:,.0f}, bound $ {res.bound_usd:,.0f}, "
                    f"gap {100 * res.gap:.4f} %")
    _row(s, "method", f"{res.extra['method']}; {res.extra['n_free']:,} of {n:,} batteries in the MILP")
    if res.installations is not None and len(res.installations):
        ins = res.installations
        _row(s, "installations", f"{len(ins)} (max SOH spread {ins['soh_spread'].max():.3f}, "
                                 f"max R0 spread {100 * ins['r_spread_pu'].max():.1f} %)")
    _row(s, "time", f"twin {res.extra.get('cli_twin_s', res.twin_s):.2f} s, assignment {res.extra['assign_s']:.2f} s")
    console.print(s)


def _write_assignment(out_dir: Path, name: str, n: int, fleet, res, base, service: float, plots: bool) -> None:
    from slopt.fleet.assign import allocation_metrics
    from slopt.report import atomic_write_text

    atomic_write_text(out_dir / "assignment.csv", res.batteries.to_csv(index=False))
    atomic_write_text(out_dir / "routes.csv", res.routes.to_csv(index=False))
    atomic_write_text(out_dir / "installations.csv", res.installations.to_csv(index=False))
    atomic_write_text(out_dir / "static.csv", base.to_csv(index=False))
    payload = {"name": name, "batteries": n, "status": str(res.status), "objective_usd": res.objective_usd,
               "bound_usd": res.bound_usd, "gap": res.gap, "lp_bound_usd": res.extra["lp_bound_usd"],
               "method": res.extra["method"], "fixing_proven": res.extra["proven"], "batteries_in_milp": res.extra["n_free"],
               "prices_usd_per_kwh": res.extra["prices_usd_per_kwh"], "twin_s": res.extra.get("cli_twin_s", res.twin_s),
               "assign_s": res.extra["assign_s"], "service_years": service,
               "adaptive": res.metrics(service_years=service), "static": allocation_metrics(base, service_years=service)}
    from slopt.report import to_json

    atomic_write_text(out_dir / "result.json", to_json(payload))
    if plots:
        from slopt.report import plot_allocation

        plot_allocation(fleet.table, res.batteries, name, out_dir)


def passport(
    history: Path = typer.Argument(..., help="BMS history CSV: battery_id,time,voltage_v,current_a,temperature_c,soc.",
                                   show_default=False),
    nominal_ah: Optional[float] = typer.Option(None, "--nominal-ah", help="Rated capacity (Ah) of every battery."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<history name>]."),
) -> None:
    """Estimate SOH, resistance, cycles and thermal stress from BMS histories; write battery passports."""
    from slopt.fleet.passport import ingest_history, passport_record, plausibility_warnings, write_passport

    if nominal_ah is not None and not (np.isfinite(nominal_ah) and nominal_ah > 0):
        raise InstanceError.at(None, "--nominal-ah", nominal_ah, "must be > 0")
    summary = ingest_history(history, nominal_ah=nominal_ah)
    console = _console()
    t = Table(title=f"passports from {escape(history.name)}", header_style="bold")
    for col in ("battery", "Ah", "SOH", "R0 mOhm", "EFC", "T max C", "h > 45 C", "SOH dates", "flags"):
        t.add_column(col, justify="right" if col not in ("battery", "flags") else "left", no_wrap=col == "battery")
    f = lambda x, p: "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{p}f}"
    for _, r in summary.iterrows():
        pts = [h for h in (r["soh_history"] or []) if h.get("soh") is not None and not np.isnan(h["soh"])]
        hist = str(len(pts)) if pts else ""         # the SOH history itself is in the passport JSON
        t.add_row(escape(str(r["battery_id"])), f(r["capacity_ah"], 2), f(r["soh"], 3), f(r["r0_mohm"], 1),
                  f(r["efc"], 1), f(r["t_max_c"], 1), f(r["hours_above_45c"], 1), escape(hist),
                  str(len(r["quality_flags"] or [])))
    console.print(t)
    flagged = [(str(r["battery_id"]), r["quality_flags"]) for _, r in summary.iterrows() if r["quality_flags"]]
    for bid, flags in flagged[:10]:
        console.print(escape(f"{bid}: {', '.join(flags)}"), soft_wrap=False)
    for line in plausibility_warnings(summary):
        console.print(escape(f"warning: {line}"))
    from slopt.io.results import check_output_dir, safe_name, staged_output
    from slopt.report import atomic_write_text

    out_dir = check_output_dir(out if out is not None else Path("out") / safe_name(history.stem))
    cols = [c for c in summary.columns if c not in ("soh_history", "quality_flags")]
    with staged_output(out_dir) as tmp:
        atomic_write_text(tmp / "summary.csv", summary[cols].to_csv(index=False))
        used: set[str] = set()
        for _, r in summary.iterrows():            # battery ids become one harmless, unique file name each
            stem = base = f"passport_{safe_name(r['battery_id'], 'battery')}"
            k = 2
            while stem in used:
                stem, k = f"{base}-{k}", k + 1
            used.add(stem)
            write_passport(passport_record(summary, str(r["battery_id"])), tmp / f"{stem}.json")
    console.print(escape(f"wrote summary.csv and {len(summary)} passport JSON file(s) to {out_dir}"))
