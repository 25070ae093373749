"""Convert the bundled MATPOWER feeders to the project's feeder format (TOML + two CSV).

Usage (from the repository root)::

    python tools/convert_feeders.py            # writes instances/feeders/<case>.toml + CSVs
    python tools/convert_feeders.py --docs     # also rewrites docs/feeders.md

Input: ``instances/feeders/matpower/<case>.m`` (copied from MATPOWER, BSD-3-Clause).
The ``.m`` files are read with :func:`slopt.io.matpower.read_matpower`, which applies their
trailing unit conversions (ohm -> p.u., kW/kVA -> MW/MVAr). Output per case:

* ``<case>.toml``: name, source file, citation (from the ``.m`` header comment), the full
  header comment, base_kv, base_mva, root_bus, v_root_pu and the names of the CSV files;
* ``<case>_buses.csv``: ``bus_id,p_kw,q_kvar`` in the original bus order;
* ``<case>_branches.csv``: ``from_bus,to_bus,r_ohm,x_ohm`` for the in-service branches in
  the original branch order, impedances in ohm on ``base_kv`` (``r_pu * base_kv^2 /
  base_mva``), written with ``repr`` so that no precision is lost.

After writing, each converted feeder is read back with
:func:`slopt.io.feeder_file.read_feeder_toml` and compared with the ``.m`` original.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slopt.grid.feeder import BUNDLED_FEEDERS  # noqa: E402
from slopt.io.feeder_file import read_feeder_toml  # noqa: E402
from slopt.io.matpower import BR_R, BR_STATUS, BR_X, F_BUS, PD, QD, T_BUS, parse_matpower, read_matpower  # noqa: E402

FEEDER_DIR = ROOT / "instances" / "feeders"
MATPOWER_DIR = FEEDER_DIR / "matpower"


# ---------------------------------------------------------------------- header comment
def header_comment(text: str) -> list[str]:
    """The help block of a MATPOWER case: comment lines right after ``function mpc = ...``."""
    lines = text.splitlines()
    out = []
    for line in lines[1:]:
        if not line.startswith("%"):
            break
        out.append(line[1:].rstrip())
    return out


def citation(header: list[str]) -> str:
    """The reference paragraph after ``Data from ...``, joined into one line."""
    try:
        start = next(i for i, l in enumerate(header) if l.strip().lower().startswith("data from"))
    except StopIteration:
        raise SystemExit("no 'Data from ...' paragraph in the header comment") from None
    para = []
    for line in header[start + 1 :]:
        if not line.strip():
            break
        para.append(line.strip())
    text = " ".join(para)
    return re.sub(r"\s+", " ", text).strip()


def _toml_str(s: str) -> str:
    """A TOML basic string."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{out}"'


