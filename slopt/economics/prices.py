"""The price and contract set of the commercial-model economics (pydantic, every item sourced).

:class:`PriceSet` holds everything the cash flows of :mod:`slopt.economics.cashflows` need
beyond the plan: the repurposer's supply costs, the value of the service, the parties'
discount rates and horizon, the aging assumptions, the contract terms, the Monte Carlo ranges
and the EaaS users. Every field carries a ``source`` (``Field(json_schema_extra=...)``);
:func:`price_table` lists them, and ``docs/economics.md`` quotes them.

Validation is strict where a business analyst would want it to be: a negative or non-finite
price, a discount rate at or below -100 %, a range with ``lo > hi`` are refused with the
canonical one-line ``file: field = value: reason`` (:class:`slopt.errors.InstanceError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from slopt.errors import InstanceError
from slopt.fleet.applications import RECYCLE_VALUE_USD_PER_KWH

__all__ = ["PriceSet", "SupplyPrices", "ServiceValue", "Finance", "AgingAssumptions", "Contract",
           "RiskRanges", "EaasUser", "EaasCase", "SohGrade", "load_prices", "price_set", "price_table", "SOURCES",
           "MODELS", "PARTIES"]

#: The four commercial models of the review (Tang et al. 2025, section 5, Table 4).
MODELS = ("BaaP", "BaaS", "PaaS", "EaaS")
#: The parties whose cash flows are computed.
PARTIES = ("manufacturer", "user", "grid")

# ----------------------------------------------------------------------------- sources
REVIEW = ("Tang, Huang, Qian, Xie, Wei, Wu, 'Unlocking the Value of Retired EV Batteries: Technologies, "
          "Application, and Commercial Models for Second-Life Energy Storage in Power Systems' (review)")
NEUBAUER_2012 = ("Neubauer, Pesaran, Williams, Ferry, Eyer (2012), 'Techno-Economic Analysis of PEV Battery "
                 "Second Use: Repurposed-Battery Selling Price and Commercial and Industrial End-User Value', "
                 "NREL/CP-5400-53799 (SAE World Congress)")
LIESKOSKI_2024 = ("Lieskoski, Tuuf, Bjorklund-Sankiaho (2024), 'Techno-Economic Analysis of the Business "
                  "Potential of Second-Life Batteries in Ostrobothnia, Finland', Batteries 10(1) 36")
YUAN_2025 = ("Yuan, Liu, Chen, Xu, Gou, Xu, Li, Liu, hybrid new/second-life storage sizing with DBO-MFAC, "
           "Table 1 and Eq. 1a-1f (the plan's instance carries these coefficients)")
SCHMIDT_2019 = ("Schmidt, Melchior, Hawkes, Staffell (2019), 'Projecting the Future Levelized Cost of "
                "Electricity Storage Technologies', Joule 3, 81-100")
MCLAREN_2017 = ("McLaren, Gagnon, Anderson, Elgqvist, Fu, Remo (2017), 'Identifying Potential Markets for "
                "Behind-the-Meter Battery Energy Storage: A Survey of U.S. Demand Charges', NREL")
NDRC_2021 = ("China NDRC (2021), Notice on further improving the time-of-use electricity price mechanism "
             "(peak-valley ratio >= 3:1)")
EIA_2023 = "U.S. EIA, Electric Power Annual 2023: average commercial retail price about 12.7 cents/kWh"
ECB_2023 = "ECB euro reference exchange rate, 2023 annual average 1.0813 USD/EUR"
GHAREBAGHI_2024 = ("Gharebaghi, Rezaei, Li, Wang, Tang (2024), 'A Survey on Using Second-Life Batteries in "
                   "Stationary Energy Storage Applications', Energies: retired at SOH ~80 %, 70-80 % capacity left")
ATTIA_2022 = ("Attia, Bills, Brosa Planella, et al. (2022), 'Review - \"Knees\" in Lithium-Ion Battery "
              "Aging Trajectories', J. Electrochem. Soc. (review ref. [41]): knee onset is uncertain")
NREL_B2U = ("Neubauer, Smith, Wood, Pesaran (2015), 'Identifying and Overcoming Critical Barriers to Widespread "
            "Second Use of PEV Batteries', NREL: about 10 years of second use after 15 years in a vehicle")
ASSUMPTION = "slopt assumption (no published number for this case): replace with local data"

SOURCES: dict[str, str] = {}
"""``section.field -> source`` for every item of :class:`PriceSet` (filled below)."""


def _src(source: str, description: str, **kw):
    return Field(description=description, json_schema_extra={"source": source}, **kw)


# ----------------------------------------------------------------------------- field types
def _check(lo: float | None, lo_open: bool, hi: float | None = None, hi_open: bool = False, what: str = ""):
    def check(x):
        if x is None:
            return x
        ok = (lo is None or (x > lo if lo_open else x >= lo)) and (hi is None or (x < hi if hi_open else x <= hi))
        if not ok:
            if what:
                raise ValueError(what)
            raise ValueError(f"must be {'>' if lo_open else '>='} {lo:g}" + (f" and {'<' if hi_open else '<='} {hi:g}"
                                                                             if hi is not None else ""))
        return x
    return AfterValidator(check)


Price = Annotated[float, _check(0.0, False, what="must be >= 0 (a price or cost cannot be negative)")]
Positive = Annotated[float, _check(0.0, True)]
Rate = Annotated[float, _check(-1.0, True, what="must be > -1 (a discount rate of -100 % or less is meaningless)")]
Soh = Annotated[float, _check(0.0, True, 1.0, False)]
Fraction = Annotated[float, _check(0.0, False, 1.0, False)]
Range = Annotated[tuple[float, float], AfterValidator(lambda r: _ordered(r))]


def _ordered(r):
    lo, hi = r
    if lo > hi:
        raise ValueError(f"range [{lo:g}, {hi:g}] has lo > hi")
    if lo < 0:
        raise ValueError(f"range [{lo:g}, {hi:g}] must not go below 0")
    return (float(lo), float(hi))


class _FieldError(ValueError):
    """A cross-field check failed at ``field`` (relative to the model) with ``value``."""

    def __init__(self, field: str, value: object, reason: str):
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


# ----------------------------------------------------------------------------- sections
class SohGrade(_Model):
    """One SOH grade of retired packs: packs with ``SOH >= soh_min`` cost ``usd_per_kwh``."""

    soh_min: Fraction
    usd_per_kwh: Price


def _default_grades() -> tuple[SohGrade, ...]:
    return (SohGrade(soh_min=0.8, usd_per_kwh=60.0), SohGrade(soh_min=0.7, usd_per_kwh=40.0),
            SohGrade(soh_min=0.0, usd_per_kwh=20.0))


class SupplyPrices(_Model):
    """``[supply]``: what the manufacturer / repurposer pays. ``None`` = the instance's Eq. 1 value."""

    grades: tuple[SohGrade, ...] = _src(
        NEUBAUER_2012 + ": the value of a used pack to its automotive owner (the repurposer's buy price) is "
        "$20-100/kWh; the split by SOH grade (60/40/20) is slopt's, inside that range",
        "used-pack purchase price by SOH grade, $/kWh of nameplate", default_factory=_default_grades)
    repurposing_eur_per_kwh: Price = _src(
        LIESKOSKI_2024 + ": repurposing cost 27.2-38.3 EUR/kWh in the three feasible scenarios; midpoint",
        "testing, disassembly and regrouping of a retired pack, EUR/kWh", default=32.75)
    usd_per_eur: Positive = _src(ECB_2023, "exchange rate, USD per EUR", default=1.08)
    new_pack_usd_per_kwh: Optional[Price] = _src(
        YUAN_2025 + " (Ce of the new technology) when omitted; BloombergNEF's 2023 survey gives $139/kWh",
        "new pack price, $/kWh (None: the instance's Ce)", default=None)
    bos_usd_per_kwh: Optional[Price] = _src(
        YUAN_2025 + ": Cb + Cj + Cd (BMS, integration, thermal/safety) of each technology when omitted",
        "energy-related balance of system and installation, $/kWh (None: the instance's Eq. 1c, 1d, 1f)",
        default=None)
    pcs_usd_per_kw: Optional[Price] = _src(YUAN_2025 + ": Cp (Eq. 1b) when omitted",
                                           "power conversion system, $/kW (None: the instance's Cp)", default=None)
    om_usd_per_kwh_yr: Optional[Price] = _src(YUAN_2025 + ": Cw (Eq. 1e) when omitted",
                                              "O&M per kWh of nameplate and year (None: the instance's Cw)", default=None)
    recycling_cost_usd_per_kwh: Price = _src(
        "slopt.fleet RECYCLE_VALUE_USD_PER_KWH['LFP'] = -2 (review section 2, ref. [35]: LFP recycling is "
        "usually unprofitable)", "net recycling cost at the end of the horizon, $/kWh of nameplate",
        default=float(max(0.0, -RECYCLE_VALUE_USD_PER_KWH["LFP"])))
    recycling_value_usd_per_kwh: Price = _src(ASSUMPTION, "material value paid by a recycler, $/kWh", default=0.0)

    def used_pack_usd_per_kwh(self, soh: float) -> float:
        """Price of the grade a pack of this SOH falls into (highest ``soh_min <= soh``)."""
        ok = [g for g in self.grades if soh >= g.soh_min - 1e-12]
        if not ok:
            raise InstanceError.at(None, "supply.grades", soh, "no SOH grade covers this SOH")
        return max(ok, key=lambda g: g.soh_min).usd_per_kwh

    @property
    def repurposing_usd_per_kwh(self) -> float:
        return self.repurposing_eur_per_kwh * self.usd_per_eur


