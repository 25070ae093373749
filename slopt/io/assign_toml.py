"""Reader of assignment instance files (``slopt assign x.toml``), validated by a strict schema.

An assignment TOML names its fleet, or asks for a synthetic one, and sets the economics::

    name = "depot-a"                 # a string (output folder name, made safe by the CLI)
    fleet = "fleet.csv"              # a fleet CSV, relative to this file ...
    # generate = 120                 # ... or a synthetic fleet of this many modules
    # seed = 0                       # for generate: an integer in [0, 4294967295]
    demand_scale = 1.0               # factor on the default application demands
    unlimited = false                # true: no market limits (a TOML boolean, not a string)
    soh_spread = 0.05                # pack consistency: SOH spread of one project, (0, 1]
    r_spread = 0.15                  # resistance-growth spread of one project, (0, 100]
    repurpose_usd_per_kwh = 40.0     # $ per usable kWh, [0, 1e6]
    remanufacture_usd_per_kwh = 60.0
    recycle_usd_per_kwh = 5.0
    years = 10                       # twin horizon, [0.1, 100] years

Types are strict: ``seed = "1"``, ``seed = 1.5``, ``unlimited = "false"`` and ``name = 5`` are
refused, never coerced (a non-empty string ``"false"`` would otherwise count as true).
``generate`` is checked against the ``batteries`` limit of :mod:`slopt.limits` before any
battery is made. Every problem is one :class:`~slopt.errors.InstanceError`,
``file: field = value: reason``.

:func:`check_assignment_options` applies the same bounds to an
:class:`~slopt.fleet.assign.AssignmentOptions` built in a program.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from slopt.errors import ArgumentError, InstanceError
from slopt.io import bounds as B
from slopt.io.schema import MISSING, _capped, _range, error_location
from slopt.limits import check_file_size, limit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["AssignSpec", "read_assign_toml", "check_assignment_options", "MAX_SEED"]

#: Largest seed (numpy's and HiGHS's 32-bit range, as ``--seed``).
MAX_SEED = 2**32 - 1


def _generate(v: int) -> int:
    if v < 1:
        raise ValueError("must be an integer >= 1")
    cap = limit("batteries")
    if v > cap:
        raise ValueError(f"exceeds the limit batteries = {cap:,.0f}; raise it with 'slopt --limit batteries=N' "
                         "or SLOPT_LIMITS if this is intended")
    return v


UsdPerKwh = Annotated[float, _capped(0.0, B.MAX_USD_PER_KWH, False)]


class AssignSpec(BaseModel):
    """The validated assignment file (field meanings in the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    name: Optional[str] = Field(default=None, min_length=1, max_length=200)
    fleet: Optional[str] = Field(default=None, min_length=1)
    generate: Optional[Annotated[int, AfterValidator(_generate)]] = None
    seed: Annotated[int, _range(0, MAX_SEED, False, False)] = 0
    demand_scale: Optional[Annotated[float, _capped(0.0, B.MAX_SCALE, False)]] = None
    unlimited: bool = False
    soh_spread: Annotated[float, _range(0.0, 1.0, True, False)] = 0.05
    r_spread: Annotated[float, _range(0.0, 100.0, True, False)] = 0.15
    repurpose_usd_per_kwh: UsdPerKwh = 40.0
    remanufacture_usd_per_kwh: UsdPerKwh = 60.0
    recycle_usd_per_kwh: UsdPerKwh = 5.0
    years: Annotated[float, _range(B.MIN_LIFETIME_YEARS, B.MAX_YEARS, False, False)] = 10.0
    pack: bool = True
    max_installations: Optional[Annotated[int, _range(1, 10**6, False, False)]] = None
    installation_kwh: Annotated[float, _capped(0.0, B.MAX_ENERGY_KWH, True)] = 50.0
    min_service_years: Annotated[float, _range(0.0, B.MAX_YEARS, False, False)] = 0.0
    service_years: Annotated[float, _range(0.0, B.MAX_YEARS, False, False)] = 5.0
    milp_time_s: Annotated[float, _range(0.0, 1e5, True, False)] = 10.0

    @field_validator("name", "fleet")
    @classmethod
    def _not_blank(cls, v):
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if (self.fleet is None) == (self.generate is None):
            raise ValueError("give exactly one of fleet (a CSV) and generate (a number of modules)")
        return self

    def option_kwargs(self) -> dict:
        """Keyword arguments of :class:`~slopt.fleet.assign.AssignmentOptions` set by the file (the
        pack rule's fields go to :class:`~slopt.fleet.assign.PackRule`, see the ``assign`` command)."""
        keys = ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh", "years",
                "min_service_years", "milp_time_s")
        return {k: float(getattr(self, k)) for k in keys if k in self.model_fields_set}

    def load_fleet(self, base: Path | None = None):
        """The fleet: the CSV (relative to ``base``) or a generated one."""
        from slopt.fleet.data import generate_fleet, load_fleet

        if self.fleet is not None:
            return load_fleet((base or Path(".")) / self.fleet)
        return generate_fleet(int(self.generate), seed=int(self.seed))


