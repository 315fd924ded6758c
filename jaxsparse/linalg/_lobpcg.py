"""``lobpcg``: Locally Optimal Block Preconditioned Conjugate Gradient, in JAX.

How this differs from ``scipy.sparse.linalg.lobpcg``:

- The iteration is one ``lax.while_loop`` of fixed shapes: the trial basis is always
  ``[X, W, P]`` (``3k`` columns), whatever has converged. Converged columns contribute
  no residual direction (soft locking, as in SciPy); their ``W`` columns are zero.
- The new directions ``[W, P]`` are made ``B``-orthogonal to ``X`` and orthonormalised by
  SVQB (Stathopoulos & Wu 2002: an eigendecomposition of their Gram matrix scaled to unit
  diagonal) rather than by a Cholesky factorisation per block. A direction with a tiny
  Gram eigenvalue is numerically dependent (a converged residual, the empty ``P`` of the
  first step, a ``P`` that has fallen into ``span(X, W)``): it is given a Rayleigh
  quotient that is never selected instead of being dropped, so shapes stay static; this
  is the per-direction form of SciPy's restart, which drops all of ``P`` when a Cholesky
  factorisation fails. ``restartControl`` and ``verbosityLevel`` are accepted and ignored.
- ``A`` (and ``B``) multiply the ``2k`` orthonormalised directions each iteration (SciPy:
  the ``k`` residuals, updating ``A P`` by combinations). Multiplying after the
  orthonormalisation keeps each direction and its product consistent however nearly
  dependent the directions were; ``A X`` follows ``X`` by the same well-conditioned
  combinations. The Rayleigh–Ritz step solves the generalised problem of the explicit
  Gram matrices (SciPy's ``explicitGramFlag``), and ``P`` is the ``[W, P]`` part of the
  new iterate, as in SciPy.
- As in SciPy, the iterate with the smallest mean residual norm is kept and post-processed
  by a final Rayleigh–Ritz step; the histories (lists of ``jax.Array``\\ s) run up to that
  iterate, followed by the post-processed values, so ``len(history) - 2`` counts the
  iterations in both. ``lobpcg`` is jit-able (``maxiter``, ``largest`` and the history
  flags static); jitted and cached per shape when ``A``, ``B`` and ``M`` are matrices.
- As in SciPy, small problems (``n < 5 k``) are solved densely (``eigh``), ``tol <= 0``
  means the default, and failure to reach ``tol`` warns (``UserWarning``, outside
  ``jit``) and returns the best iterate.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._eigsh import as_solver_input, generalized_eigh
from ._operator import as_operator, is_callable_operator


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
        tol: residual tolerance; ``None`` or ``<= 0``: ``sqrt(eps) * n``.
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
    ops = [
        None if o is None else as_operator(o, name, n=n, dtype=dtype)
        for o, name in ((A, "A"), (B, "B"), (M, "M"))
    ]
    Aop, Bop, Mop = (None if o is None else o.matvec for o in ops)
    if Y is not None:
        Y = jnp.asarray(Y).astype(dtype)
        if Y.ndim == 1:
            Y = Y[:, None]
    eps = float(jnp.finfo(dtype).eps)
    if tol is None or (not isinstance(tol, jax.core.Tracer) and tol <= 0):
        tol = eps**0.5 * n  # SciPy's default, also for tol <= 0
    if maxiter is None:
        maxiter = 20
    maxiter = int(maxiter)
    n_free = n - (0 if Y is None else Y.shape[1])
    if n_free < 5 * k:
        return _dense(Aop, Bop, Y, n, k, dtype, largest, retLambdaHistory, retResidualNormsHistory)
    user = any(o is not None and is_callable_operator(o.matvec) for o in ops)
    loop = _lobpcg_loop if user else _lobpcg_jit
    lam, X, rnorm, lam_hist, res_hist, best = loop(
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
                f"Exited postprocessing with accuracies \n{rnorm}\n"
                f"not reaching the requested tolerance {tol}.",
                UserWarning,
                stacklevel=2,
            )
        # SciPy's histories: up to the kept iterate, then the post-processed values
        last = int(best) + 1
        lam_hist = [lam_hist[i] for i in range(last)] + [lam]
        res_hist = [res_hist[i] for i in range(last)] + [rnorm]
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


def _svqb(Z):
    """``(T, good)``: ``Z @ T`` has orthonormal columns where ``good``, zero columns
    elsewhere (SVQB: the Gram matrix scaled to unit diagonal is diagonalised; directions
    with a tiny eigenvalue are numerically dependent)."""
    eps = jnp.finfo(Z.dtype).eps
    G = _herm(jnp.conj(Z.T) @ Z)
    d = jnp.sqrt(jnp.maximum(jnp.real(jnp.diag(G)), 0))
    dsafe = jnp.where(d > 0, d, 1)
    th, V = jnp.linalg.eigh(G / (dsafe[:, None] * dsafe[None, :]))
    good = (th > eps * Z.shape[1] * 10 * jnp.max(th)) & (th > 0)
    scale = jnp.where(good, 1 / jnp.sqrt(jnp.where(good, th, 1)), 0)
    return ((V / dsafe[:, None]) * scale[None, :]).astype(Z.dtype), good


def _rayleigh_ritz(S, AS, BS, good, k, largest):
    """The ``k`` wanted Ritz pairs in ``span(S)``, ``(mu, C)`` with Ritz vectors ``S @ C``:
    the generalised problem of the explicit Gram matrices (``S`` is ``B``-orthonormal only
    up to round-off). Columns that are not ``good`` (zero) get a Rayleigh quotient that is
    never selected, so shapes stay static."""
    dtype = S.dtype
    both = good[:, None] & good[None, :]
    Ar = jnp.where(both, _herm(jnp.conj(S.T) @ AS), 0)
    Br = jnp.where(both, _herm(jnp.conj(S.T) @ BS), jnp.eye(S.shape[1], dtype=dtype))
    big = 10 * (1 + jnp.max(jnp.abs(Ar)))
    Ar = Ar + jnp.diag(jnp.where(good, 0, -big if largest else big)).astype(dtype)
    mu, C = generalized_eigh(Ar, Br)
    if largest:
        mu, C = mu[::-1], C[:, ::-1]
    return mu[:k], C[:, :k]


def _lobpcg_loop(Aop, Bop, Mop, Y, X, tol, *, maxiter, largest):
    n, k = X.shape
    dtype = X.dtype
    real = jnp.finfo(dtype).dtype

    def amm(Z):
        return _matmat(Aop, Z).astype(dtype)

    def bmm(Z):
        return Z if Bop is None else _matmat(Bop, Z).astype(dtype)

    def project(Z):  # B-orthogonal to Y
        if Y is None:
            return Z
        BY = bmm(Y)
        G = jnp.conj(Y.T) @ BY
        return Z - Y @ jnp.linalg.solve(G, jnp.conj(BY.T) @ Z)

    def residual(lam, AX, BX):
        R = AX - BX * lam[None, :]
        return R, jnp.sqrt(jnp.sum(jnp.abs(R) ** 2, axis=0))

    def ritz_block(Z):
        """The Ritz pairs of span(Z), ``A`` and ``B`` applied afresh."""
        T, good = _svqb(Z)
        Z = Z @ T
        AZ, BZ = amm(Z), bmm(Z)
        lam, C = _rayleigh_ritz(Z, AZ, BZ, good, k, largest)
        return lam, Z @ C, AZ @ C, BZ @ C

    lam, X, AX, BX = ritz_block(project(X))
    R, rn = residual(lam, AX, BX)
    hist = jnp.full((maxiter + 1, k), jnp.nan, real)
    state = (
        jnp.zeros((), jnp.int32),
        lam,
        X,
        AX,
        BX,
        jnp.zeros_like(X),
        R,
        rn,
        hist.at[0].set(lam.real.astype(real)),
        hist.at[0].set(rn),
        (jnp.mean(rn), jnp.zeros((), jnp.int32), X),
    )

    def cond(s):
        return (s[0] < maxiter) & ~jnp.all(s[7] < tol)

    def body(s):
        it, lam, X, AX, BX, P, R, rn, lh, rh, best = s
        W = R if Mop is None else _matmat(Mop, R).astype(dtype)
        # converged columns contribute no new direction (soft locking)
        W = jnp.where((rn < tol)[None, :], 0, project(W))
        # the new directions [W, P], B-orthogonal to X (twice: classical Gram–Schmidt)
        # and orthonormalised; A and B are applied after that, so that a nearly
        # dependent direction is multiplied as it is, not as a large combination
        Z = jnp.concatenate([W, P], axis=1)
        Z = Z - X @ (jnp.conj(BX.T) @ Z)
        Z = Z - X @ (jnp.conj(BX.T) @ Z)
        T, good = _svqb(Z)
        Z = Z @ T
        AZ, BZ = amm(Z), bmm(Z)
        S = jnp.concatenate([X, Z], axis=1)
        AS = jnp.concatenate([AX, AZ], axis=1)
        BS = jnp.concatenate([BX, BZ], axis=1)
        good = jnp.concatenate([jnp.ones((k,), bool), good])
        lam, C = _rayleigh_ritz(S, AS, BS, good, k, largest)
        X, AX, BX = S @ C, AS @ C, BS @ C
        P = Z @ C[k:]  # the [W, P] part of the new iterate (SciPy's P)
        R, rn = residual(lam, AX, BX)
        score = jnp.mean(rn)
        better = score < best[0]
        best = jax.tree.map(lambda a, b: jnp.where(better, a, b), (score, it + 1, X), best)
        lh = lh.at[it + 1].set(lam.astype(real))
        rh = rh.at[it + 1].set(rn)
        return it + 1, lam, X, AX, BX, P, R, rn, lh, rh, best

    s = lax.while_loop(cond, body, state)
    lh, rh, (_, best_it, Xb) = s[8], s[9], s[10]
    # SciPy's post-processing: a Rayleigh–Ritz step on the best iterate, A and B afresh
    lam, X, AX, BX = ritz_block(project(Xb))
    _, rn = residual(lam, AX, BX)
    return lam, X, rn, lh, rh, best_it


_lobpcg_jit = jax.jit(_lobpcg_loop, static_argnames=("maxiter", "largest"))