def _default_tariff() -> tuple[float, ...]:
    off, mid, peak = 0.08, 0.12, 0.24   # peak:off-peak = 3 (NDRC 2021), mean 0.13 (EIA 2023)
    return tuple(off if h < 7 or h >= 22 else (peak if 17 <= h < 22 else mid) for h in range(24))


class ServiceValue(_Model):
    """``[value]``: what the service is worth, and to whom it is paid."""

    tariff_usd_per_kwh: tuple[Price, ...] = _src(
        f"slopt's time-of-use tariff: off-peak 0.08 (22-7 h), mid 0.12, peak 0.24 $/kWh (17-22 h); the "
        f"peak:off-peak ratio 3:1 is the floor of {NDRC_2021}; the level matches {EIA_2023}",
        "energy price per hour of day (24 values), $/kWh", default_factory=_default_tariff)
    demand_charge_usd_per_kw_month: Price = _src(
        MCLAREN_2017 + ": demand charges above about $15/kW-month are common and make storage attractive",
        "peak (demand) charge of the EaaS users, $/kW-month", default=15.0)
    voltage_support_usd_per_kw_yr: Price = _src(
        ASSUMPTION + " (the category is Eyer & Corey 2010, SAND2010-0815, 'voltage support')",
        "payment of the grid operator for the plan's voltage support, $/kW of storage power and year", default=40.0)
    deferral_usd_per_kw_yr: Price = _src(
        ASSUMPTION + " (method: Eyer 2009, SAND2009-4070, T&D upgrade deferral)",
        "the grid operator's avoided network reinforcement, $/kW of storage power and year", default=80.0)
    days_per_year: Positive = _src("calendar", "days the plan's day repeats in a year", default=365.0)

    @model_validator(mode="after")
    def _hours(self):
        if len(self.tariff_usd_per_kwh) != 24:
            raise _FieldError("tariff_usd_per_kwh", f"{len(self.tariff_usd_per_kwh)} values", "give 24, one per hour")
        return self


