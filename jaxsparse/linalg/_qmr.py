"""Quasi-Minimal Residual (QMR) with split preconditioning ``M1``/``M2``: SciPy's iteration
and breakdown codes (``-10`` rho, ``-11`` beta, ``-12`` gamma, ``-13`` delta, ``-14``
epsilon, ``-15`` xi) in one ``lax.while_loop``; sums of products; implicit gradients (QMR
on ``A^T`` with ``M2^T``, ``M1^T``). Needs ``A^H v`` (see :func:`jaxsparse.linalg.bicg`)."""

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


def qmr(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    M1: Any = None,
    M2: Any = None,
    callback: Callable | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by QMR.

    Args and returns as :func:`jaxsparse.linalg.bicg`, with a left preconditioner ``M1``
    and a right one ``M2`` instead of ``M`` (both need their adjoint products too).
    ``info``: ``0``, ``maxiter``, or a breakdown code ``-10`` ... ``-15``.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.qmr(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.qmr``.
    """
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square("qmr", _loop, A, b, x0, (M1, M2), params=params, callback=callback)


def _loop(A, Ms, b, x0, params, static, callback):
    M1, M2 = Ms
    dtype = b.dtype
    n = b.shape[0]
    maxiter, bnorm, tol = budget(b, params, 10 * n)
    eps = jnp.finfo(dtype).eps
    x, r = initial_residual(A, b, x0)
    y = M1.matvec(r).astype(dtype)
    z = M2.rmatvec(r).astype(dtype)
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)

    def cond(s):
        k, code, x, r = s[:4]
        return (k < maxiter) & (code == RUNNING) & ~(norm(r) < tol) & (bnorm != 0)

    def body(s):
        k, code, x, r, vt, wt, y, z, rho, xi, gamma, eta, theta, eps_prev, p, q, d, sv = s
        first = k == 0
        v = vt / rho
        y = y / rho
        w = wt / xi
        z = z / xi
        delta = vdot(z, y)
        ratio = jnp.where(first, zero, delta / eps_prev)
        p = M2.matvec(y).astype(dtype) - jnp.where(first, zero, xi * ratio) * p
        q = M1.rmatvec(z).astype(dtype) - jnp.where(first, zero, rho * jnp.conj(ratio)) * q
        pt = A.matvec(p).astype(dtype)
        epsilon = vdot(q, pt)
        beta = epsilon / delta
        vt = pt - beta * v
        y = M1.matvec(vt).astype(dtype)
        rho_prev, rho = rho, norm(y).astype(dtype)
        wt = A.rmatvec(q).astype(dtype) - jnp.conj(beta) * w
        z = M2.rmatvec(wt).astype(dtype)
        xi = norm(z).astype(dtype)
        gamma_prev, theta_prev = gamma, theta
        theta = rho / (gamma_prev * jnp.abs(beta))
        gamma = 1 / jnp.sqrt(1 + theta**2)
        eta = -eta * (rho_prev / beta) * (gamma / gamma_prev) ** 2
        scale = jnp.where(first, zero, (theta_prev * gamma) ** 2)
        d = scale * d + eta * p
        sv = scale * sv + eta * pt
        new = (
            k + 1,
            code,
            x + d,
            r - sv,
            vt,
            wt,
            y,
            z,
            rho,
            xi,
            gamma,
            eta,
            theta,
            epsilon,
            p,
            q,
            d,
            sv,
        )
        a = jnp.abs
        code = jnp.select(
            [
                a(s[8]) < eps,
                a(s[9]) < eps,
                a(delta) < eps,
                a(epsilon) < eps,
                a(beta) < eps,
                a(gamma) < eps,
            ],
            [-10, -15, -13, -14, -11, -12],
            RUNNING,
        ).astype(jnp.int32)
        out = where_tree(code == RUNNING, new, s)
        emit_if(callback, code == RUNNING, out[2])
        return (out[0], code, *out[2:])

    zeros = jnp.zeros_like(b)
    init = (
        jnp.int32(0),
        jnp.int32(RUNNING),
        x,
        r,
        r,
        r,
        y,
        z,
        norm(y).astype(dtype),
        norm(z).astype(dtype),
        one,
        -one,
        zero,
        one,
        zeros,
        zeros,
        zeros,
        zeros,
    )
    k, code, x, r, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    converged = (norm(r) < tol) & (k < maxiter) | (bnorm == 0)
    return x, finish_info(jnp.where(bnorm != 0, code, RUNNING), converged, maxiter)
