"""Sharded SDDMM, reductions and diagonal: each shard works on its own blocks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from ..ops import _dispatch
from ..ops._dtypes import as_dense, result_dtype
from ..ops._primitives import CSR_KERNELS
from ..ops._reference import csr_row_ids
from ._collectives import exchange
from ._sharded import ShardedCSR, _in_layout, _placed

_BLOCKS = ("own_data", "own_indices", "own_indptr", "halo_data", "halo_indices",
           "halo_indptr", "send")


def _blocks(As: ShardedCSR):
    return tuple(getattr(As, name) for name in _BLOCKS)


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
    B = _placed(As, B) if _in_layout(As, B, "rows") else As.shard_vector(B, "rows")
    if C.shape[1] != m:
        raise ValueError(f"C must have {m} columns (A.shape[1]), got shape {C.shape}")
    Ct = As.shard_vector(C.T, "cols")
    dtype = result_dtype(As.dtype, B.dtype, C.dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    B, Ct = B.astype(dtype), Ct.astype(dtype)
    backend = _dispatch.pick("csr_sampled", backend)
    return A.with_values(_sddmm_fn(A.key, backend)(*_blocks(A), B, Ct))


@functools.lru_cache(maxsize=64)
def _sddmm_fn(key, backend):
    plan, halo = key.plan, key.plan.halo

    def local(own_d, own_i, own_p, halo_d, halo_i, halo_p, send, b, ct):
        hct = exchange(ct, send[0], method=halo.method, axis=plan.axis,
                       n_shards=plan.n_shards, shifts=halo.shifts, sizes=halo.sizes)
        own = own_d[0] * CSR_KERNELS.sampled.bind(
            own_i[0], own_p[0], b, ct.T, shape=(plan.rows.block, plan.cols.block),
            backend=backend)
        halo_vals = halo_d[0] * CSR_KERNELS.sampled.bind(
            halo_i[0], halo_p[0], b, hct.T, shape=(plan.rows.block, halo.width),
            backend=backend) if halo.width else halo_d[0]
        return own[None], halo_vals[None]

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * 9,
                                 out_specs=(leaf, leaf)))


def _local_row_sums(As: ShardedCSR):
    return _row_sums_fn(As.key)(As.own_data, As.own_indptr, As.halo_data, As.halo_indptr)


@functools.lru_cache(maxsize=64)
def _row_sums_fn(key):
    plan = key.plan

    def local(own_d, own_p, halo_d, halo_p):
        def row_sums(d, p):
            rows = csr_row_ids(p[0], d.shape[1])
            return jax.ops.segment_sum(d[0], rows, num_segments=plan.rows.block,
                                       mode="drop")

        if not plan.halo.width:
            return row_sums(own_d, own_p)
        return row_sums(own_d, own_p) + row_sums(halo_d, halo_p)

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * 4,
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
    return _diagonal_fn(As.key)(As.own_data, As.own_indices, As.own_indptr)


@functools.lru_cache(maxsize=64)
def _diagonal_fn(key):
    plan = key.plan

    def local(own_d, own_i, own_p):
        rows = csr_row_ids(own_p[0], own_d.shape[1])
        on_diag = own_i[0] == rows  # square: rows and columns share one layout
        return jax.ops.segment_sum(jnp.where(on_diag, own_d[0], 0), rows,
                                   num_segments=plan.rows.block, mode="drop")

    leaf = P(plan.axis)
    return jax.jit(jax.shard_map(local, mesh=key.mesh, in_specs=(leaf,) * 3,
                                 out_specs=leaf))
