"""Batched AC power flow: slopt against power-grid-model and pandapower, per grid, for a day and a year.

Grids: the five bundled feeders and SimBench grids (``1-LV-rural1--0-sw``, ``1-MV-rural--0-sw``;
SimBench nets are converted with ``Feeder.from_pandapower``, line charging and transformer
magnetising included). Snapshots: SimBench grids use their own year of 15-minute profiles
(``simbench_profiles``; the first 96, 8,760 and 35,040 steps); the bundled feeders use a seeded
year: per-step load multipliers 0.3-1.5 (one per step, and +-10 % per bus) and PV on 4 buses
following a clear-sky bell.

Engines, all solving the same p.u. network (built from the slopt ``Feeder``):

* slopt ``powerflow`` with its defaults (``engine="auto"``, one thread, tol 1e-10 p.u.); also
  with two threads;
* power-grid-model (Alliander, C++), batch calculation with Newton-Raphson (its default) and
  with its iterative-current method, each sequential (``threading=-1``) and on all cores
  (``threading=0``), default ``error_tolerance`` 1e-8; the model is built once, outside the
  timing; the reported pgm time is the fastest of these four variants;
* pandapower ``runpp`` (Newton-Raphson, numba if installed) on a seeded sample of snapshots,
  one call per snapshot on a reused net, scaled to the batch size.

Times are medians of ``--repeats`` interleaved repeats; ratios are from the same run.
``max |dV|`` compares slopt with pandapower on the sample and with power-grid-model on the
whole batch.

Usage::

    python benchmarks/powerflow.py [--repeats 3] [--pp-samples 20] [--grids ieee33 ...]

Writes ``benchmarks/results/powerflow.csv`` and ``benchmarks/results/powerflow.md``; exits 1 if
an accuracy check fails (slopt vs pandapower > 1e-6 p.u.).
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
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.grid.feeder import BUNDLED_FEEDERS, Feeder, load_feeder  # noqa: E402
from slopt.grid.powerflow import powerflow  # noqa: E402

SIMBENCH = ("1-LV-rural1--0-sw", "1-MV-rural--0-sw")
SIZES = {"day": 96, "year 1 h": 8760, "year 15 min": 35040}
TOL_V = 1e-6
NUMBA = importlib.util.find_spec("numba") is not None
OUT_CSV = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "powerflow.csv"
OUT_MD = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "powerflow.md"


# ----------------------------------------------------------------------------- data
def grid_and_loads(key: str, seed: int) -> tuple[Feeder, np.ndarray, np.ndarray]:
    """The feeder and a year of net loads (35,040 x n_bus, kW/kvar)."""
    n = SIZES["year 15 min"]
    if key in BUNDLED_FEEDERS:
        f = load_feeder(key)
        rng = np.random.default_rng([seed, f.n_bus])
        mult = rng.uniform(0.3, 1.5, size=(n, 1)) * rng.uniform(0.9, 1.1, size=(n, f.n_bus))
        hours = (np.arange(n) % 96 + 0.5) / 4
        bell = np.clip(np.cos((hours - 12.5) / 6.5 * np.pi / 2), 0, None) ** 2
        pv = np.zeros((n, f.n_bus))
        pv[:, rng.choice(np.arange(1, f.n_bus), size=4, replace=False)] = 300.0 * bell[:, None]
        return f, mult * f.p_load_kw - pv, mult * f.q_load_kvar
    from slopt.grid.simbench import simbench_feeder, simbench_profiles

    f = simbench_feeder(key)
    bp = simbench_profiles(key, f)
    return f, np.ascontiguousarray(bp.p_kw[:n]), np.ascontiguousarray(bp.q_kvar[:n])


# ----------------------------------------------------------------------------- peers
class PGM:
    """The feeder as a power-grid-model: one voltage level (the p.u. network), lines, shunts."""

    def __init__(self, f: Feeder):
        from power_grid_model import ComponentType, DatasetType, LoadGenType, PowerGridModel, initialize_array

        self.ct, self.dt = ComponentType, DatasetType
        n = f.n_bus
        u = 1e3 * f.base_kv
        z_base = f.base_kv**2 / f.base_mva
        node = initialize_array(DatasetType.input, ComponentType.node, n)
        node["id"] = np.arange(n)
        node["u_rated"] = u
        line = initialize_array(DatasetType.input, ComponentType.line, n - 1)
        line["id"] = np.arange(n, 2 * n - 1)
        line["from_node"], line["to_node"] = f.parent[1:], np.arange(1, n)
        line["from_status"] = line["to_status"] = 1
        line["r1"], line["x1"] = f.r_pu[1:] * z_base, f.x_pu[1:] * z_base
        line["c1"] = line["tan1"] = 0.0
        line["i_n"] = 1e6
        load = initialize_array(DatasetType.input, ComponentType.sym_load, n)
        load["id"] = np.arange(2 * n, 3 * n)
        load["node"] = np.arange(n)
        load["status"] = 1
        load["type"] = LoadGenType.const_power
        load["p_specified"] = load["q_specified"] = 0.0
        src = initialize_array(DatasetType.input, ComponentType.source, 1)
        src["id"], src["node"], src["status"], src["u_ref"], src["sk"] = 3 * n, 0, 1, f.v_root_pu, 1e40
        data = {ComponentType.node: node, ComponentType.line: line, ComponentType.sym_load: load,
                ComponentType.source: src}
        if f.has_shunts:
            sh = initialize_array(DatasetType.input, ComponentType.shunt, n)
            sh["id"], sh["node"], sh["status"] = np.arange(3 * n + 1, 4 * n + 1), np.arange(n), 1
            sh["g1"], sh["b1"] = f.g_shunt_pu / z_base, f.b_shunt_pu / z_base
            sh["g0"] = sh["b0"] = 0.0
            data[ComponentType.shunt] = sh
        self.model = PowerGridModel(data)
        self.load_ids = load["id"]
        self.initialize_array = initialize_array

    def run(self, p_kw, q_kvar, method: str, threading: int) -> np.ndarray:
        from power_grid_model import CalculationMethod

        upd = self.initialize_array(self.dt.update, self.ct.sym_load, p_kw.shape)
        upd["id"] = self.load_ids
        upd["p_specified"] = p_kw * 1e3
        upd["q_specified"] = q_kvar * 1e3
        out = self.model.calculate_power_flow(
            update_data={self.ct.sym_load: upd}, calculation_method=getattr(CalculationMethod, method),
            threading=threading, output_component_types=[self.ct.node])
        return out[self.ct.node]["u_pu"]


def pandapower_net(f: Feeder):
    """The same p.u. network in pandapower (one voltage level, 1 km lines, shunts, PQ loads)."""
    import pandapower as pp

    net = pp.create_empty_network(sn_mva=f.base_mva)
    buses = [pp.create_bus(net, vn_kv=f.base_kv) for _ in range(f.n_bus)]
    pp.create_ext_grid(net, buses[0], vm_pu=f.v_root_pu)
    z_base = f.base_kv**2 / f.base_mva
    for i in range(1, f.n_bus):
        pp.create_line_from_parameters(net, buses[f.parent[i]], buses[i], length_km=1.0,
                                       r_ohm_per_km=f.r_pu[i] * z_base, x_ohm_per_km=f.x_pu[i] * z_base,
                                       c_nf_per_km=0.0, max_i_ka=1e3)
    if f.has_shunts:
        for i in np.flatnonzero((f.g_shunt_pu != 0) | (f.b_shunt_pu != 0)):
            pp.create_shunt(net, buses[i], p_mw=f.g_shunt_pu[i] * f.base_mva, q_mvar=-f.b_shunt_pu[i] * f.base_mva)
    pp.create_loads(net, buses, p_mw=np.zeros(f.n_bus), q_mvar=np.zeros(f.n_bus))
    return net


# ----------------------------------------------------------------------------- timing
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_grid(key: str, repeats: int, pp_samples: int, seed: int) -> list[dict]:
    import pandapower as pp

    f, p_year, q_year = grid_and_loads(key, seed)
    live = int(np.count_nonzero((np.any(p_year, axis=0) | np.any(q_year, axis=0))[1:]))
    pgm = PGM(f)
    net = pandapower_net(f)
    rng = np.random.default_rng([seed, 7])
    rows = []
    for size_name, n in SIZES.items():
        p, q = p_year[:n], q_year[:n]
        powerflow(f, p[:8], q[:8])  # warm-up: feeder matrices cached
        variants = [(m, th) for m in ("newton_raphson", "iterative_current") for th in (-1, 0)]
        t_slopt, t_slopt1, t_pgm = [], [], {v: [] for v in variants}
        for _ in range(repeats if n > 1000 else max(repeats, 15)):  # interleaved: same machine load for all
            dt, res = timed(lambda: powerflow(f, p, q))
            t_slopt.append(dt)
            t_slopt1.append(timed(lambda: powerflow(f, p, q, threads=2))[0])
            for v in variants:
                dt, u_pgm = timed(lambda: pgm.run(p, q, *v))
                t_pgm[v].append(dt)
        med = {v: statistics.median(t) for v, t in t_pgm.items()}
        best = min(med, key=med.get)
        dv_pgm = float(np.abs(u_pgm - res.vm_pu).max())
        # pandapower: a sample of snapshots one by one, scaled
        sample = rng.choice(n, size=min(pp_samples, n), replace=False)
        pp.runpp(net, tolerance_mva=1e-9, max_iteration=30, numba=NUMBA)  # warm-up (numba compiles once)
        dv_pp, t0 = 0.0, time.perf_counter()
        for k in sample:
            net.load["p_mw"] = p[k] / 1e3
            net.load["q_mvar"] = q[k] / 1e3
            pp.runpp(net, tolerance_mva=1e-9, max_iteration=30, numba=NUMBA)
            dv_pp = max(dv_pp, float(np.abs(net.res_bus.vm_pu.to_numpy() - res.vm_pu[k]).max()))
        t_pp = (time.perf_counter() - t0) / sample.size * n
        s = statistics.median(t_slopt)
        rows.append({
            "grid": key, "n_bus": f.n_bus, "load_buses": live, "engine": "sweep",  # engine="auto"
            "snapshots": n, "size": size_name, "slopt_s": s, "slopt_2threads_s": statistics.median(t_slopt1),
            "pgm_nr_seq_s": med[variants[0]], "pgm_nr_threads_s": med[variants[1]],
            "pgm_ic_seq_s": med[variants[2]], "pgm_ic_threads_s": med[variants[3]],
            "pgm_best_s": med[best], "pgm_best": f"{best[0]}/{'threads' if best[1] == 0 else 'seq'}",
            "ratio_pgm_best": med[best] / s, "ratio_pgm_nr": min(med[variants[0]], med[variants[1]]) / s,
            # like for like: one core each (pgm sequential), and two threads each
            "ratio_pgm_1core": min(med[variants[0]], med[variants[2]]) / s,
            "ratio_pgm_2threads": min(med[variants[1]], med[variants[3]]) / statistics.median(t_slopt1),
            "pandapower_s": t_pp, "ratio_pandapower": t_pp / s,
            "max_dv_pandapower_pu": dv_pp, "max_dv_pgm_pu": dv_pgm,
            "iterations_mean": float(res.iterations.mean()), "all_converged": bool(res.all_converged),
        })
        r = rows[-1]
        print(f"{key:>20} {size_name:>11} {n:>6}: slopt {s:8.4f} s | pgm best {r['pgm_best_s']:8.4f} s "
              f"({r['pgm_best']}) x{r['ratio_pgm_best']:.2f} | pandapower ~{t_pp:9.1f} s x{r['ratio_pandapower']:,.0f} "
              f"| dV pp {dv_pp:.1e} pgm {dv_pgm:.1e}", flush=True)
    return rows


def synthetic_feeder(n: int, seed: int) -> Feeder:
    """A seeded random radial feeder of ``n`` buses: long chains (each bus hangs mostly off a
    recent bus) with laterals, loads 5-30 kW at every bus, impedances scaled so the far end
    sits near 0.95 p.u."""
    rng = np.random.default_rng([seed, n])
    parent = [max(0, k - int(rng.geometric(0.5))) if rng.random() < 0.85 else int(rng.integers(0, k))
              for k in range(1, n)]
    z = 100.0 / n
    return Feeder.from_branches(f"synthetic{n}", np.arange(n), np.r_[0, rng.uniform(5, 30, n - 1)],
                                np.r_[0, rng.uniform(2, 10, n - 1)], parent, np.arange(1, n),
                                rng.uniform(1e-3, 4e-3, n - 1) * z, rng.uniform(1e-3, 4e-3, n - 1) * z, 20.0, 10.0)


def crossover(sizes, repeats: int, seed: int, snapshots: int = 2000) -> list[dict]:
    """slopt's two engines on synthetic feeders of growing size: the compiled sweep is linear in
    the buses, the dense Z-bus products quadratic in the load buses."""
    rows = []
    for n in sizes:
        f = synthetic_feeder(n, seed)
        rng = np.random.default_rng([seed, n, 1])
        m = rng.uniform(0.3, 1.5, size=(snapshots, 1))
        p, q = m * f.p_load_kw, m * f.q_load_kvar
        t = {}
        for eng in ("zbus", "sweep"):
            powerflow(f, p[:8], q[:8], engine=eng)
            t[eng] = statistics.median(timed(lambda: powerflow(f, p, q, engine=eng))[0] for _ in range(repeats))
        rows.append({"n_bus": n, "snapshots": snapshots, "zbus_s": t["zbus"], "sweep_s": t["sweep"]})
        print(f"crossover n={n}: zbus {t['zbus']:.3f} s, sweep {t['sweep']:.3f} s", flush=True)
    return rows


def write_md(rows: list[dict], header: str, cross: list[dict]) -> None:
    lines = [
        "# AC power flow: slopt vs power-grid-model vs pandapower", "", header, "",
        "Times in seconds, medians of interleaved repeats. Like for like (>= 1: slopt at least as fast): "
        "`x pgm 1 core` = power-grid-model's faster sequential variant / slopt; `x pgm 2 thr` = its faster "
        "threaded variant / slopt with 2 threads. `x pgm best` = its fastest variant (threads included) / slopt on "
        "one thread. pandapower is timed on a sample of snapshots and scaled.", "",
        "| grid | buses (load) | engine | snapshots | slopt | slopt 2 threads | pgm NR seq | pgm NR thr | pgm IC seq "
        "| pgm IC thr | x pgm 1 core | x pgm 2 thr | x pgm best | pandapower | x pandapower | max \\|dV\\| vs pp "
        "| max \\|dV\\| vs pgm |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['grid']} | {r['n_bus']} ({r['load_buses']}) | {r['engine']} | {r['snapshots']:,} | {r['slopt_s']:.4f} "
            f"| {r['slopt_2threads_s']:.4f} | {r['pgm_nr_seq_s']:.4f} | {r['pgm_nr_threads_s']:.4f} "
            f"| {r['pgm_ic_seq_s']:.4f} | {r['pgm_ic_threads_s']:.4f} | {r['ratio_pgm_1core']:.2f} "
            f"| {r['ratio_pgm_2threads']:.2f} | {r['ratio_pgm_best']:.2f} | {r['pandapower_s']:,.1f} | {r['ratio_pandapower']:,.0f} "
            f"| {r['max_dv_pandapower_pu']:.1e} | {r['max_dv_pgm_pu']:.1e} |")
    if cross:
        lines += ["", "slopt's two engines (`engine=\"auto\"` is the compiled sweep; `zbus` is the dense Z-bus "
                  "implementation kept as an independent check): synthetic feeders, loads at every bus, "
                  f"{cross[0]['snapshots']:,} snapshots, seconds.", "",
                  "| buses | zbus | sweep | zbus / sweep |", "|---:|---:|---:|---:|"]
        lines += [f"| {c['n_bus']} | {c['zbus_s']:.3f} | {c['sweep_s']:.3f} | {c['zbus_s'] / c['sweep_s']:.2f} |"
                  for c in cross]
    OUT_MD.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pp-samples", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--grids", nargs="*", default=list(BUNDLED_FEEDERS) + list(SIMBENCH))
    ap.add_argument("--crossover", nargs="*", type=int, default=[50, 100, 150, 200, 400, 1000])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    import pandapower
    from importlib.metadata import version as _version

    numba = importlib.util.find_spec("numba") is not None
    header = (f"python {platform.python_version()}, numpy {np.__version__}, power-grid-model "
              f"{_version('power-grid-model')}, pandapower "
              f"{pandapower.__version__} (numba {'on' if numba else 'not installed'}), {os.cpu_count()} CPUs; "
              f"{args.repeats} repeats, pandapower sample {args.pp_samples} snapshots, seed {args.seed}.")
    print(header)
    rows = []
    for key in args.grids:
        rows.extend(bench_grid(key, args.repeats, args.pp_samples, args.seed))
    cross = crossover(args.crossover, args.repeats, args.seed) if args.crossover else []
    OUT_CSV.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT_CSV, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    write_md(rows, header, cross)
    print(f"wrote {OUT_CSV.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)}")
    bad = [r for r in rows if r["max_dv_pandapower_pu"] > TOL_V or not r["all_converged"]]
    for r in bad:
        print(f"ACCURACY FAIL {r['grid']} {r['size']}: max |dV| = {r['max_dv_pandapower_pu']:.2e}")
    slow = [r for r in rows if min(r["ratio_pgm_1core"], r["ratio_pgm_2threads"]) < 1.0]
    for r in slow:
        print(f"slower than power-grid-model: {r['grid']} {r['size']} 1 core x{r['ratio_pgm_1core']:.2f}, "
              f"2 threads x{r['ratio_pgm_2threads']:.2f}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
