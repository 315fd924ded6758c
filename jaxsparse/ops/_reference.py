"""The "xla" backend: plain ``jax.numpy`` kernels that run on every platform.

They are the oracle for the Pallas and native kernels and the fallback everywhere.
Padding slots carry a sentinel index one past the end, so gathers use ``mode="fill"``
(the padded value 0 times a filled 0 is 0, never ``0 * inf``) and scatters drop them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _dispatch
from ._scan import prefix_sum

_LOW_PRECISION = {np.dtype(jnp.bfloat16), np.dtype(np.float16)}


def operand_rows(b, b_start: int):
    """``b[b_start:]``: the operand of a product bound with ``b_start`` (``b`` starts
    ``b_start`` rows early; see ``DIA._matmul``)."""
    return b if b_start == 0 else jax.lax.slice_in_dim(b, b_start, b.shape[0])


def before_operand_rows(ct_b, b_start: int):
    """The cotangent of a ``b`` bound with ``b_start`` from its operand's ``ct_b``: the
    rows before the operand get zeros."""
    if b_start == 0:
        return ct_b
    return jnp.pad(ct_b, [(b_start, 0)] + [(0, 0)] * (ct_b.ndim - 1))


def accumulation_dtype(dtype) -> np.dtype:
    """bf16/f16 accumulate in f32; bool accumulates as int32; everything else as is."""
    dtype = np.dtype(dtype)
    if dtype in _LOW_PRECISION:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.int32)
    return dtype


@functools.partial(jax.jit, static_argnames="capacity")
def csr_row_ids(indptr: jax.Array, capacity: int) -> jax.Array:
    """Row of every entry slot; slots past ``indptr[-1]`` get ``n_rows`` (the sentinel).

    One scatter of the ``n_rows + 1`` row starts and a cumulative sum: O(nnz + n_rows).
    """
    starts = jnp.zeros(capacity + 1, indptr.dtype).at[indptr].add(1, mode="drop")
    return (prefix_sum(starts, indptr.dtype) - 1)[:capacity]


def _gather_rows(b: jax.Array, idx: jax.Array) -> jax.Array:
    if b.shape[0] == 0:  # XLA cannot gather from an empty axis; every slot is padding
        return jnp.zeros(idx.shape + b.shape[1:], b.dtype)
    return b.at[idx].get(mode="fill", fill_value=0)


def coo_matmul(data, row, col, b, *, shape, transpose):
    """``A @ b`` (or ``A.T @ b``) for the COO triple; ``b`` is 1-D or 2-D."""
    n_rows, n_cols = shape
    if transpose:
        row, col, n_rows = col, row, n_cols
    out_dtype = b.dtype
    acc = accumulation_dtype(out_dtype)
    gathered = _gather_rows(b, col).astype(acc)
    scale = data.astype(acc).reshape(data.shape + (1,) * (b.ndim - 1))
    out = jax.ops.segment_sum(scale * gathered, row, num_segments=n_rows, mode="drop")
    return out.astype(out_dtype)


def coo_sampled(row, col, p, q, *, shape):
    """``(p @ q)[row[k], col[k]]`` for every slot ``k``, without forming ``p @ q``."""
    out_dtype = p.dtype
    acc = accumulation_dtype(out_dtype)
    left = _gather_rows(p, row).astype(acc)
    right = _gather_rows(q.T, col).astype(acc)
    return jnp.sum(left * right, axis=1).astype(out_dtype)


@_dispatch.register("coo_matmul", "xla")
def _coo_matmul(data, row, col, b, *, shape, transpose):
    return coo_matmul(data, row, col, b, shape=shape, transpose=transpose)


@_dispatch.register("coo_sampled", "xla")
def _coo_sampled(row, col, p, q, *, shape):
    return coo_sampled(row, col, p, q, shape=shape)


@_dispatch.register("csr_matmul", "xla")
def _csr_matmul(data, indices, indptr, b, *, shape, transpose, b_start=0):
    row = csr_row_ids(indptr, indices.shape[0])
    return coo_matmul(data, row, indices, operand_rows(b, b_start), shape=shape,
                      transpose=transpose)


@_dispatch.register("csr_offsets_matvec", "xla")
def csr_offsets_matvec(data, indices, indptr, offsets, b, *, shape):
    """CSR ``A @ b`` reading slot ``k`` of row ``r`` at column ``r + offsets[k]`` (the
    native kernel's twin, ``csrc/csr_offsets.cc``); columns outside ``[0, n_cols)`` are
    dropped, as out-of-range indices are."""
    del indices
    row = csr_row_ids(indptr, offsets.shape[0])
    col = row + offsets.astype(row.dtype)
    col = jnp.where((col >= 0) & (col < shape[1]), col, shape[1])  # not wrapped: dropped
    return coo_matmul(data, row, col, b, shape=shape, transpose=False)


@_dispatch.register("csr_sampled", "xla")
def _csr_sampled(indices, indptr, p, q, *, shape):
    row = csr_row_ids(indptr, indices.shape[0])
    return coo_sampled(row, indices, p, q, shape=shape)
