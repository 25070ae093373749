"""``simulate_twin``: every battery of a fleet in every application's duty cycle, for years.

Blocks of batteries (grouped by chemistry) are simulated against all applications at once:
the representative day's constants (:mod:`slopt.battery.twin.day`) are scaled to each battery
(:class:`Electrical`), then the ageing loop (:mod:`slopt.battery.twin.ageing`) runs over the
years, and the end of service, efficiency, temperature and breach probability are assembled.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from slopt.battery.twin.ageing import age, initial_state, knee_time
from slopt.battery.twin.day import day_table
from slopt.battery.twin.inputs import (ApplicationInputs, BatteryInputs, Block, ChemistryArrays, application_list,
                                       fleet_table)
from slopt.battery.twin.options import END_REASONS, TwinOptions
from slopt.battery.twin.result import TwinResult
from slopt.checks import as_number

__all__ = ["simulate_twin", "Electrical", "TwinArrays"]


@dataclass
class Electrical:
    """Heat and efficiency constants of the pairs of a block at the start of service (b, a)."""

    ah_nom: np.ndarray
    ah_eff0: np.ndarray
    mean_rise0: np.ndarray
    peak_rise0: np.ndarray
    v_q: np.ndarray
    loss_d: np.ndarray
    loss_c: np.ndarray

    @classmethod
    def of_block(cls, k: Block) -> "Electrical":
        g0, r0, kwh = k.bat("g0"), k.bat("r0"), k.bat("kwh")
        ah_nom = kwh * 1000.0 / k.chem("v_nom")
        r1 = k.chem("r1_mohm") * 1e-3 * (1.0 + g0)          # the RC branch ages like R0: R1 = R1_new * (1 + g0)
        ha = k.chem("ha_w_per_k_per_kwh") * kwh / k.bat("phi")           # thermal-instability proxy phi
        ah_eff0 = k.bat("soh") * ah_nom
        heat_scale0 = ah_eff0 ** 2 / ha                                    # K per ohm per (C-rate^2)
        mean_rise0 = heat_scale0 * (r0 * k.day("m0") + r1 * k.day("m1"))
        f0, f1 = k.days.f0[k.code], k.days.f1[k.code]                     # (b, a, P)
        peak_rise0 = heat_scale0 * np.max(r0[:, :, None] * f0 + r1[:, :, None] * f1, axis=2)
        return cls(ah_nom=ah_nom, ah_eff0=ah_eff0, mean_rise0=mean_rise0, peak_rise0=peak_rise0,
                   v_q=k.chem("v_nom") * k.day("q"), loss_d=r0 * k.day("l0d") + r1 * k.day("l1d"),
                   loss_c=r0 * k.day("l0c") + r1 * k.day("l1c"))

    def rte(self, ah_eff_scale) -> np.ndarray:
        """Round-trip efficiency at ``Ah_eff * resistance scale`` (NaN for a duty that moves no charge)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.v_q - ah_eff_scale * self.loss_d) / (self.v_q + ah_eff_scale * self.loss_c)


