"""The sharded operations, in one place: products (``A @ x``, ``A.T @ y``), SDDMM and the
reductions, with the layout helpers they share (placing vectors in a plan's layout,
each shard's owned and halo products).

Everything here works on a :class:`~._sharded.ShardedCSR`'s leaves and static plan
(its ``key``); the class's methods call in here, and nothing here imports the class
module (the type names in annotations only), so the two never import each other.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from ..formats._index import index_dtype
from ..ops import _dispatch
from ..ops._csr_matmul_add import CSR_MATMUL_ADD
from ..ops._dia_kernel import dia_data_cotangent
from ..ops._dtypes import as_dense, result_dtype
from ..ops._primitives import CSR_KERNELS, DIA_MATMUL
from ..ops._reference import csr_row_ids
from ._collectives import exchange, return_halo
from ._plan import ShardingPlan

if TYPE_CHECKING:
    from ._sharded import PlanKey, ShardedCSR


def gather_layout(mesh, axis, index, x):
    """Each shard picks its slots out of a replicated ``x`` (padding reads a zero)."""
    return _gather_fn(mesh, axis, x.ndim)(index, _replicated(mesh, x))


@functools.lru_cache(maxsize=64)
def _gather_fn(mesh, axis, ndim):
    def pick(idx, x):
        padded = jnp.concatenate([x, jnp.zeros((1,) + x.shape[1:], x.dtype)])
        return padded[idx[0]]

    spec = P(axis, *([None] * (ndim - 1)))
    return jax.jit(jax.shard_map(pick, mesh=mesh, in_specs=(P(axis), P()), out_specs=spec))


def scatter_layout(mesh, axis, index, y, n):
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
def on_mesh(As: ShardedCSR, v):
    """A concrete stacked array not yet on the mesh is placed there (``P(axis)``)."""
    if isinstance(v, jax.core.Tracer):
        return v
    sharding = getattr(v, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh == As.mesh:
        return v
    return jax.device_put(v, NamedSharding(As.mesh, P(As.axis)))


@functools.lru_cache(maxsize=64)
def dia_slots(key: PlanKey):
    """(own_mask, own_offsets) -> each owned CSR slot's position in the flattened DIA
    data, per shard; capacity slots get the dump slot ``n_diags * n_cols``."""
    plan = key.plan
    n_diags, n_rows, n_cols = plan.own_diagonals, plan.rows.block, plan.cols.block

    def local(mask, offsets):
        off = offsets[0]
        row = jnp.arange(n_rows, dtype=off.dtype)[:, None]
        col = row + off[None, :]  # (rows, diagonals): row-major is CSR order
        diag = jnp.arange(n_diags, dtype=off.dtype)[None, :]
        c = jnp.clip(col, 0, n_cols - 1)
        bit = (mask[0][diag, c >> 3] >> (c & 7).astype(mask.dtype)) & 1  # packed bits
        present = (col >= 0) & (col < n_cols) & (bit == 1)
        r, k = jnp.nonzero(present, size=plan.own_capacity, fill_value=-1)
        r, k = r.astype(off.dtype), k.astype(off.dtype)
        slot = jnp.where(r >= 0, k * n_cols + r + off[k], n_diags * n_cols)
        return slot.astype(off.dtype)[None]

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf, leaf), out_specs=leaf))


@functools.lru_cache(maxsize=64)
def to_dia(key: PlanKey):
    """CSR-slot-ordered owned values -> DIA data, per shard (capacity slots dropped)."""
    plan = key.plan
    n_diags, n_cols = plan.own_diagonals, plan.cols.block

    def local(vals, slot):
        flat = jnp.zeros(n_diags * n_cols, vals.dtype).at[slot[0]].add(vals[0], mode="drop")
        return flat.reshape(1, n_diags, n_cols)

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf, leaf), out_specs=leaf))


@functools.lru_cache(maxsize=64)
def dia_values(key: PlanKey):
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


def own_matmul(plan: ShardingPlan, own, x, *, transpose: bool, backend: str | None) -> jax.Array:
    """The owned block times ``x`` on one shard (inside ``shard_map``); ``own`` holds
    this shard's :func:`own_leaves`."""
    shape = (plan.rows.block, plan.cols.block)
    if plan.local_format == "dia":
        data, offsets = own
        return DIA_MATMUL.bind(data, offsets, x, shape=shape, transpose=transpose,
                               width=shape[1], backend=dia_backend(backend))
    return CSR_KERNELS.matmul.bind(*own, x, shape=shape, transpose=transpose,
                                   backend=backend)


