"""Provenance line for benchmark tables: the command, the date and the machine's load."""

from __future__ import annotations

import datetime as _dt
import os
import sys


def provenance() -> str:
    """``python benchmarks/x.py ARGS``, measured on DATE (UTC), cores and the load at the start.

    Timings on a shared machine mean little without the load they were taken under; every
    table under ``benchmarks/results/`` states its command and date.
    """
    cmd = " ".join(["python", os.path.relpath(sys.argv[0])] + sys.argv[1:])
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at the start"
    except OSError:  # pragma: no cover - not on every platform
        load = ""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"`{cmd}`, measured {when} on {os.cpu_count()} cores{load}; one run each."


def write_results(out, stem: str, title: str, prov: str, rows: list[dict]) -> str:
    """``out/stem.csv`` and ``out/stem.md`` (a heading, the provenance line and one table row per
    dict; missing or None cells as ``-``, floats >= 1000 with thousands separators). Returns the
    markdown."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(out / f"{stem}.csv", index=False)
    cols = list(df.columns)

    def cell(v) -> str:
        if v is None:
            return "-"
        return f"{v:,.1f}" if isinstance(v, float) and abs(v) >= 1000 else str(v)

    lines = [f"# {title}", "", prov, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    (out / f"{stem}.md").write_text(text)
    return text
