"""Every command of the README's quickstart runs verbatim (as ``python -m slopt``) on a copy of
the repository's instances: the first hour of a new user."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quickstart", 1)[1].split("```", 2)[1]
    cmds = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(".venv/bin/slopt"):
            cmds.append(line[len(".venv/bin/slopt"):].strip())
    return cmds


def test_the_quickstart_has_the_commands():
    cmds = _quickstart()
    assert len(cmds) >= 8
    assert {c.split()[0] for c in cmds} >= {"validate", "solve", "dispatch", "assign", "passport", "economics", "info"}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    d = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "instances", d / "instances")
    return d


@pytest.mark.parametrize("cmd", _quickstart())
def test_readme_command_runs_verbatim(clone, cmd):
    r = subprocess.run([sys.executable, "-m", "slopt", *re.split(r"\s+", cmd)], cwd=clone, capture_output=True,
                       text=True, timeout=900, env={"COLUMNS": "100", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr
