"""Regenerate instances/profiles/day_{60,15,5}min.csv from the built-in profiles.

Usage: python tools/write_profiles.py [OUT_DIR]   (default: instances/profiles)

Values are written with ``repr`` so that reading the CSV gives the built-in arrays bit for bit.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slopt.grid.profiles import RESOLUTIONS_MIN, load_profile, pv_profile


def main(out_dir: str = "instances/profiles") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for res in RESOLUTIONS_MIN:
        load, pv = load_profile(res), pv_profile(res)
        lines = ["time,load,pv"]
        for k in range(load.size):
            m = k * res
            lines.append(f"{m // 60:02d}:{m % 60:02d},{float(load[k])!r},{float(pv[k])!r}")
        (out / f"day_{res}min.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:2])
