"""``ShardedCSR``: a CSR matrix split by rows over one mesh axis.

Leaves (all with a leading shard axis, placed ``NamedSharding(mesh, P(axis))``): the
owned-columns block and the halo-columns block of every shard (CSR triples), the halo
send lists, and the global index held by each vector slot. Static: the plan, whose
equality and hash use only its small key (sizes rounded up to buckets), so similar
matrices reuse compiled programs.

The owned block has a local layout (``plan.local_format``): CSR, or diagonals for banded
and stencil blocks (fewer bytes per product; see ``formats._structure``). With
diagonals, ``own_data`` holds ``(D, n_diags, n_cols)`` DIA data, ``own_offsets`` the
diagonals and ``own_slot`` where each CSR slot's value lives in it; ``own_indices`` and
``own_indptr`` still describe the CSR pattern. ``vals``/``with_values`` speak CSR slot
order in both layouts, so code that swaps values never depends on the layout.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from .._pytree import register_pytree_dataclass
from ..formats._index import index_dtype
from ..ops import _dispatch
from ..ops._dtypes import as_dense, result_dtype
from ..ops._primitives import CSR_KERNELS, DIA_MATMUL
from ._collectives import exchange
from ._plan import ShardingPlan

_static = dict(static=True)


@dataclasses.dataclass(frozen=True, eq=False)
class PlanKey:
    """The static part of a plan: what compiled code depends on (hashable, small)."""

    plan: ShardingPlan
    mesh: jax.sharding.Mesh

    def _key(self):
        p = self.plan
        return (p.shape, p.axis, p.n_shards, p.rows.block, p.cols.block, p.own_capacity,
                p.halo_capacity, p.halo.method, p.halo.shifts, p.halo.sizes, p.halo.width,
                p.rows is p.cols, p.local_format, p.own_diagonals, p.halo_block_rows,
                self.mesh)

    def __eq__(self, other):
        return isinstance(other, PlanKey) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class ShardedCSR:
    """A row-sharded CSR matrix; build it with :func:`jaxsparse.sharding.shard`.

    ``As @ xs`` for a vector in the plan's layout (``As.shard_vector(x)``) returns a
    vector with the same sharding and layout, moving only the halo: iterative solvers
    never reshard. A plain length-``n`` vector works too and comes back length ``n``.

    The owned blocks are CSR or diagonals (``plan.local_format``, chosen by bytes moved
    when sharding); ``own_data`` holds them in that layout, ``vals`` in CSR slot order.
    """

    own_data: jax.Array
    own_indices: jax.Array
    own_indptr: jax.Array
    halo_data: jax.Array
    halo_indices: jax.Array
    halo_indptr: jax.Array
    halo_rows: jax.Array  # (D, plan.halo_block_rows): the block row of each halo row
    send: jax.Array
    row_index: jax.Array
    col_index: jax.Array
    own_offsets: jax.Array | None  # "dia" layout: (D, n_diags) diagonals; else None
    own_slot: jax.Array | None  # "dia": CSR slot -> flat position in own_data[s]; else None
    key: PlanKey = dataclasses.field(metadata=_static)

    # -- facts ---------------------------------------------------------------------------
    @property
    def plan(self) -> ShardingPlan:
        return self.key.plan

    @property
    def mesh(self) -> jax.sharding.Mesh:
        return self.key.mesh

    @property
    def axis(self) -> str:
        return self.plan.axis

    @property
    def shape(self) -> tuple[int, int]:
        return self.plan.shape

    @property
    def dtype(self) -> np.dtype:
        return self.own_data.dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def local_format(self) -> str:
        """The owned blocks' layout: "csr" or "dia" (diagonals)."""
        return self.plan.local_format

    @property
    def vals(self) -> tuple[jax.Array, jax.Array]:
        """The values, as ``(owned, halo)`` stacked blocks in CSR slot order: shapes
        ``(D, own_capacity)`` and ``(D, halo_capacity)``, the order of ``own_indices`` /
        ``halo_indices``, whatever the local layout (see :meth:`with_values`). With
        diagonals the owned values are read out of the DIA data (a gather)."""
        if self.own_slot is None:
            return self.own_data, self.halo_data
        return _dia_values(self.key)(self.own_data, self.own_slot), self.halo_data

    def __repr__(self) -> str:
        return (f"ShardedCSR(shape={self.shape}, dtype={self.dtype}, "
                f"local_format={self.local_format!r}, plan={self.plan!r})")

    __array_ufunc__ = None

    def with_values(self, vals) -> ShardedCSR:
        """The same pattern with new values ``(owned, halo)`` in CSR slot order (the
        shapes and order of :attr:`vals`, in either local layout); traceable. With
        diagonals the owned values are moved into the DIA data (a scatter) here, once,
        not in every product."""
        own, halo = vals
        own_shape = self.own_indices.shape
        if own.shape != own_shape or halo.shape != self.halo_data.shape:
            raise ValueError(
                f"vals must be (owned, halo) of shapes {own_shape} and "
                f"{self.halo_data.shape}, got {own.shape} and {halo.shape}"
            )
        if self.own_slot is not None:
            own = _to_dia(self.key)(_on_mesh(self, own), self.own_slot)
        return dataclasses.replace(self, own_data=own, halo_data=halo)

    def _with_local_values(self, own, halo) -> ShardedCSR:
        """New values already in the local layout (``own`` shaped like ``own_data``)."""
        return dataclasses.replace(self, own_data=own, halo_data=halo)

    def _map_values(self, fn) -> ShardedCSR:
        """``fn`` on every value. In the DIA layout ``fn`` also meets the zeros that pad
        the band, so only maps that send 0 to 0 exactly belong here."""
        return self._with_local_values(fn(self.own_data), fn(self.halo_data))

    def astype(self, dtype) -> ShardedCSR:
        return self._map_values(lambda v: v.astype(dtype))

    # -- vectors ---------------------------------------------------------------------------
    def _vector_sharding(self, ndim: int) -> NamedSharding:
        return NamedSharding(self.mesh, P(self.axis, *([None] * (ndim - 1))))

    def _layout_index(self, side: str) -> jax.Array:
        if side not in ("rows", "cols"):
            raise ValueError(f"side must be 'rows' or 'cols', got {side!r}")
        return self.row_index if side == "rows" else self.col_index

    def shard_vector(self, x, side: str = "cols") -> jax.Array:
        """Place a length-``n`` vector (or ``(n, k)`` array) in the plan's layout.

        ``side="cols"`` (the default) gives the layout of ``x`` in ``A @ x``; ``"rows"``
        that of ``y``. For square matrices they are the same. Padding slots hold 0.
        """
        x = as_dense(x, "x")
        index = self._layout_index(side)
        n = self.shape[1] if side == "cols" else self.shape[0]
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"x must have length {n} (the {side} of A), got shape {x.shape}")
        return _gather_layout(self.mesh, self.axis, index, x)

    def unshard_vector(self, y: jax.Array, side: str = "rows") -> jax.Array:
        """The length-``n`` vector held by a vector in the plan's layout."""
        index = self._layout_index(side)
        n = self.shape[0] if side == "rows" else self.shape[1]
        if y.shape[0] != index.size:
            raise ValueError(
                f"y must be in the plan's layout (length {index.size}), got {y.shape}"
            )
        return _scatter_layout(self.mesh, self.axis, index, y, n)

    @property
    def mask(self) -> jax.Array:
        """True at real slots of the row layout, False at padding (see ``plan``)."""
        return self.row_index.reshape(-1) < self.shape[0]

    # -- products --------------------------------------------------------------------------
    def __matmul__(self, x):
        return matmul(self, x)

    def __rmatmul__(self, x):
        return matmul_transposed(self, as_dense(x, "x").T).T

    @property
    def T(self) -> TransposedShardedCSR:
        return TransposedShardedCSR(self)

    def sum(self, axis: int | None = None) -> jax.Array:
        """SciPy's ``A.sum(axis)``; vectors come back in the plan's layout."""
        from ._sharded_ops import sum as sharded_sum

        return sharded_sum(self, axis)

    def diagonal(self) -> jax.Array:
        """The main diagonal (square matrices), in the plan's layout."""
        from ._sharded_ops import diagonal

        return diagonal(self)

    # ``* s`` and ``/ s`` go through ``vals`` (the stored entries only): an ``inf`` or
    # ``nan`` scalar must not turn the zeros that pad a band into NaNs.
    def __mul__(self, scalar):
        _require_scalar(scalar, "*")
        own, halo = self.vals
        return self.with_values((own * scalar, halo * scalar))

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        _require_scalar(scalar, "/")
        own, halo = self.vals
        return self.with_values((own / scalar, halo / scalar))

    def __neg__(self):
        return self._map_values(jnp.negative)

    def __add__(self, other):
        return _same_pattern_op(self, other, jnp.add, "+")

    def __sub__(self, other):
        return _same_pattern_op(self, other, jnp.subtract, "-")


