"""``lobpcg``: Locally Optimal Block Preconditioned Conjugate Gradient, in JAX.

How this differs from ``scipy.sparse.linalg.lobpcg``:

- The iteration is one ``lax.while_loop`` of fixed shapes: the trial basis is always
  ``[X, W, P]`` (``3k`` columns). Its ``B``-orthonormalisation is SVQB (Stathopoulos & Wu
  2002: an eigendecomposition of the Gram matrix); directions that are numerically
  dependent (converged residuals, the empty ``P`` of the first step) are given a
  Rayleigh quotient that is never selected instead of being dropped, so shapes stay static.
  ``lobpcg`` is jit-able (``maxiter``, ``largest`` and the history flags static).
- ``restartControl`` and ``verbosityLevel`` are accepted and ignored (SVQB needs no
  restarts). Histories, when asked for, are lists of ``jax.Array``\\ s as in SciPy.
- As in SciPy, small problems (``n < 5 k``) are solved densely (``eigh``), and failure to
  reach ``tol`` warns (``UserWarning``, outside ``jit``) and returns the last iterate.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._eigsh import as_solver_input, generalized_eigh
from ._operator import as_operator


def _matmat(matvec, X):
    return jax.vmap(matvec, in_axes=1, out_axes=1)(X)


def _herm(G):
    return (G + jnp.conj(G.T)) / 2


def lobpcg(
    A: Any,
    X: jax.Array,
    B: Any = None,
    M: Any = None,
    Y: jax.Array | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    largest: bool = True,
    verbosityLevel: int = 0,
    retLambdaHistory: bool = False,
    retResidualNormsHistory: bool = False,
    restartControl: int = 20,
):
    """The ``k`` extreme eigenpairs of ``A x = lambda B x`` (Hermitian ``A``, HPD ``B``).

    Args:
        A: ``(n, n)`` Hermitian: jaxsparse/drop-in/SciPy sparse matrix, dense array,
            ``LinearOperator`` or JAX callable.
        X: initial block ``(n, k)`` (or ``(n,)`` for ``k = 1``).
        B: Hermitian positive definite, default the identity.
        M: preconditioner approximating ``A^{-1}``.
        Y: ``(n, j)`` constraints: iterates stay ``B``-orthogonal to its columns.
        tol: residual tolerance, default ``sqrt(eps) * n``.
        maxiter: default 20.
        largest: the largest (``True``) or smallest eigenvalues.
        retLambdaHistory, retResidualNormsHistory: also return the histories.

    Returns:
        ``(lambda, X)`` (eigenvalues descending if ``largest`` else ascending), followed
        by the requested histories.

    Example:
        >>> import scipy.sparse as sps, jax.numpy as jnp, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.diags([-1., 2., -1.], [-1, 0, 1], shape=(50, 50)))
        >>> X = jnp.asarray(np.random.default_rng(0).standard_normal((50, 2)))  # doctest: +SKIP
        >>> w, V = js.linalg.lobpcg(A, X, largest=False, maxiter=200)  # doctest: +SKIP

    SciPy equivalent: ``scipy.sparse.linalg.lobpcg``.
    """
    del verbosityLevel, restartControl
    A, B, M = as_solver_input(A), as_solver_input(B), as_solver_input(M)
    X = jnp.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"expected X to be 1-D or 2-D, got shape {X.shape}")
    n, k = X.shape
    dtypes = [X.dtype] + [getattr(o, "dtype", None) for o in (A, B)]
    dtype = jnp.result_type(*[d for d in dtypes if d is not None])
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    X = X.astype(dtype)
    Aop = as_operator(A, "A", n=n, dtype=dtype).matvec
    Bop = None if B is None else as_operator(B, "B", n=n, dtype=dtype).matvec
    Mop = None if M is None else as_operator(M, "M", n=n, dtype=dtype).matvec
    if Y is not None:
        Y = jnp.asarray(Y).astype(dtype)
        if Y.ndim == 1:
            Y = Y[:, None]
    eps = float(jnp.finfo(dtype).eps)
    if tol is None:
        tol = eps**0.5 * n
    if maxiter is None:
        maxiter = 20
    maxiter = int(maxiter)
    n_free = n - (0 if Y is None else Y.shape[1])
    if n_free < 5 * k:
        return _dense(Aop, Bop, Y, n, k, dtype, largest, retLambdaHistory, retResidualNormsHistory)
    lam, X, rnorm, lam_hist, res_hist, it = _lobpcg_loop(
        Aop,
        Bop,
        Mop,
        Y,
        X,
        jnp.asarray(tol, jnp.finfo(dtype).dtype),
        maxiter=maxiter,
        largest=largest,
    )
    if not isinstance(rnorm, jax.core.Tracer):
        if not bool(jnp.all(rnorm < tol)):
            warnings.warn(
                f"Exited at iteration {int(it)} with accuracies \n{rnorm}\n"
                f"not reaching the requested tolerance {tol}.",
                UserWarning,
                stacklevel=2,
            )
        lam_hist = [lam_hist[i] for i in range(int(it) + 1)]
        res_hist = [res_hist[i] for i in range(int(it) + 1)]
    out = (lam, X)
    if retLambdaHistory:
        out = out + (lam_hist,)
    if retResidualNormsHistory:
        out = out + (res_hist,)
    return out


def _dense(Aop, Bop, Y, n, k, dtype, largest, ret_lam, ret_res):
    """SciPy's small-problem path: a dense (generalised) ``eigh``."""
    eye = jnp.eye(n, dtype=dtype)
    Ad = _herm(_matmat(Aop, eye))
    Bd = eye if Bop is None else _herm(_matmat(Bop, eye))
    if Y is not None:  # restrict to the B-orthogonal complement of Y
        Q = jnp.linalg.qr(Bd @ Y, mode="complete")[0][:, Y.shape[1] :]
        Ad, Bd = _herm(jnp.conj(Q.T) @ Ad @ Q), _herm(jnp.conj(Q.T) @ Bd @ Q)
    w, V = generalized_eigh(Ad, Bd)
    if Y is not None:
        V = Q @ V
    if largest:
        w, V = w[::-1][:k], V[:, ::-1][:, :k]
    else:
        w, V = w[:k], V[:, :k]
    out = (w, V)
    if ret_lam:
        out = out + ([w],)
    if ret_res:
        out = out + ([jnp.zeros(k, jnp.finfo(dtype).dtype)],)
    return out


