"""``slopt solve INSTANCE``: size storage (MILP optimal in AC, or a bilevel heuristic)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _console, _row
from slopt.errors import SolverError

__all__ = ["solve", "sizing_table", "run_summary", "diagnosis_table"]


def sizing_table(res) -> Table:
    """The plan in the shape of Yuan et al. Table 2, with totals."""
    t = Table(title=f"sizing plan: {escape(res.instance.name)} ({res.method})", header_style="bold")
    for col in ("bus", "quantity", "new", "retired", "total"):
        t.add_column(col, justify="right" if col not in ("quantity",) else "left")
    t2 = res.table2()
    if t2.empty:
        t.add_row("-", "no storage needed", "", "", "")
        return t
    annual = _annualised(res)
    cost_label = "Cost ($/yr)" if annual else "Cost ($)"
    fmt = {"Capacity (kWh)": "{:,.1f}", "Power (kW)": "{:,.1f}", "Cost ($)": "{:,.0f}"}
    for (bus, qty), row in t2.iterrows():
        label = cost_label if qty == "Cost ($)" else qty
        t.add_row(str(bus), label, *(fmt[qty].format(row.get(c, 0.0)) for c in ("new", "retired", "total")))
    s = res.sizing
    cols = ["e_kwh", "p_kw", "cost_usd"] + (["capex_usd"] if annual else [])
    tot = s.groupby("technology")[cols].sum()
    get = lambda tech, col: float(tot.loc[tech, col]) if tech in tot.index else 0.0
    rows = [("e_kwh", "Capacity (kWh)", "{:,.1f}"), ("p_kw", "Power (kW)", "{:,.1f}"), ("cost_usd", cost_label, "{:,.0f}")]
    if annual:
        rows.append(("capex_usd", "Capex ($, Eq. 2)", "{:,.0f}"))
    for col, qty, f in rows:
        t.add_row("[bold]all[/bold]", f"[bold]{escape(qty)}[/bold]",
                  *(f.format(v) for v in (get("new", col), get("retired", col), float(s[col].sum()))))
    return t


def _annualised(res) -> bool:
    s = res.sizing
    return ("annualised_usd" in s and not s.empty and bool(np.allclose(s["cost_usd"], s["annualised_usd"]))
            and not bool(np.allclose(s["cost_usd"], s["capex_usd"])))


def run_summary(res) -> Table:
    t = Table(title="solve", header_style="bold", show_header=False)
    t.add_column("item", style="bold")
    t.add_column("value")
    color = {"optimal": "green", "feasible": "yellow"}.get(str(res.status), "red")
    _row(t, "status", f"[{color}]{res.status}[/{color}]", markup=True)
    if res.objective_usd is not None:
        _row(t, "objective", f"$ {res.objective_usd:,.2f}")
        if res.bound_usd is not None:
            _row(t, "bound / gap", f"$ {res.bound_usd:,.2f} / {100 * (res.gap or 0.0):.4f} %")
    if res.method == "milp":
        margin = "-" if res.ac_margin_left_pu is None else f"{res.ac_margin_left_pu:.1e}"
        change = "-" if res.refinement_cost_change is None else f"{100 * res.refinement_cost_change:.4f} %"
        _row(t, "AC check", f"max band violation {res.ac_max_violation_pu:.2e} p.u., unused margin on binding "
                            f"rows {margin} p.u., after {res.rounds} round(s)")
        if res.objective_usd is not None:
            _row(t, "status covers", f"MIP gap {100 * (res.gap or 0.0):.4f} % of the last round; AC refinement: "
                                     f"last round changed the cost by {change}")
    else:
        _row(t, "AC check", f"max band violation {res.ac_max_violation_pu:.2e} p.u. in the closed-loop MFAC day")
        _row(t, "evaluations", f"{res.n_evals} ({res.n_evals / max(res.solve_s, 1e-9):,.0f} per s)")
    v = res.voltages
    if not v.empty:
        _row(t, "AC voltage range", f"{v['vm_ac_pu'].min():.4f} - {v['vm_ac_pu'].max():.4f} p.u. "
             f"(without storage {v['vm_base_ac_pu'].min():.4f} - {v['vm_base_ac_pu'].max():.4f})")
    _row(t, "time", f"build {res.build_s:.2f} s, solve {res.solve_s:.2f} s")
    if res.message:
        _row(t, "note", res.message)
    return t


def diagnosis_table(res, limit: int = 15) -> Table:
    """Buses and steps outside the band at the least-violation plan (AC), worst first."""
    diag = res.diagnosis
    n = 0 if diag is None else len(diag)
    d = Table(title=f"buses and steps that cannot be held in AC ({n} in all; worst {min(n, limit)} shown, "
                    f"all in diagnosis.csv)", header_style="bold")
    for col in ("bus", "time (h)", "side", "limit (p.u.)", "AC (p.u.)", "shortfall (p.u.)"):
        d.add_column(col, justify="right")
    if not n:
        d.add_row("-", "-", "-", "-", "-", escape(res.message))
        return d
    for _, r in diag.head(limit).iterrows():
        d.add_row(str(r["bus"]), f"{r['time_h']:g}", r["side"], f"{r['limit_pu']:.4f}", f"{r['vm_ac_pu']:.5f}",
                  f"{r['shortfall_pu']:.5f}")
    return d


def solve(
    instance: Path = typer.Argument(..., help="Instance TOML file.", show_default=False),
    method: str = typer.Option("milp", "--method", metavar="[milp|dbo|pso|ga]",
                               help="milp (exact, Pyomo + HiGHS, optimal in AC), or dbo, pso, ga (bilevel with MFAC)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<instance name>]."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="HiGHS time limit per round (s)."),
    gap: float = typer.Option(1e-3, "--gap", help="Relative MIP gap (1e-3 = 0.1 %)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="HiGHS threads (1 .. limit threads)."),
    seed: int = typer.Option(1, "--seed", help="Random seed (HiGHS and the heuristics), 0 .. 4294967295."),
    objective: str = typer.Option("capex", "--objective", metavar="[capex|annualised]",
                                  help="capex (Eq. 2 of Yuan et al. 2025) or annualised."),
    pop: int = typer.Option(30, "--pop", help="Heuristics: population size."),
    gens: int = typer.Option(50, "--gens", help="Heuristics: generations."),
    variant: str = typer.Option("unbiased", "--variant", metavar="[unbiased|paper]", help="DBO variant."),
    dispatch: str = typer.Option("proportional", "--dispatch", metavar="[proportional|priority|soh]",
                                 help="Heuristics: the lower-level dispatch among technologies (a step strategy)."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Heuristics: also solve the MILP and report the gap."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
    fmt: str = typer.Option("table", "--format", metavar="[table|csv|json]",
                            help="stdout: rich tables, the sizing table as CSV, or the result summary as JSON."),
) -> None:
    """Size storage for an instance; print the plan and write CSV, JSON and PNG results."""
    from slopt.cli.common import check_format, check_seed, check_threads, emit, progress
    from slopt.errors import InfeasibleError, InstanceError
    from slopt.io.loader import load_instance
    from slopt.limits import check

    if method not in ("milp", "dbo", "pso", "ga"):
        raise InstanceError.at(None, "--method", method, "unknown method; use milp, dbo, pso or ga")
    if variant not in ("unbiased", "paper"):
        raise InstanceError.at(None, "--variant", variant, "must be unbiased or paper")
    if pop < 4 or gens < 1:
        raise InstanceError.at(None, "--pop/--gens", f"{pop}/{gens}", "need pop >= 4 and gens >= 1")
    check("pop", pop, "--pop")
    check("gens", gens, "--gens")
    if objective not in ("capex", "annualised"):
        raise InstanceError.at(None, "--objective", objective, "must be capex or annualised")
    if time_limit is not None and not (time_limit > 0 and time_limit < float("inf")):
        raise InstanceError.at(None, "--time-limit", time_limit, "must be > 0 and finite")
    if not 0 <= gap < 1:
        raise InstanceError.at(None, "--gap", gap, "must be in [0, 1)")
    seed, threads, fmt = check_seed(seed), check_threads(threads), check_format(fmt)
    from slopt.heuristics.capacity import CapacityOptions
    from slopt.heuristics.simulation import SimulationOptions

    capacity = CapacityOptions(simulation=SimulationOptions(dispatch=dispatch))   # refuses mpc/optimal (exit 2)
    inst = load_instance(instance)
    if inst.n_days > 1 and method != "milp":
        raise InstanceError.at(instance, "--method", method,
                               f"the bilevel heuristics simulate one day; this instance covers {inst.n_days} days "
                               "(use --method milp: representative days and a year replay)")
    if method != "milp":
        check("evaluations", pop * gens * inst.n_steps, "--pop x --gens x time steps")
    from slopt.io.results import check_output_dir, safe_name, staged_output

    out_dir = check_output_dir(out if out is not None else Path("out") / safe_name(inst.name))

    from slopt.report import write_sizing_result
    from slopt.sizing import HeuristicOptions, SizingOptions, solve_sizing
    from slopt.solve import SolveOptions, Status

    opts = SizingOptions(solver=SolveOptions(time_limit_s=time_limit, mip_rel_gap=gap, threads=threads, seed=seed),
                         objective=objective,
                         heuristic=HeuristicOptions(pop_size=pop, n_gen=gens, seed=seed, variant=variant,
                                                    compare_milp=compare, capacity=capacity))
    console = _console()
    if inst.n_days > 1:
        return _solve_year(inst, instance, opts, out_dir, plots, fmt, console)
    if method == "milp":
        with progress(console, f"solve {inst.name} (HiGHS)") as bar:
            def report(rnd, info):
                cost = info.get("objective_usd")
                viol = info.get("ac_max_violation_pu")
                bar.update(f"round {rnd} ({info.get('phase', '')})"
                           + (f", objective $ {cost:,.0f}" if cost is not None else "")
                           + (f", AC violation {viol:.1e} p.u." if viol is not None else ""))
            res = solve_sizing(inst, method=method, options=opts, progress=report)
    else:
        with progress(console, f"{method} on {inst.name}", total=gens) as bar:
            def report(gen, info):
                if gen == 0:
                    bar.update("solving the MILP for the gap")
                    return
                bar.update(f"best $ {info['best_cost_usd']:,.0f}, violation {info['best_max_violation_pu']:.1e}",
                           completed=gen)
            res = solve_sizing(inst, method=method, options=opts, progress=report)
    if fmt == "table":
        console.print(run_summary(res))
    if res.status == Status.INFEASIBLE:
        if fmt == "table":
            console.print(diagnosis_table(res))
        with staged_output(out_dir) as tmp:        # replaces any earlier result set as a whole
            write_sizing_result(res, tmp, plots=False)
        raise InfeasibleError(f"{instance}: {res.message}")
    if res.objective_usd is None:
        raise SolverError(f"{instance}: solver returned {res.status}: {res.message or 'no solution'}")
    if res.gap_to_milp is not None and fmt == "table":
        console.print(escape(f"MILP optimum $ {res.milp_objective_usd:,.2f}; "
                             f"{method} is {100 * res.gap_to_milp:+.2f} % above it"))
    with staged_output(out_dir) as tmp:
        files = write_sizing_result(res, tmp, plots=plots)
    emit(console, fmt, sizing_table(res), res.sizing, res.summary())
    if fmt == "table":
        console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))
    if res.status == Status.ERROR:
        raise SolverError(f"{instance}: {res.message}")


def year_table(yres) -> Table:
    """The year's figures: modelled days, rounds, hours outside the band, voltage range."""
    s = yres.summary()
    t = Table(title=f"year: {escape(yres.instance.name)}", header_style="bold", show_header=False)
    t.add_column("item", style="bold")
    t.add_column("value")
    color = {"optimal": "green", "feasible": "yellow"}.get(s["status"], "red")
    _row(t, "status", f"[{color}]{s['status']}[/{color}]", markup=True)
    if s["objective_usd"] is not None:
        _row(t, "objective", f"$ {s['objective_usd']:,.2f}")
    if s["bound_usd"] is not None:
        _row(t, "bound", f"$ {s['bound_usd']:,.2f} (gap {100 * s['gap']:.2f} %)")
    _row(t, "days modelled", f"{s['days_modelled']} ({s['typical_days']} typical, {s['extreme_days']} extreme, "
                             f"{s['critical_days']} critical) in {s['rounds']} round(s)")
    w, o = s["hours_outside_with_storage"], s["hours_outside_without_storage"]
    _row(t, "hours outside band", f"{o['total']:g} h without storage ({o['below']:g} below, {o['above']:g} above); "
                                  f"{w['total']:g} h with")
    _row(t, "year voltage", f"{s['vmin_year_pu']:.4f} - {s['vmax_year_pu']:.4f} p.u. (without storage "
                            f"{s['vmin_year_without_storage_pu']:.4f} - {s['vmax_year_without_storage_pu']:.4f})")
    _row(t, "worst", f"{s['worst_violation_pu']:.2e} p.u. at bus {s['worst_bus']}, day {s['worst_day']}, "
                     f"{s['worst_time_h']:g} h")
    _row(t, "time", f"days {s['days_s']:.1f} s, sizing {s['sizing_s']:.1f} s, replay {s['replay_s']:.1f} s, "
                    f"year AC {s['year_ac_s']:.2f} s, total {s['total_s']:.1f} s")
    if s["message"]:
        _row(t, "note", s["message"])
    return t


