"""Pack consistency: installation windows (exact or on a grid) and the plan that fits them.

An installation holds one chemistry within an application's SOH and resistance spreads
(:class:`~slopt.fleet.assign.options.PackRule`). Small fleets: the windows are binaries of the
whole MILP (exact candidate windows, :func:`exact_windows`). Larger fleets: the unconstrained
plan stands if it fits ``K[a]`` windows per application; otherwise the whole MILP with grid
windows (:func:`grid_windows`), or two window choices (a window-selection model on aggregated
cells, a greedy cover of dual gains) with the per-battery problem re-solved inside each.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from slopt.fleet.assign.duals import lagrangian_bound
from slopt.fleet.assign.engine import Plan, Problem, solve_per_battery
from slopt.fleet.assign.options import AssignmentOptions, PackRule

__all__ = ["grid_windows", "exact_windows", "solve_with_packs"]

_TOL = 1e-9


def _cells(inst: Problem, idx: np.ndarray, rule: PackRule, offsets: int):
    """Grid cells (chemistry, SOH cell, log-R0 cell) of width spread/offsets."""
    ws = rule.soh_spread / offsets
    wr = math.log1p(rule.r_spread_pu) / offsets
    cs = np.floor(inst.soh[idx] / ws + 1e-9).astype(np.int64)
    cr = np.floor(np.log(inst.r0[idx]) / wr + 1e-9).astype(np.int64)
    return np.stack([inst.chem[idx], cs, cr], axis=1)


def _cell_windows(ucell: np.ndarray, offsets: int) -> np.ndarray:
    """Windows of ``offsets x offsets`` cells over the occupied cells ``ucell`` (U, 3): (W, U) membership."""
    j = np.arange(offsets)
    shift = np.stack(np.meshgrid(j, j, indexing="ij"), axis=-1).reshape(-1, 2)
    corners = np.concatenate([np.repeat(ucell[:, None, :1], shift.shape[0], axis=1),
                              ucell[:, None, 1:] - shift[None, :, :]], axis=2).reshape(-1, 3)
    corners = np.unique(corners, axis=0)
    inside = ((ucell[None, :, 0] == corners[:, None, 0])
              & (ucell[None, :, 1] >= corners[:, None, 1]) & (ucell[None, :, 1] < corners[:, None, 1] + offsets)
              & (ucell[None, :, 2] >= corners[:, None, 2]) & (ucell[None, :, 2] < corners[:, None, 2] + offsets))
    return inside[_maximal_rows(inside)]


def _members(idx: np.ndarray, cinv: np.ndarray, cell_rows: np.ndarray) -> list:
    """Batteries ``idx`` (with cell index ``cinv``) inside each row's cells."""
    order = np.argsort(cinv, kind="stable")
    starts = np.searchsorted(cinv[order], np.arange(cell_rows.shape[1] + 1))
    return [np.sort(idx[np.concatenate([order[starts[c]:starts[c + 1]] for c in np.flatnonzero(row)])])
            for row in cell_rows]


def grid_windows(inst: Problem, idx: np.ndarray, rule: PackRule, offsets: int) -> list:
    """Windows of ``offsets x offsets`` grid cells that hold some of the batteries ``idx``.

    A block of ``offsets`` cells of width ``spread/offsets`` spans less than the spread, so a
    window's batteries always meet the rule; windows start on the grid, so this is a
    restriction of the rule (exact windows: :func:`exact_windows`). Built on the occupied
    cells, then mapped to batteries; windows whose cells lie inside another's are dropped.
    """
    if idx.size == 0:
        return []
    ucell, cinv = np.unique(_cells(inst, idx, rule, offsets), axis=0, return_inverse=True)
    return _members(idx, cinv.ravel(), _cell_windows(ucell, offsets))


