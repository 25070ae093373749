"""Pydantic v2 schema of instance files (``docs/instances.md``).

The schema checks everything that can be checked from the TOML alone: types (strict: a
string is never read as a number, a float is never read as a bus number; an int is accepted
where a float is expected), ranges, unknown keys and cross-field rules. What needs the feeder
or the CSV files (bus ids exist, profile values) is checked by :mod:`slopt.io.loader`.

A validated :class:`InstanceSpec` mirrors the file one to one; the loader turns it into
the plain :class:`slopt.io.instance.Instance` data object.

:func:`format_validation_error` turns a pydantic ``ValidationError`` into the canonical one
line ``file: field.path = value: reason``.
"""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, Literal, Optional, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model,
                      field_validator, model_validator)

from slopt.battery.cost import NEW_DEFAULT, RETIRED_DEFAULT, Technology
from slopt import bounds as B

__all__ = ["InstanceSpec", "BandSpec", "ProfilesSpec", "StorageSpec", "NewTechnologySpec",
           "RetiredTechnologySpec", "CandidatesSpec", "DispatchSpec", "DispatchGroupSpec",
           "DispatchScenarioSpec", "FieldValueError", "MISSING", "format_validation_error", "error_location"]


class FieldValueError(ValueError):
    """A cross-field check failed at ``field`` (relative to the model) with ``value``."""

    def __init__(self, field: str | tuple, value: object, reason: str):
        super().__init__(reason)
        self.field = (field,) if isinstance(field, (str, int)) else tuple(field)
        self.value = value
        self.reason = reason


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"

    __str__ = __repr__


#: Shown as the value of a missing field.
MISSING = _Missing()


# ----------------------------------------------------------------------------- field types
def _range(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool):
    text = f"{'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if hi is None:
        text = f"> {_num(lo)}" if lo_open else f">= {_num(lo)}"

    def check(x: float) -> float:
        ok = (lo is None or (x > lo if lo_open else x >= lo)) and (hi is None or (x < hi if hi_open else x <= hi))
        if not ok:
            raise ValueError(f"must be {text}" if hi is None else f"must be in {text}")
        return x

    return AfterValidator(check)


def _capped(lo: float, hi: float, lo_open: bool):
    """A lower bound and a physical cap (:mod:`slopt.bounds`), with one message for each side."""
    low = f"> {_num(lo)}" if lo_open else f">= {_num(lo)}"

    def check(x):
        if not (x > lo if lo_open else x >= lo):
            raise ValueError(f"must be {low}")
        if x > hi:
            raise ValueError(f"must be at most {hi:g} (no physical input is larger; see slopt.bounds)")
        return x

    return AfterValidator(check)


def _num(x) -> str:
    return "inf" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


NonNegative = Annotated[float, _range(0.0, None, False, False)]
Positive = Annotated[float, _range(0.0, None, True, False)]
UnitOpenLeft = Annotated[float, _range(0.0, 1.0, True, False)]     # (0, 1]
Unit = Annotated[float, _range(0.0, 1.0, False, False)]            # [0, 1]
VoltagePu = Annotated[float, _range(0.5, 1.5, True, True)]         # (0.5, 1.5)
# Magnitudes with the physical caps of slopt.bounds (no real input reaches them; larger
# values would become MILP bounds above 1e20 or overflow).
PowerKw = Annotated[float, _capped(0.0, B.MAX_POWER_KW, False)]
PositivePowerKw = Annotated[float, _capped(0.0, B.MAX_POWER_KW, True)]
EnergyKwh = Annotated[float, _capped(0.0, B.MAX_ENERGY_KWH, False)]
PositiveEnergyKwh = Annotated[float, _capped(0.0, B.MAX_ENERGY_KWH, True)]
Scale = Annotated[float, _capped(0.0, B.MAX_SCALE, False)]
PositiveScale = Annotated[float, _capped(0.0, B.MAX_SCALE, True)]
UsdPerWh = Annotated[float, _capped(0.0, B.MAX_USD_PER_WH, False)]
CRate = Annotated[float, _capped(0.0, B.MAX_C_RATE, True)]
LifetimeYears = Annotated[float, _range(B.MIN_LIFETIME_YEARS, B.MAX_LIFETIME_YEARS, False, False)]
BusId = Annotated[int, _range(0, B.MAX_BUS_ID, False, False)]
#: A number for every bus or one number per bus.
NumberOrList = Union[NonNegative, list[NonNegative]]
PowerOrList = Union[PowerKw, list[PowerKw]]
EnergyOrList = Union[EnergyKwh, list[EnergyKwh]]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _no_duplicates(values: list, what: str) -> None:
    seen: dict = {}
    for i, b in enumerate(values):
        if b in seen:
            raise FieldValueError(i, b, f"duplicate {what} (also at index {seen[b]})")
        seen[b] = i


