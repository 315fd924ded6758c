"""Sparse times sparse (SpGEMM) with an exact output pattern, in two phases.

1. ``spgemm_symbolic(A, B)`` runs on the host (NumPy, concrete index arrays): it lists
   every product ``A[i, k] * B[k, j]`` as a pair of slots ``(a_slot, b_slot)``, finds
   the output pattern (CSR, sorted, no duplicates) and the output slot ``seg`` of each
   product. The result is a small :class:`SpgemmPlan` pytree.
2. ``spgemm_numeric(A, B, plan)`` binds the ``spgemm_numeric`` primitive (``_primitives``;
   its "xla" kernel, ``_spgemm_kernel``, is two gathers, a product and one sorted
   ``segment_sum``). It is jit-able, batches under ``vmap`` and is differentiable
   (forward and reverse, any order) with respect to ``A.data`` and ``B.data``.

``spgemm(A, B)`` runs both when the index arrays are concrete. Under ``jit`` with traced
indices it needs either ``plan=`` (computed outside) or a static capacity ``nse=``.

Unlike SciPy, numerically zero products (cancellation) stay stored: the pattern depends
on the structure only, which is what makes the numeric phase jit-able and its gradient
well defined.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._pytree import register_pytree_dataclass
from ..formats._csr import CSR
from ..formats._index import index_dtype
from . import _dispatch
from ._dtypes import result_dtype
from ._operands import check_sparse
from ._pattern import as_coo, host_coords, keys_to_compressed, slot_data, structure_is_concrete
from ._primitives import SPGEMM_NUMERIC
from ._reference import accumulation_dtype
from ._scan import prefix_sum

_static = dict(static=True)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class SpgemmPlan:
    """The output pattern of ``A @ B`` and the maps that fill it.

    Leaves (int arrays): ``a_slot``/``b_slot`` (one per product, into ``A.tocoo()`` /
    ``B.tocoo()`` slots, i.e. ``A.data``/``B.data`` for CSR, CSC and COO), ``seg`` (the
    output slot of each product, sorted), ``indices``/``indptr`` (the CSR pattern).
    Static: shapes and capacities, checked when the plan is used.
    """

    a_slot: jax.Array
    b_slot: jax.Array
    seg: jax.Array
    indices: jax.Array
    indptr: jax.Array
    shape: tuple[int, int] = dataclasses.field(metadata=_static)
    nnz: int = dataclasses.field(metadata=_static)
    a_shape: tuple[int, int] = dataclasses.field(metadata=_static)
    b_shape: tuple[int, int] = dataclasses.field(metadata=_static)
    a_capacity: int = dataclasses.field(metadata=_static)
    b_capacity: int = dataclasses.field(metadata=_static)

    @property
    def n_products(self) -> int:
        return int(self.a_slot.shape[0])


def _check_pair(A, B) -> None:
    check_sparse(A, "A")
    check_sparse(B, "B")
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"spgemm: A.shape[1] must equal B.shape[0], got shapes {A.shape} and {B.shape}"
        )


def spgemm_symbolic(A, B) -> SpgemmPlan:
    """Host phase of ``A @ B``: the exact output pattern and the product maps.

    Args:
        A, B: 2-D jaxsparse matrices of any format with concrete index arrays (their
            data may be traced: a closed-over matrix under ``jit`` qualifies).

    Returns:
        A :class:`SpgemmPlan`, a pytree usable as a ``jit`` argument or closed over.

    Example:
        >>> plan = js.ops.spgemm_symbolic(A, B)
        >>> f = jax.jit(lambda a, b: js.ops.spgemm_numeric(a, b, plan))
    """
    _check_pair(A, B)
    ca, cb = host_coords(A), host_coords(B)
    if ca is None or cb is None:
        raise ValueError(
            "spgemm_symbolic needs concrete index arrays: call it outside jit and pass "
            "the plan in, or call spgemm(A, B, nse=...) with a static output capacity"
        )
    (n, k), p = A.shape, B.shape[1]
    a_row, a_col = ca
    b_row, b_col = cb
    a_cap, b_cap = a_row.shape[0], b_row.shape[0]
    a_valid = np.flatnonzero((a_row < n) & (a_col < k))
    b_valid = np.flatnonzero((b_row < k) & (b_col < p))
    # B's real slots grouped by row (stable: keeps B's order within a row).
    b_by_row = b_valid[np.argsort(b_row[b_valid], kind="stable")]
    b_count = np.bincount(b_row[b_valid], minlength=k)
    b_start = np.concatenate([[0], np.cumsum(b_count)])
    counts = b_count[a_col[a_valid]]
    n_prod = int(counts.sum())
    a_slot = np.repeat(a_valid, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(n_prod) - first
    b_slot = b_by_row[b_start[a_col[a_slot]] + within]
    key = a_row[a_slot] * p + b_col[b_slot]
    uniq, seg = np.unique(key, return_inverse=True)
    order = np.argsort(seg, kind="stable")
    indices, indptr = keys_to_compressed(uniq, (n, p), major=0)
    slot_idx = index_dtype(a_cap, b_cap, n_prod, uniq.size)
    return SpgemmPlan(
        a_slot=jnp.asarray(a_slot[order], slot_idx),
        b_slot=jnp.asarray(b_slot[order], slot_idx),
        seg=jnp.asarray(seg.reshape(-1)[order], slot_idx),
        indices=jnp.asarray(indices),
        indptr=jnp.asarray(indptr),
        shape=(n, p), nnz=int(uniq.size), a_shape=tuple(A.shape), b_shape=tuple(B.shape),
        a_capacity=int(a_cap), b_capacity=int(b_cap),
    )


def _check_plan(A, B, plan) -> None:
    if not isinstance(plan, SpgemmPlan):
        raise TypeError(f"plan must be a SpgemmPlan from spgemm_symbolic, got {type(plan)}")
    got = (tuple(A.shape), tuple(B.shape), as_coo_capacity(A), as_coo_capacity(B))
    want = (plan.a_shape, plan.b_shape, plan.a_capacity, plan.b_capacity)
    if got != want:
        raise ValueError(
            "spgemm plan does not match its operands: the plan was built for shapes "
            f"{want[:2]} and capacities {want[2:]}, got {got[:2]} and {got[2:]}"
        )


def as_coo_capacity(A) -> int:
    if A.entries_in_data:
        return A.capacity
    return int(jax.eval_shape(lambda a: a.tocoo().data, A).shape[0])


def spgemm_numeric(A, B, plan: SpgemmPlan, *, backend: str | None = None) -> CSR:
    """Numeric phase of ``A @ B`` on a precomputed pattern: jit-able, differentiable.

    Args:
        A, B: the matrices ``plan`` was built for (same shapes, capacities and index
            arrays; only the values may differ).
        plan: from :func:`spgemm_symbolic`.
        backend: ``"xla"`` or ``None``.

    Returns:
        CSR of shape ``(A.shape[0], B.shape[1])``, sorted, no duplicates, capacity
        ``plan.nnz``.
    """
    _check_pair(A, B)
    _check_plan(A, B, plan)
    backend = _dispatch.choose("spgemm_numeric", backend)
    dtype = result_dtype(A.dtype, B.dtype)
    data = SPGEMM_NUMERIC.bind(slot_data(A), slot_data(B), plan.a_slot, plan.b_slot,
                               plan.seg, nnz=plan.nnz, dtype=np.dtype(dtype), backend=backend)
    return CSR(data, plan.indices, plan.indptr, shape=plan.shape, has_sorted_indices=True,
               has_canonical_format=True)


def _spgemm_traced(A, B, nse: int, max_products: int | None) -> CSR:
    """``A @ B`` with traced structure into a static capacity ``nse`` (jit-able).

    Products are listed at a static capacity ``max_products`` (default: an upper bound
    that always suffices, ``capA * min(capB, p)`` for canonical ``B``). If the true
    product count or output nnz exceeds its capacity, floating results are all NaN.
    """
    (n, k), p = A.shape, B.shape[1]
    dtype = result_dtype(A.dtype, B.dtype)
    acc = accumulation_dtype(dtype)
    a = as_coo(A)
    Bc = B.tocsr()
    a_row, a_col = a.coords
    a_cap, b_cap = a.capacity, Bc.capacity
    if max_products is None:
        per = min(b_cap, p) if Bc.has_canonical_format else b_cap
        max_products = a_cap * per
    idx = index_dtype(n, k, p, a_cap, b_cap, max_products, nse)
    if a_cap == 0 or b_cap == 0 or max_products == 0:
        return CSR(jnp.zeros(nse, dtype), jnp.full(nse, p, idx), jnp.zeros(n + 1, idx),
                   shape=(n, p), has_sorted_indices=True, has_canonical_format=True)
    a_valid = (a_row < n) & (a_col < k)
    col = jnp.where(a_valid, a_col, 0).astype(idx)
    b_indptr = Bc.indptr.astype(idx)
    counts = jnp.where(a_valid, b_indptr[col + 1] - b_indptr[col], 0).astype(idx)
    ends = prefix_sum(counts, idx)
    total = ends[-1]
    prod_id = jnp.arange(max_products, dtype=idx)
    owner = jnp.searchsorted(ends, prod_id, side="right").astype(idx)
    live = prod_id < total
    owner = jnp.where(live, owner, 0)
    b_slot = b_indptr[col[owner]] + prod_id - (ends[owner] - counts[owner])
    b_slot = jnp.where(live, b_slot, 0)
    row = jnp.where(live, a_row[owner].astype(idx), n)
    ocol = jnp.where(live, Bc.indices[b_slot].astype(idx), p)
    vals = a.data[owner].astype(acc) * Bc.data[b_slot].astype(acc)
    vals = jnp.where(live, vals, 0)
    order = jnp.lexsort((ocol, row))
    row, ocol, vals = row[order], ocol[order], vals[order]
    new = jnp.concatenate([jnp.ones(1, bool),
                           (row[1:] != row[:-1]) | (ocol[1:] != ocol[:-1])])
    live_s = row < n
    seg = prefix_sum(new, idx) - 1
    n_out = jnp.sum(new & live_s, dtype=idx)
    seg = jnp.where(live_s, seg, nse)
    data = jax.ops.segment_sum(vals, seg, num_segments=nse, indices_are_sorted=True,
                               mode="drop").astype(dtype)
    out_row = jnp.full(nse, n, idx).at[seg].set(row, mode="drop")
    out_col = jnp.full(nse, p, idx).at[seg].set(ocol, mode="drop")
    counts_row = jnp.zeros(n, idx).at[out_row].add(1, mode="drop")
    indptr = jnp.concatenate([jnp.zeros(1, idx), prefix_sum(counts_row, idx)])
    overflow = (total > max_products) | (n_out > nse)
    if jnp.issubdtype(dtype, jnp.inexact):
        data = jnp.where(overflow, jnp.asarray(jnp.nan, dtype), data)
    return CSR(data, out_col, indptr, shape=(n, p), has_sorted_indices=True,
               has_canonical_format=True)


def spgemm(A, B, *, plan: SpgemmPlan | None = None, nse: int | None = None,
           max_products: int | None = None, backend: str | None = None) -> CSR:
    """``A @ B`` for two sparse matrices, with an exact output pattern.

    Args:
        A: 2-D jaxsparse matrix ``(n, k)``, any format.
        B: 2-D jaxsparse matrix ``(k, p)``, any format.
        plan: a :class:`SpgemmPlan` from :func:`spgemm_symbolic` (skips the host phase;
            required under ``jit`` unless ``nse`` is given).
        nse: static output capacity, for traced index arrays under ``jit``. The result
            is padded to ``nse`` slots; if the product has more entries, (floating)
            values come back NaN.
        max_products: static capacity for the list of partial products in the ``nse``
            path (default: a bound that always suffices, ``capA * min(capB, p)``).
        backend: ``"xla"`` or ``None``.

    Returns:
        CSR ``(n, p)``, sorted indices, no duplicates. Differentiable with respect to
        ``A.data`` and ``B.data``. Dtype: NumPy promotion of the two.

    Example:
        >>> C = js.ops.spgemm(A, B)            # or A @ B
        >>> C.to_scipy()                        # == A.to_scipy() @ B.to_scipy()

    SciPy equivalent: ``A @ B`` (SciPy also drops numerically zero results; we keep
    them, so ``nnz`` may be larger, never the values different).
    """
    _check_pair(A, B)
    if nse is not None and (not isinstance(nse, (int, np.integer)) or nse < 0):
        raise ValueError(f"spgemm: nse must be a non-negative int, got {nse!r}")
    if plan is None and structure_is_concrete(A) and structure_is_concrete(B):
        plan = spgemm_symbolic(A, B)
    if plan is not None:
        return spgemm_numeric(A, B, plan, backend=backend)
    if nse is None:
        raise ValueError(
            "spgemm under jit needs the output pattern: pass plan=spgemm_symbolic(A, B) "
            "computed outside jit, or a static output capacity nse="
        )
    _dispatch.pick("spgemm_numeric", backend)
    return _spgemm_traced(A, B, int(nse), max_products)
