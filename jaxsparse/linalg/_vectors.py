"""Products and reductions on vectors that every solver shares.

A leaf module: it imports nothing else from :mod:`jaxsparse.linalg`, so operators
(``_linear_operator``, ``_operator``) and solvers can all use it without import cycles.

Dot products and norms are sums of products, never ``jnp.dot``/``jnp.vdot``: on an
Explicit mesh those raise for two sharded vectors (the contracting dimension is sharded);
an elementwise product and a sum do not.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..ops import _cg_update


def matmul(a, v):
    """``a @ v`` (a module-level function, so a ``Partial`` of it is a static pytree)."""
    return a @ v


def rmatmul(a, v):
    """``a^H @ v`` with only a transpose (no conjugated copy of the matrix)."""
    if jnp.iscomplexobj(v) or jnp.issubdtype(a.dtype, jnp.complexfloating):
        return jnp.conj(a.T @ jnp.conj(v))
    return a.T @ v


def vdot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``sum(conj(a) * b)``: a sum of products, never ``jnp.vdot``."""
    if jnp.iscomplexobj(a):
        a = jnp.conj(a)
    return jnp.sum(a * b)


# ``norm(a) ** 2`` as a sum of products; real-valued (also the reference of cg_update)
squared_norm = _cg_update.squared_norm


def norm(a: jax.Array) -> jax.Array:
    """Euclidean norm as a sum of products; real-valued."""
    return jnp.sqrt(squared_norm(a))