class Finance(_Model):
    """``[finance]``: each party's discount rate and the horizon."""

    discount_manufacturer: Rate = _src(ASSUMPTION + " (a merchant's cost of capital)", "per year", default=0.08)
    discount_user: Rate = _src(ASSUMPTION + " (a utility customer's cost of capital)", "per year", default=0.06)
    discount_grid: Rate = _src(ASSUMPTION + " (a regulated network's allowed return)", "per year", default=0.05)
    horizon_years: Annotated[int, _check(1, False, 50, False)] = _src(
        NREL_B2U, "years of second-life service evaluated", default=10)

    def rate(self, party: str) -> float:
        return float(getattr(self, f"discount_{party}"))


class AgingAssumptions(_Model):
    """``[aging]``: end of life, knee and calendar fade on top of the Eq. 7a cycle curve."""

    eol_soh_retired: Soh = _src(REVIEW + ", section 2: many studies end second life at SOH 0.6 (refs. [30-32])",
                                "end of second life", default=0.6)
    eol_soh_new: Soh = _src(GHAREBAGHI_2024 + " (the usual 80 % first-life end of life)", "end of life of new packs",
                            default=0.8)
    knee_soh: Soh = _src(ATTIA_2022 + "; 0.7 is slopt's nominal, the Monte Carlo draws it", "SOH below which fade "
                         "accelerates", default=0.7)
    knee_factor: Annotated[float, _check(1.0, False)] = _src(ATTIA_2022 + "; factor 3 is slopt's nominal",
                                                             "fade multiplier past the knee", default=3.0)
    rate_mult: Positive = _src(
        "1 = Yuan et al. Eq. 7a as fitted (0.8 -> 0.6 SOH in about 490 equivalent full cycles); below 1 for "
        "longer-lived packs (the Monte Carlo draws multiply it)", "multiplier on the expected fade (cycle + "
        "calendar)", default=1.0)
    calendar_fade_pu_per_yr: Fraction = _src(ASSUMPTION + " (order of LFP calendar fade at 25 C)",
                                             "calendar capacity fade, pu of nameplate per year", default=0.01)
    chemistry: Literal["lfp", "nmc"] = _src("slopt.battery.aging Woehler.LFP (k = 1.2)",
                                            "Woehler exponent for rainflow EFC", default="lfp")
    faster_rate_mult: Annotated[float, _check(1.0, False)] = _src(
        ASSUMPTION, "'faster than expected' scenario: fade multiplier (and knee at the top of its range)", default=1.5)


