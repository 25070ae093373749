"""Convert a radial pandapower net into a :class:`~slopt.grid.feeder.Feeder`.

pandapower is imported lazily (only :func:`convert` needs a net, and it does not import
pandapower at all: it reads the net's tables). The model, chosen to agree with pandapower's
``runpp`` (balanced, symmetrical) to round-off, is:

Root
    The single in-service ``ext_grid``; its ``vm_pu`` is the root voltage. Its angle is the
    reference (slopt's angles are relative to the root and exclude transformer phase shifts).
Buses
    In-service buses joined by closed bus-bus switches with ``z_ohm == 0`` are fused (as
    pandapower does); the fused bus keeps the smallest pandapower index as its bus number.
    Buses that are not connected to the root (open switches, out-of-service branches) are
    dropped, with the elements on them, as pandapower leaves them unsupplied; they are listed
    in :attr:`Conversion.dropped_buses`.
Lines (pi model)
    ``r, x = (r|x)_ohm_per_km * length_km / parallel``; the shunt
    ``g + jb = (g_us_per_km * 1e-6 + j 2 pi f_hz c_nf_per_km * 1e-9) * length_km * parallel``
    is split half to each end, in p.u. of the bus voltage ``vn_kv`` and ``net.sn_mva``.
Two-winding transformers
    At the neutral tap. Short-circuit impedance ``z = vk_percent / 100`` and
    ``r = vkr_percent / 100`` on the transformer's rating, referred to its low-voltage side
    (pandapower's formulas, including ``parallel``); magnetising admittance from
    ``pfe_kw`` and ``i0_percent`` (``|y| = i0_percent / 100 * sn_mva``, ``g = pfe``). With
    ``trafo_model="t"`` (pandapower's default) the magnetising branch sits in the middle of
    the series impedance (split 50/50) and the T is turned into its exact pi equivalent
    (star-delta, as pandapower's ``_wye_delta``); with ``"pi"`` the magnetising admittance
    is split half to each terminal. Either way the result is a series branch plus two bus
    shunts, so the feeder stays a tree. The phase shift (``shift_degree``) only rotates the
    angles downstream and is not modelled; ``vm_pu`` is unaffected. Off-neutral taps, a
    rated ratio that differs from the buses' nominal ratio, and tap-dependent impedance
    tables are refused.
Open switches
    An open line or transformer switch disconnects that end; a branch open at one end still
    charges from the other (pandapower's auxiliary bus), which is reduced exactly to a shunt
    ``y_near + 1 / (z + 1 / y_far)`` at the connected end. Closed bus-bus switches with
    ``z_ohm > 0`` become branches (``r : x = switch_rx_ratio``, pandapower's default 2).
Parallel branches
    Branches between the same two (fused) buses are combined, ``1/z = sum 1/z_k``; their
    shunts add at their ends.
Loads, static generators, storage, shunts
    In-service ``load``, ``sgen`` and ``storage`` rows become :class:`GridElements` at their
    buses with ``p_kw = 1000 * p_mw * scaling`` (and ``q``), keeping the ``profile`` column;
    ``Feeder.p_load_kw`` holds loads plus storage (consumption), the generators are only in
    ``feeder.elements`` (:meth:`Conversion.net_load_kw` gives the net load of the net as it
    stands). Voltage-dependent loads (``const_z``/``const_i`` percentages) are refused.
    ``shunt`` rows become bus shunt admittances.
Refused
    Meshed nets (after switches), three-winding transformers, and in-service elements slopt
    does not model (``gen``, ``ward``, ``xward``, ``impedance``, ``dcline``, ``motor``,
    asymmetric loads/generators, FACTS devices), each with a one-line
    :class:`~slopt.errors.InstanceError` naming the table, the row and the reason.

Hand-written because it is the product: pandapower has no exporter to a radial p.u. tree
with per-element profile names, and its own internal case (``net._ppc``) is built for
meshed Newton-Raphson, with auxiliary buses, not for a sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from slopt.errors import InstanceError
from slopt.grid.elements import GridElements
from slopt.grid.feeder import Feeder, register_feeder_reader

__all__ = ["convert", "Conversion", "TRAFO_MODELS"]

TRAFO_MODELS = ("t", "pi")

#: Tables whose in-service rows cannot be represented on a radial PQ feeder.
_REFUSED = {
    "trafo3w": "three-winding transformers are not supported; model them as two-winding transformers",
    "gen": "voltage-controlled generators (PV buses) are not supported; use sgen (PQ) instead",
    "ward": "ward equivalents are not supported",
    "xward": "extended ward equivalents are not supported",
    "impedance": "impedance elements are not supported",
    "dcline": "DC lines are not supported",
    "motor": "motors are not supported",
    "asymmetric_load": "asymmetric loads are not supported (balanced model)",
    "asymmetric_sgen": "asymmetric generators are not supported (balanced model)",
    "tcsc": "FACTS devices are not supported",
    "svc": "FACTS devices are not supported",
    "ssc": "FACTS devices are not supported",
    "vsc": "converters are not supported",
}


@dataclass(frozen=True)
class Conversion:
    """Result of :func:`convert`.

    Attributes
    ----------
    feeder : Feeder
    bus_of : dict[int, int]
        pandapower bus index -> feeder bus number, for every supplied bus (fused buses
        map to the same feeder bus).
    dropped_buses : tuple of int
        In-service pandapower buses not connected to the root (left unsupplied).
    """

    feeder: Feeder
    bus_of: dict
    dropped_buses: tuple

    def net_load_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Net load per feeder bus of the net as it stands (loads + storage - sgen), kW/kvar."""
        f = self.feeder
        p, q = np.zeros(f.n_bus), np.zeros(f.n_bus)
        if f.elements is not None and len(f.elements):
            ep, eq = f.elements.net_kw()
            idx = f.index_of(f.elements.bus_id)
            np.add.at(p, idx, ep)
            np.add.at(q, idx, eq)
        return p, q

    def vm_of(self, vm_pu) -> dict:
        """pandapower bus index -> value of ``vm_pu[..., feeder bus]`` (for comparisons)."""
        f = self.feeder
        vm = np.asarray(vm_pu)
        return {b: vm[..., f.index_of(fb)] for b, fb in self.bus_of.items()}


