"""Helpers shared by the structure-changing ops (spgemm, elementwise, reductions).

- *Slot views*: every format is seen through ``A.tocoo()``, whose slots are, for CSR,
  CSC and COO, exactly ``A.data``'s slots. Plans index those slots, so a plan computed
  once on the host gathers straight from ``A.data`` inside ``jit``.
- *Host structure*: the index arrays as NumPy, when they are concrete (eagerly, or a
  closed-over matrix under ``jit`` whose data alone is traced).
- *Valid masks*: padding never contributes, and its gradient is zero.
- ``sum_duplicates_coo``: a jit-able deduplication at a static capacity, needed before
  any nonlinear function of the values (SciPy does the same: ``_deduped_data``).
"""

from __future__ import annotations

import dataclasses
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from ..formats._base import AbstractSparse
from ..formats._compressed import AbstractCompressed
from ..formats._coo import COO
from ..formats._registry import format_class
from ..formats._validate import dtype_of
from ._scan import prefix_sum


# -- structure ---------------------------------------------------------------------------
def _pattern_only(A):
    """``A`` without its values, nor the narrow offsets CSR/CSC may carry: those are
    derived from the index arrays (``formats/_offsets.py``), so two matrices with equal
    index arrays have the same pattern whether or not each carries them."""
    if getattr(A, "diagonal_offsets", None) is not None:
        return dataclasses.replace(A, data=None, diagonal_offsets=None)
    return dataclasses.replace(A, data=None)


def structure_leaves(A) -> list:
    """Every leaf of ``A`` that says where its entries are: not its values."""
    return jax.tree.leaves(_pattern_only(A))


def is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def structure_is_concrete(A) -> bool:
    return not any(is_traced(leaf) for leaf in structure_leaves(A))


def same_structure(A, B) -> bool:
    """True when ``A`` and ``B`` have the same format, shape, capacity and index arrays.

    Identical index objects always qualify (also under ``jit``); otherwise the arrays are
    compared on the host when both are concrete.
    """
    if type(A) is not type(B) or A.shape != B.shape or A.capacity != B.capacity:
        return False
    la, lb = structure_leaves(A), structure_leaves(B)
    if jax.tree.structure(_pattern_only(A)) != jax.tree.structure(_pattern_only(B)):
        return False
    for x, y in zip(la, lb, strict=True):
        if x is y:
            continue
        if is_traced(x) or is_traced(y) or np.shape(x) != np.shape(y):
            return False
        if not np.array_equal(np.asarray(x), np.asarray(y)):
            return False
    return True


def as_coo(A) -> COO:
    """``A`` as COO; for CSR/CSC/COO its ``data`` is ``A.data`` itself (same slots)."""
    return A.tocoo()


def slot_data(A) -> jax.Array:
    """The values of ``A``'s entry slots in COO order (``A.data`` itself where the
    format stores one value per entry)."""
    return A.data if A.entries_in_data else as_coo(A).data


def host_coords(A) -> tuple[np.ndarray, ...] | None:
    """The COO coordinates of ``A``'s slots as NumPy (sentinel = ``shape[d]``), or None.

    Runs the conversion under ``ensure_compile_time_eval``, so a matrix whose index
    arrays are concrete yields concrete coordinates even while its data is traced.
    """
    if not structure_is_concrete(A):
        return None
    if isinstance(A, AbstractCompressed):  # NumPy from indptr: nothing to compile
        return _normalised(A.host_coords(), A.shape)
    with jax.ensure_compile_time_eval():
        # conversions are compiled programs: a traced data leaf would make every output
        # traced, so they run on the structure with stand-in values
        if is_traced(A.data):
            A = dataclasses.replace(A, data=jnp.zeros(A.data.shape, A.data.dtype))
        coo = as_coo(A)
        coords = coo.coords
        if any(is_traced(c) for c in coords):
            return None
        coords = tuple(np.asarray(c).astype(np.int64) for c in coords)
    return _normalised(coords, A.shape)


def _normalised(coords, shape) -> tuple[np.ndarray, ...]:
    """Every coordinate of a slot that is out of range anywhere set to its sentinel."""
    valid = np.ones(coords[0].shape, bool)
    for c, n in zip(coords, shape, strict=True):
        valid &= (c >= 0) & (c < n)
    return tuple(np.where(valid, c, n) for c, n in zip(coords, shape, strict=True))


def host_keys(coords: tuple[np.ndarray, ...], shape: tuple[int, ...], major: int = 0):
    """Linear keys (``major`` axis slowest) of each slot; -1 for padding."""
    if len(shape) == 1:
        (c,) = coords
        return np.where(c < shape[0], c, -1)
    row, col = coords
    n, m = shape
    valid = (row < n) & (col < m)
    key = row * m + col if major == 0 else col * n + row
    return np.where(valid, key, -1)


def keys_to_compressed(keys: np.ndarray, shape, major: int):
    """Sorted unique keys -> ``(indices, indptr)`` of a CSR (major 0) or CSC (major 1)."""
    from ..formats._index import index_dtype

    n, m = shape
    n_major, n_minor = (n, m) if major == 0 else (m, n)
    idx = index_dtype(n, m, keys.size)
    majors = keys // n_minor if n_minor else keys
    minors = keys % n_minor if n_minor else keys
    counts = np.bincount(majors, minlength=n_major) if keys.size else np.zeros(n_major, int)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(idx)
    return minors.astype(idx), indptr


