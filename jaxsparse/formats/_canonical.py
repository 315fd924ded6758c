"""Canonical-form kernels shared by COO, CSR/CSC and BSR: sort, sum duplicates, compact.

Every format reduces to a list of entry *keys* (COO coordinates; CSR ``(row, col)``;
BSR ``(block row, block col)``) plus ``data`` whose first axis is the entry slot.
Padding slots have ``keys[0] == bounds[0]`` (the sentinel) and value 0.

All kernels here are jit-able at a fixed capacity: they sort (stable, padding last),
segment-sum and scatter, and never slice to a data-dependent size. Each is one compiled
program (``jax.jit``, bounds and capacities static): an eager call is one dispatch, and
its first call one compile rather than one per ``jnp`` primitive. Only the *choice* of
output capacity in :func:`eliminate_zeros` looks at concrete values, and only when the
input is concrete (the two-phase rule: structure on the host, values under jit).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..ops._scan import prefix_sum
from . import _validate
from ._base import mask_values

Keys = tuple[jax.Array, ...]


def _expand(mask: jax.Array, ndim: int) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (ndim - 1))


@functools.partial(jax.jit, static_argnames="bounds")
def normalize_padding(keys: Keys, bounds: tuple[int, ...], data: jax.Array):
    """Slots with ``keys[0]`` out of range become full padding (every key a sentinel)."""
    valid = keys[0] < bounds[0]
    keys = tuple(jnp.where(valid, k, b).astype(k.dtype) for k, b in zip(keys, bounds, strict=True))
    return keys, mask_values(_expand(valid, data.ndim), data), valid


@functools.partial(jax.jit, static_argnames="bounds")
def sort_entries(keys: Keys, bounds: tuple[int, ...], data: jax.Array):
    """Stable sort by ``keys`` (``keys[0]`` primary); padding sorts last."""
    keys, data, _ = normalize_padding(keys, bounds, data)
    if data.shape[0] < 2:
        return keys, data
    order = jnp.lexsort(tuple(reversed(keys)))
    return tuple(k[order] for k in keys), data[order]


@functools.partial(jax.jit, static_argnames="bounds")
def sum_duplicates(keys: Keys, bounds: tuple[int, ...], data: jax.Array):
    """Sort, sum entries with equal keys into the first slot of each run, pad the tail.

    Returns ``(keys, data, n_unique)`` at the input capacity: unique entries first
    (sorted), padding after. Summed zeros are kept, as in SciPy.
    """
    keys, data = sort_entries(keys, bounds, data)
    cap = data.shape[0]
    if cap == 0:
        return keys, data, jnp.zeros((), keys[0].dtype)
    idx = keys[0].dtype
    valid = keys[0] < bounds[0]
    new_run = jnp.zeros(cap - 1, bool)
    for k in keys:
        new_run = new_run | (k[1:] != k[:-1])
    first = valid & jnp.concatenate([jnp.ones(1, bool), new_run])
    seg = prefix_sum(first, idx) - 1
    seg = jnp.where(valid, seg, cap)  # padding is dropped by segment_sum
    acc = data.astype(np.int32) if data.dtype == np.bool_ else data
    summed = jax.ops.segment_sum(acc, seg, num_segments=cap, mode="drop")
    summed = (summed != 0) if data.dtype == np.bool_ else summed
    target = jnp.where(first, seg, cap)
    new_keys = tuple(
        jnp.full(cap, b, k.dtype).at[target].set(k, mode="drop")
        for k, b in zip(keys, bounds, strict=True)
    )
    return new_keys, summed.astype(data.dtype), jnp.sum(first, dtype=idx)


@functools.partial(jax.jit, static_argnames=("bounds", "capacity"))
def compact(keys: Keys, bounds: tuple[int, ...], data: jax.Array, keep: jax.Array, capacity: int):
    """Move the ``keep`` slots to the front (order kept) in an array of ``capacity``.

    Kept slots past ``capacity`` are dropped (the caller picks a large enough one).
    """
    idx = keys[0].dtype
    target = jnp.where(keep, prefix_sum(keep, idx) - 1, capacity)
    new_keys = tuple(
        jnp.full(capacity, b, k.dtype).at[target].set(k, mode="drop")
        for k, b in zip(keys, bounds, strict=True)
    )
    new_data = jnp.zeros((capacity,) + data.shape[1:], data.dtype)
    new_data = new_data.at[target].set(data, mode="drop")
    return new_keys, new_data


@functools.partial(jax.jit, static_argnames="bounds")
def nonzero_slots(keys: Keys, bounds: tuple[int, ...], data: jax.Array) -> jax.Array:
    """Real slots whose value (or whole block, for BSR) is nonzero."""
    nonzero = data != 0
    if data.ndim > 1:
        nonzero = jnp.any(nonzero, axis=tuple(range(1, data.ndim)))
    return (keys[0] < bounds[0]) & nonzero


def eliminate_zeros(keys: Keys, bounds: tuple[int, ...], data: jax.Array, nse):
    """Drop explicit zeros. Two phases:

    - concrete input: the output capacity is the exact count (or ``nse`` if given, which
      must be at least that count);
    - traced input: the capacity stays the input's (or ``nse``, a static int; kept
      entries past it would be lost, as with ``jnp.nonzero(size=)``), zeros become
      padding moved to the tail.
    """
    keep = nonzero_slots(keys, bounds, data)
    _validate.check_nse(nse)
    if _validate.is_concrete(data, *keys):
        count = int(jnp.sum(keep))
        if nse is None:
            nse = count
        elif nse < count:
            raise ValueError(
                f"eliminate_zeros: nse={nse} is smaller than the number of nonzeros ({count})"
            )
    elif nse is None:
        nse = data.shape[0]
    return compact(keys, bounds, data, keep, int(nse))


@functools.partial(jax.jit, static_argnames="n_major")
def indptr_from_major(major: jax.Array, n_major: int) -> jax.Array:
    """``indptr`` of sorted major keys (sentinels ``>= n_major`` are not counted)."""
    idx = major.dtype
    counts = jnp.zeros(n_major, idx).at[major].add(1, mode="drop")
    return jnp.concatenate([jnp.zeros(1, idx), prefix_sum(counts, idx)])
