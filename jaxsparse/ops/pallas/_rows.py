"""Row bookkeeping shared by the kernels: which row a slot is in, and long rows cut
into pieces so that no program walks a row much longer than the others."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def slot_rows(indptr_ref, slots: jax.Array, n_rows: int) -> jax.Array:
    """The row of each slot (inside a kernel): the largest ``r`` with
    ``indptr[r] <= slot``, by a binary search all lanes run together.

    Empty rows share their ``indptr`` value with the next row, and the search lands on
    the last of them, the one that holds the slot. ``n_rows.bit_length()`` halvings
    reach any of ``n_rows`` rows; the loop count is static, so the lanes stay in step.
    """

    def halve(_, bounds):
        lo, hi = bounds
        mid = lax.div(lo + hi + 1, 2)
        right = indptr_ref[mid] <= slots
        return jnp.where(right, mid, lo), jnp.where(right, hi, mid - 1)

    lo = jnp.zeros_like(slots)
    hi = jnp.full_like(slots, n_rows - 1)
    lo, _ = lax.fori_loop(0, n_rows.bit_length(), halve, (lo, hi))
    return lo


def split_rows(indptr: jax.Array, n_rows: int, capacity: int, piece: int):
    """Cut every row into pieces of at most ``piece`` slots (outside the kernel).

    Returns ``(starts, ends, owner)``, each of the static length
    ``n_rows + capacity // piece`` (an upper bound on the number of pieces). Piece
    ``v`` covers slots ``starts[v]:ends[v]`` of row ``owner[v]``; unused pieces are
    empty and owned by the sentinel row ``n_rows``. Owners are sorted, so the partial
    sums fold back into rows with one sorted segment sum.
    """
    count = n_rows + capacity // piece
    lengths = indptr[1:] - indptr[:-1]
    pieces = jnp.maximum(1, (lengths + piece - 1) // piece)
    first = jnp.cumsum(pieces) - pieces  # each row's first piece: strictly increasing
    marks = jnp.zeros(count, indptr.dtype).at[first].add(1, mode="drop")
    owner = jnp.cumsum(marks) - 1
    used = jnp.arange(count, dtype=indptr.dtype) < first[-1] + pieces[-1]
    starts = indptr[owner] + (jnp.arange(count, dtype=indptr.dtype) - first[owner]) * piece
    ends = jnp.minimum(starts + piece, indptr[owner + 1])
    zero = jnp.zeros((), indptr.dtype)
    return (jnp.where(used, starts, zero), jnp.where(used, ends, zero),
            jnp.where(used, owner, n_rows))
