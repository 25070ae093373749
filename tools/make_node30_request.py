"""Write the node-30 dispatch request of instances/node30-groups.toml (Yuan et al. §5.2).

Usage: python tools/make_node30_request.py [--instance instances/ieee33-hybrid.toml] [--out instances/node30]

1. Size storage for ``instances/ieee33-hybrid.toml`` with ``slopt.solve_sizing`` (MILP), with the
   day fixed to start and end at the technologies' ``soc_initial`` (0.5): the node-30 request
   was made that way, before the MILP's default became a free cyclic start.
2. The request is the plan's storage net power at bus 30, summed over the technologies
   (``dispatch[bus == 30].p_net_kw``; + charging), scaled by ``186 kWh / (bus-30 nameplate
   energy of the plan)`` so that it fits the paper's 186 kWh node-30 system (56 kWh new +
   130 kWh second-life). Written to ``request_15min.csv`` (``time,p_request_kw``).
3. The "variable load" scenario of Table 3 (``request_variable_15min.csv``): the request
   normalised to a unit peak, times an envelope that swings between the low (80 kW) and the
   high (200 kW) end of the paper's 80-200 kW range with a 3-h period, both mapped to this
   system by the factor ``P_rated / 220 kW`` (``P_rated`` = the groups' summed power rating in
   node30-groups.toml). The mapping is slopt's, documented in docs/dispatch.md.

The values are deterministic (the MILP plan is unique up to HiGHS' tolerances).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUS = 30
SYSTEM_KWH = 186.0             # Yuan et al. §5.2: 56 kWh new + 130 kWh second-life at node 30
TABLE3_TOP_KW = 220.0          # top of the paper's highest Table 3 range, mapped to P_rated
VARIABLE_KW = (80.0, 200.0)    # the paper's "variable load" range
VARIABLE_PERIOD_H = 3.0


def _write(path: Path, p_kw: np.ndarray, resolution_min: int) -> None:
    lines = ["time,p_request_kw"]
    for k, x in enumerate(p_kw):
        m = k * resolution_min
        lines.append(f"{m // 60:02d}:{m % 60:02d},{x:.6f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def rated_power_kw(groups_toml: Path) -> float:
    """Summed power rating of the ``[[dispatch.groups]]`` of a TOML (schema only, no CSV needed)."""
    import tomllib

    from slopt.io.schema import InstanceSpec

    spec = InstanceSpec.model_validate(tomllib.loads(groups_toml.read_text()))
    return float(sum(g["p_kw"] for g in spec.dispatch_groups()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default=str(ROOT / "instances" / "ieee33-hybrid.toml"))
    ap.add_argument("--groups", default=str(ROOT / "instances" / "node30-groups.toml"))
    ap.add_argument("--out", default=str(ROOT / "instances" / "node30"))
    a = ap.parse_args(argv)

    import slopt

    inst = slopt.load_instance(a.instance)
    from slopt.sizing import SizingOptions

    res = slopt.solve_sizing(inst, options=SizingOptions(fixed_initial_soc=True))
    if res.objective_usd is None:
        raise SystemExit(f"sizing failed: {res.status} {res.message}")
    d = res.dispatch
    p = d[d["bus"] == BUS].groupby("time_h")["p_net_kw"].sum().sort_index().to_numpy()
    e_kwh = float(res.sizing.loc[res.sizing["bus"] == BUS, "e_kwh"].sum())
    scale = SYSTEM_KWH / e_kwh
    request = p * scale
    out = Path(a.out)
    _write(out / f"request_{inst.resolution_min}min.csv", request, inst.resolution_min)

    p_rated = rated_power_kw(Path(a.groups))
    k = p_rated / TABLE3_TOP_KW
    lo, hi = (v * k for v in VARIABLE_KW)
    t_h = np.arange(request.size) * inst.dt_h
    envelope = lo + (hi - lo) * 0.5 * (1.0 + np.sin(2.0 * np.pi * t_h / VARIABLE_PERIOD_H))
    variable = request / np.max(np.abs(request)) * envelope
    _write(out / f"request_variable_{inst.resolution_min}min.csv", variable, inst.resolution_min)
    print(f"bus {BUS}: plan nameplate {e_kwh:.1f} kWh, scale {scale:.5f}; request peak {np.abs(request).max():.2f} kW, "
          f"charge {request[request > 0].sum() * inst.dt_h:.1f} kWh, discharge {-request[request < 0].sum() * inst.dt_h:.1f} kWh")
    print(f"groups' rating {p_rated:.2f} kW -> Table 3 factor {k:.5f}; scenario peaks: "
          + ", ".join(f"{n} {m * k:.3f} kW" for n, m in (("low", 80.0), ("medium", 140.0), ("high", 200.0)))
          + f"; variable envelope {lo:.3f}-{hi:.3f} kW")


if __name__ == "__main__":
    main()
