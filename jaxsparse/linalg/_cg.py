"""Conjugate gradients for Hermitian positive definite systems.

How this differs from ``jax.scipy.sparse.linalg.cg``:

- SciPy's stopping rule and return value exactly: stop when
  ``norm(r) < max(atol, rtol * norm(b))`` is seen at the top of an iteration, and return
  ``(x, info)`` with ``info == 0`` on convergence, else the number of iterations done.
- Dot products are sums of products (``jnp.sum(conj(a) * b)``), never ``jnp.dot``/``vdot``
  of vectors, so the solver runs on vectors sharded over an Explicit mesh.
- The whole loop is one ``lax.while_loop``: no host round trip per iteration, jit-able.
- Gradients come from ``lax.custom_linear_solve`` (implicit differentiation at the
  solution), never from differentiating through the loop. For complex Hermitian ``A`` the
  transposed solve is ``conj(A^{-1} conj(c))`` (``A.T == conj(A)``), not ``A^{-1} c``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._operator import as_matvec, identity, is_callable_operator, is_identity
from ._sharded import solve_in_layout
from ._vectors import norm, squared_norm, vdot


def cg(
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
    """Solve ``A x = b`` for Hermitian positive definite ``A`` by conjugate gradients.

    Args:
        A: the ``(n, n)`` operator: a jaxsparse matrix, a dense 2-D array, or a callable
            ``matvec(v) -> A @ v`` written in JAX.
        b: right-hand side, shape ``(n,)``.
        x0: starting guess (default zeros).
        rtol, atol: stop when ``norm(b - A @ x) < max(atol, rtol * norm(b))``.
        maxiter: iteration limit (default ``10 * n``, as in SciPy).
        M: preconditioner approximating ``A^{-1}``, same kinds as ``A``; it must be
            Hermitian positive definite too.
        callback: ``callback(xk)`` after each iteration, run on the host through an
            ordered ``jax.debug.callback`` (a device-to-host copy per iteration; the
            solver is traced afresh on each call). ``None`` (default): no host round trip.

    Returns:
        ``(x, info)``: the solution, and an int32 scalar array: ``0`` if it converged,
        otherwise the number of iterations done (``maxiter``). ``info`` is an array, not a
        Python int, so that ``cg`` works under ``jit``.

    Gradients: ``jax.grad`` flows to ``b`` and to arrays ``A`` closes over (a sparse
    matrix's ``data``) by implicit differentiation; the solver loop is not differentiated.

    Example:
        >>> import scipy.sparse as sps, jax.numpy as jnp, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.diags([-1, 2, -1], [-1, 0, 1], shape=(8, 8)))
        >>> x, info = js.linalg.cg(A, jnp.ones(8), rtol=1e-10)
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.cg``.
    """
    b = jnp.asarray(b)
    if b.ndim != 1:
        raise ValueError(f"b must be 1-D, got shape {b.shape}")
    solve = functools.partial(
        _solve, A, rtol=rtol, atol=atol, maxiter=maxiter, M=M, callback=callback
    )
    return solve_in_layout(A, b, x0, M, solve)


def _solve(A, b, x0, *, rtol, atol, maxiter, M, callback=None):
    """``cg`` once ``b`` (and ``x0``) are in the operator's vector layout."""
    n = b.shape[0]
    matvec, a_dtype = as_matvec(A, n, "A")
    if M is None:
        psolve, m_dtype = identity(), None
    else:
        psolve, m_dtype = as_matvec(M, n, "M")

    dtypes = [b.dtype] + [d for d in (a_dtype, m_dtype) if d is not None]
    if x0 is not None:
        x0 = jnp.asarray(x0)
        if x0.shape != b.shape:
            raise ValueError(f"x0 must have the shape of b, {b.shape}, got {x0.shape}")
        dtypes.append(x0.dtype)
    dtype = jnp.result_type(*dtypes)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    b = b.astype(dtype)
    if x0 is not None:
        x0 = x0.astype(dtype)
    if maxiter is None:
        maxiter = 10 * n
    if is_callable_operator(matvec) or is_callable_operator(psolve) or callback is not None:
        # A user's function would become part of the jit cache key (and be kept alive
        # by the cache, with whatever it closes over): trace it afresh instead.
        return _cg(matvec, psolve, b, x0, rtol, atol, maxiter, callback)
    return _cg_jit(matvec, psolve, b, x0, rtol, atol, maxiter)


