"""``expm_multiply``: the action of the matrix exponential, ``expm(t A) @ B``, in JAX.

Al-Mohy & Higham (2011): a truncated Taylor series of degree ``m`` applied ``s`` times,
with ``(m, s)`` chosen from the 1-norm of ``A - mu I`` (``mu = trace(A) / n``; exact for
matrices, :func:`onenormest` for operators). SciPy sharpens the choice for non-normal ``A``
with estimates of ``||A^p||_1^{1/p}``; we use the bound ``||A||_1`` (same accuracy, at most
a few more products). The choice
and both loops are traced JAX code (``lax.while_loop``), so ``expm_multiply`` is jit-able.
Differences from SciPy: the time-interval form takes ``num`` steps of ``expm(h A)`` with
one ``(m, s)`` for ``h`` (SciPy's blocked scheme re-uses partial sums: same result to
``tol``); for an operator without ``traceA`` the shift is 0 (SciPy estimates the trace).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._direct import as_core
from ._eigsh import as_solver_input, operator_dtype
from ._onenormest import onenormest_op
from ._operator import as_operator

_THETA = {
    1: 2.29e-16,
    2: 2.58e-8,
    3: 1.39e-5,
    4: 3.40e-4,
    5: 2.40e-3,
    6: 9.07e-3,
    7: 2.38e-2,
    8: 5.00e-2,
    9: 8.96e-2,
    10: 1.44e-1,
    11: 2.14e-1,
    12: 3.00e-1,
    13: 4.00e-1,
    14: 5.14e-1,
    15: 6.41e-1,
    16: 7.81e-1,
    17: 9.31e-1,
    18: 1.09,
    19: 1.26,
    20: 1.44,
    21: 1.62,
    22: 1.82,
    23: 2.01,
    24: 2.22,
    25: 2.43,
    26: 2.64,
    27: 2.86,
    28: 3.08,
    29: 3.31,
    30: 3.54,
    35: 4.7,
    40: 6.0,
    45: 7.2,
    50: 8.5,
    55: 9.9,
}


def _inf_norm(X):
    a = jnp.abs(X)
    return jnp.max(a if a.ndim == 1 else jnp.sum(a, axis=1))


def _exact_onenorm_shifted(A, core, mu, n, dtype):
    """``||A - mu I||_1`` for a matrix (column sums of the stored entries)."""
    real = jnp.finfo(dtype).dtype
    if core is not None:
        coo = core.tocoo().sum_duplicates()
        r, c = coo.coords
        off = jnp.where(r == c, 0, jnp.abs(coo.data)).astype(real)
        cols = jnp.zeros(n, real).at[c].add(off, mode="drop")
        return jnp.max(cols + jnp.abs(core.diagonal().astype(dtype) - mu))
    a = jnp.asarray(A).astype(dtype) - mu * jnp.eye(n, dtype=dtype)
    return jnp.max(jnp.sum(jnp.abs(a), axis=0))


def _select(norm1):
    """``(m, s)`` minimising ``m * s`` with ``s = ceil(norm1 / theta_m)`` (SciPy's
    ``_fragment_3_1`` when its condition (3.13) holds; otherwise SciPy refines ``norm1``
    by estimates of ``||A^p||^{1/p} <= ||A||``, which we skip: the bound is safe and only
    costs extra products for strongly non-normal ``A``)."""
    ms = jnp.asarray(list(_THETA), jnp.int32)
    th = jnp.asarray(list(_THETA.values()))
    s = jnp.ceil(norm1 / th)  # float: small theta_m give huge s (int32 would overflow)
    i = jnp.argmin(ms * s)
    zero = norm1 == 0
    return jnp.where(zero, 0, ms[i]), jnp.where(zero, 1, jnp.maximum(s[i], 1).astype(jnp.int32))


def _core(matmat, B, t, mu, m, s, tol):
    """Al-Mohy & Higham's Algorithm 3.2 with early termination of the Taylor series."""
    F = B
    eta = jnp.exp(t * mu / s).astype(B.dtype)

    def outer(i, state):
        F, B = state
        c1 = _inf_norm(B)

        def cond(st):
            return (st[0] < m) & ~st[4]

        def body(st):
            j, B, F, c1, _ = st
            coeff = t / (s * (j + 1)).astype(jnp.result_type(t, float))
            B = coeff.astype(B.dtype) * matmat(B)
            c2 = _inf_norm(B)
            F = F + B
            stop = c1 + c2 <= tol * _inf_norm(F)
            return j + 1, B, F, c2, stop

        _, B, F, _, _ = lax.while_loop(
            cond, body, (jnp.zeros((), jnp.int32), B, F, c1, jnp.zeros((), bool))
        )
        F = eta * F
        return F, F

    F, _ = lax.fori_loop(0, s, outer, (F, B))
    return F


