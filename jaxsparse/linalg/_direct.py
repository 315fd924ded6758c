"""Direct sparse solvers: ``spsolve``, ``splu``, ``spilu``, ``factorized``
(``spsolve_triangular`` runs in JAX: see ``_triangular.py``).

Host-side by nature: sparse LU factorisations (SuperLU) have data-dependent fill-in and
pivoting, which XLA cannot express. These functions therefore copy a *single-device*
matrix to the host, factorise it with SciPy, and apply the factors through
``jax.pure_callback``, so that the *solve* (not the factorisation) may be called inside
``jax.jit`` with a traced right-hand side. The matrix itself must be concrete (not traced).

Inputs may be jaxsparse core formats, the drop-in's classes (``scipy_compat``), SciPy
sparse matrices or dense 2-D arrays. Dense results are ``jax.Array``\\ s; where SciPy
returns a sparse matrix we return ours (the drop-in's class for drop-in input, else a core
format).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _operand
from ..formats._base import AbstractSparse
from ..formats._registry import FORMATS
from ..ops._dtypes import as_dense

# -- shared coercion helpers (also used by the other modules of this package) --------------


def is_traced(*xs: Any) -> bool:
    """Whether any array leaf of ``xs`` is a tracer (we are inside ``jit``/``vmap``...)."""
    leaves = jax.tree_util.tree_leaves(xs)
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _is_scipy_sparse(A: Any) -> bool:
    import scipy.sparse as sps

    return sps.issparse(A)


def as_core(A: Any) -> AbstractSparse | None:
    """A jaxsparse core format for a sparse input (core, drop-in or SciPy), else ``None``."""
    if isinstance(A, AbstractSparse):
        return A
    core = _operand.core_of(A)
    if isinstance(core, AbstractSparse):
        return core
    if _is_scipy_sparse(A):
        return core_from_scipy(A)
    return None


def core_from_scipy(S: Any) -> AbstractSparse:
    """A SciPy sparse matrix as the core format of the same name (CSR for lil/dok)."""
    cls = FORMATS.get(S.format)
    if cls is None:
        S, cls = S.tocsr(), FORMATS["csr"]
    return cls.from_scipy(S)


def host_sparse(A: Any, name: str = "A"):
    """``A`` as a SciPy sparse array on the host (a copy of a single-device matrix).

    Raises ``TypeError`` for traced input (the factorisation needs concrete values) and
    for operators that are not matrices.
    """
    import scipy.sparse as sps

    if _is_scipy_sparse(A):
        return A
    core = as_core(A)
    if core is None and isinstance(A, jax.Array | np.ndarray):
        if is_traced(A):
            raise TypeError(
                f"{name} is traced: this host-side function needs a concrete matrix "
                "(call it outside jax.jit)"
            )
        a = np.asarray(A)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
        return sps.csc_array(a)
    if core is None:
        from ..sharding import ShardedCSR

        if isinstance(A, ShardedCSR):
            raise TypeError(
                f"{name} is a ShardedCSR: host-side factorisations need a "
                "single-device matrix (unshard it first)"
            )
        raise TypeError(
            f"{name} must be a sparse matrix or a dense 2-D array, got {type(A).__name__}"
        )
    if is_traced(core):
        raise TypeError(
            f"{name} is traced: this host-side function needs a concrete matrix "
            "(call it outside jax.jit)"
        )
    # host copies first: inside a jit trace, indexing even a concrete jax array is staged
    return jax.tree_util.tree_map(np.asarray, core).to_scipy()


def wrap_like(A: Any, S: Any):
    """A SciPy sparse result as our sparse type: the drop-in's class when ``A`` is a
    drop-in object, else the core format of SciPy's result format."""
    core = core_from_scipy(S)
    return _operand.wrap_as(A, core) if _operand.implements(A) else core


def wrap_core_like(A: Any, core: AbstractSparse):
    """A core result as the drop-in's class when ``A`` is a drop-in object."""
    return _operand.wrap_as(A, core) if _operand.implements(A) else core