def _per_bus(value, n: int, field: str, bus_field: str) -> None:
    if isinstance(value, list) and len(value) != n:
        raise FieldValueError(field, value, f"has {len(value)} entries but {bus_field} has {n}; give one number or one per bus")


# ----------------------------------------------------------------------------- sections
class BandSpec(_Spec):
    """``[band]``: the voltage band in p.u. (Yuan et al. §5.1: 0.93-1.05)."""

    vmin_pu: VoltagePu = 0.93
    vmax_pu: VoltagePu = 1.05

    @model_validator(mode="after")
    def _ordered(self):
        if self.vmin_pu >= self.vmax_pu:
            raise FieldValueError("vmin_pu", self.vmin_pu, f"must be < vmax_pu ({self.vmax_pu})")
        return self


class ProfilesSpec(_Spec):
    """``[profiles]``: resolution and the load/PV data.

    One of: the built-in day shapes (no file), ``file`` (a 24-h CSV of load and PV
    multipliers), ``bus_file`` (a CSV with one column per bus or per profile name over any
    whole number of days, see :mod:`slopt.io.profiles_csv`) or ``source = "simbench"`` (each
    element's own SimBench profile; needs a ``simbench:`` feeder). ``profiles = "simbench"``
    is short for ``[profiles] source = "simbench"`` at 15 minutes.
    """

    resolution_min: int
    file: Optional[str] = None
    bus_file: Optional[str] = None
    source: Optional[Literal["simbench"]] = None
    gen_scale: Optional[Scale] = None
    pv_buses: list[BusId] = Field(default_factory=list)
    pv_kw: Optional[PowerOrList] = None

    @field_validator("resolution_min")
    @classmethod
    def _resolution(cls, v: int) -> int:
        if v not in (60, 15, 5):
            raise ValueError("must be 60, 15 or 5 (minutes)")
        return v

    @field_validator("file", "bus_file")
    @classmethod
    def _file(cls, v):
        if v is not None and not v.strip():
            raise ValueError("must name a CSV file (or omit it to use the built-in profiles)")
        return v

    @field_validator("pv_buses")
    @classmethod
    def _pv_buses(cls, v: list[int]) -> list[int]:
        _no_duplicates(v, "PV bus")
        return v

    @model_validator(mode="after")
    def _pv(self):
        given = [k for k in ("file", "bus_file", "source") if getattr(self, k) is not None]
        if len(given) > 1:
            raise FieldValueError(given[1], getattr(self, given[1]), f"give only one of file, bus_file, source "
                                  f"(also got {given[0]})")
        multi_day = self.bus_file is not None or self.source is not None
        if multi_day and self.pv_buses:
            raise FieldValueError("pv_buses", self.pv_buses, "PV comes from the per-bus profiles when bus_file or "
                                  "source is given; remove pv_buses/pv_kw")
        if self.gen_scale is not None and not multi_day:
            raise FieldValueError("gen_scale", self.gen_scale, "only with bus_file or source (scales the generators "
                                  "of the profiles)")
        if self.pv_buses and self.pv_kw is None:
            raise FieldValueError("pv_kw", MISSING, "required when pv_buses is given (kW per PV bus)")
        if self.pv_kw is not None:
            _per_bus(self.pv_kw, len(self.pv_buses), "pv_kw", "pv_buses")
        return self


class _TechnologyBase(_Spec):
    @model_validator(mode="after")
    def _soc_window(self):
        if self.soc_min >= self.soc_max:
            raise FieldValueError("soc_min", self.soc_min, f"must be < soc_max ({self.soc_max})")
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise FieldValueError("soc_initial", self.soc_initial,
                                  f"must lie in the SOC window [{self.soc_min}, {self.soc_max}]")
        return self

    def to_technology(self, name: str) -> Technology:
        return Technology(name=name, **{k: float(v) for k, v in self.model_dump().items()})