def exact_windows(inst: Problem, idx: np.ndarray, rule: PackRule) -> list:
    """Every maximal set of batteries ``idx`` that one installation may hold (exact rule).

    An installation fits the rule iff its batteries lie in a box ``[s, s + soh_spread] x
    [R, R (1 + r_spread_pu)]`` of one chemistry, and the box can be slid until ``s`` and ``R``
    are values of its members; so boxes with corners at the batteries' own SOH and R0 values
    are enough. Sets contained in another are dropped.
    """
    rows = []
    for c in np.unique(inst.chem[idx]):
        sel = inst.chem[idx] == c
        s, r = inst.soh[idx], inst.r0[idx]
        in_s = sel[None, :] & (s[None, :] >= s[sel, None] - _TOL) & (s[None, :] <= s[sel, None] + rule.soh_spread + _TOL)
        in_r = (r[None, :] >= r[sel, None] * (1 - _TOL)) & (r[None, :] <= r[sel, None] * (1 + rule.r_spread_pu) + _TOL)
        rows.append((in_s[:, None, :] & in_r[None, :, :]).reshape(-1, idx.size))   # (corner s x corner r, battery)
    mat = np.concatenate(rows, axis=0) if rows else np.zeros((0, idx.size), bool)
    mat = mat[_maximal_rows(mat)]
    return [idx[row] for row in mat]


def _maximal_rows(mat: np.ndarray) -> np.ndarray:
    """Rows of a membership matrix that are non-empty, distinct and not inside another row."""
    mat = np.asarray(mat, bool)
    nonempty = np.flatnonzero(mat.any(axis=1))
    if nonempty.size == 0:
        return nonempty
    _, first = np.unique(mat[nonempty], axis=0, return_index=True)
    cand = nonempty[np.sort(first)]
    f = mat[cand].astype(np.float32)
    size = f.sum(axis=1)
    inter = f @ f.T
    dominated = ((inter >= size[:, None] - 0.5) & (size[None, :] > size[:, None] + 0.5)).any(axis=1)
    return cand[~dominated]


def _greedy_cover(members: list, weight: np.ndarray, idx_all: np.ndarray, k_max: int, full: bool):
    """Greedy choice of at most k_max windows; full=True: must cover every weighted battery."""
    if not members:
        return [] if (not full or idx_all.size == 0) else None
    pos = np.searchsorted(idx_all, np.concatenate(members))
    owner = np.repeat(np.arange(len(members)), [m.size for m in members])
    left = weight.astype(float).copy()
    chosen = []
    for _ in range(k_max):
        gain = np.bincount(owner, weights=left[pos], minlength=len(members))
        w = int(np.argmax(gain))
        if gain[w] <= 0:
            break
        chosen.append(w)
        left[np.searchsorted(idx_all, members[w])] = 0.0
    if full and left.max(initial=0.0) > 0:
        return None
    return chosen


def _plan_fits(inst: Problem, plan_route: np.ndarray, opts: AssignmentOptions) -> dict | None:
    """Windows holding each limited application's batteries of a plan (None if some app does not fit)."""
    out = {}
    for a in range(inst.n_apps):
        k_max, rule = inst.limits[a], inst.rules[a]
        if k_max is None or rule is None:
            continue
        idx = np.flatnonzero(plan_route == a)
        wins = grid_windows(inst, idx, rule, opts.window_offsets)
        chosen = _greedy_cover(wins, np.ones(idx.size), idx, k_max, full=True)
        if chosen is None:
            return None
        out[a] = [wins[w] for w in chosen]
    return out


