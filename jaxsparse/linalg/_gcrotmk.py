"""GCROT(m, k): flexible GMRES cycles with a recycled subspace kept across cycles (SciPy's
``gcrotmk``), as one ``lax.while_loop`` around the shared FGMRES cycle (:mod:`._fgmres`).
Sums of products; implicit gradients (GCROT on ``A^T``) when no subspace goes in or out.

The recycled pairs ``(c, u)`` (``c = A u``, the ``c`` orthonormal) live in fixed
``(cap, n)`` buffers, oldest first, ``cap = max(k, 1, len(CU))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

from ._fgmres import fgmres, hessenberg_apply, recycle, stacked_pairs
from ._krylov import (
    basis,
    combine,
    emit,
    initial_residual,
    real_dtype,
    replicated,
    require_finite_rhs,
    sharded_like,
    solve_square,
)
from ._vectors import norm, vdot


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
        CU: ``None``, or SciPy's in/out list of ``(c, u)`` pairs (``c`` may be ``None``:
            it is recomputed as ``A u``). Pairs going in are re-orthogonalised (pivoted
            QR) and start the solve, as in SciPy; on return the list holds the final
            pairs and ``(None, x)``. Its length is static (a new length compiles anew),
            and a solve with ``CU`` has no gradient rule (SciPy's list is host state).
            Differs from SciPy 1.17 on purpose: re-orthogonalised ``u`` are ``U P R^-1``
            exactly (SciPy's back-substitution reuses the unscaled ``u``, which breaks
            ``A u = c`` for all but the first pair).
        discard_C: keep only the ``u`` of the pairs (``c`` returned as ``None``).
        truncate: ``'oldest'`` drops the oldest pair when full; ``'smallest'`` keeps the
            ``k - 1`` directions of largest singular value of ``B R^-1`` (SciPy's rule;
            the singular vectors come from ``eigh`` of the small Gram matrix).

    Returns:
        ``(x, info)``: ``0`` converged, else the number of cycles done.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.gcrotmk(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.gcrotmk``.
    """
    require_finite_rhs(b)
    if truncate not in ("oldest", "smallest"):
        raise ValueError(f"Invalid value for 'truncate': {truncate!r}")
    if CU is not None and not isinstance(CU, list):
        raise TypeError(f"CU must be None or a list of (c, u) pairs, got {type(CU).__name__}")
    m = int(m)
    k = m if k is None else int(k)
    pairs = _incoming(CU, discard_C)
    cap = max(k, 1, len(pairs))
    params = dict(rtol=rtol, atol=atol, maxiter=maxiter)
    static = (m, k, cap, truncate, len(pairs))
    if CU is None:
        return solve_square(
            "gcrotmk", _loop, A, b, x0, (M,), params=params, static=static, callback=callback
        )
    vectors = masks = None
    if pairs:
        C_in, U_in, has_c = stacked_pairs(pairs, optional=0)
        vectors, masks = dict(C_in=C_in, U_in=U_in), dict(has_c=has_c)
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
        vectors=vectors,
        masks=masks,
    )
    count = int(count)
    CU[:] = [(None if discard_C else C[i], U[i]) for i in range(count)] + [(None, x)]
    return x, info


def _incoming(CU, discard_C):
    """The pairs SciPy starts from: ``c`` dropped with ``discard_C``, pairs without ``c``
    first (SciPy's stable sort on ``c is not None``)."""
    pairs = [(None if discard_C else c, u) for c, u in (CU or [])]
    return sorted(pairs, key=lambda cu: cu[0] is not None)


def _loop(A, Ms, b, x0, params, static, callback):
    return _run(A, Ms, b, x0, params, static, callback)[0]