def expm_multiply(
    A: Any, B: jax.Array, start=None, stop=None, num=None, endpoint=None, traceA=None
) -> jax.Array:
    """``expm(A) @ B``, or ``expm(t_k A) @ B`` on ``numpy.linspace(start, stop, num,
    endpoint)`` (stacked on a leading axis), without forming ``expm(A)``.

    Args:
        A: ``(n, n)``: jaxsparse/drop-in/SciPy sparse matrix, dense array or operator.
        B: ``(n,)`` or ``(n, k)``.
        start, stop, num, endpoint: the time grid (defaults 0, 1, 50, True when any is given).
        traceA: ``trace(A)`` if known (computed for matrices; 0 shift for operators).

    Returns:
        ``jax.Array`` of ``B``'s shape, or ``(num,) + B.shape``.

    SciPy equivalent: ``scipy.sparse.linalg.expm_multiply``.
    """
    A = as_solver_input(A)
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError("expected A to be like a square matrix")
    n = int(shape[0])
    B = jnp.asarray(B)
    if B.shape[0] != n or B.ndim not in (1, 2):
        raise ValueError(f"shapes of matrices A {shape} and B {B.shape} are incompatible")
    dtype = jnp.result_type(operator_dtype(A), B.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    dtype = jnp.dtype(dtype)
    B = B.astype(dtype)
    op = as_operator(A, "A", n=n, dtype=dtype)
    core = as_core(A)
    is_matrix = core is not None or isinstance(A, jax.Array | np.ndarray)
    if traceA is None:
        if core is not None:
            traceA = core.trace()
        elif is_matrix:
            traceA = jnp.trace(jnp.asarray(A))
        else:
            traceA = 0.0
    mu = jnp.asarray(traceA, dtype) / n
    tol = 2.0**-53 if jnp.finfo(dtype).bits >= 64 or dtype == jnp.complex128 else 2.0**-24

    def matmat(X):  # (A - mu I) X
        ax = op.matvec(X) if X.ndim == 1 else jax.vmap(op.matvec, in_axes=1, out_axes=1)(X)
        return ax.astype(dtype) - mu * X

    if is_matrix:
        norm1 = _exact_onenorm_shifted(A, core, mu, n, dtype)
    else:
        rmm = jax.vmap(
            lambda v: op.rmatvec(v).astype(dtype) - jnp.conj(mu) * v, in_axes=1, out_axes=1
        )
        norm1 = onenormest_op(matmat, rmm, n, dtype)[0]

    def params(t):
        return _select(jnp.abs(t) * norm1)

    if start is None and stop is None and num is None and endpoint is None:
        t = jnp.asarray(1.0, jnp.finfo(dtype).dtype)
        m, s = params(t)
        return _core(matmat, B, t, mu, m, s, tol)
    start = 0.0 if start is None else start
    stop = 1.0 if stop is None else stop
    num = 50 if num is None else int(num)
    endpoint = True if endpoint is None else bool(endpoint)
    real = jnp.finfo(dtype).dtype
    step = (jnp.asarray(stop, real) - start) / ((num - 1) if endpoint else num)
    t0 = jnp.asarray(start, real)
    m0, s0 = params(t0)
    X0 = _core(matmat, B, t0, mu, m0, s0, tol)
    mh, sh = params(step)

    def advance(X, _):
        Xn = _core(matmat, X, step, mu, mh, sh, tol)
        return Xn, Xn

    _, rest = lax.scan(advance, X0, None, length=num - 1)
    return jnp.concatenate([X0[None], rest], axis=0)
