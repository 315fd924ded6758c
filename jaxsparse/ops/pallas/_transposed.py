"""``A.T @ b`` for CSR ``A`` without converting it: slots scatter into ``b``'s rows.

Scheme (docs/kernels.md): each program owns a fixed run of slots (``chunks`` chunks of
``lanes``), so work is balanced whatever the row lengths. A slot's row comes from a
binary search of ``indptr`` (``_rows.slot_rows``); its product ``data * b[row]`` is
added atomically at its column. Two slots of one chunk may share a column (a banded
matrix has them in neighbouring rows), and one atomic call must not name an address
twice (``_launch.add_at``), so a chunk is added in rounds: round ``t`` takes the slots
with exactly ``t`` earlier slots of the same column. Lanes that add nothing go to a
dump row of their own, past the result's rows.

Atomics make the order of additions, so the last bits of a float result, vary run to
run on a GPU (the xla backend's scatter-add does the same).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from . import _launch, _rows


class Blocks(NamedTuple):
    """``lanes`` slots a chunk, ``chunks`` chunks a program, ``columns`` of a matrix
    ``b`` a program (powers of two)."""

    lanes: int
    chunks: int
    columns: int


def blocks_for(b_ndim: int, n_cols: int) -> Blocks:
    """32 slots a chunk for vectors (16 with a 2-D accumulator), 8 chunks a program."""
    if b_ndim == 1:
        return Blocks(lanes=32, chunks=8, columns=1)
    return Blocks(lanes=16, chunks=8, columns=_launch.pow2(n_cols, 8, 64))


def _repeat_rank(col, valid, lanes):
    """How many earlier lanes of the chunk hold the same column (valid lanes only)."""
    same = (col[:, None] == col[None, :]) & valid[:, None] & valid[None, :]
    earlier = same & (lanes[None, :] < lanes[:, None])
    return jnp.sum(earlier.astype(jnp.int32), axis=1)


def _kernel(indptr_ref, data_ref, idx_ref, b_ref, zeros_ref, out_ref, *, blocks,
            n_rows, n_out, acc):
    del zeros_ref  # the same buffer as out_ref (aliased)
    lanes = jnp.arange(blocks.lanes)
    dump = n_out + lanes  # one spare row per lane
    nnz = indptr_ref[n_rows]
    base = pl.program_id(0) * blocks.lanes * blocks.chunks
    matrix = b_ref.ndim == 2
    if matrix:
        cols = pl.program_id(1) * blocks.columns + jnp.arange(blocks.columns)
        in_b = cols < b_ref.shape[1]

    def chunk(c, carry):
        slots = base + c * blocks.lanes + lanes
        valid = slots < nnz
        row = _rows.slot_rows(indptr_ref, jnp.where(valid, slots, 0), n_rows)
        col = _launch.load(idx_ref, slots, valid, idx_ref.dtype)
        valid = valid & (col >= 0) & (col < n_out)
        value = _launch.load(data_ref, slots, valid, acc)
        if matrix:
            b_rows = _launch.load(b_ref, (row[:, None], cols[None, :]),
                                  valid[:, None] & in_b[None, :], acc)
            products = value[:, None] * b_rows
        else:
            products = value * _launch.load(b_ref, row, valid, acc)
        rank = _repeat_rank(col, valid, lanes)

        def add_round(t, carry):
            now = valid & (rank == t)
            target = jnp.where(now, col, dump)
            if matrix:
                _launch.add_at(out_ref, (target[:, None], cols[None, :]), products,
                               now[:, None] & in_b[None, :])
            else:
                _launch.add_at(out_ref, target, products, now)
            return carry

        return lax.fori_loop(0, jnp.max(rank) + 1, add_round, carry)

    lax.fori_loop(0, blocks.chunks, chunk, 0)


def csr_matmul_transposed(data, indices, indptr, b, *, n_rows: int, n_cols: int, acc,
                          blocks: Blocks | None = None):
    """``A.T @ b`` in the ``acc`` dtype for an ``(n_rows, n_cols)`` CSR ``A``."""
    if blocks is None:
        blocks = blocks_for(b.ndim, b.shape[-1])
    per_program = blocks.lanes * blocks.chunks
    grid = (pl.cdiv(indices.shape[0], per_program),)
    trailing = ()
    if b.ndim == 2:
        grid += (pl.cdiv(b.shape[1], blocks.columns),)
        trailing = (grid[1] * blocks.columns,)
    zeros = jnp.zeros((n_cols + blocks.lanes,) + trailing, acc)
    body = functools.partial(_kernel, blocks=blocks, n_rows=n_rows, n_out=n_cols, acc=acc)
    out = _launch.launch(body, (indptr, data, indices, b, zeros), grid=grid,
                         out_shape=zeros.shape, dtype=acc, accumulate_into=4)
    return out[:n_cols, :b.shape[1]] if b.ndim == 2 else out[:n_cols]