def _window_data(inst: Problem, opts: AssignmentOptions, block: int, segments: int):
    """Aggregated data of the window-selection model (see :func:`_select_windows`).

    Atoms are the batteries' cells (width ``spread / window_offsets``) under every distinct
    pack rule at once; windows are blocks of ``block x block`` cells. For every application,
    an atom's batteries that gain over their best unlimited route form ``segments`` energy
    segments by gain, valued at their mean gain. (Valuing them at their largest gain, with
    blocks one cell wider, makes a relaxation; on the default fleet it was looser than the
    unconstrained LP bound, so it is not used as a bound.)

    Returns
    -------
    data, base, atom, rows_of : the model data, best unlimited value per battery, atom per
    battery, and per application (window x cell membership, cell per battery).
    """
    from slopt.models.assignment import WindowSelectionData

    n, A = inst.value.shape[0], inst.n_apps
    limited = [a for a in range(A) if inst.limits[a] is not None and inst.rules[a] is not None]
    rules = list(dict.fromkeys(inst.rules[a] for a in limited))
    cells = [_cells(inst, np.arange(n), r, opts.window_offsets) for r in rules]
    _, atom = np.unique(np.concatenate(cells, axis=1), axis=0, return_inverse=True)
    atom = atom.ravel()
    n_atoms = int(atom.max()) + 1
    unl = np.flatnonzero(~np.isfinite(inst.demand))
    base = np.where(inst.feas[:, unl], inst.value[:, unl], -np.inf).max(axis=1)
    gains = inst.feas[:, :A] & (inst.value[:, :A] > base[:, None])
    seg_app, seg_cell, seg_e, seg_g = [], [], [], []
    for a in range(A):
        idx = np.flatnonzero(gains[:, a])
        gain = (inst.value[idx, a] - base[idx]) / inst.energy[idx]
        order = np.lexsort((-gain, atom[idx]))
        idx, gain = idx[order], gain[order]
        e = inst.energy[idx]
        total = np.bincount(atom[idx], weights=e, minlength=n_atoms)
        before = np.cumsum(e) - e - np.r_[0.0, np.cumsum(total)][atom[idx]]
        seg = np.minimum((segments * before / total[atom[idx]]).astype(np.int64), segments - 1)
        key, inv = np.unique(atom[idx] * segments + seg, return_inverse=True)
        energy = np.bincount(inv, weights=e)
        seg_app.append(np.full(key.size, a))
        seg_cell.append(key // segments)
        seg_e.append(energy)
        seg_g.append(np.bincount(inv, weights=e * gain) / energy)
    windows, rows_of = [None] * A, {}
    for a in limited:
        ucell, cinv = np.unique(cells[rules.index(inst.rules[a])], axis=0, return_inverse=True)
        inside = _cell_windows(ucell, block)
        atom_cell = np.zeros(n_atoms, np.int64)
        atom_cell[atom] = cinv.ravel()
        windows[a] = [np.flatnonzero(row[atom_cell]) for row in inside]
        rows_of[a] = (inside, cinv.ravel())
    any_gain = gains.any(axis=1)
    data = WindowSelectionData(seg_app=np.concatenate(seg_app), seg_cell=np.concatenate(seg_cell),
                               seg_energy_kwh=np.concatenate(seg_e), seg_gain_usd_per_kwh=np.concatenate(seg_g),
                               cell_energy_kwh=np.bincount(atom[any_gain], weights=inst.energy[any_gain],
                                                           minlength=n_atoms),
                               demand_kwh=inst.demand[:A], windows=windows,
                               max_open=np.array([inst.limits[a] or 0 for a in range(A)]))
    return data, base, atom, rows_of


def _select_windows(inst: Problem, opts: AssignmentOptions) -> dict:
    """Fleet scale: installation windows from the window-selection model on aggregated cells.

    The Pyomo model of :func:`slopt.models.assignment.build_window_selection_model` (data of
    :func:`_window_data`, three mean-gain segments) picks at most ``K[a]`` grid windows per
    application, maximising the gain it can place within the demands; the windows still
    allowed are then added by a greedy cover of the remaining gain (more room for the
    per-battery solve never hurts).

    Returns
    -------
    dict: application -> list of battery-index arrays (one per chosen window).
    """
    from slopt.models.assignment import build_window_selection_model
    from slopt.solve import SolveOptions, solve

    data, base, _, rows_of = _window_data(inst, opts, opts.window_offsets, 3)
    m = build_window_selection_model(data)
    res = solve(m, opts.solver or SolveOptions(mip_rel_gap=1e-4, time_limit_s=max(0.3 * opts.milp_time_s, 1.0)))
    everyone = np.arange(inst.value.shape[0])
    out = {}
    for a, (inside, cinv) in rows_of.items():
        chosen = [w for w in range(inside.shape[0]) if res.has_solution and (m.z[a, w].value or 0) > 0.5]
        members = _members(everyone, cinv, inside)
        idx = np.flatnonzero(inst.feas[:, a])
        weight = np.maximum(inst.value[idx, a] - base[idx], 0.0) + 1e-6 * inst.energy[idx]
        for w in chosen:
            weight[np.isin(idx, members[w])] = 0.0
        extra = _greedy_cover([np.intersect1d(w, idx) for w in members], weight, idx,
                              max(inst.limits[a] - len(chosen), 0), full=False)
        out[a] = [members[w] for w in chosen + [w for w in extra if w not in chosen]]
    return out


def _greedy_windows(inst: Problem, lam: np.ndarray, opts: AssignmentOptions) -> dict:
    """Fleet scale: ``K[a]`` grid windows per application by a greedy cover of dual gains.

    A battery's gain for application a is how much its reduced value there beats its best other
    route at the unconstrained prices ``lam`` (plus a tiny energy term that prefers room).
    """
    rho = np.where(inst.feas, inst.value - lam[None, :] * inst.energy[:, None], -np.inf)
    out = {}
    for a in range(inst.n_apps):
        k_max, rule = inst.limits[a], inst.rules[a]
        if k_max is None or rule is None:
            continue
        idx = np.flatnonzero(inst.feas[:, a])
        others = np.delete(rho[idx], a, axis=1).max(axis=1)
        gain = np.maximum(rho[idx, a] - others, 0.0) + 1e-3 * inst.energy[idx]
        wins = grid_windows(inst, idx, rule, opts.window_offsets)
        out[a] = [wins[w] for w in _greedy_cover(wins, gain, idx, k_max, full=False)]
    return out


def _masked(inst: Problem, windows: dict) -> Problem:
    """The instance with each limited application closed outside its chosen windows."""
    feas = inst.feas.copy()
    for a, wins in windows.items():
        inside = np.zeros(feas.shape[0], bool)
        for w in wins:
            inside[w] = True
        feas[:, a] &= inside
    return replace(inst, feas=feas)


def solve_with_packs(inst: Problem, opts: AssignmentOptions) -> tuple[Plan, float, str]:
    """Per-battery plan that meets the pack rules; returns (plan, unconstrained LP bound, method).

    Small fleets (``full_model_max``) go straight to the whole MILP with windows. Otherwise the
    unconstrained plan is solved first; if every limited application's batteries fit in its
    installations, it is optimal for the constrained problem too. Otherwise, up to
    ``windows_model_max`` batteries the whole MILP chooses the windows (exact candidate windows
    for small applications, so its bound then applies); beyond, two window choices
    (:func:`_select_windows`, :func:`_greedy_windows`) are tried, the per-battery problem is
    solved inside each, and the better plan is kept.
    """
    limited = [a for a in range(inst.n_apps) if inst.limits[a] is not None and inst.rules[a] is not None]
    n = inst.value.shape[0]
    if not limited or n > opts.full_model_max:
        plan = solve_per_battery(inst, opts)
        lp = plan.lagrangian_usd
        if not limited:
            return plan, lp, "no pack limit"
        fits = _plan_fits(inst, plan.route, opts)
        if fits is not None:
            plan.windows = fits
            return plan, lp, "unconstrained plan fits the pack limits"
    else:                                   # small fleets: straight to the MILP with windows
        lp = lagrangian_bound(inst.value, inst.feas, inst.energy, inst.demand, np.zeros(inst.value.shape[1]))
        plan = None
    if n <= opts.windows_model_max:
        wins, exact = {}, True
        for a in limited:
            idx = np.flatnonzero(inst.feas[:, a])
            if idx.size <= opts.exact_windows_max:
                wins[a] = (exact_windows(inst, idx, inst.rules[a]), inst.limits[a])
            else:
                exact = False
                wins[a] = (grid_windows(inst, idx, inst.rules[a], opts.window_offsets), inst.limits[a])
        plan = solve_per_battery(inst, opts, windows=wins, whole=True)
        lp = min(lp, plan.lagrangian_usd)
        plan.lagrangian_usd = lp
        if not exact:                                   # the MILP bound is for the grid restriction only
            plan.bound_usd, plan.proven = max(lp, plan.value_usd), False
        return plan, lp, "whole MILP, exact windows" if exact else "whole MILP, grid windows"
    best = None
    for label, wins in (("window-selection model", _select_windows(inst, opts)),
                        ("greedy cover of dual gains", _greedy_windows(inst, plan.lam, opts))):
        sub = solve_per_battery(_masked(inst, wins), opts)
        sub.windows, sub.proven, sub.lagrangian_usd = wins, False, lp
        if best is None or sub.value_usd > best[0].value_usd:
            best = (sub, label)
    best[0].bound_usd = max(lp, best[0].value_usd)          # the unconstrained LP bound: valid, conservative
    return best[0], lp, f"windows by the {best[1]} (best of two)"
