"""Radial distribution feeder: topology, impedances and nominal loads.

Data object only (no Pyomo, no pymoo). Buses are stored in breadth-first order from the
root (the substation), so that every bus comes after its parent; ``bus_ids`` maps that
internal order back to the original bus numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx
import numpy as np

from slopt.errors import ArgumentError, InstanceError
from slopt.grid.elements import GridElements
from slopt import bounds
from slopt.bounds import check_range
from slopt.limits import check

__all__ = ["Feeder", "GridElements", "load_feeder", "BUNDLED_FEEDERS", "FEEDER_READERS", "register_feeder_reader"]

FEEDER_DIR = Path(__file__).resolve().parent.parent / "data" / "feeders"

#: Bundled distribution feeders (from MATPOWER's cases): name -> file stem of the
#: ``<stem>.toml`` feeder file under ``slopt/data/feeders`` (= ``instances/feeders``).
BUNDLED_FEEDERS = {
    "ieee33": "case33bw",
    "ieee69": "case69",
    "ieee85": "case85",
    "ieee118": "case118zh",
    "ieee141": "case141",
}


@dataclass(frozen=True, eq=False)
class Feeder:
    """A radial feeder in per unit, buses in BFS order from the root.

    Attributes
    ----------
    name : str
        Case name (e.g. ``"case33bw"``).
    bus_ids : ndarray of int, shape (n_bus,)
        Original bus numbers in internal (BFS) order; ``bus_ids[0]`` is the root.
    parent : ndarray of int, shape (n_bus,)
        Internal index of each bus's parent; ``parent[0] == -1``.
    r_pu, x_pu : ndarray, shape (n_bus,)
        Series resistance and reactance of the branch *into* each bus (entry 0 unused, 0).
    p_load_kw, q_load_kvar : ndarray, shape (n_bus,)
        Nominal loads (consumption positive).
    base_kv, base_mva : float
        Voltage base (line-to-line kV) and power base (MVA).
    v_root_pu : float
        Voltage magnitude held at the root.
    source : str
        Where the feeder was read from, for error messages.
    g_shunt_pu, b_shunt_pu : ndarray, shape (n_bus,)
        Shunt admittance from each bus to ground in p.u. (line charging, transformer
        magnetising branch, shunt elements); the shunt draws ``conj(y) |V|^2``, so a
        capacitive ``b > 0`` injects reactive power. Zero for the MATPOWER feeders.
    vn_kv : ndarray, shape (n_bus,)
        Nominal (base) voltage of each bus, line-to-line kV; equal to ``base_kv`` on a
        single-voltage feeder, different across transformers. Impedances are in p.u. of
        each branch's own zone, so the p.u. network has no transformer ratios.
    elements : GridElements or None
        The individual loads, generators and storage units with their profile names (from
        a pandapower/SimBench net); ``None`` for feeders that only have per-bus loads.
    """

    name: str
    bus_ids: np.ndarray
    parent: np.ndarray
    r_pu: np.ndarray
    x_pu: np.ndarray
    p_load_kw: np.ndarray
    q_load_kvar: np.ndarray
    base_kv: float
    base_mva: float
    v_root_pu: float = 1.0
    source: str = ""
    g_shunt_pu: np.ndarray | None = None
    b_shunt_pu: np.ndarray | None = None
    vn_kv: np.ndarray | None = None
    elements: GridElements | None = None
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        n = np.asarray(self.bus_ids).size
        defaults = {"g_shunt_pu": 0.0, "b_shunt_pu": 0.0, "vn_kv": float(self.base_kv)}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, value))
        for name in ("bus_ids", "parent", "r_pu", "x_pu", "p_load_kw", "q_load_kvar", *defaults):
            arr = np.array(getattr(self, name))
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_index", {int(b): i for i, b in enumerate(self.bus_ids)})

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_branches(
        cls,
        name: str,
        bus_ids,
        p_load_kw,
        q_load_kvar,
        from_bus,
        to_bus,
        r_pu,
        x_pu,
        base_kv: float,
        base_mva: float,
        root: int | None = None,
        v_root_pu: float = 1.0,
        source: str = "",
        g_shunt_pu=None,
        b_shunt_pu=None,
        vn_kv=None,
        elements: GridElements | None = None,
    ) -> "Feeder":
        """Build a feeder from a bus list and a branch list, checking that it is radial.

        Parameters
        ----------
        bus_ids : sequence of int
            Bus numbers in any order; loads are given in the same order.
        from_bus, to_bus : sequence of int
            Branch end points (bus numbers); direction is free.
        r_pu, x_pu : sequence of float
            Branch series impedance in per unit on ``base_kv``/``base_mva``; must be > 0.
        root : int, optional
            Bus number of the substation; defaults to the first bus.
        g_shunt_pu, b_shunt_pu, vn_kv : sequence of float, optional
            Per-bus shunt admittance (p.u.) and nominal voltage (kV), in ``bus_ids`` order
            (see the class attributes); default zero shunts and ``base_kv`` everywhere.
        elements : GridElements, optional
            Loads/generators with their profile names; their ``bus_id`` must be feeder buses.

        Raises
        ------
        InstanceError
            If the network is meshed, disconnected, has duplicate branches, unknown
            buses, or a non-positive impedance.
        """
        if not isinstance(name, str) or not name.strip():
            raise ArgumentError(f"Feeder.from_branches: name must be a non-empty string, got {name!r:.60}")
        src = source or name
        bus_ids = _ids(bus_ids, src, "bus")
        if bus_ids.size == 0:
            raise InstanceError.at(src, "bus", "[]", "a feeder needs at least one bus")
        check("buses", bus_ids.size, "buses", source=src)
        fb = _ids(from_bus, src, "from_bus")
        tb = _ids(to_bus, src, "to_bus")
        r = _vector(r_pu, src, "r_pu")
        x = _vector(x_pu, src, "x_pu")
        p = _vector(p_load_kw, src, "p_load_kw")
        q = _vector(q_load_kvar, src, "q_load_kvar")
        for arr, fld in ((p, "p_load_kw"), (q, "q_load_kvar")):
            if arr.size != bus_ids.size:
                raise InstanceError.at(src, fld, f"{arr.size} values", f"need one per bus ({bus_ids.size})")
        for arr, fld in ((tb, "to_bus"), (r, "r_pu"), (x, "x_pu")):
            if arr.size != fb.size:
                raise InstanceError.at(src, fld, f"{arr.size} values", f"need one per branch ({fb.size} from_bus)")
        base_kv = check_range(base_kv, *bounds.BASE_KV, src, "base_kv")
        base_mva = check_range(base_mva, *bounds.BASE_MVA, src, "base_mva")
        v_root_pu = check_range(v_root_pu, *bounds.V_ROOT_PU, src, "v_root_pu")
        if len(set(bus_ids.tolist())) != len(bus_ids):
            dup = next(b for b in bus_ids if (bus_ids == b).sum() > 1)
            raise InstanceError.at(src, "bus", int(dup), "duplicate bus number")
        known = set(bus_ids.tolist())
        for k, (a, b) in enumerate(zip(fb.tolist(), tb.tolist())):
            for end in (a, b):
                if end not in known:
                    raise InstanceError.at(src, f"branch[{k}]", f"{a}-{b}", f"bus {end} is not in the bus table")
            if a == b:
                raise InstanceError.at(src, f"branch[{k}]", f"{a}-{b}", "branch connects a bus to itself")
        for arr, fld in ((r, "r"), (x, "x")):
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0) | (arr > bounds.MAX_IMPEDANCE_PU))
            if bad.size:
                k = int(bad[0])
                raise InstanceError.at(src, f"branch[{k}].{fld}", arr[k],
                                       f"impedance must be finite, >= 0 and <= {bounds.MAX_IMPEDANCE_PU:g} p.u.")
        zbad = np.flatnonzero(np.hypot(r, x) <= 0)
        if zbad.size:
            k = int(zbad[0])
            raise InstanceError.at(src, f"branch[{k}].r,x", f"{r[k]},{x[k]}", "branch impedance must be > 0")
        for arr, fld in ((p, "p_load_kw"), (q, "q_load_kvar")):
            bad = np.flatnonzero(~(np.abs(arr) <= bounds.MAX_POWER_KW))
            if bad.size:
                k = int(bad[0])
                reason = "load must be finite" if not np.isfinite(arr[k]) else \
                    f"load must be at most {bounds.MAX_POWER_KW:g} kW in magnitude"
                raise InstanceError.at(src, f"bus[{bus_ids[k]}].{fld}", arr[k], reason)

        g = nx.Graph()
        g.add_nodes_from(bus_ids.tolist())
        for k, (a, b) in enumerate(zip(fb.tolist(), tb.tolist())):
            if g.has_edge(a, b):
                raise InstanceError.at(src, f"branch[{k}]", f"{a}-{b}", "duplicate branch between the same buses")
            g.add_edge(a, b, k=k)
        if not nx.is_connected(g):
            comps = sorted(nx.connected_components(g), key=len, reverse=True)
            lost = min(min(c) for c in comps[1:])
            raise InstanceError.at(src, "bus", lost, "bus is disconnected from the substation")
        if g.number_of_edges() != g.number_of_nodes() - 1:
            cyc = nx.find_cycle(g)
            a, b = cyc[0][0], cyc[0][1]
            raise InstanceError.at(
                src, "branch", f"{a}-{b}", f"feeder is meshed (loop through buses {[e[0] for e in cyc]}); a radial feeder is required"
            )
        root = int(bus_ids[0]) if root is None else _root_id(root, src)
        if root not in known:
            raise InstanceError.at(src, "root", root, "root bus is not in the bus table")

        order = [root] + [v for _, v in nx.bfs_edges(g, root)]
        pos = {b: i for i, b in enumerate(order)}
        src_pos = {int(b): i for i, b in enumerate(bus_ids)}
        parent = np.full(len(order), -1, dtype=int)
        rr = np.zeros(len(order))
        xx = np.zeros(len(order))
        for u, v in nx.bfs_edges(g, root):
            k = g.edges[u, v]["k"]
            parent[pos[v]] = pos[u]
            rr[pos[v]] = r[k]
            xx[pos[v]] = x[k]
        idx = np.array([src_pos[b] for b in order])
        per_bus = {}
        for key, arr in (("g_shunt_pu", g_shunt_pu), ("b_shunt_pu", b_shunt_pu), ("vn_kv", vn_kv)):
            if arr is not None:
                arr = _vector(arr, src, key)
                if arr.shape != bus_ids.shape or not np.all(np.isfinite(arr)):
                    raise InstanceError.at(src, key, arr, f"need {bus_ids.size} finite values, one per bus")
                per_bus[key] = arr[idx]
        if elements is not None:
            unknown = np.setdiff1d(elements.bus_id, bus_ids)
            if unknown.size:
                raise InstanceError.at(src, "elements.bus", int(unknown[0]), "element at a bus that is not in the bus table")
        return cls(
            name=name,
            bus_ids=np.array(order, dtype=int),
            parent=parent,
            r_pu=rr,
            x_pu=xx,
            p_load_kw=p[idx],
            q_load_kvar=q[idx],
            base_kv=base_kv,
            base_mva=base_mva,
            v_root_pu=v_root_pu,
            source=str(src),
            elements=elements,
            **per_bus,
        )

    @classmethod
    def from_pandapower(cls, net, *, name: str | None = None, trafo_model: str = "t") -> "Feeder":
        """Convert a radial pandapower net (see :func:`slopt.grid.pandapower_net.convert`).

        slopt does not import pandapower for this (the converter reads the net's tables). Meshed nets, three-winding
        transformers and elements slopt does not model are refused with an
        :class:`~slopt.errors.InstanceError`.

        Examples
        --------
        >>> import pandapower.networks as pn                # doctest: +SKIP
        >>> Feeder.from_pandapower(pn.case33bw()).n_bus     # doctest: +SKIP
        33
        """
        convert = _reader("pandapower")
        if not all(hasattr(net, t) for t in ("bus", "line", "ext_grid")):
            raise ArgumentError(f"Feeder.from_pandapower: net must be a pandapower net, got {type(net).__name__}")
        return convert(net, name=name, trafo_model=trafo_model).feeder

    @classmethod
    def from_matpower(cls, path: str | Path) -> "Feeder":
        """Read a radial MATPOWER case (``.m``), applying its trailing unit conversions.

        See :func:`slopt.io.matpower.read_matpower` for the accepted post-processing.

        Examples
        --------
        >>> f = Feeder.from_matpower("case33bw.m")          # doctest: +SKIP
        >>> round(f.p_load_kw.sum(), 1)                       # doctest: +SKIP
        3715.0
        """
        return _reader(".m")(path)

    # ------------------------------------------------------------------ properties
    @property
    def n_bus(self) -> int:
        return int(self.bus_ids.size)

    @property
    def z_base_ohm(self) -> float:
        return self.base_kv**2 / self.base_mva

    def index_of(self, bus_ids) -> np.ndarray:
        """Internal indices of original bus numbers (scalar or sequence).

        Raises
        ------
        InstanceError
            If a bus number is not in the feeder.
        """
        scalar = np.isscalar(bus_ids)
        try:
            ids = np.atleast_1d(np.asarray(bus_ids)).ravel().tolist()
        except (TypeError, ValueError):
            raise ArgumentError(f"{self.source or self.name}: bus_ids must be a bus number or a sequence of them, "
                                f"got {type(bus_ids).__name__}") from None
        out = []
        for b in ids:
            try:
                out.append(self._index[int(b)])
            except (KeyError, ValueError, TypeError):
                raise InstanceError.at(self.source or self.name, "bus", b, f"no such bus in feeder {self.name}") from None
        arr = np.asarray(out, dtype=int)
        return int(arr[0]) if scalar else arr

    @property
    def depth(self) -> np.ndarray:
        """Number of branches between each bus and the root."""
        d = np.zeros(self.n_bus, dtype=int)
        for i in range(1, self.n_bus):  # BFS order: parent already done (setup only)
            d[i] = d[self.parent[i]] + 1
        return d

    @property
    def path_matrix(self) -> np.ndarray:
        """``D[k, b] = 1`` if branch ``b`` (into bus b) lies on the path root -> bus k.

        Equivalently bus ``k`` is downstream of (or is) bus ``b``. Shape (n_bus, n_bus); column
        0 is zero because bus 0 has no incoming branch. Cached.
        """
        cached = self.__dict__.get("_path")
        if cached is None:
            n = self.n_bus
            d = np.zeros((n, n))
            for k in range(1, n):  # BFS order: row of parent complete before child
                d[k] = d[self.parent[k]]
                d[k, k] = 1.0
            d.setflags(write=False)
            object.__setattr__(self, "_path", d)
            cached = d
        return cached

    def graph(self) -> nx.Graph:
        """networkx graph on original bus numbers, edges carrying ``r_pu`` and ``x_pu``."""
        g = nx.Graph()
        g.add_nodes_from(self.bus_ids.tolist())
        for i in range(1, self.n_bus):
            g.add_edge(int(self.bus_ids[self.parent[i]]), int(self.bus_ids[i]), r_pu=float(self.r_pu[i]), x_pu=float(self.x_pu[i]))
        return g

    @property
    def has_shunts(self) -> bool:
        """True if any bus has a shunt admittance to ground."""
        return bool(np.any(self.g_shunt_pu) or np.any(self.b_shunt_pu))

    def shunt_load_kw(self, vm_pu=1.0) -> tuple[np.ndarray, np.ndarray]:
        """Power drawn by the bus shunts at voltage ``vm_pu`` (default flat 1 p.u.).

        Returns ``(p_kw, q_kvar)`` per bus, consumption positive (line charging gives a
        negative ``q_kvar``). Useful to add the shunts as constant loads in linear models.
        """
        w = np.asarray(vm_pu, dtype=float) ** 2 * self.base_mva * 1e3
        return self.g_shunt_pu * w, -self.b_shunt_pu * w

    def scaled(self, load_factor: float) -> "Feeder":
        """A copy with the nominal loads multiplied by ``load_factor`` (a finite number in
        [0, 1e4], :data:`slopt.bounds.MAX_SCALE`)."""
        from slopt.checks import as_number

        load_factor = as_number(load_factor, "Feeder.scaled", "load_factor", 0.0, bounds.MAX_SCALE)
        return replace(self, p_load_kw=self.p_load_kw * load_factor, q_load_kvar=self.q_load_kvar * load_factor)

    def __repr__(self) -> str:
        return (f"Feeder({self.name!r}, n_bus={self.n_bus}, load={self.p_load_kw.sum():.1f} kW "
                f"{self.q_load_kvar.sum():.1f} kvar, base {self.base_kv} kV/{self.base_mva} MVA)")


def _vector(values, src, field: str) -> np.ndarray:
    """``values`` as a 1-D float array; text, nested lists or other objects are an ArgumentError."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentError(f"{src}: {field} must be a sequence of numbers, got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise ArgumentError(f"{src}: {field} must be one-dimensional, got shape {arr.shape}")
    return arr


def _ids(values, src, field: str) -> np.ndarray:
    """Bus numbers as int64: integer-valued, finite, in [0, MAX_BUS_ID] (no silent truncation of 3.5)."""
    try:
        arr = None if isinstance(values, (str, bytes)) else np.asarray(values)
        if arr is not None and arr.dtype.kind == "O":
            arr = arr.astype(float)                 # e.g. ints beyond int64: out of range below
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise ArgumentError(f"{src}: {field} must be a sequence of integer bus numbers, got {type(values).__name__}")
    if arr.ndim != 1:
        raise ArgumentError(f"{src}: {field} must be one-dimensional, got shape {arr.shape}")
    with np.errstate(invalid="ignore"):
        ok = (arr >= 0) & (arr <= bounds.MAX_BUS_ID)
        if arr.dtype.kind == "f":
            ok &= arr == np.round(arr)
    bad = np.flatnonzero(~ok)
    if bad.size:
        k = int(bad[0])
        raise InstanceError.at(src, f"{field}[{k}]", arr[k], f"bus number must be an integer in [0, {bounds.MAX_BUS_ID}]")
    return arr.astype(np.int64)


def _root_id(root, src) -> int:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) and not (
            isinstance(root, (float, np.floating)) and float(root).is_integer()):
        raise InstanceError.at(src, "root", root, "must be an integer bus number")
    return int(root)


