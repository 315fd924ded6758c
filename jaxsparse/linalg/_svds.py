"""``svds``: a few singular values/vectors of a sparse matrix or operator, in JAX.

As in SciPy, an eigensolver runs on the smaller Gram operator ``A^H A`` (or ``A A^H``),
whose eigenvectors are then orthonormalised and turned into singular triplets with a
small dense SVD of ``A Q``. The eigensolver follows ``solver``:

- ``'arpack'`` (default): :func:`eigsh`'s restarted Lanczos (with its locking, so
  repeated singular values come with all their copies).
- ``'lobpcg'``: :func:`lobpcg` on the Gram operator, from a random block (``v0`` when
  ``k == 1``), with ``tol ** 2`` and ``maxiter`` (default 20) passed on, as in SciPy. As
  in SciPy, too few iterations warn and return the last iterate.
- ``'propack'``: there is no PROPACK (Lanczos bidiagonalisation) here; the ``'arpack'``
  Lanczos method serves, started from ``A^H v0`` (``v0`` has ``A.shape[0]`` entries for
  PROPACK), with ``maxiter`` bounding restarts rather than PROPACK's basis size.
  ``k == min(A.shape)``, which PROPACK allows, is done densely.

Singular values come in ascending order, as in SciPy. Jit-able (``k``, ``which``,
``solver``, ``return_singular_vectors`` static); under ``jit`` a failure to converge
cannot raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from ._eigsh import as_solver_input, finish, start_vector
from ._krylov_schur import run_krylov_schur
from ._operator import as_operator

_SOLVERS = ("arpack", "lobpcg", "propack")


def _gram(matvec, rmatvec, v):
    return rmatvec(matvec(v))


def _matmat(f, X):
    return jax.vmap(f, in_axes=1, out_axes=1)(X)


def _check_options(options: Any) -> None:
    """SciPy reserves ``options`` "for future use" and reads none of its keys; so do
    we, but a value that is not a mapping is refused rather than silently dropped."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict or None, got {type(options).__name__}")


def _check_scalars(tol: float, maxiter: int | None) -> None:
    """SciPy's checks of ``tol`` and ``maxiter`` (concrete values only)."""
    if not isinstance(tol, jax.core.Tracer) and (tol < 0 or not np.isfinite(tol)):
        raise ValueError("`tol` must be a non-negative floating point value.")
    if maxiter is not None and (int(maxiter) != maxiter or maxiter <= 0):
        raise ValueError("`maxiter` must be a positive integer.")


def _lanczos_vectors(gram, v0, tol, maxiter, ncv, *, k, which, size, user):
    """Orthonormal Gram eigenvectors from restarted Lanczos (``'arpack'``,
    ``'propack'``)."""
    if ncv is None:
        ncv = min(size, max(2 * k + 1, 20))
    ncv = int(ncv)
    if not k < ncv <= size:
        raise ValueError(f"ncv must satisfy k < ncv <= min(A.shape), got ncv={ncv}")
    if maxiter is None:
        maxiter = 10 * size
    tol2 = jnp.asarray(tol, jnp.finfo(v0.dtype).dtype) ** 2
    lanczos_which = "LA" if which == "LM" else "SA"
    _, W, conv, _ = run_krylov_schur(
        gram, None, v0, tol2, maxiter, k=k, m=ncv, which=lanczos_which, hermitian=True, user=user
    )
    traced = isinstance(conv, jax.core.Tracer)
    finish(
        jnp.zeros(k),
        W,
        conv,
        k=k,
        traced=traced,
        return_eigenvectors=True,
        order=jnp.argsort,
        what="singular values",
    )
    return W


def _lobpcg_vectors(gram, v0, tol, maxiter, rng, *, k, which, size, dtype):
    """Gram eigenvectors from LOBPCG, started as SciPy starts it: ``v0`` for ``k == 1``,
    else a standard normal block (from ``rng``; a fixed seed by default)."""
    from ._lobpcg import lobpcg

    if k == 1 and v0 is not None:
        X = jnp.reshape(jnp.asarray(v0), (-1, 1))
    else:
        gen = np.random.default_rng(0 if rng is None else rng)
        X = gen.standard_normal((size, k))
        if jnp.issubdtype(dtype, jnp.complexfloating):
            X = X + 1j * gen.standard_normal((size, k))
    tol2 = None if tol == 0 else tol**2  # SciPy's lobpcg reads tol <= 0 as its default
    _, W = lobpcg(gram, jnp.asarray(X, dtype), tol=tol2, maxiter=maxiter, largest=which == "LM")
    return W


def _dense_triplets(op, dtype, m, n):
    """All ``min(m, n)`` singular triplets from the densified operator (PROPACK allows
    ``k == min(A.shape)``; a Krylov method cannot)."""
    D = _matmat(op.matvec, jnp.eye(n, dtype=dtype))
    u, s, vh = jnp.linalg.svd(D, full_matrices=False)
    return u[:, ::-1], s[::-1], vh[::-1, :]


