"""SDDMM core: ``(p @ q)[row_k, col_k]`` for every slot ``k``, never forming ``p @ q``.

Scheme (docs/kernels.md): each program owns ``slots`` consecutive slots and walks the
inner dimension ``depth`` at a time, reading a ``slots x depth`` tile of ``p``'s rows
and of ``q.T``'s rows (both contiguous runs) and summing their products. Programs own
disjoint slots: no atomics, and the work is balanced whatever the row lengths. A CSR
slot's row comes from a binary search of ``indptr``; COO carries it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from . import _launch, _rows


class Blocks(NamedTuple):
    """``slots`` a program, ``depth`` of the inner dimension a step (powers of two)."""

    slots: int
    depth: int


def blocks_for(depth: int) -> Blocks:
    """64 slots a program; inner steps ~ the inner size (8..32)."""
    return Blocks(slots=64, depth=_launch.pow2(depth, 8, 32))


def _kernel(i0_ref, i1_ref, p_ref, qt_ref, out_ref, *, blocks, is_csr, n_rows, n_cols,
            acc):
    slots = pl.program_id(0) * blocks.slots + jnp.arange(blocks.slots)
    valid = slots < out_ref.shape[0]
    if is_csr:  # i0 is indptr: slots past its last entry are padding
        valid = valid & (slots < i0_ref[n_rows])
        row = _rows.slot_rows(i0_ref, jnp.where(valid, slots, 0), n_rows)
    else:
        row = _launch.load(i0_ref, slots, valid, i0_ref.dtype)
    col = _launch.load(i1_ref, slots, valid, i1_ref.dtype)
    valid = valid & (row >= 0) & (row < n_rows) & (col >= 0) & (col < n_cols)
    inner = p_ref.shape[1]

    def step(j, total):
        ks = j * blocks.depth + jnp.arange(blocks.depth)
        mask = valid[:, None] & (ks < inner)[None, :]
        left = _launch.load(p_ref, (row[:, None], ks[None, :]), mask, acc)
        right = _launch.load(qt_ref, (col[:, None], ks[None, :]), mask, acc)
        return total + jnp.sum(left * right, axis=1)

    total = lax.fori_loop(0, pl.cdiv(inner, blocks.depth), step,
                          jnp.zeros(blocks.slots, acc))
    _launch.store(out_ref, slots, total, slots < out_ref.shape[0])


def sampled(i0, i1, p, q, *, is_csr: bool, n_rows: int, n_cols: int, acc,
            blocks: Blocks | None = None):
    """``(p @ q)`` at each slot, in the ``acc`` dtype; ``(i0, i1)`` is ``(indptr,
    indices)`` when ``is_csr``, else ``(row, col)``."""
    if blocks is None:
        blocks = blocks_for(p.shape[1])
    capacity = i1.shape[0]
    body = functools.partial(_kernel, blocks=blocks, is_csr=is_csr, n_rows=n_rows,
                             n_cols=n_cols, acc=acc)
    qt = jnp.transpose(q)  # (n_cols, inner): both tiles read along contiguous rows
    return _launch.launch(body, (i0, i1, p, qt), grid=(pl.cdiv(capacity, blocks.slots),),
                          out_shape=(capacity,), dtype=acc)