#: Field types of the technology sections; names and units as in :class:`Technology`.
_TECH_TYPES = {
    "ce_usd_per_wh": UsdPerWh,
    "cp_usd_per_w": UsdPerWh,
    "cb_usd_per_wh": UsdPerWh,
    "cj_usd_per_wh": UsdPerWh,
    "cw_usd_per_wh_yr": UsdPerWh,
    "cd_usd_per_wh": UsdPerWh,
    "eta_charge": UnitOpenLeft,
    "eta_discharge": UnitOpenLeft,
    "soc_min": Unit,
    "soc_max": Unit,
    "soc_initial": Unit,
    "c_rate_max": CRate,
    "soh": UnitOpenLeft,
    "lifetime_years": LifetimeYears,
}


def _technology_model(cls_name: str, default: Technology, doc: str):
    fields = {k: (t, getattr(default, k)) for k, t in _TECH_TYPES.items()}
    model = create_model(cls_name, __base__=_TechnologyBase, __doc__=doc, **fields)
    model.__module__ = __name__
    return model


NewTechnologySpec = _technology_model(
    "NewTechnologySpec", NEW_DEFAULT, "``[storage.new]``; defaults are Yuan et al. Table 1 (new batteries).")
RetiredTechnologySpec = _technology_model(
    "RetiredTechnologySpec", RETIRED_DEFAULT,
    "``[storage.retired]``; defaults are Yuan et al. Table 1 (retired batteries) and slopt's SOH/C-rate.")


class StorageSpec(_Spec):
    """``[storage]``: at least one of ``new`` and ``retired``; an omitted one is not built."""

    new: Optional[NewTechnologySpec] = None
    retired: Optional[RetiredTechnologySpec] = None

    @model_validator(mode="after")
    def _some(self):
        if self.new is None and self.retired is None:
            raise FieldValueError((), {}, "give at least one of [storage.new] and [storage.retired]")
        return self

    def technologies(self) -> dict[str, Technology]:
        out = {}
        for name in ("new", "retired"):
            spec = getattr(self, name)
            if spec is not None:
                out[name] = spec.to_technology(name)
        return out


#: Largest ``max_sites`` (a feeder has at most the ``buses`` limit of candidate sites).
_MAX_SITES = 1_000_000


class CandidatesSpec(_Spec):
    """``[candidates]``: candidate buses and their size bounds."""

    buses: list[BusId] = Field(min_length=1)
    mode: Literal["fixed", "free"] = "fixed"
    max_sites: Optional[int] = None
    e_max_kwh: EnergyOrList
    p_max_kw: PowerOrList
    e_min_kwh: EnergyOrList = 0.0

    @field_validator("buses")
    @classmethod
    def _buses(cls, v: list[int]) -> list[int]:
        _no_duplicates(v, "candidate bus")
        return v

    @field_validator("max_sites")
    @classmethod
    def _max_sites(cls, v):
        if v is not None and not 1 <= v <= _MAX_SITES:
            raise ValueError(f"must be in [1, {_MAX_SITES}]")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        n = len(self.buses)
        for name in ("e_max_kwh", "p_max_kw", "e_min_kwh"):
            _per_bus(getattr(self, name), n, name, "buses")
        if self.mode == "fixed" and self.max_sites is not None and self.max_sites < n:
            raise FieldValueError("max_sites", self.max_sites,
                                  f"mode \"fixed\" builds every listed bus ({n}); raise max_sites or use mode = \"free\"")
        e_min, e_max = self.per_bus("e_min_kwh"), self.per_bus("e_max_kwh")
        for i, (lo, hi) in enumerate(zip(e_min, e_max)):
            if lo > hi:
                field = ("e_min_kwh", i) if isinstance(self.e_min_kwh, list) else "e_min_kwh"
                raise FieldValueError(field, lo, f"must be <= e_max_kwh ({hi}) at bus {self.buses[i]}")
        return self

    def per_bus(self, name: str) -> list[float]:
        v = getattr(self, name)
        return [float(x) for x in v] if isinstance(v, list) else [float(v)] * len(self.buses)


def _resolution_min(v: int) -> int:
    if v not in (60, 15, 5):
        raise ValueError("must be 60, 15 or 5 (minutes; the horizon is 24 h)")
    return v


def _file_name(v):
    if v is not None and not v.strip():
        raise ValueError("must name a CSV file")
    return v


