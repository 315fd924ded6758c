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

Operands, jit caching, callbacks and gradients are every square solver's
(``_krylov.solve_square``); this file holds the iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..ops._cg_update import cg_update
from ._krylov import budget, emit, initial_residual, solve_square
from ._operator import is_identity
from ._vectors import squared_norm, vdot


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
        A: the ``(n, n)`` operator: a jaxsparse matrix, ShardedCSR, dense 2-D array,
            ``LinearOperator`` or callable ``matvec(v) -> A @ v``. Matvecs written in
            NumPy run through ``jax.pure_callback`` (one host round trip per product).
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
    params = dict(rtol=rtol, atol=atol, maxiter=-1 if maxiter is None else maxiter)
    return solve_square(
        "cg", _loop, A, b, x0, (M,), params=params, static=(_update_backend(A, b),),
        callback=callback, hermitian=True,
    )


def _update_backend(A, b) -> str | None:
    """The backend of the loop's vector update: the platform's default (on a CPU, one
    parallel native pass) for vectors on one device; the ``jnp`` update for sharded
    ones, which the SPMD partitioner splits (it would gather a custom call's operands)."""
    from ..sharding import ShardedCSR

    if isinstance(A, ShardedCSR):
        return "xla"
    if isinstance(b, jax.core.Tracer):
        spec = getattr(jax.typeof(b).sharding, "spec", None)
        return "xla" if spec is not None and any(s is not None for s in spec) else None
    if isinstance(b, jax.Array) and len(b.sharding.device_set) > 1:
        return "xla"
    return None


def _loop(A, Ms, b, x0, params, static, callback):
    """SciPy's ``cg`` iteration as one ``lax.while_loop``; returns ``(x, info)``."""
    (M,) = Ms
    (update_backend,) = static
    dtype = b.dtype
    maxiter, bnorm, tol = budget(b, params, 10 * b.shape[0])
    x, r = initial_residual(A, b, x0)

    # Without a preconditioner z == r, so rho = <r, r> is the squared residual norm the
    # previous iteration already summed: carrying it saves one pass over r per iteration
    # (the loop is memory-bound; every vector pass counts).
    plain = is_identity(M.matvec)

    def cond(state):
        k, _, _, _, _, rr = state
        # ``~(rnorm < tol)`` rather than ``rnorm >= tol``: a NaN keeps iterating to
        # maxiter and reports failure, as SciPy does.
        return (k < maxiter) & ~(jnp.sqrt(rr) < tol) & (bnorm != 0)

    def body(state):
        k, x, r, p, rho_prev, rr = state
        if plain:
            z, rho = r, rr.astype(dtype)
        else:
            z = M.matvec(r).astype(dtype)
            rho = vdot(r, z)
        beta = jnp.where(k > 0, rho / rho_prev, jnp.zeros((), dtype))
        p = z + beta * p
        q = A.matvec(p).astype(dtype)
        alpha = rho / vdot(p, q)
        x, r, rr = cg_update(x, r, p, q, alpha, backend=update_backend)
        emit(callback, x)  # an ordered host call per iteration (see ``cg``'s docstring)
        return k + 1, x, r, p, rho, rr

    init = (jnp.int32(0), x, r, jnp.zeros_like(b), jnp.ones((), dtype), squared_norm(r))
    k, x, *_ = lax.while_loop(cond, body, init)
    # SciPy returns ``b`` itself (all zeros) when ``norm(b) == 0``, whatever ``x0`` is.
    x = jnp.where(bnorm != 0, x, b)
    info = jnp.where((k < maxiter) | (bnorm == 0), 0, maxiter).astype(jnp.int32)
    return x, info
