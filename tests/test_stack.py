"""The tests run on the stack users get: the versions of constraints.txt (the lock that `make run`
and `make test` both install through) and a consistent environment (pip check)."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_pip_check_passes():
    r = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dist", ["numpy", "pandas", "scipy", "pyomo", "highspy", "pymoo", "pydantic"])
def test_runtime_stack_is_the_locked_one(dist):
    """`make run` installs these pins (constraints.txt); the test run must use the same ones."""
    pins = _lock()
    assert dist in pins, f"{dist} missing from constraints.txt (run `make lock`)"
    assert metadata.version(dist) == pins[dist]


def test_lock_covers_every_runtime_dependency():
    req = metadata.requires("slopt") or []
    runtime = [r.split(";")[0] for r in req if "extra ==" not in r]
    names = {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower().replace("_", "-") for r in runtime}
    missing = {n for n in names if n not in _lock() and n != "tomli"}
    assert not missing, f"not locked: {sorted(missing)}"


def test_benchmarks_write_committed_results_only_when_asked():
    """`make bench` writes to the untracked bench-out/ unless SLOPT_BENCH_UPDATE=1 (make bench UPDATE=1)."""
    import re
    for p in sorted((ROOT / "benchmarks").glob("*.py")):
        text = p.read_text()
        for m in re.finditer(r'ROOT / "benchmarks" / "results"', text):
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.end())]
            assert 'SLOPT_BENCH_UPDATE' in line and '"bench-out"' in line, f"{p.name}: {line.strip()}"
    assert "bench-out/" in (ROOT / ".gitignore").read_text()