class DispatchGroupSpec(_Spec):
    """``[[dispatch.groups]]``: one battery group sharing the unit's power (Yuan et al. §5.2).

    Omitted operating fields take the value of the group's technology (``[storage.new]`` /
    ``[storage.retired]`` of this file, else the Table 1 defaults); ``p_kw`` defaults to the
    technology's C-rate limit times the usable energy, ``c_rate_max * soh * e_kwh``.
    """

    name: str = Field(min_length=1)
    technology: Literal["new", "retired"]
    e_kwh: PositiveEnergyKwh
    p_kw: Optional[PositivePowerKw] = None
    soh: Optional[UnitOpenLeft] = None
    eta_charge: Optional[UnitOpenLeft] = None
    eta_discharge: Optional[UnitOpenLeft] = None
    soc_min: Optional[Unit] = None
    soc_max: Optional[Unit] = None
    soc_initial: Optional[Unit] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class DispatchScenarioSpec(_Spec):
    """``[[dispatch.scenarios]]``: a variant of the request, given by exactly one of ``scale``
    (factor on the request), ``peak_kw`` (the request scaled so that its largest magnitude is
    this) or ``request_file`` (its own CSV ``time,p_request_kw``)."""

    name: str = Field(min_length=1)
    description: str = ""
    scale: Optional[PositiveScale] = None
    peak_kw: Optional[PositivePowerKw] = None
    request_file: Optional[str] = None

    @field_validator("request_file")
    @classmethod
    def _request_file(cls, v):
        return _file_name(v)

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("scale", "peak_kw", "request_file") if getattr(self, k) is not None]
        if len(given) != 1:
            field = given[1] if len(given) > 1 else "scale"
            value = getattr(self, field) if len(given) > 1 else MISSING
            also = f" (also given: {given[0]})" if len(given) > 1 else ""
            raise FieldValueError(field, value, "give exactly one of scale, peak_kw and request_file" + also)
        return self


class DispatchSpec(_Spec):
    """``[dispatch]``: battery groups at one bus and the power request they share (``docs/dispatch.md``)."""

    bus: BusId
    request_file: str
    resolution_min: Optional[int] = None
    priority_b: Scale = 1.0
    groups: list[DispatchGroupSpec] = Field(min_length=1)
    scenarios: list[DispatchScenarioSpec] = Field(default_factory=list)

    @field_validator("resolution_min")
    @classmethod
    def _resolution(cls, v):
        return v if v is None else _resolution_min(v)

    @field_validator("request_file")
    @classmethod
    def _request_file(cls, v):
        return _file_name(v)

    @model_validator(mode="after")
    def _unique(self):
        names = [g.name for g in self.groups]
        try:
            _no_duplicates(names, "group name")
        except FieldValueError as e:
            raise FieldValueError(("groups", e.field[0], "name"), e.value, e.reason) from None
        seen: dict = {}
        for i, sc in enumerate(self.scenarios):
            if sc.name == "base":
                raise FieldValueError(("scenarios", i, "name"), sc.name, "'base' is reserved for the request itself")
            if sc.name in seen:
                raise FieldValueError(("scenarios", i, "name"), sc.name, f"duplicate scenario name (also at index {seen[sc.name]})")
            seen[sc.name] = i
        return self


#: Group fields that default to the technology's value.
DISPATCH_TECH_FIELDS = ("soh", "eta_charge", "eta_discharge", "soc_min", "soc_max", "soc_initial")


