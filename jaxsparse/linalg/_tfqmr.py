"""Transpose-Free Quasi-Minimal Residual (TFQMR): SciPy's iteration (its stopping test
``tau * sqrt(k + 1) < max(atol, rtol * norm(r0))`` and info codes, ``-1`` on breakdown) in
one ``lax.while_loop``; sums of products; implicit gradients (TFQMR on ``A^T``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._krylov import RUNNING, emit_if, finish_info, real_dtype, solve_square, where_tree
from ._vectors import norm, vdot


def tfqmr(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable | None = None,
    show: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by TFQMR.

    Args and returns as :func:`jaxsparse.linalg.bicg`, except: the tolerance is relative
    to the initial residual (as in SciPy), ``maxiter`` defaults to ``min(10000, 10 * n)``,
    ``info`` is ``-1`` on breakdown. ``show`` prints SciPy's final message (host side).
    Matvecs written in NumPy run through ``jax.pure_callback``; ``callback(xk)`` through
    ordered ``jax.debug.callback`` (a host round trip per iteration).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.tfqmr(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.tfqmr``.
    """
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    x, info = solve_square("tfqmr", _loop, A, b, x0, (M,), params=params, callback=callback)
    if show and not isinstance(info, jax.core.Tracer):
        status = "converged" if int(info) == 0 else "not converged"
        print(f"TFQMR: Linear solve {status}")
    return x, info


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    dtype = b.dtype
    real = real_dtype(dtype)
    n = b.shape[0]
    maxiter = jnp.where(params["maxiter"] < 0, jnp.minimum(10000, 10 * n), params["maxiter"])
    bnorm = norm(b)
    x = jnp.zeros_like(b) if x0 is None else x0
    r = b if x0 is None else b - A.matvec(x0).astype(dtype)
    rstar = r
    v = M.matvec(A.matvec(r).astype(dtype)).astype(dtype)
    rho = jnp.real(vdot(rstar, r)).astype(dtype)
    r0norm = jnp.sqrt(jnp.real(rho)).astype(real)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * r0norm)
    zero = jnp.zeros((), dtype)

    # state: k, code, done, x, u, w, v, uhat, d, theta, eta, tau, rho, rho_last, alpha, u_next
    def cond(s):
        k, code, done = s[:3]
        return (k < maxiter) & (code == RUNNING) & ~done & (bnorm != 0) & (r0norm != 0)

    def body(s):
        k, code, done, x, u, w, v, uhat, d, theta, eta, tau, rho, rho_last, alpha, u_next = s
        even = k % 2 == 0
        vtr = vdot(rstar, v)
        alpha = jnp.where(even, rho / vtr, alpha)
        u_next = jnp.where(even, u - alpha * v, u_next)
        breakdown = even & (vtr == 0)
        w = w - alpha * uhat
        d = u + (theta**2 / alpha) * eta * d
        theta = (norm(w) / tau).astype(dtype)
        c = jnp.sqrt(1.0 / (1 + theta**2))
        tau = tau * jnp.abs(theta * c)
        eta = c**2 * alpha
        x = x + eta * M.matvec(d).astype(dtype)
        done = tau * jnp.sqrt((k + 1).astype(real)) < tol
        # odd step
        rho_odd = vdot(rstar, w)
        beta = rho_odd / rho_last
        u_odd = w + beta * u
        v_odd = beta * uhat + beta**2 * v
        src = jnp.where(even, u_next, u_odd)
        uhat_new = M.matvec(A.matvec(src).astype(dtype)).astype(dtype)
        u = jnp.where(even, u_next, u_odd)
        v = jnp.where(even, v, v_odd + uhat_new)
        rho = jnp.where(even, rho, rho_odd)
        rho_last = jnp.where(even, rho, rho_last)
        new = (
            k + 1,
            code,
            done,
            x,
            u,
            w,
            v,
            uhat_new,
            d,
            theta,
            eta,
            tau,
            rho,
            rho_last,
            alpha,
            u_next,
        )
        code = jnp.where(breakdown, -1, RUNNING).astype(jnp.int32)
        out = where_tree(~breakdown, new, s)
        emit_if(callback, ~breakdown, out[3])
        return (out[0], code, *out[2:])

    init = (
        jnp.int32(0),
        jnp.int32(RUNNING),
        jnp.bool_(False),
        x,
        r,
        r,
        v,
        v,
        jnp.zeros_like(b),
        zero,
        zero,
        r0norm,
        rho,
        rho,
        zero,
        jnp.zeros_like(b),
    )
    k, code, done, x, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    converged = done | (bnorm == 0) | (r0norm == 0)
    return x, finish_info(jnp.where(bnorm != 0, code, RUNNING), converged, maxiter)
