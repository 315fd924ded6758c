"""LGMRES: restarted GMRES augmented with error approximations from previous cycles
(SciPy's ``lgmres``), as one ``lax.while_loop`` over cycles around the shared FGMRES cycle
(:mod:`._fgmres`). Sums of products; implicit gradients (LGMRES on ``A^T``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._fgmres import fgmres, hessenberg_apply, recycle, stacked_pairs
from ._krylov import basis, combine, emit, real_dtype, require_finite_rhs, solve_square
from ._vectors import norm


def lgmres(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int = 1000,
    M: Any = None,
    callback: Callable | None = None,
    inner_m: int = 30,
    outer_k: int = 3,
    outer_v: list | None = None,
    store_outer_Av: bool = True,
    prepend_outer_v: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``A x = b`` by LGMRES.

    Args:
        A, b, x0, rtol, atol, M: as :func:`jaxsparse.linalg.gmres`.
        maxiter: number of outer cycles (default 1000).
        callback: ``callback(xk)`` at the start of each cycle, via ordered
            ``jax.debug.callback`` (a host round trip per cycle).
        inner_m, outer_k: inner iterations per cycle and augmentation vectors kept
            (static: new values compile a new program).
        outer_v: ``None``, or SciPy's in/out list of ``(v, M A v)`` augmentation pairs
            (the second may be ``None``: computed once). Pairs going in augment the first
            cycle, as in SciPy; on return the list holds the final pairs. Its length is
            static (a new length compiles anew), and a solve with ``outer_v`` has no
            gradient rule (SciPy's list is host state).
        store_outer_Av: as in SciPy; with ``False`` the returned pairs are ``(v, None)``
            (``M A v`` is still computed once per new vector, where SciPy recomputes it
            in every cycle: the same values for fewer products).
        prepend_outer_v: as in SciPy.

    Returns:
        ``(x, info)``: ``0`` converged, ``maxiter`` not converged, ``k`` if the inner
        problem broke down at cycle ``k`` (SciPy's ``LinAlgError`` exit).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.lgmres(jnp.array([[4.0, 1.0], [2.0, 3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.lgmres``.
    """
    require_finite_rhs(b)
    if outer_v is not None and not isinstance(outer_v, list):
        raise TypeError(f"outer_v must be None or a list, got {type(outer_v).__name__}")
    pairs = list(outer_v or [])
    outer_k = int(outer_k)
    cap = max(outer_k, 1, len(pairs))
    params = dict(rtol=rtol, atol=atol, maxiter=maxiter)
    static = (int(inner_m), outer_k, bool(store_outer_Av), bool(prepend_outer_v), cap, len(pairs))
    if outer_v is None:
        return solve_square(
            "lgmres", _loop, A, b, x0, (M,), params=params, static=static, callback=callback
        )
    vectors = masks = None
    if pairs:
        Z_in, W_in, has_w = stacked_pairs(pairs, optional=1)
        vectors, masks = dict(Z_in=Z_in, W_in=W_in), dict(has_w=has_w)
    (x, info), (Zo, Wo, count) = solve_square(
        "lgmres",
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
    outer_v[:] = [(Zo[i], Wo[i] if store_outer_Av else None) for i in range(int(count))]
    return x, info


def _loop(A, Ms, b, x0, params, static, callback):
    (x, info), _ = _run(A, Ms, b, x0, params, static, callback)
    return x, info


def _run(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    inner_m, outer_k, store, prepend, cap, n_in = static
    dtype = b.dtype
    real = real_dtype(dtype)
    maxiter = params["maxiter"]
    bnorm = norm(b)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * bnorm)
    x = jnp.zeros_like(b) if x0 is None else x0
    size = inner_m + cap

    def lpsolve_of_A(z):
        return M.matvec(A.matvec(z).astype(dtype)).astype(dtype)

    # Augmentation pairs (z, M A z), oldest first. Every pair keeps its M A z (computed
    # once), so the cycle never recomputes it.
    Zo, Wo, count = basis(b, cap), basis(b, cap), jnp.int32(0)
    if n_in:
        Z_in = params["Z_in"].astype(dtype)
        W_in = jnp.stack(
            [
                jnp.where(
                    params["has_w"][i], params["W_in"][i].astype(dtype), lpsolve_of_A(Z_in[i])
                )
                for i in range(n_in)
            ]
        )
        Zo, Wo, count = Zo.at[:n_in].set(Z_in), Wo.at[:n_in].set(W_in), jnp.int32(n_in)

    def cond(s):
        return (s[0] < maxiter) & (s[1] < 0)

    def body(s):
        k, _, x, pmf, Zo, Wo, count = s
        r = A.matvec(x).astype(dtype) - b
        emit(callback, x)
        rnorm = norm(r)
        converged = rnorm <= tol
        v0 = -M.matvec(r).astype(dtype)
        res0 = norm(v0)
        v0 = v0 / res0
        ptol = jnp.minimum(pmf, tol / rnorm)
        steps = inner_m + count
        V, Z, H, _, y, pres, j, ok = fgmres(
            A.matvec,
            M.matvec,
            lambda v: v,
            v0,
            steps,
            size,
            ptol,
            outer=(Zo, Wo),
            ocount=count,
            prepend=prepend,
        )
        y = y * res0
        ok = ok & jnp.all(jnp.isfinite(y))
        pmf = jnp.where(pres > ptol, jnp.minimum(1.0, 1.5 * pmf), jnp.maximum(1e-16, 0.25 * pmf))
        dx = combine(y, Z)
        nx = norm(dx)
        z_new = dx / nx
        # SciPy stores V H y / nx (the Arnoldi relation's M A z); without store_outer_Av
        # it recomputes M A z in later cycles: computed here once instead
        w_new = combine(hessenberg_apply(H, y), V) / nx if store else lpsolve_of_A(z_new)
        # SciPy: append when nx > 0, then ``del outer_v[0]`` while longer than outer_k
        Zn, cn = recycle(Zo, count, z_new, nx > 0, outer_k)
        Wn, _ = recycle(Wo, count, w_new, nx > 0, outer_k)
        x_new = x + dx
        # info: -1 running; 0 converged; k + 1 inner breakdown
        info = jnp.where(converged, 0, jnp.where(ok, -1, k + 1)).astype(jnp.int32)
        step = info == -1
        return (
            k + 1,
            info,
            jnp.where(step, x_new, x),
            pmf,
            jnp.where(step, Zn, Zo),
            jnp.where(step, Wn, Wo),
            jnp.where(step, cn, count),
        )

    init = (
        jnp.int32(0),
        jnp.where(bnorm == 0, 0, -1).astype(jnp.int32),
        x,
        jnp.ones((), real),
        Zo,
        Wo,
        count,
    )
    k, info, x, _, Zo, Wo, count = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    info = jnp.where(info < 0, maxiter, info).astype(jnp.int32)
    return (x, info), (Zo, Wo, count)
