"""Sharded SDDMM, reductions and diagonal: each shard works on its own blocks, in their
local layout (CSR, or diagonals for the owned block; see ``plan.local_format``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from ..ops import _dispatch
from ..ops._dia_kernel import dia_data_cotangent
from ..ops._dtypes import as_dense, result_dtype
from ..ops._primitives import CSR_KERNELS
from ..ops._reference import csr_row_ids
from ._collectives import exchange
from ._sharded import (
    ShardedCSR,
    _in_layout,
    _placed,
    add_halo_rows,
    halo_row_operand,
    own_leaves,
    own_matmul,
)

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
    B = _placed(As, B) if _in_layout(As, B, "rows") else As.shard_vector(B, "rows")
    if C.shape[1] != m:
        raise ValueError(f"C must have {m} columns (A.shape[1]), got shape {C.shape}")
    Ct = As.shard_vector(C.T, "cols")
    dtype = result_dtype(As.dtype, B.dtype, C.dtype)
    A = As if As.dtype == dtype else As.astype(dtype)
    B, Ct = B.astype(dtype), Ct.astype(dtype)
    backend = _dispatch.pick("csr_sampled", backend)
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
                                 out_specs=(leaf, leaf)))


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
            sums = own_matmul(plan, own, ones, transpose=False,
                              backend=_dispatch.pick("dia_matmul"))
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