def load_feeder(name: str) -> Feeder:
    """Load a bundled feeder by name (``ieee33``, ``ieee69``, ``ieee85``, ``ieee118``, ``ieee141``).

    Raises
    ------
    InstanceError
        If the name is unknown.
    """
    key = str(name).lower()
    if key not in BUNDLED_FEEDERS:
        raise InstanceError.at(None, "feeder", name, f"unknown feeder; choose one of {', '.join(BUNDLED_FEEDERS)} or give a path to a MATPOWER .m file")
    return _load_bundled(key)


_CACHE: dict[str, Feeder] = {}

#: Readers that build a Feeder from a file suffix (``".m"``, ``".toml"``) or a foreign model
#: (``"pandapower"``). The modules that read (``slopt.io.matpower``, ``slopt.io.feeder_file``,
#: ``slopt.grid.pandapower_net``) register themselves on import, so this module imports none of
#: them; :mod:`slopt.io` and :mod:`slopt.grid` import them (``import slopt`` does both).
FEEDER_READERS: dict = {}


def register_feeder_reader(kind: str, reader) -> None:
    """Register ``reader`` for a file suffix or a model name (see :data:`FEEDER_READERS`)."""
    FEEDER_READERS[kind] = reader


def _reader(kind: str):
    if kind not in FEEDER_READERS:                   # a caller that imported only this module
        import importlib

        importlib.import_module("slopt.io" if kind.startswith(".") else "slopt.grid.pandapower_net")
    return FEEDER_READERS[kind]


def _load_bundled(key: str) -> Feeder:
    """Read a bundled feeder from the package data (TOML + CSV, see ``docs/feeders.md``).

    ``slopt/data/feeders`` is a symlink to ``instances/feeders`` in the source tree and a
    copy of it in an installed wheel. Feeders are immutable, so one object is cached per name.
    """
    if key not in _CACHE:
        _CACHE[key] = _reader(".toml")(FEEDER_DIR / f"{BUNDLED_FEEDERS[key]}.toml")
    return _CACHE[key]