@dataclass
class TwinArrays:
    """Outputs of :func:`simulate_twin`, filled block by block, shape (n_battery, n_app)."""

    life: np.ndarray
    rte: np.ndarray
    peak: np.ndarray
    prob: np.ndarray
    soh_end: np.ndarray
    g_end: np.ndarray
    knee: np.ndarray
    breach: np.ndarray
    reason: np.ndarray

    @classmethod
    def empty(cls, nb: int, na: int) -> "TwinArrays":
        f = lambda: np.empty((nb, na))
        return cls(life=f(), rte=f(), peak=f(), prob=f(), soh_end=f(), g_end=f(), knee=f(),
                   breach=np.empty((nb, na), dtype=bool), reason=np.empty((nb, na), dtype=np.int8))

    def take(self, idx: np.ndarray) -> "TwinArrays":
        return TwinArrays(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _ndtr(x) -> np.ndarray:
    """Standard normal CDF, numpy only (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7)."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


@dataclass
class _Service:
    """End of service of a block's pairs (b, a), after the knee rule: life, reason, SOH and growth
    there, the knee time, the throughput at the planned end, and the masks ``past`` (past the knee
    at the start), ``unfit`` and ``knee_in_service``."""

    life: np.ndarray
    reason: np.ndarray
    soh_end: np.ndarray
    g_end: np.ndarray
    t_knee: np.ndarray
    planned_e: np.ndarray
    past: np.ndarray
    unfit: np.ndarray
    knee_in_service: np.ndarray


def _service(k: Block, el: Electrical, t_years, years: float, opt: TwinOptions, path_flat) -> tuple:
    """Run the ageing loop of a block and apply the knee as end of service (Tang et al. §2)."""
    shape = k.shape
    st, unfit, knee = initial_state(k, el.mean_rise0, opt)
    ends = age(st, years, t_years, opt, path_flat)
    t_knee = knee_time(ends, knee.efc_knee.ravel()).reshape(shape)
    life, reason = ends.life.reshape(shape), ends.reason.reshape(shape)
    soh_end, g_end = ends.soh_end.reshape(shape), ends.g_end.reshape(shape)
    soh0, g0 = k.bat("soh"), k.bat("g0")
    past = (knee.f0 >= 1.0) & ~unfit
    knee_in_service = ~unfit & ~past & (t_knee < life) & (t_knee < years)
    if opt.retire_at_knee:
        soh_end = np.where(knee_in_service, ends.soh_knee.reshape(shape), soh_end)
        g_end = np.where(knee_in_service, ends.g_knee.reshape(shape), g_end)
        reason = np.where(knee_in_service, END_REASONS.index("knee"), reason).astype(np.int8)
    planned_e = ends.e_end.reshape(shape)                                # throughput at the planned end
    if opt.retire_at_knee:
        life = np.where(knee_in_service, t_knee, life)
    life = np.where(past, 0.0, life)
    reason = np.where(past, END_REASONS.index("unfit"), reason).astype(np.int8)
    soh_end = np.where(past, soh0, soh_end)
    g_end = np.where(past, g0, g_end)
    return _Service(life=life, reason=reason, soh_end=soh_end, g_end=g_end, t_knee=t_knee, planned_e=planned_e,
                    past=past, unfit=unfit, knee_in_service=knee_in_service), knee


def _simulate_block(se, inputs: tuple, t_years, years: float, opt: TwinOptions, out: TwinArrays, path) -> None:
    """Simulate rows ``se = (s, e)`` of the (chemistry-sorted) batteries into ``out`` and ``path``."""
    k = Block(se, *inputs)
    s, e = se
    el = Electrical.of_block(k)
    path_flat = path[s:e].reshape(k.shape[0] * k.shape[1], -1) if path is not None else None
    sv, knee = _service(k, el, t_years, years, opt, path_flat)
    soh0, g0 = k.bat("soh"), k.bat("g0")
    # efficiency and temperature at the start and the end of service
    scale_end = (1.0 + sv.g_end) / (1.0 + g0)
    peak_end = el.peak_rise0 * scale_end * (sv.soh_end / soh0) ** 2
    peak = k.app("t_amb") + np.maximum(el.peak_rise0, peak_end)
    thermal = peak > k.chem("t_limit_c")
    with np.errstate(divide="ignore"):
        z = np.log(np.maximum(knee.f0 + sv.planned_e / knee.n_app, 1e-12)) / k.chem("knee_sigma")
    prob = np.where(thermal, 1.0, np.where(sv.unfit, 0.0, _ndtr(z)))
    out.life[s:e] = sv.life
    out.rte[s:e] = 0.5 * (el.rte(el.ah_eff0) + el.rte(sv.soh_end * el.ah_nom * scale_end))
    out.peak[s:e] = peak
    out.breach[s:e] = thermal | sv.knee_in_service | sv.past
    out.prob[s:e] = np.where(sv.past, 1.0, prob)
    out.soh_end[s:e] = sv.soh_end
    out.g_end[s:e] = sv.g_end
    out.knee[s:e] = np.where(sv.past, 0.0, sv.t_knee)
    out.reason[s:e] = sv.reason


def _run_blocks(inputs: tuple, t_years, years, opt: TwinOptions, nb: int, na: int):
    """Simulate blocks of batteries, grouped by chemistry (a block then skips the temperature
    branches its chemistry does not use; results do not depend on the grouping or the blocks)."""
    batteries = inputs[0]
    perm = np.argsort(batteries.code, kind="stable")
    inputs = (batteries.take(perm),) + inputs[1:]
    out = TwinArrays.empty(nb, na)
    path = np.empty((nb, na, t_years.size)) if opt.record_path else None
    blocks = [(s, min(s + opt.chunk_size, nb)) for s in range(0, nb, opt.chunk_size)]
    run = lambda se: _simulate_block(se, inputs, t_years, years, opt, out, path)
    if opt.n_threads > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=opt.n_threads) as ex:
            list(ex.map(run, blocks))
    else:
        for se in blocks:
            run(se)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(nb)
    return out.take(inv), (path[inv] if path is not None else None)


def simulate_twin(fleet, applications, years: float = 10.0, options: TwinOptions | None = None) -> TwinResult:
    """Simulate every battery of ``fleet`` in every application for ``years`` years.

    Parameters
    ----------
    fleet : slopt.fleet.Fleet or pandas.DataFrame
        Fleet table (columns of ``slopt.fleet.data``; ``accelerated`` optional). Its chemistries
        must be in ``options.chemistry`` (default :data:`slopt.battery.chemistry.CHEMISTRIES`).
    applications : Mapping[str, Application] or sequence of Application or one Application
    years : float
        Horizon (> 0).
    options : TwinOptions, optional

    Returns
    -------
    TwinResult
    """
    opt = options or TwinOptions()
    years = as_number(years, "simulate_twin", "years", 0.0, 100.0, lo_open=True)
    table = fleet_table(fleet)
    apps = application_list(applications)
    nb, na = len(table), len(apps)
    chem_names = sorted(set(table["chemistry"].astype(str)))
    unknown = [c for c in chem_names if c not in opt.chemistry]
    if unknown:
        raise ValueError(f"simulate_twin: no Chemistry record (ChemistryParams) for {unknown}; "
                         f"known {sorted(opt.chemistry)}")
    chems = [opt.chemistry[c] for c in chem_names]
    code = pd.Categorical(table["chemistry"].astype(str), categories=chem_names).codes.astype(np.int64)
    inputs = (BatteryInputs.from_table(table, code, opt.thermal_history_ref_k), ApplicationInputs.from_apps(apps),
              ChemistryArrays(chems), day_table(chems, apps, opt.resolution_min))
    n_steps = int(math.ceil(years * opt.steps_per_year - 1e-9))
    t_years = np.minimum(np.arange(n_steps + 1) / opt.steps_per_year, years)
    out, path = _run_blocks(inputs, t_years, years, opt, nb, na)
    return TwinResult(
        battery_id=table["battery_id"].astype(str).to_numpy(), application=tuple(a.name for a in apps),
        years=float(years), second_life_years=out.life, rte=out.rte, peak_temp_c=out.peak,
        safety_breach=out.breach, breach_prob=out.prob, soh_end=out.soh_end,
        r_growth_end=out.g_end, knee_years=out.knee, end_reason=out.reason, t_years=t_years,
        soh_path=path)
