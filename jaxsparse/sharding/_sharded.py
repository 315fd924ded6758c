"""``ShardedCSR``: a CSR matrix split by rows over one mesh axis.

Leaves (all with a leading shard axis, placed ``NamedSharding(mesh, P(axis))``): the
owned-columns block and the halo-columns block of every shard (CSR triples), the halo
send lists, and the global index held by each vector slot. Static: the plan, whose
equality and hash use only its small key (sizes rounded up to buckets), so similar
matrices reuse compiled programs.

The owned block has a local layout (``plan.local_format``): CSR, or diagonals for banded
and stencil blocks (fewer bytes per product; see ``formats._structure``). With
diagonals, ``own_data`` holds ``(D, n_diags, n_cols)`` DIA data, ``own_offsets`` the
diagonals and ``own_mask`` which of its slots hold an entry, one bit each (which, with
the offsets, is the pattern: ``own_indices`` is None there, so the block costs 1 bit per
band slot instead of an index per entry; ``own_indptr`` still counts each row's entries).
``vals``/``with_values`` speak CSR slot order in both layouts (``own_slots`` rebuilds
that order from the mask when asked), so code that swaps values never depends on the
layout.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .._pytree import register_pytree_dataclass
from ..ops._dtypes import as_dense
from . import _sharded_ops
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
    own_indices: jax.Array | None  # "csr" layout; None for "dia" (own_mask has it)
    own_indptr: jax.Array
    halo_data: jax.Array
    halo_indices: jax.Array
    halo_indptr: jax.Array
    halo_rows: jax.Array  # (D, plan.halo_block_rows): the block row of each halo row
    send: jax.Array
    row_index: jax.Array
    col_index: jax.Array
    own_offsets: jax.Array | None  # "dia" layout: (D, n_diags) diagonals; else None
    # "dia": (D, n_diags, ceil(n_cols / 8)) uint8, bit c % 8 of byte c // 8 set where
    # the slot at column c holds an entry (np.packbits, little bit order); else None
    own_mask: jax.Array | None
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
        ``(D, own_capacity)`` and ``(D, halo_capacity)``, the order of ``own_indices``
        (:func:`own_slots` with diagonals) and ``halo_indices``, whatever the local
        layout (see :meth:`with_values`). With diagonals the owned values are read out of
        the DIA data (a gather)."""
        if self.own_mask is None:
            return self.own_data, self.halo_data
        return _sharded_ops.dia_values(self.key)(self.own_data, own_slots(self)), self.halo_data

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
        own_shape = (self.plan.n_shards, self.plan.own_capacity)
        if own.shape != own_shape or halo.shape != self.halo_data.shape:
            raise ValueError(
                f"vals must be (owned, halo) of shapes {own_shape} and "
                f"{self.halo_data.shape}, got {own.shape} and {halo.shape}"
            )
        if self.own_mask is not None:
            own = _sharded_ops.to_dia(self.key)(_sharded_ops.on_mesh(self, own), own_slots(self))
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

    def shard_vector(self, x, side: str = "cols", *, start: int | None = None) -> jax.Array:
        """Place a length-``n`` vector (or ``(n, k)`` array) in the plan's layout.

        ``side="cols"`` (the default) gives the layout of ``x`` in ``A @ x``; ``"rows"``
        that of ``y``. For square matrices they are the same. Padding slots hold 0.

        In a multi-process run, ``x`` may instead be this process's own piece, entries
        ``start, start + 1, ...`` (the pieces of all processes must tile the vector):
        the pieces are exchanged once (an all-gather of the vector) and placed.
        """
        if start is not None:
            x = _whole_from_pieces(np.asarray(x), int(start))
        x = as_dense(x, "x")
        index = self._layout_index(side)
        n = self.shape[1] if side == "cols" else self.shape[0]
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"x must have length {n} (the {side} of A), got shape {x.shape}")
        return _sharded_ops.gather_layout(self.mesh, self.axis, index, x)

    def unshard_vector(self, y: jax.Array, side: str = "rows") -> jax.Array:
        """The length-``n`` vector held by a vector in the plan's layout."""
        index = self._layout_index(side)
        n = self.shape[0] if side == "rows" else self.shape[1]
        y = as_dense(y, "y")
        if y.ndim not in (1, 2) or y.shape[0] != index.size:
            raise ValueError(
                f"y must be in the plan's layout (length {index.size}), got {y.shape}"
            )
        return _sharded_ops.scatter_layout(self.mesh, self.axis, index, y, n)

    @property
    def mask(self) -> jax.Array:
        """True at real slots of the row layout, False at padding (see ``plan``)."""
        return self.row_index.reshape(-1) < self.shape[0]

    # -- products --------------------------------------------------------------------------
    def __matmul__(self, x):
        return _sharded_ops.matmul(self, x)

    def __rmatmul__(self, x):
        return _sharded_ops.matmul_transposed(self, as_dense(x, "x").T).T

    @property
    def T(self) -> TransposedShardedCSR:
        return TransposedShardedCSR(self)

    def sum(self, axis: int | None = None) -> jax.Array:
        """SciPy's ``A.sum(axis)``; vectors come back in the plan's layout."""
        return _sharded_ops.sum(self, axis)

    def diagonal(self) -> jax.Array:
        """The main diagonal (square matrices), in the plan's layout."""
        return _sharded_ops.diagonal(self)

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


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True)
class TransposedShardedCSR:
    """``As.T``: products run the halo exchange in reverse (no transposed copy). A
    pytree (of ``As``), so it can be a ``jit`` argument like ``As`` itself."""

    base: ShardedCSR

    @property
    def shape(self) -> tuple[int, int]:
        return self.base.shape[::-1]

    @property
    def T(self) -> ShardedCSR:
        return self.base

    def __matmul__(self, y):
        return _sharded_ops.matmul_transposed(self.base, y)


