"""DIA kernels, "xla" backend: shifted multiply-adds over contiguous slices (no gather).

Slot ``(k, j)`` of ``data`` (``n_diags x n_cols``) holds ``A[i, j]`` with ``i = j - o_k``;
it is in the band when ``0 <= i < n_rows`` and ``j < width``. Diagonal ``k`` contributes

- ``A @ b``:   ``y[i] += data[k, i + o] * b[i + o]`` -- the product of a slice of
  ``data[k]`` and the same slice of ``b``, shifted by ``o`` into ``y``;
- ``A.T @ b``: ``y[j] += data[k, j] * b[j - o]`` -- ``data[k]`` times ``b`` shifted by
  ``-o``.

Offsets are a traced leaf under ``jit``, so a shift is a ``lax.dynamic_slice`` of a
zero-padded vector. Each diagonal's padded vector depends on ``k`` (it is masked to the
band first), so XLA fuses pad, slice, multiply and the sum over diagonals into one loop
over the output: per diagonal it reads one row of ``data`` and the vector, nothing else.
Out-of-band slots are masked on the product (a select, not a multiply by 0), so an
``inf`` in ``b`` meeting a padding zero, or garbage in padding slots, never reaches
``y``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from . import _dispatch
from ._reference import accumulation_dtype, operand_rows

# Up to this many diagonals the loop is unrolled at trace time (one fused loop);
# beyond, a ``fori_loop`` runs ``_CHUNK`` unrolled diagonals per step (bounded compiles).
_UNROLL = 16
_CHUNK = 8


def _mask(ok: jax.Array, v: jax.Array) -> jax.Array:
    ok = ok.reshape(ok.shape + (1,) * (v.ndim - ok.ndim))
    return jnp.where(ok, v, jnp.zeros((), v.dtype))


def _shift(v: jax.Array, start, length: int) -> jax.Array:
    """``w[t] = v[t + start - length]`` for ``t < length`` (0 outside ``v``).

    ``start`` (traced) must lie in ``[0, len(v) + length]`` for the result to be exact;
    callers only pass a ``start`` outside that range when ``v`` is all zeros.
    """
    pad = [(length, length)] + [(0, 0)] * (v.ndim - 1)
    return lax.dynamic_slice_in_dim(jnp.pad(v, pad), start, length, axis=0)


class _Band:
    """Masks and shifts of diagonal ``k`` for a ``(n, m)`` matrix of band ``width``."""

    def __init__(self, data, offsets, *, shape, width):
        self.n, self.m = shape
        self.width = self.m if width is None else min(width, self.m)
        self.data, self.offsets = data, offsets
        self.rows = jnp.arange(self.n, dtype=offsets.dtype)
        self.cols = jnp.arange(self.m, dtype=offsets.dtype)

    def offset(self, k):
        return self.offsets[k] if isinstance(k, int) else lax.dynamic_index_in_dim(
            self.offsets, k, keepdims=False)

    def row(self, k):
        return self.data[k] if isinstance(k, int) else lax.dynamic_index_in_dim(
            self.data, k, keepdims=False)

    def col_ok(self, o):
        """In-band columns ``j`` of diagonal ``o`` (length ``m``)."""
        c = self.cols
        return (c >= o) & (c - o < self.n) & (c < self.width)

    def in_width(self, v):
        """``v`` (indexed by column) with the columns past ``width`` zeroed; ``v`` itself
        when the band spans every column."""
        return v if self.width == self.m else _mask(self.cols < self.width, v)

    def cols_to_rows(self, v, o):
        """``w[i] = v[i + o]`` (``v`` indexed by column, ``w`` by row)."""
        return _shift(v, o + self.n, self.n)

    def rows_to_cols(self, v, o):
        """``w[j] = v[j - o]`` (``v`` indexed by row, ``w`` by column)."""
        return _shift(v, self.m - o, self.m)


def _accumulate(term, count: int, init: jax.Array) -> jax.Array:
    """``init + sum(term(k) for k < count)``, unrolled or chunked in a ``fori_loop``."""
    if count <= _UNROLL:
        return sum((term(k) for k in range(count)), init)
    steps = count // _CHUNK

    def body(s, y):
        return sum((term(s * _CHUNK + c) for c in range(_CHUNK)), y)

    # The first chunk outside the loop: the carry then has the terms' type (inside a
    # ``shard_map`` the terms vary over the mesh axis while ``init`` may not).
    y = lax.fori_loop(1, steps, body, body(0, init))
    return sum((term(k) for k in range(steps * _CHUNK, count)), y)


def dia_matmul(data, offsets, b, *, shape, transpose, width=None, b_start=0):
    """``A @ b`` (or ``A.T @ b``) for DIA ``(data, offsets)``; ``b`` 1-D or 2-D.

    ``width`` (default ``n_cols``): columns ``>= width`` are out of the band. ``b_start``:
    the operand is ``b[b_start:]`` (the rows before it are never read). bf16/f16
    accumulate in f32. Plain ``jnp``; the ``"xla"`` lowering of ``dia_matmul``.
    """
    b = operand_rows(b, b_start)
    n, m = shape
    out_rows = m if transpose else n
    out_dtype = b.dtype
    acc = accumulation_dtype(out_dtype)
    n_diags = data.shape[0]
    zeros = jnp.zeros((out_rows,) + b.shape[1:], acc)
    if n_diags == 0 or n == 0 or m == 0:
        return zeros.astype(out_dtype)
    band = _Band(data, offsets, shape=shape, width=width)
    b = jnp.asarray(b, acc)

    def expand(v):  # a per-slot coefficient against a 1-D or 2-D b
        return v.reshape(v.shape + (1,) * (b.ndim - 1))

    # The band mask applies to the product, never to ``data`` alone: a masked copy of
    # a diagonal depends on nothing that changes inside a solver's loop, and XLA then
    # hoists every diagonal's copy out of the loop (a second copy of the whole matrix
    # held for the solve; seen in ``memory_analysis``). For the same reason ``A @ b``
    # masks nothing it need not: shifting a diagonal into row order already drops the
    # slots above and below the band (their rows fall outside ``y``), so only columns
    # past ``width`` need a mask, and every diagonal's mask (a byte per column) is no
    # longer hoisted out of solver loops.
    if transpose:
        def term(k):
            o = band.offset(k)
            coef = expand(band.row(k).astype(acc))
            return _mask(band.col_ok(o), coef * band.rows_to_cols(b, o))
    else:
        def term(k):
            o = band.offset(k)
            coef = expand(band.row(k).astype(acc))
            return band.cols_to_rows(band.in_width(coef * b), o)

    return _accumulate(term, n_diags, zeros).astype(out_dtype)


def dia_data_cotangent(ct, offsets, b, *, shape, transpose, width, n_diags, dtype):
    """The cotangent of ``data`` for ``y = dia_matmul(data, offsets, b, ...)``.

    ``y[i] += data[k, j] b[j]`` (``i = j - o_k``) gives ``ct_data[k, j] = <ct[i], b[j]>``;
    transposed, ``y[j] += data[k, j] b[i]`` gives ``<ct[j], b[i]>``: in both, a vector
    indexed by column times one indexed by row read at ``i = j - o_k``, summed over the
    trailing axis. Zero at out-of-band slots (both factors are masked first). Plain
    ``jnp``, so it is differentiable again.

    This one gathers: its ``(n_diags, n_cols)`` output costs more than the gather, and
    on the CPU one fused gather beat per-diagonal shifted slices (stacked, or written in
    place) by 1.5-2x, and compiles in constant time.
    """
    n, m = shape
    width = m if width is None else min(width, m)
    acc = accumulation_dtype(ct.dtype)
    if n_diags == 0 or n == 0 or m == 0:
        return jnp.zeros((n_diags, m), dtype)
    by_col, by_row = (ct, b) if transpose else (b, ct)
    by_col, by_row = jnp.asarray(by_col, acc), jnp.asarray(by_row, acc)
    cols = jnp.arange(m, dtype=offsets.dtype)
    rows = cols[None, :] - offsets[:, None]  # the row of every slot (k, j)
    ok = (rows >= 0) & (rows < n) & (cols[None, :] < width)
    picked = by_row.at[jnp.clip(rows, 0, n - 1)].get(mode="promise_in_bounds")
    prod = _mask(ok, by_col[None]) * _mask(ok, picked)
    out = jnp.sum(prod, axis=tuple(range(2, prod.ndim)))
    if jnp.issubdtype(out.dtype, jnp.complexfloating) and not jnp.issubdtype(
            dtype, jnp.complexfloating):
        out = jnp.real(out)
    return out.astype(dtype)


_dispatch.register("dia_matmul", "xla")(dia_matmul)
