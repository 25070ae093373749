"""Fit the twin's ageing parameters to BLAST-Lite (``tests/data/blast/reference.csv``).

The reference holds BLAST-Lite's remaining capacity of fresh cells on 206 duties per chemistry
(``tools/blast_reference.py``). This script fits, per chemistry and with
``scipy.optimize.least_squares`` (trust-region reflective, bounds), the ageing parameters of
:class:`slopt.battery.chemistry.Chemistry` on a **calibration subset** and reports the error on
the **held-out** rest, which is the honest figure:

- calibration: grid duties at 10, 20, 30, 40 degC and DoD 0.2, 0.4, 0.6, 0.8, 1.0 (one and two
  cycles a day), and storage at 10, 20, 30, 40 degC (SOC 0.5 and 0.95);
- held out: every other grid and storage duty (5, 15, 25, 35, 45 degC; DoD 0.1, 0.3, ..., 0.9)
  and all application duties.

Residuals: twin minus BLAST-Lite remaining capacity at years 1-10 before BLAST-Lite's knee, and
(NMC) the knee time, weighted 0.03 per year (both capped at 10 years), see
:func:`slopt.battery.twin.compare_reference`. Fitted: calendar ``k_cal, ea_cal, p_cal``; cycling
``k_cyc, p_cyc, dod_share, dod_exp, rate_coef, ea_cyc, plating_share, ea_plating``; knee (NMC)
``knee_efc, knee_cold_slope``. Fixed from BLAST-Lite's equations: ``soc_sens_per_v``; ours:
the thermal, electrical, resistance-growth and peak-C-rate parameters, and the LFP knee.

Usage::

    python tools/fit_twin.py            # fit from the defaults, print, write nothing
    python tools/fit_twin.py --write    # also write tests/data/blast/fit.json

``slopt.battery.chemistry.CHEMISTRIES`` holds the values of ``fit.json`` (rounded to 4
significant digits); ``tests/battery/test_twin.py`` checks that they agree. ``--only X --write``
refits chemistry X alone and keeps the other chemistries' entries of ``fit.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.battery.chemistry import CHEMISTRIES  # noqa: E402
from slopt.battery.twin import REFERENCE_YEARS, compare_reference  # noqa: E402
from slopt.fleet.applications import APPLICATIONS  # noqa: E402

REFERENCE = ROOT / "tests" / "data" / "blast" / "reference.csv"
FIT = ROOT / "tests" / "data" / "blast" / "fit.json"
KNEE_WEIGHT = 0.03          # residual per year of knee-time error
CAL_TEMPS = (10.0, 20.0, 30.0, 40.0)
CAL_DODS = (0.2, 0.4, 0.6, 0.8, 1.0)

# name, lower, upper, log-scaled
SPACE = [
    ("k_cal", 1e-5, 1e-1, True), ("ea_cal_j_per_mol", 5e3, 1.2e5, False), ("p_cal", 0.25, 0.8, False),
    ("k_cyc", 1e-8, 1e-2, True), ("p_cyc", 0.4, 1.0, False), ("dod_share", 0.0, 1.0, False),
    ("dod_beta", 0.0, 20.0, False), ("dod_exp", 0.3, 6.0, False), ("ea_cyc_j_per_mol", 0.0, 1.2e5, False),
    ("plating_share", 0.0, 1.0, False), ("ea_plating_j_per_mol", 0.0, 1.2e5, False),
]
RATE_SPACE = [("rate_coef", 0.0, 50.0, False)]

START = {
    # From BLAST-Lite's equations at 25 degC (T = 298.15 K, graphite potential Ua(0.5) = 0.1233 V),
    # turned into the twin's forms; the fit starts here. q-space k and z-space k_cyc = k^(1/p).
    "LFP": dict(  # Lfp_Gr_250AhPrismatic: kcal = p1 exp(p2/T) exp(p3 Ua/T) t^0.526,
                  # kcyc = (p4 + p5 D + p6 Crate)(exp(p7/T) + exp(-p8/T)) EFC^0.828
        k_cal=4.95e-4, ea_cal_j_per_mol=47.0e3, p_cal=0.526, k_cyc=1.33e-5, p_cyc=0.828,
        dod_share=0.5, dod_beta=1.0, dod_exp=1.0, rate_coef=3.4, ea_cyc_j_per_mol=0.0,
        plating_share=1.0, ea_plating_j_per_mol=22.0e3),
    "NMC": dict(  # Nmc111_Gr_Kokam75Ah_Battery: q1 = q1_0 exp(q1_1/TN) exp(q1_2 UaN/TN) t^0.357,
                  # q3 = q3_0 exp(q3_1/TN) exp(q3_2 exp(D^2)) EFC^0.778, LAM onset q5 = 1e4 + 153 (T-55) D soc/0.6
        k_cal=1.23e-3, ea_cal_j_per_mol=59.0e3, p_cal=0.357, k_cyc=3.66e-5, p_cyc=0.778,
        dod_share=0.91, dod_beta=3.67, dod_exp=2.0, ea_cyc_j_per_mol=60.6e3, plating_share=0.0,
        ea_plating_j_per_mol=30.0e3, knee_efc=9500.0, knee_cold_slope=0.01275),
    "NCA": dict(  # Nca_Gr_Panasonic3Ah_Battery: kcal = A exp(B/T) exp(C soc/T) t^0.512 (C/T: soc_lin_per_pu,
                  # fixed), kcyc = (qA + qB Crate + qC D)(exp(qD/T) + exp(-qE/T)) EFC^0.699 (no temperature effect)
        k_cal=1.859e-3, ea_cal_j_per_mol=27.8e3, p_cal=0.512, k_cyc=1.173e-5, p_cyc=0.699,
        dod_share=1.0, dod_beta=4.77, dod_exp=0.3, rate_coef=0.0, ea_cyc_j_per_mol=0.0, plating_share=0.0,
        ea_plating_j_per_mol=10.0e3),
}
"""Starting point of the fit (analytic values from BLAST-Lite's model equations)."""
KNEE_SPACE = [("knee_efc", 1e3, 3e4, False), ("knee_cold_slope", 0.0, 0.05, False)]


def read_reference(path: Path = REFERENCE) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", keep_default_na=True, dtype={"application": str, "reason": str})


def is_calibration(table: pd.DataFrame) -> np.ndarray:
    """The calibration subset (module docstring); everything else is held out."""
    t = table["temp_c"].to_numpy(float)
    d = table["dod"].to_numpy(float)
    on_t = np.isin(np.round(t, 6), CAL_TEMPS)
    grid = (table["kind"] == "grid").to_numpy() & on_t & np.isin(np.round(d, 6), CAL_DODS)
    storage = (table["kind"] == "storage").to_numpy() & on_t
    return grid | storage


KNEE_FITTED = ("NMC",)
"""Chemistries whose BLAST-Lite model has a knee (the Kokam NMC cell's loss-of-active-material onset)."""
RATE_FITTED = ("LFP",)
"""Chemistries whose BLAST-Lite model has a C-rate term (the NCA model's is negligible, 4.7e-11)."""


def _space(chem: str):
    """The fitted parameters: the common ones, plus the knee or the rate term where BLAST-Lite has one."""
    return SPACE + (KNEE_SPACE if chem in KNEE_FITTED else []) + (RATE_SPACE if chem in RATE_FITTED else [])


def _to_x(p, space):
    return np.array([math.log10(getattr(p, n)) if lg else getattr(p, n) for n, lo, hi, lg in space])


def _from_x(x, p, space):
    vals = {n: (10 ** v if lg else float(v)) for v, (n, lo, hi, lg) in zip(x, space)}
    return replace(p, **vals)


def residuals(p, table: pd.DataFrame) -> np.ndarray:
    cmp = compare_reference(table, APPLICATIONS, chemistry={p.name: p})
    H = REFERENCE_YEARS
    twin = cmp[[f"twin_q_{y}y" for y in range(1, H + 1)]].to_numpy(float)
    blast = cmp[[f"q_{y}y" for y in range(1, H + 1)]].to_numpy(float)
    mask = np.arange(1, H + 1)[None, :] <= cmp["years_compared"].to_numpy()[:, None]
    r = (twin - blast)[mask]
    if p.name in KNEE_FITTED:
        r = np.concatenate([r, KNEE_WEIGHT * cmp["knee_diff_years"].to_numpy(float)])
    return r


def fit(chem: str, table: pd.DataFrame, start) -> tuple:
    sub = table[(table["chemistry"] == chem).to_numpy() & is_calibration(table)].reset_index(drop=True)
    space = _space(chem)
    lo = np.array([math.log10(a) if lg else a for n, a, b, lg in space])
    hi = np.array([math.log10(b) if lg else b for n, a, b, lg in space])
    x0 = np.clip(_to_x(start, space), lo + 1e-9, hi - 1e-9)
    t0 = time.perf_counter()
    sol = least_squares(lambda x: residuals(_from_x(x, start, space), sub), x0, bounds=(lo, hi),
                        x_scale="jac", diff_step=1e-4, max_nfev=400)
    print(f"{chem}: {sol.nfev} evaluations in {time.perf_counter() - t0:.0f} s, cost {sol.cost:.3g}, "
          f"status {sol.status} ({sol.message})")
    return _rounded(_from_x(sol.x, start, space), space), sol


def _rounded(p, space):
    """4 significant digits; a share below 1e-6 (the fit switched a branch off) is 0."""
    r = lambda n, v: 0.0 if n.endswith("_share") and v < 1e-6 else float(f"{v:.4g}")
    return replace(p, **{n: r(n, getattr(p, n)) for n, *_ in space})


def report(params: dict, table: pd.DataFrame) -> pd.DataFrame:
    """Max |twin - BLAST-Lite| by chemistry, split and validity; and per application."""
    cmp = pd.concat([compare_reference(table[table["chemistry"] == c].reset_index(drop=True), APPLICATIONS,
                                       chemistry={c: params[c]}) for c in params], ignore_index=True)
    cmp["split"] = np.where(is_calibration(cmp), "calibration", "held-out")
    summary = (cmp.groupby(["chemistry", "split", "valid"])
               .agg(rows=("max_abs_diff", "size"), max_abs_diff=("max_abs_diff", "max"),
                    mean_abs_diff=("max_abs_diff", "mean"), rows_over_0_03=("max_abs_diff", lambda s: int((s > 0.03).sum())),
                    max_abs_knee_diff_years=("knee_diff_years", lambda s: float(np.abs(s).max())))
               .reset_index())
    print(summary.to_string(index=False))
    apps = cmp[cmp["kind"] == "application"]
    print(apps[["chemistry", "application", "q_10y", "twin_q_10y", "max_abs_diff", "knee_diff_years", "valid"]]
          .to_string(index=False))
    worst = cmp.sort_values("max_abs_diff", ascending=False).head(12)
    print(worst[["chemistry", "label", "split", "valid", "q_10y", "twin_q_10y", "years_compared",
                 "signed_diff_at_max", "knee_diff_years"]].to_string(index=False))
    return cmp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {FIT.relative_to(ROOT)}")
    ap.add_argument("--only", choices=sorted(CHEMISTRIES), nargs="*")
    ap.add_argument("--report", action="store_true", help="only report the current defaults")
    args = ap.parse_args(argv)
    table = read_reference()
    chems = args.only or sorted(CHEMISTRIES)
    params = {c: CHEMISTRIES[c] for c in chems}
    if not args.report:
        for c in chems:
            params[c], _ = fit(c, table, replace(CHEMISTRIES[c], **START[c]))
            print({n: getattr(params[c], n) for n, *_ in _space(c)})
    cmp = report(params, table)
    if args.write:
        old = json.loads(FIT.read_text()) if FIT.exists() else {"params": {}, "max_abs_diff": {}}
        out = {c: v for c, v in old["params"].items() if c not in chems}
        out.update({c: {n: getattr(params[c], n) for n, *_ in _space(c)} for c in chems})
        summary = {k: v for k, v in old["max_abs_diff"].items() if k.split("/")[0] not in chems}
        summary.update({f"{c}/{s}/{'valid' if v else 'outside'}": round(float(g["max_abs_diff"].max()), 4)
                        for (c, s, v), g in cmp.groupby(["chemistry", "split", "valid"])})
        FIT.write_text(json.dumps(dict(
            source="tools/fit_twin.py on tests/data/blast/reference.csv (scipy.optimize.least_squares)",
            calibration=dict(temps_c=list(CAL_TEMPS), dods=list(CAL_DODS), kinds=["grid", "storage"]),
            knee_weight_per_year=KNEE_WEIGHT, params=out, max_abs_diff=summary), indent=2) + "\n")
        print(f"wrote {FIT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