def read_assign_toml(path: str | Path) -> AssignSpec:
    """Read and validate an assignment TOML; ``fleet`` is resolved relative to the file.

    Raises
    ------
    InstanceError
        ``file: field = value: reason`` for the first problem (unreadable or invalid TOML,
        unknown field, wrong type, out-of-range value, both or neither of fleet/generate).
    """
    path = Path(path)
    check_file_size(path, "file")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise InstanceError.at(path, "file", str(path), f"cannot read ({e.strerror or type(e).__name__})") from None
    except UnicodeDecodeError as e:
        raise InstanceError.at(path, "file", str(path), f"not UTF-8 text (byte {e.start})") from None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        raise InstanceError(f"{path}: invalid TOML: {' '.join(str(e).split())[:120]}") from None
    try:
        spec = AssignSpec.model_validate(data)
    except ValidationError as e:
        field, value, reason = _first_error(e)
        raise InstanceError.at(path, field, value, reason) from None
    if spec.fleet is not None:
        spec = spec.model_copy(update={"fleet": str((path.parent / spec.fleet).resolve())})
    return spec


class _Both:
    def __str__(self) -> str:
        return "(both given)"


_BOTH = _Both()

_MSG = {"int_type": "must be an integer", "float_type": "must be a number", "string_type": "must be a string",
        "bool_type": "must be true or false (a TOML boolean, not a string)", "finite_number": "must be a finite number",
        "missing": "required field is missing", "string_too_short": "must not be empty",
        "string_too_long": "must be at most 200 characters"}


def _first_error(exc: ValidationError) -> tuple[str, object, str]:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    typ = err.get("type", "")
    value = err.get("input", MISSING)
    if typ == "extra_forbidden":
        return error_location(loc), value, f"unknown field; expected one of {', '.join(sorted(AssignSpec.model_fields))}"
    if typ in _MSG:
        return error_location(loc), value, _MSG[typ]
    reason = str(err.get("msg", "invalid value"))
    reason = reason[len("Value error, "):] if reason.startswith("Value error, ") else reason
    if not loc:  # the model validator: both or neither of fleet/generate
        both = isinstance(value, dict) and "fleet" in value and "generate" in value
        return "fleet/generate", _BOTH if both else MISSING, reason
    return error_location(loc), value, reason


def check_assignment_options(options) -> None:
    """Apply the bounds of :class:`AssignSpec` to an ``AssignmentOptions`` built in a program.

    Raises
    ------
    ArgumentError
        If ``options`` is not an AssignmentOptions.
    InstanceError
        ``AssignmentOptions.field = value: reason`` for the first value out of its range.
    """
    from slopt.fleet.assign import AssignmentOptions

    if not isinstance(options, AssignmentOptions):
        raise ArgumentError(f"options must be an AssignmentOptions, got {type(options).__name__}")
    where = "AssignmentOptions"
    for k in ("repurpose_usd_per_kwh", "remanufacture_usd_per_kwh", "recycle_usd_per_kwh"):
        if k == "recycle_usd_per_kwh" and options.recycle_usd_per_kwh is None:
            continue                                  # per chemistry (slopt.battery.chemistry)
        B.check_range(getattr(options, k), 0.0, B.MAX_USD_PER_KWH, None, f"{where}.{k}")
    B.check_range(options.years, B.MIN_LIFETIME_YEARS, B.MAX_YEARS, None, f"{where}.years")
    B.check_range(options.min_service_years, 0.0, B.MAX_YEARS, None, f"{where}.min_service_years")
    B.check_range(options.milp_time_s, 0.0, 1e5, None, f"{where}.milp_time_s", lo_open=True)
    B.check_range(options.gap_tol, 0.0, 1.0, None, f"{where}.gap_tol")
    rules = [("pack", options.pack)] + [(f"pack_by_app[{k!r}]", r) for k, r in dict(options.pack_by_app).items()]
    for name, rule in rules:
        if rule is None:
            continue
        B.check_range(rule.soh_spread, 0.0, 1.0, None, f"{where}.{name}.soh_spread", lo_open=True)
        B.check_range(rule.r_spread_pu, 0.0, 100.0, None, f"{where}.{name}.r_spread_pu", lo_open=True)
        B.check_range(rule.installation_kwh, 0.0, B.MAX_ENERGY_KWH, None, f"{where}.{name}.installation_kwh",
                      lo_open=True)
        mi = rule.max_installations
        if mi is not None and (isinstance(mi, bool) or not isinstance(mi, int) or not 1 <= mi <= 10**6):
            raise InstanceError.at(None, f"{where}.{name}.max_installations", mi, "must be an integer in [1, 1e6]")
