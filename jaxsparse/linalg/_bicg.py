"""BiConjugate Gradient (BiCG) for general square systems.

SciPy's ``bicg`` iteration and info codes (``-10``: ``rho`` breakdown, ``-11``: ``p~ . A p``
is zero) in one ``lax.while_loop``; dot products are sums of products (sharded vectors on
Explicit meshes work); gradients by implicit differentiation (the transposed solve is BiCG
on ``A^T``). Needs ``A^H v``: a jaxsparse matrix or dense array has it; a JAX callable gets
it from ``jax.linear_transpose``; a NumPy ``LinearOperator`` must define ``rmatvec``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._krylov import (
    RUNNING,
    budget,
    emit_if,
    finish_info,
    initial_residual,
    solve_square,
    where_tree,
)
from ._vectors import norm, vdot


def bicg(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by the BiConjugate Gradient method.

    Args:
        A: ``(n, n)`` operator: jaxsparse matrix, ShardedCSR, dense array, ``LinearOperator``
            or callable. Matvecs written in NumPy run through ``jax.pure_callback`` (one
            host round trip per product).
        b: right-hand side ``(n,)``; x0: starting guess (default zeros).
        rtol, atol: stop when ``norm(r) < max(atol, rtol * norm(b))``.
        maxiter: iteration limit (default ``10 * n``).
        M: preconditioner approximating ``A^{-1}`` (same kinds as ``A``).
        callback: ``callback(xk)`` after each iteration, via ``jax.debug.callback``
            (ordered; a host round trip per iteration, and the solver is re-traced per call).

    Returns:
        ``(x, info)``: ``info`` is an int32 array: ``0`` converged, ``maxiter`` not
        converged, ``-10``/``-11`` breakdown.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.bicg(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.bicg``.
    """
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square("bicg", _loop, A, b, x0, (M,), params=params, callback=callback)


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    dtype = b.dtype
    n = b.shape[0]
    maxiter, bnorm, tol = budget(b, params, 10 * n)
    rhotol = jnp.finfo(dtype).eps ** 2
    x, r = initial_residual(A, b, x0)
    zero = jnp.zeros((), dtype)

    def cond(s):
        k, code, x, r, rt, p, pt, rho_prev = s
        return (k < maxiter) & (code == RUNNING) & ~(norm(r) < tol) & (bnorm != 0)

    def body(s):
        k, code, x, r, rt, p, pt, rho_prev = s
        z = M.matvec(r).astype(dtype)
        zt = M.rmatvec(rt).astype(dtype)
        rho = vdot(rt, z)
        beta = jnp.where(k > 0, rho / rho_prev, zero)
        p_new = z + beta * p
        pt_new = zt + jnp.conj(beta) * pt
        q = A.matvec(p_new).astype(dtype)
        qt = A.rmatvec(pt_new).astype(dtype)
        rv = vdot(pt_new, q)
        alpha = rho / rv
        new = (
            k + 1,
            code,
            x + alpha * p_new,
            r - alpha * q,
            rt - jnp.conj(alpha) * qt,
            p_new,
            pt_new,
            rho,
        )
        code = jnp.where(jnp.abs(rho) < rhotol, -10, jnp.where(rv == 0, -11, RUNNING)).astype(
            jnp.int32
        )
        out = where_tree(code == RUNNING, new, s)
        emit_if(callback, code == RUNNING, out[2])
        return (out[0], code, *out[2:])

    init = (
        jnp.int32(0),
        jnp.int32(RUNNING),
        x,
        r,
        r,
        jnp.zeros_like(b),
        jnp.zeros_like(b),
        jnp.ones((), dtype),
    )
    k, code, x, r, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    converged = (norm(r) < tol) & (k < maxiter) | (bnorm == 0)
    return x, finish_info(jnp.where(bnorm != 0, code, RUNNING), converged, maxiter)
