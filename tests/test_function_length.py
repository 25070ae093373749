"""The battery and fleet layers keep every function at most about 80 code lines (working agreement)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("function_lengths", ROOT / "tools" / "function_lengths.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counter_counts_code_lines_only(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('def f(x):\n    """Doc\n    more doc."""\n    # a comment\n\n    y = x\n    return y\n')
    assert _tool().function_lengths([f]) == [(3, f"{f}:1", "f")]      # def, y = x, return y


def test_battery_and_fleet_functions_are_short():
    rows = _tool().function_lengths([ROOT / "slopt" / "battery", ROOT / "slopt" / "fleet"])
    long = [r for r in rows if r[0] > 80]
    assert not long, long
