"""GCROT(m, k): flexible GMRES cycles with a recycled subspace kept across cycles (SciPy's
``gcrotmk``), as one ``lax.while_loop`` around the shared FGMRES cycle (:mod:`._fgmres`).
Sums of products; implicit gradients (GCROT on ``A^T``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._fgmres import fgmres, hessenberg_apply
from ._krylov import basis, combine, emit, initial_residual, real_dtype, solve_square
from ._operator import norm, vdot


def gcrotmk(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int = 1000,
    M: Any = None,
    callback: Callable | None = None,
    m: int = 20,
    k: int | None = None,
    CU: list | None = None,
    discard_C: bool = False,
    truncate: str = "oldest",
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by GCROT(m, k).

    Args:
        A, b, x0, rtol, atol, M: as :func:`jaxsparse.linalg.gmres` (``M`` is a right
            preconditioner here, as in SciPy).
        maxiter: number of outer cycles (default 1000).
        callback: ``callback(xk)`` at the start of each cycle, via ordered
            ``jax.debug.callback`` (a host round trip per cycle).
        m, k: inner iterations and vectors kept (``k`` default ``m``); static.
        CU: ``None`` or an empty list, which receives the final ``(c, u)`` pairs and
            ``(None, x)`` as in SciPy (``c`` is ``None`` with ``discard_C``). Passing
            vectors in is not supported (``ValueError``).
        truncate: ``'oldest'``. (``'smallest'``, an SVD-based choice, is not supported:
            ``ValueError``.)

    Returns:
        ``(x, info)``: ``0`` converged, else the number of cycles done.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.gcrotmk(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.gcrotmk``.
    """
    if truncate not in ("oldest", "smallest"):
        raise ValueError(f"Invalid value for 'truncate': {truncate!r}")
    if truncate == "smallest":
        raise ValueError("gcrotmk: truncate='smallest' is not supported; use 'oldest'")
    if CU:
        raise ValueError(
            "gcrotmk: CU must be None or an empty list (recycling vectors in is not supported)"
        )
    m = int(m)
    k = m if k is None else int(k)
    params = dict(rtol=rtol, atol=atol, maxiter=maxiter)
    static = (m, k)
    if CU is None:
        return solve_square(
            "gcrotmk", _loop, A, b, x0, (M,), params=params, static=static, callback=callback
        )
    (x, info), (C, U, count) = solve_square(
        "gcrotmk",
        _run,
        A,
        b,
        x0,
        (M,),
        params=params,
        static=static,
        callback=callback,
        implicit=False,
    )
    for i in range(int(count)):
        CU.append((None if discard_C else C[i], U[i]))
    CU.append((None, x))
    return x, info


def _loop(A, Ms, b, x0, params, static, callback):
    return _run(A, Ms, b, x0, params, static, callback)[0]


def _run(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    m, kmax = static
    dtype = b.dtype
    real = real_dtype(dtype)
    maxiter = params["maxiter"]
    bnorm = norm(b)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * bnorm)
    x, r = initial_residual(A, b, x0)
    size = m + kmax
    kb = max(kmax, 1)
    C, U = basis(b, kb), basis(b, kb)

    def cond(s):
        return (s[0] < maxiter) & (s[1] < 0)

    def body(s):
        j, _, x, r, C, U, count = s
        emit(callback, x)
        beta = norm(r)
        recompute = (beta <= tol) & ((j > 0) | (count > 0))
        r = jnp.where(recompute, b - A.mv(x).astype(dtype), r)
        beta = norm(r)
        converged = beta <= tol
        steps = m + jnp.maximum(kmax - count, 0)
        V, Z, H, B, y, _, jj, ok = fgmres(
            A.mv,
            lambda v: v,
            M.mv,
            r / beta,
            steps,
            size,
            tol / beta,
            C=C,
            ccount=count,
        )
        y = y * beta
        ux = combine(y, Z) - combine(jnp.sum(B * y[None, :], axis=1), U)
        cx = combine(hessenberg_apply(H, y), V)
        alpha = 1 / norm(cx)
        good = jnp.isfinite(alpha)
        cx, ux = cx * alpha, ux * alpha
        gamma = vdot(cx, r)
        r_new, x_new = r - gamma * cx, x + gamma * ux
        # truncate='oldest': drop the oldest pair when full, then append (cx, ux)
        full = count >= kmax
        slot = jnp.minimum(count, kmax - 1)
        Cn = jnp.where(full, jnp.roll(C, -1, axis=0), C).at[slot].set(cx)
        Un = jnp.where(full, jnp.roll(U, -1, axis=0), U).at[slot].set(ux)
        take = good & ok & (kmax > 0)
        # info: -1 running, 0 converged, j + 1 inner breakdown (SciPy's LinAlgError)
        info = jnp.where(converged, 0, jnp.where(ok, -1, j + 1)).astype(jnp.int32)
        step = (info == -1) & good
        return (
            j + 1,
            info,
            jnp.where(step, x_new, x),
            jnp.where(step, r_new, r),
            jnp.where(step & take, Cn, C),
            jnp.where(step & take, Un, U),
            jnp.where(step & take, jnp.minimum(count + 1, kmax), count).astype(jnp.int32),
        )

    init = (jnp.int32(0), jnp.where(bnorm == 0, 0, -1).astype(jnp.int32), x, r, C, U, jnp.int32(0))
    j, info, x, r, C, U, count = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm > 0, x, b)
    info = jnp.where(info < 0, maxiter, info).astype(jnp.int32)
    return (x, info), (C, U, count)