@dataclasses.dataclass(frozen=True)
class TransposedShardedCSR:
    """``As.T``: products run the halo exchange in reverse (no transposed copy)."""

    base: ShardedCSR

    @property
    def shape(self) -> tuple[int, int]:
        return self.base.shape[::-1]

    @property
    def T(self) -> ShardedCSR:
        return self.base

    def __matmul__(self, y):
        return matmul_transposed(self.base, y)


def _require_scalar(value, op: str) -> None:
    if np.ndim(value) != 0 or isinstance(value, ShardedCSR):
        raise TypeError(f"ShardedCSR {op} needs a scalar operand, got {type(value).__name__}")


def _same_pattern_op(a: ShardedCSR, b, fn, op: str) -> ShardedCSR:
    if not isinstance(b, ShardedCSR):
        raise TypeError(f"ShardedCSR {op} needs another ShardedCSR, got {type(b).__name__}")
    check_same_layout(a, b)
    if not _same_leaves(a, b, ("own_indices", "own_indptr", "halo_indices", "halo_indptr",
                               "halo_rows")):
        raise ValueError(
            f"ShardedCSR {op} needs the same sparsity pattern on both sides (build both "
            "with shard(..., like=) from matrices of one pattern); patterns differ here"
        )
    if a.local_format == b.local_format and _same_leaves(a, b, ("own_offsets",)):
        return a._with_local_values(fn(a.own_data, b.own_data), fn(a.halo_data, b.halo_data))
    (a_own, a_halo), (b_own, b_halo) = a.vals, b.vals  # layouts differ: meet in CSR order
    return a.with_values((fn(a_own, b_own), fn(a_halo, b_halo)))


