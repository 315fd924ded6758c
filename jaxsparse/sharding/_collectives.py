"""The halo exchange, run inside ``shard_map`` on one shard's slice.

Three shapes of exchange, chosen by the plan:

- ``ppermute`` rounds, one per non-empty neighbour shift, each padded to its own
  maximum: a banded or stencil matrix talks to its two neighbours and nobody else;
- one ``all_to_all`` of ``(D, H)`` blocks when reads are scattered over every shard;
- ``all_gather`` of the whole vector when the halo is most of it anyway.

Transposes (``A.T @ y``, gradients) come from JAX: the transpose of a ppermute is the
reversed ppermute and of a gather a scatter-add, which accumulates partial sums at their
owners, exactly the paper's reduction for the transposed product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def exchange(x: jax.Array, send: jax.Array, *, method: str, axis: str, n_shards: int,
             shifts: tuple[int, ...], sizes: tuple[int, ...]) -> jax.Array:
    """This shard's halo vector, gathered from the shards that own those entries.

    Args:
        x: this shard's block of the vector, ``(R, ...)``.
        send: local slots to send (``R`` = padding, reads a zero), ``(L,)``.
    """
    if method == "none":
        return jnp.zeros((0,) + x.shape[1:], x.dtype)
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
