"""SciPy's module-level helpers: ``find tril triu``, type predicates, ``.npz`` I/O,
index dtypes and the n-D axis helpers (``expand_dims permute_dims swapaxes``).

``tril``/``triu``/``expand_dims``/``permute_dims``/``swapaxes`` get their structure
from SciPy run on id proxies (:mod:`._proxy`) and gather the values on the device, so
results have SciPy's format, class and entry order. The drop-in's arrays are 1-D or
2-D: an axis helper whose result would be 3-D raises ``ValueError``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as ss

from . import _proxy

# -- extraction ------------------------------------------------------------------------


def find(A):
    """``(row, col, values)`` of the nonzero entries of ``A`` (duplicates summed first,
    explicit zeros dropped), row-major. ``jax.Array``\\ s; SciPy returns ``ndarray``\\ s.

    SciPy equivalent: ``scipy.sparse.find``.
    """
    from ._coo import coo_array

    a = _proxy.as_operand(A)
    coo = coo_array(a)
    coo.sum_duplicates()
    core = coo._core
    if core.ndim != 2:
        raise ValueError(f"find needs a 2-D array, got shape {core.shape}")
    keep = jnp.asarray(np.flatnonzero(np.asarray(core.data != 0)))
    return core.coords[0][keep], core.coords[1][keep], core.data[keep]


def _triangle(fn, A, k, format):
    a = _proxy.as_operand(A)
    R, table = _proxy.run(lambda P: fn(P, k=k, format=format), [a], a.dtype)
    return _proxy.decode(R, table)


def tril(A, k=0, format=None):
    """Entries on or below diagonal ``k`` (``coo`` unless ``format``; a ``*_array``
    when ``A`` is a sparse array, else a ``*_matrix``). SciPy: ``scipy.sparse.tril``."""
    return _triangle(ss.tril, A, k, format)


def triu(A, k=0, format=None):
    """Entries on or above diagonal ``k`` (``coo`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.triu``.
    """
    return _triangle(ss.triu, A, k, format)


# -- type predicates ---------------------------------------------------------------------


def issparse(x) -> bool:
    """True for the drop-in's sparse objects, and (as SciPy's own ``issparse``) for
    SciPy's sparse arrays and matrices, so code that mixes both keeps working.

    SciPy equivalent: ``scipy.sparse.issparse``.
    """
    return _proxy.is_ours(x) or ss.issparse(x)


def isspmatrix(x) -> bool:
    """True for ``*_matrix`` objects (ours or SciPy's), False for sparse arrays.

    SciPy equivalent: ``scipy.sparse.isspmatrix``.
    """
    from ._base import spmatrix

    return isinstance(x, spmatrix) or ss.isspmatrix(x)


def _isspmatrix_format(fmt: str):
    def predicate(x) -> bool:
        from ._base import spmatrix

        if isinstance(x, spmatrix) and getattr(x, "format", None) == fmt:
            return True
        return bool(getattr(ss, f"isspmatrix_{fmt}")(x))

    predicate.__name__ = predicate.__qualname__ = f"isspmatrix_{fmt}"
    predicate.__doc__ = (f"True for ``{fmt}_matrix`` objects (ours or SciPy's); False "
                         f"for ``{fmt}_array`` (as SciPy). SciPy equivalent: "
                         f"``scipy.sparse.isspmatrix_{fmt}``.")
    return predicate


isspmatrix_csr = _isspmatrix_format("csr")
isspmatrix_csc = _isspmatrix_format("csc")
isspmatrix_coo = _isspmatrix_format("coo")
isspmatrix_dia = _isspmatrix_format("dia")
isspmatrix_bsr = _isspmatrix_format("bsr")


# -- .npz I/O ------------------------------------------------------------------------------


def save_npz(file, matrix, compressed=True) -> None:
    """Save a sparse array/matrix to ``.npz`` with SciPy's keys (``format``, ``shape``,
    ``data``, ``indices``/``indptr``, ``row``/``col`` or ``coords``, ``offsets``,
    ``_is_array``): SciPy's ``load_npz`` reads the file, and vice versa.

    SciPy equivalent: ``scipy.sparse.save_npz``.
    """
    if _proxy.is_ours(matrix):
        matrix = _proxy.to_scipy(matrix)
    ss.save_npz(file, matrix, compressed=compressed)


def load_npz(file):
    """Load a sparse array/matrix saved by ``save_npz`` (ours or SciPy's), as the
    drop-in's class of the same format and kind. SciPy: ``scipy.sparse.load_npz``."""
    return _proxy.from_scipy(ss.load_npz(file))


# -- index dtypes ----------------------------------------------------------------------


def get_index_dtype(arrays=(), maxval=None, check_contents=False):
    """The index dtype (int32, or int64 when needed) for ``arrays`` and ``maxval``.

    SciPy equivalent: ``scipy.sparse.get_index_dtype`` (JAX arrays are accepted).
    """
    if isinstance(arrays, (jax.Array, np.ndarray)):
        arrays = (arrays,)
    arrays = tuple(np.asarray(a) if isinstance(a, jax.Array) else a for a in arrays)
    return ss.get_index_dtype(arrays, maxval=maxval, check_contents=check_contents)


def safely_cast_index_arrays(A, idx_dtype=np.int32, msg=""):
    """``A``'s index arrays cast to ``idx_dtype``, or ``ValueError`` if a value does not
    fit. csr/csc/bsr: ``(indices, indptr)``; coo: ``coords``; dia: ``offsets``.

    SciPy equivalent: ``scipy.sparse.safely_cast_index_arrays``. The arrays returned
    are ``jax.Array``\\ s (int64 needs ``jax_enable_x64``, which the drop-in turns on).
    """
    if not _proxy.is_ours(A):
        return ss.safely_cast_index_arrays(A, idx_dtype, msg)
    if not msg:
        msg = f"dtype {idx_dtype}"
    max_value = np.iinfo(idx_dtype).max
    core = A._core
    fmt = A.format

    def too_big(arr) -> bool:
        a = np.asarray(arr)
        return bool(a.size) and int(a.max()) > max_value

    def cast(arr):
        return arr if arr.dtype == np.dtype(idx_dtype) else arr.astype(idx_dtype)

    if fmt in ("csr", "csc"):
        if int(core.indptr[-1]) > max_value:
            raise ValueError(f"indptr values too large for {msg}")
        if max(A.shape) > max_value and too_big(core.indices):
            raise ValueError(f"indices values too large for {msg}")
        return cast(core.indices), cast(core.indptr)
    if fmt == "coo":
        if max(A.shape) > max_value and any(too_big(c) for c in core.coords):
            raise ValueError(f"coords values too large for {msg}")
        return tuple(cast(c) for c in core.coords)
    if fmt == "dia":
        if max(A.shape) > max_value and too_big(np.abs(np.asarray(core.offsets))):
            raise ValueError(f"offsets values too large for {msg}")
        return cast(core.offsets)
    # bsr
    r, c = A.blocksize
    if int(core.indptr[-1]) * r > max_value:
        raise ValueError(f"indptr values too large for {msg}")
    if max(A.shape) > max_value and too_big(np.asarray(core.indices) * c):
        raise ValueError(f"indices values too large for {msg}")
    return cast(core.indices), cast(core.indptr)


# -- axis helpers ----------------------------------------------------------------------


def _axes_op(fn, A):
    a = _proxy.as_operand(A)
    R, table = _proxy.run(fn, [a], a.dtype)
    return _proxy.decode(R, table) if ss.issparse(R) else R


def expand_dims(A, /, *, axis=0):
    """``A`` with a new axis of length 1 at ``axis`` (a COO result; 1-D input only, as
    the drop-in has no 3-D arrays). SciPy equivalent: ``scipy.sparse.expand_dims``."""
    return _axes_op(lambda P: ss.expand_dims(P, axis=axis), A)


def permute_dims(A, axes=None, copy=False):
    """``A`` with its axes permuted (``None``: reversed). Never mutates ``A`` (SciPy's
    ``copy=False`` permutes a ``coo_array`` input in place and returns it).

    SciPy equivalent: ``scipy.sparse.permute_dims``.
    """
    if (_proxy.is_ours(A) and not copy and isinstance(axes, (tuple, list))
            and list(axes) == list(range(A.ndim))):
        return A  # SciPy returns the input itself for the identity permutation
    return _axes_op(lambda P: ss.permute_dims(P, axes=axes, copy=copy), A)


def swapaxes(A, axis1, axis2):
    """``A`` with axes ``axis1`` and ``axis2`` interchanged.

    SciPy equivalent: ``scipy.sparse.swapaxes``.
    """
    return _axes_op(lambda P: ss.swapaxes(P, axis1, axis2), A)