def _run(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    m, kmax, cap, truncate, n_in = static
    dtype = b.dtype
    real = real_dtype(dtype)
    maxiter = params["maxiter"]
    bnorm = norm(b)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * bnorm)
    x, r = initial_residual(A, b, x0)
    size = m + kmax
    C, U, count = basis(b, cap), basis(b, cap), jnp.int32(0)
    if n_in:
        C, U, count = _orthonormal_pairs(A, params, cap, dtype)
        x, r = _project(C, U, count, x, r)

    def cond(s):
        return (s[0] < maxiter) & (s[1] < 0)

    def body(s):
        j, _, x, r, C, U, count = s
        emit(callback, x)
        beta = norm(r)
        recompute = (beta <= tol) & ((j > 0) | (count > 0))
        r = jnp.where(recompute, b - A.matvec(x).astype(dtype), r)
        beta = norm(r)
        converged = beta <= tol
        steps = m + jnp.maximum(kmax - count, 0)
        V, Z, H, B, y, _, jj, ok = fgmres(
            A.matvec,
            lambda v: v,
            M.matvec,
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
        if truncate == "oldest":
            # SciPy: ``del CU[0]`` while ``len(CU) >= k``, then append: at most max(k, 1)
            Cn, cn = recycle(C, count, cx, True, max(kmax, 1))
            Un, _ = recycle(U, count, ux, True, max(kmax, 1))
        else:
            Cs, Us, cs = _keep_dominant(C, U, count, kmax, H, B, jj)
            Cn, cn = recycle(Cs, cs, cx, True, cap)
            Un, _ = recycle(Us, cs, ux, True, cap)
        # info: -1 running, 0 converged, j + 1 inner breakdown (SciPy's LinAlgError)
        info = jnp.where(converged, 0, jnp.where(ok, -1, j + 1)).astype(jnp.int32)
        step = (info == -1) & good
        return (
            j + 1,
            info,
            jnp.where(step, x_new, x),
            jnp.where(step, r_new, r),
            jnp.where(step, Cn, C),
            jnp.where(step, Un, U),
            jnp.where(step, cn, count).astype(jnp.int32),
        )

    init = (jnp.int32(0), jnp.where(bnorm == 0, 0, -1).astype(jnp.int32), x, r, C, U, count)
    j, info, x, r, C, U, count = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    info = jnp.where(info < 0, maxiter, info).astype(jnp.int32)
    return (x, info), (C, U, count)


def _orthonormal_pairs(A, params, cap, dtype):
    """SciPy's preparation of incoming pairs: ``c = A u`` where missing, ``C P = Q R``
    (pivoted QR), ``C := Q`` and ``U := U P R^-1``, keeping the columns before the first
    ``|R[j, j]| < 1e-12 |R[0, 0]|``; stored in reverse (SciPy's ``[::-1]``)."""
    U_in = params["U_in"].astype(dtype)
    C_in = params["C_in"].astype(dtype)
    has_c = params["has_c"]
    p = U_in.shape[0]
    computed = jnp.stack([A.matvec(U_in[i]).astype(dtype) for i in range(p)])
    C_in = jnp.where(has_c[:, None], C_in, computed)
    # a one-off factorisation of p vectors: gathered, whatever the vectors' sharding
    Q, R, P = jsl.qr(replicated(C_in).T, mode="economic", pivoting=True)
    d = jnp.abs(jnp.diagonal(R))
    count = jnp.sum(jnp.cumprod(d >= 1e-12 * d[0])).astype(jnp.int32)
    U_new = jsl.solve_triangular(R, replicated(U_in)[P], trans="T", lower=False)
    at = jnp.arange(cap)
    src = jnp.clip(count - 1 - at, 0, p - 1)
    live = (at < count)[:, None]
    C = jnp.where(live, Q.T[src], 0).astype(dtype)
    U = jnp.where(live, U_new[src], 0).astype(dtype)
    return sharded_like(C, U_in), sharded_like(U, U_in), count


def _project(C, U, count, x, r):
    """``x += U y``, ``r -= C y`` with ``y = C^H r``, pair by pair as SciPy does."""

    def step(i, xr):
        x, r = xr
        yc = jnp.where(i < count, vdot(C[i], r), 0)
        return x + yc * U[i], r - yc * C[i]

    return lax.fori_loop(0, C.shape[0], step, (x, r))


def _keep_dominant(C, U, count, kmax, H, B, j):
    """``truncate='smallest'``: when ``count >= k``, SciPy replaces the pairs by the
    ``k - 1`` combinations ``C W``, ``U W`` along the leading left singular vectors ``W``
    of ``D = B R^-1`` (``H = Q R``), re-orthonormalised one by one. Returns the new
    ``(C, U, count)`` (unchanged below ``k``)."""
    cap, size = C.shape[0], H.shape[1]
    R = jnp.linalg.qr(H, mode="r")[:size]
    idx = jnp.arange(size)
    # columns past the cycle's last are zero in H: a unit diagonal leaves D's live part
    R = jnp.where((idx[:, None] == idx[None, :]) & (idx > j)[None, :], 1, R)
    D = jsl.solve_triangular(R, B.T, trans="T", lower=False).T
    rows = jnp.arange(cap)
    # Gram matrix of D with the dead rows pushed to eigenvalue -1 (sorted last)
    G = D @ jnp.conj(D.T) - jnp.diag(jnp.where(rows < count, 0.0, 1.0))
    _, W = jnp.linalg.eigh(G)
    W = W[:, ::-1]
    keep = jnp.where(kmax >= 1, kmax - 1, count - 1)
    Cw, Uw = W.T @ C, W.T @ U

    def orth(i, cu):
        Cn, Un = cu

        def against(q, cu_i):
            c, u = cu_i
            a = vdot(Cn[q], c)
            return c - a * Cn[q], u - a * Un[q]

        c, u = lax.fori_loop(0, i, against, (Cw[i], Uw[i]))
        s = 1 / norm(c)
        live = i < keep
        return Cn.at[i].set(jnp.where(live, c * s, 0)), Un.at[i].set(jnp.where(live, u * s, 0))

    Cn, Un = lax.fori_loop(0, cap, orth, (jnp.zeros_like(C), jnp.zeros_like(U)))
    full = (count >= kmax) & (count > 0)
    return (
        jnp.where(full, Cn, C),
        jnp.where(full, Un, U),
        jnp.where(full, keep, count).astype(jnp.int32),
    )