def convert(net, *, name: str | None = None, trafo_model: str = "t", switch_rx_ratio: float = 2.0) -> Conversion:
    """Convert a radial pandapower net (see the module docstring for the model).

    Parameters
    ----------
    net : pandapowerNet
    name : str, optional
        Feeder name; defaults to ``net.name`` or ``"pandapower net"``.
    trafo_model : {"t", "pi"}
        Transformer equivalent circuit; use the same value in ``pandapower.runpp`` to compare.
    switch_rx_ratio : float
        R/X ratio of closed bus-bus switches with an impedance (pandapower's default 2).

    Returns
    -------
    Conversion

    Raises
    ------
    InstanceError
        One line naming the table, the row and the reason (meshed, unsupported element...).
    """
    if trafo_model not in TRAFO_MODELS:
        raise ValueError(f"trafo_model must be one of {TRAFO_MODELS}, got {trafo_model!r}")
    name = name or str(getattr(net, "name", "") or "") or "pandapower net"
    src = f"pandapower net {name!r}"
    _refuse_unsupported(net, src)
    bus = net.bus
    in_service = bus.index[bus.in_service.to_numpy(dtype=bool)].to_numpy()
    vn = {int(b): float(v) for b, v in zip(bus.index, bus.vn_kv)}
    root_pp = _root(net, src, set(in_service.tolist()))
    rep = _fuse(net, in_service)
    sn_mva = float(net.sn_mva)

    br = _Branches()
    shunt = {int(b): 0j for b in set(rep.values())}
    sw_open = _open_branch_ends(net)
    _add_lines(net, br, shunt, rep, vn, sw_open, sn_mva)
    _add_trafos(net, br, shunt, rep, vn, sw_open, sn_mva, trafo_model, src)
    _add_bb_switches(net, br, rep, vn, sn_mva, switch_rx_ratio)
    _add_shunts(net, shunt, rep, vn, sn_mva)

    root = rep[root_pp]
    a, b, z = br.combined()
    keep = _connected(root, a, b, set(shunt))
    _check_radial(a, b, keep, root, src)
    buses = np.array(sorted(keep))
    on = np.isin(a, buses)
    elements = _elements(net, rep, keep, src)
    load_p, load_q = np.zeros(buses.size), np.zeros(buses.size)
    pos = {int(x): i for i, x in enumerate(buses)}
    ep, eq = elements.net_kw()
    consumer = elements.sign > 0
    for bid, p, q in zip(elements.bus_id[consumer], ep[consumer], eq[consumer]):
        load_p[pos[bid]] += p
        load_q[pos[bid]] += q
    y = np.array([shunt[int(x)] for x in buses])
    feeder = Feeder.from_branches(
        name=name, bus_ids=buses, p_load_kw=load_p, q_load_kvar=load_q, from_bus=a[on], to_bus=b[on],
        r_pu=z[on].real, x_pu=z[on].imag, base_kv=vn[root], base_mva=sn_mva, root=root,
        v_root_pu=float(net.ext_grid.vm_pu[net.ext_grid.in_service.astype(bool)].iloc[0]), source=src,
        g_shunt_pu=y.real, b_shunt_pu=y.imag, vn_kv=np.array([vn[int(x)] for x in buses]), elements=elements,
    )
    bus_of = {int(k): int(v) for k, v in rep.items() if v in keep}
    dropped = tuple(sorted(int(k) for k, v in rep.items() if v not in keep))
    return Conversion(feeder=feeder, bus_of=bus_of, dropped_buses=dropped)