def _lobpcg_loop(Aop, Bop, Mop, Y, X, tol, *, maxiter, largest):
    n, k = X.shape
    dtype = X.dtype
    real = jnp.finfo(dtype).dtype
    eps = jnp.finfo(dtype).eps
    bmm = (lambda Z: Z) if Bop is None else (lambda Z: _matmat(Bop, Z))

    def project(Z):  # B-orthogonal to Y
        if Y is None:
            return Z
        BY = bmm(Y)
        G = jnp.conj(Y.T) @ BY
        return Z - Y @ jnp.linalg.solve(G, jnp.conj(BY.T) @ Z)

    def rayleigh_ritz(S):
        """B-orthonormalise S (SVQB, dependent directions flagged) and return the k wanted
        Ritz pairs in span(S)."""
        BS = bmm(S)
        G = _herm(jnp.conj(S.T) @ BS)
        d = jnp.sqrt(jnp.maximum(jnp.real(jnp.diag(G)), 0))
        dsafe = jnp.where(d > 0, d, 1)
        Gn = G / (dsafe[:, None] * dsafe[None, :])
        th, Z = jnp.linalg.eigh(Gn)
        good = (th > eps * S.shape[1] * 10 * jnp.max(th)) & (th > 0)
        T = (Z / dsafe[:, None]) * jnp.where(good, 1 / jnp.sqrt(jnp.where(good, th, 1)), 0)[None, :]
        Q = S @ T.astype(dtype)
        AQ = _matmat(Aop, Q)
        Ar = _herm(jnp.conj(Q.T) @ AQ)
        big = 10 * (1 + jnp.max(jnp.abs(Ar)))
        pen = jnp.where(largest, -big, big)
        Ar = jnp.where(good[:, None] & good[None, :], Ar, 0)
        Ar = Ar + jnp.diag(jnp.where(good, 0, pen)).astype(Ar.dtype)
        mu, C = jnp.linalg.eigh(Ar)
        if largest:
            mu, C = mu[::-1], C[:, ::-1]
        C = C[:, :k]
        return mu[:k], Q @ C, AQ @ C

    X = project(X)
    lam, X, AX = rayleigh_ritz(X)
    P = jnp.zeros_like(X)
    hist = jnp.full((maxiter + 1, k), jnp.nan, real)

    def residual(lam, X, AX):
        R = AX - bmm(X) * lam[None, :]
        return R, jnp.sqrt(jnp.sum(jnp.abs(R) ** 2, axis=0))

    R, rn = residual(lam, X, AX)
    state = (
        jnp.zeros((), jnp.int32),
        lam,
        X,
        AX,
        P,
        R,
        rn,
        hist.at[0].set(lam.real.astype(real)),
        hist.at[0].set(rn),
    )

    def cond(s):
        return (s[0] < maxiter) & ~jnp.all(s[6] < tol)

    def body(s):
        it, lam, X, AX, P, R, rn, lh, rh = s
        W = R if Mop is None else _matmat(Mop, R)
        W = project(W)
        # converged columns contribute no new direction (soft locking)
        W = jnp.where((rn < tol)[None, :], 0, W)
        lam_new, Xn, AXn = rayleigh_ritz(jnp.concatenate([X, W, P], axis=1))
        # P: the part of the new iterate B-orthogonal to the old one
        Pn = Xn - X @ (jnp.conj(X.T) @ bmm(Xn))
        R, rn = residual(lam_new, Xn, AXn)
        return (
            it + 1,
            lam_new,
            Xn,
            AXn,
            Pn,
            R,
            rn,
            lh.at[it + 1].set(lam_new.astype(real)),
            rh.at[it + 1].set(rn),
        )

    it, lam, X, _, _, _, rn, lh, rh = lax.while_loop(cond, body, state)
    return lam, X, rn, lh, rh, it
