"""``slopt validate INSTANCE [--report]``: load, validate and describe an instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from slopt.cli.common import _bounds, _console, _fmt_list, _hhmm, _row
from slopt.errors import SolverError

__all__ = ["validate", "instance_summary", "base_case_report"]


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