# ----------------------------------------------------------------------------- checks
def _table(net, key):
    """``net[key]`` restricted to in-service rows (an empty frame if the table is missing)."""
    df = net[key] if key in net else None
    if df is None or len(df) == 0:
        return None
    if "in_service" in df.columns:
        df = df[df.in_service.to_numpy(dtype=bool)]
    return df if len(df) else None


def _refuse_unsupported(net, src) -> None:
    for key, reason in _REFUSED.items():
        df = _table(net, key)
        if df is not None:
            raise InstanceError.at(src, f"{key}[{df.index[0]}]", _row_name(df, df.index[0]), reason)


def _row_name(df, idx) -> str:
    if "name" in df.columns:
        v = df.at[idx, "name"]
        if isinstance(v, str) and v:
            return v
    return f"row {idx}"


def _root(net, src, in_service: set) -> int:
    eg = _table(net, "ext_grid")
    if eg is None:
        raise InstanceError.at(src, "ext_grid", "none", "the net needs one in-service ext_grid (the substation)")
    if len(eg) > 1:
        raise InstanceError.at(src, "ext_grid", len(eg), "more than one in-service ext_grid; a feeder has one root")
    b = int(eg.bus.iloc[0])
    if b not in in_service:
        raise InstanceError.at(src, f"ext_grid[{eg.index[0]}].bus", b, "ext_grid is at an out-of-service bus")
    vm = float(eg.vm_pu.iloc[0])
    if not (math.isfinite(vm) and vm > 0):
        raise InstanceError.at(src, f"ext_grid[{eg.index[0]}].vm_pu", vm, "must be a positive number")
    return b


# ----------------------------------------------------------------------------- topology
def _fuse(net, in_service) -> dict:
    """Union-find over closed zero-impedance bus-bus switches: bus -> representative (min index)."""
    parent = {int(b): int(b) for b in in_service}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sw = net.switch if "switch" in net else None
    if sw is not None and len(sw):
        z = sw.z_ohm.to_numpy(dtype=float) if "z_ohm" in sw.columns else np.zeros(len(sw))
        m = (sw.et.to_numpy() == "b") & sw.closed.to_numpy(dtype=bool) & ~(z > 0)
        for a, b in zip(sw.bus.to_numpy()[m].astype(int), sw.element.to_numpy()[m].astype(int)):
            if a in parent and b in parent:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {b: find(b) for b in parent}


def _open_branch_ends(net) -> set:
    """``{(et, element, bus)}`` of open line ('l') and transformer ('t') switches."""
    sw = net.switch if "switch" in net else None
    if sw is None or not len(sw):
        return set()
    m = ~sw.closed.to_numpy(dtype=bool) & np.isin(sw.et.to_numpy(), ["l", "t"])
    return {(str(e), int(el), int(b)) for e, el, b in zip(sw.et.to_numpy()[m], sw.element.to_numpy()[m], sw.bus.to_numpy()[m])}


class _Branches:
    """Series branches between fused buses, combined in parallel at the end."""

    def __init__(self):
        self.y = {}  # (a, b) with a < b -> sum of series admittances

    def add(self, a: int, b: int, z: complex) -> None:
        key = (a, b) if a < b else (b, a)
        self.y[key] = self.y.get(key, 0j) + 1.0 / z

    def combined(self):
        keys = sorted(self.y)
        a = np.array([k[0] for k in keys], dtype=int)
        b = np.array([k[1] for k in keys], dtype=int)
        z = np.array([1.0 / self.y[k] for k in keys], dtype=complex)
        return a, b, z


