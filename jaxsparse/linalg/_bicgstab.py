"""BiConjugate Gradient Stabilized (BiCGSTAB): SciPy's iteration and info codes (``-10``
rho breakdown, ``-11`` omega or dot-product breakdown) in one ``lax.while_loop``, sums of
products for dot products, implicit gradients (the transposed solve is BiCGSTAB on
``A^T``)."""

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


def bicgstab(
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
    """Solve ``A x = b`` by BiCGSTAB.

    Args and returns as :func:`jaxsparse.linalg.bicg` (``maxiter`` default ``10 * n``;
    ``info``: ``0``, ``maxiter``, ``-10`` or ``-11``). Matvecs written in NumPy run
    through ``jax.pure_callback`` (a host round trip per product); ``callback(xk)`` runs
    via ordered ``jax.debug.callback`` (a host round trip per iteration).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.bicgstab(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.bicgstab``.
    """
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square("bicgstab", _loop, A, b, x0, (M,), params=params, callback=callback)


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    dtype = b.dtype
    n = b.shape[0]
    maxiter, bnorm, tol = budget(b, params, 10 * n)
    rhotol = jnp.finfo(dtype).eps ** 2
    x, r = initial_residual(A, b, x0)
    rt = r
    zero = jnp.zeros((), dtype)
    one = jnp.ones((), dtype)

    # ``done``: the mid-iteration exit (``norm(s) < atol``) converged.
    def cond(s):
        k, code, done, x, r, p, v, rho_prev, alpha, omega = s
        return (k < maxiter) & (code == RUNNING) & ~done & ~(norm(r) < tol) & (bnorm != 0)

    def body(s):
        k, code, done, x, r, p, v, rho_prev, alpha, omega = s
        rho = vdot(rt, r)
        first = k == 0
        beta = jnp.where(first, zero, (rho / rho_prev) * (alpha / omega))
        p = jnp.where(first, r, r + beta * (p - omega * v))
        phat = M.matvec(p).astype(dtype)
        v = A.matvec(phat).astype(dtype)
        rv = vdot(rt, v)
        alpha = rho / rv
        r = r - alpha * v
        early = norm(r) < tol
        shat = M.matvec(r).astype(dtype)
        t = A.matvec(shat).astype(dtype)
        omega = vdot(t, r) / vdot(t, t)
        x_half = x + alpha * phat
        x_full = x_half + omega * shat
        r_full = r - omega * t
        new = (
            k + 1,
            code,
            early,
            jnp.where(early, x_half, x_full),
            jnp.where(early, r, r_full),
            p,
            v,
            rho,
            alpha,
            jnp.where(early, s[9], omega),
        )
        code = jnp.where(
            jnp.abs(rho) < rhotol,
            -10,
            jnp.where(~first & (jnp.abs(s[9]) < rhotol), -11, jnp.where(rv == 0, -11, RUNNING)),
        ).astype(jnp.int32)
        out = where_tree(code == RUNNING, new, s)
        emit_if(callback, (code == RUNNING) & ~early, out[3])
        return (out[0], code, *out[2:])

    init = (
        jnp.int32(0),
        jnp.int32(RUNNING),
        jnp.bool_(False),
        x,
        r,
        jnp.zeros_like(b),
        jnp.zeros_like(b),
        one,
        one,
        one,
    )
    k, code, done, x, r, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    converged = done | (norm(r) < tol) & (k < maxiter) | (bnorm == 0)
    return x, finish_info(jnp.where(bnorm != 0, code, RUNNING), converged, maxiter)