def _same_leaves(a, b, names) -> bool:
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        if x is y:
            continue
        if x is None or y is None:
            return False
        if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
            return x.shape == y.shape  # traced: trust the static key
        if x.shape != y.shape or not bool(jnp.array_equal(x, y)):
            return False
    return True


def check_same_layout(a: ShardedCSR, b: ShardedCSR) -> None:
    """Raise unless ``a`` and ``b`` share one vector layout (``shard(B, like=A)``)."""
    if a.key != b.key and (a.plan.rows.block != b.plan.rows.block or a.mesh != b.mesh
                           or a.shape != b.shape):
        raise ValueError(
            "these sharded matrices use different layouts; build one with "
            "jaxsparse.sharding.shard(B, mesh, axis, like=A) to share A's layout"
        )
    if not _same_leaves(a, b, ("row_index", "col_index")):
        raise ValueError(
            "these sharded matrices use different vector layouts; build one with "
            "jaxsparse.sharding.shard(B, mesh, axis, like=A) to share A's layout"
        )


def _gather_layout(mesh, axis, index, x):
    """Each shard picks its slots out of a replicated ``x`` (padding reads a zero)."""
    return _gather_fn(mesh, axis, x.ndim)(index, _replicated(mesh, x))


@functools.lru_cache(maxsize=64)
def _gather_fn(mesh, axis, ndim):
    def pick(idx, x):
        padded = jnp.concatenate([x, jnp.zeros((1,) + x.shape[1:], x.dtype)])
        return padded[idx[0]]

    spec = P(axis, *([None] * (ndim - 1)))
    return jax.jit(jax.shard_map(pick, mesh=mesh, in_specs=(P(axis), P()), out_specs=spec))


def _scatter_layout(mesh, axis, index, y, n):
    """Gather the layout onto every shard and scatter it back to global order."""
    want = NamedSharding(mesh, P(axis, *([None] * (y.ndim - 1))))
    if isinstance(y, jax.core.Tracer):
        if AxisType.Explicit in mesh.axis_types:
            y = jax.sharding.reshard(y, want)
    elif getattr(y, "sharding", None) != want:
        y = jax.device_put(y, want)
    return _scatter_fn(mesh, axis, y.ndim, n)(index, y)


@functools.lru_cache(maxsize=64)
def _scatter_fn(mesh, axis, ndim, n):
    def place(idx, y):
        idx = jax.lax.all_gather(idx[0], axis, tiled=True, to="invarying")
        y = jax.lax.all_gather(y, axis, tiled=True, to="invarying")
        out = jnp.zeros((n + 1,) + y.shape[1:], y.dtype).at[idx].set(y, mode="drop")
        return out[:n]

    spec = P(axis, *([None] * (ndim - 1)))
    return jax.jit(jax.shard_map(place, mesh=mesh, in_specs=(P(axis), spec), out_specs=P()))


def _replicated(mesh, x):
    if isinstance(x, jax.core.Tracer):
        return jax.sharding.reshard(x, NamedSharding(mesh, P()))
    return jax.device_put(x, NamedSharding(mesh, P()))


