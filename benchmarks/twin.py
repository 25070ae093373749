"""Speed of the digital twin: batteries x 8 applications x 10 years (target: 100,000 in <= 10 s).

For each fleet size a synthetic fleet is generated (``slopt.fleet.generate_fleet``, seeded) and
``slopt.battery.twin.simulate_twin`` evaluates every battery in all eight applications of
``slopt.fleet.applications.APPLICATIONS`` over 10 years in monthly steps. Times are medians
over repeats (after one warm-up run on a small fleet); the generation time is reported apart.
With ``--threads`` several thread counts are compared (results are identical by construction).

Usage::

    python benchmarks/twin.py [--sizes 1000 10000 100000] [--repeats 5] [--threads 1 2] [--seed 0]
    python benchmarks/twin.py --baseline REV [--sizes 100000]   # before/after: REV's twin, same run

Writes ``benchmarks/results/twin.csv`` (``twin_baseline.csv`` with ``--baseline``: the twin of
git revision ``REV`` and the current one timed alternately on the same fleet, so that their
ratio is measured under the same machine load) and a markdown table beside it. Exits with
status 1 if 100,000 batteries take more than 10 s (median) with the default options.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.battery.twin import TwinOptions, simulate_twin  # noqa: E402
from slopt.fleet.applications import APPLICATIONS  # noqa: E402
from slopt.fleet.data import generate_fleet  # noqa: E402

OUT = (ROOT / "benchmarks" / "results" if os.environ.get("SLOPT_BENCH_UPDATE") == "1" else ROOT / "bench-out") / "twin.csv"
YEARS = 10.0
TARGET_N, TARGET_S = 100_000, 10.0


def bench(n: int, threads: int, repeats: int, seed: int) -> dict:
    t0 = time.perf_counter()
    fleet = generate_fleet(n, seed=seed)
    gen_s = time.perf_counter() - t0
    opt = TwinOptions(n_threads=threads)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = simulate_twin(fleet, APPLICATIONS, years=YEARS, options=opt)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    pairs = n * len(APPLICATIONS)
    life = res.second_life_years
    return dict(
        n_battery=n, n_app=len(APPLICATIONS), years=YEARS, steps_per_year=opt.steps_per_year, threads=threads,
        repeats=repeats, generate_s=round(gen_s, 4), twin_median_s=round(med, 4), twin_min_s=round(min(times), 4),
        twin_max_s=round(max(times), 4), pair_years_per_s=round(pairs * YEARS / med),
        mean_second_life_years=round(float(life.mean()), 4), share_breach=round(float(res.safety_breach.mean()), 4),
    )


def load_baseline(rev: str) -> types.ModuleType:
    """The twin of git revision ``rev``: the module ``slopt/battery/twin.py`` of a revision before the
    re-cut into a package, else the whole ``slopt`` tree of ``rev`` imported apart (its modules are
    swapped out of ``sys.modules`` again, so the current package is untouched)."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:slopt/battery/twin.py"], capture_output=True,
                             text=True, check=True).stdout
    except subprocess.CalledProcessError:
        return _load_package_twin(rev)
    mod = types.ModuleType("twin_baseline")
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"{rev}:slopt/battery/twin.py", "exec"), mod.__dict__)
    return mod


def _load_package_twin(rev: str) -> types.ModuleType:
    import importlib
    import tempfile

    tmp = tempfile.mkdtemp(prefix="twin_baseline_")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "slopt"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
    mine = lambda k: k == "slopt" or k.startswith("slopt.")
    saved = {k: v for k, v in sys.modules.items() if mine(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, tmp)
    try:
        return importlib.import_module("slopt.battery.twin")
    finally:
        sys.path.remove(tmp)
        for k in [k for k in sys.modules if mine(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def bench_baseline(n: int, repeats: int, seed: int, base: types.ModuleType, rev: str) -> dict:
    """Median times of the baseline and the current twin, run alternately on one fleet."""
    fleet = generate_fleet(n, seed=seed)
    t_new, t_old = [], []
    base.simulate_twin(fleet, APPLICATIONS, years=YEARS)                     # warm-up of both
    simulate_twin(fleet, APPLICATIONS, years=YEARS)
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate_twin(fleet, APPLICATIONS, years=YEARS)
        t_new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base.simulate_twin(fleet, APPLICATIONS, years=YEARS)
        t_old.append(time.perf_counter() - t0)
    old, new = statistics.median(t_old), statistics.median(t_new)
    return dict(n_battery=n, baseline=rev, repeats=repeats, baseline_median_s=round(old, 4),
                current_median_s=round(new, 4), ratio_current_to_baseline=round(new / old, 3))


def write_results(rows, out: Path, title: str) -> None:
    """``rows`` as CSV at ``out`` and as a markdown table beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    write_markdown(rows, out.with_suffix(".md"), title)
    print(f"wrote {out.relative_to(ROOT)}")


def write_markdown(rows: list[dict], path: Path, title: str) -> None:
    cols = list(rows[0])
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def print_table(rows: list[dict]) -> None:
    cols = ("n_battery", "threads", "generate_s", "twin_median_s", "twin_min_s", "twin_max_s", "pair_years_per_s",
            "mean_second_life_years", "share_breach")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else f"{r[c]}" for c in cols) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[TwinOptions().n_threads])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", metavar="REV", help="also time the twin of this git revision, alternately")
    args = ap.parse_args(argv)
    if args.baseline:
        base = load_baseline(args.baseline)
        rows = [bench_baseline(n, args.repeats, args.seed, base, args.baseline) for n in args.sizes]
        for r in rows:
            print(r)
        write_results(rows, OUT.with_name("twin_baseline.csv"), "Twin: current against a baseline revision (same run)")
        return 0

    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"{len(APPLICATIONS)} applications x {YEARS:g} years, monthly steps")
    simulate_twin(generate_fleet(200, seed=args.seed), APPLICATIONS, years=YEARS)  # warm-up
    rows = [bench(n, th, args.repeats, args.seed) for n in args.sizes for th in args.threads]
    print_table(rows)

    write_results(rows, OUT, "Twin speed: batteries x 8 applications x 10 years")

    default_threads = TwinOptions().n_threads
    target = [r for r in rows if r["n_battery"] == TARGET_N and r["threads"] == default_threads]
    if target and target[0]["twin_median_s"] > TARGET_S:
        print(f"TARGET MISSED: {TARGET_N:,} batteries took {target[0]['twin_median_s']:.2f} s > {TARGET_S:g} s")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
