"""BSR kernels, "xla" backend: gather blocks of ``b``, one batched block product,
one segment sum.

Padding block slots sit past ``indptr[-1]`` (their block row is the sentinel ``n_rows //
R``) at the sentinel block column ``n_cols // C``: their gathers are filled with 0 (never
``0 * inf``) and the segment sum drops them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _dispatch
from ._reference import accumulation_dtype, csr_row_ids


def _blocks_of(v: jax.Array, n_blocks: int, size: int, acc) -> jax.Array:
    """A 1-D or 2-D ``v`` of ``n_blocks * size`` rows as ``(n_blocks, size, k)``."""
    v2 = jnp.asarray(v)
    v2 = v2[:, None] if v2.ndim == 1 else v2
    return v2.reshape(n_blocks, size, v2.shape[1]).astype(acc)


def _gather(blocks: jax.Array, idx: jax.Array) -> jax.Array:
    if blocks.shape[0] == 0:
        return jnp.zeros(idx.shape + blocks.shape[1:], blocks.dtype)
    return blocks.at[idx].get(mode="fill", fill_value=0)


def bsr_matmul(data, indices, indptr, b, *, shape, transpose):
    """``A @ b`` (or ``A.T @ b``) for BSR ``(data, indices, indptr)``; ``b`` 1-D or 2-D.

    bf16/f16 accumulate in f32. Plain ``jnp``; the ``"xla"`` lowering of ``bsr_matmul``.
    """
    n, m = shape
    cap, r, c = data.shape
    out_dtype = b.dtype
    acc = accumulation_dtype(out_dtype)
    k = 1 if b.ndim == 1 else b.shape[1]
    if transpose:
        n_out, size_out, n_in, size_in = m // c, c, n // r, r
    else:
        n_out, size_out, n_in, size_in = n // r, r, m // c, c
    if cap == 0 or n_in == 0 or n_out == 0:
        return jnp.zeros((n_out * size_out,) + b.shape[1:], out_dtype)
    brow = csr_row_ids(indptr, cap)
    src, dst = (brow, indices) if transpose else (indices, brow)
    blocks = data.astype(acc)
    if transpose:
        blocks = jnp.swapaxes(blocks, 1, 2)  # (cap, C, R)
    gathered = _gather(_blocks_of(b, n_in, size_in, acc), src)  # (cap, size_in, k)
    prod = jnp.einsum("sij,sjk->sik", blocks, gathered)
    out = jax.ops.segment_sum(prod, dst, num_segments=n_out, mode="drop")
    out = out.reshape(n_out * size_out, k).astype(out_dtype)
    return out[:, 0] if b.ndim == 1 else out


def bsr_data_cotangent(ct, indices, indptr, b, *, shape, transpose, blocksize, capacity,
                       dtype):
    """The cotangent of ``data`` for ``y = bsr_matmul(data, indices, indptr, b, ...)``.

    ``y[I] += data[s] @ b[J]`` (block row ``I``, block column ``J`` of slot ``s``) gives
    ``ct_data[s] = ct[I] @ b[J].T``; transposed, ``y[J] += data[s].T @ b[I]`` gives
    ``b[I] @ ct[J].T``. Padding slots gather zeros. Plain ``jnp``.
    """
    n, m = shape
    r, c = blocksize
    acc = accumulation_dtype(ct.dtype)
    nbr, nbc = n // r, m // c
    if capacity == 0 or nbr == 0 or nbc == 0:
        return jnp.zeros((capacity, r, c), dtype)
    by_row, by_col = (b, ct) if transpose else (ct, b)
    left = _gather(_blocks_of(by_row, nbr, r, acc), csr_row_ids(indptr, capacity))
    right = _gather(_blocks_of(by_col, nbc, c, acc), indices)
    out = jnp.einsum("sik,sjk->sij", left, right)
    if jnp.issubdtype(out.dtype, jnp.complexfloating) and not jnp.issubdtype(
            dtype, jnp.complexfloating):
        out = jnp.real(out)
    return out.astype(dtype)


_dispatch.register("bsr_matmul", "xla")(bsr_matmul)
