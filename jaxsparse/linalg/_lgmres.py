"""LGMRES: restarted GMRES augmented with error approximations from previous cycles
(SciPy's ``lgmres``), as one ``lax.while_loop`` over cycles around the shared FGMRES cycle
(:mod:`._fgmres`). Sums of products; implicit gradients (LGMRES on ``A^T``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._fgmres import fgmres, hessenberg_apply
from ._krylov import basis, combine, emit, real_dtype, solve_square
from ._operator import norm


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
        outer_v: ``None``, or a list that receives the ``(v, A v)`` augmentation pairs of
            the final state (SciPy's in/out argument). A non-empty list as input is not
            supported (``ValueError``).
        store_outer_Av, prepend_outer_v: as in SciPy.

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
    if outer_v:
        raise ValueError(
            "lgmres: outer_v must be None or an empty list (reusing vectors is not supported)"
        )
    params = dict(rtol=rtol, atol=atol, maxiter=maxiter)
    static = (int(inner_m), int(outer_k), bool(store_outer_Av), bool(prepend_outer_v))
    if outer_v is None:
        return solve_square(
            "lgmres", _loop, A, b, x0, (M,), params=params, static=static, callback=callback
        )
    out = solve_square(
        "lgmres",
        _loop_with_outer,
        A,
        b,
        x0,
        (M,),
        params=params,
        static=static,
        callback=callback,
        implicit=False,
    )
    (x, info), (Zo, Wo, count) = out
    for i in range(int(count)):
        outer_v.append((Zo[i], Wo[i] if store_outer_Av else None))
    return x, info


def _loop(A, Ms, b, x0, params, static, callback):
    (x, info), _ = _run(A, Ms, b, x0, params, static, callback)
    return x, info


def _loop_with_outer(A, Ms, b, x0, params, static, callback):
    return _run(A, Ms, b, x0, params, static, callback)


def _run(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    inner_m, outer_k, store, prepend = static
    dtype = b.dtype
    real = real_dtype(dtype)
    maxiter = params["maxiter"]
    bnorm = norm(b)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * bnorm)
    x = jnp.zeros_like(b) if x0 is None else x0
    size = inner_m + outer_k
    Zo, Wo = basis(b, max(outer_k, 1)), basis(b, max(outer_k, 1))

    def cond(s):
        return (s[0] < maxiter) & (s[1] < 0)

    def body(s):
        k, _, x, pmf, Zo, Wo, count = s
        r = A.mv(x).astype(dtype) - b
        emit(callback, x)
        rnorm = norm(r)
        converged = rnorm <= tol
        v0 = -M.mv(r).astype(dtype)
        res0 = norm(v0)
        v0 = v0 / res0
        ptol = jnp.minimum(pmf, tol / rnorm)
        steps = inner_m + count
        V, Z, H, _, y, pres, j, ok = fgmres(
            A.mv,
            M.mv,
            lambda v: v,
            v0,
            steps,
            size,
            ptol,
            outer=(Zo, Wo),
            ocount=count,
            inner_m=inner_m,
            prepend=prepend,
            store_w=store,
        )
        y = y * res0
        ok = ok & jnp.all(jnp.isfinite(y))
        pmf = jnp.where(pres > ptol, jnp.minimum(1.0, 1.5 * pmf), jnp.maximum(1e-16, 0.25 * pmf))
        dx = combine(y, Z)
        nx = norm(dx)
        ax = combine(hessenberg_apply(H, y), V)
        full = count >= outer_k
        slot = jnp.minimum(count, outer_k - 1)
        Zn = jnp.where(full, jnp.roll(Zo, -1, axis=0), Zo).at[slot].set(dx / nx)
        Wn = jnp.where(full, jnp.roll(Wo, -1, axis=0), Wo).at[slot].set(ax / nx)
        keep = (nx > 0) & (outer_k > 0)
        Zo, Wo = jnp.where(keep, Zn, Zo), jnp.where(keep, Wn, Wo)
        count = jnp.where(keep, jnp.minimum(count + 1, outer_k), count)
        x_new = x + dx
        # info: -1 running; 0 converged; k + 1 inner breakdown
        info = jnp.where(converged, 0, jnp.where(ok, -1, k + 1)).astype(jnp.int32)
        step = info == -1
        return (k + 1, info, jnp.where(step, x_new, x), pmf, Zo, Wo, count)

    init = (
        jnp.int32(0),
        jnp.where(bnorm == 0, 0, -1).astype(jnp.int32),
        x,
        jnp.ones((), real),
        Zo,
        Wo,
        jnp.int32(0),
    )
    k, info, x, _, Zo, Wo, count = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm > 0, x, b)
    info = jnp.where(info < 0, maxiter, info).astype(jnp.int32)
    return (x, info), (Zo, Wo, count)
