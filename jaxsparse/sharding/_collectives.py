"""The halo exchange, run inside ``shard_map`` on one shard's slice.

Three shapes of exchange, chosen by the plan:

- ``ppermute`` rounds, one per non-empty neighbour shift, each padded to its own
  maximum: a banded or stencil matrix talks to its two neighbours and nobody else;
- one ``all_to_all`` of ``(D, H)`` blocks when reads are scattered over every shard;
- ``all_gather`` of the whole vector when the halo is most of it anyway; on two
  shards one ``ppermute`` of the other shard's block instead (:func:`exchange`).

The transpose (``A.T @ y``) is :func:`return_halo`: the reversed ppermute, all_to_all
or a reduce-scatter, then a scatter-add that accumulates the partial sums at their
owners, exactly the paper's reduction for the transposed product. Gradients take JAX's
transposes of the same collectives.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_SWAP = [(0, 1), (1, 0)]  # two shards trade blocks


def trades_blocks(method: str, n_shards: int) -> bool:
    """Whether the halo is the other shard's whole block, moved by one ``ppermute``: an
    "all_gather" on two shards, where the gather would also copy this shard's own block,
    which the halo block never reads (2 devices, the random matrix, n = 1M, float64,
    same process: 11.7 -> 11.2 ms, medians of 10 rounds). The plan numbers the halo
    columns by it (``_plan._plan_halo``), the exchange moves the values by it."""
    return method == "all_gather" and n_shards == 2


def exchange(x: jax.Array, send: jax.Array, *, method: str, axis: str, n_shards: int,
             shifts: tuple[int, ...], sizes: tuple[int, ...]) -> jax.Array:
    """This shard's halo vector, gathered from the shards that own those entries.

    Args:
        x: this shard's block of the vector, ``(R, ...)``.
        send: local slots to send (``R`` = padding, reads a zero), ``(L,)``.
    """
    if method == "none":
        return jnp.zeros((0,) + x.shape[1:], x.dtype)
    if trades_blocks(method, n_shards):
        return jax.lax.ppermute(x, axis, _SWAP)
    if method == "all_gather":
        return jax.lax.all_gather(x, axis, tiled=True)
    padded = jnp.concatenate([x, jnp.zeros((1,) + x.shape[1:], x.dtype)])
    if method == "all_to_all":
        return jax.lax.all_to_all(padded[send], axis, 0, 0, tiled=True)
    parts, offset = [], 0
    for shift, size in zip(shifts, sizes, strict=True):
        payload = padded[send[offset:offset + size]]
        perm = [(s, (s + shift) % n_shards) for s in range(n_shards)]
        parts.append(jax.lax.ppermute(payload, axis, perm))
        offset += size
    return jnp.concatenate(parts)


def return_halo(x: jax.Array, hx: jax.Array, send: jax.Array, *, method: str, axis: str,
                n_shards: int, shifts: tuple[int, ...], sizes: tuple[int, ...]) -> jax.Array:
    """The transpose of :func:`exchange`, added into ``x``: ``hx`` holds partial sums for
    this shard's halo slots; each goes back to the shard that sent the entry and is added
    at the slot it came from (``x[send[l]] += ...``, padding slots dropped)."""
    if method == "none":
        return x
    if trades_blocks(method, n_shards):  # the other block's partial sums, back to it
        return x + jax.lax.ppermute(hx, axis, _SWAP)
    if method == "all_gather":
        return x + jax.lax.psum_scatter(hx, axis, scatter_dimension=0, tiled=True)
    if method == "all_to_all":
        back = jax.lax.all_to_all(hx, axis, 0, 0, tiled=True)
    else:
        parts, offset = [], 0
        for shift, size in zip(shifts, sizes, strict=True):
            perm = [((s + shift) % n_shards, s) for s in range(n_shards)]
            parts.append(jax.lax.ppermute(hx[offset:offset + size], axis, perm))
            offset += size
        back = jnp.concatenate(parts)
    # Padding slots (R) add 0 at slot 0 rather than rely on a dropped out-of-range
    # update (see sharding._sharded_ops.add_halo_rows: openxla/xla#49121).
    inside = send < x.shape[0]
    rows = inside.reshape(inside.shape + (1,) * (x.ndim - 1))
    return x.at[jnp.where(inside, send, 0)].add(jnp.where(rows, back, 0))
