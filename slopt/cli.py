"""The ``slopt`` command line (typer + rich).

Commands: ``slopt validate INSTANCE [--report]``, ``slopt solve INSTANCE [--method milp]
[--out DIR] [--time-limit S] [--gap G]``, ``slopt dispatch INSTANCE [--strategy S|all]
[--scenario NAME|all] [--out DIR]`` and ``slopt info``; later commands (``bench``) register on
the same :data:`app` (one function per command below).

:func:`main` is the entry point. It turns any :class:`~slopt.errors.SloptError` into one
line ``error: <message>`` on stderr and the error's exit code (DESIGN section 11: 2 bad
input, 3 infeasible, 4 solver failure), without a traceback. Commands load and validate
their inputs before they print or write anything.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata, util
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slopt.errors import SloptError, SolverError

__all__ = ["app", "main"]

app = typer.Typer(
    name="slopt",
    help="Planning and operation of second-life battery storage on distribution feeders.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _row(table: Table, item: str, value: str, markup: bool = False) -> None:
    """Add a row; user-supplied text is escaped so that ``[...]`` is never read as markup."""
    table.add_row(escape(item), value if markup else escape(value))


def _console() -> Console:
    return Console(highlight=False)


def _hhmm(step: int, resolution_min: int) -> str:
    m = int(step) * int(resolution_min)
    return f"{m // 60:02d}:{m % 60:02d}"


def _fmt_list(values, limit: int = 16) -> str:
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in np.asarray(values).tolist()]
    return ", ".join(vals) if len(vals) <= limit else ", ".join(vals[:limit]) + f", ... ({len(vals)} in all)"


def _bounds(arr) -> str:
    arr = np.asarray(arr, dtype=float)
    return f"{arr[0]:g}" if arr.size and np.all(arr == arr[0]) else _fmt_list(arr)


# ----------------------------------------------------------------------------- validate
def instance_summary(inst) -> Table:
    """A rich table describing an :class:`~slopt.io.instance.Instance`."""
    f = inst.feeder
    p_kw, _ = inst.net_load_kw()
    load_kw = inst.load_scale * f.p_load_kw
    load_mwh = float((inst.load_scale * np.asarray(inst.load_mult)).sum() * f.p_load_kw.sum() * inst.dt_h / 1e3)
    t = Table(title=f"instance {escape(inst.name)}", show_header=True, header_style="bold")
    t.add_column("item", style="bold")
    t.add_column("value")
    if inst.description:
        _row(t, "description", inst.description)
    if inst.path is not None:
        _row(t, "file", str(inst.path))
    spec = str(inst.extra.get("feeder", f.name))
    _row(t, "feeder", f"{spec} = {f.name}" if spec != f.name else f.name)
    _row(t, "buses", f"{f.n_bus} (root bus {int(f.bus_ids[0])}), {f.base_kv:g} kV, {f.base_mva:g} MVA base")
    _row(t, "total load", f"{load_kw.sum():.1f} kW, {inst.load_scale * f.q_load_kvar.sum():.1f} kvar nominal"
              f" (load_scale {inst.load_scale:g}); {load_mwh:.2f} MWh/day")
    _row(t, "time steps", f"{inst.n_steps} x {inst.resolution_min} min (24 h), profiles: {inst.profile_source}")
    _row(t, "voltage band", f"{inst.vmin_pu:g} - {inst.vmax_pu:g} p.u.")
    if len(inst.pv_bus_ids):
        _row(t, "PV", f"{len(inst.pv_bus_ids)} buses [{_fmt_list(inst.pv_bus_ids)}], "
                  f"{_bounds(inst.pv_kw)} kW each, {np.sum(inst.pv_kw):.1f} kW in all; "
                  f"{float(np.sum(inst.pv_mult) * np.sum(inst.pv_kw) * inst.dt_h / 1e3):.2f} MWh/day")
    else:
        _row(t, "PV", "none")
    _row(t, "net load", f"{p_kw.sum(axis=1).min():.1f} .. {p_kw.sum(axis=1).max():.1f} kW")
    for name, tech in inst.technologies.items():
        _row(t, f"storage.{name}",
                  f"{tech.energy_cost_usd_per_kwh:g} $/kWh + {tech.power_cost_usd_per_kw:g} $/kW; "
                  f"eta {tech.eta_charge:g}/{tech.eta_discharge:g}, SOC {tech.soc_min:g}-{tech.soc_max:g} "
                  f"(start {tech.soc_initial:g}), C-rate {tech.c_rate_max:g}/h, SOH {tech.soh:g}, "
                  f"{tech.lifetime_years:g} years")
    c = inst.candidates
    mode = "fixed (every bus is a site)" if c.fixed else f"free (at most {c.max_sites} sites)"
    _row(t, "candidates", f"buses [{_fmt_list(c.bus_ids)}], {mode}; E {_bounds(c.e_min_kwh)}-{_bounds(c.e_max_kwh)} kWh, "
              f"P <= {_bounds(c.p_max_kw)} kW per technology")
    return t


def base_case_report(inst) -> tuple[Table, int]:
    """AC power flow of the day without storage; returns a table and the non-converged count."""
    from slopt.grid.powerflow import powerflow

    f = inst.feeder
    p, q = inst.net_load_kw()
    pf = powerflow(f, p, q)
    vm = np.asarray(pf.vm_pu)
    res, dt = inst.resolution_min, inst.dt_h
    tmin, bmin = np.unravel_index(np.nanargmin(vm), vm.shape)
    tmax, bmax = np.unravel_index(np.nanargmax(vm), vm.shape)
    under = (vm < inst.vmin_pu).any(axis=1)
    over = (vm > inst.vmax_pu).any(axis=1)
    bus_under = np.flatnonzero((vm < inst.vmin_pu).any(axis=0))
    bus_under = bus_under[np.argsort(f.bus_ids[bus_under])]
    t = Table(title="base case (no storage): AC power flow over the day", header_style="bold")
    t.add_column("item", style="bold")
    t.add_column("value")
    _row(t, "min voltage", f"{vm[tmin, bmin]:.5f} p.u. at bus {int(f.bus_ids[bmin])}, {_hhmm(tmin, res)}")
    _row(t, "max voltage", f"{vm[tmax, bmax]:.5f} p.u. at bus {int(f.bus_ids[bmax])}, {_hhmm(tmax, res)}")
    _row(t, "hours outside band", f"{(under | over).sum() * dt:g} h ({under.sum() * dt:g} h below "
              f"{inst.vmin_pu:g}, {over.sum() * dt:g} h above {inst.vmax_pu:g})")
    _row(t, "buses below band", f"{bus_under.size}" + (f" [{_fmt_list(f.bus_ids[bus_under])}]" if bus_under.size else ""))
    _row(t, "losses", f"{float(np.sum(pf.loss_kw) * dt):.1f} kWh/day (peak {float(np.max(pf.loss_kw)):.1f} kW)")
    _row(t, "substation", f"{float(np.max(pf.p_root_kw)):.1f} kW peak, {float(np.min(pf.p_root_kw)):.1f} kW min")
    bad = int(np.size(pf.converged) - np.count_nonzero(pf.converged))
    _row(t, "converged", "all steps" if bad == 0 else f"[red]{bad} of {inst.n_steps} steps did not converge[/red]", markup=True)
    return t, bad


@app.command()
def validate(
    instance: Path = typer.Argument(..., help="Instance TOML file.", show_default=False),
    report: bool = typer.Option(False, "--report", help="Also run the base-case AC power flow over the day."),
) -> None:
    """Load and validate an instance file and print its summary."""
    from slopt.io.loader import load_instance

    inst = load_instance(instance)  # raises InstanceError before anything is printed
    table = instance_summary(inst)
    extra = base_case_report(inst) if report else None
    console = _console()
    console.print(table)
    if extra is not None:
        console.print(extra[0])
        if extra[1]:
            raise SolverError(f"{instance}: base-case power flow did not converge at {extra[1]} of {inst.n_steps} steps")
    console.print(escape(f"{instance}: ok"))


# ----------------------------------------------------------------------------- solve
def sizing_table(res) -> Table:
    """The plan in the shape of seed 002 Table 2, with totals."""
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


@app.command()
def solve(
    instance: Path = typer.Argument(..., help="Instance TOML file.", show_default=False),
    method: str = typer.Option("milp", "--method", help="milp (exact, Pyomo + HiGHS), or dbo, pso, ga (bilevel with MFAC)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<instance name>]."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="HiGHS time limit per round (s)."),
    gap: float = typer.Option(1e-3, "--gap", help="Relative MIP gap (1e-3 = 0.1 %)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="HiGHS threads."),
    seed: int = typer.Option(1, "--seed", help="Random seed (HiGHS and the heuristics)."),
    objective: str = typer.Option("capex", "--objective", help="capex (seed 002 Eq. 2) or annualised."),
    pop: int = typer.Option(30, "--pop", help="Heuristics: population size."),
    gens: int = typer.Option(50, "--gens", help="Heuristics: generations."),
    variant: str = typer.Option("unbiased", "--variant", help="DBO variant: unbiased or paper."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Heuristics: also solve the MILP and report the gap."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
) -> None:
    """Size storage for an instance; print the plan and write CSV, JSON and PNG results."""
    from slopt.errors import InfeasibleError, InstanceError
    from slopt.io.loader import load_instance

    if method not in ("milp", "dbo", "pso", "ga"):
        raise InstanceError.at(None, "--method", method, "unknown method; use milp, dbo, pso or ga")
    if variant not in ("unbiased", "paper"):
        raise InstanceError.at(None, "--variant", variant, "must be unbiased or paper")
    if pop < 4 or gens < 1:
        raise InstanceError.at(None, "--pop/--gens", f"{pop}/{gens}", "need pop >= 4 and gens >= 1")
    if objective not in ("capex", "annualised"):
        raise InstanceError.at(None, "--objective", objective, "must be capex or annualised")
    if time_limit is not None and not time_limit > 0:
        raise InstanceError.at(None, "--time-limit", time_limit, "must be > 0")
    if not 0 <= gap < 1:
        raise InstanceError.at(None, "--gap", gap, "must be in [0, 1)")
    inst = load_instance(instance)
    from slopt.io.results import check_output_dir, safe_name, staged_output

    out_dir = check_output_dir(out if out is not None else Path("out") / safe_name(inst.name))

    from slopt.report import write_sizing_result
    from slopt.sizing import HeuristicOptions, SizingOptions, solve_sizing
    from slopt.solve import SolveOptions, Status

    opts = SizingOptions(solver=SolveOptions(time_limit_s=time_limit, mip_rel_gap=gap, threads=threads, seed=seed),
                         objective=objective,
                         heuristic=HeuristicOptions(pop_size=pop, n_gen=gens, seed=seed, variant=variant))
    console = _console()
    milp_res = None
    if method == "milp":
        with console.status(f"solving {escape(inst.name)} with HiGHS ...") as status:
            def progress(rnd, info):
                cost = info.get("objective_usd")
                viol = info.get("ac_max_violation_pu")
                status.update(f"round {rnd} ({info.get('phase', '')}): "
                              + (f"objective $ {cost:,.0f}, " if cost is not None else "")
                              + (f"AC violation {viol:.1e} p.u." if viol is not None else ""))
            res = solve_sizing(inst, method=method, options=opts, progress=progress)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} gen"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"{method} on {escape(inst.name)}", total=gens)

            def progress(gen, info):
                bar.update(task, completed=gen,
                           description=f"{method}: best $ {info['best_cost_usd']:,.0f}, viol {info['best_max_violation_pu']:.1e}")
            res = solve_sizing(inst, method=method, options=opts, progress=progress)
        if compare:
            with console.status("solving the MILP for the gap ..."):
                milp_res = solve_sizing(inst, method="milp", options=opts)
    console.print(run_summary(res))
    if res.status == Status.INFEASIBLE:
        console.print(diagnosis_table(res))
        with staged_output(out_dir) as tmp:        # replaces any earlier result set as a whole
            write_sizing_result(res, tmp, plots=False)
        raise InfeasibleError(f"{instance}: {res.message}")
    if res.objective_usd is None:
        raise SolverError(f"{instance}: solver returned {res.status}: {res.message or 'no solution'}")
    if milp_res is not None and milp_res.objective_usd is not None:
        res.gap_to_milp = (res.objective_usd - milp_res.objective_usd) / milp_res.objective_usd
        console.print(escape(f"MILP optimum $ {milp_res.objective_usd:,.2f} ({milp_res.status}); "
                             f"{method} is {100 * res.gap_to_milp:+.2f} % above it"))
    console.print(sizing_table(res))
    with staged_output(out_dir) as tmp:
        files = write_sizing_result(res, tmp, plots=plots)
    console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))
    if res.status == Status.ERROR:
        raise SolverError(f"{instance}: {res.message}")


# ----------------------------------------------------------------------------- dispatch
def _g(x, fmt: str) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "-" if not np.isfinite(x) else format(x, fmt)


def dispatch_metrics_table(runs, consistency: dict | None = None) -> Table:
    """Seed 002 Table 4 (and the Table 3 scalars) per scenario and strategy."""
    t = Table(title="dispatch metrics (seed 002 Tables 3-4)", header_style="bold")
    cols = ("scenario", "strategy", "SOH loss %/day", "|dev| kW", "rms dev kW", "unserved ch/dis kWh",
            "compute s", "V RMSE p.u.", "efficiency %", "active groups", "consistency")
    for c in cols:
        t.add_column(c, justify="left" if c in ("scenario", "strategy", "active groups") else "right")
    for r in runs:
        m = r.metrics
        ci = (consistency or {}).get(r.strategy, {}).get(r.scenario, float("nan"))
        t.add_row(escape(r.scenario), escape(f"{r.strategy} ({r.label})"), _g(m["soh_degradation_pct_per_day"], ".5f"),
                  _g(m["deviation_mae_kw"], ".3f"), _g(m["deviation_rms_kw"], ".3f"),
                  f"{m['unserved_charge_kwh']:.2f} / {m['unserved_discharge_kwh']:.2f}", _g(m["compute_s"], ".4f"),
                  _g(m["voltage_rmse_pu"], ".2e"), _g(m["system_efficiency_pct"], ".2f"),
                  escape(f"{m['n_active_groups']}: {m['active_groups']}"), _g(ci, ".3f"))
    return t


def dispatch_table3(table) -> Table:
    """Seed 002 Table 3 for one strategy, transposed: one column per scenario."""
    t = Table(title=f"seed 002 Table 3 ({escape(table.attrs.get('strategy', ''))})", header_style="bold")
    t.add_column("quantity", style="bold")
    for k in table.index:
        t.add_column(escape(str(k)), justify="right")
    labels = {"peak_request_kw": "peak request (kW)", "active_groups": "active groups",
              "system_efficiency_pct": "system efficiency (%)", "unserved_kwh": "unserved (kWh)",
              "consistency_index": "consistency index"}
    for c in table.columns:
        label = labels.get(c, c.replace("soc_range[", "SOC range ").rstrip("]"))
        t.add_row(escape(label), *(escape(_g(v, ".2f") if isinstance(v, float) else str(v)) for v in table[c].tolist()))
    return t


@app.command()
def dispatch(
    instance: Path = typer.Argument(..., help="Instance TOML file with a [dispatch] section.", show_default=False),
    strategy: str = typer.Option("priority,proportional,soh", "--strategy",
                                 help="priority (Eq. 9), proportional (CPD), soh (SOHD), mpc (MPCD), optimal (Eq. 10); "
                                      "a comma-separated list, or all (adds the Pyomo-based mpc and optimal)."),
    scenario: str = typer.Option("all", "--scenario", help="base (the request), a [[dispatch.scenarios]] name, or all."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<instance name>-dispatch]."),
    b: Optional[float] = typer.Option(None, "--b", help="Eq. 9 scaling parameter B [default: dispatch.priority_b]."),
    voltage: bool = typer.Option(True, "--voltage/--no-voltage", help="Voltage RMSE on the instance's feeder (AC sweep)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots (seed 002 Figs 7-8)."),
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

    from slopt.dispatch.simulate import (consistency_index, feeder_context_from_instance, groups_from_instance,
                                         simulate_dispatch, table3)
    from slopt.report import write_dispatch_result

    console = _console()
    skipped = [s.name for s in strategies if len(strategies) > 1 and not s.available]
    strategies = [s for s in strategies if s.name not in skipped]
    groups, info = groups_from_instance(inst)
    ctx = feeder_context_from_instance(inst) if voltage else None
    bval = d.priority_b if b is None else float(b)
    runs = []
    with console.status("simulating ...") as status:
        for sc in chosen:
            for s in strategies:
                status.update(f"scenario {escape(sc)}: {s.name}")
                opts = {"b": bval} if s.name == "priority" else None
                runs.append(simulate_dispatch(groups, requests[sc], s, dt_h=info["dt_h"], soc0=info["soc0"],
                                              options=opts, feeder_context=ctx, names=info["names"],
                                              technology=info["technology"], scenario=sc))
    consistency, tables3 = {}, {}
    if len(chosen) > 1:
        for s in strategies:
            by_sc = {r.scenario: r for r in runs if r.strategy == s.name}
            consistency[s.name] = consistency_index(by_sc).to_dict()
            t3 = table3(by_sc)
            t3.attrs["strategy"] = s.name
            tables3[s.name] = t3
    for r in runs:
        r.metrics["consistency_index"] = consistency.get(r.strategy, {}).get(r.scenario, float("nan"))
    console.print(dispatch_metrics_table(runs, consistency))
    if tables3:
        first = strategies[0].name
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
    console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))


# ----------------------------------------------------------------------------- info
_PACKAGES = ("numpy", "pandas", "pydantic", "networkx", "pyomo", "highspy", "pymoo", "pandapower", "dask")


def _version(dist: str) -> Optional[str]:
    if util.find_spec(dist) is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "installed (version unknown)"


@app.command()
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


# ----------------------------------------------------------------------------- entry point
def main(argv: Optional[list[str]] = None) -> None:
    """Run the ``slopt`` command; a :class:`SloptError` becomes ``error: ...`` and its exit code."""
    from slopt.io.results import install_signal_handlers

    install_signal_handlers()
    try:
        app(args=argv, prog_name="slopt")
    except SloptError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(exc.exit_code) from None


# fleet commands (assign, passport) register themselves on ``app``
import slopt.cli_fleet  # noqa: E402,F401
import slopt.cli_economics  # noqa: E402,F401

if __name__ == "__main__":
    # ``python -m slopt.cli``: run the importable module, on whose ``app`` every command registered
    from slopt.cli import main as _main

    _main()
