"""SciPy as the host-side structural oracle: *id proxies*.

Structural operations (indexing, item assignment, stacking, ``kron``, ``tril``...) must
follow SciPy's rules to the letter: which entries are kept, in which order, the result's
format, class (``*_array`` or ``*_matrix``), shape (1-D ``coo_array`` rows), errors and
warnings. Rather than re-deriving those rules, we run SciPy itself on a *proxy*: a SciPy
object with the operand's exact structure whose stored values are **slot ids**
(``1, 2, 3...`` as int64; ``0`` where the operand stores a zero, so SciPy prunes exactly
the entries it would prune on the real values). SciPy moves ids around exactly as it
would move values; the result's ids are then looked up in the operands' own ``data``
with one ``jnp`` gather. The values never leave the device; only index arrays (and a
``data != 0`` mask) visit the host, which is where the drop-in does structural work
anyway (DESIGN.md, "The drop-in").

Duplicates. Some SciPy paths *sum* duplicate entries (``A[i, j]`` on a non-canonical
CSR, conversions to CSR): a sum of ids is not an id. When an operand has duplicates we
run the operation twice, the second time with squared ids; ``(a + b)**2 != a**2 + b**2``
reveals any sum, and we then rerun on the canonical (duplicates-summed) operands, where
nothing can be summed. SciPy's result is reproduced in values always, and in structure
whenever no sum happened (the common case).

Everything here needs concrete index arrays: it raises a clear error under ``jit``.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as ss

from ..formats import BSR, COO, CSC, CSR, DIA
from ._coerce import _indices_concrete, trim

_CORES = {"csr": CSR, "csc": CSC, "coo": COO, "dia": DIA, "bsr": BSR}


def scipy_class(fmt: str, is_matrix: bool):
    return getattr(ss, f"{fmt}_{'matrix' if is_matrix else 'array'}")


def is_ours(x) -> bool:
    from ._base import _spbase

    return isinstance(x, _spbase)


def require_concrete(obj, what: str) -> None:
    if not _indices_concrete(obj._core) or isinstance(obj._core.data, jax.core.Tracer):
        raise TypeError(
            f"{what} needs concrete (non-traced) index arrays: the result's structure "
            "is computed on the host, so it cannot run under jax.jit; call it outside jit"
        )


def to_scipy(obj):
    """A drop-in object as the equivalent SciPy object (host copy of the values)."""
    S = obj._core.to_scipy()
    if obj._is_matrix:
        S = scipy_class(obj.format, True)(S)
    return S


def from_scipy(S):
    """A SciPy sparse object as the drop-in object of the same format and class."""
    from ._base import _CLASSES

    return _CLASSES[(S.format, not isinstance(S, ss.sparray))](S)


def has_duplicates(core) -> bool:
    """Whether two stored entries share a position (host check on the indices)."""
    fmt = core.format
    if fmt == "dia":
        return False
    if getattr(core, "has_canonical_format", False):
        return False
    if fmt == "coo":
        coords = [np.asarray(c).astype(np.int64) for c in core.coords]
        if not coords[0].size:
            return False
        flat = np.ravel_multi_index(coords, core.shape) if core.shape else coords[0]
        return np.unique(flat).size != flat.size
    indptr = np.asarray(core.indptr).astype(np.int64)
    indices = np.asarray(core.indices)[: indptr[-1]].astype(np.int64)
    if indices.size < 2:
        return False
    major = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    width = int(indices.max()) + 1
    flat = major * width + indices
    return np.unique(flat).size != flat.size


def canonical(obj):
    """``obj`` with duplicates summed (a new drop-in object; ``obj`` is unchanged)."""
    core = obj._core
    if core.format == "dia" or not has_duplicates(core):
        return obj
    return type(obj)._from_core(trim(core.sum_duplicates()))


class IdTable:
    """Values behind ids: id ``0`` is zero, ids ``1..`` are the operands' stored values
    in order of registration, negative ids ``-k`` are the ``k``-th *new* value
    (item assignment)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._parts: list[jax.Array] = []
        self._next = 1
        self._new: jax.Array | None = None

    def add(self, values, nonzero) -> np.ndarray:
        """Register flat ``values``; returns their ids (0 where ``nonzero`` is False)."""
        values = jnp.ravel(jnp.asarray(values))
        nonzero = np.ravel(np.asarray(nonzero, bool))
        ids = np.arange(self._next, self._next + values.shape[0], dtype=np.int64)
        self._parts.append(values.astype(self.dtype))
        self._next += values.shape[0]
        return np.where(nonzero, ids, 0)

    def set_new(self, values) -> None:
        self._new = jnp.ravel(jnp.asarray(values)).astype(self.dtype)

    def lookup(self, ids) -> jax.Array:
        ids = np.asarray(ids).astype(np.int64)
        parts = list(self._parts)
        if self._new is not None:
            parts.append(self._new)
        table = parts[0] if len(parts) == 1 else (
            jnp.concatenate(parts) if parts else jnp.zeros(0, self.dtype))
        # id 0 (a zero) reads past the end of the table: filled with 0 by the gather.
        size = table.shape[0]
        where = np.where(ids < 0, self._next - 1 - ids, ids) - 1
        where = np.where(ids == 0, size, where).ravel()
        if where.size == 0:
            return jnp.zeros(ids.shape, self.dtype)
        if size == 0:
            return jnp.zeros(ids.shape, self.dtype)
        out = table.at[jnp.asarray(where.astype(_idx(size + 1)))].get(mode="fill",
                                                                      fill_value=0)
        return out.reshape(ids.shape)


