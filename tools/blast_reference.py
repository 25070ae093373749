"""Generate ``tests/data/blast/reference.csv``: BLAST-Lite's remaining capacity on the twin's duties.

BLAST-Lite (NREL, ``pip install blast-lite``, import name ``blast``) pins ``numpy < 2``, so it
cannot live in slopt's environment. This script runs in slopt's environment, builds the duties
there, and hands them to a worker (this same file with ``--worker``) that runs in a virtual
environment of its own (``build/blast-venv``, created on first use with ``python3 -m venv`` and
``pip install blast-lite==1.1.1``). The test suite reads only the committed CSV.

Duties (one row per duty and chemistry):

- ``application``: every application of :data:`slopt.fleet.applications.APPLICATIONS`, a year of
  its duty cycle (:func:`~slopt.fleet.applications.duty_cycle` without start-time jitter), at its
  ambient temperature;
- ``grid``: :class:`slopt.battery.twin.ReferenceDuty` at 0.5 C around SOC 0.5, DoD 0.1-1.0 in steps
  of 0.1, 5-45 degC in steps of 5, one and two cycles a day;
- ``storage``: calendar ageing only, at SOC 0.5 and 0.95, 5-45 degC.

How BLAST-Lite is driven: the duty's SOC at 15-min steps is cut into chunks that each start when
a cycle leaves the rest SOC (days without cycles are cut at midnight), and the cell's
``update_battery_state(t, soc, T)`` is called once per chunk for 10 years (chunk ends overlap,
so no sample interval is lost). That is the loop of BLAST-Lite's own ``simulate_battery_life``
for a varying input (``is_constant_input=False``) with one breakpoint per cycle; with
``is_conserve_energy_throughput=False`` semantics (a DoD is a fraction of the current capacity,
as in the twin). The temperature input is the duty's ambient (BLAST-Lite's input is the cell
temperature; the twin is compared without self-heating). Capacities are interpolated at whole
years (365-day years, as both BLAST-Lite and the twin count).

Validity (column ``valid``, reasons in ``reason``): a duty is inside the tested range of the
BLAST-Lite model when it satisfies the model's ``experimental_range`` (cycling temperature, DoD,
charge rate; checked against the installed package) and its docstring: the LFP cell was charged
at <= 0.16 C at 10 degC; storage temperatures tested 0-55 degC for the Kokam cell (docstring) and,
for the LFP cell, whose docstring states no storage range, the cycling range 10-45 degC is
assumed. For the Kokam cell, ``blast_knee_years`` is when its loss-of-active-material sigmoid
becomes the capacity limit (the knee).

Usage::

    python tools/blast_reference.py                 # all duties -> tests/data/blast/reference.csv
    python tools/blast_reference.py --quick         # a few duties, printed, nothing written
    python tools/blast_reference.py --chemistry NCA # only NCA's rows (the others stay as they are)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "blast" / "reference.csv"
VENV = ROOT / "build" / "blast-venv"
BLAST_PIN = "blast-lite==1.1.1"
RESOLUTION_MIN = 15
YEARS = 10

MODELS = {"LFP": "Lfp_Gr_250AhPrismatic", "NMC": "Nmc111_Gr_Kokam75Ah_Battery", "NCA": "Nca_Gr_Panasonic3Ah_Battery"}
"""BLAST-Lite model per chemistry, the cells the twin is calibrated to (see docs/twin.md and
:data:`slopt.battery.chemistry.CHEMISTRIES`, whose ``blast_model`` names the same cells)."""

TESTED = {
    # model: cycling temperature, DoD, max charge C-rate (experimental_range), storage temperature,
    # and (temperature, max charge C-rate) at and below which charging was slower (docstrings)
    "Lfp_Gr_250AhPrismatic": dict(cycling_temperature=[10, 45], dod=[0.8, 1], max_rate_charge=0.65,
                                  storage_temperature=[10, 45], cold_charge=(10.0, 0.16)),
    "Nmc111_Gr_Kokam75Ah_Battery": dict(cycling_temperature=[0, 45], dod=[0.8, 1], max_rate_charge=1,
                                        storage_temperature=[0, 55], cold_charge=(0.0, 1.0 / 3.0)),
    # Panasonic 18650B: calendar data at 25, 40 and 50 degC (Keil et al. 2016, the model's docstring);
    # no slower cold charging is documented (cycling was only tested from 15 degC)
    "Nca_Gr_Panasonic3Ah_Battery": dict(cycling_temperature=[15, 35], dod=[0.8, 1], max_rate_charge=0.5,
                                        storage_temperature=[25, 50], cold_charge=(15.0, 0.5)),
}
"""Tested ranges; the worker checks the first three against the installed package."""


# --------------------------------------------------------------------------- worker (BLAST-Lite venv)


def _worker(inp: Path, out: Path) -> None:
    """Run BLAST-Lite on the duties of ``inp`` (npz + json); write results as JSON to ``out``."""
    import numpy as np
    import blast
    import blast.models as bm

    meta = json.loads(inp.with_suffix(".json").read_text())
    arrays = np.load(inp)
    results = []
    for d in meta["duties"]:
        t0 = time.perf_counter()
        soc, bounds = arrays[f"soc_{d['id']}"], arrays[f"bounds_{d['id']}"]
        cell = getattr(bm, d["model"])()
        dt_s = meta["resolution_min"] * 60.0
        period_s = (soc.size - 1) * dt_s
        t = np.arange(soc.size) * dt_s
        temp = np.full(soc.size, float(d["temp_c"]))
        horizon_d = meta["years"] * 365.0
        days, q, lam_limits = [0.0], [1.0], [False]
        rep = 0
        while days[-1] < horizon_d - 1e-9:
            for a, b in zip(bounds[:-1], bounds[1:]):
                cell.update_battery_state(t[a:b + 1] + rep * period_s, soc[a:b + 1], temp[a:b + 1])
                days.append(float(cell.stressors["t_days"][-1]))
                q.append(float(cell.outputs["q"][-1]))
                if "q_LAM" in cell.outputs:
                    lam_limits.append(bool(cell.outputs["q_LAM"][-1] < cell.outputs["q_LLI"][-1]))
                else:
                    lam_limits.append(False)
                if days[-1] >= horizon_d - 1e-9:
                    break
            rep += 1
        days, q, lam = np.asarray(days), np.asarray(q), np.asarray(lam_limits)
        years = np.arange(1, meta["years"] + 1)
        q_years = np.interp(years * 365.0, days, q)
        knee = float(days[np.argmax(lam)] / 365.0) if lam.any() else None
        efc = float(np.interp(horizon_d, cell.stressors["t_days"], cell.stressors["efc"]))
        results.append(dict(id=d["id"], q=q_years.tolist(), knee_years=knee, efc=efc,
                            seconds=time.perf_counter() - t0))
        print(f"  {d['id']:>4} {d['model']:<30} {d['label']:<46} q10 = {q_years[-1]:.4f}"
              f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    ranges = {m: {k: getattr(bm, m)().experimental_range[k] for k in ("cycling_temperature", "dod",
                                                                       "max_rate_charge")}
              for m in {d["model"] for d in meta["duties"]}}
    version = getattr(blast, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v
        version = _v("blast-lite")
    out.write_text(json.dumps(dict(results=results, ranges=ranges, blast_version=version,
                                   numpy_version=np.__version__)))


# --------------------------------------------------------------------------- driver (slopt venv)


def _ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} (python3 -m venv; pip install {BLAST_PIN})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(py), "-c", "import blast"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", BLAST_PIN], check=True)
    return py


def _chunks(c, soc, rest: float, spd: int):
    """Rotate the periodic duty so it starts with a cycle, and cut it into chunks (see module doc)."""
    import numpy as np

    n = c.size
    starts = np.flatnonzero((c != 0) & (np.roll(c, 1) == 0) & (np.abs(soc[:-1] - rest) < 1e-9))
    shift = int(starts[0]) if starts.size else 0
    c = np.roll(c, -shift)
    starts = np.sort((starts - shift) % n)
    bounds = [0]
    for s in list(starts[1:]) + [n]:
        while s - bounds[-1] > spd:                 # long rests: one chunk per day
            bounds.append(bounds[-1] + spd)
        if s > bounds[-1]:
            bounds.append(int(s))
    return c, np.asarray(bounds, dtype=np.int64)


def build_duties(quick: bool = False, chemistries=None) -> list[dict]:
    """The duty list: label, kind, chemistry, model, inputs, and the periodic C-rate series
    (for ``chemistries``, default all of :data:`MODELS`)."""
    from slopt.battery.twin import ReferenceDuty
    from slopt.fleet.applications import APPLICATIONS, DAYS_PER_YEAR, duty_cycle

    spd = 1440 // RESOLUTION_MIN
    duties = []

    def add(kind, chem, duty, c_period):
        c, bounds = _chunks(c_period, duty.soc_trajectory(c_period, RESOLUTION_MIN), duty.rest_soc, spd)
        soc = duty.soc_trajectory(c, RESOLUTION_MIN)
        duties.append(dict(
            kind=kind, chemistry=chem, blast_model=MODELS[chem], label=duty.name,
            application=duty.name if kind == "application" else "",
            dod=float(duty.dod) if duty.cycles_per_year > 0 else 0.0, temp_c=float(duty.ambient_c),
            c_rate=float(duty.c_rate) if duty.cycles_per_year > 0 else 0.0,
            cycles_per_year=float(duty.cycles_per_year),
            soc_min=float(duty.soc_min) if duty.cycles_per_year > 0 else float(duty.rest_soc),
            soc_max=float(duty.soc_max) if duty.cycles_per_year > 0 else float(duty.rest_soc),
            rest_soc=float(duty.rest_soc), first_half=getattr(duty, "first_half", "discharge"),
            soc=soc, bounds=bounds))

    apps = list(APPLICATIONS.values())
    grid_dod = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    grid_t = [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0]
    if quick:
        apps, grid_dod, grid_t = apps[5:6], [0.7, 0.8, 1.0], [5.0, 10.0, 20.0, 25.0]
    for chem in (chemistries or MODELS):
        for app in apps:
            app0 = app.with_(jitter_h=0.0)
            days = 1 if abs(app.cycles_per_day - round(app.cycles_per_day)) < 1e-9 else int(DAYS_PER_YEAR)
            add("application", chem, app0, duty_cycle(app0, RESOLUTION_MIN, days=days, seed=0))
        for n in (1, 2):
            for dod in grid_dod:
                for temp in grid_t:
                    d = ReferenceDuty(dod, temp, cycles_per_day=n)
                    add("grid", chem, d, d.representative_day(RESOLUTION_MIN)[0])
        for soc in (0.5, 0.95):
            for temp in grid_t:
                d = ReferenceDuty(0.0, temp, cycles_per_day=0, soc_mid=soc)
                add("storage", chem, d, d.representative_day(RESOLUTION_MIN)[0])
    for i, d in enumerate(duties):
        d["id"] = i
    return duties


def validity(d: dict) -> tuple[bool, str]:
    """Whether a duty lies inside the tested range of its BLAST-Lite model, and why not."""
    r = TESTED[d["blast_model"]]
    why = []
    if d["cycles_per_year"] > 0:
        lo, hi = r["cycling_temperature"]
        if not lo <= d["temp_c"] <= hi:
            why.append(f"cycling temperature {d['temp_c']:g} degC outside tested {lo}-{hi}")
        lo, hi = r["dod"]
        if not lo - 1e-9 <= d["dod"] <= hi + 1e-9:
            why.append(f"DoD {d['dod']:g} outside tested {lo}-{hi}")
        if d["c_rate"] > r["max_rate_charge"] + 1e-9:
            why.append(f"charge {d['c_rate']:g} C above tested {r['max_rate_charge']:g} C")
        t_cold, c_cold = r["cold_charge"]
        if d["temp_c"] <= t_cold and d["c_rate"] > c_cold + 1e-9:
            why.append(f"charge {d['c_rate']:g} C above the {c_cold:.2g} C tested at {t_cold:g} degC")
    else:
        lo, hi = r["storage_temperature"]
        if not lo <= d["temp_c"] <= hi:
            why.append(f"storage temperature {d['temp_c']:g} degC outside tested {lo}-{hi}")
    return not why, "; ".join(why)


def run(quick: bool, out: Path, venv: Path, chemistries=None) -> int:
    import numpy as np
    import pandas as pd

    py = _ensure_venv(venv)
    duties = build_duties(quick, chemistries)
    work = ROOT / "build" / "blast_work"
    work.mkdir(parents=True, exist_ok=True)
    inp = work / "duties.npz"
    np.savez(inp, **{f"soc_{d['id']}": d["soc"] for d in duties}, **{f"bounds_{d['id']}": d["bounds"] for d in duties})
    meta = [{k: v for k, v in d.items() if k not in ("soc", "bounds")} | {"model": d["blast_model"]} for d in duties]
    inp.with_suffix(".json").write_text(json.dumps(dict(duties=meta, resolution_min=RESOLUTION_MIN, years=YEARS)))
    res_path = work / "results.json"
    print(f"running BLAST-Lite on {len(duties)} duties in {venv}", flush=True)
    subprocess.run([str(py), str(Path(__file__).resolve()), "--worker", str(inp), str(res_path)], check=True,
                   env={**os.environ, "PYTHONPATH": ""})
    res = json.loads(res_path.read_text())
    for m, rng in res["ranges"].items():
        for k, v in rng.items():
            if TESTED[m][k] != v:
                raise SystemExit(f"{m}.experimental_range[{k!r}] is {v}, TESTED says {TESTED[m][k]}: update TESTED")
    by_id = {r["id"]: r for r in res["results"]}
    rows = []
    for d in duties:
        r = by_id[d["id"]]
        ok, why = validity(d)
        row = {k: d[k] for k in ("kind", "label", "application", "chemistry", "blast_model", "dod", "temp_c", "c_rate",
                                 "cycles_per_year", "soc_min", "soc_max", "rest_soc", "first_half")}
        row["cycles_per_day"] = round(d["cycles_per_year"] / 365.0, 6)
        row.update({f"q_{y}y": round(q, 6) for y, q in enumerate(r["q"], start=1)})
        row.update(blast_efc_10y=round(r["efc"], 3),
                   blast_knee_years=np.nan if r["knee_years"] is None else round(r["knee_years"], 4),
                   valid=ok, reason=why)
        rows.append(row)
    table = pd.DataFrame(rows)
    total = sum(r["seconds"] for r in res["results"])
    print(f"BLAST-Lite {res['blast_version']} (numpy {res['numpy_version']}): {len(rows)} duties in {total:.0f} s")
    if quick:
        print(table[["label", "chemistry", "q_10y", "blast_knee_years", "valid", "reason"]].to_string())
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    if chemistries and out.exists():
        _merge(out, table, chemistries)
        return 0
    header = (f"# BLAST-Lite {res['blast_version']} (numpy {res['numpy_version']}) remaining capacity of fresh cells,"
              f" {RESOLUTION_MIN}-min duties, {YEARS} years\n"
              f"# generated by: python tools/blast_reference.py   (worker venv: {venv.relative_to(ROOT)},"
              f" {BLAST_PIN}); see the tool's docstring\n")
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        fh.write(header)
        table.to_csv(fh, index=False, float_format="%.6g")
    tmp.replace(out)
    print(f"wrote {out.relative_to(ROOT)} ({len(table)} rows, {int(table['valid'].sum())} inside BLAST-Lite's tested range)")
    return 0


def _merge(out: Path, table, chemistries) -> None:
    """Replace the rows of ``chemistries`` in an existing reference file, leaving every other line
    as it is (so the other chemistries' data stay byte-identical)."""
    import csv
    import io

    lines = out.read_text().splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#")]
    rows = [ln for ln in lines if not ln.startswith("#")]
    cols = next(csv.reader([rows[0]]))
    if list(table.columns) != cols:
        raise SystemExit(f"{out}: columns differ from this tool's; regenerate the whole file")
    ci = cols.index("chemistry")
    keep = [ln for ln in rows[1:] if next(csv.reader([ln]))[ci] not in chemistries]
    buf = io.StringIO()
    table.to_csv(buf, index=False, header=False, float_format="%.6g")
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(head + rows[:1] + keep) + buf.getvalue())
    tmp.replace(out)
    print(f"updated {out.relative_to(ROOT)}: {len(table)} rows of {', '.join(chemistries)}, {len(keep)} other rows kept")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, type=Path, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="a few duties, printed, nothing written")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--venv", type=Path, default=VENV)
    ap.add_argument("--chemistry", nargs="*", choices=sorted(MODELS), default=None,
                    help="only these chemistries; their rows replace those of the existing file")
    args = ap.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return 0
    sys.path.insert(0, str(ROOT))
    return run(args.quick, args.out, args.venv.resolve(), args.chemistry)


if __name__ == "__main__":
    raise SystemExit(main())
