"""Restarted GMRES: SciPy's iteration exactly (left preconditioning, modified Gram-Schmidt,
Givens rotations, its adaptive inner tolerance ``ptol`` and its ``callback_type`` modes) as
nested ``lax.while_loop``\\ s in one compiled program. The Krylov basis is a
``(restart + 1, n)`` array built like ``b`` so it keeps a sharded vector's layout; dot
products are sums of products. Gradients by implicit differentiation (GMRES on ``A^T``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..ops._dtypes import as_dense
from ._krylov import (
    basis,
    budget,
    combine,
    emit,
    emit_if,
    initial_residual,
    lartg,
    real_dtype,
    solve_square,
)
from ._vectors import norm, vdot


def gmres(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    restart: int | None = None,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable | None = None,
    callback_type: str | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by restarted GMRES.

    Args:
        A, b, x0, rtol, atol, M: as :func:`jaxsparse.linalg.bicg` (convergence is
            ``norm(b - A x) <= max(atol, rtol * norm(b))``, checked after each restart).
        restart: Krylov subspace size per cycle (default 20, at most ``n``); static: a
            new value compiles a new program.
        maxiter: number of restart cycles (default ``10 * n``).
        callback: called via ordered ``jax.debug.callback`` (a host round trip each time):
            ``callback_type='x'``: ``callback(xk)`` after each restart cycle;
            ``'pr_norm'``: ``callback(presid / norm(b))`` after each inner iteration;
            ``'legacy'`` (the default when a callback is given, with SciPy's
            ``DeprecationWarning``): like ``'pr_norm'``, and ``maxiter`` then counts inner
            iterations, as in SciPy.

    Returns:
        ``(x, info)``: ``info`` ``0`` converged, else ``maxiter`` (an int32 array).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.gmres(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.gmres``.
    """
    if callback is not None and callback_type is None:
        warnings.warn(
            "gmres called without specifying `callback_type`; like scipy, the 'legacy' "
            "behaviour is used. Specify callback_type='pr_norm', 'x' or 'legacy'.",
            DeprecationWarning,
            stacklevel=2,
        )
    if callback_type is None:
        callback_type = "legacy"
    if callback_type not in ("x", "pr_norm", "legacy"):
        raise ValueError(f"Unknown callback_type: {callback_type!r}")
    if callback is None:
        callback_type = None
    b = as_dense(b, "b")
    if b.ndim != 1:  # checked here too: restart's default is b's length
        raise ValueError(f"b must be 1-D, got shape {b.shape}")
    n = b.shape[0]
    restart = min(20 if restart is None else int(restart), n)
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square(
        "gmres",
        _loop,
        A,
        b,
        x0,
        (M,),
        params=params,
        static=(restart, callback_type),
        callback=callback,
    )


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    restart, callback_type = static
    if callback is None:
        callback_type = None
    legacy = callback_type == "legacy"
    dtype = b.dtype
    real = real_dtype(dtype)
    n = b.shape[0]
    maxiter, bnorm, atol = budget(b, params, 10 * n)
    eps = jnp.finfo(real).eps
    x, r = initial_residual(A, b, x0)
    rnorm = norm(r)
    Mb = norm(M.matvec(b).astype(dtype))
    ptol = Mb * jnp.minimum(1.0, atol / jnp.where(bnorm > 0, bnorm, 1))
    m = restart

    def inner(x, r, ptol, inner_iter):
        v0 = M.matvec(r).astype(dtype)
        nv0 = norm(v0)
        V = basis(b, m + 1).at[0].set(v0 / nv0)
        S = jnp.zeros((m + 1,), dtype).at[0].set(nv0)
        R = jnp.zeros((m + 1, m), dtype)  # R[i, j] is SciPy's h[j, i]
        cs = jnp.zeros((m,), real)
        sn = jnp.zeros((m,), dtype)

        def cond(s):
            col, stop = s[0], s[1]
            return (col < m) & ~stop

        def body(s):
            col, _, _, V, S, R, cs, sn, inner_iter, _ = s
            w = M.matvec(A.matvec(V[col]).astype(dtype)).astype(dtype)
            h0 = norm(w)

            def gs(k, carry):  # modified Gram-Schmidt against V[0..col]
                w, hcol = carry
                t = vdot(V[k], w)
                return w - t * V[k], hcol.at[k].set(t)

            w, hcol = lax.fori_loop(0, col + 1, gs, (w, jnp.zeros((m + 1,), dtype)))
            h1 = norm(w)
            breakdown = h1 <= eps * h0
            hcol = hcol.at[col + 1].set(jnp.where(breakdown, 0, h1).astype(dtype))
            V = V.at[col + 1].set(jnp.where(breakdown, w, w / jnp.where(h1 == 0, 1, h1)))

            def rot(k, hcol):  # the previous rotations
                c, s_ = cs[k], sn[k]
                n0, n1 = hcol[k], hcol[k + 1]
                return hcol.at[k].set(c * n0 + s_ * n1).at[k + 1].set(-jnp.conj(s_) * n0 + c * n1)

            hcol = lax.fori_loop(0, col, rot, hcol)
            c, s_, mag = lartg(hcol[col], hcol[col + 1])
            cs, sn = cs.at[col].set(c), sn.at[col].set(s_)
            hcol = hcol.at[col].set(mag).at[col + 1].set(0)
            R = R.at[:, col].set(hcol)
            t = -jnp.conj(s_) * S[col]
            S = S.at[col].set(c * S[col]).at[col + 1].set(t)
            presid = jnp.abs(t)
            inner_iter = inner_iter + 1
            if callback_type in ("legacy", "pr_norm"):
                emit(callback, presid / bnorm)
            legacy_stop = legacy & (inner_iter == maxiter)
            stop = legacy_stop | (presid <= ptol) | breakdown
            return col + 1, stop, breakdown, V, S, R, cs, sn, inner_iter, presid

        init = (
            jnp.int32(0),
            jnp.bool_(False),
            jnp.bool_(False),
            V,
            S,
            R,
            cs,
            sn,
            inner_iter,
            jnp.zeros((), real),
        )
        ncol, _, breakdown, V, S, R, _, _, inner_iter, presid = lax.while_loop(cond, body, init)
        col = ncol - 1
        S = jnp.where(R[col, col] == 0, S.at[col].set(0), S)
        y = jnp.where(jnp.arange(m) <= col, S[:m], 0)

        def back(i, y):  # SciPy's back substitution, skipping zero entries
            k = col - i
            yk = y[k]
            yk = jnp.where(yk != 0, yk / R[k, k], yk)
            y = y.at[k].set(yk)
            return jnp.where(jnp.arange(m) < k, y - yk * R[:m, k], y)

        y = lax.fori_loop(0, col + 1, back, y)
        x = x + combine(y, V[:m])
        return x, breakdown, presid, inner_iter

    def cond(s):
        it, done = s[0], s[1]
        return (it < maxiter) & ~done

    def body(s):
        it, _, x, r, rnorm, ptol, pmf, inner_iter = s
        x, breakdown, presid, inner_iter = inner(x, r, ptol, inner_iter)
        r = b - A.matvec(x).astype(dtype)
        rnorm = norm(r)
        legacy_stop = legacy & (inner_iter == maxiter)
        emit_if(callback if callback_type == "x" else None, ~legacy_stop, x)
        done = legacy_stop | (rnorm <= atol) | breakdown
        pmf = jnp.where(presid <= ptol, jnp.maximum(eps, 0.25 * pmf), jnp.minimum(1.0, 1.5 * pmf))
        ptol = presid * jnp.minimum(pmf, atol / rnorm)
        return it + 1, done, x, r, rnorm, ptol, pmf, inner_iter

    start_done = (rnorm < atol) | (bnorm == 0)
    init = (
        jnp.int32(0),
        start_done,
        x,
        r,
        rnorm,
        ptol.astype(real),
        jnp.ones((), real),
        jnp.int32(0),
    )
    _, _, x, r, rnorm, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    info = jnp.where((rnorm <= atol) | (bnorm == 0), 0, maxiter).astype(jnp.int32)
    return x, info
