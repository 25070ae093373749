"""Throughput of the batched AC sweep against pandapower's Newton-Raphson (DESIGN section 3).

For each feeder, a batch of 288 time steps x 30 scenarios (8640 snapshots) is built with a
seeded generator: a load multiplier in [0.3, 1.5] per snapshot and PV on a few buses (a
bell-shaped daily profile scaled per scenario). ``slopt.grid.powerflow.powerflow`` solves
the whole batch in one call; pandapower's ``runpp`` solves a seeded random subsample of the
same snapshots one by one, reusing one net and only changing the load values. Both are timed
in the same run; the reported times are medians over repeats. The voltages of the subsample
must agree to 1e-6 p.u.

Usage::

    python benchmarks/powerflow.py [--repeats 5] [--pp-samples 60] [--seed 2024]

Writes ``benchmarks/results/powerflow.csv``. Exits with status 1 if the accuracy check fails.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.grid.feeder import Feeder, load_feeder  # noqa: E402
from slopt.grid.powerflow import powerflow  # noqa: E402

FEEDERS = ("ieee33", "ieee69", "ieee141")
N_T, N_SCEN = 288, 30
PV_KW = 300.0
N_PV = 4
TOL_V = 1e-6
TARGET_RATIO = 1000.0
OUT = ROOT / "benchmarks" / "results" / "powerflow.csv"


def make_batch(f: Feeder, rng: np.random.Generator):
    """Net loads of shape (N_SCEN, N_T, n_bus): random multipliers and PV on N_PV buses."""
    mult = rng.uniform(0.3, 1.5, size=(N_SCEN, N_T, 1))
    hours = (np.arange(N_T) + 0.5) * 24.0 / N_T
    shape = np.clip(np.cos((hours - 12.5) / 6.5 * np.pi / 2), 0, None) ** 2  # 06:00-19:00
    pv_bus = rng.choice(np.arange(1, f.n_bus), size=N_PV, replace=False)
    pv = np.zeros((N_SCEN, N_T, f.n_bus))
    pv[:, :, pv_bus] = PV_KW * rng.uniform(0.5, 1.0, size=(N_SCEN, 1, 1)) * shape[None, :, None]
    p = mult * f.p_load_kw - pv
    q = mult * f.q_load_kvar
    return p, q


def to_pandapower(f: Feeder):
    import pandapower as pp

    net = pp.create_empty_network(sn_mva=f.base_mva)
    buses = [pp.create_bus(net, vn_kv=f.base_kv) for _ in range(f.n_bus)]
    pp.create_ext_grid(net, buses[0], vm_pu=f.v_root_pu)
    z_base = f.base_kv**2 / f.base_mva
    for i in range(1, f.n_bus):
        pp.create_line_from_parameters(
            net, buses[f.parent[i]], buses[i], length_km=1.0, r_ohm_per_km=f.r_pu[i] * z_base,
            x_ohm_per_km=f.x_pu[i] * z_base, c_nf_per_km=0.0, max_i_ka=1e3,
        )
    pp.create_loads(net, buses, p_mw=f.p_load_kw / 1e3, q_mvar=f.q_load_kvar / 1e3)
    return net


def bench_feeder(key: str, repeats: int, pp_samples: int, seed: int) -> dict:
    import pandapower as pp

    f = load_feeder(key)
    rng = np.random.default_rng([seed, f.n_bus])
    p, q = make_batch(f, rng)
    n_snap = N_SCEN * N_T

    res = powerflow(f, p, q)  # warm-up: builds and caches the feeder matrices
    flat_p, flat_q = p.reshape(n_snap, f.n_bus), q.reshape(n_snap, f.n_bus)
    vm = res.vm_pu.reshape(n_snap, f.n_bus)
    sample = rng.choice(n_snap, size=pp_samples, replace=False)
    # pandapower twice: plain runpp (default settings), and its time-series mode that
    # reuses the internal case between calls (recycle) and starts from the last result
    modes = {"default": {}, "recycle": {"recycle": {"trafo": False, "gen": False, "bus_pq": True}, "init": "results"}}
    nets = {mode: to_pandapower(f) for mode in modes}
    for mode, kwargs in modes.items():
        pp.runpp(nets[mode], numba=False, **kwargs)  # warm-up (and the first result to recycle)

    # repeats interleave slopt and pandapower, so that both see the same machine load
    t_slopt, t_pp, dv = [], {mode: [] for mode in modes}, 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        res = powerflow(f, p, q)
        t_slopt.append(time.perf_counter() - t0)
        for mode, kwargs in modes.items():
            net = nets[mode]
            t0 = time.perf_counter()
            for k in sample:
                net.load["p_mw"] = flat_p[k] / 1e3
                net.load["q_mvar"] = flat_q[k] / 1e3
                pp.runpp(net, numba=False, **kwargs)  # NR, tolerance 1e-8 MVA (default)
                if r == 0:
                    dv = max(dv, float(np.abs(net.res_bus.vm_pu.to_numpy() - vm[k]).max()))
            t_pp[mode].append(time.perf_counter() - t0)
    rate_pp = {mode: pp_samples / statistics.median(t) for mode, t in t_pp.items()}

    s_slopt = statistics.median(t_slopt)
    rate_slopt = n_snap / s_slopt
    return {
        "feeder": key,
        "n_bus": f.n_bus,
        "snapshots": n_snap,
        "slopt_s": s_slopt,
        "slopt_snap_per_s": rate_slopt,
        "pandapower_snap_per_s": rate_pp["default"],
        "ratio": rate_slopt / rate_pp["default"],
        "pandapower_recycle_snap_per_s": rate_pp["recycle"],
        "ratio_recycle": rate_slopt / rate_pp["recycle"],
        "max_dv_pu": dv,
        "iterations_max": int(res.iterations.max()),
        "iterations_mean": float(res.iterations.mean()),
        "all_converged": bool(res.all_converged),
    }


def print_table(rows: list[dict]) -> None:
    head = ["feeder", "n_bus", "slopt s (8640)", "slopt snap/s", "pandapower snap/s", "ratio",
            "pp recycle snap/s", "ratio (recycle)", "max |dV| p.u.", "iter max"]
    cells = [
        [r["feeder"], str(r["n_bus"]), f"{r['slopt_s']:.4f}", f"{r['slopt_snap_per_s']:,.0f}",
         f"{r['pandapower_snap_per_s']:,.1f}", f"{r['ratio']:,.0f}x",
         f"{r['pandapower_recycle_snap_per_s']:,.1f}", f"{r['ratio_recycle']:,.0f}x",
         f"{r['max_dv_pu']:.1e}", str(r["iterations_max"])]
        for r in rows
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
        for c in cells:
            print("  ".join(v.rjust(w) for v, w in zip(c, widths)))
        return
    table = Table(title=f"AC power flow, {N_T} x {N_SCEN} snapshots (medians)")
    for h in head:
        table.add_column(h, justify="left" if h == "feeder" else "right")
    for c in cells:
        table.add_row(*c)
    Console(width=140).print(table)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pp-samples", type=int, default=60)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--feeders", nargs="*", default=list(FEEDERS))
    args = ap.parse_args(argv)

    import pandapower

    numba = importlib.util.find_spec("numba") is not None
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandapower {pandapower.__version__}, "
        f"numba {'installed' if numba else 'NOT installed (pandapower runs without its numba speed-up)'}, "
        f"{os.cpu_count()} CPUs"
    )
    rows = [bench_feeder(k, args.repeats, args.pp_samples, args.seed) for k in args.feeders]
    print_table(rows)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["numba"], lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "numba": numba})
    print(f"wrote {OUT.relative_to(ROOT)}")

    ok = True
    for r in rows:
        if not r["all_converged"] or r["max_dv_pu"] > TOL_V:
            print(f"ACCURACY FAIL {r['feeder']}: max |dV| = {r['max_dv_pu']:.2e}, all converged = {r['all_converged']}")
            ok = False
        for col in ("ratio", "ratio_recycle"):
            if r[col] < TARGET_RATIO:
                print(f"below the {TARGET_RATIO:.0f}x target: {r['feeder']} {col} = {r[col]:.0f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
