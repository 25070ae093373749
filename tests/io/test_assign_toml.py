"""Assignment TOML reader: strict types (no coercion of strings, floats or negative seeds),
ranges, the batteries limit on ``generate``, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from slopt.errors import ArgumentError, InstanceError
from slopt.fleet.assign import check_assignment_options
from slopt.io.assign_toml import AssignSpec, read_assign_toml


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "a.toml"
    p.write_text(text + "\n")
    return p


BAD = {
    "seed-string": ('generate = 120\nseed = "1"', "seed = '1': must be an integer"),
    "seed-negative": ("generate = 120\nseed = -1", "seed = -1: must be in [0, 4294967295]"),
    "seed-float": ("generate = 120\nseed = 1.5", "seed = 1.5: must be an integer"),
    "seed-too-large": ("generate = 120\nseed = 4294967296", "seed = 4294967296"),
    "unlimited-string": ('generate = 120\nunlimited = "false"', "unlimited = 'false': must be true or false"),
    "name-integer": ("generate = 120\nname = 5", "name = 5: must be a string"),
    "name-blank": ('generate = 120\nname = "  "', ": must not be blank"),
    "years-zero": ("generate = 120\nyears = 0", "years = 0: must be in [0.1, 100]"),
    "years-nan": ("generate = 120\nyears = nan", "years = nan: must be a finite number"),
    "generate-huge": ("generate = 1000000000", "generate = 1000000000: exceeds the limit batteries"),
    "generate-float": ("generate = 2e62", "generate = 2e+62: must be an integer"),
    "generate-zero": ("generate = 0", "generate = 0: must be an integer >= 1"),
    "recycle-huge": ("generate = 120\nrecycle_usd_per_kwh = 1e308", "recycle_usd_per_kwh = 1e+308: must be at most 1e+06"),
    "spread-zero": ("generate = 120\nsoh_spread = 0", "soh_spread = 0: must be in (0, 1]"),
    "demand-negative": ("generate = 120\ndemand_scale = -1", "demand_scale = -1: must be >= 0"),
    "both": ('fleet = "f.csv"\ngenerate = 5', "fleet/generate = (both given): give exactly one"),
    "neither": ("seed = 1", "fleet/generate = (missing): give exactly one"),
    "unknown": ("generate = 120\ncolour = 1", "colour = 1: unknown field"),
    "toml": ("x = ", "invalid TOML"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_values_are_one_line_errors(tmp_path, case):
    text, expect = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(InstanceError) as e:
        read_assign_toml(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg
    assert expect in msg, msg


def test_good_file_keeps_only_given_options_and_resolves_the_fleet(tmp_path):
    path = _write(tmp_path, 'name = "depot"\nfleet = "sub/f.csv"\nyears = 5\nunlimited = true\nseed = 7')
    spec = read_assign_toml(path)
    assert spec.name == "depot" and spec.unlimited is True and spec.seed == 7
    assert spec.option_kwargs() == {"years": 5.0}            # defaults are left to AssignmentOptions
    assert Path(spec.fleet) == (tmp_path / "sub" / "f.csv").resolve()


def test_generate_within_a_raised_limit_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPT_LIMITS", "batteries=10")
    with pytest.raises(InstanceError, match="generate = 11: exceeds the limit batteries = 10"):
        read_assign_toml(_write(tmp_path, "generate = 11"))
    spec = read_assign_toml(_write(tmp_path, "generate = 10\nseed = 3"))
    assert spec.generate == 10 and spec.seed == 3


def test_defaults_match_assignment_options():
    """The schema's defaults are AssignmentOptions' defaults (a file without them changes nothing)."""
    from slopt.fleet.assign import AssignmentOptions

    o = AssignmentOptions()
    spec = AssignSpec(generate=5)
    for k in ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh", "years",
              "min_service_years", "milp_time_s"):
        assert getattr(spec, k) == getattr(o, k), k
    assert spec.soh_spread == o.pack.soh_spread and spec.r_spread == o.pack.r_spread_pu
    assert spec.installation_kwh == o.pack.installation_kwh and spec.max_installations == o.pack.max_installations


@pytest.mark.parametrize("change,needle", [
    ({"recycle_usd_per_kwh": 1e308}, "recycle_usd_per_kwh = 1e+308"),
    ({"years": 0.0}, "years = 0.0"),
    ({"milp_time_s": float("nan")}, "milp_time_s = nan"),
    ({"min_service_years": -1.0}, "min_service_years = -1.0"),
    ({"gap_tol": 2.0}, "gap_tol = 2.0"),
])
def test_check_assignment_options(change, needle):
    from dataclasses import replace

    from slopt.fleet.assign import AssignmentOptions

    check_assignment_options(AssignmentOptions())                 # the defaults pass
    with pytest.raises(InstanceError, match=needle.replace("+", r"\+").replace(".", r"\.")):
        check_assignment_options(replace(AssignmentOptions(), **change))
    with pytest.raises(ArgumentError):
        check_assignment_options({"years": 1})