def valid_mask(A) -> jax.Array | None:
    """Boolean mask of the real (non-padding) slots of ``A.data``'s leading axis."""
    if A.kernel_layout == "csr":
        return jnp.arange(A.capacity, dtype=A.indptr.dtype) < A.indptr[-1]
    if A.kernel_layout == "coo":
        return A.coords[0] < A.shape[0]
    if hasattr(A, "_band"):  # DIA: data (n_diags, n_cols), out-of-band slots are padding
        return A._band()[1]
    if hasattr(A, "indptr"):  # BSR: blocks past indptr[-1] are padding
        return jnp.arange(A.data.shape[0], dtype=A.indptr.dtype) < A.indptr[-1]
    fn = getattr(A, "_valid", None)
    if fn is not None:
        return fn()
    return None


def where_valid(mask, values, fill=0):
    if mask is None:
        return values
    mask = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim))
    return jnp.where(mask, values, jnp.asarray(fill, values.dtype))


def apply_to_data(A, fn, dtype=None):
    """``A`` with values ``fn(data)``, padding kept at 0 (value *and* gradient).

    The double ``where`` keeps the padding's gradient at 0 even where ``fn`` has an
    infinite derivative at 0 (``sqrt``): the outer ``where`` zeroes the value, the inner
    one stops the ``0 * inf`` cotangent from reaching ``data``.
    """
    mask = valid_mask(A)
    data = A.data if dtype is None else A.data.astype(dtype)
    out = where_valid(mask, fn(where_valid(mask, data)))
    return A.with_data(out)


# -- deduplication -----------------------------------------------------------------------
def sum_duplicates_coo(coo: COO) -> COO:
    """A canonical COO (sorted, no duplicates) with the same capacity; jit-able.

    Unique entries come first in row-major order, padding last.
    """
    if coo.has_canonical_format:
        return coo
    return _sum_duplicates_coo(coo)


def _sum_duplicates_coo(coo: COO) -> COO:
    cap = coo.capacity
    if cap == 0:
        return dataclasses.replace(coo, has_canonical_format=True)
    coords = coo.coords
    valid = coords[0] < coo.shape[0]
    for c, n in zip(coords[1:], coo.shape[1:], strict=True):
        valid &= c < n
    coords = tuple(jnp.where(valid, c, n).astype(c.dtype)
                   for c, n in zip(coords, coo.shape, strict=True))
    order = jnp.lexsort(tuple(reversed(coords)))
    sc = tuple(c[order] for c in coords)
    data = coo.data[order]
    change = jnp.zeros(cap - 1, bool)
    for c in sc:
        change |= c[1:] != c[:-1]
    new = jnp.concatenate([jnp.ones(1, bool), change])
    seg = prefix_sum(new, jnp.int32) - 1
    seg = jnp.where(sc[0] < coo.shape[0], seg, cap)  # padding -> dropped
    out = jax.ops.segment_sum(data, seg, num_segments=cap, indices_are_sorted=True,
                              mode="drop")
    out_coords = tuple(jnp.full(cap, n, c.dtype).at[seg].set(c, mode="drop")
                       for c, n in zip(sc, coo.shape, strict=True))
    return COO(out, out_coords, shape=coo.shape, has_canonical_format=True)


def canonical(A):
    """``A`` without duplicate entries, in its own format (jit-able)."""
    if getattr(A, "has_canonical_format", True):
        return A
    if not A.entries_in_data and hasattr(A, "sum_duplicates"):
        return A.sum_duplicates()
    coo = sum_duplicates_coo(as_coo(A))
    return to_format(coo, A.format, like=A)


# -- formats -----------------------------------------------------------------------------
def to_format(M, fmt: str, like=None):
    """``M`` converted to format ``fmt`` (``like`` supplies e.g. BSR's blocksize).

    Formats without a conversion available for ``M`` keep ``M``'s own format.
    """
    if M.format == fmt:
        return M
    if M.ndim == 1:
        return M
    if format_class(fmt).entries_in_data:  # every format converts to these, jit-able
        return getattr(M, "to" + fmt)()
    method = getattr(M, "to" + fmt, None)
    if method is None:
        return M
    if fmt == "bsr" and like is not None and hasattr(like, "blocksize"):
        try:
            return method(blocksize=like.blocksize)
        except TypeError:
            pass
    return method()


def check_sparse_operand(A, name: str) -> None:
    if not isinstance(A, AbstractSparse):
        raise TypeError(f"{name} must be a jaxsparse array, got {type(A).__name__}")


# -- scalars and dtypes ------------------------------------------------------------------
def is_scalar(x) -> bool:
    """Python/NumPy numbers and 0-d arrays (NumPy or JAX, traced or not)."""
    if isinstance(x, AbstractSparse):
        return False
    if isinstance(x, (numbers.Number, np.generic)):
        return True
    return getattr(x, "ndim", None) == 0


def scalar_dtype(dtype, s) -> np.dtype:
    """NumPy (NEP 50) promotion of an array of ``dtype`` with scalar ``s``.

    Python scalars (and weakly typed JAX scalars) are weak: ``float32 * 2.0`` stays
    float32; NumPy scalars are strong: ``float32 * np.float64(2)`` is float64.
    """
    dtype = np.dtype(dtype)
    python = isinstance(s, (bool, int, float, complex)) and not isinstance(s, np.generic)
    if python or getattr(s, "weak_type", False):
        kind = dtype_of(s).kind
        proxy = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}[kind]
        out = np.result_type(dtype, proxy)
    else:
        out = np.result_type(dtype, dtype_of(s))
    return np.dtype(jax.dtypes.canonicalize_dtype(out))


def concrete_scalar(s):
    """The Python value of ``s``, or None if it is traced."""
    if is_traced(s):
        return None
    return np.asarray(s).item()