class Contract(_Model):
    """``[contract]``: the fees. ``None`` = cost-plus: ``(1 + markup)`` x the manufacturer's break-even fee."""

    markup: Annotated[float, _check(0.0, False)] = _src(ASSUMPTION, "cost-plus margin of the default fees", default=0.15)
    sale_price_usd_per_kwh: Optional[Price] = _src("contract term", "BaaP / BaaS purchase price per kWh of nameplate",
                                                   default=None)
    baas_fee_usd_per_kwh_yr: Optional[Price] = _src("contract term", "BaaS O&M service fee", default=None)
    paas_fee_usd_per_kwh_yr: Optional[Price] = _src("contract term", "PaaS subscription (lease) fee", default=None)
    eaas_fee_usd_per_kwh: Optional[Price] = _src("contract term", "EaaS fee per kWh delivered to the users",
                                                 default=None)
    warranty_years: Annotated[float, _check(0.0, False)] = _src(
        REVIEW + ", section 5.1: Nissan's xStorage Home gives second-life packs a five-year warranty",
        "BaaP: years in which the manufacturer replaces failed packs", default=5.0)
    fees_in_advance: bool = _src("leasing convention (annuity due)", "BaaS/PaaS fees paid at the start of each year",
                                 default=True)


class RiskRanges(_Model):
    """``[risk]``: uniform ranges of the Monte Carlo draws."""

    soh_retired: Range = _src(GHAREBAGHI_2024, "SOH of the retired packs at purchase", default=(0.70, 0.80))
    rate_mult: Range = _src(ASSUMPTION, "multiplier on the fade rate (cycle + calendar), relative to aging.rate_mult",
                            default=(0.7, 1.5))
    knee_soh: Range = _src(ATTIA_2022, "knee SOH", default=(0.6, 0.8))
    knee_factor: Range = _src(ATTIA_2022 + "; range is slopt's", "fade multiplier past the knee", default=(2.0, 5.0))
    used_pack_usd_per_kwh: Range = _src(NEUBAUER_2012, "used-pack buy price", default=(20.0, 100.0))
    repurposing_eur_per_kwh: Range = _src(LIESKOSKI_2024, "repurposing cost", default=(27.2, 38.3))
    tariff_scale: Range = _src(ASSUMPTION, "scale on the whole tariff", default=(0.8, 1.2))
    voltage_support_usd_per_kw_yr: Range = _src(ASSUMPTION, "grid payment", default=(20.0, 60.0))
    deferral_usd_per_kw_yr: Range = _src(ASSUMPTION, "grid operator's avoided cost", default=(40.0, 120.0))


