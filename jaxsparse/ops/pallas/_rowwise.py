"""``A @ b`` for CSR ``A``: each program owns a block of rows and writes their sums.

Scheme (docs/kernels.md): rows are independent, so no atomics and no cross-program
sums. A vector ``b`` is read with a tile of ``rows x lanes``: each row's slots are
walked ``lanes`` at a time, so a row of a few nonzeros still fills a tile with other
rows' work. A matrix ``b`` is read with a tile of ``rows x columns``: one slot per row
per step, each step reading a contiguous run of ``b``'s row.

A program runs as many steps as its longest row needs. A row much longer than the rest
(one row holding most of the nonzeros) would leave one program running alone, so when
the longest row exceeds ``piece`` slots, rows are cut into pieces first
(``_rows.split_rows``) and the pieces' sums folded back into rows. That branch is
chosen at run time (``lax.cond``); matrices without long rows never pay for it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from . import _launch, _rows


class Blocks(NamedTuple):
    """Static block sizes of a row-wise product: ``rows`` per program and ``lanes``
    (slots of a row for a vector ``b``, columns of ``b`` for a matrix), powers of two;
    rows longer than ``piece`` slots are cut."""

    rows: int
    lanes: int
    piece: int


def vector_blocks(capacity: int, n_rows: int) -> Blocks:
    """Lanes ~ the mean row length (4..64); 1024 lanes a program; rows cut past 32
    steps."""
    lanes = _launch.pow2(capacity / max(n_rows, 1), 4, 64)
    return Blocks(rows=1024 // lanes, lanes=lanes, piece=32 * lanes)


def matrix_blocks(n_cols: int) -> Blocks:
    """Columns ~ b's width (8..64); a 2048-element accumulator; rows cut past 128."""
    lanes = _launch.pow2(n_cols, 8, 64)
    return Blocks(rows=max(16, 2048 // lanes), lanes=lanes, piece=128)


def _vector_kernel(lo_ref, hi_ref, data_ref, idx_ref, b_ref, out_ref, *, blocks, shift,
                   n_out, n_b, acc):
    rows = pl.program_id(0) * blocks.rows + jnp.arange(blocks.rows)
    live = rows < n_out
    start = _launch.load(lo_ref, rows, live, lo_ref.dtype)
    end = _launch.load(hi_ref, rows + shift, live, hi_ref.dtype)
    lanes = jnp.arange(blocks.lanes)

    def step(j, total):
        slots = start[:, None] + j * blocks.lanes + lanes[None, :]
        valid = slots < end[:, None]
        col = _launch.load(idx_ref, slots, valid, idx_ref.dtype)
        valid = valid & (col >= 0) & (col < n_b)
        products = (_launch.load(data_ref, slots, valid, acc)
                    * _launch.load(b_ref, col, valid, acc))
        return total + jnp.sum(products, axis=1)

    steps = _launch.cdiv_traced(jnp.max(end - start), blocks.lanes)
    total = lax.fori_loop(0, steps, step, jnp.zeros(blocks.rows, acc))
    _launch.store(out_ref, rows, total, live)


def _matrix_kernel(lo_ref, hi_ref, data_ref, idx_ref, b_ref, out_ref, *, blocks, shift,
                   n_out, n_b, acc):
    rows = pl.program_id(0) * blocks.rows + jnp.arange(blocks.rows)
    cols = pl.program_id(1) * blocks.lanes + jnp.arange(blocks.lanes)
    live = rows < n_out
    in_b = cols < b_ref.shape[1]
    start = _launch.load(lo_ref, rows, live, lo_ref.dtype)
    end = _launch.load(hi_ref, rows + shift, live, hi_ref.dtype)

    def step(j, total):
        slots = start + j
        valid = slots < end
        col = _launch.load(idx_ref, slots, valid, idx_ref.dtype)
        valid = valid & (col >= 0) & (col < n_b)
        value = _launch.load(data_ref, slots, valid, acc)
        b_rows = _launch.load(b_ref, (col[:, None], cols[None, :]),
                              valid[:, None] & in_b[None, :], acc)
        return total + value[:, None] * b_rows

    steps = jnp.max(end - start)
    total = lax.fori_loop(0, steps, step, jnp.zeros((blocks.rows, blocks.lanes), acc))
    _launch.store(out_ref, (rows[:, None], cols[None, :]), total,
                  live[:, None] & in_b[None, :])


def _run(lo, hi, data, indices, b, *, n_out, shift, blocks, acc):
    """One launch over ``n_out`` row ranges ``lo[r]:hi[r + shift]``."""
    grid = (pl.cdiv(n_out, blocks.rows),)
    kernel = _vector_kernel
    if b.ndim == 2:
        grid += (pl.cdiv(b.shape[1], blocks.lanes),)
        kernel = _matrix_kernel
    body = functools.partial(kernel, blocks=blocks, shift=shift, n_out=n_out,
                             n_b=b.shape[0], acc=acc)
    return _launch.launch(body, (lo, hi, data, indices, b), grid=grid,
                          out_shape=(n_out,) + b.shape[1:], dtype=acc)


def csr_matmul(data, indices, indptr, b, *, n_rows: int, acc, blocks: Blocks | None = None):
    """``A @ b`` in the ``acc`` dtype for CSR ``A`` with ``n_rows`` rows; ``b`` 1-D or
    2-D. ``blocks`` defaults to the table in :func:`vector_blocks`/:func:`matrix_blocks`."""
    capacity = indices.shape[0]
    if blocks is None:
        blocks = (vector_blocks(capacity, n_rows) if b.ndim == 1
                  else matrix_blocks(b.shape[1]))
    run = functools.partial(_run, data=data, indices=indices, b=b, blocks=blocks, acc=acc)

    def whole_rows():
        return run(indptr, indptr, n_out=n_rows, shift=1)

    def pieces():
        starts, ends, owner = _rows.split_rows(indptr, n_rows, capacity, blocks.piece)
        partial = run(starts, ends, n_out=starts.shape[0], shift=0)
        return jax.ops.segment_sum(partial, owner, num_segments=n_rows,
                                   indices_are_sorted=True, mode="drop")

    if capacity <= blocks.piece:  # no row can be long
        return whole_rows()
    longest = jnp.max(indptr[1:] - indptr[:-1])
    return lax.cond(longest > blocks.piece, pieces, whole_rows)