# -- moving owned values between CSR slot order and the DIA data ----------------------
def _on_mesh(As: ShardedCSR, v):
    """A concrete stacked array not yet on the mesh is placed there (``P(axis)``)."""
    if isinstance(v, jax.core.Tracer):
        return v
    sharding = getattr(v, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh == As.mesh:
        return v
    return jax.device_put(v, NamedSharding(As.mesh, P(As.axis)))


@functools.lru_cache(maxsize=64)
def _to_dia(key: PlanKey):
    """CSR-slot-ordered owned values -> DIA data, per shard (capacity slots dropped)."""
    plan = key.plan
    n_diags, n_cols = plan.own_diagonals, plan.cols.block

    def local(vals, slot):
        flat = jnp.zeros(n_diags * n_cols, vals.dtype).at[slot[0]].add(vals[0], mode="drop")
        return flat.reshape(1, n_diags, n_cols)

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf, leaf), out_specs=leaf))


@functools.lru_cache(maxsize=64)
def _dia_values(key: PlanKey):
    """DIA data -> owned values in CSR slot order (capacity slots read 0)."""
    plan = key.plan

    def local(data, slot):
        flat = data[0].reshape(-1)
        return flat.at[slot[0]].get(mode="fill", fill_value=0)[None]

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf, leaf), out_specs=leaf))


def own_leaves(As: ShardedCSR) -> tuple[jax.Array, ...]:
    """The leaves the owned block's kernels read: CSR ``(data, indices, indptr)`` or DIA
    ``(data, offsets)``."""
    if As.local_format == "dia":
        return As.own_data, As.own_offsets
    return As.own_data, As.own_indices, As.own_indptr


def own_matmul(plan: ShardingPlan, own, x, *, transpose: bool, backend: str) -> jax.Array:
    """The owned block times ``x`` on one shard (inside ``shard_map``); ``own`` holds
    this shard's :func:`own_leaves`."""
    shape = (plan.rows.block, plan.cols.block)
    if plan.local_format == "dia":
        data, offsets = own
        return DIA_MATMUL.bind(data, offsets, x, shape=shape, transpose=transpose,
                               width=shape[1], backend=dia_backend(backend))
    return CSR_KERNELS.matmul.bind(*own, x, shape=shape, transpose=transpose,
                                   backend=backend)


def dia_backend(backend: str) -> str:
    """The DIA kernel's backend for a product whose CSR kernels use ``backend``: the
    platform's DIA default when ``backend`` is the platform's CSR default or has no DIA
    kernel (e.g. "pallas"), else ``backend`` itself (e.g. a forced "xla" reference)."""
    if backend == _dispatch.pick("csr_matmul") or backend not in _dispatch.available(
            "dia_matmul"):
        return _dispatch.pick("dia_matmul")
    return backend


def add_halo_rows(plan: ShardingPlan, y: jax.Array, hy: jax.Array, rows: jax.Array):
    """``y`` plus the halo block's rows ``hy`` (one shard, inside ``shard_map``): added at
    the block rows they belong to, or directly when the halo block has every row."""
    if plan.halo_block_rows == plan.rows.block:
        return y + hy
    return y.at[rows].add(hy, mode="drop")  # padding rows carry the sentinel: dropped


def halo_row_operand(plan: ShardingPlan, b: jax.Array, rows: jax.Array) -> jax.Array:
    """The rows of a row-layout operand ``b`` that the halo block's rows read."""
    if plan.halo_block_rows == plan.rows.block:
        return b
    return b.at[rows].get(mode="fill", fill_value=0)


# -- the sharded products --------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _local_product(key: PlanKey, backend: str, dense_spec: P):
    """The jitted shard_map of one product; cached per plan key (equal for similar
    matrices), so eager calls compile once."""
    plan = key.plan
    halo = plan.halo
    halo_shape = (plan.halo_block_rows, halo.width)
    n_own = 2 if plan.local_format == "dia" else 3

    def local(*args):
        own = tuple(a[0] for a in args[:n_own])
        halo_d, halo_i, halo_p, halo_r, send, x = args[n_own:]
        hx = exchange(x, send[0], method=halo.method, axis=plan.axis,
                      n_shards=plan.n_shards, shifts=halo.shifts, sizes=halo.sizes)
        y = own_matmul(plan, own, x, transpose=False, backend=backend)
        if halo.width:
            hy = CSR_KERNELS.matmul.bind(halo_d[0], halo_i[0], halo_p[0], hx,
                                         shape=halo_shape, transpose=False, backend=backend)
            y = add_halo_rows(plan, y, hy, halo_r[0])
        return y

    leaf = P(plan.axis)
    in_specs = (leaf,) * (n_own + 5) + (dense_spec,)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=in_specs,
                                 out_specs=dense_spec))