class EaasUser(_Model):
    """One EaaS customer: a BDEW standard load profile scaled to an annual consumption."""

    name: str
    profile: Literal["h0", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2"]
    annual_mwh: Positive


def _default_users() -> tuple[EaasUser, ...]:
    return (EaasUser(name="households", profile="h0", annual_mwh=800.0),
            EaasUser(name="offices", profile="g1", annual_mwh=1000.0),
            EaasUser(name="evening-trade", profile="g2", annual_mwh=600.0),
            EaasUser(name="bakeries", profile="g5", annual_mwh=300.0))


class EaasCase(_Model):
    """``[eaas]``: the users one storage system serves, and its size (``None``: the plan's totals)."""

    users: tuple[EaasUser, ...] = _src(
        "BDEW standard load profiles (H0, G1, G2, G5) via the demandlib package; annual energies are slopt's",
        "customers served at once", default_factory=_default_users)
    e_kwh: Optional[Positive] = _src("the plan", "usable energy of the shared system (None: the plan's)", default=None)
    p_kw: Optional[Positive] = _src("the plan", "power of the shared system (None: the plan's)", default=None)
    eta_charge: Soh = _src("retired-pack default of Yuan et al. (2025)", "charge efficiency", default=0.93)
    eta_discharge: Soh = _src("retired-pack default of Yuan et al. (2025)", "discharge efficiency", default=0.93)
    year: Annotated[int, _check(1990, False, 2100, False)] = _src("calendar", "year of the BDEW calendar", default=2023)
    wear_usd_per_kwh: Optional[Price] = _src(
        "derived when omitted: (used-pack price + repurposing) / (cycles to end of life x SOH x SOC window), "
        "the cycles from Yuan et al. Eq. 7b (the aging model of the cash flows) over aging.rate_mult",
        "wear cost per kWh discharged that the scheduler weighs (None: derived)", default=None)

    @model_validator(mode="after")
    def _names(self):
        names = [u.name for u in self.users]
        if len(set(names)) != len(names):
            raise _FieldError("users", names, "duplicate user names")
        if not names:
            raise _FieldError("users", "[]", "give at least one user")
        return self


class PriceSet(_Model):
    """The full price and contract set (TOML sections ``supply``, ``value``, ``finance``, ``aging``,
    ``contract``, ``risk``, ``eaas``)."""

    name: str = "default"
    description: str = ""
    supply: SupplyPrices = Field(default_factory=SupplyPrices)
    value: ServiceValue = Field(default_factory=ServiceValue)
    finance: Finance = Field(default_factory=Finance)
    aging: AgingAssumptions = Field(default_factory=AgingAssumptions)
    contract: Contract = Field(default_factory=Contract)
    risk: RiskRanges = Field(default_factory=RiskRanges)
    eaas: EaasCase = Field(default_factory=EaasCase)

    @model_validator(mode="after")
    def _consistent(self):
        a = self.aging
        if a.knee_soh < a.eol_soh_retired:
            raise _FieldError("aging.knee_soh", a.knee_soh, f"must be >= aging.eol_soh_retired ({a.eol_soh_retired})")
        if self.risk.soh_retired[0] <= a.eol_soh_retired:
            raise _FieldError("risk.soh_retired", list(self.risk.soh_retired),
                              f"must lie above aging.eol_soh_retired ({a.eol_soh_retired})")
        return self


def _format(exc: ValidationError) -> tuple[str, object, str]:
    err = exc.errors(include_url=False)[0]
    parts = list(err.get("loc", ()))
    value = err.get("input", "(missing)")
    msg = str(err.get("msg", "invalid value"))
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, _FieldError):
        parts += inner.field.split(".")
        value, msg = inner.value, inner.reason
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in parts).replace(".[", "[")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "finite_number":
        msg = "must be a finite number (NaN and infinity are not prices)"
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be"):]
    return loc or "(top level)", value, msg


def price_set(data: dict, source=None) -> PriceSet:
    """Validate a dict (e.g. parsed TOML) into a :class:`PriceSet`; one-line :class:`InstanceError` on failure."""
    try:
        return PriceSet.model_validate(data)
    except ValidationError as e:
        field, value, reason = _format(e)
        if isinstance(value, dict):
            value = "{...}"
        raise InstanceError.at(source, field, value, reason) from None


def load_prices(path: str | Path | None) -> PriceSet:
    """Read a price-set TOML file (``None``: the documented defaults)."""
    if path is None:
        return PriceSet()
    from slopt.checks import as_path
    from slopt.io.loader import _read_toml

    path = as_path(path, "load_prices")
    return price_set(_read_toml(path), path)


def price_table(prices: PriceSet) -> pd.DataFrame:
    """Every item with its value, description and source (``section, field, value, description, source``)."""
    rows = []
    for section in ("supply", "value", "finance", "aging", "contract", "risk", "eaas"):
        sub = getattr(prices, section)
        for name, f in type(sub).model_fields.items():
            v = getattr(sub, name)
            if isinstance(v, tuple) and v and isinstance(v[0], BaseModel):
                v = "; ".join(", ".join(f"{k}={x}" for k, x in g.model_dump().items()) for g in v)
            elif isinstance(v, tuple):
                v = ", ".join(f"{x:g}" for x in v) if len(v) <= 4 else f"{min(v):g}..{max(v):g} ({len(v)} values)"
            rows.append({"section": section, "field": name, "value": v, "description": f.description or "",
                         "source": (f.json_schema_extra or {}).get("source", "")})
    return pd.DataFrame(rows)


for _sec in (SupplyPrices, ServiceValue, Finance, AgingAssumptions, Contract, RiskRanges, EaasCase):
    for _n, _f in _sec.model_fields.items():
        SOURCES[f"{_sec.__name__}.{_n}"] = (_f.json_schema_extra or {}).get("source", "")
del _sec, _n, _f
