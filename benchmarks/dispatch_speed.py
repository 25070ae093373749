"""Speed of the numpy dispatch strategies (target: priority, 9 groups x 288 steps <= 10 ms).

For the node-30 groups of ``instances/node30-groups.toml`` (9 groups) and a seeded random request
at 60, 15 and 5 min resolution (24, 96, 288 steps), three times are taken per strategy, each the
median over ``--repeats`` runs:

* ``allocate_ms``: the strategy calls alone, summed over the day (the target metric);
* ``loop_ms``: the whole step loop (allocate + SOC update, no rainflow/aging), as the simulator
  runs it;
* ``simulate_ms``: ``slopt.simulate_dispatch`` end to end (with rainflow, aging and the tables,
  without a feeder context).

Usage::

    python benchmarks/dispatch_speed.py [--repeats 30] [--seed 7]

Prints a table and writes ``benchmarks/results/dispatch_speed.csv``. Exits with status 1 if the
priority target is missed.
"""

from __future__ import annotations

import os
import argparse
import csv
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.dispatch.base import GroupState, step_energy  # noqa: E402
from slopt.dispatch.simulate import groups_from_instance, simulate_dispatch  # noqa: E402
from slopt.dispatch.strategies import get_strategy  # noqa: E402
from slopt.io.loader import load_instance  # noqa: E402

OUT = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "dispatch_speed.csv"
STRATEGIES = ("priority", "proportional", "soh")
RESOLUTIONS_MIN = (60, 15, 5)
TARGET_MS = 10.0


def time_loop(fn, groups, req, e0, dt_h):
    """(allocate seconds, loop seconds) of one day."""
    perf = time.perf_counter
    e = e0.copy()
    alloc = 0.0
    t_start = perf()
    for t in range(req.size):
        state = GroupState(e, dt_h)
        t0 = perf()
        p = fn(groups, req[t], state)
        alloc += perf() - t0
        e = step_energy(groups, state, p)
    return alloc, perf() - t_start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)

    inst = load_instance(ROOT / "instances" / "node30-groups.toml")
    groups, info = groups_from_instance(inst)
    e0 = info["soc0"] * groups.soh * groups.e_kwh
    rng = np.random.default_rng(a.seed)
    rated = float(groups.p_kw.sum())
    rows = []
    for res in RESOLUTIONS_MIN:
        n = 24 * 60 // res
        dt_h = res / 60.0
        req = rng.uniform(-0.8 * rated, 0.8 * rated, n)
        for name in STRATEGIES:
            fn = get_strategy(name).allocate.__wrapped__        # the one-step rule itself
            time_loop(fn, groups, req, e0, dt_h)                       # warm-up
            alloc, loop, sim = [], [], []
            for _ in range(a.repeats):
                x, y = time_loop(fn, groups, req, e0, dt_h)
                alloc.append(x)
                loop.append(y)
                t0 = time.perf_counter()
                simulate_dispatch(groups, req, name, dt_h=dt_h, soc0=info["soc0"])
                sim.append(time.perf_counter() - t0)
            rows.append({"strategy": name, "groups": int(groups.e_kwh.size), "steps": n, "resolution_min": res,
                         "allocate_ms": 1e3 * statistics.median(alloc), "loop_ms": 1e3 * statistics.median(loop),
                         "simulate_ms": 1e3 * statistics.median(sim),
                         "allocate_us_per_step": 1e6 * statistics.median(alloc) / n, "repeats": a.repeats})
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}; median of {a.repeats}")
    print(f"{'strategy':<13}{'steps':>6}{'allocate ms':>13}{'us/step':>9}{'loop ms':>10}{'simulate ms':>13}")
    for r in rows:
        print(f"{r['strategy']:<13}{r['steps']:>6}{r['allocate_ms']:>13.3f}{r['allocate_us_per_step']:>9.1f}"
              f"{r['loop_ms']:>10.3f}{r['simulate_ms']:>13.3f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    target = next(r for r in rows if r["strategy"] == "priority" and r["steps"] == 288)
    ok = target["allocate_ms"] <= TARGET_MS
    print(f"priority, 9 groups x 288 steps: {target['allocate_ms']:.2f} ms allocate "
          f"({'meets' if ok else 'MISSES'} the {TARGET_MS:g} ms target); wrote {OUT.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