def _cg(matvec, psolve, b, x0, rtol, atol, maxiter, callback=None):
    """The solve with implicit gradients. Jitted below: eager calls with a sparse or dense
    operator of the same shapes then reuse one executable (tolerances and ``maxiter`` are
    traced values, so changing them does not recompile either)."""
    complex_ = jnp.issubdtype(b.dtype, jnp.complexfloating)

    def solve(mv: Callable, rhs: jax.Array, guess: jax.Array | None = x0, cb=callback):
        return _cg_loop(mv, psolve, rhs, guess, rtol, atol, maxiter, cb)

    def transpose_solve(_vecmat: Callable, rhs: jax.Array):
        # A^T y = c  with A Hermitian:  A^T = conj(A), so  y = conj(A^{-1} conj(c)),
        # a solve with A itself (and M). The cotangent solve starts from zero.
        if not complex_:
            return solve(matvec, rhs, None, None)
        y, info = solve(matvec, jnp.conj(rhs), None, None)
        return jnp.conj(y), info

    return lax.custom_linear_solve(matvec, b, solve, transpose_solve, symmetric=True, has_aux=True)


_cg_jit = jax.jit(_cg)


def _cg_loop(matvec, psolve, b, x0, rtol, atol, maxiter, callback=None):
    """SciPy's ``cg`` iteration as one ``lax.while_loop``; returns ``(x, info)``."""
    dtype = b.dtype
    real = jnp.finfo(dtype).dtype
    bnorm = norm(b)
    tol = jnp.maximum(jnp.asarray(atol, real), jnp.asarray(rtol, real) * bnorm)
    if x0 is None:
        x, r = jnp.zeros_like(b), b
    else:
        x, r = x0, b - matvec(x0).astype(dtype)

    # Without a preconditioner z == r, so rho = <r, r> is the squared residual norm the
    # previous iteration already summed: carrying it saves one pass over r per iteration
    # (the loop is memory-bound; every vector pass counts).
    plain = is_identity(psolve)

    def cond(state):
        k, _, _, _, _, rr = state
        # ``~(rnorm < tol)`` rather than ``rnorm >= tol``: a NaN keeps iterating to
        # maxiter and reports failure, as SciPy does.
        return (k < maxiter) & ~(jnp.sqrt(rr) < tol) & (bnorm > 0)

    def body(state):
        k, x, r, p, rho_prev, rr = state
        if plain:
            z, rho = r, rr.astype(dtype)
        else:
            z = psolve(r).astype(dtype)
            rho = vdot(r, z)
        beta = jnp.where(k > 0, rho / rho_prev, jnp.zeros((), dtype))
        p = z + beta * p
        q = matvec(p).astype(dtype)
        alpha = rho / vdot(p, q)
        x = x + alpha * p
        r = r - alpha * q
        if callback is not None:  # ordered host call per iteration (see ``cg``'s docstring)
            jax.debug.callback(callback, x, ordered=True)
        return k + 1, x, r, p, rho, squared_norm(r)

    init = (jnp.zeros((), jnp.int32), x, r, jnp.zeros_like(b), jnp.ones((), dtype),
            squared_norm(r))
    k, x, *_ = lax.while_loop(cond, body, init)
    # SciPy returns ``b`` itself (all zeros) when ``norm(b) == 0``, whatever ``x0`` is.
    x = jnp.where(bnorm > 0, x, b)
    info = jnp.where((k < maxiter) | (bnorm == 0), 0, maxiter).astype(jnp.int32)
    return x, info
