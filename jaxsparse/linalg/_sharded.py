"""Solvers on sharded matrices: keep every iterate in the plan's vector layout."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def solve_in_layout(
    A: Any,
    b: jax.Array,
    x0: Any,
    M: Any,
    solve: Callable,
    vectors: dict | None = None,
    has_aux: bool = False,
):
    """Run ``solve(b, x0)`` with ``b`` and ``x0`` in ``A``'s vector layout.

    For operators that are not sharded this is just ``solve(b, x0)``. For a
    ``ShardedCSR``, a plain length-``n`` ``b`` (and ``x0``) is laid out once, the solve
    runs on layout vectors (each iteration moves only the halo) and ``x`` comes back in
    global order.
    ``vectors`` (name -> ``(p, n)`` stack of vectors in ``b``'s space, e.g. recycled
    subspaces) are laid out like ``b`` and passed as ``solve(b, x0, vectors)``. With
    ``has_aux``, ``solve`` returns ``((x, info), aux)`` and every 2-D leaf of ``aux`` is a
    stack of such vectors, brought back to global order too.
    Eager calls run inside ``jax.set_mesh(A.mesh)``: jitted code over an Explicit mesh
    needs the mesh in context (under an outer ``jit`` the caller provides it).
    """
    from ..sharding import ShardedCSR
    from ..sharding._sharded_ops import in_layout

    run = solve if vectors is None else (lambda b, x0: solve(b, x0, vectors))
    if not isinstance(A, ShardedCSR):
        return run(b, x0)
    if isinstance(M, ShardedCSR) and not M.plan.rows.same_as(A.plan.rows):
        # Equal block sizes are not enough: each plan balances its own nonzeros, so
        # two matrices of one shape may split the rows differently.
        raise ValueError("M must be sharded with A's layout (shard(M, ..., like=A))")
    tracing = isinstance(b, jax.core.Tracer)
    laid_out = in_layout(A, b, "cols")
    # ``jax.set_mesh`` sets the mesh when *called*, not on entering the ``with``: call
    # it there, so that no exception can leave the mesh set for the whole process.
    with contextlib.nullcontext() if tracing else jax.set_mesh(A.mesh):
        if laid_out:
            # Padding slots: x is 0 there whatever b holds, and A's padding rows are
            # empty. Masking b and x is a no-op forward; backward it keeps a cotangent
            # on padding slots (``jnp.sum`` over a layout vector has one) out of the
            # transposed solve, where that empty block would make it singular (NaNs).
            def masked(v):
                return jnp.where(A.mask.reshape(-1, *(1,) * (v.ndim - 1)), v, 0)

            out = run(masked(b), x0)
            (xs, info), aux = out if has_aux else (out, None)
            xs = masked(xs)
            return ((xs, info), aux) if has_aux else (xs, info)
        xs0 = None if x0 is None else A.shard_vector(x0)
        if vectors is not None:
            laid = {k: A.shard_vector(v.T).T for k, v in vectors.items()}
            run = lambda b, x0: solve(b, x0, laid)  # noqa: E731
        out = run(A.shard_vector(b), xs0)
        (xs, info), aux = out if has_aux else (out, None)
        x = A.unshard_vector(xs)
        if not has_aux:
            return x, info
        aux = jax.tree.map(lambda a: A.unshard_vector(a.T).T if a.ndim == 2 else a, aux)
        return (x, info), aux
