"""Conjugate Gradient Squared (CGS): SciPy's iteration and info codes (``-10`` rho
breakdown, ``-11`` dot-product breakdown) in one ``lax.while_loop``, sums of products for
dot products, implicit gradients (the transposed solve is CGS on ``A^T``)."""

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


def cgs(
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
    """Solve ``A x = b`` by Conjugate Gradient Squared.

    Args and returns as :func:`jaxsparse.linalg.bicg` (``maxiter`` default ``10 * n``;
    ``info``: ``0``, ``maxiter``, ``-10`` or ``-11``). Matvecs written in NumPy run
    through ``jax.pure_callback`` (a host round trip per product); ``callback(xk)`` runs
    via ordered ``jax.debug.callback`` (a host round trip per iteration).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.cgs(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.cgs``.
    """
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square("cgs", _loop, A, b, x0, (M,), params=params, callback=callback)


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    dtype = b.dtype
    n = b.shape[0]
    maxiter, bnorm, tol = budget(b, params, 10 * n)
    rhotol = jnp.finfo(dtype).eps ** 2
    x, r = initial_residual(A, b, x0)
    zero = jnp.zeros((), dtype)

    def cond(s):
        k, code, x, r, p, u, q, rho_prev = s
        return (k < maxiter) & (code == RUNNING) & ~(norm(r) < tol) & (bnorm != 0)

    def body(s):
        k, code, x, r, p, u, q, rho_prev = s
        rho = vdot(rt, r)
        first = k == 0
        beta = jnp.where(first, zero, rho / rho_prev)
        u = jnp.where(first, r, r + beta * q)
        p = jnp.where(first, r, u + beta * (q + beta * p))
        phat = M.matvec(p).astype(dtype)
        vhat = A.matvec(phat).astype(dtype)
        rv = vdot(rt, vhat)
        alpha = rho / rv
        q = u - alpha * vhat
        uhat = M.matvec(u + q).astype(dtype)
        x_new = x + alpha * uhat
        r_new = b - A.matvec(x_new).astype(dtype)
        new = (k + 1, code, x_new, r_new, p, u, q, rho)
        code = jnp.where(jnp.abs(rho) < rhotol, -10, jnp.where(rv == 0, -11, RUNNING)).astype(
            jnp.int32
        )
        out = where_tree(code == RUNNING, new, s)
        emit_if(callback, code == RUNNING, out[2])
        return (out[0], code, *out[2:])

    rt = r
    init = (jnp.int32(0), jnp.int32(RUNNING), x, r, r, r, jnp.zeros_like(b), jnp.ones((), dtype))
    k, code, x, r, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    converged = (norm(r) < tol) & (k < maxiter) | (bnorm == 0)
    return x, finish_info(jnp.where(bnorm != 0, code, RUNNING), converged, maxiter)
