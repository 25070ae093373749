"""Figures quoted in the documentation are re-derived here from the code that produces them.

A derived figure is followed in the markdown by ``<!-- derived: NAME -->``; NAME maps to a
function below that computes it (cheaply), and the number printed just before the tag must
match it to the precision it is printed with. Figures from long benchmark runs are not
derived here; the docs give them under a heading or caption that states the command and the
date they were measured (checked by ``test_benchmark_tables_say_how_they_were_measured``).
"""

import re
from functools import lru_cache
from pathlib import Path

import pytest

import slopt

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
TAG = re.compile(r"(-?[\d,]*\.?\d+)\s*(?:p\.u\.|kW|\$|%)?\)?\s*<!-- derived: ([\w.]+) -->")


@lru_cache(maxsize=None)
def _sizing(name: str, load_scale: float = 1.0):
    inst = slopt.load_instance(ROOT / "instances" / f"{name}.toml").with_(load_scale=load_scale)
    return slopt.solve_sizing(inst)


def _case33():
    f = slopt.load_feeder("ieee33")
    return slopt.powerflow(f, f.p_load_kw, f.q_load_kvar)


DERIVED = {
    "cost.table2_node8": lambda: __import__("slopt.battery.cost", fromlist=["x"]).storage_cost_usd(
        __import__("slopt.battery.cost", fromlist=["x"]).NEW_DEFAULT, 22.5, 18),
    "powerflow.case33_vmin": lambda: float(_case33().vm_pu.min()),
    "powerflow.case33_loss_kw": lambda: float(_case33().loss_kw),
    "sizing.ieee33_hybrid_cost": lambda: _sizing("ieee33-hybrid").objective_usd,
    "sizing.ieee33_open_cost": lambda: _sizing("ieee33-open").objective_usd,
    "sizing.ls105_worst_shortfall": lambda: float(_sizing("ieee33-hybrid", 1.05).diagnosis["shortfall_pu"].max()),
    "sizing.ls16_worst_shortfall": lambda: float(_sizing("ieee33-hybrid", 1.6).diagnosis["shortfall_pu"].max()),
    "sizing.ls16_buses": lambda: float(_sizing("ieee33-hybrid", 1.6).diagnosis["bus"].nunique()),
}


def _tags():
    out = []
    for doc in DOCS:
        for m in TAG.finditer(doc.read_text()):
            out.append(pytest.param(doc.name, m.group(1), m.group(2), id=f"{doc.name}:{m.group(2)}"))
    return out


def test_every_tag_has_a_derivation():
    names = {p.values[2] for p in _tags()}
    assert names, "no derived figures found in the docs"
    assert names <= set(DERIVED), sorted(names - set(DERIVED))


@pytest.mark.parametrize("doc,text,name", _tags())
def test_quoted_figure_matches_the_code(doc, text, name):
    value = DERIVED[name]()
    printed = float(text.replace(",", ""))
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(value - printed) <= 0.5 * 10 ** -decimals + 1e-12, f"{doc}: {name} prints {text}, code gives {value}"


def test_benchmark_tables_say_how_they_were_measured():
    """A markdown table of timings must be introduced or followed by the command and the date."""
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"^\|[^\n]*(?:wall_s|wall s|solve s|solve_s)[^\n]*\|$", text, flags=re.M):
            window = text[max(0, m.start() - 1500): m.end() + 3000]
            assert re.search(r"(python |make )\S*benchmarks/|benchmarks/\S+\.py", window), f"{doc.name}: no command"
            assert re.search(r"20\d\d-\d\d-\d\d", window), f"{doc.name}: no date for the timings near {m.group(0)[:60]}"