def _checks_vma(backend: str | None) -> bool:
    """Whether a product's ``shard_map`` checks varying axes: not for Pallas kernels run
    in the interpreter (CPU), whose jax 0.10.2 implementation builds loop carries that
    fail the check inside ``shard_map``; nothing else changes."""
    return not (backend == "pallas" and jax.default_backend() == "cpu")


def dia_backend(backend: str | None) -> str | None:
    """The DIA kernel's backend for a product whose CSR kernels use ``backend``: None
    (the platform's DIA default, chosen when lowered) when ``backend`` is None, the
    platform's CSR default, or has no DIA kernel (e.g. "pallas"); else ``backend``
    itself (e.g. a forced "xla" reference)."""
    if backend is None or backend == _dispatch.pick("csr_matmul") or (
            backend not in _dispatch.available("dia_matmul")):
        return None
    return backend


def add_halo_rows(plan: ShardingPlan, y: jax.Array, hy: jax.Array, rows: jax.Array):
    """``y`` plus the halo block's rows ``hy`` (one shard, inside ``shard_map``): added at
    the block rows they belong to, or directly when the halo block has every row."""
    if plan.halo_block_rows == plan.rows.block:
        return y + hy
    # Padding rows carry the sentinel R. They add 0 at row 0 instead of relying on an
    # out-of-range index being dropped: with one halo row XLA:CPU (jax 0.10.2) turns the
    # scatter into a dynamic-update-slice, and when y is itself a slice it read the
    # element past y for the dropped update and wrote it over y's last row (the
    # algebraic simplifier's unclamped fold of nested slices, openxla/xla#49121).
    inside, safe = _in_block(plan, rows)
    return y.at[safe].add(jnp.where(_rows_like(inside, hy), hy, 0))


def halo_row_operand(plan: ShardingPlan, b: jax.Array, rows: jax.Array) -> jax.Array:
    """The rows of a row-layout operand ``b`` that the halo block's rows read."""
    if plan.halo_block_rows == plan.rows.block:
        return b
    inside, safe = _in_block(plan, rows)  # in-range reads only (see add_halo_rows)
    got = b[safe]
    return jnp.where(_rows_like(inside, got), got, 0)