def _attach(br, shunt, rep, a_pp, b_pp, open_a, open_b, z, ya, yb) -> None:
    """Add a pi branch (series z, end shunts ya at a, yb at b), honouring open/oos ends."""
    ok_a = (not open_a) and a_pp in rep
    ok_b = (not open_b) and b_pp in rep
    if ok_a and ok_b:
        ra, rb = rep[a_pp], rep[b_pp]
        shunt[ra] += ya
        shunt[rb] += yb
        if ra != rb:  # a branch inside a fused bus only keeps its shunts
            br.add(ra, rb, z)
    elif ok_a or ok_b:  # energised from one end only: exact reduction to a shunt there
        near, far, node = (ya, yb, rep[a_pp]) if ok_a else (yb, ya, rep[b_pp])
        shunt[node] += near + (1.0 / (z + 1.0 / far) if far != 0 else 0.0)


def _add_lines(net, br, shunt, rep, vn, sw_open, sn_mva) -> None:
    ln = _table(net, "line")
    if ln is None:
        return
    fb, tb = ln.from_bus.to_numpy(dtype=int), ln.to_bus.to_numpy(dtype=int)
    length = ln.length_km.to_numpy(dtype=float)
    par = ln.parallel.to_numpy(dtype=float) if "parallel" in ln.columns else np.ones(len(ln))
    g_us = ln.g_us_per_km.to_numpy(dtype=float) if "g_us_per_km" in ln.columns else np.zeros(len(ln))
    f_hz = float(getattr(net, "f_hz", 50.0))
    for k, idx in enumerate(ln.index.to_numpy(dtype=int)):
        zb = vn[fb[k]] ** 2 / sn_mva
        z = complex(ln.r_ohm_per_km.iat[k], ln.x_ohm_per_km.iat[k]) * length[k] / par[k] / zb
        y = complex(g_us[k] * 1e-6, 2 * math.pi * f_hz * ln.c_nf_per_km.iat[k] * 1e-9) * length[k] * par[k] * zb
        _attach(br, shunt, rep, fb[k], tb[k], ("l", idx, fb[k]) in sw_open, ("l", idx, tb[k]) in sw_open, z, y / 2, y / 2)


def _add_trafos(net, br, shunt, rep, vn, sw_open, sn_mva, model, src) -> None:
    tr = _table(net, "trafo")
    if tr is None:
        return
    for idx, row in tr.iterrows():
        where = f"trafo[{idx}]"
        hv, lv = int(row.hv_bus), int(row.lv_bus)
        step = row.get("tap_step_percent", 0.0)
        pos, neutral = row.get("tap_pos", np.nan), row.get("tap_neutral", np.nan)
        if _num(step) and _num(pos) and _num(neutral) and pos != neutral and step != 0:
            raise InstanceError.at(src, f"{where}.tap_pos", pos, f"off-neutral tap (neutral {neutral}); slopt models "
                                   "transformers at the neutral tap: set tap_pos = tap_neutral")
        if bool(row.get("tap_dependency_table", False) is True):
            raise InstanceError.at(src, f"{where}.tap_dependency_table", True, "tap-dependent impedance is not supported")
        ratio = (row.vn_hv_kv / row.vn_lv_kv) / (vn[hv] / vn[lv])
        if abs(ratio - 1.0) > 1e-9:
            raise InstanceError.at(src, f"{where}.vn_hv_kv/vn_lv_kv", f"{row.vn_hv_kv}/{row.vn_lv_kv}",
                                   f"rated ratio differs from the buses' nominal ratio {vn[hv]}/{vn[lv]} "
                                   "(off-nominal ratio not supported)")
        par = float(row.get("parallel", 1) or 1)
        tap_lv = (row.vn_lv_kv / vn[lv]) ** 2 * sn_mva
        z_sc = row.vk_percent / 100.0 / row.sn_mva * tap_lv
        r_sc = row.vkr_percent / 100.0 / row.sn_mva * tap_lv
        z = complex(r_sc, math.copysign(math.sqrt(max(z_sc**2 - r_sc**2, 0.0)), z_sc)) / par
        pfe_mva = row.pfe_kw * 1e-3
        ym_mva = row.i0_percent / 100.0 * row.sn_mva
        b_mva = -math.sqrt(max(ym_mva**2 - pfe_mva**2, 0.0))
        scale = vn[lv] ** 2 / sn_mva / row.vn_lv_kv**2 * par
        ym = complex(pfe_mva, b_mva) * scale
        if model == "pi" or ym == 0:
            zs, y_hv, y_lv = z, ym / 2, ym / 2
        else:  # T: z/2 - ym - z/2 -> exact pi (pandapower's _wye_delta with 50/50 split)
            za = zb_ = z / 2
            zc = 1.0 / ym
            zsum = za * zb_ + za * zc + zb_ * zc
            zs, y_hv, y_lv = zsum / zc, zb_ / zsum, za / zsum
        _attach(br, shunt, rep, hv, lv, ("t", idx, hv) in sw_open, ("t", idx, lv) in sw_open, zs, y_hv, y_lv)


