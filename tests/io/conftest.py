"""Fixtures for instance-file tests: a private copy of the default instance."""

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOML = ROOT / "instances" / "ieee33-hybrid.toml"


def copy_default_instance(dest: Path) -> Path:
    """Copy instances/ieee33-hybrid.toml and its profiles/ into ``dest``; return the TOML path."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEFAULT_TOML, dest / DEFAULT_TOML.name)
    shutil.copytree(DEFAULT_TOML.parent / "profiles", dest / "profiles", dirs_exist_ok=True)
    return dest / DEFAULT_TOML.name


@pytest.fixture
def default_copy(tmp_path) -> Path:
    return copy_default_instance(tmp_path / "inst")
