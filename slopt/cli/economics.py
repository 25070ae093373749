"""``slopt economics INSTANCE|RESULT_DIR``: who pays and who earns, per party and commercial model.

Registered in :mod:`slopt.cli` like the other commands. Same conventions as
``slopt solve``: every input (options, price set, plan) is validated before anything is
printed or written (bad input: one line ``error: ...``, exit 2); results are rich tables
plus CSV, JSON and PNG files written atomically at the end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _console, _row
from slopt.errors import InfeasibleError, InstanceError, SolverError


def _k(x: float) -> str:
    """Thousands of dollars, compact."""
    return "-" if x is None or not np.isfinite(x) else f"{round(x / 1e3) + 0.0:,.0f}"


def _pct(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def _g(x: float, fmt: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "never" if np.isinf(x) else format(x, fmt)


def _parse_models(text: str) -> tuple[str, ...]:
    from slopt.economics.prices import MODELS

    if text.strip().lower() == "all":
        return MODELS
    lookup = {m.lower(): m for m in MODELS}
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.lower() not in lookup:
            raise InstanceError.at(None, "--model", part, f"unknown model; use all or any of {', '.join(MODELS)}")
        out.append(lookup[part.lower()])
    if not out:
        raise InstanceError.at(None, "--model", text, "no model given")
    return tuple(dict.fromkeys(out))


def _load_plan(source: Path, instance: Optional[Path], console):
    """A :class:`~slopt.economics.plan.Plan` from a result directory, or by solving an instance."""
    from slopt.economics.plan import plan_from_dir, plan_from_result

    if source.is_dir():
        return plan_from_dir(source, instance), None
    if source.suffix.lower() != ".toml":
        raise InstanceError.at(None, "INSTANCE|RESULT_DIR", str(source), "expected an instance .toml or a slopt solve output directory")
    from slopt.io.loader import load_instance
    from slopt.sizing import solve_sizing

    inst = load_instance(source)
    from slopt.cli.common import progress

    with progress(console, f"economics: sizing {inst.name} (MILP)"):
        res = solve_sizing(inst)
    if res.objective_usd is None:
        err = InfeasibleError if str(res.status) == "infeasible" else SolverError
        raise err(f"{source}: sizing returned {res.status}: {res.message or 'no plan'}")
    return plan_from_result(res), res


def plan_table(plan, ev) -> Table:
    t = Table(title=f"plan {escape(plan.name)}: storage by technology", header_style="bold")
    for col in ("tech", "kWh", "kW", "out kWh/d", "EFC/d", "idle h/d", "life y", "repl."):
        t.add_column(col, justify="left" if col == "tech" else "right")
    for tp in plan.techs:
        s = ev.system
        t.add_row(tp.name, f"{tp.e_kwh:,.0f}", f"{tp.p_kw:,.0f}", f"{tp.discharge_kwh_day:,.0f}",
                  f"{tp.efc_per_day:.2f}", f"{tp.idle_hours_per_day:.1f}", f"{s[f'life_years_{tp.name}']:.2f}",
                  f"{s[f'replacements_{tp.name}']:.0f}")
    return t


def metrics_table(ev) -> Table:
    t = Table(title="per party (own discount rate): NPV, IRR, payback, LCOS", header_style="bold")
    for col in ("model", "party", "NPV k$", "IRR %", "payback y", "LCOS $/kWh", "year-0 k$"):
        t.add_column(col, justify="left" if col in ("model", "party") else "right")
    for _, r in ev.metrics.iterrows():
        t.add_row(r["model"], r["party"], _k(r["npv_usd"]), _pct(r["irr"]), _g(r["payback_years"], ".1f"),
                  _g(r["lcos_usd_per_kwh"], ".3f"), _k(r["initial_outlay_usd"]))
    return t


def bands_table(ev) -> Table:
    t = Table(title="fee band where every party's NPV >= 0", header_style="bold")
    for col in ("model", "fee unit", "band", "contract", "set by / why none"):
        t.add_column(col, justify="left" if col in ("model", "fee unit", "set by / why none") else "right")
    for _, r in ev.bands.iterrows():
        fee = ev.fees.of(r["model"])
        band = f"{r['lo']:,.4g} .. {r['hi']:,.4g}" if r["exists"] else "none"
        why = f"{r['lower_party'] or 'fee >= 0'} / {r['upper_party'] or '-'}" if r["exists"] else r["reason"]
        t.add_row(r["model"], r["unit"], band, f"{fee:,.4g}", escape(why))
    return t


def degradation_table(ev) -> Table:
    t = Table(title="faster degradation than expected: change of NPV (k$), same contract", header_style="bold")
    parties = list(dict.fromkeys(ev.degradation["party"]))
    t.add_column("model")
    for p in parties:
        t.add_column(p, justify="right")
    for model, g in ev.degradation.groupby("model", sort=False):
        d = g.set_index("party")["delta_npv_usd"]
        t.add_row(model, *(_k(d.get(p, float("nan"))) for p in parties))
    return t


def risk_table(risk) -> Table:
    t = Table(title=f"Monte Carlo, {risk.n_draws:,} draws ({risk.seconds:.2f} s)", header_style="bold")
    for col in ("model", "party", "P(NPV<0)", "q05 k$", "mean k$", "std k$", "degr. std k$"):
        t.add_column(col, justify="left" if col in ("model", "party") else "right")
    for _, r in risk.summary.iterrows():
        t.add_row(r["model"], r["party"], f"{r['p_loss']:.3f}", _k(r["q05_usd"]), _k(r["mean_usd"]),
                  _k(r["std_usd"]), _k(r["deg_std_usd"]))
    return t


def table4_table(t4) -> Table:
    t = Table(title="review Table 4 in numbers (marks: filled circles of the review, 1-4)", header_style="bold")
    t.add_column("quantity", style="bold")
    for m in t4["model"]:
        t.add_column(m, justify="right")
    rows = (("user initial investment k$", "user_initial_investment_usd", "mark_initial_investment", _k),
            ("user O&M k$/yr", "user_om_usd_per_yr", "mark_user_om", _k),
            ("user tasks (own/maintain/schedule)", "user_tasks", "mark_expertise", lambda x: f"{x:.0f}"),
            ("manufacturer capital k$", "manufacturer_capital_usd", None, _k),
            ("manufacturer loss, faster aging k$", "manufacturer_degradation_loss_usd", "mark_manufacturer_discretion", _k),
            ("user loss, faster aging k$", "user_degradation_loss_usd", None, _k),
            ("first-life data to the user", "first_life_data_to_user", "mark_data_leakage", lambda x: "yes" if x else "no"))
    for label, col, mark, fmt in rows:
        t.add_row(label, *(f"{fmt(r[col])}" + (f" ({int(r[mark])})" if mark else "") for _, r in t4.iterrows()))
    return t


def eaas_table(cmp) -> Table:
    t = Table(title=f"EaaS: one system for all users vs one per user (idle time -{cmp.idle_reduction_pct:.0f} %; "
              "idle h = 24 - moved kWh / kW)", header_style="bold")
    for col in ("case", "units", "idle h/d", "out kWh/d", "EFC/d", "revenue k$/yr", "net of wear"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for _, r in cmp.summary.iterrows():
        t.add_row(r["case"], f"{r['units']}", f"{r['idle_equiv_hours_per_day']:.2f}", f"{r['throughput_kwh_per_day']:,.0f}",
                  f"{r['efc_per_day']:.2f}", _k(r["revenue_usd_per_year"]),
                  _k(r["revenue_net_of_wear_usd_per_day"] * 365.0))
    return t


def economics(
    source: Path = typer.Argument(..., help="Instance TOML (solved first) or a slopt solve output directory.",
                                  show_default=False),
    model: str = typer.Option("all", "--model", help="all, or a comma list of BaaP, BaaS, PaaS, EaaS."),
    draws: int = typer.Option(10_000, "--draws", help="Monte Carlo draws (0: skip)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory [default: out/<plan>-economics]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo draws."),
    prices: Optional[Path] = typer.Option(None, "--prices", help="Price and contract set TOML [default: built-in, "
                                          "documented in instances/economics/default.toml]."),
    instance: Optional[Path] = typer.Option(None, "--instance", help="The instance of a RESULT_DIR (its technologies)."),
    eaas: bool = typer.Option(True, "--eaas/--no-eaas", help="Solve the EaaS vs one-system-per-user comparison."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
) -> None:
    """Cash flows, NPV/IRR/payback/LCOS, fee bands and risk per party for BaaP, BaaS, PaaS and EaaS."""
    from slopt.economics.evaluate import evaluate
    from slopt.economics.prices import load_prices

    models = _parse_models(model)
    if draws < 0:
        raise InstanceError.at(None, "--draws", draws, "must be >= 0")
    if seed < 0:
        raise InstanceError.at(None, "--seed", seed, "must be >= 0")
    if not source.exists():
        raise InstanceError.at(None, "INSTANCE|RESULT_DIR", str(source), "no such file or directory")
    price_set = load_prices(prices)
    console = _console()
    plan, _ = _load_plan(source, instance, console)
    ev = evaluate(plan, price_set, models)
    risk = None
    if draws > 0:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from slopt.economics.risk import monte_carlo

        with Progress(TextColumn("Monte Carlo"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} draws"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("mc", total=draws)
            risk = monte_carlo(plan, price_set, ev.fees, draws, seed=seed, models=models,
                               progress=lambda done, total: bar.update(task, completed=done))
    priced = None
    if risk is not None and set(models) & {"BaaS", "PaaS", "EaaS"}:
        from slopt.economics.risk import risk_priced_fees

        priced = risk_priced_fees(plan, price_set, ev.fees, draws, seed=seed,
                                  models=tuple(m for m in models if m != "BaaP"))
    cmp = None
    if eaas and "EaaS" in models:
        from slopt.economics.eaas import compare_eaas

        usable = sum(t.e_kwh * t.tech.soh * (t.tech.soc_max - t.tech.soc_min) for t in plan.techs)
        from slopt.cli.common import progress

        with progress(console, "economics: EaaS schedules (HiGHS)"):
            cmp = compare_eaas(price_set, usable, plan.p_kw)
    _print(console, plan, ev, risk, cmp, priced)
    from slopt.io.results import check_output_dir, safe_name, staged_output

    out_dir = check_output_dir(out if out is not None else Path("out") / f"{safe_name(plan.name)}-economics")
    with staged_output(out_dir) as tmp:
        files = write_economics(tmp, ev, risk, cmp, plots=plots, priced=priced)
    console.print(escape(f"wrote {', '.join(p.name for p in files)} to {out_dir}"))


def priced_table(priced) -> Table:
    t = Table(title="fee at which the manufacturer loses money in 5 % of draws", header_style="bold")
    for col in ("model", "contract fee", "risk-priced fee", "user NPV k$ at it", "P(loss) now"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for _, r in priced.iterrows():
        t.add_row(r["model"], f"{r['fee_contract']:,.4g}", f"{r['fee_risk_priced']:,.4g}",
                  _k(r["user_npv_risk_priced_usd"]), f"{r['manufacturer_p_loss_contract']:.3f}")
    return t


def _print(console, plan, ev, risk, cmp, priced=None) -> None:
    from slopt.economics.risk import risk_transfer

    console.print(plan_table(plan, ev))
    console.print(metrics_table(ev))
    console.print(bands_table(ev))
    console.print(degradation_table(ev))
    if risk is not None:
        console.print(risk_table(risk))
        rt = risk_transfer(risk.summary)
        for _, r in rt.iterrows():
            verdict = "moves" if r["moves_risk"] else "does NOT move"
            console.print(escape(f"{r['model']} {verdict} degradation risk from the user to the manufacturer: NPV std "
                                 f"from degradation, user {_k(r['user_deg_std_baap_usd'])} -> {_k(r['user_deg_std_usd'])} "
                                 f"k$, manufacturer {_k(r['manufacturer_deg_std_baap_usd'])} -> "
                                 f"{_k(r['manufacturer_deg_std_usd'])} k$ (BaaP -> {r['model']})"))
    if priced is not None and not priced.empty:
        console.print(priced_table(priced))
    if not ev.table4.empty:
        console.print(table4_table(ev.table4))
    if cmp is not None:
        console.print(eaas_table(cmp))
    s = Table(show_header=False)
    s.add_column("item", style="bold")
    s.add_column("value")
    _row(s, "system LCOS", f"{ev.system['lcos_usd_per_kwh']:.3f} $/kWh (Schmidt et al. 2019; manufacturer's rate)")
    _row(s, "fees", ", ".join(f"{m} {ev.fees.of(m):,.4g}" for m in ev.metrics["model"].unique()))
    console.print(s)


def write_economics(out_dir: Path, ev, risk, cmp, plots: bool = True, priced=None) -> list[Path]:
    """Write the CSV tables, ``result.json`` and the PNG plots (atomically)."""
    from slopt.economics.prices import price_table
    from slopt.report import atomic_write_text, to_json

    tables = {"prices.csv": price_table(ev.prices), "plan.csv": ev.plan.summary(), "metrics.csv": ev.metrics,
              "cashflows.csv": ev.flows, "fee_bands.csv": ev.bands, "degradation.csv": ev.degradation,
              "table4.csv": ev.table4}
    if risk is not None:
        from slopt.economics.risk import risk_transfer

        tables |= {"risk_summary.csv": risk.summary, "risk_draws.csv": risk.npv,
                   "risk_transfer.csv": risk_transfer(risk.summary)}
    if priced is not None:
        tables |= {"risk_priced_fees.csv": priced}
    if cmp is not None:
        tables |= {"eaas_summary.csv": cmp.summary, "eaas_units.csv": cmp.units, "eaas_users.csv": cmp.users}
    files = [atomic_write_text(out_dir / k, v.to_csv(index=False)) for k, v in tables.items()]
    payload = {"plan": ev.plan.name, "fees": ev.fees.__dict__, "system": ev.system,
               "metrics": ev.metrics.to_dict(orient="records"), "fee_bands": ev.bands.to_dict(orient="records"),
               "degradation": ev.degradation.to_dict(orient="records"), "table4": ev.table4.to_dict(orient="records"),
               "prices": ev.prices.model_dump(mode="json")}
    if risk is not None:
        payload |= {"risk": {"draws": risk.n_draws, "seconds": risk.seconds,
                             "summary": risk.summary.to_dict(orient="records")}}
    if cmp is not None:
        payload |= {"eaas": {"idle_reduction_pct": cmp.idle_reduction_pct,
                             "idle_steps_reduction_pct": cmp.idle_steps_reduction_pct,
                             "summary": cmp.summary.to_dict(orient="records")}}
    files.append(atomic_write_text(out_dir / "result.json", to_json(payload)))
    if plots:
        from slopt.economics.plots import plot_economics

        files += plot_economics(ev, risk, out_dir)
    return files
