"""Shared fixtures: small hand-made instances built directly from the data objects."""

from pathlib import Path

import numpy as np
import pytest

try:  # property tests: reproducible in CI (derandomized), a fixed budget everywhere
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass

from slopt.battery.cost import NEW_DEFAULT, RETIRED_DEFAULT
from slopt.grid.feeder import Feeder
from slopt.io.instance import Candidates, Instance

ROOT = Path(__file__).resolve().parents[1]
MATPOWER_DIR = ROOT / "instances" / "feeders" / "matpower"


def three_bus_instance(vmin=0.995, load3_kw=(0.0, 300.0), techs=("new",), **cand):
    """1 -- 2 -- 3 with r = 0.01 p.u., x = 0 on a 1 MVA base; storage candidate at bus 3; 2 steps of 1 h."""
    f = Feeder.from_branches("three-bus", [1, 2, 3], [0, 0, 0], [0, 0, 0], [1, 2], [2, 3],
                             [0.01, 0.01], [0.0, 0.0], base_kv=10.0, base_mva=1.0)
    f = Feeder(name=f.name, bus_ids=f.bus_ids, parent=f.parent, r_pu=f.r_pu, x_pu=f.x_pu,
               p_load_kw=np.array([0.0, 0.0, 1.0]), q_load_kvar=np.zeros(3),
               base_kv=f.base_kv, base_mva=f.base_mva)
    tech = {"new": NEW_DEFAULT.with_(eta_charge=0.9, eta_discharge=0.9),
            "retired": RETIRED_DEFAULT.with_(eta_charge=0.9, eta_discharge=0.9)}
    c = dict(bus_ids=np.array([3]), e_max_kwh=np.array([1000.0]), p_max_kw=np.array([500.0]),
             e_min_kwh=np.array([0.0]), max_sites=1, fixed=True)
    c.update(cand)
    return Instance(
        name="three-bus", path=None, feeder=f, vmin_pu=vmin, vmax_pu=1.05, resolution_min=60,
        load_mult=np.asarray(load3_kw, dtype=float), pv_mult=np.zeros(len(load3_kw)),
        pv_bus_ids=np.array([], dtype=int), pv_kw=np.array([]),
        technologies={k: tech[k] for k in techs}, candidates=Candidates(**c),
    )


@pytest.fixture
def three_bus():
    return three_bus_instance()


def run_cli(*args, cwd, columns=200, timeout=300):
    """Run ``python -m slopt.cli ARGS`` in a subprocess, as a user would, without colour."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, COLUMNS=str(columns), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "slopt.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def simbench_net():
    """``simbench_net(code)`` -> the SimBench pandapower net, read once per test session
    (slopt.grid.simbench caches it; copy it before changing it)."""
    pytest.importorskip("simbench", reason="SimBench grids need the simbench extra (pip install slopt[test])")
    from slopt.grid.simbench import simbench_net as load

    return load


def pytest_configure(config):
    """Keep the SimBench disk cache of the test session out of the user's home."""
    import os
    import tempfile

    os.environ.setdefault("SLOPT_CACHE_DIR", tempfile.mkdtemp(prefix="slopt-test-cache-"))
