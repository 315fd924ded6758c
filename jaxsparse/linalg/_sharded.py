"""Solvers on sharded matrices: keep every iterate in the plan's vector layout."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import jax


def solve_in_layout(A: Any, b: jax.Array, x0: Any, M: Any, solve: Callable):
    """Run ``solve(b, x0)`` with ``b`` and ``x0`` in ``A``'s vector layout.

    For operators that are not sharded this is just ``solve(b, x0)``. For a
    ``ShardedCSR``, a plain length-``n`` ``b`` (and ``x0``) is laid out once, the solve
    runs on layout vectors (each iteration moves only the halo) and ``x`` comes back in
    global order.
    Eager calls run inside ``jax.set_mesh(A.mesh)``: jitted code over an Explicit mesh
    needs the mesh in context (under an outer ``jit`` the caller provides it).
    """
    from ..sharding import ShardedCSR
    from ..sharding._sharded import _in_layout

    if not isinstance(A, ShardedCSR):
        return solve(b, x0)
    if isinstance(M, ShardedCSR) and M.plan.rows.block != A.plan.rows.block:
        raise ValueError("M must be sharded with A's layout (shard(M, ..., like=A))")
    tracing = isinstance(b, jax.core.Tracer)
    context = contextlib.nullcontext() if tracing else jax.set_mesh(A.mesh)
    laid_out = _in_layout(A, b, "cols")
    with context:
        if laid_out:
            return solve(b, x0)
        xs0 = None if x0 is None else A.shard_vector(x0)
        xs, info = solve(A.shard_vector(b), xs0)
        return A.unshard_vector(xs), info