def _toml_multiline(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').replace("\t", "\\t")
    return f'"""\n{out}\n"""'


# ---------------------------------------------------------------------- conversion
def convert(case: str, out_dir: Path = FEEDER_DIR) -> Path:
    """Convert ``matpower/<case>.m``; return the path of the TOML file written."""
    m_path = MATPOWER_DIR / f"{case}.m"
    text = m_path.read_text(encoding="utf-8")
    feeder = read_matpower(m_path)  # validates (radial, no shunts) and gives base values
    mpc = parse_matpower(text, m_path)  # same numbers, original bus and branch order
    bus, branch = mpc["bus"], mpc["branch"]
    z_base = feeder.base_kv**2 / feeder.base_mva
    head = header_comment(text)

    buses_csv = f"{case}_buses.csv"
    branches_csv = f"{case}_branches.csv"
    with open(out_dir / buses_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["bus_id", "p_kw", "q_kvar"])
        for row in bus:
            # the same expressions as read_matpower, so the floats are identical
            w.writerow([int(row[0]), repr(float(row[PD] * 1e3)), repr(float(row[QD] * 1e3))])
    with open(out_dir / branches_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["from_bus", "to_bus", "r_ohm", "x_ohm"])
        for row in branch[branch[:, BR_STATUS] != 0]:
            w.writerow([int(row[F_BUS]), int(row[T_BUS]), repr(float(row[BR_R] * z_base)), repr(float(row[BR_X] * z_base))])

    n_off = int((branch[:, BR_STATUS] == 0).sum())
    lines = [
        f"# {case}: radial distribution feeder converted from MATPOWER's {case}.m",
        "# by tools/convert_feeders.py; regenerate rather than edit by hand.",
        f"# {feeder.n_bus} buses, {feeder.n_bus - 1} in-service branches"
        + (f" ({n_off} open tie branches of the .m file omitted)" if n_off else "")
        + ".",
        "# Loads in kW/kvar (consumption positive); impedances in ohm on base_kv.",
        f"name = {_toml_str(case)}",
        f"source = {_toml_str(f'matpower/{case}.m')}",
        f"citation = {_toml_str(citation(head))}",
        f"header = {_toml_multiline(chr(10).join(head).strip(chr(10)))}",
        f"base_kv = {feeder.base_kv!r}",
        f"base_mva = {feeder.base_mva!r}",
        f"root_bus = {int(feeder.bus_ids[0])}",
        f"v_root_pu = {feeder.v_root_pu!r}",
        f"buses = {_toml_str(buses_csv)}",
        f"branches = {_toml_str(branches_csv)}",
        "",
    ]
    toml_path = out_dir / f"{case}.toml"
    toml_path.write_text("\n".join(lines), encoding="utf-8")
    _check_roundtrip(toml_path, m_path)
    return toml_path


def _check_roundtrip(toml_path: Path, m_path: Path) -> None:
    a = read_feeder_toml(toml_path)
    b = read_matpower(m_path)
    assert np.array_equal(a.bus_ids, b.bus_ids), toml_path
    assert np.array_equal(a.parent, b.parent), toml_path
    for fld in ("r_pu", "x_pu", "p_load_kw", "q_load_kvar"):
        x, y = getattr(a, fld), getattr(b, fld)
        assert np.allclose(x, y, rtol=1e-12, atol=1e-15), (toml_path, fld, np.abs(x - y).max())
    assert (a.base_kv, a.base_mva, a.v_root_pu) == (b.base_kv, b.base_mva, b.v_root_pu), toml_path


# ---------------------------------------------------------------------- docs
def feeders_markdown() -> str:
    from slopt.grid.feeder import load_feeder
    from slopt.grid.powerflow import powerflow

    from slopt.io.feeder_file import tomllib

    rows = []
    for key, case in BUNDLED_FEEDERS.items():
        f = load_feeder(key)
        pf = powerflow(f, f.p_load_kw, f.q_load_kvar)
        assert pf.converged
        i = int(np.argmin(pf.vm_pu))
        rows.append(
            f"| `{key}` | `{case}` | {f.n_bus} | {f.base_kv:g} kV / {f.base_mva:g} MVA | "
            f"{f.p_load_kw.sum():.1f} kW, {f.q_load_kvar.sum():.1f} kvar | "
            f"{pf.vm_pu[i]:.5f} at bus {int(f.bus_ids[i])} | {float(pf.loss_kw):.2f} kW |"
        )
    cites = []
    for key, case in BUNDLED_FEEDERS.items():
        meta = tomllib.loads((FEEDER_DIR / f"{case}.toml").read_text(encoding="utf-8"))
        cites.append(f"- `{key}` (`{case}`): {meta['citation']}")
    return TEMPLATE.format(rows="\n".join(rows), cites="\n".join(cites))


TEMPLATE = """\
# Bundled feeders

`slopt.load_feeder(name)` loads one of five radial distribution feeders. They come from
MATPOWER's published distribution cases (MATPOWER is BSD-3-Clause licensed; the original
`.m` files are kept in `instances/feeders/matpower/`). `tools/convert_feeders.py` converted
them to the project's format, which lives in `instances/feeders/` and ships with the package
(`slopt/data/feeders` is a symlink to it):

- `<case>.toml`: name, source file, citation, the `.m` file's full header comment (data
  corrections and modifications made by MATPOWER's maintainers), `base_kv`, `base_mva`,
  `root_bus`, `v_root_pu` and the names of the two CSV files;
- `<case>_buses.csv`: `bus_id, p_kw, q_kvar` (nominal load, consumption positive), in the
  original bus order;
- `<case>_branches.csv`: `from_bus, to_bus, r_ohm, x_ohm`, in ohm on `base_kv`
  (`r_pu = r_ohm * base_mva / base_kv^2`). Only in-service branches are kept: the five
  open tie switches of `case33bw` are not part of the radial feeder.

The same format can be used for your own feeders (`slopt.io.feeder_file.read_feeder_toml`);
any radial MATPOWER case also loads directly with `Feeder.from_matpower(path)`.

## Base case

Nominal loads, root voltage 1.0 p.u.; AC power flow by `slopt.powerflow` (agrees with
pandapower's Newton-Raphson to 1e-6 p.u., see `tests/grid/test_powerflow.py`).

| name | case | buses | base | total load | min voltage (p.u.) | losses |
| --- | --- | ---: | --- | --- | --- | ---: |
{rows}

Published values reproduced: `case33bw` 202.68 kW losses, minimum 0.91309 p.u. at bus 18
(Baran & Wu 1989); `case69` 224.99 kW, 0.90919 p.u. at bus 65; `case141` 632.70 kW,
0.92786 p.u. Loads of `case141` are given in kVA in the paper and are converted at power
factor 0.85 (P = 0.85 S, Q = S sin(acos 0.85)), as MATPOWER does.

## Sources

{cites}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", default=list(BUNDLED_FEEDERS.values()))
    ap.add_argument("--docs", action="store_true", help="also rewrite docs/feeders.md")
    args = ap.parse_args(argv)
    for case in args.cases:
        path = convert(case)
        print(f"wrote {path.relative_to(ROOT)}")
    if args.docs:
        out = ROOT / "docs" / "feeders.md"
        out.write_text(feeders_markdown(), encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