def _solve_year(inst, instance, opts, out_dir, plots, fmt, console):
    """A multi-day instance: representative days, sizing, year replay (:func:`slopt.year.plan_year`)."""
    from dataclasses import replace

    from slopt.cli.common import emit, progress
    from slopt.errors import InfeasibleError
    from slopt.io.results import staged_output
    from slopt.report import write_year_result
    from slopt.year import YearOptions, plan_year

    yopts = YearOptions(replay_bar=console.is_terminal)
    yopts = replace(yopts, sizing=replace(opts, solver=replace(opts.solver, time_limit_s=opts.solver.time_limit_s or 60.0),
                                          exclusivity="fix", max_rounds=max(opts.max_rounds, yopts.sizing.max_rounds)))
    with progress(console, f"year {inst.name}") as bar:
        def report(stage, info):
            if stage == "days":
                bar.update(f"{len(info['days'])} representative days chosen")
            elif stage == "sizing":
                bar.update(f"round {info['round']}: sizing on the modelled days")
            elif stage == "replay":
                bar.update(f"round {info['round']}: year replayed, {info['violating_days']} day(s) outside the band")
        yres = plan_year(inst, yopts, progress=report)
    if fmt == "table":
        console.print(year_table(yres))
    if yres.objective_usd is None:
        raise InfeasibleError(f"{instance}: {yres.message}")
    with staged_output(out_dir) as tmp:
        files = write_year_result(yres, tmp, plots=plots)
    if yres.sizing_result is not None:
        emit(console, fmt, sizing_table(yres.sizing_result), yres.sizing, yres.summary())
    if fmt == "table":
        console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))