class InstanceSpec(_Spec):
    """The whole instance file."""

    name: str = Field(min_length=1)
    description: str = ""
    feeder: str = Field(min_length=1)
    load_scale: PositiveScale = 1.0
    band: BandSpec = Field(default_factory=BandSpec)
    profiles: ProfilesSpec
    storage: StorageSpec
    candidates: CandidatesSpec
    dispatch: Optional[DispatchSpec] = None

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles_shorthand(cls, v):
        if isinstance(v, str):
            if v.strip().lower() == "simbench":
                return {"source": "simbench", "resolution_min": 15}
            raise ValueError('must be a [profiles] table or "simbench"')
        return v

    def dispatch_groups(self) -> list[dict]:
        """The ``[[dispatch.groups]]`` with every default filled in (see :class:`DispatchGroupSpec`)."""
        if self.dispatch is None:
            return []
        techs = {"new": NEW_DEFAULT, "retired": RETIRED_DEFAULT}
        techs.update(self.storage.technologies())
        out = []
        for g in self.dispatch.groups:
            tech = techs[g.technology]
            row = {"name": g.name, "technology": g.technology, "e_kwh": float(g.e_kwh)}
            for k in DISPATCH_TECH_FIELDS:
                v = getattr(g, k)
                row[k] = float(getattr(tech, k) if v is None else v)
            row["p_kw"] = float(g.p_kw) if g.p_kw is not None else tech.c_rate_max * row["soh"] * row["e_kwh"]
            out.append(row)
        return out

    @model_validator(mode="after")
    def _dispatch_windows(self):
        if self.dispatch is None:
            return self
        for i, (g, row) in enumerate(zip(self.dispatch.groups, self.dispatch_groups())):
            src = lambda k: "" if getattr(g, k) is not None else f" ({g.technology} default)"
            if row["soc_min"] >= row["soc_max"]:
                field = "soc_min" if g.soc_min is not None or g.soc_max is None else "soc_max"
                raise FieldValueError(("dispatch", "groups", i, field), row[field],
                                      f"must give soc_min < soc_max ({row['soc_min']:g}{src('soc_min')} vs "
                                      f"{row['soc_max']:g}{src('soc_max')})")
            if not row["soc_min"] <= row["soc_initial"] <= row["soc_max"]:
                raise FieldValueError(("dispatch", "groups", i, "soc_initial"), row["soc_initial"],
                                      f"must lie in the SOC window [{row['soc_min']:g}, {row['soc_max']:g}]")
        return self


# ----------------------------------------------------------------------------- errors
_MSG = {
    "missing": "required field is missing",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "too_short": "must not be empty",
}


def _field_names() -> set[str]:
    names: set[str] = set()
    for m in (InstanceSpec, BandSpec, ProfilesSpec, StorageSpec, CandidatesSpec, NewTechnologySpec,
              RetiredTechnologySpec, DispatchSpec, DispatchGroupSpec, DispatchScenarioSpec):
        names.update(m.model_fields)
    return names


_FIELDS = _field_names()


def _clean_loc(err: dict) -> tuple:
    """Drop pydantic's union-member tags (``'float'``, ``'list[...]'``) from ``loc``."""
    loc = tuple(err.get("loc", ()))
    out = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(part, int) or part in _FIELDS or (last and err.get("type") == "extra_forbidden"):
            out.append(part)
    return tuple(out)


def error_location(parts: tuple) -> str:
    """``('candidates', 'buses', 2)`` -> ``'candidates.buses[2]'``."""
    text = ""
    for p in parts:
        if isinstance(p, int):
            text += f"[{p}]"
        else:
            text += ("." if text else "") + str(p)
    return text or "(top level)"


def _model_at(loc: tuple):
    """The pydantic model class that holds the last field of ``loc`` (for suggestions)."""
    model = InstanceSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(part)
        if f is None:
            return None
        ann = f.annotation
        for cand in (ann, *typing.get_args(ann)):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
        else:
            return None
    return model


def _pick(errors: list[dict]) -> dict:
    """The most useful error: the first, or within a union the most specific member's."""
    first = errors[0]
    key = _clean_loc(first)
    same = [e for e in errors if _clean_loc(e)[: len(key)] == key]
    return max(same, key=lambda e: len(_clean_loc(e)))


def format_validation_error(exc: ValidationError, source) -> tuple[str, object, str]:
    """``(field_path, value, reason)`` of the first error of ``exc``."""
    err = _pick(exc.errors(include_url=False))
    loc = _clean_loc(err)
    value = err.get("input", MISSING)
    typ = err.get("type", "")
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, FieldValueError):
        loc = loc + inner.field
        value = inner.value
        reason = inner.reason
    elif typ == "missing":
        value = MISSING
        reason = _MSG[typ]
    elif typ == "extra_forbidden":
        model = _model_at(loc)
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        reason = "unknown field" + (f"; did you mean {close[0]!r}?" if close else
                                    (f"; allowed: {', '.join(allowed)}" if allowed else ""))
    elif typ in ("float_type", "list_type") and len(_clean_loc(err)) < len(tuple(err.get("loc", ()))) \
            and not any(isinstance(p, int) for p in loc[-1:]):
        reason = "must be a number or a list of numbers"    # a NumberOrList union member
    elif typ in _MSG:
        reason = _MSG[typ]
    else:
        reason = str(err.get("msg", "invalid value"))
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, "):]
        elif reason.startswith("Input should be"):
            reason = "must be" + reason[len("Input should be"):]
    return error_location(loc), value, reason