def _whole_from_pieces(piece: np.ndarray, start: int) -> np.ndarray:
    """Every process's piece of a vector, assembled into the whole vector."""
    from ..distributed import allgather

    starts = [int(a[0]) for a in allgather(np.array([start], dtype=np.int64))]
    tail = piece.shape[1:]
    pieces = [p.reshape(-1, *tail) for p in allgather(piece.reshape(-1))]
    order = np.argsort(starts, kind="stable")
    ends = [starts[i] + len(pieces[i]) for i in order]
    if starts[order[0]] != 0 or any(starts[order[k + 1]] != ends[k]
                                    for k in range(len(order) - 1)):
        raise ValueError("the processes' pieces of x must tile the vector (start), got "
                         + ", ".join(f"[{starts[i]}, {starts[i] + len(pieces[i])})"
                                     for i in range(len(starts))))
    return np.concatenate([pieces[i] for i in order])


def _require_scalar(value, op: str) -> None:
    if isinstance(value, ShardedCSR) or value is None or np.ndim(value) != 0:
        raise TypeError(f"ShardedCSR {op} needs a scalar operand, got {type(value).__name__}")
    dtype = getattr(value, "dtype", None)  # a tracer has one; np.asarray would fail on it
    if np.dtype(dtype if dtype is not None else np.asarray(value).dtype).kind in "OSU":
        raise TypeError(f"ShardedCSR {op} needs a numeric scalar, got {value!r}")


def _same_pattern_op(a: ShardedCSR, b, fn, op: str) -> ShardedCSR:
    if not isinstance(b, ShardedCSR):
        raise TypeError(f"ShardedCSR {op} needs another ShardedCSR, got {type(b).__name__}")
    check_same_layout(a, b)
    if not (_same_leaves(a, b, ("own_indptr", "halo_indices", "halo_indptr", "halo_rows"))
            and _same_array(own_columns(a), own_columns(b))):
        raise ValueError(
            f"ShardedCSR {op} needs the same sparsity pattern on both sides (build both "
            "with shard(..., like=) from matrices of one pattern); patterns differ here"
        )
    if a.local_format == b.local_format and _same_leaves(a, b, ("own_offsets",)):
        return a._with_local_values(fn(a.own_data, b.own_data), fn(a.halo_data, b.halo_data))
    (a_own, a_halo), (b_own, b_halo) = a.vals, b.vals  # layouts differ: meet in CSR order
    return a.with_values((fn(a_own, b_own), fn(a_halo, b_halo)))


def own_columns(As: ShardedCSR) -> jax.Array:
    """The owned blocks' column indices in CSR slot order (``own_cols`` past each
    block's entries), in either local layout: with diagonals, recovered from the slot
    map (slot ``k * n_cols + col``; the dump slot is padding)."""
    if As.own_mask is None:
        return As.own_indices
    n_cols = As.plan.cols.block
    slots = own_slots(As)
    return jnp.where(slots >= As.plan.own_diagonals * n_cols, n_cols, slots % n_cols)


def own_slots(As: ShardedCSR) -> jax.Array:
    """With diagonals: each owned CSR slot's position in the flattened DIA data,
    ``(D, own_capacity)`` (slot ``k * n_cols + col``; capacity slots hold the dump slot
    ``n_diags * n_cols``), rebuilt from ``own_mask``: rows in order, and within a row
    the diagonals in order, which (offsets sorted) is column order, CSR's."""
    return _sharded_ops.dia_slots(As.key)(As.own_mask, As.own_offsets)


def _same_leaves(a, b, names) -> bool:
    return all(_same_array(getattr(a, name), getattr(b, name)) for name in names)


def _same_array(x, y) -> bool:
    if x is y:
        return True
    if x is None or y is None:
        return False
    if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
        return x.shape == y.shape  # traced: trust the static key
    return x.shape == y.shape and bool(jnp.array_equal(x, y))


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