def _in_block(plan: ShardingPlan, rows: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(which halo rows are real, the row indices with padding sent to row 0)."""
    inside = rows < plan.rows.block
    return inside, jnp.where(inside, rows, 0)


def _rows_like(mask: jax.Array, values: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (values.ndim - 1))


# -- the sharded products --------------------------------------------------------------
def _shard_program(key: PlanKey, backend: str, dense_spec: P, per_shard):
    """The jitted shard_map of a product over the blocks (``_blocks``' order, then the
    dense operand): ``per_shard(own, halo_d, halo_i, halo_p, halo_r, send, v)`` on one
    shard's slices (``own``: the owned block's leaves)."""
    n_own = _n_own(key.plan)

    def local(*args):
        own = tuple(a[0] for a in args[:n_own])
        return per_shard(own, *(a[0] for a in args[n_own:-1]), args[-1])

    leaf = P(key.plan.axis)
    in_specs = (leaf,) * (n_own + 5) + (dense_spec,)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=in_specs,
                                 out_specs=dense_spec, check_vma=_checks_vma(backend)))


@functools.lru_cache(maxsize=128)
def _local_product(key: PlanKey, backend: str, dense_spec: P):
    """The jitted shard_map of one product; cached per plan key (equal for similar
    matrices), so eager calls compile once."""
    plan = key.plan
    halo = plan.halo
    halo_shape = (plan.halo_block_rows, halo.width)

    def per_shard(own, halo_d, halo_i, halo_p, halo_r, send, x):
        hx = exchange(x, send, method=halo.method, axis=plan.axis, n_shards=plan.n_shards,
                      shifts=halo.shifts, sizes=halo.sizes)
        y = own_matmul(plan, own, x, transpose=False, backend=backend)
        if not halo.width:
            return y
        if plan.halo_block_rows == plan.rows.block:  # added as each row is summed
            return CSR_MATMUL_ADD.bind(halo_d, halo_i, halo_p, hx, y, shape=halo_shape,
                                       backend=backend)
        hy = CSR_KERNELS.matmul.bind(halo_d, halo_i, halo_p, hx, shape=halo_shape,
                                     transpose=False, backend=backend)
        return add_halo_rows(plan, y, hy, halo_r)

    return _shard_program(key, backend, dense_spec, per_shard)


@functools.lru_cache(maxsize=128)
def _local_product_transposed(key: PlanKey, backend: str, dense_spec: P):
    """The jitted shard_map of ``A.T @ y``, written out rather than left to
    ``jax.linear_transpose`` of :func:`_local_product`: there the halo's partial sums,
    sent back to their owners, were scatter-added into a fresh zero vector that was then
    added to the owned block's product, three more passes over the vector (sharded 2-D
    Poisson 1400^2, 2 devices: A.T @ y 10.3 ms against A @ x 3.6). Here they are added
    into the owned product in place."""
    plan = key.plan
    halo = plan.halo
    halo_shape = (plan.halo_block_rows, halo.width)

    def per_shard(own, halo_d, halo_i, halo_p, halo_r, send, y):
        x = own_matmul(plan, own, y, transpose=True, backend=backend)
        if not halo.width:
            return x
        hy = halo_row_operand(plan, y, halo_r)
        hx = CSR_KERNELS.matmul.bind(halo_d, halo_i, halo_p, hy, shape=halo_shape,
                                     transpose=True, backend=backend)
        return return_halo(x, hx, send, method=halo.method, axis=plan.axis,
                           n_shards=plan.n_shards, shifts=halo.shifts, sizes=halo.sizes)

    return _shard_program(key, backend, dense_spec, per_shard)


def _dense_spec(As: ShardedCSR, x: jax.Array) -> P:
    """``P(axis)`` for vectors; for matrices keep a column sharding over another axis."""
    if x.ndim == 1:
        return P(As.axis)
    col = None
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.spec) > 1:
        col = sharding.spec[1]
    return P(As.axis, col)


def _apply(As: ShardedCSR, xs: jax.Array, backend: str | None, *,
           transpose: bool = False) -> jax.Array:
    """``As @ xs`` (or ``As.T @ xs``) for ``xs`` laid out and placed on the mesh."""
    dtype = result_dtype(As.dtype, xs.dtype)
    if xs.dtype != dtype:
        xs = xs.astype(dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    backend = _dispatch.choose("csr_matmul", backend)
    program = _local_product_transposed if transpose else _local_product
    return program(A.key, backend, _dense_spec(A, xs))(*_blocks(A), xs)


def in_layout(As: ShardedCSR, x: jax.Array, side: str) -> bool:
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


def placed(As: ShardedCSR, x: jax.Array) -> jax.Array:
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
    if in_layout(As, x, "cols"):
        return _apply(As, placed(As, x), backend)
    return As.unshard_vector(_apply(As, As.shard_vector(x, "cols"), backend), "rows")


def matmul_transposed(As: ShardedCSR, y, *, backend: str | None = None) -> jax.Array:
    """``As.T @ y``: the transpose of the halo product (reverse exchange, partial sums
    accumulated at their owners)."""
    y = as_dense(y, "y")
    if not in_layout(As, y, "rows"):
        ys = As.shard_vector(y, "rows")
        return As.unshard_vector(matmul_transposed(As, ys, backend=backend), "cols")
    return _apply(As, placed(As, y), backend, transpose=True)


def local_index_dtype(*extents: int):
    return index_dtype(*extents)


_HALO = ("halo_data", "halo_indices", "halo_indptr", "halo_rows", "send")


def _blocks(As: ShardedCSR):
    """The owned block's leaves in its layout, then the halo block's and the send list."""
    return own_leaves(As) + tuple(getattr(As, name) for name in _HALO)


def _n_own(plan) -> int:
    return 2 if plan.local_format == "dia" else 3


def sddmm(As: ShardedCSR, B, C, *, backend: str | None = None) -> ShardedCSR:
    """``As * (B @ C)`` on As's pattern, sharded by rows; ``B @ C`` is never formed.

    ``B``: ``(n, k)`` or already in the row layout (``As.shard_vector(B, "rows")``).
    ``C``: ``(k, m)``; its columns follow the column layout (the halo of ``C.T`` moves
    exactly like the halo of ``x`` in a product).
    """
    B, C = as_dense(B, "B"), as_dense(C, "C")
    n, m = As.shape
    if B.ndim != 2 or C.ndim != 2 or B.shape[1] != C.shape[0]:
        raise ValueError(f"B and C must be (n, k) and (k, m), got {B.shape} and {C.shape}")
    B = placed(As, B) if in_layout(As, B, "rows") else As.shard_vector(B, "rows")
    if C.shape[1] != m:
        raise ValueError(f"C must have {m} columns (A.shape[1]), got shape {C.shape}")
    Ct = As.shard_vector(C.T, "cols")
    dtype = result_dtype(As.dtype, B.dtype, C.dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    B, Ct = B.astype(dtype), Ct.astype(dtype)
    backend = _dispatch.choose("csr_sampled", backend)
    return A._with_local_values(*_sddmm_fn(A.key, backend)(*_blocks(A), B, Ct))


def _own_sampled(plan, own, b, ct, backend):
    """``own * (b @ ct.T)`` on the owned block's pattern, in its layout. On diagonals,
    slot ``(k, j)`` samples ``<b[j - o_k], ct[j]>``: the DIA product's data cotangent
    formula (zero out of the band, where the data is 0 too)."""
    shape = (plan.rows.block, plan.cols.block)
    if plan.local_format == "dia":
        data, offsets = own
        return data * dia_data_cotangent(b, offsets, ct, shape=shape, transpose=False,
                                         width=shape[1], n_diags=data.shape[0],
                                         dtype=data.dtype)
    data, indices, indptr = own
    return data * CSR_KERNELS.sampled.bind(indices, indptr, b, ct.T, shape=shape,
                                           backend=backend)


@functools.lru_cache(maxsize=64)
def _sddmm_fn(key, backend):
    plan, halo = key.plan, key.plan.halo
    n_own = _n_own(plan)

    def local(*args):
        own = tuple(a[0] for a in args[:n_own])
        halo_d, halo_i, halo_p, halo_r, send, b, ct = args[n_own:]
        hct = exchange(ct, send[0], method=halo.method, axis=plan.axis,
                       n_shards=plan.n_shards, shifts=halo.shifts, sizes=halo.sizes)
        own = _own_sampled(plan, own, b, ct, backend)
        hb = halo_row_operand(plan, b, halo_r[0])
        halo_vals = halo_d[0] * CSR_KERNELS.sampled.bind(
            halo_i[0], halo_p[0], hb, hct.T, shape=(plan.halo_block_rows, halo.width),
            backend=backend) if halo.width else halo_d[0]
        return own[None], halo_vals[None]

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * (n_own + 7),
                                 out_specs=(leaf, leaf), check_vma=_checks_vma(backend)))


def _local_row_sums(As: ShardedCSR):
    return _row_sums_fn(As.key)(*own_leaves(As), As.halo_data, As.halo_indptr, As.halo_rows)


@functools.lru_cache(maxsize=64)
def _row_sums_fn(key):
    plan = key.plan
    n_own = _n_own(plan)

    def local(*args):
        own = tuple(a[0] for a in args[:n_own])
        halo_d, halo_p, halo_r = args[n_own:]

        def row_sums(d, p):
            rows = csr_row_ids(p, d.shape[0])
            return jax.ops.segment_sum(d, rows, num_segments=p.shape[0] - 1, mode="drop")

        if plan.local_format == "dia":  # the owned block times ones (padding is 0)
            ones = jnp.ones(plan.cols.block, own[0].dtype)
            sums = own_matmul(plan, own, ones, transpose=False, backend=None)
        else:
            sums = row_sums(own[0], own[2])
        if plan.halo.width:
            sums = add_halo_rows(plan, sums, row_sums(halo_d[0], halo_p[0]), halo_r[0])
        return sums

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * (n_own + 3),
                                 out_specs=leaf))


def sum(As: ShardedCSR, axis: int | None = None) -> jax.Array:  # noqa: A001
    """Sum of entries: a scalar (``axis=None``), row sums in the row layout (``axis=1``)
    or column sums in the column layout (``axis=0``); SciPy's ``A.sum(axis)``."""
    if axis is None:
        return jnp.sum(As.own_data) + jnp.sum(As.halo_data)
    if axis in (1, -1):
        return _local_row_sums(As)
    if axis in (0, -2):
        return As.T @ As.mask.astype(As.dtype)  # padding rows hold 0
    raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")


def diagonal(As: ShardedCSR) -> jax.Array:
    """The main diagonal of a square sharded matrix, in the row (= column) layout."""
    if As.shape[0] != As.shape[1]:
        raise ValueError(f"diagonal needs a square matrix here, got shape {As.shape}")
    return _diagonal_fn(As.key)(*own_leaves(As))


@functools.lru_cache(maxsize=64)
def _diagonal_fn(key):
    plan = key.plan

    def local(*own):
        if plan.local_format == "dia":  # square: the main diagonal is offset 0
            data, offsets = own[0][0], own[1][0]
            main = jnp.where(offsets[:, None] == 0, data, 0).sum(axis=0)
            return main[: plan.rows.block]
        own_d, own_i, own_p = (a[0] for a in own)
        rows = csr_row_ids(own_p, own_d.shape[0])
        on_diag = own_i == rows  # square: rows and columns share one layout
        return jax.ops.segment_sum(jnp.where(on_diag, own_d, 0), rows,
                                   num_segments=plan.rows.block, mode="drop")

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * _n_own(plan),
                                 out_specs=leaf))