def _solve_dtype(lu_dtype, b_dtype):
    dtype = jnp.result_type(lu_dtype, b_dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    return jnp.dtype(dtype)


def host_solve(solve_np, n_out: int, lu_dtype, b: jax.Array) -> jax.Array:
    """Apply the host function ``solve_np`` (NumPy in, NumPy out) to ``b`` through
    ``jax.pure_callback``; ``b`` is ``(n,)`` or ``(n, k)``, possibly traced."""
    b = jnp.asarray(b)
    out_dtype = _solve_dtype(lu_dtype, b.dtype)
    lu_complex = jnp.issubdtype(lu_dtype, jnp.complexfloating)
    shape = (n_out,) + tuple(b.shape[1:])

    def host(bh):
        bh = np.asarray(bh)
        if np.iscomplexobj(bh) and not lu_complex:
            # SuperLU's real factors refuse complex right-hand sides: solve twice
            out = solve_np(np.ascontiguousarray(bh.real)) + 1j * solve_np(
                np.ascontiguousarray(bh.imag)
            )
        else:
            out = solve_np(bh.astype(np.result_type(bh.dtype, lu_dtype), copy=False))
        return np.asarray(out, dtype=out_dtype).reshape(shape)

    return jax.pure_callback(
        host, jax.ShapeDtypeStruct(shape, out_dtype), b.astype(out_dtype), vmap_method="sequential"
    )


# -- SuperLU -------------------------------------------------------------------------------


class SuperLU:
    """An LU factorisation of a sparse matrix, held on the host (SciPy's ``SuperLU``).

    ``solve`` runs on the host through ``jax.pure_callback``: it accepts NumPy or JAX
    arrays, traced ones included (so it may be called inside ``jax.jit``), and returns a
    ``jax.Array``. ``L`` and ``U`` are our sparse CSC matrices; ``perm_r``/``perm_c`` are
    NumPy arrays, as in SciPy. ``_lu`` is SciPy's object.

    SciPy equivalent: ``scipy.sparse.linalg.SuperLU``.
    """

    def __init__(self, lu, like=None):
        self._lu = lu
        self._like = like

    shape = property(lambda self: self._lu.shape)
    nnz = property(lambda self: self._lu.nnz)
    perm_r = property(lambda self: self._lu.perm_r)
    perm_c = property(lambda self: self._lu.perm_c)

    @property
    def L(self):
        return wrap_like(self._like, self._lu.L)

    @property
    def U(self):
        return wrap_like(self._like, self._lu.U)

    def solve(self, rhs, trans: str = "N") -> jax.Array:
        """Solve ``A x = rhs`` (``trans='N'``), ``A^T x = rhs`` ('T') or ``A^H x = rhs`` ('H')."""
        if trans not in ("N", "T", "H"):
            raise ValueError(f"trans must be 'N', 'T' or 'H', got {trans!r}")
        rhs = jnp.asarray(rhs)
        if rhs.ndim not in (1, 2) or rhs.shape[0] != self.shape[0]:
            raise ValueError(
                f"rhs must have shape ({self.shape[0]},) or ({self.shape[0]}, k), got {rhs.shape}"
            )
        lu = self._lu
        dtype = lu.L.dtype
        if trans == "H" and not jnp.issubdtype(dtype, jnp.complexfloating):
            trans = "T"
        return host_solve(lambda b: lu.solve(b, trans=trans), self.shape[1], dtype, rhs)

    def __repr__(self) -> str:
        return f"<jaxsparse SuperLU of shape {self.shape}, nnz={self.nnz} (host)>"


def _given(**options):
    """The options the caller set (SciPy's own defaults apply to the rest)."""
    return {k: v for k, v in options.items() if v is not None}


def splu(
    A: Any, permc_spec=None, diag_pivot_thresh=None, relax=None, panel_size=None, options=None
) -> SuperLU:
    """Sparse LU factorisation of a square matrix (SuperLU), **host-side**.

    The matrix (a single-device jaxsparse/drop-in/SciPy matrix, concrete) is copied to the
    host and factorised by ``scipy.sparse.linalg.splu``; the returned :class:`SuperLU`'s
    ``solve`` runs through ``jax.pure_callback`` and may be used inside ``jit``.

    Example:
        >>> import scipy.sparse as sps, jax.numpy as jnp, jaxsparse as js
        >>> A = js.CSR.from_scipy(sps.diags([-1, 2, -1], [-1, 0, 1], shape=(4, 4)))
        >>> lu = js.linalg.splu(A)
        >>> x = lu.solve(jnp.ones(4))

    SciPy equivalent: ``scipy.sparse.linalg.splu``.
    """
    import scipy.sparse as sps
    import scipy.sparse.linalg as sla

    S = sps.csc_array(host_sparse(A))
    kw = _given(
        permc_spec=permc_spec,
        diag_pivot_thresh=diag_pivot_thresh,
        relax=relax,
        panel_size=panel_size,
        options=options,
    )
    return SuperLU(sla.splu(S, **kw), like=A)


def spilu(
    A: Any,
    drop_tol=None,
    fill_factor=None,
    drop_rule=None,
    permc_spec=None,
    diag_pivot_thresh=None,
    relax=None,
    panel_size=None,
    options=None,
) -> SuperLU:
    """Incomplete LU factorisation (SuperLU's ILU), **host-side** (see :func:`splu`).

    The result's ``solve`` applies the approximate inverse; use it as a preconditioner
    ``M`` of the iterative solvers (``LinearOperator(A.shape, matvec=ilu.solve)``).

    SciPy equivalent: ``scipy.sparse.linalg.spilu``.
    """
    import scipy.sparse as sps
    import scipy.sparse.linalg as sla

    S = sps.csc_array(host_sparse(A))
    kw = _given(
        drop_tol=drop_tol,
        fill_factor=fill_factor,
        drop_rule=drop_rule,
        permc_spec=permc_spec,
        diag_pivot_thresh=diag_pivot_thresh,
        relax=relax,
        panel_size=panel_size,
        options=options,
    )
    return SuperLU(sla.spilu(S, **kw), like=A)


def factorized(A: Any):
    """Factorise ``A`` once (host-side SuperLU) and return ``solve(b) -> x``.

    ``solve`` accepts NumPy or JAX arrays (traced ones too: it goes through
    ``jax.pure_callback``) and returns a ``jax.Array``.

    SciPy equivalent: ``scipy.sparse.linalg.factorized``.
    """
    lu = splu(A)
    return lu.solve


def spsolve(A: Any, b: Any, permc_spec=None, use_umfpack=True):
    """Solve ``A x = b`` with a sparse direct method, **host-side** (SciPy's SuperLU).

    ``A`` (single-device, concrete) is copied to the host and factorised; a dense ``b``
    (NumPy or JAX, possibly traced) is solved through ``jax.pure_callback`` and ``x`` is a
    ``jax.Array``: ``(n,)`` for a vector ``b`` (an ``(n, 1)`` ``b`` is raveled, as SciPy does),
    ``(n, k)`` for ``k`` columns. A sparse ``b`` gives a sparse ``x`` (our type), as in SciPy.
    ``use_umfpack`` is accepted and ignored (SciPy does without scikit-umfpack too).

    SciPy equivalent: ``scipy.sparse.linalg.spsolve``.
    """
    import scipy.sparse as sps
    import scipy.sparse.linalg as sla

    S = host_sparse(A)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"A must be square, got shape {S.shape}")
    if as_core(b) is not None:
        Bs = host_sparse(b, "b")
        X = sla.spsolve(sps.csc_array(S), Bs, permc_spec=permc_spec, use_umfpack=False)
        if not sps.issparse(X):  # SciPy returns a dense vector for a one-column b
            return jnp.asarray(X)
        return wrap_like(A if _operand.implements(A) else b, X)
    b = as_dense(b, "b")
    if b.ndim not in (1, 2) or b.shape[0] != S.shape[0]:
        raise ValueError(f"b must have shape ({S.shape[0]},) or ({S.shape[0]}, k), got {b.shape}")
    if b.ndim == 2 and b.shape[1] == 1:
        b = b[:, 0]
    kw = {} if permc_spec is None else {"permc_spec": permc_spec}
    lu = sla.splu(sps.csc_array(S), **kw)
    return host_solve(lu.solve, S.shape[1], lu.L.dtype, b)
