"""Indexing (``A[key]``) and item assignment (``A[key] = x``) with SciPy 1.17's rules.

Supported exactly where SciPy supports them:

- ``csr``/``csc`` (array and matrix) and ``coo_array`` (1-D and 2-D): integers, slices
  (steps, negative), ``Ellipsis``, ``None``, integer lists/arrays (fancy, ``np.ix_``),
  boolean masks, and their mixtures. ``*_array`` results follow SciPy's ``sparray``
  semantics: ``A[3]`` and ``A[:, 4]`` are 1-D ``coo_array``\\ s of shape ``(n,)``;
  ``A[i, j]`` is a 0-d ``jax.Array``; ``A[[0, 2], [1, 3]]`` is a dense 1-D
  ``jax.Array`` for csr/csc (SciPy returns a dense ``ndarray``). The ``*_matrix``
  classes keep 2-D results (``np.matrix`` where SciPy returns one).
- Assignment on ``csr``/``csc`` (with ``SparseEfficiencyWarning`` when the sparsity
  structure changes) and ``coo_array``.
- ``coo_matrix`` and ``dia`` raise ``TypeError`` and ``bsr`` raises
  ``NotImplementedError``, the errors SciPy raises for these formats.

How: SciPy itself runs the indexing on an *id proxy* of the matrix (see
:mod:`._proxy`), and the result's values are gathered from ``A.data`` with one ``jnp``
take. Results therefore match SciPy's structure, order, format, class, shape, errors
(``IndexError`` for out-of-range indices) and warnings. The structural phase is
host-side, so indexing and assignment raise under ``jax.jit``.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.sparse as ss

from . import _proxy


def _host_key(key):
    """The index with JAX arrays as NumPy arrays and drop-in sparse masks as SciPy's."""
    if isinstance(key, tuple):
        return tuple(_host_key(k) for k in key)
    if isinstance(key, jax.Array):
        if isinstance(key, jax.core.Tracer):
            raise TypeError("sparse indexing needs concrete (non-traced) indices; it "
                            "cannot run under jax.jit")
        return np.asarray(key)
    if _proxy.is_ours(key):
        return _proxy.to_scipy(key)
    if isinstance(key, list) and any(isinstance(k, jax.Array) for k in key):
        return np.asarray([np.asarray(k) for k in key])
    return key


def _check_indexable(A, assign: bool) -> None:
    name = type(A).__name__
    if A.format == "dia" or (A.format == "coo" and A._is_matrix):
        if assign:
            raise TypeError(f"'{name}' object does not support item assignment")
        raise TypeError(f"'{name}' object is not subscriptable")
    if A.format == "bsr":
        # SciPy's bsr classes raise NotImplementedError for every index; so do we, so
        # that programs written against SciPy take the same branch.
        raise NotImplementedError(
            f"{name} does not support {'item assignment' if assign else 'indexing'} "
            "(as in SciPy); convert with .tocsr() first"
        )


def getitem(A, key):
    """``A[key]`` with SciPy 1.17's semantics (see the module docstring).

    SciPy equivalent: ``A[key]`` on the same ``scipy.sparse`` object.
    """
    _check_indexable(A, assign=False)
    _proxy.require_concrete(A, "indexing")
    key = _host_key(key)
    R, table = _proxy.run(lambda P: P[key], [A], A.dtype)
    return _proxy.decode(R, table)


def _value_proxies(A, x):
    """A builder of (matrix proxy, value proxy): the assigned values get negative ids
    (``0`` where the value, cast to ``A.dtype``, is zero, as SciPy tests zeros)."""
    if _proxy.is_ours(x) or ss.issparse(x):
        xs = x if _proxy.is_ours(x) else _proxy.from_scipy(x)
        _proxy.require_concrete(xs, "assignment of a sparse value")
        xs = _proxy.canonical(xs.tocoo())
        values = xs._core.data.astype(A.dtype)
        nonzero = np.asarray(values != 0)
        coords = tuple(np.asarray(c) for c in xs._core.coords)

        def make(value_ids):
            cls = ss.coo_matrix if xs._is_matrix else ss.coo_array
            return cls((value_ids, coords), shape=xs.shape)
    else:
        if isinstance(x, jax.core.Tracer):
            raise TypeError("item assignment cannot run under jax.jit")
        values = np.asarray(x, dtype=A.dtype)
        nonzero = values != 0
        shape = values.shape

        def make(value_ids):
            return value_ids.reshape(shape)

    n = int(np.size(nonzero))
    neg = np.where(np.ravel(nonzero), -np.arange(1, n + 1, dtype=np.int64), 0)

    def make_proxies(operands, table, power):
        table.set_new(values)
        return [_proxy.proxy(operands[0], table, power), make(neg)]

    return make_proxies


def setitem(A, key, x) -> None:
    """``A[key] = x`` in place, with SciPy 1.17's semantics (see the module docstring).

    Mutates the wrapper (rebinds its core); refused under ``jax.jit``.
    SciPy equivalent: ``A[key] = x`` on the same ``scipy.sparse`` object.
    """
    _check_indexable(A, assign=True)
    A._check_mutable("item assignment")
    _proxy.require_concrete(A, "item assignment")
    key = _host_key(key)

    def op(P, value):
        P[key] = value
        return P

    R, table = _proxy.run(op, [A], A.dtype, make_proxies=_value_proxies(A, x))
    out = _proxy.decode(R, table)
    A._set_core(out._core)