def _idx(n: int):
    from ..formats._index import index_dtype

    return index_dtype(n)


def _host_nonzero(data) -> np.ndarray:
    return np.asarray(data) != 0  # on the host: no compile per shape


def proxy(obj, table: IdTable, power: int = 1):
    """The SciPy twin of drop-in ``obj`` (same format, class and structure) whose stored
    values are ids registered in ``table`` (raised to ``power``, see the module doc)."""
    core = obj._core
    fmt = core.format
    cls = scipy_class(fmt, obj._is_matrix)
    if fmt == "dia":
        data = obj.data  # SciPy's width
        ids = table.add(data, _host_nonzero(data)).reshape(data.shape) ** power
        return cls((ids, np.asarray(core.offsets)), shape=core.shape)
    ids = table.add(core.data, _host_nonzero(core.data)) ** power
    if fmt == "coo":
        coords = tuple(np.asarray(c) for c in core.coords)
        out = cls((ids, coords), shape=core.shape)
        out.has_canonical_format = bool(core.has_canonical_format)
        return out
    indices, indptr = np.asarray(core.indices), np.asarray(core.indptr)
    if fmt == "bsr":
        return cls((ids.reshape(core.data.shape), indices, indptr), shape=core.shape,
                   blocksize=core.blocksize)
    return cls((ids, indices, indptr), shape=core.shape)


def result_ids(R):
    """The ids held by a SciPy result (sparse data, dense array or scalar)."""
    if ss.issparse(R):
        return np.asarray(R.data)
    return np.asarray(R)


def _consistent(r1, r2) -> bool:
    a, b = result_ids(r1), result_ids(r2)
    if a.shape != b.shape:
        return False
    return bool(np.all(np.where(a > 0, a * a, a) == b))


def _reemit(caught) -> None:
    from ._base import SparseEfficiencyWarning

    for w in caught:
        category = w.category
        if issubclass(category, ss.SparseEfficiencyWarning):
            category = SparseEfficiencyWarning
        warnings.warn(str(w.message), category, stacklevel=4)


def run(op, operands, dtype, *, make_proxies=None):
    """Run ``op(*proxies)`` on id proxies of the drop-in ``operands``.

    Returns ``(result, table)``: SciPy's result (holding ids) and the table to decode
    it. ``make_proxies(operands, table, power)`` may replace the default proxy builder
    (for extra operands such as assigned values). Warnings SciPy emits are re-emitted
    with the drop-in's classes.
    """
    if make_proxies is None:
        def make_proxies(ops_, table, power):
            return [proxy(o, table, power) for o in ops_]

    def attempt(ops_, power):
        table = IdTable(dtype)
        proxies = make_proxies(ops_, table, power)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = op(*proxies)
        return out, table, caught

    out, table, caught = attempt(operands, 1)
    if any(has_duplicates(o._core) for o in operands):
        out2, _, _ = attempt(operands, 2)
        if not _consistent(out, out2):  # SciPy summed duplicates: use canonical inputs
            out, table, caught = attempt([canonical(o) for o in operands], 1)
    _reemit(caught)
    return out, table