def _triplets(op, Q, dtype, *, tall, vectors):
    """Singular triplets from orthonormal Gram eigenvectors ``Q``: the SVD of ``A Q``
    (``A^H Q`` when ``A`` is wide), ascending."""
    apply = op.matvec if tall else op.rmatvec
    Z = _matmat(apply, Q.astype(dtype))  # (m, k) or (n, k)
    if not vectors:
        return None, jnp.sort(jnp.linalg.svd(Z, compute_uv=False)), None
    u2, s, vh2 = jnp.linalg.svd(Z, full_matrices=False)  # descending
    if tall:
        u, vh = u2, vh2 @ jnp.conj(Q.T)
    else:  # A^H Q = u2 s vh2  =>  A = Q vh2^H s u2^H
        u, vh = Q @ jnp.conj(vh2.T), jnp.conj(u2.T)
    return u[:, ::-1], s[::-1], vh[::-1, :]


def svds(
    A: Any,
    k: int = 6,
    ncv: int | None = None,
    tol: float = 0,
    which: str = "LM",
    v0: jax.Array | None = None,
    maxiter: int | None = None,
    return_singular_vectors: bool | str = True,
    solver: str = "arpack",
    rng: Any = None,
    options: dict | None = None,
):
    """``k`` largest (``which='LM'``) or smallest (``'SM'``) singular triplets of ``A``.

    Args:
        A: ``(m, n)``: a jaxsparse or drop-in matrix, a SciPy sparse matrix (copied once),
            a dense array or a ``LinearOperator`` (with ``rmatvec`` or JAX code).
        k: number of singular values, ``0 < k < min(m, n)`` (``<=`` for ``'propack'``).
        ncv: Lanczos basis size (``'arpack'``; ignored by the other solvers, as in SciPy).
        tol: relative accuracy (``tol ** 2`` is used on the Gram operator, as in SciPy).
        which: ``'LM'`` or ``'SM'``.
        v0: start vector: length ``min(m, n)`` (``'arpack'``, and ``'lobpcg'`` with
            ``k == 1``), ``m`` (``'propack'``).
        maxiter: restarts (Lanczos; default ``10 * min(m, n)``) or iterations
            (``'lobpcg'``; default 20).
        return_singular_vectors: ``True`` -> ``(u, s, vh)``; ``False`` -> ``s``;
            ``'u'`` -> ``(u, s, None)``; ``'vh'`` -> ``(None, s, vh)``.
        solver: ``'arpack'``, ``'lobpcg'`` or ``'propack'`` (see the module docstring).
        rng: seed or ``numpy.random.Generator`` for the default start.
        options: a dict or ``None``; SciPy reserves it for future use and reads none of
            its keys, and neither do we.

    Returns:
        As ``return_singular_vectors`` says; ``s`` ascending, ``u`` ``(m, k)``,
        ``vh`` ``(k, n)``, ``jax.Array``\\ s.

    Raises:
        ArpackNoConvergence: the Lanczos iteration did not converge (outside ``jit``).

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.random_array((40, 30), density=0.2, rng=0))
        >>> s = js.linalg.svds(A, k=3, return_singular_vectors=False)

    SciPy equivalent: ``scipy.sparse.linalg.svds``.
    """
    solver = str(solver).lower()
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}.")
    _check_options(options)
    if which not in ("LM", "SM"):
        raise ValueError("`which` must be either 'LM' or 'SM'.")
    if return_singular_vectors not in (True, False, "u", "vh"):
        raise ValueError("`return_singular_vectors` must be either True, False, 'u', or 'vh'.")
    _check_scalars(tol, maxiter)
    A = as_solver_input(A)
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError("`A` must be of floating or complex floating data type and 2-D")
    m, n = int(shape[0]), int(shape[1])
    k = int(k)
    kmax = min(m, n) if solver == "propack" else min(m, n) - 1
    if not 0 < k <= kmax:
        raise ValueError(f"`k` must be an integer satisfying `0 < k < min(A.shape)`, got {k}")
    op = as_operator(A, "A", n=m, square=False)
    dtype = op.dtype if op.dtype is not None else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    dtype = jnp.dtype(dtype)
    tall = m >= n  # iterate on the smaller Gram matrix
    size = n if tall else m
    vectors = return_singular_vectors is not False
    if k == size:  # 'propack' only
        u, s, vh = _dense_triplets(op, dtype, m, n)
    else:
        gram = (
            Partial(_gram, op.matvec, op.rmatvec) if tall else Partial(_gram, op.rmatvec, op.matvec)
        )
        if solver == "lobpcg":
            W = _lobpcg_vectors(
                gram, v0, tol, maxiter, rng, k=k, which=which, size=size, dtype=dtype
            )
        else:
            if solver == "propack" and v0 is not None:
                v0 = jnp.asarray(v0)
                if v0.shape != (m,):
                    raise ValueError(f"`v0` must have shape {(m,)}.")
                v0 = op.rmatvec(v0.astype(dtype)) if tall else v0
            v0 = start_vector(v0, rng, size, dtype)
            W = _lanczos_vectors(
                gram, v0, tol, maxiter, ncv, k=k, which=which, size=size, user=op.user_code
            )
        Q, _ = jnp.linalg.qr(W)
        u, s, vh = _triplets(op, Q, dtype, tall=tall, vectors=vectors)
    if not vectors:
        return s
    if return_singular_vectors == "u":
        return u, s, None
    if return_singular_vectors == "vh":
        return None, s, vh
    return u, s, vh
