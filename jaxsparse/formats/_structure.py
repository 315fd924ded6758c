"""Which layout moves fewer bytes: diagonals or CSR. Host-side (NumPy), on concrete patterns.

On a CPU an SpMV is bound by memory traffic. CSR moves every value and its column index
plus ``indptr``; diagonals (DIA: ``data`` of shape ``(n_diags, n_cols)``) move only
values, padding zeros included, and no indices. So a pattern is held as diagonals when

    n_diags * n_cols * itemsize  <  nnz * (itemsize + index_itemsize)
                                    + (n_rows + 1) * index_itemsize

(the vectors move the same in both and cancel). A tridiagonal f64 matrix moves 24 bytes
a row as diagonals against 40 as CSR with int32 indices; a 2-D 5-point stencil 40
against 64; a random matrix has ~n diagonals and stays CSR.

Offsets follow SciPy's DIA convention: entry ``(i, j)`` lies on diagonal ``j - i``, and
slot ``(k, j)`` of ``data`` holds ``A[j - offsets[k], j]``. Every function takes CSR
arrays, or CSC ones with ``csc=True`` (``indptr`` over columns, ``indices`` rows).
"""

from __future__ import annotations

import numpy as np


def _rows_of(indptr: np.ndarray, nnz: int) -> np.ndarray:
    """The row of each of the first ``nnz`` CSR slots."""
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))[:nnz]


def stored_pattern(indptr, indices, csc: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the stored entries (slots past ``indptr[-1]`` are capacity)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    nnz = int(indptr[-1]) if indptr.size else 0
    major, minor = _rows_of(indptr, nnz), np.asarray(indices[:nnz], dtype=np.int64)
    return (minor, major) if csc else (major, minor)


def diagonals(indptr, indices, *, csc: bool = False) -> np.ndarray:
    """The distinct diagonals ``col - row`` a pattern touches, sorted (int64).

    A histogram over diagonals, not a sort: O(nnz + n_rows + n_cols), so asking costs
    a random matrix of many nonzeros little.
    """
    rows, cols = stored_pattern(indptr, indices, csc)
    if rows.size == 0:
        return np.zeros(0, np.int64)
    shift = int(rows.max())  # col - row + shift >= 0
    return np.flatnonzero(np.bincount(cols - rows + shift)) - shift


def dia_bytes(n_diags: int, n_cols: int, itemsize: int) -> int:
    """Bytes one product reads from the matrix held as ``n_diags`` diagonals."""
    return int(n_diags) * int(n_cols) * int(itemsize)


def csr_bytes(nnz: int, n_rows: int, itemsize: int, index_itemsize: int) -> int:
    """Bytes one product reads from the matrix held as CSR."""
    return int(nnz) * (int(itemsize) + int(index_itemsize)) + (int(n_rows) + 1) * int(
        index_itemsize)


def diagonals_pay(n_diags: int, nnz: int, shape, dtype, index_dtype) -> bool:
    """Do ``n_diags`` diagonals move fewer bytes than CSR for this pattern?"""
    n_rows, n_cols = shape
    itemsize = np.dtype(dtype).itemsize
    return dia_bytes(n_diags, n_cols, itemsize) < csr_bytes(
        nnz, n_rows, itemsize, np.dtype(index_dtype).itemsize)


def banded_offsets(indptr, indices, shape, dtype, index_dtype, *, csc: bool = False
                   ) -> np.ndarray | None:
    """The diagonal offsets to hold a CSR pattern as DIA, or ``None`` to keep CSR.

    Args:
        indptr, indices: the CSR pattern (host arrays; slots past ``indptr[-1]`` are
            capacity and ignored; duplicates count once), CSC with ``csc=True``.
        shape: ``(n_rows, n_cols)``.
        dtype: the value dtype; index_dtype: the CSR index dtype.

    Returns:
        Sorted int64 offsets when diagonals move fewer bytes than CSR, else ``None``
        (also for a pattern with no entries).

    Example:
        >>> S = scipy.sparse.diags_array([1, -2, 1], offsets=[-1, 0, 1], shape=(9, 9))
        >>> S = S.tocsr()
        >>> banded_offsets(S.indptr, S.indices, S.shape, S.dtype, S.indices.dtype)
        array([-1,  0,  1])
    """
    indptr = np.asarray(indptr)
    nnz = int(indptr[-1]) if indptr.size else 0
    if nnz == 0:
        return None
    offsets = diagonals(indptr, indices, csc=csc)
    return offsets if diagonals_pay(offsets.size, nnz, shape, dtype, index_dtype) else None


def dia_slot_map(indptr, indices, shape, offsets, capacity: int | None = None, *,
                 csc: bool = False) -> np.ndarray:
    """Where each CSR slot's value lands in the flattened ``(n_diags * n_cols,)`` DIA data.

    Under ``jit`` values then move from CSR slot order into the DIA array with
    ``jnp.zeros(n_diags * n_cols).at[slot_map].add(csr_values, mode="drop")`` (duplicates
    summed), and back (for a duplicate-free pattern) with
    ``dia_flat.at[slot_map].get(mode="fill", fill_value=0)``. Slots past ``indptr[-1]``
    (up to ``capacity``, default ``len(indices)``) get ``n_diags * n_cols``: out of
    range, so they are dropped going in and read 0 coming back.

    Raises:
        ValueError: if an entry lies on a diagonal that ``offsets`` does not list.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_cols = int(shape[1])
    capacity = len(indices) if capacity is None else int(capacity)
    rows, cols = stored_pattern(indptr, indices, csc)
    diag = cols - rows
    order = np.argsort(offsets, kind="stable")
    pos = np.searchsorted(offsets[order], diag)
    pos = np.minimum(pos, max(offsets.size - 1, 0))
    if diag.size and (offsets.size == 0 or np.any(offsets[order][pos] != diag)):
        missing = np.setdiff1d(diag, offsets)
        raise ValueError(f"offsets must list every diagonal of the pattern; missing {missing[:5]}")
    out = np.full(capacity, offsets.size * n_cols, dtype=np.int64)
    out[: diag.size] = order[pos] * n_cols + cols
    return out


def dia_from_csr(data, indptr, indices, shape, offsets, *, csc: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The DIA ``data`` (``(n_diags, n_cols)``, duplicates summed) of a CSR matrix.

    Returns ``(dia_data, slot_map)``; ``slot_map`` is :func:`dia_slot_map`'s, so new
    values with the same pattern can be moved in under ``jit``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_cols = int(shape[1])
    data = np.asarray(data)
    slot_map = dia_slot_map(indptr, indices, shape, offsets, capacity=data.shape[0], csc=csc)
    flat = np.zeros(offsets.size * n_cols + 1, dtype=data.dtype)  # + a dump slot
    np.add.at(flat, slot_map, data)
    return flat[:-1].reshape(offsets.size, n_cols), slot_map