def _core_from_scipy_structure(R, values):
    """A core of SciPy result ``R``'s format and structure holding ``values``.

    ``R`` comes out of SciPy's own routines, so it is well formed: the core is built
    directly (host index arrays, exact capacity), skipping the public constructors'
    checks and their per-shape device work (DESIGN: internal results skip re-checks).
    """
    from ..formats._compressed import _host_order
    from ..formats._index import index_dtype

    fmt = R.format
    shape = tuple(int(n) for n in R.shape)
    if fmt in ("csr", "csc", "bsr"):
        indices = np.asarray(R.indices)
        indptr = np.asarray(R.indptr)
        idx = index_dtype(*shape, indices.shape[0] * max(1, int(np.prod(R.data.shape[1:]))))
        sorted_, canon = _host_order(indices, indptr)
        kw = dict(blocksize=tuple(R.blocksize)) if fmt == "bsr" else {}
        return _CORES[fmt](values.reshape(np.shape(R.data)), jnp.asarray(indices, idx),
                           jnp.asarray(indptr, idx), shape=shape, has_sorted_indices=sorted_,
                           has_canonical_format=canon, **kw)
    if fmt == "coo":
        coords = tuple(np.asarray(c) for c in R.coords)
        idx = index_dtype(*shape, values.shape[0])
        return COO(values, tuple(jnp.asarray(c, idx) for c in coords), shape=shape,
                   has_canonical_format=bool(R.has_canonical_format))
    if fmt == "dia":
        return DIA.from_arrays(values.reshape(np.shape(R.data)), np.asarray(R.offsets),
                               shape=shape)
    raise TypeError(f"unexpected SciPy result format {fmt!r}")  # pragma: no cover


def decode(R, table: IdTable, *, dtype=None):
    """SciPy's result ``R`` (holding ids) as drop-in objects / ``jax.Array`` values."""
    from ._base import _CLASSES

    if ss.issparse(R):
        fmt = R.format
        if R.ndim > 2:
            raise ValueError(
                f"this operation gives a {R.ndim}-D sparse array (shape {R.shape}); the "
                "drop-in's arrays are 1-D or 2-D (SciPy's n-D coo_array is not supported)"
            )
        values = table.lookup(R.data)
        if dtype is not None:
            values = values.astype(dtype)
        core = _core_from_scipy_structure(R, values)
        return _CLASSES[(fmt, not isinstance(R, ss.sparray))]._from_core(core)
    values = table.lookup(np.asarray(R))
    if dtype is not None:
        values = values.astype(dtype)
    if isinstance(R, np.matrix):
        return np.asmatrix(np.asarray(values))
    return values


def as_operand(x, *, dense: str = "nonzero"):
    """Any SciPy-accepted operand as a drop-in object.

    Ours are returned as they are; SciPy's are converted (same format and class); dense
    input becomes a ``coo_matrix`` holding its nonzeros (``dense="all"``: every entry,
    as ``block_diag`` stores an ``ndarray``). A ``*_matrix`` class is chosen for dense
    input because SciPy decides "array or matrix result" from the *sparse* inputs only.
    """
    from ._coo import coo_matrix

    if is_ours(x):
        require_concrete(x, "this function")
        return x
    if ss.issparse(x):
        return from_scipy(x)
    if isinstance(x, jax.core.Tracer):
        raise TypeError("this function needs concrete (non-traced) input; it cannot run "
                        "under jax.jit")
    arr = np.asarray(x)
    if dense == "all":
        arr2 = np.atleast_2d(arr)
        rows, cols = np.divmod(np.arange(arr2.size), arr2.shape[1] if arr2.ndim == 2
                               and arr2.shape[1] else 1)
        return coo_matrix((arr2.ravel(), (rows, cols)), shape=arr2.shape)
    return coo_matrix(arr)


def decode_values(R, values):
    """Like :func:`decode` for a sparse ``R``, with its stored values given directly
    (flat, in ``R.data``'s order)."""
    from ._base import _CLASSES

    core = _core_from_scipy_structure(R, values.reshape(np.shape(R.data)))
    return _CLASSES[(R.format, not isinstance(R, ss.sparray))]._from_core(core)
