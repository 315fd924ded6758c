"""``onenormest``: a lower bound on ``||A||_1`` from a few products, in JAX (jit-able).

The block power method of Higham & Tisseur (2000, Algorithm 2.4) with ``t`` columns and
at most ``itmax`` iterations, as one ``lax.while_loop``. Differences from SciPy: the
starting block is deterministic (ones, then +-1 columns from a fixed hash) rather than
random, and the parallel-column resampling is omitted; for ``t >= n`` the norm is computed
exactly from ``A @ I``, as SciPy does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._eigsh import as_solver_input, operator_dtype
from ._operator import as_operator


def _signs(n, t, dtype):
    i = jnp.arange(n, dtype=jnp.float32)[:, None]
    j = jnp.arange(t, dtype=jnp.float32)[None, :]
    x = jnp.sin(i * 12.9898 + j * 78.233) * 43758.5453
    s = jnp.where(x - jnp.floor(x) < 0.5, -1.0, 1.0).astype(dtype)
    return s.at[:, 0].set(1.0)


def onenormest_op(matmat, rmatmat, n: int, dtype, t: int = 2, itmax: int = 5):
    """``(est, v, w)`` for the operator given by its block products (``w = A v``)."""
    real = jnp.finfo(dtype).dtype
    if t >= n:
        Y = matmat(jnp.eye(n, dtype=dtype))
        cols = jnp.sum(jnp.abs(Y), axis=0)
        j = jnp.argmax(cols)
        v = jnp.zeros(n, dtype).at[j].set(1)
        return cols[j].astype(real), v, Y[:, j]
    X = _signs(n, t, dtype) / n

    def body(s):
        it, X, est_old, v, w, ind_best, stop = s
        Y = matmat(X)
        cols = jnp.sum(jnp.abs(Y), axis=0)
        b = jnp.argmax(cols)
        est = cols[b]
        worse = (it >= 1) & (est <= est_old)
        # ind_best refers to X's columns being unit vectors (it >= 1); first pass: X[:, b]
        v_new = X[:, b]
        w_new = Y[:, b]
        est_keep = jnp.where(worse, est_old, est)
        v = jnp.where(worse, v, v_new)
        w = jnp.where(worse, w, w_new)
        S = (
            jnp.where(jnp.real(Y) >= 0, 1.0, -1.0).astype(dtype)
            if not jnp.iscomplexobj(Y)
            else jnp.where(jnp.abs(Y) > 0, Y / jnp.where(jnp.abs(Y) > 0, jnp.abs(Y), 1), 1)
        )
        Z = rmatmat(S)
        h = jnp.max(jnp.abs(Z), axis=1)
        ind = jnp.argsort(-h)[:t].astype(jnp.int32)
        no_gain = (it >= 1) & (jnp.max(h) <= h[ind_best])
        Xn = jnp.zeros((n, t), dtype).at[ind, jnp.arange(t)].set(1)
        return (it + 1, Xn, est_keep, v, w, ind[0], worse | no_gain)

    init = (
        jnp.zeros((), jnp.int32),
        X,
        jnp.zeros((), real),
        jnp.zeros(n, dtype),
        jnp.zeros(n, dtype),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), bool),
    )
    _, _, est, v, w, _, _ = lax.while_loop(lambda s: (s[0] < itmax) & ~s[6], body, init)
    return est, v, w


def onenormest(
    A: Any, t: int = 2, itmax: int = 5, compute_v: bool = False, compute_w: bool = False
):
    """Estimate the 1-norm of a square matrix or operator (a lower bound, usually exact).

    Args:
        A: ``(n, n)``: jaxsparse/drop-in/SciPy sparse matrix, dense array or
            ``LinearOperator``.
        t: block size (accuracy vs cost); ``t >= n`` computes the norm exactly.
        itmax: at most this many iterations (>= 2).
        compute_v, compute_w: also return ``v`` (``||A v||_1 = est ||v||_1``) and
            ``w = A v``.

    Returns:
        ``est`` or ``(est, v)``, ``(est, w)``, ``(est, v, w)``.

    SciPy equivalent: ``scipy.sparse.linalg.onenormest``.
    """
    A = as_solver_input(A)
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError("expected the operator to act like a square matrix")
    n = int(shape[0])
    dtype = operator_dtype(A)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    op = as_operator(A, "A", n=n, dtype=dtype)
    mm = jax.vmap(op.matvec, in_axes=1, out_axes=1)
    rmm = jax.vmap(op.rmatvec, in_axes=1, out_axes=1)
    if itmax < 2:
        raise ValueError("at least two iterations are required")
    if t < 1:
        raise ValueError("at least one column is required")
    est, v, w = onenormest_op(mm, rmm, n, jnp.dtype(dtype), int(t), int(itmax))
    out = (est,)
    if compute_v:
        out = out + (v,)
    if compute_w:
        out = out + (w,)
    return out[0] if len(out) == 1 else out