def _dense_spec(As: ShardedCSR, x: jax.Array) -> P:
    """``P(axis)`` for vectors; for matrices keep a column sharding over another axis."""
    if x.ndim == 1:
        return P(As.axis)
    col = None
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.spec) > 1:
        col = sharding.spec[1]
    return P(As.axis, col)


def _apply(As: ShardedCSR, xs: jax.Array, backend: str | None) -> jax.Array:
    dtype = result_dtype(As.dtype, xs.dtype)
    if xs.dtype != dtype:
        xs = xs.astype(dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    backend = _dispatch.pick("csr_matmul", backend)
    fn = _local_product(A.key, backend, _dense_spec(A, xs))
    return fn(*own_leaves(A), A.halo_data, A.halo_indices, A.halo_indptr, A.halo_rows, A.send,
              xs)


def _in_layout(As: ShardedCSR, x: jax.Array, side: str) -> bool:
    """Is ``x`` a vector in the plan's ``side`` layout (else a plain global vector)?

    Decided by length; when the layout and the global length coincide, by whether
    ``x`` carries the layout's sharding (traced vectors are taken to be laid out).
    Raises for a length that matches neither.
    """
    laid_out = As._layout_index(side).size
    n = As.shape[1] if side == "cols" else As.shape[0]
    name, dim = ("x", "A.shape[1]") if side == "cols" else ("y", "A.shape[0]")
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {x.shape}")
    if x.shape[0] not in (n, laid_out):
        raise ValueError(
            f"{name} must have length {n} ({dim}) or {laid_out} (the plan's {side} "
            f"layout), got shape {x.shape}"
        )
    if laid_out != n:
        return x.shape[0] == laid_out
    if isinstance(x, jax.core.Tracer):
        if AxisType.Explicit not in As.mesh.axis_types:
            return True  # Auto meshes do not type shardings: vectors in loops are laid out
        spec = jax.typeof(x).sharding.spec  # Explicit meshes do: use it
        return len(spec) > 0 and spec[0] == As.axis
    sharding = getattr(x, "sharding", None)
    spec = getattr(sharding, "spec", ())
    return isinstance(sharding, NamedSharding) and len(spec) > 0 and spec[0] == As.axis


def _placed(As: ShardedCSR, x: jax.Array) -> jax.Array:
    """A laid-out vector that is not on the mesh yet (a host or one-device array)."""
    if isinstance(x, jax.core.Tracer):
        return x
    want = NamedSharding(As.mesh, _dense_spec(As, x))
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh == As.mesh:
        return x
    return jax.device_put(x, want)


def matmul(As: ShardedCSR, x, *, backend: str | None = None) -> jax.Array:
    """``As @ x``: ``x`` in the column layout (result in the row layout, same sharding)
    or a plain length-``n`` vector / ``(n, k)`` array (result plain too)."""
    x = as_dense(x, "x")
    if _in_layout(As, x, "cols"):
        return _apply(As, _placed(As, x), backend)
    return As.unshard_vector(_apply(As, As.shard_vector(x, "cols"), backend), "rows")


def matmul_transposed(As: ShardedCSR, y, *, backend: str | None = None) -> jax.Array:
    """``As.T @ y``: the transpose of the halo product (reverse exchange, partial sums
    accumulated at their owners)."""
    y = as_dense(y, "y")
    if not _in_layout(As, y, "rows"):
        ys = As.shard_vector(y, "rows")
        return As.unshard_vector(matmul_transposed(As, ys, backend=backend), "cols")
    y = _placed(As, y)
    dtype = result_dtype(As.dtype, y.dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    y = y.astype(dtype)
    x_shape = (As.col_index.size,) + y.shape[1:]
    x_aval = jax.ShapeDtypeStruct(x_shape, dtype, sharding=_like_sharding(y, As, len(x_shape)))
    (out,) = jax.linear_transpose(lambda x: _apply(A, x, backend), x_aval)(y)
    return out


def _like_sharding(y, As, ndim):
    sharding = getattr(y, "sharding", None)
    if isinstance(sharding, NamedSharding):
        return sharding
    return NamedSharding(As.mesh, P(As.axis, *([None] * (ndim - 1))))


def local_index_dtype(*extents: int):
    return index_dtype(*extents)