def _add_bb_switches(net, br, rep, vn, sn_mva, rx_ratio) -> None:
    sw = net.switch if "switch" in net else None
    if sw is None or not len(sw) or "z_ohm" not in sw.columns:
        return
    m = (sw.et.to_numpy() == "b") & sw.closed.to_numpy(dtype=bool) & (sw.z_ohm.to_numpy(dtype=float) > 0)
    for a, b, z_ohm in zip(sw.bus.to_numpy()[m].astype(int), sw.element.to_numpy()[m].astype(int), sw.z_ohm.to_numpy()[m]):
        if a in rep and b in rep and rep[a] != rep[b]:
            zpu = float(z_ohm) / (vn[a] ** 2 / sn_mva)
            br.add(rep[a], rep[b], zpu * complex(rx_ratio, 1.0) / math.sqrt(1 + rx_ratio**2))


def _add_shunts(net, shunt, rep, vn, sn_mva) -> None:
    sh = _table(net, "shunt")
    if sh is None:
        return
    for _, row in sh.iterrows():
        b = int(row.bus)
        if b in rep:
            vr = float(row.get("vn_kv", vn[b]))
            shunt[rep[b]] += complex(row.p_mw, -row.q_mvar) * float(row.get("step", 1)) / sn_mva * (vn[b] / vr) ** 2


def _num(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _connected(root, a, b, nodes) -> set:
    adj = {n: [] for n in nodes}
    for x, y in zip(a.tolist(), b.tolist()):
        adj[x].append(y)
        adj[y].append(x)
    seen, stack = {root}, [root]
    while stack:
        for nb in adj[stack.pop()]:
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return seen


def _check_radial(a, b, keep, root, src) -> None:
    on = np.isin(a, list(keep))
    if int(on.sum()) == len(keep) - 1:
        return
    import networkx as nx

    g = nx.Graph()
    g.add_edges_from(zip(a[on].tolist(), b[on].tolist()))
    loop = [e[0] for e in nx.find_cycle(g, root if g.degree(root) else None)]
    raise InstanceError.at(src, "topology", f"loop through buses {loop}",
                           "the net is meshed; open a switch (or take a line out of service) to make it radial")


# ----------------------------------------------------------------------------- elements
def _elements(net, rep, keep, src) -> GridElements:
    cols = {k: [] for k in ("kind", "name", "index", "bus_id", "p_kw", "q_kvar", "profile")}
    for kind in ("load", "sgen", "storage"):
        df = _table(net, kind)
        if df is None:
            continue
        if kind == "load":
            for c in ("const_z_percent", "const_i_percent", "const_z_p_percent", "const_i_p_percent",
                      "const_z_q_percent", "const_i_q_percent"):
                if c in df.columns:
                    bad = df.index[df[c].fillna(0).to_numpy(dtype=float) != 0]
                    if len(bad):
                        raise InstanceError.at(src, f"load[{bad[0]}].{c}", df.at[bad[0], c],
                                               "voltage-dependent loads are not supported (constant power only)")
        scaling = df.scaling.to_numpy(dtype=float) if "scaling" in df.columns else np.ones(len(df))
        q = df.q_mvar.to_numpy(dtype=float) if "q_mvar" in df.columns else np.zeros(len(df))
        p = df.p_mw.to_numpy(dtype=float)
        for arr, col in ((p, "p_mw"), (q, "q_mvar"), (scaling, "scaling")):
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise InstanceError.at(src, f"{kind}[{df.index[bad[0]]}].{col}", arr[bad[0]], "must be finite")
        prof = df.profile if "profile" in df.columns else None
        names = df.name if "name" in df.columns else None
        for k, (idx, b) in enumerate(zip(df.index.to_numpy(dtype=int), df.bus.to_numpy(dtype=int))):
            if b not in rep or rep[b] not in keep:
                continue
            cols["kind"].append(kind)
            cols["name"].append(_str(names.iat[k]) if names is not None else "")
            cols["index"].append(idx)
            cols["bus_id"].append(rep[b])
            cols["p_kw"].append(1e3 * p[k] * scaling[k])
            cols["q_kvar"].append(1e3 * q[k] * scaling[k])
            cols["profile"].append(_str(prof.iat[k]) if prof is not None else "")
    return GridElements(**cols)


def _str(v) -> str:
    return v if isinstance(v, str) else ""


register_feeder_reader("pandapower", convert)
