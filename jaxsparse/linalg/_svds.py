"""``svds``: a few singular values/vectors of a sparse matrix or operator, in JAX.

Like SciPy's ``solver='arpack'`` path: the Hermitian eigensolver (:func:`eigsh`'s
restarted Lanczos) runs on the smaller Gram operator ``A^H A`` (or ``A A^H``), whose
eigenvectors are then orthonormalised and turned into singular triplets with a small dense
SVD of ``A Q``. ``solver='propack'``/``'lobpcg'`` are accepted and use the same method.
Singular values come in ascending order, as in SciPy. Jit-able (``k``, ``which``,
``return_singular_vectors`` static); under ``jit`` a failure to converge cannot raise.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from ._eigsh import as_solver_input, finish, run_krylov_schur, start_vector
from ._operator import as_operator


def _gram(matvec, rmatvec, v):
    return rmatvec(matvec(v))


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
        k: number of singular values, ``0 < k < min(m, n)``.
        ncv, tol, v0, maxiter, rng: passed to the Lanczos iteration on the Gram operator
            (``tol ** 2`` is used there, as in SciPy); ``v0`` has length ``min(m, n)``.
        which: ``'LM'`` or ``'SM'``.
        return_singular_vectors: ``True`` -> ``(u, s, vh)``; ``False`` -> ``s``;
            ``'u'`` -> ``(u, s, None)``; ``'vh'`` -> ``(None, s, vh)``.
        solver, options: accepted for SciPy compatibility (one method serves all).

    Returns:
        As ``return_singular_vectors`` says; ``s`` ascending, ``u`` ``(m, k)``,
        ``vh`` ``(k, n)``, ``jax.Array``\\ s.

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.random_array((40, 30), density=0.2, rng=0))
        >>> s = js.linalg.svds(A, k=3, return_singular_vectors=False)

    SciPy equivalent: ``scipy.sparse.linalg.svds``.
    """
    del options
    if solver not in ("arpack", "propack", "lobpcg"):
        raise ValueError("solver must be one of ('arpack', 'propack', 'lobpcg').")
    if which not in ("LM", "SM"):
        raise ValueError("`which` must be either 'LM' or 'SM'.")
    if return_singular_vectors not in (True, False, "u", "vh"):
        raise ValueError("`return_singular_vectors` must be either True, False, 'u', or 'vh'.")
    A = as_solver_input(A)
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError("`A` must be of floating or complex floating data type and 2-D")
    m, n = int(shape[0]), int(shape[1])
    k = int(k)
    if not 0 < k < min(m, n):
        raise ValueError(f"`k` must be an integer satisfying `0 < k < min(A.shape)`, got {k}")
    op = as_operator(A, "A", n=m, square=False)
    dtype = op.dtype if op.dtype is not None else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    dtype = jnp.dtype(dtype)
    tall = m >= n  # iterate on the smaller Gram matrix
    size = n if tall else m
    gram = Partial(_gram, op.matvec, op.rmatvec) if tall else Partial(_gram, op.rmatvec, op.matvec)
    if ncv is None:
        ncv = min(size, max(2 * k + 1, 20))
    ncv = int(ncv)
    if not k < ncv <= size:
        raise ValueError(f"ncv must satisfy k < ncv <= min(A.shape), got ncv={ncv}")
    v0 = start_vector(v0, rng, size, dtype)
    if maxiter is None:
        maxiter = 10 * size
    tol2 = jnp.asarray(tol, jnp.finfo(dtype).dtype) ** 2
    _, W, conv, _ = run_krylov_schur(
        gram,
        None,
        v0,
        tol2,
        maxiter,
        k=k,
        m=ncv,
        which="LA" if which == "LM" else "SA",
        hermitian=True,
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
    Q, _ = jnp.linalg.qr(W)
    apply = op.matvec if tall else op.rmatvec
    Z = jax.vmap(apply, in_axes=1, out_axes=1)(Q.astype(dtype))  # (m, k) or (n, k)
    if return_singular_vectors is False:
        return jnp.sort(jnp.linalg.svd(Z, compute_uv=False))
    u2, s, vh2 = jnp.linalg.svd(Z, full_matrices=False)  # descending
    if tall:
        u, vh = u2, vh2 @ jnp.conj(Q.T)
    else:  # A^H Q = u2 s vh2  =>  A = Q vh2^H s u2^H
        u, vh = Q @ jnp.conj(vh2.T), jnp.conj(u2.T)
    u, s, vh = u[:, ::-1], s[::-1], vh[::-1, :]
    if return_singular_vectors == "u":
        return u, s, None
    if return_singular_vectors == "vh":
        return None, s, vh
    return u, s, vh
