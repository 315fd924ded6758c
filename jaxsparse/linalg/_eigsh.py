"""``eigsh``: a few eigenvalues of a Hermitian operator by restarted Lanczos, in JAX.

How this differs from ``scipy.sparse.linalg.eigsh`` (ARPACK):

- The iteration is a Krylov–Schur restart (Stewart 2001), which for Hermitian operators
  is thick-restart Lanczos (Wu & Simon 2000): after each expansion to ``ncv`` vectors the
  ``keep = k + (ncv - k) // 2`` best Ritz vectors are kept and the expansion continues.
  It is mathematically equivalent to ARPACK's implicitly restarted Lanczos with exact
  shifts. Vectors are fully re-orthogonalised (classical Gram–Schmidt, twice), so no
  spurious copies of converged eigenvalues appear.
- Repeated eigenvalues come with all their copies, as ARPACK's usually do (ARPACK finds
  them through round-off, and now and then misses one): once the ``k`` wanted pairs have
  converged they are locked and a new Krylov space is grown in their complement from a
  fresh random vector; rounds repeat until one finds no further copy
  (``jaxsparse/linalg/_krylov_schur.py`` explains the details). A problem without
  repeated eigenvalues pays for one such round, roughly half again the restarts.
  Eigenvalues within ``sqrt(tol)`` (``sqrt(eps)`` for ``tol=0``) of each other, relative
  to the operator's norm, count as one value when deciding whether a round found a new
  copy. Locking needs ``ncv >= k + 3``.
- The whole iteration is one ``lax.while_loop``: without ``sigma``, ``eigsh`` is jit-able
  (``k``, ``ncv``, ``which``, ``return_eigenvectors`` static). Under ``jit`` a failure to
  converge cannot raise: the current Ritz pairs are returned as they are.
- Convergence is ARPACK's test: the Ritz estimate ``|beta * e_m^T y|`` of each wanted pair
  is at most ``tol * max(eps**(2/3), |theta|)``, ``tol = 0`` meaning machine precision.
  ``maxiter`` counts restarts (default ``10 * n``), as in ARPACK.
- ``sigma=`` (shift-invert, modes ``'normal'``, ``'buckling'``, ``'cayley'``) factorises
  ``A - sigma * M`` **on the host** with ``scipy.sparse.linalg.splu`` and applies the
  factors through ``jax.pure_callback`` (one host round trip per Lanczos step). For an
  operator (``LinearOperator``/callable) or a traced matrix, the solve is GMRES in JAX
  instead, as SciPy does for operators. ``OPinv`` replaces either.
- ``M`` without ``sigma`` (generalised problem, mode 2) solves with ``M`` through ``Minv``
  if given, else a host SuperLU factorisation of a concrete matrix, else CG in JAX.
- Results are ``jax.Array``\\ s. With eigenvectors, eigenvalues come in ascending order
  (as SciPy's); without, in SciPy's order (least wanted first, ascending for ``'BE'`` and
  shift-invert).
- A default ``v0`` is a fixed pseudo-random vector (deterministic), or drawn from ``rng``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from .. import _operand
from ._krylov_schur import _WHICH_H, _random_vector, run_krylov_schur
from ._operator import as_operator

try:  # our exceptions are SciPy's too, so ``except scipy...ArpackNoConvergence`` works
    from scipy.sparse.linalg import ArpackError as _ScipyArpackError
    from scipy.sparse.linalg import ArpackNoConvergence as _ScipyArpackNoConvergence
except ImportError:  # pragma: no cover - scipy is a dependency
    _ScipyArpackError = RuntimeError
    _ScipyArpackNoConvergence = RuntimeError


class ArpackError(_ScipyArpackError):
    """An eigensolver error (SciPy's ``ArpackError``; a subclass of SciPy's class).

    ``info`` is an integer code (``-1`` for our solver's failures), ``args[0]`` the message.
    """

    def __init__(self, info: int, infodict: dict | None = None):
        msg = (infodict or {}).get(info, f"eigensolver error {info}")
        RuntimeError.__init__(self, f"ARPACK error {info}: {msg}")
        self.info = info


class ArpackNoConvergence(ArpackError, _ScipyArpackNoConvergence):
    """The eigensolver did not converge; ``eigenvalues``/``eigenvectors`` hold the pairs
    that did (possibly none), as in SciPy.

    SciPy equivalent: ``scipy.sparse.linalg.ArpackNoConvergence`` (this is a subclass).
    """

    def __init__(self, msg: str, eigenvalues, eigenvectors):
        RuntimeError.__init__(self, msg)
        self.info = 1
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors


# -- operators ------------------------------------------------------------------------------


def shape_of(A: Any, name: str = "A") -> tuple[int, int]:
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2:
        raise TypeError(
            f"{name} must be a matrix or LinearOperator with a 2-D shape, got {type(A).__name__}"
        )
    return int(shape[0]), int(shape[1])


def as_solver_input(A: Any) -> Any:
    """SciPy sparse matrices become core CSR (a host copy); everything else as is."""
    import scipy.sparse as sps

    # (a drop-in matrix is a SciPy object too, with a cached device copy: kept as is)
    if A is not None and sps.issparse(A) and not _operand.implements(A):
        from ._direct import core_from_scipy

        return core_from_scipy(A)
    return A


def operator_dtype(*ops) -> Any:
    dts = [getattr(o, "dtype", None) for o in ops if o is not None]
    dts = [d for d in dts if d is not None]
    return jnp.result_type(*dts) if dts else jnp.result_type(float)


def _compose(f, g, v):
    return f(g(v))


def _lincomb(f, g, alpha, v):
    """``f(v) + alpha * g(v)`` (``g`` may be ``None``: the identity)."""
    gv = v if g is None else g(v)
    fv = f(v)
    return (
        fv
        + jnp.asarray(alpha, fv.dtype if jnp.iscomplexobj(fv) else jnp.result_type(fv, alpha)) * gv
    )


def _krylov_inverse(solver, op, n, dtype, v):
    x, _ = solver(op, v.astype(dtype), rtol=float(jnp.finfo(dtype).eps) * 10, maxiter=20 * n)
    return x


def inverse_operator(A, Aop, name, n, dtype, *, hermitian_pd: bool):
    """``v -> A^{-1} v``: host SuperLU for a concrete matrix, else CG (Hermitian positive
    definite) or GMRES in JAX."""
    from ._direct import host_solve, host_sparse

    try:
        S = host_sparse(A, name)
    except TypeError:
        S = None
    if S is not None:
        import scipy.sparse as sps
        import scipy.sparse.linalg as sla

        S = sps.csc_array(S).astype(np.result_type(S.dtype, np.dtype(dtype)))
        lu = sla.splu(S)
        return Partial(functools.partial(host_solve, lu.solve, n, lu.L.dtype))
    from ._cg import cg
    from ._gmres import gmres

    return Partial(
        functools.partial(_krylov_inverse, cg if hermitian_pd else gmres, Aop.matvec, n, dtype)
    )


def shift_invert_operator(A, Aop, M, Mop, sigma, n, dtype):
    """``v -> (A - sigma M)^{-1} v``: host SuperLU when ``A`` (and ``M``) are concrete
    matrices, else GMRES in JAX on the shifted operator."""
    from ._direct import host_solve, host_sparse

    try:
        S = host_sparse(A, "A")
        Ms = None if M is None else host_sparse(M, "M")
    except TypeError:
        S = None
    if S is not None:
        import scipy.sparse as sps
        import scipy.sparse.linalg as sla

        work = np.result_type(S.dtype, np.dtype(dtype), np.asarray(sigma).dtype)
        Ms = sps.eye_array(n, dtype=work, format="csc") if Ms is None else sps.csc_array(Ms)
        C = (sps.csc_array(S).astype(work) - sigma * Ms.astype(work)).tocsc()
        lu = sla.splu(C)
        return Partial(functools.partial(host_solve, lu.solve, n, lu.L.dtype))
    from ._gmres import gmres

    shifted = Partial(_lincomb, Aop.matvec, None if Mop is None else Mop.matvec, -sigma)
    return Partial(functools.partial(_krylov_inverse, gmres, shifted, n, dtype))


def check_inverse_options(M, sigma, Minv, OPinv) -> None:
    """SciPy's refusals of an inverse that the chosen mode would not use (rather than
    ignoring it): ``Minv`` serves only ``M`` without ``sigma``, ``OPinv`` only ``sigma``."""
    if sigma is None and OPinv is not None:
        raise ValueError("OPinv should not be specified with sigma = None.")
    if sigma is None and M is None and Minv is not None:
        raise ValueError("Minv should not be specified with M = None.")
    if sigma is not None and Minv is not None:
        raise ValueError("Minv should not be specified when sigma is specified.")


def start_vector(v0, rng, n, dtype):
    if v0 is not None:
        v0 = jnp.asarray(v0)
        if v0.shape != (n,):
            raise ValueError(f"v0 must have shape ({n},), got {v0.shape}")
        return v0.astype(dtype)
    if rng is not None:
        gen = np.random.default_rng(rng)
        v = gen.uniform(-1.0, 1.0, n)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            v = v + 1j * gen.uniform(-1.0, 1.0, n)
        return jnp.asarray(v, dtype)
    return _random_vector(0, n, dtype)


def check_k_ncv(k, ncv, n, *, hermitian):
    k = int(k)
    if k <= 0:
        raise ValueError(f"k={k} must be greater than 0.")
    if ncv is None:
        ncv = min(n, max(2 * k + 1, 20))
    ncv = int(ncv)
    lo = k + 1 if hermitian else k + 2
    if not (lo <= ncv <= n) and not (hermitian and ncv == n and k < n):
        raise ValueError(
            f"ncv must be {'k<ncv<=n' if hermitian else 'k+1<ncv<=n'}, ncv={ncv} (k={k}, n={n})"
        )
    return k, ncv


def finish(theta, X, conv, *, k, traced, return_eigenvectors, order, what="eigenvalues"):
    """Raise ``ArpackNoConvergence`` (with the converged pairs) on concrete failures;
    order the results."""
    if not traced and not bool(jnp.all(conv)):
        idx = np.flatnonzero(np.asarray(conv))
        vals, vecs = theta[idx], X[:, idx]
        sub = order(vals)
        vals, vecs = vals[sub], vecs[:, sub]
        raise ArpackNoConvergence(
            f"ARPACK error -1: No convergence ({len(idx)} of {k} {what} converged)",
            vals,
            vecs if return_eigenvectors else None,
        )


# -- eigsh -----------------------------------------------------------------------------------


def eigsh(
    A: Any,
    k: int = 6,
    M: Any = None,
    sigma: float | None = None,
    which: str = "LM",
    v0: jax.Array | None = None,
    ncv: int | None = None,
    maxiter: int | None = None,
    tol: float = 0,
    return_eigenvectors: bool = True,
    Minv: Any = None,
    OPinv: Any = None,
    mode: str = "normal",
    rng: Any = None,
):
    """``k`` eigenvalues (and eigenvectors) of a Hermitian ``A``, or of ``A x = w M x``.

    Args:
        A: ``(n, n)`` Hermitian: a jaxsparse or drop-in matrix, a SciPy sparse matrix
            (copied once), a dense array, or a ``LinearOperator``.
        k: number of eigenpairs, ``0 < k < n``.
        M: Hermitian positive definite (semi-definite for shift-invert) mass matrix.
        sigma: shift for shift-invert; the operator factorised is ``A - sigma * M``, **on
            the host** (SciPy's SuperLU, through ``jax.pure_callback``) for a concrete
            matrix, else solved by GMRES in JAX.
        which: ``'LM' 'SM' 'LA' 'SA' 'BE'``, applied to the eigenvalues of the operator
            iterated on (``1 / (w - sigma)`` etc. in shift-invert modes, as in SciPy).
        v0: starting vector; default a fixed pseudo-random vector (or one drawn from ``rng``).
        ncv: Krylov basis size, ``k < ncv <= n``; default ``min(n, max(2k + 1, 20))``.
        maxiter: maximum number of restarts (default ``10 * n``), in each locking round.
        tol: relative accuracy of the eigenvalues (0: machine precision).
        return_eigenvectors: also return the ``B``-orthonormal eigenvectors.
        Minv, OPinv: ``M^{-1}`` (mode 2) and ``(A - sigma M)^{-1}`` as operators.
        mode: shift-invert mode, ``'normal'``, ``'buckling'`` or ``'cayley'``.
        rng: seed or ``numpy.random.Generator`` for the default ``v0``.

    Returns:
        ``w`` (``(k,)``) or ``(w, v)`` with ``v`` of shape ``(n, k)``, ``jax.Array``\\ s.

    Raises:
        ArpackNoConvergence: not all ``k`` pairs converged within ``maxiter`` restarts
            (outside ``jit`` only); it carries the converged ones.

    Example:
        >>> import scipy.sparse as sps, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.diags([-1., 2., -1.], [-1, 0, 1], shape=(50, 50)))
        >>> w = js.linalg.eigsh(A, k=2, which="LA", return_eigenvectors=False)

    SciPy equivalent: ``scipy.sparse.linalg.eigsh``.
    """
    A, M = as_solver_input(A), as_solver_input(M)
    n, n2 = shape_of(A)
    if n != n2:
        raise ValueError(f"expected a square matrix (shape={(n, n2)})")
    if M is not None and shape_of(M, "M") != (n, n):
        raise ValueError(f"wrong M dimensions {shape_of(M, 'M')}, should be {(n, n)}")
    if which not in _WHICH_H:
        raise ValueError(f"which must be one of {' '.join(_WHICH_H)}, got {which!r}")
    if mode not in ("normal", "buckling", "cayley"):
        raise ValueError(f"unrecognized mode {mode!r}")
    check_inverse_options(M, sigma, Minv, OPinv)
    k = int(k)
    if k <= 0:
        raise ValueError(f"k={k} must be greater than 0.")
    if k >= n:
        return _dense_eigsh(A, k, M, which, return_eigenvectors, n)
    k, ncv = check_k_ncv(k, ncv, n, hermitian=True)
    dtype = operator_dtype(A, M)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    dtype = jnp.dtype(dtype)
    Aop = as_operator(A, "A", n=n, dtype=dtype)
    Mop = None if M is None else as_operator(M, "M", n=n, dtype=dtype)
    if sigma is None:
        if M is None:
            op, bop = Aop.matvec, None
        else:
            minv = (
                as_operator(Minv, "Minv", n=n, dtype=dtype).matvec
                if Minv is not None
                else inverse_operator(M, Mop, "M", n, dtype, hermitian_pd=True)
            )
            op, bop = Partial(_compose, minv, Aop.matvec), Mop.matvec
        back = None
    else:
        sigma = float(np.real(sigma)) if np.isrealobj(sigma) else sigma
        solve = (
            as_operator(OPinv, "OPinv", n=n, dtype=dtype).matvec
            if OPinv is not None
            else shift_invert_operator(A, Aop, M, Mop, sigma, n, dtype)
        )
        if mode == "normal":
            op = solve if M is None else Partial(_compose, solve, Mop.matvec)
            bop = None if M is None else Mop.matvec
            back = lambda nu: sigma + 1.0 / nu  # noqa: E731
        elif mode == "buckling":
            op, bop = Partial(_compose, solve, Aop.matvec), Aop.matvec
            back = lambda nu: sigma * nu / (nu - 1.0)  # noqa: E731
        else:  # cayley
            plus = Partial(_lincomb, Aop.matvec, None if M is None else Mop.matvec, sigma)
            op = Partial(_compose, solve, plus)
            bop = None if M is None else Mop.matvec
            back = lambda nu: sigma * (nu + 1.0) / (nu - 1.0)  # noqa: E731
    v0 = start_vector(v0, rng, n, dtype)
    if maxiter is None:
        maxiter = 10 * n
    theta, X, conv, _ = run_krylov_schur(
        op, bop, v0, tol, maxiter, k=k, m=ncv, which=which, hermitian=True
    )
    theta = theta.real
    lam = theta if back is None else back(theta)
    traced = isinstance(conv, jax.core.Tracer)
    finish(
        lam, X, conv, k=k, traced=traced, return_eigenvectors=return_eigenvectors, order=jnp.argsort
    )
    if return_eigenvectors:
        perm = jnp.argsort(lam)
        return lam[perm], X[:, perm]
    if sigma is None and which != "BE":
        return lam[::-1]  # SciPy's order without vectors: least wanted first
    return jnp.sort(lam)


def _dense_eigsh(A, k, M, which, return_eigenvectors, n):
    """SciPy's fallback for ``k >= n``: dense ``eigh`` (dense arrays only)."""
    if not isinstance(A, jax.Array | np.ndarray):
        raise TypeError(
            "Cannot use scipy.linalg.eigh for sparse A with k >= N. "
            "Use scipy.linalg.eigh(A.toarray()) or reduce k."
        )
    warnings.warn(
        "k >= N for N * N square matrix. Attempting to use scipy.linalg.eigh instead.",
        RuntimeWarning,
        stacklevel=3,
    )
    a = jnp.asarray(A)
    if M is None:
        w, v = jnp.linalg.eigh(a)
    else:
        w, v = generalized_eigh(a, jnp.asarray(M))
    return (w, v) if return_eigenvectors else w


def generalized_eigh(a, b):
    """Dense ``a v = w b v`` (``b`` Hermitian positive definite) through the Cholesky
    factor of ``b`` (``jax.scipy.linalg.eigh`` supports only ``b=None``)."""
    import jax.scipy.linalg as jsl

    L = jnp.linalg.cholesky(b)
    c = jsl.solve_triangular(L, jsl.solve_triangular(L, a, lower=True).conj().T, lower=True)
    w, z = jnp.linalg.eigh((c + c.conj().T) / 2)
    return w, jsl.solve_triangular(L.conj().T, z, lower=False)
