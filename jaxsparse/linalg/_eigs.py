"""``eigs``: a few eigenvalues of a general square operator by restarted Arnoldi, in JAX.

How this differs from ``scipy.sparse.linalg.eigs`` (ARPACK):

- Krylov–Schur restarting (Stewart 2001), equivalent to ARPACK's implicitly restarted
  Arnoldi with exact shifts: after each expansion to ``ncv`` vectors, an orthonormal basis
  of the ``k + (ncv - k) // 2`` most wanted Ritz vectors is kept (QR of the Ritz vectors:
  JAX has no reordered Schur form) and the expansion continues. The arithmetic is complex
  throughout, so complex-conjugate pairs of a real matrix need no special handling.
- Repeated eigenvalues come with all their copies (locking rounds, as in ``eigsh``:
  see ``jaxsparse/linalg/_krylov_schur.py``); a problem without them pays for one extra
  round. Locking needs ``ncv >= k + 3``.
- One ``lax.while_loop``: without ``sigma``, ``eigs`` is jit-able (``k``, ``ncv``,
  ``which``, ``return_eigenvectors`` static); under ``jit`` a failure to converge cannot
  raise, the current Ritz pairs are returned.
- ``sigma=`` factorises ``A - sigma * M`` **on the host** (SciPy's SuperLU through
  ``jax.pure_callback``; GMRES in JAX for operators or traced matrices); ``which`` then
  refers to ``1 / (w - sigma)``, as in SciPy. ``OPpart`` is checked as SciPy checks it;
  ``OPpart='r'`` with a real shift is the default mode. The iteration is complex, so it
  always uses the complex operator: ``OPpart`` with a complex shift of a real matrix (SciPy's
  real or imaginary part of that operator, which reorders ``which``) raises
  ``NotImplementedError`` rather than being ignored.
- A real problem's ``OPinv`` and ``Minv`` are real operators, as in SciPy (whose real
  Arnoldi hands them real vectors): NumPy code for them (a real LU's ``solve``) is applied
  to the real and imaginary parts of our complex vectors, two calls per product.
- Eigenvectors are normalised to unit 2-norm (``M``-norm for a generalised problem).
- Results are complex ``jax.Array``\\ s in the order of ``which`` (most wanted first);
  ARPACK's order is unspecified.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from ._eigsh import (
    _compose,
    as_solver_input,
    check_inverse_options,
    check_k_ncv,
    finish,
    inverse_operator,
    operator_dtype,
    shape_of,
    shift_invert_operator,
    start_vector,
)
from ._krylov_schur import _WHICH_NH, run_krylov_schur
from ._operator import as_operator


def eigs(
    A: Any,
    k: int = 6,
    M: Any = None,
    sigma: complex | None = None,
    which: str = "LM",
    v0: jax.Array | None = None,
    ncv: int | None = None,
    maxiter: int | None = None,
    tol: float = 0,
    return_eigenvectors: bool = True,
    Minv: Any = None,
    OPinv: Any = None,
    OPpart: str | None = None,
    rng: Any = None,
):
    """``k`` eigenvalues (and eigenvectors) of a square ``A``, or of ``A x = w M x``.

    Args:
        A: ``(n, n)``: a jaxsparse or drop-in matrix, a SciPy sparse matrix (copied
            once), a dense array, or a ``LinearOperator``.
        k: number of eigenpairs, ``0 < k < n - 1``.
        M: Hermitian positive definite mass matrix (generalised problem).
        sigma: shift for shift-invert (real or complex); ``A - sigma * M`` is factorised
            **on the host** (SciPy's SuperLU) for a concrete matrix.
        which: ``'LM' 'SM' 'LR' 'SR' 'LI' 'SI'`` (largest/smallest magnitude, real part,
            imaginary part), of the shift-inverted values when ``sigma`` is given.
        v0, ncv, maxiter, tol, Minv, OPinv, rng: as in :func:`jaxsparse.linalg.eigsh`;
            ``ncv`` must satisfy ``k + 1 < ncv <= n``.
        OPpart: ``'r'`` (or ``None``) with a real ``sigma``; anything else SciPy would
            use raises ``NotImplementedError`` (see the module docstring).

    Returns:
        ``w`` (complex, ``(k,)``) or ``(w, v)`` with ``v`` of shape ``(n, k)``.

    Raises:
        ArpackNoConvergence: not all ``k`` pairs converged (outside ``jit``); it carries
            the converged ones.

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> S = sps.random_array((40, 40), density=0.2, rng=0) + sps.eye_array(40)
        >>> A = js.CSR.from_scipy(S)
        >>> w = js.linalg.eigs(A, k=3, return_eigenvectors=False)

    SciPy equivalent: ``scipy.sparse.linalg.eigs``.
    """
    A, M = as_solver_input(A), as_solver_input(M)
    n, n2 = shape_of(A)
    if n != n2:
        raise ValueError(f"expected a square matrix (shape={(n, n2)})")
    if M is not None and shape_of(M, "M") != (n, n):
        raise ValueError(f"wrong M dimensions {shape_of(M, 'M')}, should be {(n, n)}")
    if which not in _WHICH_NH:
        raise ValueError(f"which must be one of {' '.join(_WHICH_NH)}, got {which!r}")
    check_inverse_options(M, sigma, Minv, OPinv)
    _check_oppart(OPpart, sigma, operator_dtype(A, M))
    k = int(k)
    if k <= 0:
        raise ValueError(f"k={k} must be greater than 0.")
    if k >= n - 1:
        return _dense_eigs(A, k, M, return_eigenvectors)
    k, ncv = check_k_ncv(k, ncv, n, hermitian=False)
    a_dtype = operator_dtype(A, M)
    real_input = not jnp.issubdtype(a_dtype, jnp.complexfloating)
    dtype = jnp.dtype(jnp.result_type(a_dtype, jnp.complex64))
    if sigma is not None and np.iscomplexobj(sigma):
        real_input = False
    # A real problem's inverse operators are real, as in SciPy (whose real Arnoldi hands
    # them real vectors only): probed as real, a NumPy one is applied to the real and
    # imaginary parts of our complex vectors (see ``_operator._host_apply``).
    inv_dtype = jnp.finfo(dtype).dtype if real_input else dtype
    Aop = as_operator(A, "A", n=n, dtype=dtype)
    Mop = None if M is None else as_operator(M, "M", n=n, dtype=dtype)
    if sigma is None:
        if M is None:
            op, bop = Aop.matvec, None
        else:
            minv = (
                as_operator(Minv, "Minv", n=n, dtype=inv_dtype).matvec
                if Minv is not None
                else inverse_operator(M, Mop, "M", n, dtype, hermitian_pd=True)
            )
            op, bop = Partial(_compose, minv, Aop.matvec), Mop.matvec
    else:
        solve = (
            as_operator(OPinv, "OPinv", n=n, dtype=inv_dtype).matvec
            if OPinv is not None
            else shift_invert_operator(A, Aop, M, Mop, sigma, n, dtype)
        )
        op = solve if M is None else Partial(_compose, solve, Mop.matvec)
        bop = None if M is None else Mop.matvec
    v0 = start_vector(v0, rng, n, dtype)
    if maxiter is None:
        maxiter = 10 * n
    theta, X, conv, _ = run_krylov_schur(
        op, bop, v0, tol, maxiter, k=k, m=ncv, which=which, hermitian=False, real_input=real_input
    )
    lam = theta if sigma is None else sigma + 1.0 / theta
    # unit-norm eigenvectors (B-norm for a generalised problem)
    bx = X if bop is None else jax.vmap(bop, in_axes=1, out_axes=1)(X)
    X = X / jnp.sqrt(jnp.abs(jnp.sum(jnp.conj(X) * bx, axis=0)))[None, :]
    traced = isinstance(conv, jax.core.Tracer)
    finish(
        lam,
        X,
        conv,
        k=k,
        traced=traced,
        return_eigenvectors=return_eigenvectors,
        order=lambda v: jnp.arange(v.shape[0]),
    )
    return (lam, X) if return_eigenvectors else lam


def _dense_eigs(A, k, M, return_eigenvectors):
    """SciPy's fallback for ``k >= n - 1``: dense ``eig`` (dense arrays only)."""
    if not isinstance(A, jax.Array | np.ndarray):
        raise TypeError(
            "Cannot use scipy.linalg.eig for sparse A with k >= N - 1. "
            "Use scipy.linalg.eig(A.toarray()) or reduce k."
        )
    warnings.warn(
        "k >= N - 1 for N * N square matrix. Attempting to use scipy.linalg.eig instead.",
        RuntimeWarning,
        stacklevel=3,
    )
    a = jnp.asarray(A)
    if M is not None:
        a = jnp.linalg.solve(jnp.asarray(M), a)
    w, v = jnp.linalg.eig(a)
    return (w, v) if return_eigenvectors else w


def _check_oppart(OPpart, sigma, a_dtype) -> None:
    """SciPy's checks of ``OPpart``, and a refusal where its answer would differ from ours."""
    if OPpart is None:
        return
    if sigma is None or jnp.issubdtype(a_dtype, jnp.complexfloating):
        raise ValueError("OPpart should not be specified with sigma = None or complex A")
    if OPpart.lower() not in ("r", "i"):
        raise ValueError("OPpart must be one of ('r','i')")
    if OPpart.lower() == "i" and np.imag(sigma) == 0:
        raise ValueError("OPpart cannot be 'i' if sigma is real")
    if np.imag(sigma) != 0:
        raise NotImplementedError(
            f"eigs(OPpart={OPpart!r}) with a complex sigma: the iteration uses the complex "
            "operator (A - sigma M)^-1, not its real or imaginary part; pass OPpart=None "
            "(which then refers to 1 / (w - sigma))"
        )
